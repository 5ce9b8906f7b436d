//! Credentials from Docker's client configuration (`~/.docker/config.json`).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde::Deserialize;

use crate::reference::{DOCKER_HUB_DOMAIN, DOCKER_HUB_REGISTRY_HOST};
use crate::{CredentialHelper, Credentials};

/// The key `docker login` uses for Docker Hub in `auths`.
const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// The `auths`, `credsStore` and `credHelpers` of a Docker client configuration.
///
/// Parse it from the file's content with [`DockerConfig::parse`] (or read a file with
/// [`DockerConfig::from_path`]), then ask for a registry's credentials:
///
/// ```
/// use registry_client::{Credentials, DockerConfig};
///
/// // "robot:s3cret" in base64, as `docker login` writes it.
/// let config = DockerConfig::parse(r#"{"auths":{"quay.io":{"auth":"cm9ib3Q6czNjcmV0"}}}"#)?;
/// assert_eq!(config.credentials_for("quay.io")?, Credentials::basic("robot", "s3cret"));
/// assert_eq!(config.credentials_for("ghcr.io")?, Credentials::Anonymous);
/// # Ok::<(), registry_client::DockerConfigError>(())
/// ```
///
/// Credential helpers (`credHelpers` for one registry, `credsStore` for every registry
/// `docker login` listed in `auths`) are run as Docker runs them: see [`CredentialHelper`].
#[derive(Clone, Default)]
pub struct DockerConfig {
    /// Entries keyed by normalised host (no scheme, no path).
    auths: BTreeMap<String, AuthEntry>,
    creds_store: Option<String>,
    cred_helpers: BTreeMap<String, String>,
    helper_dir: Option<PathBuf>,
    helper_timeout: Option<Duration>,
}

/// Why credentials could not be had from a Docker client configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DockerConfigError {
    /// The configuration file could not be read.
    #[error("cannot read Docker configuration {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration is not the JSON Docker writes. Only the position is kept: the JSON
    /// parser's own message can quote a value, and values here are credentials.
    #[error("Docker configuration is not valid: wrong JSON at line {line}, column {column}")]
    Json {
        /// The line of the error (1-based).
        line: usize,
        /// The column of the error (1-based).
        column: usize,
    },
    /// The `auth` field for a registry is not base64 of `user:password`.
    #[error(
        "the Docker configuration's `auth` entry for `{registry}` is not base64 of `user:password`"
    )]
    InvalidAuth {
        /// The registry whose entry is malformed.
        registry: String,
    },
    /// The credential helper that holds this registry's credentials could not give them: it
    /// cannot be run, failed, answered something else than its JSON, or took too long.
    #[error(
        "the Docker credential helper `docker-credential-{helper}` gave no credentials for \
         `{registry}`: {reason}"
    )]
    HelperFailed {
        /// The registry asked about.
        registry: String,
        /// The helper's name, as in `credsStore` / `credHelpers` (`desktop`, `ecr-login`, …).
        helper: String,
        /// What went wrong (never a secret: a helper's answer is not shown).
        reason: String,
    },
}

#[derive(Clone, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: BTreeMap<String, String>,
}

impl DockerConfig {
    /// Parses the content of a Docker client configuration file.
    ///
    /// # Errors
    ///
    /// [`DockerConfigError::Json`] when the content is not JSON of the expected shape.
    pub fn parse(content: &str) -> Result<Self, DockerConfigError> {
        let raw: RawConfig =
            serde_json::from_str(content).map_err(|error| DockerConfigError::Json {
                line: error.line(),
                column: error.column(),
            })?;
        Ok(Self {
            auths: raw
                .auths
                .into_iter()
                .map(|(key, entry)| (normalise_host(&key), entry))
                .collect(),
            creds_store: raw.creds_store.filter(|s| !s.is_empty()),
            cred_helpers: raw
                .cred_helpers
                .into_iter()
                .map(|(key, helper)| (normalise_host(&key), helper))
                .collect(),
            helper_dir: None,
            helper_timeout: None,
        })
    }

    /// Reads and parses the configuration file at `path` (usually `~/.docker/config.json`).
    ///
    /// # Errors
    ///
    /// [`DockerConfigError::Read`] when the file cannot be read, else as [`DockerConfig::parse`].
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, DockerConfigError> {
        let path = path.as_ref();
        let content = std::fs::read_to_string(path).map_err(|source| DockerConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&content)
    }

    /// Runs credential helpers from `dir` instead of finding them on `PATH`.
    #[must_use]
    pub fn with_helper_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.helper_dir = Some(dir.into());
        self
    }

    /// The longest a credential helper may take (default
    /// [`crate::DEFAULT_HELPER_TIMEOUT`]); it is killed past it.
    #[must_use]
    pub fn with_helper_timeout(mut self, timeout: Duration) -> Self {
        self.helper_timeout = Some(timeout);
        self
    }

    /// The credential helper that holds `registry`'s credentials, if one does: its
    /// `credHelpers` entry, else `credsStore` when `auths` lists the registry (`docker login`
    /// with a store leaves an empty entry there).
    pub fn helper_for(&self, registry: &str) -> Option<&str> {
        let host = canonical_host(&normalise_host(registry));
        if let Some(helper) = self.lookup(&self.cred_helpers, &host) {
            return Some(helper);
        }
        self.lookup(&self.auths, &host)
            .and(self.creds_store.as_deref())
    }

    /// The credentials for `registry` (a host with optional port, as in
    /// [`ImageReference::domain`](crate::ImageReference::domain)); Docker Hub's aliases
    /// (`docker.io`, `index.docker.io`, `registry-1.docker.io`) all find its entry.
    ///
    /// A registry without an entry gets [`Credentials::Anonymous`]. When a credential helper
    /// holds them ([`DockerConfig::helper_for`]), it is run as Docker runs it
    /// ([`CredentialHelper::get`]), with the registry's host (Docker Hub's
    /// `https://index.docker.io/v1/`) on its standard input.
    ///
    /// # Errors
    ///
    /// [`DockerConfigError::HelperFailed`] when the helper cannot give the credentials;
    /// [`DockerConfigError::InvalidAuth`] for a malformed `auth`.
    pub fn credentials_for(&self, registry: &str) -> Result<Credentials, DockerConfigError> {
        let host = canonical_host(&normalise_host(registry));
        if let Some(helper) = self.helper_for(registry) {
            let mut helper = CredentialHelper::new(helper);
            if let Some(dir) = &self.helper_dir {
                helper = helper.in_dir(dir);
            }
            if let Some(timeout) = self.helper_timeout {
                helper = helper.timeout(timeout);
            }
            let server = if host == canonical_host(DOCKER_HUB_DOMAIN) {
                DOCKER_HUB_AUTH_KEY
            } else {
                registry
            };
            return helper.get(server);
        }
        let Some(entry) = self.lookup(&self.auths, &host) else {
            return Ok(Credentials::Anonymous);
        };
        entry_credentials(entry, registry)
    }

    /// The hosts that have an entry in `auths`, normalised (no scheme, no path).
    pub fn registries(&self) -> impl Iterator<Item = &str> {
        self.auths.keys().map(String::as_str)
    }

    fn lookup<'a, V>(&self, map: &'a BTreeMap<String, V>, host: &str) -> Option<&'a V> {
        map.iter()
            .find(|(key, _)| canonical_host(key) == host)
            .map(|(_, value)| value)
    }
}

impl fmt::Debug for DockerConfig {
    /// Shows the registries and helpers, never a credential.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerConfig")
            .field("auths", &self.auths.keys().collect::<Vec<_>>())
            .field("creds_store", &self.creds_store)
            .field("cred_helpers", &self.cred_helpers)
            .finish()
    }
}

fn entry_credentials(entry: &AuthEntry, registry: &str) -> Result<Credentials, DockerConfigError> {
    if let Some(token) = entry.identitytoken.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Credentials::identity_token(token));
    }
    if let Some(token) = entry.registrytoken.as_deref().filter(|t| !t.is_empty()) {
        return Ok(Credentials::bearer(token));
    }
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let invalid = || DockerConfigError::InvalidAuth {
            registry: registry.to_owned(),
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| invalid())?;
        let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
        let (username, password) = decoded.split_once(':').ok_or_else(invalid)?;
        return Ok(Credentials::basic(username, password));
    }
    match (entry.username.as_deref(), entry.password.as_deref()) {
        (Some(username), Some(password)) if !username.is_empty() => {
            Ok(Credentials::basic(username, password))
        }
        _ => Ok(Credentials::Anonymous),
    }
}

/// Docker's `ConvertToHostname`: drops a scheme and anything after the host.
fn normalise_host(key: &str) -> String {
    let without_scheme = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    without_scheme
        .split('/')
        .next()
        .unwrap_or(without_scheme)
        .to_ascii_lowercase()
}

/// Maps Docker Hub's aliases to one name so that any of them finds the `docker login` entry.
fn canonical_host(host: &str) -> String {
    match host {
        "index.docker.io" | DOCKER_HUB_REGISTRY_HOST | DOCKER_HUB_DOMAIN => {
            normalise_host(DOCKER_HUB_AUTH_KEY)
        }
        other => other.to_owned(),
    }
}
