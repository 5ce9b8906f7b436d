//! The registry check of protocol step 2, behind a small trait so that tests without a registry
//! can inject a fake.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use registry_client::{Credentials, ImageReference, RegistryClient, RegistryError};

/// A boxed future, as [`ImageCheck`] returns (the trait is used as `dyn`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the registry holds under a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFound {
    /// The manifest digest (`sha256:…`).
    pub digest: String,
}

/// Why an image could not be confirmed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageCheckError {
    /// The registry has no such tag (or repository): the deploy is refused.
    #[error("image {image} is not in its registry: {detail}")]
    Missing {
        /// The image reference checked.
        image: String,
        /// The registry's words, without secrets.
        detail: String,
    },
    /// The registry refused access or could not be reached: the deploy is refused unless the
    /// check is skipped on request.
    #[error("could not check image {image} in its registry: {reason}")]
    Unverifiable {
        /// The image reference checked.
        image: String,
        /// Why, without secrets.
        reason: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

/// Checks that an image exists in its registry.
pub trait ImageCheck: Send + Sync {
    /// Looks `image` (a full reference `host/repo:tag`) up in its registry.
    fn check<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<ImageFound, ImageCheckError>>;
}

/// The real check, with [`registry_client`]: `HEAD` of the manifest, with the credentials
/// configured for the image's registry host (anonymous otherwise).
pub struct RegistryImageCheck {
    client: RegistryClient,
    credentials: BTreeMap<String, Credentials>,
}

impl RegistryImageCheck {
    /// A check with `client` and no credentials.
    pub fn new(client: RegistryClient) -> Self {
        RegistryImageCheck {
            client,
            credentials: BTreeMap::new(),
        }
    }

    /// Uses `credentials` for images on registry `host` (as written in image references, e.g.
    /// `quay.io` or `localhost:5000`).
    pub fn with_credentials(mut self, host: impl Into<String>, credentials: Credentials) -> Self {
        self.credentials.insert(host.into(), credentials);
        self
    }
}

impl fmt::Debug for RegistryImageCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Credentials redact themselves; only the hosts are listed here.
        f.debug_struct("RegistryImageCheck")
            .field("hosts_with_credentials", &self.credentials.keys())
            .finish_non_exhaustive()
    }
}

impl ImageCheck for RegistryImageCheck {
    fn check<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<ImageFound, ImageCheckError>> {
        Box::pin(async move {
            let reference =
                ImageReference::parse(image).map_err(|e| ImageCheckError::Unverifiable {
                    image: image.to_owned(),
                    reason: e.to_string(),
                    source: Some(Box::new(e)),
                })?;
            let credentials = self
                .credentials
                .get(reference.domain())
                .or_else(|| self.credentials.get(reference.registry_host()))
                .cloned()
                .unwrap_or_default();
            match self.client.check_manifest(&reference, &credentials).await {
                Ok(manifest) => Ok(ImageFound {
                    digest: manifest.digest,
                }),
                Err(error) => Err(classify(image, error)),
            }
        })
    }
}

fn classify(image: &str, error: RegistryError) -> ImageCheckError {
    match error {
        RegistryError::ManifestUnknown { .. } | RegistryError::NameUnknown { .. } => {
            ImageCheckError::Missing {
                image: image.to_owned(),
                detail: error.to_string(),
            }
        }
        other => ImageCheckError::Unverifiable {
            image: image.to_owned(),
            reason: other.to_string(),
            source: Some(Box::new(other)),
        },
    }
}

/// A check that answers from a fixed table, for tests and demos: images listed are found with
/// their digest, every other image is missing.
#[derive(Debug, Clone, Default)]
pub struct StaticImageCheck {
    found: BTreeMap<String, String>,
    unreachable: bool,
}

impl StaticImageCheck {
    /// A check that finds nothing.
    pub fn new() -> Self {
        StaticImageCheck::default()
    }

    /// Finds `image` with `digest`.
    pub fn with_image(mut self, image: impl Into<String>, digest: impl Into<String>) -> Self {
        self.found.insert(image.into(), digest.into());
        self
    }

    /// Makes every check fail as if the registry could not be reached.
    pub fn unreachable(mut self) -> Self {
        self.unreachable = true;
        self
    }
}

impl ImageCheck for StaticImageCheck {
    fn check<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<ImageFound, ImageCheckError>> {
        Box::pin(async move {
            if self.unreachable {
                return Err(ImageCheckError::Unverifiable {
                    image: image.to_owned(),
                    reason: "registry is unreachable".to_owned(),
                    source: None,
                });
            }
            match self.found.get(image) {
                Some(digest) => Ok(ImageFound {
                    digest: digest.clone(),
                }),
                None => Err(ImageCheckError::Missing {
                    image: image.to_owned(),
                    detail: "no such tag".to_owned(),
                }),
            }
        })
    }
}
