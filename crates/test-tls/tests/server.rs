//! The certificates a [`TestCa`] issues are judged by a rustls client as their [`Validity`] and
//! names say, and the [`TlsServer`] counts each connection, refused or not.

use std::sync::Arc;

use test_tls::{Error, Response, ServerCertificate, SubjectAltName, TestCa, TlsServer, Validity};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, CertificateError, RootCertStore};

/// A rustls client that trusts `ca`'s certificate only.
fn trusting(ca: &TestCa) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca.certificate_path()).expect("CA file") {
        roots
            .add(certificate.expect("CA PEM"))
            .expect("CA certificate");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// Sends one request to `server` as `host` and returns the whole answer.
async fn get(
    connector: &TlsConnector,
    server: &TlsServer,
    host: &str,
) -> Result<String, std::io::Error> {
    let tcp = TcpStream::connect(server.addr()).await?;
    let name = ServerName::try_from(host.to_owned()).expect("server name");
    let mut tls = connector.connect(name, tcp).await?;
    tls.write_all(b"GET /ping HTTP/1.1\r\nHost: test\r\n\r\n")
        .await?;
    let mut answer = String::new();
    tls.read_to_string(&mut answer).await?;
    Ok(answer)
}

/// The certificate problem a refused handshake reports, named the same for rustls's plain and
/// `…Context` forms.
fn certificate_problem(result: Result<String, std::io::Error>) -> String {
    let error = result.expect_err("the certificate is refused");
    let inner = error.get_ref().expect("a rustls error inside");
    let Some(rustls::Error::InvalidCertificate(problem)) = inner.downcast_ref::<rustls::Error>()
    else {
        panic!("expected an invalid certificate, got {inner:?}");
    };
    let name = match problem {
        CertificateError::UnknownIssuer => "unknown issuer",
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "not valid for name"
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => "expired",
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "not valid yet"
        }
        other => return format!("{other:?}"),
    };
    name.to_owned()
}

async fn pong(leaf: &ServerCertificate) -> TlsServer {
    TlsServer::answering(leaf, Response::ok("pong").header("X-Test", "yes"))
        .await
        .expect("server starts")
}

#[tokio::test]
async fn current_leaf_from_a_trusted_ca_is_accepted_and_answered() {
    let ca = TestCa::new().expect("CA");
    let leaf = ca
        .issue(&[SubjectAltName::loopback()], Validity::Current)
        .expect("leaf");
    let server = pong(&leaf).await;

    let answer = get(&trusting(&ca), &server, "127.0.0.1")
        .await
        .expect("trusted");

    assert_eq!(
        answer,
        "HTTP/1.1 200 OK\r\nX-Test: yes\r\nContent-Length: 4\r\nConnection: close\r\n\r\npong"
    );
    assert_eq!(server.accepted(), 1);
    assert_eq!(
        server.url(),
        format!("https://127.0.0.1:{}", server.addr().port())
    );
}

/// What a client that trusts `trusted` says of a server with a certificate of `issuer` for
/// `name`, dialled as `127.0.0.1`; asserts the server counted the one connection.
async fn refusal(
    trusted: &TestCa,
    issuer: &TestCa,
    name: SubjectAltName,
    validity: Validity,
) -> String {
    let leaf = issuer.issue(&[name], validity).expect("leaf");
    let server = pong(&leaf).await;
    let problem = certificate_problem(get(&trusting(trusted), &server, "127.0.0.1").await);
    assert_eq!(server.accepted(), 1, "a refused handshake is counted");
    problem
}

#[tokio::test]
async fn leaf_of_another_ca_is_refused_as_an_unknown_issuer_and_counted() {
    let trusted = TestCa::new().expect("trusted CA");
    let other = TestCa::new().expect("other CA");

    let problem = refusal(
        &trusted,
        &other,
        SubjectAltName::loopback(),
        Validity::Current,
    )
    .await;

    assert_eq!(problem, "unknown issuer");
}

#[tokio::test]
async fn leaf_for_another_name_is_refused_as_not_valid_for_the_name() {
    let ca = TestCa::new().expect("CA");
    let name = SubjectAltName::dns("consul.example.invalid").expect("DNS name");

    let problem = refusal(&ca, &ca, name, Validity::Current).await;

    assert_eq!(problem, "not valid for name");
}

#[tokio::test]
async fn expired_leaf_is_refused_as_expired() {
    let ca = TestCa::new().expect("CA");

    let problem = refusal(&ca, &ca, SubjectAltName::loopback(), Validity::Expired).await;

    assert_eq!(problem, "expired");
}

#[tokio::test]
async fn leaf_valid_from_2099_is_refused_as_not_yet_valid() {
    let ca = TestCa::new().expect("CA");

    let problem = refusal(&ca, &ca, SubjectAltName::loopback(), Validity::NotYetValid).await;

    assert_eq!(problem, "not valid yet");
}

#[tokio::test]
async fn one_leaf_serves_every_name_it_was_issued_for() {
    let ca = TestCa::new().expect("CA");
    let names = [
        SubjectAltName::loopback(),
        SubjectAltName::dns("localhost").expect("DNS name"),
    ];
    let leaf = ca.issue(&names, Validity::Current).expect("leaf");
    let server = pong(&leaf).await;
    let connector = trusting(&ca);

    get(&connector, &server, "127.0.0.1")
        .await
        .expect("the IP name");
    get(&connector, &server, "localhost")
        .await
        .expect("the DNS name");

    assert_eq!(server.accepted(), 2);
}

#[tokio::test]
async fn forwarding_server_relays_the_decrypted_bytes_to_the_backend() {
    let backend = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("backend");
    let backend_addr = backend.local_addr().expect("backend address");
    // A plain backend that answers what it got, upper-cased, then closes.
    tokio::spawn(async move {
        let (mut plain, _) = backend.accept().await.expect("backend accepts");
        let mut buf = [0_u8; 64];
        let n = plain.read(&mut buf).await.expect("backend reads");
        let echo = buf.get(..n).unwrap_or_default().to_ascii_uppercase();
        plain.write_all(&echo).await.expect("backend writes");
    });
    let ca = TestCa::new().expect("CA");
    let leaf = ca
        .issue(&[SubjectAltName::loopback()], Validity::Current)
        .expect("leaf");
    let proxy = TlsServer::forwarding(&leaf, backend_addr)
        .await
        .expect("proxy starts");

    let tcp = TcpStream::connect(proxy.addr()).await.expect("connect");
    let name = ServerName::try_from("127.0.0.1").expect("server name");
    let mut tls = trusting(&ca).connect(name, tcp).await.expect("handshake");
    tls.write_all(b"hello").await.expect("send");
    let mut answer = String::new();
    tls.read_to_string(&mut answer).await.expect("answer");

    assert_eq!(answer, "HELLO");
    assert_eq!(proxy.accepted(), 1);
}

#[test]
fn dns_name_with_openssl_syntax_in_it_is_refused() {
    for name in ["a,IP:10.0.0.1", "a\nb", "", "x y"] {
        let error = SubjectAltName::dns(name).expect_err("refused");
        assert!(
            matches!(error, Error::InvalidDnsName(ref n) if n == name),
            "{error:?}"
        );
    }
}

#[test]
fn certificate_without_names_is_refused() {
    let ca = TestCa::new().expect("CA");

    let error = ca.issue(&[], Validity::Current).expect_err("refused");

    assert!(matches!(error, Error::NoSubjectAltName), "{error:?}");
}

#[test]
fn ca_certificate_is_a_pem_file_that_goes_with_its_ca() {
    let ca = TestCa::new().expect("CA");
    let path = ca.certificate_path();

    let pem = ca.certificate_pem().expect("CA PEM");
    drop(ca);

    assert!(pem.starts_with(b"-----BEGIN CERTIFICATE-----"));
    assert!(!path.exists(), "the CA's directory is removed with it");
}

#[tokio::test]
async fn serve_issues_a_leaf_and_answers_with_it() {
    let ca = TestCa::new().expect("CA");

    let server = ca
        .serve(
            &[SubjectAltName::loopback()],
            Validity::Current,
            Response::ok("pong"),
        )
        .await
        .expect("server starts");
    let answer = get(&trusting(&ca), &server, "127.0.0.1")
        .await
        .expect("trusted");

    assert!(answer.ends_with("\r\n\r\npong"), "{answer}");
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn refused_https_url_is_a_loopback_port_where_connecting_is_refused() {
    let url = test_tls::refused_https_url().expect("a free port");
    let addr = url.strip_prefix("https://").expect("an https URL");

    let error = TcpStream::connect(addr).await.expect_err("nothing listens");

    assert!(addr.starts_with("127.0.0.1:"), "{url}");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
}
