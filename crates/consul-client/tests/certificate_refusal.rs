//! A Consul certificate the client cannot verify fails the call at once, with
//! [`Error::Certificate`] saying why, and is never retried, read or write: retrying cannot
//! change a certificate.
//!
//! Consul here is `test_tls`'s HTTPS server on a loopback port, which counts the TCP connections
//! it accepts and answers every request like `/v1/status/leader`; its certificates are made for
//! each test by `test_tls`'s CA (the `openssl` command), so no key is checked in.

use std::time::Duration;

use consul_client::{CertificateProblem, Client, Config, Error, PutOptions, RetryPolicy};
use test_tls::{Response, SubjectAltName, TestCa, TlsServer, Validity};

/// What `/v1/status/leader` answers.
const LEADER: &str = "127.0.0.1:8300";

/// A test CA and an HTTPS server on a loopback port that answers every request with
/// [`LEADER`], with a certificate of that CA for `name`.
async fn tls_consul(name: SubjectAltName, validity: Validity) -> (TestCa, TlsServer) {
    let leader = Response::ok(format!("\"{LEADER}\""))
        .header("Content-Type", "application/json")
        .header("X-Consul-Index", "1");
    let ca = TestCa::new().expect("test CA");
    let server = ca.serve(&[name], validity, leader).await;
    (ca, server.expect("TLS server"))
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
            .with_request_timeout(Duration::from_secs(10)),
    )
    .expect("client")
}

fn config(server: &TlsServer) -> Config {
    Config::new(&server.url()).expect("address")
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
    let (_ca, server) = tls_consul(SubjectAltName::loopback(), Validity::Current).await;
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
    let (_ca, server) = tls_consul(SubjectAltName::loopback(), Validity::Current).await;
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
    let other_name = SubjectAltName::dns("consul.example.invalid").expect("DNS name");
    let (ca, server) = tls_consul(other_name, Validity::Current).await;
    let client = retrying(config(&server).with_ca_cert(ca.certificate_path()));

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
    let (ca, server) = tls_consul(SubjectAltName::loopback(), Validity::Expired).await;
    let client = retrying(config(&server).with_ca_cert(ca.certificate_path()));

    let (problem, text) = refused(client.status().leader().await);

    assert_eq!(problem, CertificateProblem::Expired);
    assert_eq!(server.accepted(), 1, "one attempt, no retry");
    assert!(text.contains("expired"), "{text}");
}

#[tokio::test]
async fn certificate_valid_only_from_2099_is_refused_as_not_yet_valid() {
    let (ca, server) = tls_consul(SubjectAltName::loopback(), Validity::NotYetValid).await;
    let client = retrying(config(&server).with_ca_cert(ca.certificate_path()));

    let (problem, _) = refused(client.status().leader().await);

    assert_eq!(problem, CertificateProblem::NotYetValid);
    assert_eq!(server.accepted(), 1, "one attempt, no retry");
}

#[tokio::test]
async fn certificate_signed_by_a_trusted_ca_is_accepted() {
    let (ca, server) = tls_consul(SubjectAltName::loopback(), Validity::Current).await;
    let client = retrying(config(&server).with_ca_cert(ca.certificate_path()));

    let leader = client.status().leader().await.expect("the CA is trusted");

    assert_eq!(leader.as_deref(), Some(LEADER));
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn connection_refused_over_https_is_still_a_retried_transport_error() {
    let url = test_tls::refused_https_url().expect("a free port");
    let config = Config::new(&url)
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
