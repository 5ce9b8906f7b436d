//! `duncan config show` and configuration loading, offline.

use crate::util::{Home, go_example_config, run, settings, shown};

#[test]
fn config_show_explains_go_example_keys() {
    let home = Home::with_config(&go_example_config(
        "https://consul.host",
        "https://mesos-host.com",
    ));
    let mut cmd = home.duncan();
    cmd.args(["config", "show"]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.is_empty(),
        "Go keys must not be warned about: {}",
        out.stderr
    );
    settings(&home).bind(|| insta::assert_snapshot!("config_show_go_example", shown(&out)));
}

#[test]
fn config_show_json_redacts_secrets_and_names_sources() {
    let home = Home::with_config(
        "consul_host: consul.host\nconsul_token: super-secret-token\n\
         slack_webhook_url: https://hooks.slack.com/services/T0/B0/SECRETPATH\n",
    );
    let mut cmd = home.duncan();
    cmd.args(["config", "show", "--json"])
        .env("MARATHON_URL", "http://marathon.env:8080");
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stdout.contains("super-secret-token"));
    assert!(!out.stdout.contains("SECRETPATH"));
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    settings(&home).bind(|| insta::assert_json_snapshot!("config_show_json", json));
}

#[test]
fn config_file_flag_wins_and_missing_file_is_usage_error() {
    let home = Home::new();
    let mut cmd = home.duncan();
    cmd.args(["--config", "/nonexistent/duncan.yml", "config", "show"]);
    let out = run(cmd);
    assert_eq!(out.code, 2);
    settings(&home).bind(|| insta::assert_snapshot!("config_missing_file", shown(&out)));
}

#[test]
fn malformed_config_names_line_and_column() {
    let home = Home::with_config("consul_host: consul.host\napps: [dogfood, skulls\nrepos: {}\n");
    let mut cmd = home.duncan();
    cmd.args(["status"]);
    let out = run(cmd);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr.lines().count(),
        2,
        "one line plus what to do: {}",
        out.stderr
    );
    settings(&home).bind(|| insta::assert_snapshot!("config_malformed", shown(&out)));
}

#[test]
fn unknown_keys_are_warned_not_fatal() {
    let home = Home::with_config("consul_host: consul.host\nfavourite_colour: blue\n");
    let mut cmd = home.duncan();
    cmd.args(["config", "show"]);
    let out = run(cmd);
    assert_eq!(out.code, 0);
    assert!(
        out.stderr.contains("unknown key `favourite_colour`"),
        "{}",
        out.stderr
    );
}

#[test]
fn token_file_readable_by_others_is_warned_about() {
    let home = Home::new();
    home.write_config("consul_token: abc\n", 0o644);
    let mut cmd = home.duncan();
    cmd.args(["config", "show"]);
    let out = run(cmd);
    assert_eq!(out.code, 0);
    assert!(out.stderr.contains("chmod 600"), "{}", out.stderr);
}

#[test]
fn broken_pipe_exits_zero() {
    let home = Home::with_config(&go_example_config(
        "https://consul.host",
        "https://mesos-host.com",
    ));
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("duncan"));
    cmd.env_clear()
        .env("HOME", home.path())
        .args(["config", "show"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // Close the read end before the binary writes: every write then fails with EPIPE.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
