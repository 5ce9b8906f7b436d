//! TLS with a private CA: Consul and Marathon behind a TLS-terminating proxy whose certificate
//! a test CA signs. duncan trusts it only when told to (`CONSUL_CACERT`; the Marathon client's
//! CA option), and fails with a clear error otherwise: certificate checks are on by default.
//! The clients run with their default retries, and a refused certificate is still tried once:
//! the proxy counts the connections.

use std::net::SocketAddr;

use test_tls::{SubjectAltName, TestCa, TlsServer, Validity};

use crate::support::{Home, Sims, app_env, report};

/// A test CA, and a TLS-terminating proxy on a loopback port that forwards the plain bytes to
/// `backend`, with a certificate of that CA for `127.0.0.1` and `localhost`.
async fn tls_proxy(backend: SocketAddr) -> (TestCa, TlsServer) {
    let ca = TestCa::new().expect("test CA");
    let names = [
        SubjectAltName::loopback(),
        SubjectAltName::dns("localhost").expect("DNS name"),
    ];
    let leaf = ca
        .issue(&names, Validity::Current)
        .expect("proxy certificate");
    let proxy = TlsServer::forwarding(&leaf, backend).await;
    (ca, proxy.expect("TLS proxy"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_over_tls_with_a_private_ca_works_with_consul_cacert_and_fails_clearly_without() {
    let sims = Sims::start().await;
    let target = app_env("shop", "stage");
    sims.seed(&target, "v0", &["web"]).await;
    let (ca, proxy) = tls_proxy(sims.consul.addr()).await;
    let consul = proxy.url();
    let home = Home::with_config(&sims.config(&["shop"]));
    let ca_file = ca.certificate_path().display().to_string();
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

    let trusted = home.run(&args, &[("CONSUL_CACERT", &ca_file)]).await;
    trusted.assert_no_panic();
    assert_eq!(trusted.code, 0, "{trusted:?}");
    assert!(trusted.stdout.contains("free"), "{trusted:?}");
    // The same CA named in the file instead of the environment.
    let with_file_key = Home::with_config(&format!(
        "{}consul_cacert: {ca_file}\n",
        sims.config(&["shop"])
    ));
    let trusted = with_file_key.run(&args, &[]).await;
    trusted.assert_no_panic();
    assert_eq!(trusted.code, 0, "consul_cacert in the file: {trusted:?}");

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
            .contains("set CONSUL_CACERT (or consul_cacert in ~/.duncan.yml) to the PEM file"),
        "the hint names the setting: {untrusted:?}"
    );
    assert_eq!(
        proxy.accepted() - before,
        1,
        "one connection, no retry: {untrusted:?}"
    );
    report(
        "Consul over TLS with a private CA",
        3,
        "pass",
        "CONSUL_CACERT or consul_cacert: exit 0; without: exit 1 naming the certificate and \
         the setting, after one connection (no retry)",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_over_tls_with_a_private_ca_is_trusted_only_with_the_ca_option() {
    let sims = Sims::start().await;
    let target = app_env("shop", "stage");
    sims.seed(&target, "v0", &["web"]).await;
    let (ca, proxy) = tls_proxy(sims.marathon.addr()).await;
    let marathon = proxy.url();
    let ca_pem = ca.certificate_pem().expect("CA PEM");

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
    let ca_path = ca.certificate_path();
    let ca_file = ca_path.to_str().expect("utf-8 path");
    let trusted = home.run(&args, &[("MARATHON_CACERT", ca_file)]).await;
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
