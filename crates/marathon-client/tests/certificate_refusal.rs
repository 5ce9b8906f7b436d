//! A server certificate the client cannot verify fails the call at once, with
//! [`Error::Certificate`] saying why, and is never retried: retrying cannot change a
//! certificate.
//!
//! The server is a small HTTPS server on a loopback port (tokio-rustls) that counts the TCP
//! connections it accepts; its certificates are made for each test with the `openssl`
//! command (P-256 keys: quick), so no key is checked in.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use marathon_client::{CertificateProblem, Client, Config, Error, RetryPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A test CA, made in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
}

/// The validity of a server certificate.
enum Validity {
    /// Valid from now for two days.
    Current,
    /// Valid for one day in January 2020.
    Expired,
}

/// A server certificate and its key, as PEM files.
struct Leaf {
    certificate: PathBuf,
    key: PathBuf,
}

fn openssl(args: &[&str], dir: &Path) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command runs (apt-get install openssl)");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::TempDir::new().expect("temp dir");
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-batch",
                "-days",
                "2",
                "-subj",
                "/CN=marathon-client test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
            dir.path(),
        );
        // `openssl ca` (unlike `openssl x509 -req`) takes explicit dates, which an expired
        // certificate needs; it wants a small database beside the CA.
        std::fs::write(
            dir.path().join("ca.cnf"),
            "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\nnew_certs_dir = .\n\
             serial = serial\ndefault_md = sha256\npolicy = any\nunique_subject = no\n\
             [any]\ncommonName = supplied\n",
        )
        .expect("write CA config");
        std::fs::write(dir.path().join("index.txt"), "").expect("write CA database");
        std::fs::write(dir.path().join("serial"), "01\n").expect("write CA serial");
        Pki { dir }
    }

    fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("ca.pem")).expect("CA PEM")
    }

    /// A server certificate for `san` (an openssl subjectAltName value) signed by the CA.
    fn leaf(&self, name: &str, san: &str, validity: Validity) -> Leaf {
        let dir = self.dir.path();
        std::fs::write(
            dir.join(format!("{name}.ext")),
            format!(
                "subjectAltName={san}\nbasicConstraints=critical,CA:FALSE\n\
                 keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            ),
        )
        .expect("write extensions");
        let key = format!("{name}.key");
        let csr = format!("{name}.csr");
        let certificate = format!("{name}.pem");
        let ext = format!("{name}.ext");
        openssl(
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-batch",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &key,
                "-out",
                &csr,
            ],
            dir,
        );
        let mut args = vec![
            "ca",
            "-batch",
            "-notext",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.pem",
            "-keyfile",
            "ca.key",
            "-extfile",
            &ext,
            "-in",
            &csr,
            "-out",
            &certificate,
        ];
        match validity {
            Validity::Current => args.extend(["-days", "2"]),
            Validity::Expired => args.extend([
                "-startdate",
                "20200101000000Z",
                "-enddate",
                "20200102000000Z",
            ]),
        }
        openssl(&args, dir);
        Leaf {
            certificate: dir.join(certificate),
            key: dir.join(key),
        }
    }
}

/// An HTTPS server on a loopback port that answers every request with `200 pong`.
struct TlsServer {
    url: String,
    /// TCP connections accepted, whether or not the handshake then succeeded.
    accepted: Arc<AtomicUsize>,
}

impl TlsServer {
    async fn start(leaf: &Leaf) -> TlsServer {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&leaf.certificate)
            .expect("certificate file")
            .collect::<Result<_, _>>()
            .expect("certificate PEM");
        let key = PrivateKeyDer::from_pem_file(&leaf.key).expect("key PEM");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server certificate");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("address").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake here.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut buf = [0_u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(buf.get(..n).unwrap_or_default()),
                        }
                    }
                    let _ = tls
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\npong",
                        )
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        TlsServer {
            url: format!("https://127.0.0.1:{port}"),
            accepted,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Retries that would be plainly visible: four of them, at least 200 ms apart.
fn retrying_config(url: &str) -> Config {
    Config::new(url)
        .expect("url")
        .with_retry(RetryPolicy {
            max_retries: 4,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(1),
        })
        .with_request_timeout(Duration::from_secs(10))
}

fn refused_problem(result: Result<(), Error>) -> (CertificateProblem, String) {
    let error = result.expect_err("the certificate is refused");
    let text = error.to_string();
    match error {
        Error::Certificate { problem, .. } => (problem, text),
        other => panic!("expected a certificate error, got {other:?}"),
    }
}

#[tokio::test]
async fn unknown_ca_is_refused_at_once_with_a_certificate_error() {
    let pki = Pki::new();
    let server = TlsServer::start(&pki.leaf("server", "IP:127.0.0.1", Validity::Current)).await;
    let client = Client::new(retrying_config(&server.url)).expect("client");

    let (problem, text) = refused_problem(client.ping().await);

    assert_eq!(problem, CertificateProblem::UnknownIssuer);
    assert_eq!(server.accepted(), 1, "one attempt, no retry");
    assert!(
        text.contains("GET /ping: the server's TLS certificate could not be verified"),
        "{text}"
    );
    assert!(
        text.contains("add the CA to the client's config"),
        "says how to fix it: {text}"
    );
}

#[tokio::test]
async fn unknown_ca_is_not_retried_for_writes_either() {
    let pki = Pki::new();
    let server = TlsServer::start(&pki.leaf("server", "IP:127.0.0.1", Validity::Current)).await;
    let client = Client::new(retrying_config(&server.url)).expect("client");

    let result = client.cancel_deployment("d1").await.map(drop);

    assert_eq!(refused_problem(result).0, CertificateProblem::UnknownIssuer);
    assert_eq!(server.accepted(), 1, "one attempt, no retry");
}

#[tokio::test]
async fn certificate_for_another_name_is_refused_as_a_name_mismatch() {
    let pki = Pki::new();
    let server =
        TlsServer::start(&pki.leaf("other", "DNS:marathon.example.invalid", Validity::Current))
            .await;
    let client = Client::new(retrying_config(&server.url).with_ca_certificate_pem(pki.ca_pem()))
        .expect("client");

    let (problem, text) = refused_problem(client.ping().await);

    assert_eq!(problem, CertificateProblem::NotValidForName);
    assert_eq!(server.accepted(), 1, "one attempt, no retry");
    assert!(text.contains("not valid for the host in the URL"), "{text}");
}

#[tokio::test]
async fn expired_certificate_is_refused_as_expired() {
    let pki = Pki::new();
    let server = TlsServer::start(&pki.leaf("old", "IP:127.0.0.1", Validity::Expired)).await;
    let client = Client::new(retrying_config(&server.url).with_ca_certificate_pem(pki.ca_pem()))
        .expect("client");

    let (problem, text) = refused_problem(client.ping().await);

    assert_eq!(problem, CertificateProblem::Expired);
    assert_eq!(server.accepted(), 1, "one attempt, no retry");
    assert!(text.contains("expired"), "{text}");
}

#[tokio::test]
async fn certificate_signed_by_a_trusted_ca_is_accepted() {
    let pki = Pki::new();
    let server = TlsServer::start(&pki.leaf("server", "IP:127.0.0.1", Validity::Current)).await;
    let client = Client::new(retrying_config(&server.url).with_ca_certificate_pem(pki.ca_pem()))
        .expect("client");

    client.ping().await.expect("the CA is trusted");
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn connection_refused_is_still_a_retried_transport_error() {
    // A port that was just free: nothing listens there, so connecting is refused.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let config = Config::new(&format!("https://127.0.0.1:{port}"))
        .expect("url")
        .with_retry(RetryPolicy {
            max_retries: 1,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
        });
    let client = Client::new(config).expect("client");

    let error = client.ping().await.expect_err("nothing listens");

    assert!(
        matches!(&error, Error::Transport { .. }),
        "not a certificate error: {error:?}"
    );
    assert!(error.is_transient());
}
