//! The TLS side of the HTTP client: the trusted CAs (the system's, a file, a directory), the
//! client certificate of mutual TLS, the name Consul's certificate is verified against, and
//! telling Consul's refusal of the client's certificate apart from other connection failures.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{AlertDescription, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::{Config, env};
use crate::error::ConfigError;

/// The rustls configuration for `config`'s TLS settings.
pub(crate) fn client_config(config: &Config) -> Result<rustls::ClientConfig, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error("TLS settings", Path::new(""), e))?;
    let verifier: Arc<dyn ServerCertVerifier> = if config.tls_verify {
        let roots = Arc::new(roots(config)?);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| tls_error("CA certificates", Path::new(""), e))?;
        match &config.tls_server_name {
            Some(name) => Arc::new(NamedVerifier {
                inner: webpki,
                name: ServerName::try_from(name.clone()).map_err(|_| ConfigError::Environment {
                    variable: env::TLS_SERVER_NAME,
                    value: name.clone(),
                    reason: "it is not a DNS name or an IP address",
                })?,
            }),
            None => webpki,
        }
    } else {
        Arc::new(NoVerification(provider))
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match (&config.client_cert, &config.client_key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(|e| tls_error("client certificate", cert, pem_reason(e)))?;
            if chain.is_empty() {
                return Err(tls_error(
                    "client certificate",
                    cert,
                    "no PEM certificate in it",
                ));
            }
            let key_der = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| tls_error("client key", key, pem_reason(e)))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| tls_error("client certificate", cert, e))
        }
        (Some(_), None) => Err(ConfigError::Incomplete {
            given: env::CLIENT_CERT,
            missing: env::CLIENT_KEY,
        }),
        (None, Some(_)) => Err(ConfigError::Incomplete {
            given: env::CLIENT_KEY,
            missing: env::CLIENT_CERT,
        }),
        (None, None) => Ok(builder.with_no_client_auth()),
    }
}

fn tls_error(what: &'static str, path: &Path, reason: impl ToString) -> ConfigError {
    ConfigError::TlsFile {
        what,
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn pem_reason(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
            "no such file".to_owned()
        }
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM item of that kind in it".to_owned(),
        other => other.to_string(),
    }
}

/// The system's trust anchors (webpki's list, as reqwest's own), plus the CA file and every
/// certificate of the CA directory.
fn roots(config: &Config) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = &config.ca_cert {
        let pem = std::fs::read(path).map_err(|source| ConfigError::CaCertFile {
            path: path.clone(),
            source,
        })?;
        // reqwest's parser first, for the error its callers know.
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| ConfigError::CaCert {
            path: path.clone(),
            source,
        })?;
        let certs = pem_certificates(&pem);
        if certs.is_empty() {
            return Err(ConfigError::CaCertEmpty { path: path.clone() });
        }
        add_all(&mut roots, certs, "CA certificate", path)?;
    }
    if let Some(dir) = &config.ca_path {
        let entries = std::fs::read_dir(dir).map_err(|e| tls_error("CA directory", dir, e))?;
        let mut found = 0;
        let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        for file in files.iter().filter(|f| f.is_file()) {
            let pem = std::fs::read(file).map_err(|e| tls_error("CA certificate", file, e))?;
            // Files without certificates (a README, keys) are passed over, as Consul does.
            let certs = pem_certificates(&pem);
            found += certs.len();
            add_all(&mut roots, certs, "CA certificate", file)?;
        }
        if found == 0 {
            return Err(tls_error(
                "CA directory",
                dir,
                "no file in it holds a PEM certificate",
            ));
        }
    }
    Ok(roots)
}

fn pem_certificates(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

fn add_all(
    roots: &mut RootCertStore,
    certs: Vec<CertificateDer<'static>>,
    what: &'static str,
    path: &Path,
) -> Result<(), ConfigError> {
    for cert in certs {
        roots.add(cert).map_err(|e| tls_error(what, path, e))?;
    }
    Ok(())
}

/// Verifies the server's certificate against a configured name instead of the address's host.
#[derive(Debug)]
struct NamedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for NamedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _dialled: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Accepts any certificate (`CONSUL_HTTP_SSL_VERIFY=false`); the handshake's signatures are
/// still checked, so the connection is encrypted to whoever holds the certificate's key.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Whether Consul ended the handshake over the client's certificate: a TLS alert saying one
/// is required, or that the one shown is bad or of an unknown CA, among the error's causes.
pub(crate) fn client_certificate_refused(error: &reqwest::Error) -> bool {
    // Real chains are a handful of links; the bound only guards against a cycle.
    const MAX_LINKS: usize = 32;
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    for _ in 0..MAX_LINKS {
        let Some(current) = next else {
            return false;
        };
        if let Some(rustls::Error::AlertReceived(alert)) = current.downcast_ref::<rustls::Error>() {
            return matches!(
                alert,
                AlertDescription::CertificateRequired
                    | AlertDescription::BadCertificate
                    | AlertDescription::UnknownCA
                    | AlertDescription::CertificateUnknown
            );
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
