//! The errors of a registry check.

use crate::ReferenceError;

/// Why a manifest could not be checked, or was not found.
///
/// No variant holds a credential: messages name the registry, the repository and the reference,
/// never a password or token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The repository exists but has no manifest for this tag or digest (HTTP 404,
    /// `MANIFEST_UNKNOWN`).
    #[error("{repository}:{reference} is not in registry {registry}: no such tag or digest")]
    ManifestUnknown {
        /// The registry host.
        registry: String,
        /// The repository.
        repository: String,
        /// The tag or digest asked for.
        reference: String,
    },
    /// The registry does not know the repository (HTTP 404, `NAME_UNKNOWN`).
    #[error("repository {repository} is not in registry {registry}")]
    NameUnknown {
        /// The registry host.
        registry: String,
        /// The repository.
        repository: String,
    },
    /// The registry (or its token server) wants other credentials (HTTP 401). Docker Hub also
    /// answers this for repositories that do not exist, so as not to reveal private ones.
    #[error("registry {registry} refused access to {repository}: {reason}")]
    Unauthorized {
        /// The registry host.
        registry: String,
        /// The repository.
        repository: String,
        /// What was tried: no credentials, refused credentials, no supported challenge.
        reason: String,
    },
    /// The credentials are valid but may not pull this repository (HTTP 403).
    #[error("registry {registry} denied pulling {repository} with these credentials")]
    Forbidden {
        /// The registry host.
        registry: String,
        /// The repository.
        repository: String,
    },
    /// The registry or its token server could not be reached: DNS, connection, TLS or timeout.
    #[error("registry {registry} is unreachable")]
    Unreachable {
        /// The registry host.
        registry: String,
        /// The transport error (its text names the URL, which never carries a secret).
        #[source]
        source: reqwest::Error,
    },
    /// An HTTPS request was answered in plain HTTP: the registry serves only plain HTTP (rustls
    /// reports this as "received corrupt message of type InvalidContentType"). Nothing secret
    /// was sent: the TLS handshake failed before any request.
    #[error(
        "registry {registry} answered plain HTTP to an HTTPS request; if it serves only plain \
         HTTP, list it under `insecure_registries` (a plain-HTTP host)"
    )]
    PlainHttpAnswer {
        /// The registry host.
        registry: String,
        /// The TLS error.
        #[source]
        source: reqwest::Error,
    },
    /// The registry answered with an unexpected status (5xx, 429, …).
    #[error("registry {registry} answered HTTP {status}{}", message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Server {
        /// The registry host.
        registry: String,
        /// The HTTP status code.
        status: u16,
        /// The registry's own error message, when its body had one.
        message: Option<String>,
    },
    /// The registry's answer could not be understood (a missing or malformed digest, a token
    /// answer without a token, …).
    #[error("registry {registry} sent an answer that cannot be understood: {what}")]
    Decode {
        /// The registry host.
        registry: String,
        /// What was wrong with the answer.
        what: String,
    },
    /// An answer (a manifest, a token) was larger than the client reads; it was not read
    /// further. A manifest is at most 4 MiB (registries refuse larger ones), a token answer
    /// at most 256 KiB.
    #[error("registry {registry} sent {what} larger than the limit of {limit} bytes")]
    ResponseTooLarge {
        /// The registry host.
        registry: String,
        /// What was being read, such as `a manifest`.
        what: &'static str,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The registry served a manifest whose digest is not the one the reference pins.
    #[error("registry {registry} served {actual} for {repository}@{expected}")]
    DigestMismatch {
        /// The registry host.
        registry: String,
        /// The repository.
        repository: String,
        /// The digest in the reference.
        expected: String,
        /// The digest of what the registry served.
        actual: String,
    },
    /// The registry sent the client to a plain-HTTP token server while the registry itself is
    /// reached over HTTPS; credentials are not sent there.
    #[error(
        "registry {registry} asks for credentials to be sent to the plain-HTTP token server \
         {realm}; refusing (list the registry as a plain-HTTP host if this is intended)"
    )]
    InsecureTokenRealm {
        /// The registry host.
        registry: String,
        /// The token server's URL, as the registry sent it.
        realm: String,
    },
    /// The image reference is not valid.
    #[error(transparent)]
    InvalidReference(#[from] ReferenceError),
    /// The client configuration is not usable (a CA certificate that is not PEM, …).
    #[error("invalid registry client configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<reqwest::Error>,
    },
}
