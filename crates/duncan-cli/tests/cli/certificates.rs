//! A service whose TLS certificate duncan refuses: one line naming what is wrong with the
//! certificate, a hint naming the setting (or the clock) that fixes it, exit 1, and a single
//! connection: a refused certificate is never retried.
//!
//! The TLS endpoint is `test_tls`'s HTTPS server on a loopback port, which counts the
//! connections duncan opens; the certificates are made for each test by `test_tls`'s CA (the
//! `openssl` command), so no key is checked in.

use test_tls::{Response, SubjectAltName, TestCa, TlsServer, Validity};

use crate::sims::Sims;
use crate::util::{Home, Run, run_async, settings, shown};

/// A test CA, and an HTTPS server on a loopback port with a certificate of that CA for `name`
/// (the client refuses it before any request, so what it would answer does not matter).
async fn tls_endpoint(name: SubjectAltName, validity: Validity) -> (TestCa, TlsServer) {
    let ca = TestCa::new().expect("test CA");
    let server = ca.serve(&[name], validity, Response::ok("unused")).await;
    (ca, server.expect("TLS server"))
}

/// The CA's certificate file, as a `*_CACERT` value.
fn ca_file(ca: &TestCa) -> String {
    ca.certificate_path().display().to_string()
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

fn assert_refused_once(out: &Run, endpoint: &TlsServer) {
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 2, "{}", out.stderr);
    assert!(!out.stderr.contains("answers there"), "{}", out.stderr);
    assert_eq!(endpoint.accepted(), 1, "one connection, no retry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_with_an_unknown_ca_is_refused_once_with_the_consul_cacert_hint() {
    let sims = Sims::start().await;
    let (_ca, consul) = tls_endpoint(SubjectAltName::loopback(), Validity::Current).await;
    let home = Home::with_config(&consul_config(&consul.url(), &sims));

    let out = duncan(&home, &LOCK_STATUS, &[]).await;

    assert_refused_once(&out, &consul);
    settings(&home).bind(|| insta::assert_snapshot!("certificate_consul_unknown_ca", shown(&out)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_certificate_for_another_name_points_at_the_consul_address() {
    let sims = Sims::start().await;
    let other_name = SubjectAltName::dns("consul.example.invalid").expect("DNS name");
    let (ca, consul) = tls_endpoint(other_name, Validity::Current).await;
    let home = Home::with_config(&consul_config(&consul.url(), &sims));

    let out = duncan(&home, &LOCK_STATUS, &[("CONSUL_CACERT", &ca_file(&ca))]).await;

    assert_refused_once(&out, &consul);
    settings(&home).bind(|| {
        insta::assert_snapshot!("certificate_consul_name_mismatch", shown(&out));
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_with_an_unknown_ca_is_refused_once_with_the_marathon_cacert_hint() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let (_ca, marathon) = tls_endpoint(SubjectAltName::loopback(), Validity::Current).await;
    let home = Home::with_config(&marathon_config(&marathon.url(), &sims));

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
    let (ca, marathon) = tls_endpoint(SubjectAltName::loopback(), Validity::Expired).await;
    let home = Home::with_config(&marathon_config(&marathon.url(), &sims));

    let out = duncan(&home, &STATUS, &[("MARATHON_CACERT", &ca_file(&ca))]).await;

    assert_refused_once(&out, &marathon);
    settings(&home).bind(|| {
        insta::assert_snapshot!("certificate_marathon_expired", shown(&out));
    });
}
