//! A server certificate the client cannot verify fails the call at once, with
//! [`Error::Certificate`] saying why, and is never retried: retrying cannot change a
//! certificate.
//!
//! The server is `test_tls`'s HTTPS server on a loopback port, which counts the TCP connections
//! it accepts; its certificates are made for each test by `test_tls`'s CA (the `openssl`
//! command), so no key is checked in.

use std::time::Duration;

use marathon_client::{CertificateProblem, Client, Config, Error, RetryPolicy};
use test_tls::{Response, SubjectAltName, TestCa, TlsServer, Validity};

/// A test CA and an HTTPS server on a loopback port that answers every request with
/// `200 pong`, with a certificate of that CA for `name`.
async fn tls_server(name: SubjectAltName, validity: Validity) -> (TestCa, TlsServer) {
    let ca = TestCa::new().expect("test CA");
    let server = ca.serve(&[name], validity, Response::ok("pong")).await;
    (ca, server.expect("TLS server"))
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

/// A client with [`retrying_config`] that trusts `ca`.
fn trusting_client(ca: &TestCa, server: &TlsServer) -> Client {
    let ca_pem = ca.certificate_pem().expect("CA PEM");
    Client::new(retrying_config(&server.url()).with_ca_certificate_pem(ca_pem)).expect("client")
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
    let (_ca, server) = tls_server(SubjectAltName::loopback(), Validity::Current).await;
    let client = Client::new(retrying_config(&server.url())).expect("client");

    let (problem, text) = refused_problem(client.ping().await);

    assert_eq!(problem, CertificateProblem::UnknownIssuer);
    assert_eq!(server.accepted(), 1, "one attempt, no retry");
    assert!(
        text.contains(&format!(
            "GET {}/ping: the server's TLS certificate could not be verified",
            server.url().trim_end_matches('/')
        )),
        "{text}"
    );
    assert!(
        text.contains("add the CA to the client's config"),
        "says how to fix it: {text}"
    );
}

#[tokio::test]
async fn unknown_ca_is_not_retried_for_writes_either() {
    let (_ca, server) = tls_server(SubjectAltName::loopback(), Validity::Current).await;
    let client = Client::new(retrying_config(&server.url())).expect("client");

    let result = client.cancel_deployment("d1").await.map(drop);

    assert_eq!(refused_problem(result).0, CertificateProblem::UnknownIssuer);
    assert_eq!(server.accepted(), 1, "one attempt, no retry");
}

#[tokio::test]
async fn certificate_for_another_name_is_refused_as_a_name_mismatch() {
    let other_name = SubjectAltName::dns("marathon.example.invalid").expect("DNS name");
    let (ca, server) = tls_server(other_name, Validity::Current).await;
    let client = trusting_client(&ca, &server);

    let (problem, text) = refused_problem(client.ping().await);

    assert_eq!(problem, CertificateProblem::NotValidForName);
    assert_eq!(server.accepted(), 1, "one attempt, no retry");
    assert!(text.contains("not valid for the host in the URL"), "{text}");
}

#[tokio::test]
async fn expired_certificate_is_refused_as_expired() {
    let (ca, server) = tls_server(SubjectAltName::loopback(), Validity::Expired).await;
    let client = trusting_client(&ca, &server);

    let (problem, text) = refused_problem(client.ping().await);

    assert_eq!(problem, CertificateProblem::Expired);
    assert_eq!(server.accepted(), 1, "one attempt, no retry");
    assert!(text.contains("expired"), "{text}");
}

#[tokio::test]
async fn certificate_signed_by_a_trusted_ca_is_accepted() {
    let (ca, server) = tls_server(SubjectAltName::loopback(), Validity::Current).await;
    let client = trusting_client(&ca, &server);

    client.ping().await.expect("the CA is trusted");
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn connection_refused_is_a_transport_error_not_a_certificate_error() {
    let url = test_tls::refused_https_url().expect("a free port");
    let config = Config::new(&url).expect("url").with_retry(RetryPolicy {
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
