//! The HTTP core: building URLs, sending requests with the token header and a timeout,
//! retrying reads, and turning error statuses into typed errors.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use crate::config::{Config, RetryPolicy};
use crate::error::{ConfigError, Error, Result};

/// Characters kept as they are in a KV key path: unreserved characters and `/`.
const KEY_PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Characters kept as they are in a single path segment (session id, event name).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// How much of an error body is kept in [`Error::Server`](crate::Error::Server).
const MAX_ERROR_BODY: usize = 4096;

/// An async client for Consul's HTTP API.
///
/// Cheap to clone: clones share one connection pool. The operations are grouped by API:
/// [`Client::kv`], [`Client::txn`], [`Client::session`], [`Client::event`],
/// [`Client::status`], [`Client::acl`], and [`Lock`](crate::Lock) on top of them.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: Url,
    /// The address as errors show it: without credentials.
    shown: Arc<str>,
    token: Option<HeaderValue>,
    http_auth: Option<crate::config::HttpAuth>,
    /// Whether the client shows a certificate in the TLS handshake.
    client_certificate: bool,
    datacenter: Option<String>,
    namespace: Option<String>,
    partition: Option<String>,
    timeout: Duration,
    retry: RetryPolicy,
    max_response_size: usize,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("address", &&*self.inner.shown)
            .field("token", &self.inner.token.as_ref().map(|_| "<redacted>"))
            .field("datacenter", &self.inner.datacenter)
            .field("namespace", &self.inner.namespace)
            .field("partition", &self.inner.partition)
            .field("http_auth", &self.inner.http_auth)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// Whether a request may be sent again after a failure whose outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// A read: retried on transport errors, 429 and 5xx.
    Idempotent,
    /// A write: retried only when the connection could not even be opened.
    Write,
}

/// One request to `/v1/{path}`.
pub(crate) struct Request {
    pub method: Method,
    /// Path below `/v1/`, already percent-encoded (use [`key_path`] and [`segment`]).
    pub path: String,
    /// Query parameters; `None` values are sent as bare flags (`?recurse`).
    pub params: Vec<(&'static str, Option<String>)>,
    pub body: Option<Vec<u8>>,
    /// Time Consul may hold the request on purpose (a blocking query's wait).
    pub hold: Duration,
    pub retry: Retry,
    /// Error statuses that the caller interprets itself (e.g. 404 for a missing key).
    pub pass_through: &'static [StatusCode],
}

impl Request {
    pub fn new(method: Method, path: String, retry: Retry) -> Self {
        Self {
            method,
            path,
            params: Vec::new(),
            body: None,
            hold: Duration::ZERO,
            retry,
            pass_through: &[],
        }
    }

    pub fn get(path: String) -> Self {
        Self::new(Method::GET, path, Retry::Idempotent)
    }

    pub fn put(path: String) -> Self {
        Self::new(Method::PUT, path, Retry::Write)
    }

    pub fn param(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.params.push((name, Some(value.into())));
        self
    }

    pub fn flag(mut self, name: &'static str) -> Self {
        self.params.push((name, None));
        self
    }

    pub fn query(mut self, opts: &crate::QueryOptions) -> Self {
        opts.append_to(&mut self.params);
        self.hold = opts.max_hold();
        self
    }

    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }

    pub fn pass_through(mut self, statuses: &'static [StatusCode]) -> Self {
        self.pass_through = statuses;
        self
    }
}

/// A response whose status was a success or one the caller asked to see.
pub(crate) struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The address it came from, as errors show it.
    pub address: Arc<str>,
}

impl Response {
    pub fn json<T: DeserializeOwned>(&self, context: &str) -> Result<T> {
        decode(&self.body, context)
    }

    /// The metadata of a read Consul answers with index headers (KV, sessions, events). Consul
    /// sets `X-Consul-Index` on every such answer, a 404 included, so an answer without it is
    /// not from Consul: [`Error::NotConsul`](crate::Error::NotConsul), never "nothing there".
    pub fn meta(&self) -> Result<crate::QueryMeta> {
        if !self.headers.contains_key("X-Consul-Index") {
            return Err(self.not_consul("no X-Consul-Index header"));
        }
        crate::QueryMeta::from_headers(&self.headers)
    }

    /// [`Error::NotConsul`](crate::Error::NotConsul) for this response's server.
    pub fn not_consul(&self, reason: impl Into<String>) -> Error {
        Error::NotConsul {
            address: self.address.to_string(),
            reason: reason.into(),
        }
    }
}

pub(crate) fn decode<T: DeserializeOwned>(body: &[u8], context: &str) -> Result<T> {
    serde_json::from_slice(body).map_err(|source| Error::Decode {
        context: context.to_owned(),
        source,
    })
}

/// Percent-encodes a KV key for the URL path, keeping its `/` separators.
pub(crate) fn key_path(key: &str) -> String {
    utf8_percent_encode(key, KEY_PATH).to_string()
}

/// Percent-encodes one path segment.
pub(crate) fn segment(value: &str) -> String {
    utf8_percent_encode(value, SEGMENT).to_string()
}

impl Client {
    /// Builds a client from `config`: reads the token file (when set), loads the CA
    /// certificate and builds the HTTP client (unless the config carries the caller's own).
    ///
    /// The HTTP client built here follows no redirects, so the token header can never be
    /// forwarded to another host (a caller's own client may; see
    /// [`Config::with_http_client`]).
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) when the token file or CA certificate cannot be read, the token cannot be
    /// sent in a header, or the HTTP client cannot be built.
    pub fn new(config: Config) -> Result<Self> {
        let token = match &config.token_file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::TokenFile {
                        path: path.clone(),
                        source,
                    })?;
                Some(text.trim().to_owned())
            }
            None => config.token.clone(),
        }
        .filter(|t| !t.is_empty());
        let token = match token {
            Some(t) => {
                let mut value =
                    HeaderValue::from_str(&t).map_err(|_| ConfigError::TokenNotHeaderSafe)?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let http = match config.http_client.clone() {
            Some(client) => client,
            None => {
                let mut builder = reqwest::Client::builder()
                    .connect_timeout(config.timeout.min(Duration::from_secs(10)))
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("consul-client-rust/", env!("CARGO_PKG_VERSION")))
                    .use_preconfigured_tls(crate::tls::client_config(&config)?);
                #[cfg(unix)]
                if let Some(socket) = &config.unix_socket {
                    builder = builder.unix_socket(socket.clone());
                }
                builder
                    .build()
                    .map_err(|source| ConfigError::HttpClient { source })?
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                shown: config.shown_address().into(),
                client_certificate: config.client_cert.is_some(),
                http_auth: config.http_auth,
                base: config.address,
                token,
                datacenter: config.datacenter,
                namespace: config.namespace,
                partition: config.partition,
                timeout: config.timeout,
                retry: config.retry,
                max_response_size: config.max_response_size,
            }),
        })
    }

    /// A client configured from Consul's environment variables; see [`Config::from_env`].
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) for an invalid variable, and as [`Client::new`].
    pub fn from_env() -> Result<Self> {
        Self::new(Config::from_env()?)
    }

    /// The address requests go to.
    pub fn address(&self) -> &Url {
        &self.inner.base
    }

    /// Whether requests carry a token (`X-Consul-Token`). Without one, Consul judges them as
    /// the anonymous token; see [`Error::PermissionDenied`](crate::Error::PermissionDenied).
    pub fn sends_token(&self) -> bool {
        self.inner.token.is_some()
    }

    /// The per-request timeout of the config.
    pub(crate) fn request_timeout(&self) -> Duration {
        self.inner.timeout
    }

    fn url(&self, req: &Request) -> Url {
        let mut url = self.inner.base.clone();
        let prefix = self.inner.base.path().trim_end_matches('/');
        url.set_path(&format!("{prefix}/v1/{}", req.path));
        let dc = self
            .inner
            .datacenter
            .as_ref()
            .map(|dc| ("dc", Some(dc.clone())));
        let ns = self
            .inner
            .namespace
            .as_ref()
            .map(|ns| ("ns", Some(ns.clone())));
        let partition = self
            .inner
            .partition
            .as_ref()
            .map(|p| ("partition", Some(p.clone())));
        let params: Vec<_> = dc
            .into_iter()
            .chain(ns)
            .chain(partition)
            .chain(req.params.iter().cloned())
            .collect();
        if !params.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in &params {
                match value {
                    Some(v) => pairs.append_pair(name, v),
                    None => pairs.append_key_only(name),
                };
            }
        }
        url
    }

    /// Sends `req`, retrying as its [`Retry`] kind allows, and returns the response when its
    /// status is a success or one of `req.pass_through`.
    pub(crate) async fn send(&self, req: &Request) -> Result<Response> {
        let retry = self.inner.retry;
        let backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(retry.min_delay)
            .with_max_delay(retry.max_delay)
            .with_max_times(retry.max_retries);
        (|| self.send_once(req))
            .retry(backoff)
            .when(|e| should_retry(req.retry, e))
            .adjust(|e, delay| match (e, delay) {
                // Honour Consul's Retry-After, within the policy's largest delay.
                (Error::RateLimited { retry_after: Some(after) }, Some(d)) => {
                    Some(d.max((*after).min(retry.max_delay)))
                }
                (_, d) => d,
            })
            .notify(|e, delay| {
                tracing::debug!(method = %req.method, path = %req.path, ?delay, error = %e, "retrying Consul request");
            })
            .await
    }

    async fn send_once(&self, req: &Request) -> Result<Response> {
        let url = self.url(req);
        let shown_url = shown_request_url(&url);
        let mut builder = self
            .inner
            .http
            .request(req.method.clone(), url)
            .timeout(self.inner.timeout.saturating_add(req.hold));
        if let Some(token) = &self.inner.token {
            builder = builder.header("X-Consul-Token", token.clone());
        }
        if let Some(auth) = &self.inner.http_auth {
            // reqwest marks the header sensitive.
            builder = builder.basic_auth(auth.username(), auth.password());
        }
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        let context = || format!("{} /v1/{}", req.method, req.path);
        let mut resp = builder
            .send()
            .await
            .map_err(|source| self.transport_error(context, scrub(source, &shown_url)))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        // Read chunk by chunk up to the limit: a server must not make us allocate at will.
        let limit = self.inner.max_response_size;
        let too_large = || Error::ResponseTooLarge {
            limit,
            address: self.inner.shown.to_string(),
        };
        if resp
            .content_length()
            .is_some_and(|len| len > u64::try_from(limit).unwrap_or(u64::MAX))
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|source| self.transport_error(context, scrub(source, &shown_url)))?
        {
            if chunk.len() > limit.saturating_sub(body.len()) {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        if status.is_success() || req.pass_through.contains(&status) {
            return Ok(Response {
                status,
                headers,
                body,
                address: self.inner.shown.clone(),
            });
        }
        Err(status_error(
            status,
            &headers,
            &body,
            self.inner.token.is_some(),
        ))
    }
}

impl Client {
    /// The error for a request that failed below HTTP: Consul's refusal of the client's
    /// certificate, a refused server certificate, or another transport failure.
    fn transport_error(&self, context: impl FnOnce() -> String, source: reqwest::Error) -> Error {
        if crate::tls::client_certificate_refused(&source) {
            return Error::ClientCertificateRefused {
                context: context(),
                certificate_sent: self.inner.client_certificate,
                source,
            };
        }
        Error::transport(context, source)
    }
}

/// The URL of a request as an error may show it: no credentials, no query (the query holds
/// nothing secret, since the token never goes there, but nothing in it helps either).
fn shown_request_url(url: &Url) -> Url {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown
}

/// Replaces the URL reqwest puts into its errors (and their `Display`) with `shown`.
fn scrub(source: reqwest::Error, shown: &Url) -> reqwest::Error {
    source.without_url().with_url(shown.clone())
}

/// Whether a failed attempt is sent again. A refused certificate ([`Error::Certificate`](crate::Error::Certificate)) never
/// is: reqwest counts it as a connect error, but no retry can change the certificate.
fn should_retry(kind: Retry, error: &Error) -> bool {
    match (kind, error) {
        (_, Error::Transport { source }) if source.is_connect() => true,
        (Retry::Idempotent, Error::Transport { source }) => !source.is_timeout(),
        (Retry::Idempotent, Error::RateLimited { .. }) => true,
        (Retry::Idempotent, Error::Server { status, .. }) => *status >= 500,
        _ => false,
    }
}

/// Turns an error status into the typed error it stands for.
pub(crate) fn status_error(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    token_sent: bool,
) -> Error {
    let text = String::from_utf8_lossy(body);
    let message = text.trim();
    match status {
        StatusCode::FORBIDDEN if message.contains("ACL not found") => Error::AclNotFound,
        StatusCode::FORBIDDEN => Error::PermissionDenied {
            message: truncate(if message.is_empty() {
                "Permission denied"
            } else {
                message
            }),
            token_sent,
        },
        StatusCode::TOO_MANY_REQUESTS => Error::RateLimited {
            retry_after: headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        },
        StatusCode::INTERNAL_SERVER_ERROR if message.contains("invalid session") => {
            Error::InvalidSession {
                message: truncate(message),
            }
        }
        _ => Error::Server {
            status: status.as_u16(),
            body: truncate(message),
        },
    }
}

fn truncate(text: &str) -> String {
    if text.len() <= MAX_ERROR_BODY {
        return text.to_owned();
    }
    let mut end = MAX_ERROR_BODY;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", text.get(..end).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(address: &str) -> Client {
        Client::new(
            Config::new(address)
                .expect("address")
                .with_datacenter("dc 1"),
        )
        .expect("client")
    }

    #[test]
    fn url_keeps_prefix_and_encodes_key() {
        let c = client("https://proxy.example/consul/");
        let req = Request::get(format!("kv/{}", key_path("a b/c?d"))).flag("recurse");
        assert_eq!(
            c.url(&req).as_str(),
            "https://proxy.example/consul/v1/kv/a%20b/c%3Fd?dc=dc+1&recurse"
        );
    }

    #[test]
    fn url_without_params_has_no_query() {
        let c = Client::new(Config::default()).expect("client");
        assert_eq!(
            c.url(&Request::get("status/leader".into())).as_str(),
            "http://127.0.0.1:8500/v1/status/leader"
        );
    }

    #[test]
    fn acl_not_found_is_told_apart_from_permission_denied() {
        let h = HeaderMap::new();
        assert!(matches!(
            status_error(StatusCode::FORBIDDEN, &h, b"ACL not found", true),
            Error::AclNotFound
        ));
        assert!(matches!(
            status_error(StatusCode::FORBIDDEN, &h, b"Permission denied", false),
            Error::PermissionDenied {
                token_sent: false,
                ..
            }
        ));
    }

    #[test]
    fn rate_limit_reads_retry_after() {
        let mut h = HeaderMap::new();
        h.insert("Retry-After", HeaderValue::from_static("3"));
        match status_error(StatusCode::TOO_MANY_REQUESTS, &h, b"", true) {
            Error::RateLimited { retry_after } => {
                assert_eq!(retry_after, Some(Duration::from_secs(3)))
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn writes_are_not_retried_after_a_server_error() {
        let err = Error::Server {
            status: 503,
            body: String::new(),
        };
        assert!(!should_retry(Retry::Write, &err));
        assert!(should_retry(Retry::Idempotent, &err));
    }

    #[test]
    fn long_error_bodies_are_truncated_on_a_char_boundary() {
        let body = "é".repeat(MAX_ERROR_BODY);
        let t = truncate(&body);
        assert!(t.len() <= MAX_ERROR_BODY + "…".len());
    }

    #[test]
    fn debug_of_client_redacts_token() {
        let c = Client::new(Config::default().with_token("tok-123")).expect("client");
        assert!(!format!("{c:?}").contains("tok-123"));
    }
}
