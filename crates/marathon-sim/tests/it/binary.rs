//! The `marathon-sim` binary.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

#[test]
fn binary_prints_listening_line_first_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_marathon-sim"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--rule",
            "*:bad=never-healthy",
            "--task-start-ms",
            "10",
            "--keepalive-ms",
            "500",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    let read = BufReader::new(stdout).read_line(&mut line);
    let url = line.trim().strip_prefix("listening on ").map(str::to_owned);
    let served = url.as_ref().and_then(|url| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(async {
            reqwest::get(format!("{url}/ping"))
                .await
                .ok()?
                .text()
                .await
                .ok()
        })
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(read.is_ok());
    assert!(
        url.as_deref()
            .is_some_and(|u| u.starts_with("http://127.0.0.1:")),
        "{line:?}"
    );
    assert_eq!(served.as_deref(), Some("pong"));
}

#[test]
fn bad_rule_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_marathon-sim"))
        .args(["--rule", "*=sick"])
        .output()
        .expect("binary runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--rule") && err.contains("usage:"), "{err}");
    assert!(out.stdout.is_empty());
}
