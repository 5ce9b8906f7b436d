//! Client configuration: address, token, TLS, datacenter, namespace, timeouts, retries.

use std::fmt;
use std::path::{Path, PathBuf};
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
    /// For a `unix://` address: the socket; `address` is then `http://localhost/`.
    pub(crate) unix_socket: Option<PathBuf>,
    pub(crate) token: Option<String>,
    pub(crate) token_file: Option<PathBuf>,
    pub(crate) http_auth: Option<HttpAuth>,
    pub(crate) ca_cert: Option<PathBuf>,
    pub(crate) ca_path: Option<PathBuf>,
    pub(crate) client_cert: Option<PathBuf>,
    pub(crate) client_key: Option<PathBuf>,
    pub(crate) tls_server_name: Option<String>,
    pub(crate) tls_verify: bool,
    pub(crate) datacenter: Option<String>,
    pub(crate) namespace: Option<String>,
    pub(crate) partition: Option<String>,
    pub(crate) timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) http_client: Option<reqwest::Client>,
    pub(crate) max_response_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            address: Url::parse(DEFAULT_ADDRESS).expect("the default address is a valid URL"),
            unix_socket: None,
            token: None,
            token_file: None,
            http_auth: None,
            ca_cert: None,
            ca_path: None,
            client_cert: None,
            client_key: None,
            tls_server_name: None,
            tls_verify: true,
            datacenter: None,
            namespace: None,
            partition: None,
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
            .field("address", &self.shown_address())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_file", &self.token_file)
            .field("http_auth", &self.http_auth)
            .field("ca_cert", &self.ca_cert)
            .field("ca_path", &self.ca_path)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("tls_server_name", &self.tls_server_name)
            .field("tls_verify", &self.tls_verify)
            .field("datacenter", &self.datacenter)
            .field("namespace", &self.namespace)
            .field("partition", &self.partition)
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
    /// `unix:///path/to/consul.sock` speaks HTTP over that Unix socket (Unix only), as Consul's
    /// `addresses.http = "unix://…"` agents serve it.
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
        Self::default().with_address(address, false)
    }

    /// This config with `address` (as [`Config::new`] reads it; `https` says what a bare
    /// `host:port` means).
    fn with_address(mut self, address: &str, https: bool) -> Result<Self, ConfigError> {
        match parse_address(address, https)? {
            Address::Url(url) => {
                self.address = url;
                self.unix_socket = None;
            }
            Address::Unix(path) => {
                self.address = Url::parse(UNIX_BASE).expect("a valid URL");
                self.unix_socket = Some(path);
            }
        }
        Ok(self)
    }

    /// A configuration read from Consul's standard environment variables, with the meanings
    /// Consul's own CLI (its Go `api` package) gives them; the names are in [`mod@env`]:
    ///
    /// | variable | meaning |
    /// | --- | --- |
    /// | `CONSUL_HTTP_ADDR` | the address, as [`Config::new`] reads it; a bare `host:port` means `https://` when `CONSUL_HTTP_SSL` is true; `unix:///path` a Unix socket |
    /// | `CONSUL_HTTP_TOKEN` | the ACL token |
    /// | `CONSUL_HTTP_TOKEN_FILE` | a file holding the token, which wins over `CONSUL_HTTP_TOKEN`; its content is trimmed |
    /// | `CONSUL_HTTP_AUTH` | HTTP basic auth, `user:password` (or `user` alone) |
    /// | `CONSUL_HTTP_SSL` | use `https://` for an address without a scheme (also the default address) |
    /// | `CONSUL_HTTP_SSL_VERIFY` | `false` turns off TLS certificate verification |
    /// | `CONSUL_CACERT` | a PEM file of CA certificates to trust |
    /// | `CONSUL_CAPATH` | a directory of PEM files of CA certificates to trust |
    /// | `CONSUL_CLIENT_CERT`, `CONSUL_CLIENT_KEY` | the client certificate and its key (PEM), for agents with `verify_incoming` (mutual TLS); one needs the other |
    /// | `CONSUL_TLS_SERVER_NAME` | the name Consul's certificate is verified against instead of the address's host (a port is dropped, as Consul does) |
    /// | `CONSUL_NAMESPACE` | the namespace, sent as `?ns=` (Consul Enterprise) |
    /// | `CONSUL_PARTITION` | the admin partition, sent as `?partition=` (Consul Enterprise) |
    ///
    /// Booleans accept what Go's `strconv.ParseBool` accepts (`1`, `t`, `T`, `true`, `TRUE`,
    /// `True`, `0`, `f`, `F`, `false`, `FALSE`, `False`); anything else is an error naming the
    /// variable (Consul's CLI only warns and goes on, which can silently mean plain HTTP). Unset
    /// or empty variables keep the defaults.
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
    ///     "CONSUL_HTTP_SSL" => Some("t".to_owned()),
    ///     "CONSUL_NAMESPACE" => Some("team".to_owned()),
    ///     _ => None,
    /// })?;
    /// assert_eq!(config.address().as_str(), "https://consul.example:8501/");
    /// assert_eq!(config.namespace(), Some("team"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::Environment`] for a boolean variable that is not a boolean, or a client
    /// certificate without its key (or the reverse); [`ConfigError::Address`] for an invalid
    /// `CONSUL_HTTP_ADDR`. Each names the variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let path = |name: &str| get(name).map(PathBuf::from);
        let ssl = match get(env::HTTP_SSL) {
            Some(v) => parse_bool(env::HTTP_SSL, &v)?,
            None => false,
        };
        let mut config = match get(env::HTTP_ADDR) {
            Some(addr) => Self::default().with_address(&addr, ssl)?,
            None if ssl => Self::default().with_address("127.0.0.1:8500", true)?,
            None => Self::default(),
        };
        config.token = get(env::HTTP_TOKEN);
        config.token_file = path(env::HTTP_TOKEN_FILE);
        config.http_auth = get(env::HTTP_AUTH).map(|v| HttpAuth::parse(&v));
        config.ca_cert = path(env::CACERT);
        config.ca_path = path(env::CAPATH);
        config.client_cert = path(env::CLIENT_CERT);
        config.client_key = path(env::CLIENT_KEY);
        match (&config.client_cert, &config.client_key) {
            (Some(_), None) => return Err(half_a_pair(env::CLIENT_CERT, env::CLIENT_KEY)),
            (None, Some(_)) => return Err(half_a_pair(env::CLIENT_KEY, env::CLIENT_CERT)),
            _ => {}
        }
        config.tls_server_name = get(env::TLS_SERVER_NAME).map(|v| server_name(&v));
        if let Some(v) = get(env::HTTP_SSL_VERIFY) {
            config.tls_verify = parse_bool(env::HTTP_SSL_VERIFY, &v)?;
        }
        config.namespace = get(env::NAMESPACE);
        config.partition = get(env::PARTITION);
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

    /// Sets a directory whose PEM files (`*.pem`, `*.crt`, `*.cer`) hold CA certificates to
    /// trust, in addition to the system's and [`Config::with_ca_cert`]'s, as Consul's
    /// `CONSUL_CAPATH`. Ignored when the caller supplies its own HTTP client.
    pub fn with_ca_path(mut self, dir: impl Into<PathBuf>) -> Self {
        self.ca_path = Some(dir.into());
        self
    }

    /// Sets the client certificate (PEM, the leaf first) and its private key (PEM) shown to
    /// Consul in the TLS handshake, for agents with `verify_incoming` (mutual TLS). Ignored
    /// when the caller supplies its own HTTP client.
    pub fn with_client_certificate(
        mut self,
        certificate: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Self {
        self.client_cert = Some(certificate.into());
        self.client_key = Some(key.into());
        self
    }

    /// Verifies Consul's certificate against `name` instead of the address's host, as
    /// Consul's `CONSUL_TLS_SERVER_NAME` (a `:port` suffix is dropped): for an address by IP
    /// or through a tunnel, with a certificate made for `server.dc1.consul`. Ignored when the
    /// caller supplies its own HTTP client.
    pub fn with_tls_server_name(mut self, name: impl AsRef<str>) -> Self {
        self.tls_server_name = Some(server_name(name.as_ref()));
        self
    }

    /// Sends HTTP basic auth with every request (Consul's `CONSUL_HTTP_AUTH`), for a Consul
    /// behind a proxy that asks for it. The password is never shown by `Debug`.
    pub fn with_http_auth(mut self, auth: HttpAuth) -> Self {
        self.http_auth = Some(auth);
        self
    }

    /// Sets the admin partition (`partition`, Consul Enterprise) sent with every request.
    pub fn with_partition(mut self, partition: impl Into<String>) -> Self {
        self.partition = Some(partition.into());
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

    /// Uses the caller's HTTP client instead of building one. Its TLS and transport settings
    /// then apply; [`Config::with_ca_cert`], [`Config::with_ca_path`],
    /// [`Config::with_client_certificate`], [`Config::with_tls_server_name`],
    /// [`Config::with_tls_verify`] and a `unix://` address's socket are ignored.
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

    /// The address requests go to (`http://localhost/` for a `unix://` address, whose socket
    /// is [`Config::unix_socket`]).
    pub fn address(&self) -> &Url {
        &self.address
    }

    /// The Unix socket of a `unix://` address.
    pub fn unix_socket(&self) -> Option<&Path> {
        self.unix_socket.as_deref()
    }

    /// The address as it may be shown, and as [`Config::new`] reads it back: without
    /// credentials or a trailing `/`; `unix:///path` for a Unix socket.
    pub fn shown_address(&self) -> String {
        match &self.unix_socket {
            Some(path) => format!("unix://{}", path.display()),
            None => shown_address(&self.address),
        }
    }

    /// The token file, if any (its content is read by [`Client::new`](crate::Client::new)).
    pub fn token_file(&self) -> Option<&Path> {
        self.token_file.as_deref()
    }

    /// The token set with [`Config::with_token`] or `CONSUL_HTTP_TOKEN`, for a caller that
    /// shows where its settings came from; never put it in a log or a URL.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The HTTP basic auth, if any.
    pub fn http_auth(&self) -> Option<&HttpAuth> {
        self.http_auth.as_ref()
    }

    /// The CA certificate file, if any.
    pub fn ca_cert(&self) -> Option<&Path> {
        self.ca_cert.as_deref()
    }

    /// The directory of CA certificates, if any.
    pub fn ca_path(&self) -> Option<&Path> {
        self.ca_path.as_deref()
    }

    /// The client certificate and key files, if any.
    pub fn client_certificate(&self) -> Option<(&Path, &Path)> {
        self.client_cert.as_deref().zip(self.client_key.as_deref())
    }

    /// The name Consul's certificate is verified against, when not the address's host.
    pub fn tls_server_name(&self) -> Option<&str> {
        self.tls_server_name.as_deref()
    }

    /// The admin partition sent with every request, if any.
    pub fn partition(&self) -> Option<&str> {
        self.partition.as_deref()
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

/// The base URL of a `unix://` address: reqwest then dials the socket whatever the host.
const UNIX_BASE: &str = "http://localhost/";

/// Where an address points.
enum Address {
    Url(Url),
    Unix(PathBuf),
}

fn parse_address(address: &str, https: bool) -> Result<Address, ConfigError> {
    let bad = |reason: &str| ConfigError::Address {
        address: redact_userinfo(address),
        reason: reason.to_owned(),
    };
    let trimmed = address.trim();
    if trimmed.is_empty() {
        return Err(bad("it is empty"));
    }
    if let Some(path) = trimmed.strip_prefix("unix://") {
        if !cfg!(unix) {
            return Err(bad(
                "unix sockets are only supported on Unix; use http:// or https://",
            ));
        }
        if !path.starts_with('/') {
            return Err(bad(
                "a unix:// address names an absolute path, as unix:///run/consul.sock",
            ));
        }
        return Ok(Address::Unix(PathBuf::from(path)));
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
        _ => return Err(bad("the scheme must be http, https or unix")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Credentials in a URL end up in logs; Consul takes its token in a header instead.
        return Err(bad(
            "credentials do not belong in the address; use a token (or CONSUL_HTTP_AUTH)",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it must not have a query or fragment"));
    }
    Ok(Address::Url(url))
}

/// A TLS server name as Consul reads `CONSUL_TLS_SERVER_NAME`: a trailing `:port` dropped
/// (`host:8501`, `[::1]:8501`), the brackets of an IPv6 address too; a bare IPv6 address
/// (`::1`) is kept whole.
fn server_name(value: &str) -> String {
    let value = value.trim();
    let colon = value.rfind(':');
    let has_port = match (colon, value.rfind(']')) {
        (Some(c), Some(b)) => c > b,
        (Some(_), None) => value.matches(':').count() == 1,
        _ => false,
    };
    let host = match colon {
        Some(c) if has_port => value.get(..c).unwrap_or(value),
        _ => value,
    };
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned()
}

fn half_a_pair(given: &'static str, missing: &'static str) -> ConfigError {
    ConfigError::Incomplete { given, missing }
}

/// HTTP basic auth credentials (Consul's `CONSUL_HTTP_AUTH`). `Debug` never shows the
/// password.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpAuth {
    username: String,
    password: Option<String>,
}

impl HttpAuth {
    /// A user name and its password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: Some(password.into()),
        }
    }

    /// Reads `user:password` as Consul does: up to the first `:` the user name, the rest the
    /// password; without a `:` a user name alone, with an empty password.
    pub fn parse(value: &str) -> Self {
        match value.split_once(':') {
            Some((user, password)) => Self::new(user, password),
            None => Self {
                username: value.to_owned(),
                password: None,
            },
        }
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The password, to be put in the `Authorization` header and nowhere else.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }
}

impl fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpAuth")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The names of the environment variables [`Config::from_env`] reads, as Consul's Go `api`
/// package names them.
pub mod env {
    /// The address.
    pub const HTTP_ADDR: &str = "CONSUL_HTTP_ADDR";
    /// The ACL token.
    pub const HTTP_TOKEN: &str = "CONSUL_HTTP_TOKEN";
    /// A file holding the ACL token.
    pub const HTTP_TOKEN_FILE: &str = "CONSUL_HTTP_TOKEN_FILE";
    /// HTTP basic auth, `user:password`.
    pub const HTTP_AUTH: &str = "CONSUL_HTTP_AUTH";
    /// Whether a bare address means `https://`.
    pub const HTTP_SSL: &str = "CONSUL_HTTP_SSL";
    /// Whether TLS certificates are verified.
    pub const HTTP_SSL_VERIFY: &str = "CONSUL_HTTP_SSL_VERIFY";
    /// A PEM file of CA certificates.
    pub const CACERT: &str = "CONSUL_CACERT";
    /// A directory of PEM files of CA certificates.
    pub const CAPATH: &str = "CONSUL_CAPATH";
    /// The client certificate (mutual TLS).
    pub const CLIENT_CERT: &str = "CONSUL_CLIENT_CERT";
    /// The client certificate's key.
    pub const CLIENT_KEY: &str = "CONSUL_CLIENT_KEY";
    /// The name Consul's certificate is verified against.
    pub const TLS_SERVER_NAME: &str = "CONSUL_TLS_SERVER_NAME";
    /// The namespace (Consul Enterprise).
    pub const NAMESPACE: &str = "CONSUL_NAMESPACE";
    /// The admin partition (Consul Enterprise).
    pub const PARTITION: &str = "CONSUL_PARTITION";
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
        assert!(Config::new("unix://relative.sock").is_err());
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
    fn a_unix_address_names_its_socket_and_is_shown_as_given() {
        let config = Config::new("unix:///run/consul/http.sock").expect("valid");
        assert_eq!(
            config.unix_socket(),
            Some(Path::new("/run/consul/http.sock"))
        );
        assert_eq!(config.shown_address(), "unix:///run/consul/http.sock");
        assert_eq!(
            Config::new(&config.shown_address())
                .expect("reads back")
                .unix_socket(),
            config.unix_socket()
        );
    }

    #[test]
    fn env_reads_every_consul_tls_auth_and_tenancy_variable() {
        let config = from_vars(&[
            ("CONSUL_HTTP_ADDR", "unix:///run/consul.sock"),
            ("CONSUL_HTTP_AUTH", "admin:p:w"),
            ("CONSUL_CAPATH", "/etc/consul/cas"),
            ("CONSUL_CLIENT_CERT", "/etc/consul/client.pem"),
            ("CONSUL_CLIENT_KEY", "/etc/consul/client.key"),
            ("CONSUL_TLS_SERVER_NAME", "server.dc1.consul:8501"),
            ("CONSUL_PARTITION", "part"),
        ])
        .expect("valid");
        assert_eq!(config.unix_socket(), Some(Path::new("/run/consul.sock")));
        let auth = config.http_auth().expect("auth");
        assert_eq!((auth.username(), auth.password()), ("admin", Some("p:w")));
        assert_eq!(config.ca_path(), Some(Path::new("/etc/consul/cas")));
        assert_eq!(
            config.client_certificate(),
            Some((
                Path::new("/etc/consul/client.pem"),
                Path::new("/etc/consul/client.key")
            ))
        );
        assert_eq!(config.tls_server_name(), Some("server.dc1.consul"));
        assert_eq!(config.partition(), Some("part"));
        let debug = format!("{config:?}");
        assert!(!debug.contains("p:w"), "{debug}");
    }

    #[test]
    fn http_auth_without_a_colon_is_a_user_alone() {
        let auth = HttpAuth::parse("admin");
        assert_eq!((auth.username(), auth.password()), ("admin", None));
    }

    #[test]
    fn tls_server_name_drops_a_port_as_consul_does() {
        assert_eq!(server_name("consul.example:8501"), "consul.example");
        assert_eq!(server_name("consul.example"), "consul.example");
        assert_eq!(server_name("[::1]:8501"), "::1");
        assert_eq!(server_name("::1"), "::1");
    }

    #[test]
    fn a_client_certificate_without_its_key_names_both_variables() {
        let err = from_vars(&[("CONSUL_CLIENT_CERT", "/c.pem")]).expect_err("incomplete");
        assert_eq!(
            err.to_string(),
            "CONSUL_CLIENT_CERT is set but CONSUL_CLIENT_KEY is not: a client certificate and \
             its key go together"
        );
        let err = from_vars(&[("CONSUL_CLIENT_KEY", "/c.key")]).expect_err("incomplete");
        assert!(
            err.to_string()
                .starts_with("CONSUL_CLIENT_KEY is set but CONSUL_CLIENT_CERT")
        );
    }

    #[test]
    fn env_booleans_are_go_parse_bool() {
        for yes in ["1", "t", "T", "TRUE", "true", "True"] {
            let config = from_vars(&[("CONSUL_HTTP_SSL", yes)]).expect("valid");
            assert_eq!(
                config.address().as_str(),
                "https://127.0.0.1:8500/",
                "{yes}"
            );
        }
        for no in ["0", "f", "F", "FALSE", "false", "False"] {
            let config = from_vars(&[("CONSUL_HTTP_SSL", no), ("CONSUL_HTTP_SSL_VERIFY", no)])
                .expect("valid");
            assert_eq!(config.address().scheme(), "http", "{no}");
            assert!(!config.tls_verify(), "{no}");
        }
        for bad in ["yes", "on", "tRUE", "2"] {
            let err = from_vars(&[("CONSUL_HTTP_SSL", bad)]).expect_err("invalid");
            assert!(err.to_string().contains("CONSUL_HTTP_SSL"), "{err}");
        }
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
