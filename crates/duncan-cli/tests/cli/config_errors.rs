//! Mistakes in the configuration file told in the file's own terms, at their own line.

use crate::util::{Home, run};

/// Runs `status` with `yaml` as the file; returns the first line of stderr after the file's
/// name, and the hint.
fn refusal(yaml: &str) -> (String, String) {
    let home = Home::with_config(yaml);
    let mut cmd = home.duncan();
    cmd.arg("status");
    let out = run(cmd);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    let prefix = format!(
        "error: configuration file {} is malformed: ",
        home.config_path().display()
    );
    let mut lines = out.stderr.lines();
    let first = lines.next().unwrap_or_default();
    let message = first
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{}", out.stderr))
        .to_owned();
    (message, lines.next().unwrap_or_default().trim().to_owned())
}

#[test]
fn apps_as_a_string_says_it_must_be_a_list_at_its_own_line() {
    let (message, _) = refusal("consul_host: consul.example\ngithub_org: myorg\napps: shop\n");
    assert_eq!(
        message,
        "line 3, column 7: apps must be a list of names, as in `apps: [shop, cart]` or one \
         `- shop` per line, not the single word `shop` (write `apps: [shop]`)"
    );
}

#[test]
fn bad_deploy_timeout_names_its_line_and_how_to_write_a_duration() {
    let (message, _) = refusal("consul_host: consul.example\ntimeouts:\n  deploy: 10 minutes\n");
    assert_eq!(
        message,
        "line 3, column 11: timeouts.deploy: `10 minutes` is not a duration: unknown unit \
         `minutes` (use h, m, s or ms, as in 90s, 5m or 1h30m)"
    );
}

#[test]
fn a_word_where_a_list_belongs_is_said_plainly() {
    let (message, _) = refusal("consul_host: consul.example\nenvironments: stage\n");
    assert_eq!(
        message,
        "line 2, column 15: environments: a list (as in [a, b]) is needed here, not \"stage\""
    );
}
