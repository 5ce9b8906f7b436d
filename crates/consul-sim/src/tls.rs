//! HTTPS, as a Consul agent with `tls.https` set serves it, optionally with
//! `verify_incoming`: a client must then show a certificate signed by the configured CA.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;

/// The files of the sim's TLS mode; see [`SimOptions::tls`](crate::SimOptions::tls).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    certificate: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
}

impl TlsFiles {
    /// HTTPS with the server certificate chain `certificate` (PEM) and its private key `key`
    /// (PEM), accepting any client, as Consul with `verify_incoming = false`.
    pub fn new(certificate: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        TlsFiles {
            certificate: certificate.into(),
            key: key.into(),
            client_ca: None,
        }
    }

    /// Requires every client to present a certificate signed by a CA of `ca` (PEM), as
    /// Consul with `verify_incoming = true`: a client without one, or with one of another CA,
    /// fails the handshake.
    #[must_use]
    pub fn require_client_certificates(mut self, ca: impl Into<PathBuf>) -> Self {
        self.client_ca = Some(ca.into());
        self
    }

    /// Whether clients must present a certificate.
    pub fn requires_client_certificates(&self) -> bool {
        self.client_ca.is_some()
    }
}

fn invalid(path: &Path, what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what} {}: {e}", path.display()),
    )
}

fn certificates(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| invalid(path, "cannot read the certificates in", e))?;
    if certs.is_empty() {
        return Err(invalid(path, "no PEM certificate in", "empty"));
    }
    Ok(certs)
}

/// The acceptor for `files` (rustls with ring, TLS 1.2 and 1.3).
pub(crate) fn acceptor(files: &TlsFiles) -> io::Result<TlsAcceptor> {
    let chain = certificates(&files.certificate)?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| invalid(&files.key, "cannot read the private key", e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| io::Error::other(e.to_string()))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| invalid(ca, "cannot use the client CA", e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| invalid(ca, "cannot use the client CA", e))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| invalid(&files.certificate, "cannot use the certificate", e))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
