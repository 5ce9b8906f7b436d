//! Wrong command lines: one clear message and exit 2, before anything is contacted.

use crate::util::{Home, run, settings, shown};

fn snapshot_usage(name: &str, args: &[&str]) {
    let home = Home::new();
    let mut cmd = home.duncan();
    cmd.args(args);
    let out = run(cmd);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stdout.is_empty());
    settings(&home).bind(|| insta::assert_snapshot!(name, shown(&out)));
}

#[test]
fn deploy_without_tag_is_a_usage_error() {
    snapshot_usage(
        "usage_deploy_missing_tag",
        &["deploy", "-a", "dogfood", "-e", "stage"],
    );
}

#[test]
fn unknown_flag_is_a_usage_error() {
    snapshot_usage("usage_unknown_flag", &["status", "--frobnicate"]);
}

#[test]
fn duration_without_unit_is_a_usage_error() {
    snapshot_usage(
        "usage_duration_without_unit",
        &[
            "deploy",
            "-a",
            "x",
            "-e",
            "stage",
            "-t",
            "v1",
            "--timeout",
            "90",
        ],
    );
}

#[test]
fn scale_pairs_and_type_flag_together_are_a_usage_error() {
    snapshot_usage(
        "usage_scale_mixed_forms",
        &[
            "scale",
            "web=3",
            "--type",
            "web",
            "--instances",
            "3",
            "-a",
            "x",
            "-e",
            "stage",
        ],
    );
}

#[test]
fn bad_color_value_is_a_usage_error() {
    snapshot_usage("usage_bad_color", &["--color", "sometimes", "version"]);
}

#[test]
fn version_prints_name_and_version_as_text_and_json() {
    let home = Home::new();
    let mut cmd = home.duncan();
    cmd.arg("version");
    let out = run(cmd);
    assert_eq!(out.code, 0);
    assert_eq!(
        out.stdout,
        format!("duncan {}\n", env!("CARGO_PKG_VERSION"))
    );
    let mut cmd = home.duncan();
    cmd.args(["version", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&run(cmd).stdout).unwrap();
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn completions_are_generated_for_bash_without_any_config() {
    let home = Home::new();
    // A malformed file must not stop completions.
    home.write_config("apps: [", 0o600);
    let mut cmd = home.duncan();
    cmd.args(["completions", "bash"]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("_duncan()"), "{}", out.stdout);
    assert!(out.stdout.contains("deploy"));
}
