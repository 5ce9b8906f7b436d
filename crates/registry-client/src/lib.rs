//! Checks image tags in any OCI / Docker Registry HTTP API v2 registry.
//!
//! Before deploying an image, a deploy tool wants to know that the registry has it, and which
//! exact content (digest) the tag names. This crate does that one thing, for any registry:
//!
//! - [`ImageReference`] parses references as Docker does (`nginx`, `quay.io/team/app:v1`,
//!   `localhost:5000/app@sha256:…`), with Docker Hub's defaults.
//! - [`RegistryClient::check_manifest`] sends `HEAD /v2/<repository>/manifests/<tag>` and
//!   returns the [`Manifest`]'s digest, media type and size, answering the registry's
//!   authentication challenge: anonymous, basic, or the bearer-token flow of Docker Hub, Quay,
//!   GHCR and the CNCF registry.
//! - [`Credentials`] never show their secret in `Debug`, errors or URLs; [`DockerConfig`] reads
//!   them from the content of `~/.docker/config.json`, running its credential helpers
//!   (`credsStore`, `credHelpers`) as Docker does ([`CredentialHelper`]).
//!
//! ```no_run
//! use registry_client::{Credentials, ImageReference, RegistryClient, RegistryError};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = RegistryClient::builder()
//!     .plain_http_host("localhost:5000")
//!     .build()?;
//! let image = ImageReference::parse("localhost:5000/team/app:v1.2.3")?;
//! match client.check_manifest(&image, &Credentials::Anonymous).await {
//!     Ok(manifest) => println!("{image}: {} ({})", manifest.digest, manifest.media_type),
//!     Err(RegistryError::ManifestUnknown { .. }) => eprintln!("{image}: no such tag"),
//!     Err(error) => return Err(error.into()),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The crate knows nothing of any deploy tool: it has no notion of apps, environments or
//! configuration files beyond Docker's own.

mod auth;
mod builder;
mod challenge;
mod client;
mod credential_helper;
mod credentials;
mod docker_config;
mod error;
mod reference;

pub use builder::{RegistryClientBuilder, Scheme};
pub use client::{
    MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST, MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_OCI_MANIFEST, Manifest, RegistryClient,
};
pub use credential_helper::{CredentialHelper, DEFAULT_HELPER_TIMEOUT};
pub use credentials::Credentials;
pub use docker_config::{DockerConfig, DockerConfigError};
pub use error::RegistryError;
pub use reference::{DOCKER_HUB_DOMAIN, DOCKER_HUB_REGISTRY_HOST, ImageReference, ReferenceError};
