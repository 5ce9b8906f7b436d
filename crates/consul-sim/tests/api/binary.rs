//! The `consul-sim` binary: first stdout line, serving, usage errors.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

#[tokio::test]
async fn binary_prints_listening_line_with_real_port_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_consul-sim"))
        .args(["--listen", "127.0.0.1:0", "--acl-master-token", "root"])
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
    let answer = match &url {
        Some(url) if !url.ends_with(":0") => reqwest::Client::new()
            .get(format!("{url}/v1/kv/x"))
            .header("X-Consul-Token", "root")
            .send()
            .await
            .map(|r| r.status().as_u16())
            .ok(),
        _ => None,
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.starts_with("listening on http://127.0.0.1:"), "{line}");
    assert_eq!(answer, Some(404));
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
