//! Client configuration: timeout, plain-HTTP hosts, extra CA certificates.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::{RegistryClient, RegistryError};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How to reach a registry host.
///
/// Every host is reached over HTTPS unless it is listed as a plain-HTTP host. As Docker does, a
/// loopback registry (`localhost`, `127.0.0.0/8`, `[::1]`) is insecure by default: it is tried
/// over HTTPS first, and over plain HTTP when it answers the TLS handshake in plain HTTP (a
/// certificate it presents is still verified; a refused one is not a reason to fall back).
/// [`RegistryClientBuilder::loopback_plain_http_fallback`] turns that off. Any other host is
/// never reached over plain HTTP unless listed with [`RegistryClientBuilder::plain_http_host`],
/// so a secret never goes over the network in clear by accident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// TLS, verified against the Mozilla root certificates built into the client and any CA
    /// certificate added with [`RegistryClientBuilder::add_root_certificate_pem`]. The default.
    Https,
    /// Plain HTTP, only for hosts listed with
    /// [`RegistryClientBuilder::plain_http_host`] (Docker's "insecure registries").
    Http,
}

impl Scheme {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Https => "https",
            Self::Http => "http",
        }
    }
}

/// Builds a [`RegistryClient`]. Each method returns the builder changed; the result must be
/// used (`#[must_use]`).
///
/// ```
/// use std::time::Duration;
/// use registry_client::RegistryClient;
///
/// let client = RegistryClient::builder()
///     .timeout(Duration::from_secs(5))
///     .plain_http_host("localhost:5000")
///     .build()?;
/// # Ok::<(), registry_client::RegistryError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RegistryClientBuilder {
    timeout: Duration,
    plain_http_hosts: BTreeSet<String>,
    root_certificates: Vec<Vec<u8>>,
    user_agent: String,
    loopback_fallback: bool,
}

impl Default for RegistryClientBuilder {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            plain_http_hosts: BTreeSet::new(),
            root_certificates: Vec::new(),
            user_agent: concat!("registry-client/", env!("CARGO_PKG_VERSION")).to_owned(),
            loopback_fallback: true,
        }
    }
}

impl RegistryClientBuilder {
    /// The limit for each request (connect, send, read the answer). Default 10 seconds.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Reach `host` (`host` or `host:port`, as in the image reference) over plain HTTP, like a
    /// Docker "insecure registry". Every other host is reached over HTTPS.
    #[must_use]
    pub fn plain_http_host(mut self, host: impl Into<String>) -> Self {
        self.plain_http_hosts
            .insert(host.into().to_ascii_lowercase());
        self
    }

    /// Whether a loopback registry (`localhost`, `127.0.0.0/8`, `[::1]`) that answers HTTPS in
    /// plain HTTP is asked again over plain HTTP, as Docker treats such registries (default
    /// `true`). With `false`, such a registry fails with
    /// [`RegistryError::PlainHttpAnswer`] unless listed with
    /// [`RegistryClientBuilder::plain_http_host`].
    #[must_use]
    pub fn loopback_plain_http_fallback(mut self, enabled: bool) -> Self {
        self.loopback_fallback = enabled;
        self
    }

    /// Also trust the CA certificate(s) in `pem` (one or more PEM blocks), for registries
    /// behind a private CA.
    #[must_use]
    pub fn add_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(pem.into());
        self
    }

    /// The `User-Agent` sent with every request.
    #[must_use]
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    ///
    /// [`RegistryError::InvalidConfig`] when a CA certificate is not PEM or the HTTP client
    /// cannot be set up.
    pub fn build(self) -> Result<RegistryClient, RegistryError> {
        let mut http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .user_agent(self.user_agent);
        for pem in &self.root_certificates {
            let certificates = reqwest::Certificate::from_pem_bundle(pem).map_err(|source| {
                RegistryError::InvalidConfig {
                    reason: "a CA certificate is not valid PEM".to_owned(),
                    source: Some(source),
                }
            })?;
            if certificates.is_empty() {
                return Err(RegistryError::InvalidConfig {
                    reason: "a CA certificate file holds no certificate".to_owned(),
                    source: None,
                });
            }
            for certificate in certificates {
                http = http.add_root_certificate(certificate);
            }
        }
        let http = http
            .build()
            .map_err(|source| RegistryError::InvalidConfig {
                reason: "the HTTP client cannot be built".to_owned(),
                source: Some(source),
            })?;
        Ok(RegistryClient {
            http,
            plain_http_hosts: self.plain_http_hosts,
            loopback_fallback: self.loopback_fallback,
        })
    }
}
