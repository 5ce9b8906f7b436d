//! Where Marathon is and how to talk to it.

use std::fmt;
use std::time::Duration;

use url::Url;

use crate::Error;

/// A credential sent in the `Authorization` header. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// A DC/OS authentication token, sent as `Authorization: token=<token>`.
    Token(String),
    /// HTTP basic authentication.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// A DC/OS service account: the client logs in with it and sends the token it gets as
    /// `Authorization: token=<token>`, logging in again once when Marathon refuses it.
    ServiceAccount(crate::ServiceAccount),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Token(_) => f.write_str("Token(<redacted>)"),
            Auth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Auth::ServiceAccount(account) => {
                f.debug_tuple("ServiceAccount").field(account).finish()
            }
        }
    }
}

/// How reads are retried when Marathon is unavailable (502/503/504) or cannot be reached.
///
/// Delays grow exponentially from `min_delay` to `max_delay`, with jitter so that many
/// clients do not retry in step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt; 0 disables retrying.
    pub max_retries: usize,
    /// Delay before the first retry.
    pub min_delay: Duration,
    /// Longest delay between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(3),
        }
    }
}

/// The default of [`Config::with_max_response_bytes`]: 64 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Configuration of a [`crate::Client`].
///
/// ```
/// use std::time::Duration;
/// use marathon_client::Config;
///
/// let config = Config::new("https://dcos.example.com/service/marathon")?
///     .with_token("secret-token")
///     .with_request_timeout(Duration::from_secs(10));
/// assert_eq!(config.base_url().path(), "/service/marathon/");
/// assert!(!format!("{config:?}").contains("secret-token"));
/// # Ok::<(), marathon_client::Error>(())
/// ```
#[derive(Clone)]
pub struct Config {
    pub(crate) base_url: Url,
    pub(crate) auth: Option<Auth>,
    pub(crate) ca_certificates_pem: Vec<Vec<u8>>,
    pub(crate) request_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) user_agent: String,
    pub(crate) max_response_bytes: usize,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url.as_str())
            .field("auth", &self.auth)
            .field("ca_certificates", &self.ca_certificates_pem.len())
            .field("request_timeout", &self.request_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("retry", &self.retry)
            .field("user_agent", &self.user_agent)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
}

impl Config {
    /// A configuration for the Marathon at `base_url`, which may carry a path prefix (DC/OS
    /// serves Marathon at `{dcos}/service/marathon`).
    ///
    /// Credentials written in the URL (`https://user:pass@host`) are moved to basic
    /// authentication and removed from the URL, so they never appear in URLs or errors.
    /// A query or fragment in the URL is dropped: requests build their own.
    /// Defaults: request timeout 30 s, connect timeout 5 s, [`RetryPolicy::default`],
    /// responses of at most 64 MiB ([`Config::with_max_response_bytes`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the URL does not parse or is not `http`/`https`. The
    /// message never repeats the URL, since it might hold a password.
    pub fn new(base_url: &str) -> Result<Config, Error> {
        let mut url = Url::parse(base_url.trim())
            .map_err(|e| Error::invalid_input(format!("base URL does not parse: {e}")))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(Error::invalid_input(format!(
                "base URL scheme must be http or https, not {}",
                url.scheme()
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Error::invalid_input("base URL has no host"));
        }
        let auth = if url.username().is_empty() {
            None
        } else {
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            };
            let auth = Auth::Basic {
                username: decode(url.username()),
                password: decode(url.password().unwrap_or_default()),
            };
            // Only fails for URLs that cannot have credentials, which http(s) URLs can.
            let _ = url.set_username("");
            let _ = url.set_password(None);
            Some(auth)
        };
        url.set_query(None);
        url.set_fragment(None);
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(Config {
            base_url: url,
            auth,
            ca_certificates_pem: Vec::new(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            user_agent: concat!("marathon-client/", env!("CARGO_PKG_VERSION")).to_owned(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        })
    }

    /// Reads the configuration from the process environment:
    ///
    /// - `MARATHON_URL`, or else `DCOS_URL` followed by `/service/marathon`;
    /// - a token from `DCOS_ACS_TOKEN`, or else `MARATHON_TOKEN`.
    ///
    /// This is the only place the crate reads the environment.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when neither URL variable is set, or the URL is invalid.
    pub fn from_env() -> Result<Config, Error> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Config::from_env`], reading variables through `lookup` instead of the process
    /// environment (for tests, or for settings read from elsewhere).
    ///
    /// # Errors
    /// As [`Config::from_env`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let non_empty = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let url = match (non_empty("MARATHON_URL"), non_empty("DCOS_URL")) {
            (Some(url), _) => url,
            (None, Some(dcos)) => format!("{}/service/marathon", dcos.trim().trim_end_matches('/')),
            (None, None) => {
                return Err(Error::invalid_input(
                    "neither MARATHON_URL nor DCOS_URL is set",
                ));
            }
        };
        let mut config = Config::new(&url)?;
        if let Some(token) = non_empty("DCOS_ACS_TOKEN").or_else(|| non_empty("MARATHON_TOKEN")) {
            config = config.with_token(token.trim());
        }
        Ok(config)
    }

    /// Sends a DC/OS token as `Authorization: token=<token>`.
    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Config {
        self.auth = Some(Auth::Token(token.into()));
        self
    }

    /// Logs in as a DC/OS service account (see [`crate::ServiceAccount`]) and sends the token
    /// it gets as `Authorization: token=<token>`. The login uses this configuration's CA
    /// certificates and timeouts; the token is kept in memory only.
    #[must_use]
    pub fn with_service_account(mut self, account: crate::ServiceAccount) -> Config {
        self.auth = Some(Auth::ServiceAccount(account));
        self
    }

    /// Sends HTTP basic authentication.
    #[must_use]
    pub fn with_basic_auth(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Config {
        self.auth = Some(Auth::Basic {
            username: username.into(),
            password: password.into(),
        });
        self
    }

    /// Trusts the CA certificate(s) in this PEM text (in addition to the built-in web
    /// roots), as needed for DC/OS clusters with their own CA. Checked by
    /// [`crate::Client::new`]. Without it, such a server's certificate is refused with
    /// [`crate::Error::Certificate`] ([`crate::CertificateProblem::UnknownIssuer`]).
    #[must_use]
    pub fn with_ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Config {
        self.ca_certificates_pem.push(pem.into());
        self
    }

    /// The longest a REST request may take, from connect to the end of the body.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Config {
        self.request_timeout = timeout;
        self
    }

    /// The longest connecting may take (REST requests and the event stream).
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Config {
        self.connect_timeout = timeout;
        self
    }

    /// How reads are retried.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Config {
        self.retry = retry;
        self
    }

    /// The `User-Agent` header to send.
    #[must_use]
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Config {
        self.user_agent = user_agent.into();
        self
    }

    /// The largest response body read, in bytes (default 64 MiB). A larger one is not read
    /// further: the call fails with [`crate::Error::ResponseTooLarge`], and is not retried.
    ///
    /// The default leaves a wide margin: the group of a real 1,000-app cluster is 1.8 MB of
    /// JSON (`tests/data/real-groups/155_1000.json`), so 10,000 apps, about 18 MB, stay well
    /// below it, while a misbehaving server can no longer make the client hold gigabytes. The event stream has
    /// its own per-event limit ([`crate::EventStreamOptions::max_event_bytes`]).
    #[must_use]
    pub fn with_max_response_bytes(mut self, limit: usize) -> Config {
        self.max_response_bytes = limit;
        self
    }

    /// The largest response body read, in bytes.
    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    /// The base URL, always ending in `/`.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The credential, if any.
    pub fn auth(&self) -> Option<&Auth> {
        self.auth.as_ref()
    }

    /// The REST request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The retry policy for reads.
    pub fn retry(&self) -> RetryPolicy {
        self.retry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn from_env_prefers_marathon_url() {
        let config = Config::from_lookup(lookup(&[
            ("MARATHON_URL", "http://m:8080"),
            ("DCOS_URL", "https://dcos"),
        ]))
        .unwrap();
        assert_eq!(config.base_url().as_str(), "http://m:8080/");
    }

    #[test]
    fn from_env_builds_dcos_service_path_and_takes_acs_token() {
        let config = Config::from_lookup(lookup(&[
            ("DCOS_URL", "https://dcos.example.com/"),
            ("DCOS_ACS_TOKEN", "acs"),
            ("MARATHON_TOKEN", "other"),
        ]))
        .unwrap();
        assert_eq!(
            config.base_url().as_str(),
            "https://dcos.example.com/service/marathon/"
        );
        assert_eq!(config.auth(), Some(&Auth::Token("acs".into())));
    }

    #[test]
    fn from_env_without_url_is_an_error() {
        let err = Config::from_lookup(lookup(&[("MARATHON_TOKEN", "t")])).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }));
    }

    #[test]
    fn credentials_in_url_move_to_basic_auth_and_leave_the_url() {
        let config = Config::new("http://bob:s3cret@m:8080/prefix").unwrap();
        assert_eq!(config.base_url().as_str(), "http://m:8080/prefix/");
        assert_eq!(
            config.auth(),
            Some(&Auth::Basic {
                username: "bob".into(),
                password: "s3cret".into()
            })
        );
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    #[test]
    fn debug_redacts_token() {
        let config = Config::new("http://m").unwrap().with_token("tok-123");
        assert!(!format!("{config:?}").contains("tok-123"));
    }

    #[test]
    fn non_http_url_is_refused() {
        assert!(matches!(
            Config::new("ftp://m"),
            Err(Error::InvalidInput { .. })
        ));
    }
}
