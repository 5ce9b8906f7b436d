//! The registry client: configuration, the manifest check and the authentication flows.

use std::collections::BTreeSet;

use reqwest::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, Response, StatusCode};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use url::Url;

use crate::auth::Authorization;
use crate::builder::{RegistryClientBuilder, Scheme};
use crate::reference::is_valid_digest;
use crate::{Credentials, ImageReference, RegistryError};

/// OCI image index (a multi-platform image).
pub const MEDIA_TYPE_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const MEDIA_TYPE_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker manifest list (a multi-platform image).
pub const MEDIA_TYPE_DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest, schema 2.
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The header in which registries return a manifest's digest.
const DIGEST_HEADER: &str = "Docker-Content-Digest";

/// Registries limit manifests to 4 MiB; anything bigger is not a manifest.
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// Token and error answers are small JSON documents.
pub(crate) const MAX_SMALL_BODY_BYTES: usize = 256 * 1024;

/// What a registry holds under a tag or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Manifest {
    /// The manifest's content digest, such as `sha256:3f…`: pulling by it always gets exactly
    /// this content.
    pub digest: String,
    /// The manifest's media type (one of the `MEDIA_TYPE_*` constants for current registries).
    pub media_type: String,
    /// The manifest's size in bytes.
    pub size: u64,
}

impl Manifest {
    /// A manifest description, for code that stands in for a registry (in tests, say).
    pub fn new(digest: impl Into<String>, media_type: impl Into<String>, size: u64) -> Self {
        Self {
            digest: digest.into(),
            media_type: media_type.into(),
            size,
        }
    }
}

/// A client for the OCI distribution / Docker Registry HTTP API v2, which checks that an image
/// tag (or digest) exists and reports its digest.
///
/// It speaks to any registry: anonymous access, HTTP basic authentication and the bearer-token
/// challenge used by Docker Hub, Quay, GHCR, GitLab, Harbor and the CNCF registry.
#[derive(Debug, Clone)]
pub struct RegistryClient {
    pub(crate) http: reqwest::Client,
    pub(crate) plain_http_hosts: BTreeSet<String>,
    pub(crate) loopback_fallback: bool,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// One manifest check: the image, where it lives and how to reach it.
pub(crate) struct Check<'a> {
    pub(crate) image: &'a ImageReference,
    pub(crate) registry: &'a str,
    pub(crate) scheme: Scheme,
    pub(crate) base: Url,
}

impl RegistryClient {
    /// A client with the default configuration: HTTPS for every host, 10-second timeout.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidConfig`] when the HTTP client cannot be set up.
    pub fn new() -> Result<Self, RegistryError> {
        RegistryClientBuilder::default().build()
    }

    /// A builder for a client with a timeout, plain-HTTP hosts or extra CA certificates.
    pub fn builder() -> RegistryClientBuilder {
        RegistryClientBuilder::default()
    }

    /// The scheme used for `host` (`host` or `host:port`).
    pub fn scheme_for(&self, host: &str) -> Scheme {
        if self.plain_http_hosts.contains(&host.to_ascii_lowercase()) {
            Scheme::Http
        } else {
            Scheme::Https
        }
    }

    /// Checks that the registry holds `image`'s tag (or digest) and returns its manifest's
    /// digest, media type and size.
    ///
    /// Sends `HEAD /v2/<repository>/manifests/<tag>` accepting OCI indexes and manifests and
    /// Docker manifest lists and manifests, and answers the registry's authentication challenge
    /// with `credentials`: basic authentication, or a token fetched from the bearer realm
    /// (anonymously or with the basic credentials). The digest comes from the
    /// `Docker-Content-Digest` header, or, when a registry omits it, from hashing the manifest.
    ///
    /// ```no_run
    /// use registry_client::{Credentials, ImageReference, RegistryClient, RegistryError};
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = RegistryClient::new()?;
    /// let image: ImageReference = "quay.io/team/app:v1.2.3".parse()?;
    /// match client.check_manifest(&image, &Credentials::basic("team+robot", "token")).await {
    ///     Ok(manifest) => println!("{image} is {}", manifest.digest),
    ///     Err(RegistryError::ManifestUnknown { .. }) => println!("{image} does not exist"),
    ///     Err(other) => return Err(other.into()),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`RegistryError::ManifestUnknown`] when the tag is missing, [`RegistryError::NameUnknown`]
    /// when the repository is, [`RegistryError::Unauthorized`] / [`RegistryError::Forbidden`]
    /// when access is refused, [`RegistryError::Unreachable`] for transport failures, and the
    /// other variants for answers that are not a registry's.
    pub async fn check_manifest(
        &self,
        image: &ImageReference,
        credentials: &Credentials,
    ) -> Result<Manifest, RegistryError> {
        let registry = image.registry_host();
        let scheme = self.scheme_for(registry);
        let result = self.check_over(image, credentials, scheme).await;
        match result {
            // Docker's habit for loopback registries: HTTPS first, plain HTTP when the registry
            // answered the handshake in plain HTTP (nothing was sent over TLS then).
            Err(RegistryError::PlainHttpAnswer { .. })
                if self.loopback_fallback && is_loopback(registry) =>
            {
                tracing::debug!(registry, "loopback registry answers plain HTTP; using HTTP");
                self.check_over(image, credentials, Scheme::Http).await
            }
            other => other,
        }
    }

    async fn check_over(
        &self,
        image: &ImageReference,
        credentials: &Credentials,
        scheme: Scheme,
    ) -> Result<Manifest, RegistryError> {
        let registry = image.registry_host();
        let base = Url::parse(&format!("{}://{registry}/", scheme.as_str())).map_err(|_| {
            RegistryError::InvalidReference(crate::ReferenceError::InvalidDomain {
                reference: image.to_string(),
                domain: registry.to_owned(),
            })
        })?;
        let check = Check {
            image,
            registry,
            scheme,
            base,
        };
        let manifest_url = check.url(&format!(
            "v2/{}/manifests/{}",
            image.repository(),
            image.manifest_reference()
        ))?;

        let mut authorization = match credentials {
            Credentials::Bearer { token } => Authorization::Bearer(token.clone()),
            _ => Authorization::None,
        };
        let mut response = self
            .send(&check, Method::HEAD, &manifest_url, &authorization, true)
            .await?;
        if response.status() == StatusCode::UNAUTHORIZED
            && matches!(authorization, Authorization::None)
        {
            authorization = self
                .answer_challenge(&check, response.headers(), credentials)
                .await?;
            response = self
                .send(&check, Method::HEAD, &manifest_url, &authorization, true)
                .await?;
        }

        match response.status() {
            status if status.is_success() => {
                let manifest = match manifest_from_headers(response.headers()) {
                    Some(manifest) => manifest,
                    None => {
                        // Some registries omit the digest on HEAD: hash the manifest itself.
                        let response = self
                            .send(&check, Method::GET, &manifest_url, &authorization, true)
                            .await?;
                        if !response.status().is_success() {
                            return Err(check.status_error(response, credentials).await);
                        }
                        check.manifest_from_body(response).await?
                    }
                };
                if let Some(expected) = image.digest()
                    && manifest.digest != expected
                {
                    return Err(RegistryError::DigestMismatch {
                        registry: registry.to_owned(),
                        repository: image.repository().to_owned(),
                        expected: expected.to_owned(),
                        actual: manifest.digest,
                    });
                }
                Ok(manifest)
            }
            StatusCode::NOT_FOUND => Err(self.not_found(&check, &authorization).await),
            _ => Err(check.status_error(response, credentials).await),
        }
    }

    /// Tells a missing tag from a missing repository: a HEAD answer has no body to carry the
    /// error code, so ask for the repository's tag list, which is `NAME_UNKNOWN` when the
    /// repository does not exist.
    async fn not_found(
        &self,
        check: &Check<'_>,
        authorization: &Authorization<'_>,
    ) -> RegistryError {
        let repository = check.image.repository();
        let manifest_unknown = || RegistryError::ManifestUnknown {
            registry: check.registry.to_owned(),
            repository: repository.to_owned(),
            reference: check.image.manifest_reference().to_owned(),
        };
        let Ok(mut tags_url) = check.url(&format!("v2/{repository}/tags/list")) else {
            return manifest_unknown();
        };
        tags_url.query_pairs_mut().append_pair("n", "1");
        match self
            .send(check, Method::GET, &tags_url, authorization, false)
            .await
        {
            Ok(response) if response.status() == StatusCode::NOT_FOUND => {
                let codes = read_limited(response, MAX_SMALL_BODY_BYTES)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|body| serde_json::from_slice::<ErrorBody>(&body).ok())
                    .map(|body| body.errors)
                    .unwrap_or_default();
                // Only the registry's own code says the repository is missing: a bare 404 may
                // come from a proxy or a registry without the tag-list endpoint.
                if codes.iter().any(|e| e.code == "NAME_UNKNOWN") {
                    RegistryError::NameUnknown {
                        registry: check.registry.to_owned(),
                        repository: repository.to_owned(),
                    }
                } else {
                    manifest_unknown()
                }
            }
            _ => manifest_unknown(),
        }
    }

    async fn send(
        &self,
        check: &Check<'_>,
        method: Method,
        url: &Url,
        authorization: &Authorization<'_>,
        accept_manifests: bool,
    ) -> Result<Response, RegistryError> {
        let mut request = self.http.request(method.clone(), url.clone());
        if accept_manifests {
            request = request.header(
                ACCEPT,
                [
                    MEDIA_TYPE_OCI_INDEX,
                    MEDIA_TYPE_OCI_MANIFEST,
                    MEDIA_TYPE_DOCKER_MANIFEST_LIST,
                    MEDIA_TYPE_DOCKER_MANIFEST,
                ]
                .join(", "),
            );
        }
        request = match authorization {
            Authorization::None => request,
            Authorization::Basic { username, password } => {
                request.basic_auth(username, Some(password))
            }
            Authorization::Bearer(token) => request.bearer_auth(token),
        };
        let response = request.send().await.map_err(|source| {
            if check.scheme == Scheme::Https && answered_plain_http(&source) {
                RegistryError::PlainHttpAnswer {
                    registry: check.registry.to_owned(),
                    source,
                }
            } else {
                check.unreachable(source)
            }
        })?;
        tracing::debug!(%method, url = %url, status = response.status().as_u16(), "registry request");
        Ok(response)
    }
}

impl Check<'_> {
    fn url(&self, path: &str) -> Result<Url, RegistryError> {
        self.base.join(path).map_err(|_| {
            RegistryError::InvalidReference(crate::ReferenceError::InvalidRepository {
                reference: self.image.to_string(),
                reason: "the repository cannot be put in a URL",
            })
        })
    }

    pub(crate) fn unreachable(&self, source: reqwest::Error) -> RegistryError {
        RegistryError::Unreachable {
            registry: self.registry.to_owned(),
            source,
        }
    }

    pub(crate) fn unauthorized(&self, reason: &str) -> RegistryError {
        RegistryError::Unauthorized {
            registry: self.registry.to_owned(),
            repository: self.image.repository().to_owned(),
            reason: reason.to_owned(),
        }
    }

    pub(crate) fn forbidden(&self) -> RegistryError {
        RegistryError::Forbidden {
            registry: self.registry.to_owned(),
            repository: self.image.repository().to_owned(),
        }
    }

    /// Maps a failed manifest answer (other than 404) to an error.
    async fn status_error(&self, response: Response, credentials: &Credentials) -> RegistryError {
        match response.status() {
            StatusCode::UNAUTHORIZED => self.unauthorized(if credentials.is_anonymous() {
                "authentication is required and no credentials were given"
            } else {
                "the credentials were refused"
            }),
            StatusCode::FORBIDDEN => self.forbidden(),
            StatusCode::NOT_FOUND => RegistryError::ManifestUnknown {
                registry: self.registry.to_owned(),
                repository: self.image.repository().to_owned(),
                reference: self.image.manifest_reference().to_owned(),
            },
            status => {
                let message = read_limited(response, MAX_SMALL_BODY_BYTES)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|body| serde_json::from_slice::<ErrorBody>(&body).ok())
                    .and_then(|body| body.errors.into_iter().next())
                    .map(|e| shorten(&format!("{} {}", e.code, e.message)));
                RegistryError::Server {
                    registry: self.registry.to_owned(),
                    status: status.as_u16(),
                    message,
                }
            }
        }
    }

    async fn manifest_from_body(&self, response: Response) -> Result<Manifest, RegistryError> {
        let decode = |what: &str| RegistryError::Decode {
            registry: self.registry.to_owned(),
            what: what.to_owned(),
        };
        let header_digest = digest_header(response.headers());
        let content_type = content_type(response.headers());
        let body = read_limited(response, MAX_MANIFEST_BYTES)
            .await
            .map_err(|source| self.unreachable(source))?
            .ok_or_else(|| RegistryError::ResponseTooLarge {
                registry: self.registry.to_owned(),
                what: "a manifest",
                limit: MAX_MANIFEST_BYTES,
            })?;
        let digest = header_digest.unwrap_or_else(|| format!("sha256:{:x}", Sha256::digest(&body)));
        let media_type = match content_type {
            Some(media_type) => media_type,
            None => serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("mediaType")?.as_str().map(str::to_owned))
                .ok_or_else(|| decode("the manifest has no media type"))?,
        };
        Ok(Manifest {
            digest,
            media_type,
            size: body.len() as u64,
        })
    }
}

/// Whether `host` (`host` or `host:port`, IPv6 in brackets) is a loopback registry as Docker
/// counts them: `localhost`, an address in `127.0.0.0/8`, or `::1`.
pub(crate) fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether a request failed because the server answered the TLS handshake in plain HTTP:
/// rustls then reports a record of an invalid content type. rustls's error reaches reqwest
/// wrapped in [`std::io::Error`]s, whose `source` skips the error they wrap, so each one is
/// opened with `get_ref`.
fn answered_plain_http(error: &reqwest::Error) -> bool {
    // Real chains are a handful of links; the bound only guards against a cycle.
    const MAX_LINKS: usize = 32;
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    for _ in 0..MAX_LINKS {
        let Some(current) = next else {
            return false;
        };
        if let Some(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)) =
            current.downcast_ref::<rustls::Error>()
        {
            return true;
        }
        next = match current
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner),
            None => current.source(),
        };
    }
    false
}

/// The manifest's description from a HEAD answer, when all three headers are there and valid.
fn manifest_from_headers(headers: &HeaderMap) -> Option<Manifest> {
    let size = headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Manifest {
        digest: digest_header(headers)?,
        media_type: content_type(headers)?,
        size,
    })
}

fn digest_header(headers: &HeaderMap) -> Option<String> {
    let digest = headers.get(DIGEST_HEADER)?.to_str().ok()?.trim();
    is_valid_digest(digest).then(|| digest.to_owned())
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let media_type = value.split(';').next().unwrap_or(value).trim();
    (!media_type.is_empty()).then(|| media_type.to_owned())
}

/// Reads a body up to `limit` bytes; `Ok(None)` as soon as it is known to be larger (from its
/// `Content-Length`, or once more has arrived), without reading on.
pub(crate) async fn read_limited(
    mut response: Response,
    limit: usize,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// Keeps a registry's error message to one readable line.
fn shorten(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default().trim();
    match line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", line.get(..cut).unwrap_or(line)),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_hosts_are_localhost_127_slash_8_and_ipv6_loopback() {
        for host in [
            "localhost",
            "LOCALHOST:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "quay.io",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[::2]:5000",
            "128.0.0.1",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
