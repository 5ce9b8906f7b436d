//! The `consul-sim` binary: first stdout line, serving, usage errors.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

/// Waits (bounded) for the child to exit after a signal; `None` if it did not.
fn wait_exit(child: &mut std::process::Child) -> Option<std::process::ExitStatus> {
    for _ in 0..250 {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    None
}

#[tokio::test]
async fn binary_prints_listening_line_serves_policy_tokens_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = dir.path().join("policy.json");
    std::fs::write(
        &policy,
        r#"{"tokens":[{"secret":"deployer","rules":[{"prefix":"deploys/a/","access":"write"}]}]}"#,
    )
    .expect("policy written");
    let mut child = Command::new(env!("CARGO_BIN_EXE_consul-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--acl-master-token",
            "root",
            "--policy-file",
        ])
        .arg(&policy)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .expect("reader ran")
    .expect("line read");
    let url = line.trim().strip_prefix("listening on ").map(str::to_owned);
    let mut answers = Vec::new();
    if let Some(url) = url.as_ref().filter(|u| !u.ends_with(":0")) {
        let http = reqwest::Client::new();
        for key in ["deploys/a/lock", "deploys/b/lock"] {
            let status = http
                .put(format!("{url}/v1/kv/{key}"))
                .header("X-Consul-Token", "deployer")
                .body("x")
                .send()
                .await
                .map(|r| r.status().as_u16())
                .ok();
            answers.push(status);
        }
    }
    let pid = child.id().to_string();
    let signalled = Command::new("kill").args(["-TERM", &pid]).status();
    let exit = wait_exit(&mut child);
    if exit.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(line.starts_with("listening on http://127.0.0.1:"), "{line}");
    assert_eq!(answers, vec![Some(200), Some(403)]);
    assert!(signalled.is_ok_and(|s| s.success()));
    assert!(
        exit.is_some_and(|s| s.success()),
        "exit on SIGTERM: {exit:?}"
    );
}

#[test]
fn binary_rejects_unknown_flag_with_usage() {
    let out = Command::new(env!("CARGO_BIN_EXE_consul-sim"))
        .arg("--bogus")
        .output()
        .expect("binary runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown argument") && err.contains("usage: consul-sim"),
        "{err}"
    );
}

#[test]
fn binary_reports_unreadable_policy_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("missing.json");
    let out = Command::new(env!("CARGO_BIN_EXE_consul-sim"))
        .args(["--listen", "127.0.0.1:0", "--policy-file"])
        .arg(&path)
        .output()
        .expect("binary runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read policy file"));
}

#[tokio::test]
async fn binary_with_tls_flags_serves_https_only_to_clients_with_a_certificate_of_the_ca() {
    use test_tls::{SubjectAltName, TestCa, Validity};
    let ca = TestCa::new().expect("CA");
    let leaf = ca
        .issue(&[SubjectAltName::loopback()], Validity::Current)
        .expect("server certificate");
    let me = ca.issue_client().expect("client certificate");
    let mut child = Command::new(env!("CARGO_BIN_EXE_consul-sim"))
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(leaf.certificate_path())
        .arg("--tls-key")
        .arg(leaf.key_path())
        .arg("--tls-client-ca")
        .arg(ca.certificate_path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout piped");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .expect("reader ran")
    .expect("line read");
    let url = line.trim().strip_prefix("listening on ").map(str::to_owned);
    let ca_pem =
        reqwest::Certificate::from_pem(&ca.certificate_pem().expect("CA PEM")).expect("CA");
    let mut identity = std::fs::read(me.certificate_path()).expect("certificate");
    identity.extend(std::fs::read(me.key_path()).expect("key"));
    let with = reqwest::Client::builder()
        .add_root_certificate(ca_pem.clone())
        .identity(reqwest::Identity::from_pem(&identity).expect("identity"))
        .build()
        .expect("client");
    let without = reqwest::Client::builder()
        .add_root_certificate(ca_pem)
        .build()
        .expect("client");
    let (mut served, mut refused) = (None, None);
    if let Some(url) = &url {
        let leader = format!("{url}/v1/status/leader");
        served = with
            .get(&leader)
            .send()
            .await
            .ok()
            .map(|r| r.status().as_u16());
        refused = Some(without.get(&leader).send().await.is_err());
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        line.starts_with("listening on https://127.0.0.1:"),
        "{line}"
    );
    assert_eq!(served, Some(200), "a certificate of the CA is accepted");
    assert_eq!(refused, Some(true), "no certificate: the handshake fails");
}
