//! A service whose TLS certificate duncan refuses: one line naming what is wrong with the
//! certificate, a hint naming the setting (or the clock) that fixes it, exit 1, and a single
//! connection: a refused certificate is never retried.
//!
//! The TLS endpoint is `openssl s_server` on a loopback port, behind a small TCP relay that
//! counts the connections duncan opens; the certificates are made for each test with the
//! `openssl` command (P-256 keys: quick), so no key is checked in.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::sims::Sims;
use crate::util::{Home, Run, run_async, settings, shown};

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

/// A test CA in a temporary directory, and one server certificate it signed.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A CA, and a server certificate for `san` (an openssl subjectAltName value) valid from
    /// `dates` (`-startdate`, `-enddate`) or, when `None`, from now for two days.
    fn new(san: &str, dates: Option<(&str, &str)>) -> Pki {
        let pki = Pki {
            dir: tempfile::TempDir::new().expect("temp dir"),
        };
        let dir = pki.dir.path();
        let mut args = vec!["req", "-x509", "-batch", "-days", "2"];
        args.extend(EC_KEY);
        args.extend([
            "-subj",
            "/CN=duncan test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        openssl(&args, dir);
        // `openssl ca` takes explicit validity dates; it keeps a small database beside the CA.
        let files = [
            (
                "ca.cnf",
                "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\nnew_certs_dir = .\n\
                 serial = serial\ndefault_md = sha256\npolicy = any\nunique_subject = no\n\
                 [any]\ncommonName = supplied\n"
                    .to_owned(),
            ),
            ("index.txt", String::new()),
            ("serial", "01\n".to_owned()),
            (
                "server.ext",
                format!(
                    "subjectAltName={san}\nbasicConstraints=critical,CA:FALSE\n\
                     keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                ),
            ),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(name), text).expect("write CA file");
        }
        let mut args = vec!["req", "-new", "-batch"];
        args.extend(EC_KEY);
        args.extend([
            "-subj",
            "/CN=server",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
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
            "server.ext",
            "-in",
            "server.csr",
            "-out",
            "server.pem",
        ];
        match dates {
            Some((start, end)) => args.extend(["-startdate", start, "-enddate", end]),
            None => args.extend(["-days", "2"]),
        }
        openssl(&args, dir);
        pki
    }

    fn ca(&self) -> String {
        self.dir.path().join("ca.pem").display().to_string()
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// `openssl s_server` with the PKI's server certificate, behind a relay that counts connections.
struct TlsEndpoint {
    server: Child,
    url: String,
    accepted: Arc<AtomicUsize>,
}

impl TlsEndpoint {
    async fn start(pki: &Pki) -> TlsEndpoint {
        let (server, backend) = s_server(pki);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind relay");
        let port = listener.local_addr().expect("relay address").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let backend = backend.clone();
                tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(backend.as_str()).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        TlsEndpoint {
            server,
            url: format!("https://127.0.0.1:{port}"),
            accepted,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for TlsEndpoint {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// Starts `openssl s_server` on a free loopback port and returns it with its `host:port`, read
/// from the `ACCEPT 127.0.0.1:PORT` line it prints once it listens.
fn s_server(pki: &Pki) -> (Child, String) {
    let cert = pki.file("server.pem");
    let key = pki.file("server.key");
    let mut server = Command::new("openssl")
        .args(["s_server", "-accept", "127.0.0.1:0", "-www", "-cert"])
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server starts");
    let stdout = server.stdout.take().expect("s_server stdout");
    let mut lines = BufReader::new(stdout).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("s_server says where it listens")
            .expect("s_server output");
        if let Some(address) = line.strip_prefix("ACCEPT ") {
            break address.trim().to_owned();
        }
    };
    // Keep reading what s_server says about each connection, so its pipe never fills.
    std::thread::spawn(move || lines.for_each(drop));
    (server, address)
}

async fn duncan(home: &Home, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = home.duncan();
    cmd.args(args);
    for (name, value) in env {
        cmd.env(name, value);
    }
    run_async(cmd).await
}

const LOCK_STATUS: [&str; 6] = ["lock", "status", "-a", "dogfood", "-e", "stage"];
const STATUS: [&str; 5] = ["status", "-a", "dogfood", "-e", "stage"];

fn consul_config(consul: &str, sims: &Sims) -> String {
    format!(
        "consul_url: {consul}\nmarathon_url: {}\ndocker_repo_prefix: quay.io/myorg\napps: [dogfood]\n",
        sims.marathon_url()
    )
}

fn marathon_config(marathon: &str, sims: &Sims) -> String {
    format!(
        "consul_url: {}\nmarathon_url: {marathon}\ndocker_repo_prefix: quay.io/myorg\napps: [dogfood]\n",
        sims.consul_url()
    )
}

fn assert_refused_once(out: &Run, endpoint: &TlsEndpoint) {
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 2, "{}", out.stderr);
    assert!(!out.stderr.contains("answers there"), "{}", out.stderr);
    assert_eq!(endpoint.accepted(), 1, "one connection, no retry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_with_an_unknown_ca_is_refused_once_with_the_consul_cacert_hint() {
    let sims = Sims::start().await;
    let pki = Pki::new("IP:127.0.0.1", None);
    let consul = TlsEndpoint::start(&pki).await;
    let home = Home::with_config(&consul_config(&consul.url, &sims));

    let out = duncan(&home, &LOCK_STATUS, &[]).await;

    assert_refused_once(&out, &consul);
    settings(&home).bind(|| insta::assert_snapshot!("certificate_consul_unknown_ca", shown(&out)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_certificate_for_another_name_points_at_the_consul_address() {
    let sims = Sims::start().await;
    let pki = Pki::new("DNS:consul.example.invalid", None);
    let consul = TlsEndpoint::start(&pki).await;
    let home = Home::with_config(&consul_config(&consul.url, &sims));

    let out = duncan(&home, &LOCK_STATUS, &[("CONSUL_CACERT", &pki.ca())]).await;

    assert_refused_once(&out, &consul);
    settings(&home).bind(|| {
        insta::assert_snapshot!("certificate_consul_name_mismatch", shown(&out));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_with_an_unknown_ca_is_refused_once_with_the_marathon_cacert_hint() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let pki = Pki::new("IP:127.0.0.1", None);
    let marathon = TlsEndpoint::start(&pki).await;
    let home = Home::with_config(&marathon_config(&marathon.url, &sims));

    let out = duncan(&home, &STATUS, &[]).await;

    assert_refused_once(&out, &marathon);
    settings(&home).bind(|| {
        insta::assert_snapshot!("certificate_marathon_unknown_ca", shown(&out));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_marathon_certificate_asks_for_renewal_or_a_clock_check() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let pki = Pki::new("IP:127.0.0.1", Some(("20200101000000Z", "20200102000000Z")));
    let marathon = TlsEndpoint::start(&pki).await;
    let home = Home::with_config(&marathon_config(&marathon.url, &sims));

    let out = duncan(&home, &STATUS, &[("MARATHON_CACERT", &pki.ca())]).await;

    assert_refused_once(&out, &marathon);
    settings(&home).bind(|| {
        insta::assert_snapshot!("certificate_marathon_expired", shown(&out));
    });
}
