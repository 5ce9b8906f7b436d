//! The error type of every call, and how Marathon's error responses map onto it.

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;

/// Longest excerpt of a response body kept in an error, so that a huge HTML error page
/// does not end up in a log line whole.
const BODY_EXCERPT_LIMIT: usize = 1024;

/// Everything that can go wrong when talking to Marathon.
///
/// Variants built from an HTTP status carry Marathon's own `message`, so a caller can show it
/// as is. No variant ever carries a credential: tokens and passwords travel only in headers,
/// and an address is shown as origin and path only (a password written in the base URL is
/// moved to basic authentication by [`crate::Config::new`], so it is in no URL at all).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// One or more apps touched by the request are locked by running deployments (409).
    ///
    /// Retry with `force` to cancel those deployments, or wait for them to finish.
    /// `deployment_ids` is filled from the `deployments` array of the response, or, for the
    /// older plain-string form of this error, from the deployment links in the message.
    #[error("app is locked by deployment(s) {}: {message}", deployment_ids.join(", "))]
    AppLocked {
        /// Ids of the deployments holding the lock.
        deployment_ids: Vec<String>,
        /// Marathon's message.
        message: String,
    },
    /// The app, group or deployment does not exist (404).
    #[error("not found: {message}")]
    NotFound {
        /// Marathon's message.
        message: String,
    },
    /// Marathon did not accept the credentials, or none were given (401).
    #[error("unauthorized: {message}")]
    Unauthorized {
        /// Marathon's message.
        message: String,
    },
    /// A DC/OS service account could not log in: the login endpoint refused the signed login
    /// token (the account or its key is unknown there) or answered without a token.
    #[error("the service account `{uid}` could not log in at {endpoint}: {reason}")]
    Login {
        /// The login endpoint, as origin and path.
        endpoint: String,
        /// The service account's id.
        uid: String,
        /// What the endpoint answered (its status and words; never a token).
        reason: String,
    },
    /// The credentials are valid but may not do this (403).
    #[error("forbidden: {message}")]
    Forbidden {
        /// Marathon's message.
        message: String,
    },
    /// Marathon rejected the request body or parameters (400 or 422).
    #[error("invalid request ({status}): {message}{}", format_details(details))]
    Invalid {
        /// The HTTP status, 400 or 422.
        status: u16,
        /// Marathon's message, such as `Object is not valid`.
        message: String,
        /// Which parts of the request were wrong, and why.
        details: Vec<InvalidDetail>,
    },
    /// Marathon cannot answer now: no leader elected, or a proxy in front of it has no
    /// backend (502, 503, 504). Reads are retried on this error before it is returned, and
    /// changes on a 503 (a 502 or 504 to a change is [`Error::OutcomeUnknown`]).
    #[error("Marathon is unavailable ({status}): {message}")]
    Unavailable {
        /// The HTTP status.
        status: u16,
        /// Marathon's or the proxy's message.
        message: String,
    },
    /// A 409 conflict other than an app lock, such as creating something that exists.
    #[error("conflict: {message}")]
    Conflict {
        /// Marathon's message.
        message: String,
    },
    /// Any other unexpected status.
    #[error("unexpected response {status}: {body}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// The beginning of the response body.
        body: String,
    },
    /// The server's TLS certificate could not be verified: it is signed by an authority the
    /// client does not trust, issued for another name, expired…
    ///
    /// Nothing was sent, and the request is not retried: retrying cannot change the
    /// certificate. For a server with a private CA, add the CA to the client's config
    /// ([`crate::Config::with_ca_certificate_pem`]).
    #[error("{context}: the server's TLS certificate could not be verified: {problem}")]
    Certificate {
        /// What was being done, and where, such as `GET https://m/v2/groups/prod`.
        context: String,
        /// What is wrong with the certificate.
        problem: CertificateProblem,
        /// The underlying HTTP error; the TLS library's own error is among its causes.
        #[source]
        source: reqwest::Error,
    },
    /// The request could not be sent or its response not received (connection refused,
    /// DNS, a TLS handshake failure other than a refused certificate, timeout, connection
    /// reset).
    #[error("{context}: {source}{}", root_cause_suffix(source))]
    Transport {
        /// What was being done, and where, such as `GET http://m:8080/v2/groups/prod`.
        context: String,
        /// The underlying HTTP error.
        #[source]
        source: reqwest::Error,
    },
    /// A change (`PUT`, `POST`, `DELETE`) was sent, but no answer says whether Marathon
    /// applied it: no answer came within the request timeout, the connection broke after the
    /// request went out, or a proxy in front of Marathon answered 502 or 504 (it may have
    /// passed the request on).
    ///
    /// It is not resent, since it could then be applied twice. Read the state (the group,
    /// `/v2/deployments`) before saying what happened or trying again.
    #[error(
        "{context}: the request was sent but {reason}, so whether Marathon applied it is \
         unknown; read the current state before trying again"
    )]
    OutcomeUnknown {
        /// What was being done, and where, such as `PUT http://m:8080/v2/groups/prod`.
        context: String,
        /// What happened instead of an answer, such as `no answer came in time`.
        reason: String,
        /// The underlying HTTP error, when the connection failed (not for a proxy's answer).
        #[source]
        source: Option<reqwest::Error>,
    },
    /// A response arrived but its body is not what Marathon sends (truncated, not JSON,
    /// wrong shape); for a response, the message says the server does not look like Marathon.
    #[error("could not decode {context}: {source}")]
    Decode {
        /// What was being decoded, such as `the GET /v2/apps/web response from
        /// http://m:8080, which does not look like Marathon (check MARATHON_URL)`.
        context: String,
        /// The JSON error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// A response body was larger than the configured limit
    /// ([`crate::Config::with_max_response_bytes`]); it was not read further, and the request
    /// is not retried.
    #[error("{context}: the response is larger than the limit of {limit} bytes")]
    ResponseTooLarge {
        /// What was being done, and where, such as `GET http://m:8080/v2/groups`.
        context: String,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The server at the configured address answered something Marathon does not send, such
    /// as a 404 without Marathon's JSON error (an HTML page, an empty body): the address is
    /// probably not Marathon's. Not [`Error::NotFound`], so that "the group does not exist" is
    /// only ever said by Marathon.
    #[error("{address} does not look like Marathon ({reason}): check MARATHON_URL")]
    NotMarathon {
        /// The configured address (origin and base path).
        address: String,
        /// What was answered, such as `404 with an HTML page`.
        reason: String,
    },
    /// The caller passed something that cannot be sent, such as an invalid app id or base
    /// URL; nothing was sent.
    #[error("invalid input: {message}")]
    InvalidInput {
        /// What is wrong with the input.
        message: String,
    },
    /// The event stream endpoint answered with something other than a server-sent event
    /// stream (for example an HTML login page).
    #[error("not an event stream: status {status}, content type {content_type:?}")]
    NotAnEventStream {
        /// The HTTP status.
        status: u16,
        /// The `Content-Type` received, if any.
        content_type: Option<String>,
    },
    /// No byte arrived on the event stream for longer than the idle timeout (or, when
    /// subscribing, no answer came within the request timeout). Marathon sends a keep-alive
    /// every 10 seconds, so a silent stream is a dead one.
    #[error("event stream idle for more than {after:?}")]
    StreamIdle {
        /// The idle timeout that elapsed.
        after: Duration,
    },
    /// An event on the stream was larger than the configured maximum.
    #[error("event stream sent an event larger than {limit} bytes")]
    EventTooLarge {
        /// The configured maximum size in bytes.
        limit: usize,
    },
    /// A request redirected too often, or to somewhere it cannot follow (a redirect to another
    /// origin is [`Error::CrossOriginRedirect`]).
    #[error("redirect not followed: {reason}")]
    Redirect {
        /// Why the redirect was not followed.
        reason: String,
    },
    /// The server closed the event stream.
    #[error("event stream closed by the server")]
    StreamClosed,
    /// The server redirected a request (REST or the event stream) to another origin (scheme,
    /// host or port), and the redirect was not followed.
    ///
    /// Credentials and request bodies (an app's `env` can hold secrets) go only to the
    /// configured origin: Marathon proxies requests to its leader itself, so a redirect to
    /// another origin is not something Marathon needs. Nothing was sent to `to`. `from` and
    /// `to` are origins only (`scheme://host:port`), never a path, query or user info.
    #[error(
        "{from} redirected the request ({status}) to another origin, {to}; not followed: \
         credentials and request bodies are sent only to the configured address"
    )]
    CrossOriginRedirect {
        /// The redirect's HTTP status, such as 302 or 307.
        status: u16,
        /// The origin that answered with the redirect.
        from: String,
        /// The origin the redirect pointed at.
        to: String,
    },
}

/// Why a server's TLS certificate was refused; see [`Error::Certificate`].
///
/// The text of each says what to do about it, for the user of a client program.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateProblem {
    /// The certificate is signed by a certificate authority the client does not trust,
    /// typically a private CA (or the certificate is self-signed).
    #[error(
        "it is signed by a certificate authority this client does not trust; if the server \
         uses a private CA, add the CA to the client's config"
    )]
    UnknownIssuer,
    /// The certificate is not issued for the host name (or IP address) in the URL.
    #[error("it is not valid for the host in the URL; use the name the certificate is issued for")]
    NotValidForName,
    /// The certificate has expired (or this computer's clock is ahead).
    #[error("it has expired (or this computer's clock is wrong); the server needs a new one")]
    Expired,
    /// The certificate is not valid yet (or this computer's clock is behind).
    #[error("it is not valid yet (or this computer's clock is wrong)")]
    NotYetValid,
    /// The certificate has been revoked by its authority.
    #[error("it has been revoked; the server needs a new one")]
    Revoked,
    /// Any other reason, as the TLS library words it.
    #[error("{0}")]
    Other(String),
}

impl From<&rustls::CertificateError> for CertificateProblem {
    fn from(error: &rustls::CertificateError) -> Self {
        use rustls::CertificateError as E;
        match error {
            E::UnknownIssuer => CertificateProblem::UnknownIssuer,
            E::NotValidForName | E::NotValidForNameContext { .. } => {
                CertificateProblem::NotValidForName
            }
            E::Expired | E::ExpiredContext { .. } => CertificateProblem::Expired,
            E::NotValidYet | E::NotValidYetContext { .. } => CertificateProblem::NotYetValid,
            E::Revoked => CertificateProblem::Revoked,
            other => CertificateProblem::Other(format!("invalid certificate: {other}")),
        }
    }
}

/// Finds a refused server certificate among the causes of an HTTP error.
///
/// rustls reports it as [`rustls::Error::InvalidCertificate`], which reaches reqwest wrapped in
/// one or more [`std::io::Error`]s (tokio-rustls, then hyper-rustls). `io::Error::source`
/// skips the error it wraps, so each one is opened with `get_ref` instead.
fn certificate_problem(error: &reqwest::Error) -> Option<CertificateProblem> {
    // Real chains are a handful of links; the bound only guards against a cycle.
    const MAX_LINKS: usize = 32;
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    for _ in 0..MAX_LINKS {
        let current = next?;
        if let Some(rustls::Error::InvalidCertificate(e)) = current.downcast_ref::<rustls::Error>()
        {
            return Some(e.into());
        }
        next = match current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner),
            None => current.source(),
        };
    }
    None
}

/// The kind of the I/O error among the causes of an HTTP error, if there is one.
fn io_error_kind(error: &reqwest::Error) -> Option<std::io::ErrorKind> {
    // Real chains are a handful of links; the bound only guards against a cycle.
    const MAX_LINKS: usize = 32;
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    for _ in 0..MAX_LINKS {
        let current = next?;
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        next = current.source();
    }
    None
}

/// `" (<innermost cause>)"`, which says what happened (`Connection refused`, `operation timed
/// out`…) where reqwest's own message only says `error sending request`.
fn root_cause_suffix(error: &reqwest::Error) -> String {
    let mut innermost: Option<&(dyn std::error::Error + 'static)> = None;
    let mut next = std::error::Error::source(error);
    for _ in 0..32 {
        let Some(current) = next else { break };
        innermost = Some(current);
        next = current.source();
    }
    innermost
        .map(|cause| format!(" ({cause})"))
        .unwrap_or_default()
}

/// One entry of the `details` array of Marathon's 400 and 422 responses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InvalidDetail {
    /// JSON path of the offending field, such as `/id`.
    #[serde(default)]
    pub path: String,
    /// What is wrong with it.
    #[serde(default)]
    pub errors: Vec<String>,
}

fn format_details(details: &[InvalidDetail]) -> String {
    let mut out = String::new();
    for detail in details {
        out.push_str(&format!("; {}: {}", detail.path, detail.errors.join(", ")));
    }
    out
}

impl Error {
    /// True when retrying the same request later may succeed without any change: Marathon
    /// was unavailable, or the connection could not be made. A refused certificate
    /// ([`Error::Certificate`]) is not transient: it stays refused until someone changes the
    /// certificate or the client's config.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unavailable { .. } => true,
            Error::Transport { source, .. } => source.is_connect(),
            _ => false,
        }
    }

    /// True when no connection could be made at all, so the request was certainly not
    /// received by Marathon (safe to resend even for writes).
    pub(crate) fn is_connect(&self) -> bool {
        matches!(self, Error::Transport { source, .. } if source.is_connect())
    }

    /// True when the connection was refused: nothing listens at the address.
    pub(crate) fn is_connection_refused(&self) -> bool {
        matches!(self, Error::Transport { source, .. } if source.is_connect() && io_error_kind(source) == Some(std::io::ErrorKind::ConnectionRefused))
    }

    /// True when a read is sent again: [`Error::is_transient`], except a refused connection.
    ///
    /// A refused connection means nothing listens at the address: a wrong address, or a
    /// Marathon that is stopped. A leader election does not refuse connections (Marathon's
    /// instances keep listening and answer 503, which is retried), so waiting seconds would
    /// only delay saying what is wrong.
    pub(crate) fn is_retryable_for_reads(&self) -> bool {
        self.is_transient() && !self.is_connection_refused()
    }

    /// True when a change may be sent again: Marathon answered 503 (it has no leader, or is
    /// not ready, and did not process the request), or the connection could not be made (but
    /// was not refused, as for reads).
    pub(crate) fn is_retryable_for_writes(&self) -> bool {
        matches!(self, Error::Unavailable { status: 503, .. })
            || (self.is_connect() && !self.is_connection_refused())
    }

    /// What a failed change means for its caller: a transport failure after the request was
    /// sent, or a proxy's 502/504, leaves the outcome unknown ([`Error::OutcomeUnknown`]).
    pub(crate) fn for_write(self, context: &str) -> Self {
        match self {
            Error::Transport { context, source } if !source.is_connect() => {
                let reason = if source.is_timeout() {
                    "no answer came in time"
                } else {
                    "the connection failed before the answer was read"
                };
                Error::OutcomeUnknown {
                    context,
                    reason: reason.to_owned(),
                    source: Some(source),
                }
            }
            Error::Unavailable {
                status: status @ (502 | 504),
                message,
            } => Error::OutcomeUnknown {
                context: context.to_owned(),
                reason: format!(
                    "a proxy answered {status} ({message}), and it may have passed the request on"
                ),
                source: None,
            },
            other => other,
        }
    }

    /// The error for a request that failed below HTTP: [`Error::Certificate`] when the
    /// server's certificate was refused, [`Error::Transport`] otherwise.
    pub(crate) fn transport(context: impl Into<String>, source: reqwest::Error) -> Self {
        // The context names the address (origin and path); reqwest's own copy of the URL is
        // dropped so that no URL part the context leaves out (a query, a redirect's URL) is
        // ever shown.
        let context = context.into();
        let source = source.without_url();
        match certificate_problem(&source) {
            Some(problem) => Error::Certificate {
                context,
                problem,
                source,
            },
            None => Error::Transport { context, source },
        }
    }

    /// A decode error of something that did not come from the server.
    pub(crate) fn decode(context: impl Into<String>, source: serde_json::Error) -> Self {
        Error::Decode {
            context: context.into(),
            source,
        }
    }

    /// A decode error of a response from the server at `address`.
    pub(crate) fn decode_response(
        context: impl Into<String>,
        address: &str,
        source: serde_json::Error,
    ) -> Self {
        Error::Decode {
            context: format!(
                "{} from {address}, which does not look like Marathon (check MARATHON_URL)",
                context.into()
            ),
            source,
        }
    }

    pub(crate) fn invalid_input(message: impl Into<String>) -> Self {
        Error::InvalidInput {
            message: message.into(),
        }
    }

    /// Builds the error for a non-success response from its status and body, received from
    /// the server at `address`.
    pub(crate) fn from_response(status: StatusCode, body: &[u8], address: &str) -> Self {
        let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
        let text = String::from_utf8_lossy(body);
        let message = parsed
            .as_ref()
            .and_then(|b| b.message.clone())
            .unwrap_or_else(|| excerpt(text.trim()));
        match status.as_u16() {
            400 | 422 => Error::Invalid {
                status: status.as_u16(),
                message,
                details: parsed.map(|b| b.details).unwrap_or_default(),
            },
            401 => Error::Unauthorized { message },
            403 => Error::Forbidden { message },
            404 => match parsed.as_ref().and_then(|b| b.message.as_deref()) {
                // Marathon's 404s say what does not exist: `App '/x' does not exist`,
                // `Group '/x' does not exist`, `DeploymentPlan d1 does not exist`.
                Some(text) if text.contains("does not exist") => Error::NotFound { message },
                Some(text) => Error::NotMarathon {
                    address: address.to_owned(),
                    reason: format!("404: {}", excerpt(text)),
                },
                None => Error::NotMarathon {
                    address: address.to_owned(),
                    reason: describe_404_body(text.trim()),
                },
            },
            409 => {
                let mut ids: Vec<String> = parsed
                    .as_ref()
                    .map(|b| b.deployments.iter().map(|d| d.id.clone()).collect())
                    .unwrap_or_default();
                if ids.is_empty() {
                    ids = deployment_ids_in(&message);
                }
                if ids.is_empty() && !message.to_ascii_lowercase().contains("locked") {
                    Error::Conflict { message }
                } else {
                    Error::AppLocked {
                        deployment_ids: ids,
                        message,
                    }
                }
            }
            502..=504 => Error::Unavailable {
                status: status.as_u16(),
                message,
            },
            other => Error::Server {
                status: other,
                body: excerpt(&text),
            },
        }
    }
}

/// What a 404 without Marathon's JSON error carried, for [`Error::NotMarathon`].
fn describe_404_body(text: &str) -> String {
    if text.is_empty() {
        "404 with an empty body, where Marathon says what does not exist".to_owned()
    } else if text.starts_with('<') {
        "404 with an HTML page, where Marathon answers JSON".to_owned()
    } else {
        "404 whose body is not Marathon's JSON error".to_owned()
    }
}

/// The shape of Marathon's error bodies; every field is optional because proxies and older
/// versions send less.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    details: Vec<InvalidDetail>,
    #[serde(default)]
    deployments: Vec<DeploymentIdOnly>,
}

#[derive(Deserialize)]
struct DeploymentIdOnly {
    id: String,
}

/// Finds the ids in `/v2/deployments/<ID>` links, as the older plain-string 409 carries them.
fn deployment_ids_in(message: &str) -> Vec<String> {
    const MARKER: &str = "/v2/deployments/";
    let mut ids = Vec::new();
    let mut rest = message;
    while let Some(start) = rest.find(MARKER) {
        let after = &rest[start + MARKER.len()..];
        let id: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        if !id.is_empty() && !ids.contains(&id) {
            ids.push(id);
        }
        rest = after;
    }
    ids
}

/// Cuts a body to a readable length on a character boundary.
pub(crate) fn excerpt(text: &str) -> String {
    if text.len() <= BODY_EXCERPT_LIMIT {
        return text.to_owned();
    }
    let mut end = BODY_EXCERPT_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDRESS: &str = "http://m:8080";

    #[test]
    fn marathon_404_is_not_found_and_any_other_404_is_not_marathon() {
        let found = Error::from_response(
            StatusCode::NOT_FOUND,
            br#"{"message":"Group '/x' does not exist"}"#,
            ADDRESS,
        );
        assert!(
            matches!(&found, Error::NotFound { message } if message == "Group '/x' does not exist"),
            "{found:?}"
        );
        for (body, reason) in [
            (&b""[..], "404 with an empty body"),
            (
                b"<html><body>Not Found</body></html>",
                "404 with an HTML page",
            ),
            (
                b"404 page not found",
                "404 whose body is not Marathon's JSON error",
            ),
            (br#"{"message":"Not Found"}"#, "404: Not Found"),
        ] {
            let err = Error::from_response(StatusCode::NOT_FOUND, body, ADDRESS);
            assert!(matches!(err, Error::NotMarathon { .. }), "{err:?}");
            let text = err.to_string();
            assert!(
                text.starts_with(&format!(
                    "http://m:8080 does not look like Marathon ({reason}"
                )),
                "{text}"
            );
            assert!(text.ends_with("): check MARATHON_URL"), "{text}");
        }
    }

    #[test]
    fn locked_409_with_deployments_array_lists_ids() {
        let body = br#"{"message":"App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.","deployments":[{"id":"d1"},{"id":"d2"}]}"#;
        match Error::from_response(StatusCode::CONFLICT, body, ADDRESS) {
            Error::AppLocked { deployment_ids, .. } => assert_eq!(deployment_ids, ["d1", "d2"]),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn locked_409_plain_string_form_takes_ids_from_links() {
        let body = b"App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43'.";
        match Error::from_response(StatusCode::CONFLICT, body, ADDRESS) {
            Error::AppLocked { deployment_ids, .. } => {
                assert_eq!(deployment_ids, ["5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43"]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn other_409_is_a_conflict() {
        let body = br#"{"message":"An app with id [/foo] already exists."}"#;
        assert!(matches!(
            Error::from_response(StatusCode::CONFLICT, body, ADDRESS),
            Error::Conflict { message } if message.contains("already exists")
        ));
    }

    #[test]
    fn invalid_422_keeps_details() {
        let body = br#"{"message":"Object is not valid","details":[{"path":"/id","errors":["must be lowercase"]}]}"#;
        let err = Error::from_response(StatusCode::UNPROCESSABLE_ENTITY, body, ADDRESS);
        assert_eq!(
            err.to_string(),
            "invalid request (422): Object is not valid; /id: must be lowercase"
        );
    }

    #[test]
    fn unavailable_503_is_transient_and_404_is_not() {
        let unavailable = Error::from_response(
            StatusCode::SERVICE_UNAVAILABLE,
            br#"{"message":"Could not determine the current leader"}"#,
            ADDRESS,
        );
        assert!(unavailable.is_transient());
        assert!(
            !Error::from_response(
                StatusCode::NOT_FOUND,
                br#"{"message":"App '/a' does not exist"}"#,
                ADDRESS
            )
            .is_transient()
        );
    }

    #[test]
    fn rustls_certificate_errors_map_to_problems_with_their_context_forms() {
        use rustls::CertificateError as E;
        use rustls::pki_types::UnixTime;
        let now = UnixTime::since_unix_epoch(Duration::from_secs(1_700_000_000));
        let cases = [
            (E::UnknownIssuer, CertificateProblem::UnknownIssuer),
            (E::NotValidForName, CertificateProblem::NotValidForName),
            (E::Expired, CertificateProblem::Expired),
            (
                E::ExpiredContext {
                    time: now,
                    not_after: now,
                },
                CertificateProblem::Expired,
            ),
            (E::NotValidYet, CertificateProblem::NotYetValid),
            (E::Revoked, CertificateProblem::Revoked),
        ];
        for (error, problem) in cases {
            assert_eq!(CertificateProblem::from(&error), problem, "{error:?}");
        }
        assert!(matches!(
            CertificateProblem::from(&E::BadSignature),
            CertificateProblem::Other(text) if text.contains("invalid certificate")
        ));
    }

    #[test]
    fn only_an_unknown_issuer_is_told_to_add_the_ca() {
        assert!(
            CertificateProblem::UnknownIssuer
                .to_string()
                .contains("add the CA to the client's config")
        );
        assert!(
            !CertificateProblem::Expired
                .to_string()
                .contains("add the CA")
        );
    }

    #[test]
    fn server_error_body_is_cut_to_an_excerpt() {
        let body = vec![b'x'; 10_000];
        match Error::from_response(StatusCode::INTERNAL_SERVER_ERROR, &body, ADDRESS) {
            Error::Server { status, body } => {
                assert_eq!(status, 500);
                assert!(body.len() < 1100, "kept {} bytes", body.len());
                assert!(body.ends_with("(10000 bytes)"));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
