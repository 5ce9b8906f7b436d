//! Consul's CLI settings against a real protocol peer: consul-sim serving HTTPS (with
//! `verify_incoming`'s client certificates when asked), over a Unix socket, behind basic auth,
//! with namespaces and partitions. Certificates come from `test_tls`'s CA (the `openssl`
//! command) for each test, so no key is checked in.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use consul_client::{
    CertificateProblem, Client, Config, Error, HttpAuth, PutOptions, QueryOptions, RetryPolicy,
};
use consul_sim::{ConsulSim, SimOptions, TlsFiles};
use test_tls::{SubjectAltName, TestCa, Validity};

/// A consul-sim on HTTPS with a certificate of `ca` for `names`, requiring client certificates
/// of `ca` when `mutual`.
async fn https_sim(ca: &TestCa, names: &[SubjectAltName], mutual: bool) -> ConsulSim {
    let leaf = ca
        .issue(names, Validity::Current)
        .expect("server certificate");
    let mut files = TlsFiles::new(leaf.certificate_path(), leaf.key_path());
    if mutual {
        files = files.require_client_certificates(ca.certificate_path());
    }
    ConsulSim::start(SimOptions::default().tls(files))
        .await
        .expect("consul-sim starts")
}

/// A client that would retry visibly (four times), so a test sees that it did not.
fn client(config: Config) -> Client {
    Client::new(
        config
            .with_retry(RetryPolicy::new(
                4,
                Duration::from_millis(100),
                Duration::from_millis(200),
            ))
            .with_request_timeout(Duration::from_secs(5)),
    )
    .expect("client")
}

/// A config read from these variables only, as `Config::from_env` would read them.
fn from_vars(vars: &[(&str, &str)]) -> Config {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::from_lookup(|name| vars.get(name).cloned()).expect("valid variables")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

async fn round_trip(client: &Client) -> Vec<u8> {
    assert!(
        client
            .kv()
            .put("settings/probe", b"v", &PutOptions::new())
            .await
            .expect("the write is served")
    );
    let (pair, _) = client
        .kv()
        .get("settings/probe", &QueryOptions::default())
        .await
        .expect("the read is served");
    pair.expect("the key exists").value
}

#[tokio::test]
async fn mutual_tls_from_consuls_variables_is_served() {
    let ca = TestCa::new().expect("CA");
    let sim = https_sim(&ca, &[SubjectAltName::loopback()], true).await;
    let me = ca.issue_client().expect("client certificate");
    let config = from_vars(&[
        ("CONSUL_HTTP_ADDR", &sim.addr().to_string()),
        ("CONSUL_HTTP_SSL", "t"),
        ("CONSUL_CACERT", path(&ca.certificate_path())),
        ("CONSUL_CLIENT_CERT", path(me.certificate_path())),
        ("CONSUL_CLIENT_KEY", path(me.key_path())),
    ]);

    assert_eq!(round_trip(&client(config)).await, b"v");
    assert_eq!(sim.control().request_count(), 2);
}

#[tokio::test]
async fn without_a_client_certificate_consul_refuses_and_the_error_names_the_variables() {
    let ca = TestCa::new().expect("CA");
    let sim = https_sim(&ca, &[SubjectAltName::loopback()], true).await;
    let config = Config::new(&sim.url())
        .expect("address")
        .with_ca_cert(ca.certificate_path());

    let error = client(config)
        .status()
        .leader()
        .await
        .expect_err("refused without a certificate");

    let text = error.to_string();
    assert!(
        matches!(
            error,
            Error::ClientCertificateRefused {
                certificate_sent: false,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        text.contains("CONSUL_CLIENT_CERT and CONSUL_CLIENT_KEY"),
        "{text}"
    );
    assert!(!error.is_transient(), "not retried: {text}");
    assert_eq!(sim.control().request_count(), 0, "no request got through");
}

#[tokio::test]
async fn a_client_certificate_of_another_ca_is_refused_too() {
    let ca = TestCa::new().expect("CA");
    let other = TestCa::new().expect("another CA");
    let sim = https_sim(&ca, &[SubjectAltName::loopback()], true).await;
    let stranger = other.issue_client().expect("client certificate");
    let config = Config::new(&sim.url())
        .expect("address")
        .with_ca_cert(ca.certificate_path())
        .with_client_certificate(stranger.certificate_path(), stranger.key_path());

    let error = client(config).status().leader().await.expect_err("refused");

    assert!(
        matches!(
            error,
            Error::ClientCertificateRefused {
                certificate_sent: true,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("signed by a CA Consul trusts"));
    assert_eq!(sim.control().request_count(), 0);
}

#[tokio::test]
async fn a_ca_directory_is_trusted_like_a_ca_file() {
    let ca = TestCa::new().expect("CA");
    let sim = https_sim(&ca, &[SubjectAltName::loopback()], false).await;
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::copy(ca.certificate_path(), dir.path().join("consul-ca.pem")).expect("copy");
    std::fs::write(dir.path().join("README"), "not a certificate").expect("write");
    let config = from_vars(&[
        ("CONSUL_HTTP_ADDR", &sim.url()),
        ("CONSUL_CAPATH", path(dir.path())),
    ]);

    assert_eq!(round_trip(&client(config)).await, b"v");
}

#[tokio::test]
async fn an_empty_ca_directory_is_a_config_error_naming_it() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = Config::new("https://127.0.0.1:1")
        .expect("address")
        .with_ca_path(dir.path());

    let error = Client::new(config).expect_err("nothing to trust");

    let text = error.to_string();
    assert!(text.contains("CA directory"), "{text}");
    assert!(
        text.contains("no file in it holds a PEM certificate"),
        "{text}"
    );
}

#[tokio::test]
async fn tls_server_name_verifies_the_certificate_against_that_name() {
    let ca = TestCa::new().expect("CA");
    let name = SubjectAltName::dns("server.dc1.consul").expect("name");
    let sim = https_sim(&ca, &[name], false).await;
    let trusting = || {
        Config::new(&sim.url())
            .expect("address")
            .with_ca_cert(ca.certificate_path())
    };

    let error = client(trusting())
        .status()
        .leader()
        .await
        .expect_err("127.0.0.1 is not the certificate's name");
    assert!(
        matches!(
            error,
            Error::Certificate {
                problem: CertificateProblem::NotValidForName,
                ..
            }
        ),
        "{error:?}"
    );

    let named = client(trusting().with_tls_server_name("server.dc1.consul:8501"));
    assert_eq!(round_trip(&named).await, b"v");
}

#[tokio::test]
async fn ssl_verify_false_accepts_a_certificate_of_an_unknown_ca() {
    let ca = TestCa::new().expect("CA");
    let sim = https_sim(&ca, &[SubjectAltName::loopback()], false).await;
    let config = from_vars(&[
        ("CONSUL_HTTP_ADDR", &sim.url()),
        ("CONSUL_HTTP_SSL_VERIFY", "F"),
    ]);

    assert_eq!(round_trip(&client(config)).await, b"v");
}

#[tokio::test]
async fn http_auth_namespace_and_partition_are_sent_as_consul_sends_them() {
    let sim = ConsulSim::start(SimOptions::default()).await.expect("sim");
    let config = from_vars(&[
        ("CONSUL_HTTP_ADDR", &sim.url()),
        ("CONSUL_HTTP_AUTH", "admin:s3cr3t:pw"),
        ("CONSUL_NAMESPACE", "team"),
        ("CONSUL_PARTITION", "part"),
    ]);
    let client = client(config);

    client.status().leader().await.expect("served");

    let requests = sim.control().requests();
    let request = requests.first().expect("one request");
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("admin:s3cr3t:pw")
    );
    assert_eq!(request.header("authorization"), Some(expected.as_str()));
    assert_eq!(
        request.path_and_query,
        "/v1/status/leader?ns=team&partition=part"
    );
    assert!(!format!("{client:?}").contains("s3cr3t"));
}

#[tokio::test]
async fn a_user_alone_in_http_auth_is_sent_with_an_empty_password() {
    let sim = ConsulSim::start(SimOptions::default()).await.expect("sim");
    let config = Config::new(&sim.url())
        .expect("address")
        .with_http_auth(HttpAuth::parse("admin"));

    client(config).status().leader().await.expect("served");

    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("admin:")
    );
    let requests = sim.control().requests();
    assert_eq!(
        requests.first().and_then(|r| r.header("authorization")),
        Some(expected.as_str())
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_unix_socket_address_is_served() {
    let sim = ConsulSim::start(SimOptions::default()).await.expect("sim");
    let dir = tempfile::tempdir().expect("temporary directory");
    let socket = dir.path().join("consul.sock");
    // The agent's socket: each connection passed on to the sim's TCP port.
    let listener = tokio::net::UnixListener::bind(&socket).expect("bind the socket");
    let backend = sim.addr();
    let proxy = tokio::spawn(async move {
        while let Ok((mut unix, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut tcp) = tokio::net::TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut unix, &mut tcp).await;
                }
            });
        }
    });
    let address = format!("unix://{}", path(&socket));
    let config = from_vars(&[("CONSUL_HTTP_ADDR", &address)]);
    let client = client(config);

    assert_eq!(round_trip(&client).await, b"v");
    assert_eq!(sim.control().request_count(), 2);
    assert!(format!("{client:?}").contains(&address));
    proxy.abort();
}
