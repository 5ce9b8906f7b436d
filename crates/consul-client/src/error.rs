//! Errors returned by every operation of this crate.

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong when talking to Consul.
///
/// No variant ever carries the ACL token: not in its fields, not in its `Display` text and not in
/// its `Debug` output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Consul refused the request for lack of rights (HTTP 403 `Permission denied`).
    ///
    /// The three token cases Consul answers with a 403 are told apart:
    ///
    /// | case | error |
    /// | --- | --- |
    /// | no token was sent, and the anonymous token lacks the rights | `PermissionDenied { token_sent: false, .. }` |
    /// | the token sent lacks the rights | `PermissionDenied { token_sent: true, .. }` |
    /// | the token sent is not known to Consul | [`Error::AclNotFound`](crate::Error::AclNotFound) |
    ///
    /// Inside a transaction a denied operation rolls it back instead
    /// ([`Error::TxnRolledBack`](crate::Error::TxnRolledBack), see [`Error::is_permission_denied`](crate::Error::is_permission_denied)); whether a token was sent
    /// is then [`Client::sends_token`](crate::Client::sends_token).
    #[error(
        "permission denied by Consul ({}): {message}",
        if *token_sent {
            "the token sent lacks the rights"
        } else {
            "no token was sent, and the anonymous token lacks the rights"
        }
    )]
    PermissionDenied {
        /// Consul's message, e.g. `Permission denied`.
        message: String,
        /// Whether the request carried a token. `false`: Consul judged it as the anonymous
        /// token, and configuring a token may help.
        token_sent: bool,
    },

    /// Consul does not know the token that was sent (HTTP 403 `ACL not found`): it was
    /// deleted, has expired, or is mistyped. Only ever answered to a request with a token.
    #[error("Consul does not know the ACL token that was sent (ACL not found)")]
    AclNotFound,

    /// The object the request names does not exist, where the API treats that as an error
    /// (for example renewing a session that has expired).
    #[error("{what} not found")]
    NotFound {
        /// What was not found, e.g. `session 3f0c…`.
        what: String,
    },

    /// A transaction was rolled back: nothing it contained was applied.
    #[error("transaction rolled back: {}", format_txn_errors(errors))]
    TxnRolledBack {
        /// One entry per failed operation, as Consul reported them.
        errors: Vec<TxnError>,
    },

    /// Consul answered HTTP 429: the agent or servers are rate-limiting requests.
    #[error("rate limited by Consul{}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    RateLimited {
        /// How long Consul asked the client to wait, when it said so in `Retry-After`.
        retry_after: Option<Duration>,
    },

    /// A session named in the request is not valid (unknown, expired or destroyed).
    #[error("invalid session: {message}")]
    InvalidSession {
        /// Consul's message.
        message: String,
    },

    /// Consul answered with an unexpected HTTP status.
    #[error("Consul answered HTTP {status}: {body}")]
    Server {
        /// The HTTP status code.
        status: u16,
        /// The start of the response body (at most a few KiB).
        body: String,
    },

    /// Consul's TLS certificate could not be verified: it is signed by an authority the client
    /// does not trust, issued for another name, expired…
    ///
    /// Nothing was sent, and the request is not retried, read or write: retrying cannot change
    /// the certificate. For a Consul with a private CA, give the client that CA
    /// ([`Config::with_ca_cert`](crate::Config::with_ca_cert), or `CONSUL_CACERT` with
    /// [`Config::from_env`](crate::Config::from_env)).
    #[error("{context}: Consul's TLS certificate could not be verified: {problem}")]
    Certificate {
        /// What was being done, such as `GET /v1/kv/app/config`.
        context: String,
        /// What is wrong with the certificate.
        problem: CertificateProblem,
        /// The underlying HTTP error; the TLS library's own error is among its causes.
        #[source]
        source: reqwest::Error,
    },

    /// The request could not be sent or its answer could not be received (connection refused,
    /// reset, a TLS failure other than a refused certificate, timeout).
    #[error("could not reach Consul: {source}")]
    Transport {
        /// The underlying HTTP client error. Its URL never contains a secret.
        #[source]
        source: reqwest::Error,
    },

    /// Consul's answer could not be understood.
    #[error("could not decode Consul's answer to {context}: {source}")]
    Decode {
        /// Which request's answer failed to decode.
        context: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },

    /// A header or field of Consul's answer held a value that makes no sense.
    #[error("unexpected answer from Consul: {message}")]
    UnexpectedResponse {
        /// What was wrong with it.
        message: String,
    },

    /// The server answered in a way Consul never does, so it is most likely not Consul: another
    /// service on that port, a proxy's own page, a stub that answers every request with `200 {}`.
    ///
    /// Nothing it said is taken as Consul's word: a read is not reported as "no such key", and a
    /// transaction or lock it claims to have committed is not reported as done. Whether a write
    /// sent to it had any effect is unknown. Not retried.
    #[error("{address} does not look like Consul ({reason})")]
    NotConsul {
        /// The address the client talks to, never with credentials in it.
        address: String,
        /// What Consul would have done, e.g. `no X-Consul-Index header`.
        reason: String,
    },

    /// The answer's body is larger than the client reads
    /// ([`Config::with_max_response_size`](crate::Config::with_max_response_size)); it was read
    /// no further than the limit. Not retried: the same request would get the same answer.
    #[error("{address} answered with a body larger than the client's limit of {limit} bytes")]
    ResponseTooLarge {
        /// The limit, in bytes.
        limit: usize,
        /// The address the client talks to, never with credentials in it.
        address: String,
    },

    /// The request was refused before anything was sent, because its input is invalid.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),

    /// The client could not be configured.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// Consul ended the TLS handshake because the client showed no certificate, or one it does
    /// not accept: the agent has `verify_incoming` (mutual TLS). Nothing was sent; not retried.
    #[error(
        "{context}: Consul refused the connection: it requires a client certificate it trusts \
         (mutual TLS); give the client one with its key (CONSUL_CLIENT_CERT and \
         CONSUL_CLIENT_KEY){}",
        if *certificate_sent { ", signed by a CA Consul trusts" } else { "" }
    )]
    ClientCertificateRefused {
        /// What was being done, such as `GET /v1/kv/app/config`.
        context: String,
        /// Whether the client showed a certificate (then Consul does not trust it).
        certificate_sent: bool,
        /// The underlying HTTP error; the TLS alert is among its causes.
        #[source]
        source: reqwest::Error,
    },

    /// A lock key exists but is not used as a lock (its flags differ from the lock's flags).
    #[error("key {key:?} exists and is not used as a lock (flags {flags})")]
    LockConflict {
        /// The lock key.
        key: String,
        /// The flags found on the key.
        flags: u64,
    },
}

impl Error {
    /// True when Consul refused the request for lack of rights: a 403 `Permission denied`, or a
    /// transaction rolled back because one of its operations was denied. An unknown token
    /// ([`Error::AclNotFound`](crate::Error::AclNotFound)) is not counted here.
    pub fn is_permission_denied(&self) -> bool {
        match self {
            Self::PermissionDenied { .. } => true,
            Self::TxnRolledBack { errors } => errors.iter().any(TxnError::is_permission_denied),
            _ => false,
        }
    }

    /// True when retrying the same request later may succeed: transport failures, rate limiting
    /// and server-side (5xx) errors. A refused certificate ([`Error::Certificate`](crate::Error::Certificate)) is not
    /// transient: it stays refused until the certificate or the client's config changes.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } | Self::RateLimited { .. } => true,
            Self::Server { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The error for a request that failed below HTTP: [`Error::Certificate`](crate::Error::Certificate) when Consul's
    /// certificate was refused, [`Error::Transport`](crate::Error::Transport) otherwise.
    pub(crate) fn transport(context: impl FnOnce() -> String, source: reqwest::Error) -> Self {
        match certificate_problem(&source) {
            Some(problem) => Self::Certificate {
                context: context(),
                problem,
                source,
            },
            None => Self::Transport { source },
        }
    }
}

/// Why Consul's TLS certificate was refused; see [`Error::Certificate`](crate::Error::Certificate).
///
/// The text of each says what to do about it, for the user of a client program.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateProblem {
    /// The certificate is signed by a certificate authority the client does not trust,
    /// typically a private CA (or the certificate is self-signed).
    #[error(
        "it is signed by a certificate authority this client does not trust; if Consul uses a \
         private CA, give the client that CA (CONSUL_CACERT)"
    )]
    UnknownIssuer,
    /// The certificate is not issued for the host name (or IP address) in the address.
    #[error(
        "it is not valid for the host in the address; use the name the certificate is issued for"
    )]
    NotValidForName,
    /// The certificate has expired (or this computer's clock is ahead).
    #[error("it has expired (or this computer's clock is wrong); Consul needs a new one")]
    Expired,
    /// The certificate is not valid yet (or this computer's clock is behind).
    #[error("it is not valid yet (or this computer's clock is wrong)")]
    NotYetValid,
    /// The certificate has been revoked by its authority.
    #[error("it has been revoked; Consul needs a new one")]
    Revoked,
    /// Any other reason, as the TLS library words it.
    #[error("{0}")]
    Other(String),
}

impl From<&rustls::CertificateError> for CertificateProblem {
    fn from(error: &rustls::CertificateError) -> Self {
        use rustls::CertificateError as E;
        match error {
            E::UnknownIssuer => Self::UnknownIssuer,
            E::NotValidForName | E::NotValidForNameContext { .. } => Self::NotValidForName,
            E::Expired | E::ExpiredContext { .. } => Self::Expired,
            E::NotValidYet | E::NotValidYetContext { .. } => Self::NotYetValid,
            E::Revoked => Self::Revoked,
            other => Self::Other(format!("invalid certificate: {other}")),
        }
    }
}

/// Finds a refused server certificate among the causes of an HTTP error.
///
/// rustls reports it as [`rustls::Error::InvalidCertificate`], wrapped in one or more
/// [`std::io::Error`]s on its way to reqwest; `io::Error::source` skips the error it wraps, so
/// each one is opened with `get_ref` instead.
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

/// One failed operation of a rolled-back transaction.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct TxnError {
    /// Index of the failed operation in the list that was sent (starting at 0).
    #[serde(rename = "OpIndex")]
    pub op_index: usize,
    /// Consul's explanation, e.g. `failed to set key "a": index is stale`.
    #[serde(rename = "What")]
    pub what: String,
}

impl TxnError {
    /// True when this operation was refused by an ACL.
    pub fn is_permission_denied(&self) -> bool {
        self.what.contains("Permission denied") || self.what.contains("permission denied")
    }
}

fn format_txn_errors(errors: &[TxnError]) -> String {
    if errors.is_empty() {
        return "no reason given".to_owned();
    }
    errors
        .iter()
        .map(|e| format!("op {}: {}", e.op_index, e.what))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why a request was refused before anything was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidInput {
    /// A key (or key prefix) cannot be used with Consul's KV store.
    #[error("invalid key {key:?}: {reason}")]
    Key {
        /// The key as given.
        key: String,
        /// Why it is refused.
        reason: &'static str,
    },

    /// A value is larger than Consul accepts for one KV entry.
    #[error("value of {size} bytes is larger than Consul's limit of {limit} bytes")]
    ValueTooLarge {
        /// Size of the value given.
        size: usize,
        /// The limit (512 KiB).
        limit: usize,
    },

    /// A transaction holds more operations than Consul accepts.
    #[error("transaction has {count} operations; Consul accepts at most {limit}")]
    TooManyOperations {
        /// Number of operations given.
        count: usize,
        /// The limit (128).
        limit: usize,
    },

    /// A transaction's body is larger than Consul accepts.
    #[error("transaction body of {size} bytes is larger than Consul's limit of {limit} bytes")]
    TxnTooLarge {
        /// Size of the encoded body.
        size: usize,
        /// The limit (512 KiB).
        limit: usize,
    },

    /// Options that Consul does not accept together, or an out-of-range option.
    #[error("invalid options: {0}")]
    Options(&'static str),

    /// A name used in a URL path (session id, event name) is malformed.
    #[error("invalid {kind} {value:?}: {reason}")]
    Name {
        /// What the name is, e.g. `session id`.
        kind: &'static str,
        /// The name as given.
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },

    /// A duration is outside the range Consul accepts.
    #[error("{what} of {value:?} is out of range: {reason}")]
    Duration {
        /// Which duration, e.g. `session TTL`.
        what: &'static str,
        /// The duration given.
        value: Duration,
        /// The accepted range.
        reason: &'static str,
    },
}

/// Why a [`Config`](crate::Config) could not be turned into a client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The address is not a usable `http://` or `https://` URL.
    #[error("invalid Consul address {address:?}: {reason}")]
    Address {
        /// The address as given.
        address: String,
        /// Why it is refused.
        reason: String,
    },

    /// An environment variable holds a value that cannot be understood.
    #[error("invalid value {value:?} for {variable}: {reason}")]
    Environment {
        /// The variable's name.
        variable: &'static str,
        /// Its value (never used for the token variables).
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },

    /// The token file could not be read.
    #[error("could not read the Consul token file {}: {source}", path.display())]
    TokenFile {
        /// The file's path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The token cannot be sent in an HTTP header (it holds control characters).
    #[error("the Consul token holds characters that cannot be sent in an HTTP header")]
    TokenNotHeaderSafe,

    /// The CA certificate file could not be read.
    #[error("could not read the CA certificate {}: {source}", path.display())]
    CaCertFile {
        /// The file's path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The CA certificate file holds no usable PEM certificate.
    #[error("invalid CA certificate in {}: {source}", path.display())]
    CaCert {
        /// The file's path.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: reqwest::Error,
    },

    /// The CA certificate file holds no PEM certificate at all.
    #[error("no PEM certificate found in {}", path.display())]
    CaCertEmpty {
        /// The file's path.
        path: PathBuf,
    },

    /// One setting of a pair is given without the other (a client certificate without its
    /// key, or the reverse).
    #[error("{given} is set but {missing} is not: a client certificate and its key go together")]
    Incomplete {
        /// The setting given, e.g. `CONSUL_CLIENT_CERT`.
        given: &'static str,
        /// The one missing, e.g. `CONSUL_CLIENT_KEY`.
        missing: &'static str,
    },

    /// A TLS file (client certificate, its key, a CA directory) could not be read or used.
    #[error("cannot use the {what} {}: {reason}", path.display())]
    TlsFile {
        /// What the file is, e.g. `client certificate`.
        what: &'static str,
        /// The file's (or directory's) path.
        path: PathBuf,
        /// Why, e.g. `no such file` or `no PEM private key found`.
        reason: String,
    },

    /// The HTTP client could not be built.
    #[error("could not build the HTTP client: {source}")]
    HttpClient {
        /// The builder's error.
        #[source]
        source: reqwest::Error,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txn_rollback_message_lists_every_failed_op() {
        let err = Error::TxnRolledBack {
            errors: vec![
                TxnError {
                    op_index: 1,
                    what: "index is stale".into(),
                },
                TxnError {
                    op_index: 3,
                    what: "Permission denied".into(),
                },
            ],
        };
        assert_eq!(
            err.to_string(),
            "transaction rolled back: op 1: index is stale; op 3: Permission denied"
        );
        assert!(err.is_permission_denied());
    }

    #[test]
    fn server_errors_are_transient_only_when_5xx() {
        assert!(
            Error::Server {
                status: 503,
                body: String::new()
            }
            .is_transient()
        );
        assert!(
            !Error::Server {
                status: 400,
                body: String::new()
            }
            .is_transient()
        );
        assert!(!Error::AclNotFound.is_transient());
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
            (
                E::NotValidYetContext {
                    time: now,
                    not_before: now,
                },
                CertificateProblem::NotYetValid,
            ),
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
    fn only_an_unknown_issuer_is_told_to_give_the_client_the_ca() {
        assert!(
            CertificateProblem::UnknownIssuer
                .to_string()
                .contains("CONSUL_CACERT")
        );
        assert!(!CertificateProblem::Expired.to_string().contains("CA"));
        assert!(
            !CertificateProblem::NotValidForName
                .to_string()
                .contains("CA")
        );
    }
}
