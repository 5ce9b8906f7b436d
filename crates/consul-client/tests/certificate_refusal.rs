//! A Consul certificate the client cannot verify fails the call at once, with
//! [`Error::Certificate`] saying why, and is never retried, read or write: retrying cannot
//! change a certificate.
//!
//! Consul here is a small HTTPS server on a loopback port (tokio-rustls) that counts the TCP
//! connections it accepts and answers every request like `/v1/status/leader`; its certificates
//! are made for each test with the `openssl` command (P-256 keys: quick), so no key is
//! checked in.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use consul_client::{CertificateProblem, Client, Config, Error, PutOptions, RetryPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What `/v1/status/leader` answers.
const LEADER: &str = "127.0.0.1:8300";

/// A test CA in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
}

/// When a server certificate is valid.
enum Validity {
    /// From now for two days.
    Current,
    /// One day in January 2020.
    Expired,
    /// One day in January 2099.
    Future,
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

/// Arguments that make a P-256 key without a passphrase.
const EC_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::TempDir::new().expect("temp dir");
        let mut args = vec!["req", "-x509", "-batch", "-days", "2"];
        args.extend(EC_KEY);
        args.extend([
            "-subj",
            "/CN=consul-client test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        openssl(&args, dir.path());
        // `openssl ca` takes explicit validity dates (past or future ones too); it keeps a
        // small database beside the CA.
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

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A server certificate for `san` (an openssl subjectAltName value) signed by the CA.
    fn leaf(&self, name: &str, san: &str, validity: Validity) -> Leaf {
        let dir = self.dir.path();
        let (key, csr, certificate, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        std::fs::write(
            dir.join(&ext),
            format!(
                "subjectAltName={san}\nbasicConstraints=critical,CA:FALSE\n\
                 keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            ),
        )
        .expect("write extensions");
        let subject = format!("/CN={name}");
        let mut args = vec!["req", "-new", "-batch"];
        args.extend(EC_KEY);
        args.extend(["-subj", &subject, "-keyout", &key, "-out", &csr]);
        openssl(&args, dir);
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
        let (start, end) = match validity {
            Validity::Current => ("", ""),
            Validity::Expired => ("20200101000000Z", "20200102000000Z"),
            Validity::Future => ("20990101000000Z", "20990102000000Z"),
        };
        if start.is_empty() {
            args.extend(["-days", "2"]);
        } else {
            args.extend(["-startdate", start, "-enddate", end]);
        }
        openssl(&args, dir);
        Leaf {
            certificate: dir.join(certificate),
            key: dir.join(key),
        }
    }
}

/// An HTTPS server on a loopback port that answers every request with [`LEADER`].
struct TlsConsul {
    url: String,
    /// TCP connections accepted, whether or not the handshake then succeeded.
    accepted: Arc<AtomicUsize>,
}

impl TlsConsul {
    async fn start(leaf: &Leaf) -> TlsConsul {
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
                tokio::spawn(answer(acceptor.clone(), tcp));
            }
        });
        TlsConsul {
            url: format!("https://127.0.0.1:{port}"),
            accepted,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Reads one request's head (a body, if any, is ignored) and answers with [`LEADER`].
async fn answer(acceptor: TlsAcceptor, tcp: tokio::net::TcpStream) {
    // A client that refuses the certificate ends the handshake here.
    let Ok(mut tls) = acceptor.accept(tcp).await else {
        return;
    };
    let mut head = Vec::new();
    let mut buf = [0_u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tls.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
        }
    }
    let body = format!("\"{LEADER}\"");
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Consul-Index: 1\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tls.write_all(response.as_bytes()).await;
    let _ = tls.shutdown().await;
}

/// Retries that would be plainly visible: four of them, at least 200 ms apart.
fn retrying(config: Config) -> Client {
    Client::new(
        config
            .with_retry(RetryPolicy::new(
                4,
                Duration::from_millis(200),
                Duration::from_secs(1),
            ))
            .with_timeout(Duration::from_secs(10)),
    )
    .expect("client")
}

fn config(server: &TlsConsul) -> Config {
    Config::new(&server.url).expect("address")
}

/// The problem of a refused certificate, and the error's text.
fn refused<T: std::fmt::Debug>(result: Result<T, Error>) -> (CertificateProblem, String) {
    let error = result.expect_err("the certificate is refused");
    assert!(!error.is_transient(), "a refused certificate stays refused");
    let text = error.to_string();
    match error {
        Error::Certificate { problem, .. } => (problem, text),
        other => panic!("expected a certificate error, got {other:?}"),
    }
}

#[tokio::test]
async fn unknown_ca_fails_a_read_at_once_with_a_certificate_error() {
    let pki = Pki::new();
    let server = TlsConsul::start(&pki.leaf("consul", "IP:127.0.0.1", Validity::Current)).await;
    let client = retrying(config(&server));

    let (problem, text) = refused(client.status().leader().await);

    assert_eq!(problem, CertificateProblem::UnknownIssuer);
    assert_eq!(server.accepted(), 1, "one attempt, no retry");
    assert!(
        text.starts_with("GET /v1/status/leader: Consul's TLS certificate could not be verified"),
        "{text}"
    );
    assert!(text.contains("CONSUL_CACERT"), "says how to fix it: {text}");
}

#[tokio::test]
async fn unknown_ca_fails_a_write_at_once_too() {
    let pki = Pki::new();
    let server = TlsConsul::start(&pki.leaf("consul", "IP:127.0.0.1", Validity::Current)).await;
    let client = retrying(config(&server));

    let (problem, text) = refused(
        client
            .kv()
            .put("app/config", b"v1", &PutOptions::new())
            .await,
    );

    assert_eq!(problem, CertificateProblem::UnknownIssuer);
    assert_eq!(server.accepted(), 1, "one attempt, no retry");
    assert!(text.starts_with("PUT /v1/kv/app/config: "), "{text}");
}

#[tokio::test]
async fn certificate_for_another_name_is_refused_as_a_name_mismatch() {
    let pki = Pki::new();
    let leaf = pki.leaf("other", "DNS:consul.example.invalid", Validity::Current);
    let server = TlsConsul::start(&leaf).await;
    let client = retrying(config(&server).with_ca_cert(pki.ca()));

    let (problem, text) = refused(client.status().leader().await);

    assert_eq!(problem, CertificateProblem::NotValidForName);
    assert_eq!(server.accepted(), 1, "one attempt, no retry");
    assert!(
        text.contains("not valid for the host in the address"),
        "{text}"
    );
}

#[tokio::test]
async fn expired_certificate_is_refused_as_expired() {
    let pki = Pki::new();
    let server = TlsConsul::start(&pki.leaf("old", "IP:127.0.0.1", Validity::Expired)).await;
    let client = retrying(config(&server).with_ca_cert(pki.ca()));

    let (problem, text) = refused(client.status().leader().await);

    assert_eq!(problem, CertificateProblem::Expired);
    assert_eq!(server.accepted(), 1, "one attempt, no retry");
    assert!(text.contains("expired"), "{text}");
}

#[tokio::test]
async fn certificate_valid_only_from_2099_is_refused_as_not_yet_valid() {
    let pki = Pki::new();
    let server = TlsConsul::start(&pki.leaf("early", "IP:127.0.0.1", Validity::Future)).await;
    let client = retrying(config(&server).with_ca_cert(pki.ca()));

    let (problem, _) = refused(client.status().leader().await);

    assert_eq!(problem, CertificateProblem::NotYetValid);
    assert_eq!(server.accepted(), 1, "one attempt, no retry");
}

#[tokio::test]
async fn certificate_signed_by_a_trusted_ca_is_accepted() {
    let pki = Pki::new();
    let server = TlsConsul::start(&pki.leaf("consul", "IP:127.0.0.1", Validity::Current)).await;
    let client = retrying(config(&server).with_ca_cert(pki.ca()));

    let leader = client.status().leader().await.expect("the CA is trusted");

    assert_eq!(leader.as_deref(), Some(LEADER));
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn connection_refused_over_https_is_still_a_retried_transport_error() {
    // A port that was just free: nothing listens there, so connecting is refused.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let config = Config::new(&format!("https://127.0.0.1:{port}"))
        .expect("address")
        .with_retry(RetryPolicy::new(
            1,
            Duration::from_millis(10),
            Duration::from_millis(10),
        ));
    let client = Client::new(config).expect("client");

    let error = client.status().leader().await.expect_err("nothing listens");

    assert!(
        matches!(&error, Error::Transport { source } if source.is_connect()),
        "not a certificate error: {error:?}"
    );
    assert!(error.is_transient());
}
