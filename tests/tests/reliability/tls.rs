//! TLS with a private CA: Consul and Marathon behind a TLS-terminating proxy whose certificate
//! a test CA signs. duncan trusts it only when told to (`CONSUL_CACERT`; the Marathon client's
//! CA option), and fails with a clear error otherwise: certificate checks are on by default.
//! The clients run with their default retries, and a refused certificate is still tried once:
//! the proxy counts the connections.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::support::{Home, Sims, app_env, report};

/// A test CA and a server certificate it signs for `127.0.0.1`.
struct Pki {
    ca: PathBuf,
    certificate: PathBuf,
    key: PathBuf,
}

fn openssl(args: &[&str], dir: &Path) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("the openssl command runs (install openssl)");
    assert!(status.success(), "openssl {args:?} failed");
}

/// Makes the CA and the server certificate with the `openssl` command (P-256: quick).
fn make_pki(dir: &Path) -> Pki {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write extensions");
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
            "/CN=duncan reliability CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
        dir,
    );
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
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
        dir,
    );
    openssl(
        &[
            "x509",
            "-req",
            "-days",
            "2",
            "-set_serial",
            "7",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
        dir,
    );
    Pki {
        ca: dir.join("ca.pem"),
        certificate: dir.join("server.pem"),
        key: dir.join("server.key"),
    }
}

/// A TLS-terminating proxy on a loopback port.
struct TlsProxy {
    url: String,
    /// TCP connections accepted, whether or not the handshake then succeeded.
    accepted: Arc<AtomicUsize>,
}

impl TlsProxy {
    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Serves TLS on a loopback port and forwards the plain bytes to `backend`.
async fn tls_proxy(pki: &Pki, backend: std::net::SocketAddr) -> TlsProxy {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&pki.certificate)
        .expect("certificate file")
        .collect::<Result<_, _>>()
        .expect("certificate PEM");
    let key = PrivateKeyDer::from_pem_file(&pki.key).expect("key PEM");
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
        .expect("bind proxy");
    let addr = listener.local_addr().expect("proxy address");
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to forward.
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    TlsProxy {
        url: format!("https://127.0.0.1:{}", addr.port()),
        accepted,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_over_tls_with_a_private_ca_works_with_consul_cacert_and_fails_clearly_without() {
    let sims = Sims::start().await;
    let target = app_env("shop", "stage");
    sims.seed(&target, "v0", &["web"]).await;
    let dir = tempfile::TempDir::new().expect("temp dir");
    let pki = make_pki(dir.path());
    let proxy = tls_proxy(&pki, sims.consul.addr()).await;
    let consul = proxy.url.clone();
    let home = Home::with_config(&sims.config(&["shop"]));
    let ca = pki.ca.display().to_string();
    let args = [
        "--consul-url",
        &consul,
        "lock",
        "status",
        "-a",
        "shop",
        "-e",
        "stage",
    ];

    let trusted = home.run(&args, &[("CONSUL_CACERT", &ca)]).await;
    trusted.assert_no_panic();
    assert_eq!(trusted.code, 0, "{trusted:?}");
    assert!(trusted.stdout.contains("free"), "{trusted:?}");

    let before = proxy.accepted();
    let untrusted = home.run(&args, &[]).await;
    untrusted.assert_no_panic();
    assert_eq!(untrusted.code, 1, "{untrusted:?}");
    assert!(
        untrusted.stderr.contains("Consul's TLS certificate")
            && untrusted
                .stderr
                .contains("certificate authority duncan does not trust"),
        "the error says the certificate is not trusted: {untrusted:?}"
    );
    assert!(
        untrusted
            .stderr
            .contains("set CONSUL_CACERT to the PEM file"),
        "the hint names the setting: {untrusted:?}"
    );
    assert_eq!(
        proxy.accepted() - before,
        1,
        "one connection, no retry: {untrusted:?}"
    );
    report(
        "Consul over TLS with a private CA",
        2,
        "pass",
        "CONSUL_CACERT: exit 0; without it: exit 1 naming the certificate and CONSUL_CACERT, \
         after one connection (no retry)",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_over_tls_with_a_private_ca_is_trusted_only_with_the_ca_option() {
    let sims = Sims::start().await;
    let target = app_env("shop", "stage");
    sims.seed(&target, "v0", &["web"]).await;
    let dir = tempfile::TempDir::new().expect("temp dir");
    let pki = make_pki(dir.path());
    let proxy = tls_proxy(&pki, sims.marathon.addr()).await;
    let marathon = proxy.url.clone();
    let ca_pem = std::fs::read(&pki.ca).expect("CA PEM");

    let trusting = marathon_client::Client::new(
        marathon_client::Config::new(&marathon)
            .expect("marathon url")
            .with_ca_certificate_pem(ca_pem),
    )
    .expect("client with the CA");
    let group = trusting.group(target.group_id().as_str(), &[]).await;
    assert!(group.is_ok(), "the CA is trusted: {group:?}");

    // The default configuration, retries included: a refused certificate is not retried.
    let default = marathon_client::Client::new(
        marathon_client::Config::new(&marathon).expect("marathon url"),
    )
    .expect("default client");
    let before = proxy.accepted();
    let refused = default.group(target.group_id().as_str(), &[]).await;
    let error = refused.expect_err("an unknown CA is refused by default");
    assert!(
        matches!(
            &error,
            marathon_client::Error::Certificate {
                problem: marathon_client::CertificateProblem::UnknownIssuer,
                ..
            }
        ),
        "a typed certificate error: {}",
        error_chain(&error)
    );
    assert!(!error.is_transient(), "{error:?}");
    assert_eq!(proxy.accepted() - before, 1, "one connection, no retry");

    // The CLI itself: without the CA a private-CA Marathon is refused clearly; with
    // MARATHON_CACERT it is trusted.
    let home = Home::with_config(&sims.config(&["shop"]));
    let args = [
        "--marathon-url",
        &marathon,
        "status",
        "-a",
        "shop",
        "-e",
        "stage",
    ];
    let before = proxy.accepted();
    let cli = home.run(&args, &[]).await;
    cli.assert_no_panic();
    assert_eq!(cli.code, 1, "an untrusted Marathon was used: {cli:?}");
    assert!(
        cli.stderr.contains("Marathon's TLS certificate")
            && cli.stderr.contains("set MARATHON_CACERT"),
        "the CLI names the certificate problem and the setting: {cli:?}"
    );
    assert_eq!(
        proxy.accepted() - before,
        1,
        "one connection, no retry: {cli:?}"
    );
    let ca = pki.ca.to_str().expect("utf-8 path");
    let trusted = home.run(&args, &[("MARATHON_CACERT", ca)]).await;
    trusted.assert_no_panic();
    assert_eq!(trusted.code, 0, "MARATHON_CACERT is honoured: {trusted:?}");
    report(
        "Marathon over TLS with a private CA",
        4,
        "pass",
        "marathon-client with the CA: works; without (default retries): Error::Certificate \
         after one connection; the CLI: refused without the CA after one connection, naming \
         MARATHON_CACERT; exit 0 with it",
    );
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
