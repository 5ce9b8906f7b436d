//! Client configuration: address, token, TLS, datacenter, namespace, timeouts, retries.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::error::ConfigError;

/// The address used when none is given: a local Consul agent.
pub const DEFAULT_ADDRESS: &str = "http://127.0.0.1:8500";

/// The per-request timeout used when none is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest response body the client reads when none is set: 128 MiB.
///
/// Consul's own limits bound its answers: a KV value holds at most 512 KiB (683 KiB in
/// base64), and a transaction at most 128 operations, so the largest transaction answer of
/// single-key operations (128 `get`s of full values) is about 86 MiB. 128 MiB leaves half as
/// much again for JSON and metadata. Only a recursive read (`list`, `keys`, `get-tree`) of a very
/// large part of the store can be bigger; a caller making those raises the limit with
/// [`Config::with_max_response_size`]. Anything larger is not an answer to keep in memory: a
/// misbehaving server or proxy could otherwise make the client allocate without bound.
pub const DEFAULT_MAX_RESPONSE_SIZE: usize = 128 * 1024 * 1024;

/// How to reach Consul and how to behave while doing so.
///
/// Build one with [`Config::new`] or [`Config::from_env`], adjust it with the `with_*` methods,
/// then pass it to [`Client::new`](crate::Client::new).
///
/// The token is kept out of `Debug` output:
///
/// ```
/// let config = consul_client::Config::default().with_token("s3cr3t");
/// assert!(!format!("{config:?}").contains("s3cr3t"));
/// ```
#[derive(Clone)]
#[must_use]
pub struct Config {
    pub(crate) address: Url,
    pub(crate) token: Option<String>,
    pub(crate) token_file: Option<PathBuf>,
    pub(crate) ca_cert: Option<PathBuf>,
    pub(crate) tls_verify: bool,
    pub(crate) datacenter: Option<String>,
    pub(crate) namespace: Option<String>,
    pub(crate) timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) http_client: Option<reqwest::Client>,
    pub(crate) max_response_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            address: Url::parse(DEFAULT_ADDRESS).expect("the default address is a valid URL"),
            token: None,
            token_file: None,
            ca_cert: None,
            tls_verify: true,
            datacenter: None,
            namespace: None,
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
            http_client: None,
            max_response_size: DEFAULT_MAX_RESPONSE_SIZE,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("address", &shown_address(&self.address))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_file", &self.token_file)
            .field("ca_cert", &self.ca_cert)
            .field("tls_verify", &self.tls_verify)
            .field("datacenter", &self.datacenter)
            .field("namespace", &self.namespace)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field(
                "http_client",
                &self.http_client.as_ref().map(|_| "<caller's client>"),
            )
            .field("max_response_size", &self.max_response_size)
            .finish()
    }
}

impl Config {
    /// A configuration for the Consul at `address`, with defaults for everything else.
    ///
    /// `address` is `http://host:port` or `https://host:port`, optionally followed by a path
    /// prefix when Consul sits behind a proxy (`https://proxy.example/consul`). An address
    /// without a scheme (`127.0.0.1:8500`) means `http://`, as in Consul's own tools.
    ///
    /// ```
    /// # fn main() -> Result<(), consul_client::ConfigError> {
    /// let config = consul_client::Config::new("https://consul.example:8501/prefix")?;
    /// assert_eq!(config.address().as_str(), "https://consul.example:8501/prefix");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::Address`] when the address is empty, not `http`/`https`, has no host, holds
    /// credentials, a query or a fragment. The address is quoted without its credentials.
    pub fn new(address: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            address: parse_address(address, false)?,
            ..Self::default()
        })
    }

    /// A configuration read from Consul's standard environment variables, with the meanings
    /// Consul's own CLI gives them:
    ///
    /// - `CONSUL_HTTP_ADDR`: the address (a bare `host:port` means `http://`, or `https://`
    ///   when `CONSUL_HTTP_SSL` is true);
    /// - `CONSUL_HTTP_TOKEN`: the ACL token;
    /// - `CONSUL_HTTP_TOKEN_FILE`: a file holding the token, which wins over
    ///   `CONSUL_HTTP_TOKEN`; its content is trimmed;
    /// - `CONSUL_CACERT`: a PEM file of CA certificates to trust;
    /// - `CONSUL_HTTP_SSL`: use `https://` for an address without a scheme;
    /// - `CONSUL_HTTP_SSL_VERIFY`: `false` turns off TLS certificate verification;
    /// - `CONSUL_NAMESPACE`: the namespace (Consul Enterprise).
    ///
    /// Booleans accept what Go's `strconv.ParseBool` accepts (`1`, `t`, `true`, `0`, `f`,
    /// `false`, …). Unset or empty variables keep the defaults.
    ///
    /// # Errors
    ///
    /// As [`Config::from_lookup`].
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Config::from_env`], but reads the variables through `lookup`, which returns a
    /// variable's value or `None` when it is unset. Useful in tests and for callers that keep
    /// their environment elsewhere.
    ///
    /// ```
    /// # fn main() -> Result<(), consul_client::ConfigError> {
    /// let config = consul_client::Config::from_lookup(|name| match name {
    ///     "CONSUL_HTTP_ADDR" => Some("consul.example:8501".to_owned()),
    ///     "CONSUL_HTTP_SSL" => Some("true".to_owned()),
    ///     _ => None,
    /// })?;
    /// assert_eq!(config.address().as_str(), "https://consul.example:8501/");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::Environment`] for a boolean variable that is not a boolean,
    /// [`ConfigError::Address`] for an invalid `CONSUL_HTTP_ADDR`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let mut config = Self::default();
        let ssl = match get("CONSUL_HTTP_SSL") {
            Some(v) => parse_bool("CONSUL_HTTP_SSL", &v)?,
            None => false,
        };
        if let Some(addr) = get("CONSUL_HTTP_ADDR") {
            config.address = parse_address(&addr, ssl)?;
        } else if ssl {
            config.address = parse_address("127.0.0.1:8500", true)?;
        }
        config.token = get("CONSUL_HTTP_TOKEN");
        config.token_file = get("CONSUL_HTTP_TOKEN_FILE").map(PathBuf::from);
        config.ca_cert = get("CONSUL_CACERT").map(PathBuf::from);
        if let Some(v) = get("CONSUL_HTTP_SSL_VERIFY") {
            config.tls_verify = parse_bool("CONSUL_HTTP_SSL_VERIFY", &v)?;
        }
        config.namespace = get("CONSUL_NAMESPACE");
        Ok(config)
    }

    /// Sets the ACL token, sent only in the `X-Consul-Token` header. A token file, when set,
    /// wins over it.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Sets a file to read the ACL token from when the client is built. It wins over
    /// [`Config::with_token`]; surrounding whitespace is trimmed.
    pub fn with_token_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.token_file = Some(path.into());
        self
    }

    /// Sets a PEM file of CA certificates to trust for `https://` addresses, in addition to
    /// the system's. Ignored when the caller supplies its own HTTP client.
    pub fn with_ca_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_cert = Some(path.into());
        self
    }

    /// Turns TLS certificate verification on (the default) or off. Ignored when the caller
    /// supplies its own HTTP client.
    pub fn with_tls_verify(mut self, verify: bool) -> Self {
        self.tls_verify = verify;
        self
    }

    /// Sets the datacenter (`dc`) sent with every request.
    pub fn with_datacenter(mut self, dc: impl Into<String>) -> Self {
        self.datacenter = Some(dc.into());
        self
    }

    /// Sets the namespace (`ns`, Consul Enterprise) sent with every request.
    pub fn with_namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = Some(ns.into());
        self
    }

    /// Sets the timeout of each request. Blocking queries get their wait time on top of it.
    /// (The same name as marathon-client's.)
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The former name of [`Config::with_request_timeout`].
    #[deprecated(note = "use `with_request_timeout`, the name the sibling clients use")]
    pub fn with_timeout(self, timeout: Duration) -> Self {
        self.with_request_timeout(timeout)
    }

    /// Sets how reads are retried on transient failures.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Uses the caller's HTTP client instead of building one. Its TLS settings then apply;
    /// [`Config::with_ca_cert`] and [`Config::with_tls_verify`] are ignored.
    ///
    /// Mind its redirect policy: a client that follows redirects (reqwest's default follows up
    /// to 10) sends the `X-Consul-Token` header on to wherever Consul, or anything posing as
    /// it, redirects — another host included. Build it with
    /// `.redirect(reqwest::redirect::Policy::none())`, as the client built by
    /// [`Client::new`](crate::Client::new) is.
    pub fn with_http_client(mut self, client: reqwest::Client) -> Self {
        self.http_client = Some(client);
        self
    }

    /// Sets the largest response body the client reads (default
    /// [`DEFAULT_MAX_RESPONSE_SIZE`]). A larger answer is read no further than the limit and
    /// fails with [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge), without a retry.
    pub fn with_max_response_size(mut self, bytes: usize) -> Self {
        self.max_response_size = bytes;
        self
    }

    /// The largest response body the client reads.
    pub fn max_response_size(&self) -> usize {
        self.max_response_size
    }

    /// The address requests go to.
    pub fn address(&self) -> &Url {
        &self.address
    }

    /// The datacenter sent with every request, if any.
    pub fn datacenter(&self) -> Option<&str> {
        self.datacenter.as_deref()
    }

    /// The namespace sent with every request, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether TLS certificates are verified.
    pub fn tls_verify(&self) -> bool {
        self.tls_verify
    }

    /// Whether a token or token file is configured (the token itself is never exposed).
    pub fn has_token(&self) -> bool {
        self.token.is_some() || self.token_file.is_some()
    }
}

/// How idempotent reads are retried on connection failures, HTTP 429 and 5xx answers.
///
/// Delays grow exponentially from `min_delay` to `max_delay`, with jitter. Writes are retried
/// only when the connection could not be opened, since then nothing reached Consul.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct RetryPolicy {
    /// How many times a failed request is retried (0 turns retries off).
    pub max_retries: usize,
    /// The first delay.
    pub min_delay: Duration,
    /// The largest delay.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// A policy with `max_retries` retries and delays between `min_delay` and `max_delay`.
    pub fn new(max_retries: usize, min_delay: Duration, max_delay: Duration) -> Self {
        Self {
            max_retries,
            min_delay,
            max_delay: max_delay.max(min_delay),
        }
    }

    /// A policy that never retries.
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }
}

fn parse_address(address: &str, https: bool) -> Result<Url, ConfigError> {
    let bad = |reason: &str| ConfigError::Address {
        address: redact_userinfo(address),
        reason: reason.to_owned(),
    };
    let trimmed = address.trim();
    if trimmed.is_empty() {
        return Err(bad("it is empty"));
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_owned()
    } else if https {
        format!("https://{trimmed}")
    } else {
        format!("http://{trimmed}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
    match url.scheme() {
        "http" | "https" => {}
        "unix" => {
            return Err(bad(
                "unix sockets are not supported; use http:// or https://",
            ));
        }
        _ => return Err(bad("the scheme must be http or https")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Credentials in a URL end up in logs; Consul takes its token in a header instead.
        return Err(bad("credentials do not belong in the address; use a token"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it must not have a query or fragment"));
    }
    Ok(url)
}

/// `text` (an address as given, maybe not even a URL) with any `user:password@` replaced by
/// `***@`, so that a refused address can be quoted in an error.
fn redact_userinfo(text: &str) -> String {
    let (scheme, rest) = match text.find("://") {
        Some(i) => text.split_at(i + 3),
        None => ("", text),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rfind('@') {
        Some(at) => format!("{scheme}***@{}{path}", authority.split_at(at + 1).1),
        None => text.to_owned(),
    }
}

/// An address as it may be shown (in errors, `Debug`, logs): without any user name or password,
/// which are replaced by `***`.
pub(crate) fn shown_address(url: &Url) -> String {
    let mut shown = url.clone();
    if !url.username().is_empty() || url.password().is_some() {
        // Setting them can only fail for URLs without a host, which an address never is.
        let _ = shown.set_password(None);
        let _ = shown.set_username("***");
    }
    shown.as_str().trim_end_matches('/').to_owned()
}

fn parse_bool(variable: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        other => Err(ConfigError::Environment {
            variable,
            value: other.to_owned(),
            reason: "expected true or false",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from_vars(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    #[allow(deprecated, reason = "the former name must keep working")]
    fn request_timeout_has_the_sibling_clients_name_and_the_former_one_still_sets_it() {
        let timeout = Duration::from_millis(1234);
        assert_eq!(
            Config::default().with_request_timeout(timeout).timeout,
            timeout
        );
        assert_eq!(Config::default().with_timeout(timeout).timeout, timeout);
    }

    #[test]
    fn default_address_is_local_agent() {
        assert_eq!(
            Config::default().address().as_str(),
            "http://127.0.0.1:8500/"
        );
    }

    #[test]
    fn address_without_scheme_means_http() {
        let config = Config::new("10.0.0.1:8500").expect("valid");
        assert_eq!(config.address().as_str(), "http://10.0.0.1:8500/");
    }

    #[test]
    fn address_keeps_path_prefix() {
        let config = Config::new("https://proxy.example/consul/").expect("valid");
        assert_eq!(config.address().path(), "/consul/");
    }

    #[test]
    fn address_refuses_other_schemes_and_credentials() {
        assert!(Config::new("ftp://x").is_err());
        assert!(Config::new("unix:///tmp/consul.sock").is_err());
        assert!(Config::new("http://user:pw@host").is_err());
        assert!(Config::new("").is_err());
    }

    #[test]
    fn a_refused_address_is_quoted_without_its_credentials() {
        for given in [
            "http://user:PW@127.0.0.1:1",
            "user:PW@127.0.0.1:1/prefix",
            "http://PW@host/x?y",
        ] {
            let err = Config::new(given).expect_err("credentials are refused");
            let (shown, debug) = (err.to_string(), format!("{err:?}"));
            assert!(
                !shown.contains("PW") && !debug.contains("PW"),
                "{shown} / {debug}"
            );
            assert!(shown.contains("***@"), "{shown}");
        }
        let err = Config::from_lookup(|name| {
            (name == "CONSUL_HTTP_ADDR").then(|| "https://u:PW@c.example:8501".to_owned())
        })
        .expect_err("credentials are refused");
        assert!(!format!("{err} {err:?}").contains("PW"));
    }

    #[test]
    fn shown_address_has_no_credentials_and_no_trailing_slash() {
        let url = Url::parse("http://user:PW@127.0.0.1:8500/").expect("url");
        assert_eq!(shown_address(&url), "http://***@127.0.0.1:8500");
        let url = Url::parse("https://proxy.example/consul/").expect("url");
        assert_eq!(shown_address(&url), "https://proxy.example/consul");
    }

    #[test]
    fn env_reads_consul_variables() {
        let config = from_vars(&[
            ("CONSUL_HTTP_ADDR", "https://c.example:8501"),
            ("CONSUL_HTTP_TOKEN", "tok"),
            ("CONSUL_HTTP_TOKEN_FILE", "/run/token"),
            ("CONSUL_CACERT", "/etc/ca.pem"),
            ("CONSUL_HTTP_SSL_VERIFY", "false"),
            ("CONSUL_NAMESPACE", "team"),
        ])
        .expect("valid");
        assert_eq!(config.address().as_str(), "https://c.example:8501/");
        assert_eq!(config.token.as_deref(), Some("tok"));
        assert_eq!(config.token_file, Some(PathBuf::from("/run/token")));
        assert_eq!(config.ca_cert, Some(PathBuf::from("/etc/ca.pem")));
        assert!(!config.tls_verify());
        assert_eq!(config.namespace(), Some("team"));
    }

    #[test]
    fn env_ssl_switches_bare_address_to_https() {
        let config =
            from_vars(&[("CONSUL_HTTP_ADDR", "c:8501"), ("CONSUL_HTTP_SSL", "1")]).expect("ok");
        assert_eq!(config.address().scheme(), "https");
    }

    #[test]
    fn env_refuses_unparsable_boolean() {
        let err = from_vars(&[("CONSUL_HTTP_SSL_VERIFY", "maybe")]).expect_err("invalid");
        assert!(err.to_string().contains("CONSUL_HTTP_SSL_VERIFY"));
    }

    #[test]
    fn env_empty_variables_keep_defaults() {
        let config = from_vars(&[("CONSUL_HTTP_ADDR", ""), ("CONSUL_HTTP_TOKEN", "")]).expect("ok");
        assert_eq!(config.address().as_str(), "http://127.0.0.1:8500/");
        assert!(!config.has_token());
    }

    #[test]
    fn debug_redacts_token() {
        let config = Config::default().with_token("very-secret-token");
        let debug = format!("{config:?}");
        assert!(!debug.contains("very-secret-token"));
        assert!(debug.contains("<redacted>"));
    }
}
