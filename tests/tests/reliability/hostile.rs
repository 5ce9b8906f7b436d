//! Hostile input: names, tags, KEY=VALUE pairs, deployment ids and config values that are
//! traversals, slashes, spaces, unicode, control characters, empty, huge, deeply nested,
//! truncated or of the wrong type. Zero panics; every case gets a clear error and changes
//! nothing. A table of cases runs through the real binary; property tests run through
//! duncan-core's parsers. Hostile server responses are in `hostile_servers`.

use duncan_core::env_vars::parse_assignment;
use duncan_core::names::{AppEnv, AppName, EnvName, EnvVarName, Tag};
use proptest::prelude::*;

use crate::support::{Home, Run, Sims, app_env, report};

/// Ten megabytes of one character.
pub(crate) fn ten_mb() -> String {
    "A".repeat(10 * 1024 * 1024)
}

/// A clear error: exit 1 or 2, an `error:` line, and not an echo of a huge input.
pub(crate) fn assert_clear_error(case: &str, run: &Run) {
    run.assert_no_panic();
    assert!(
        run.code == 1 || run.code == 2,
        "{case}: exit {} (expected 1 or 2): {}",
        run.code,
        run.stderr.chars().take(2000).collect::<String>()
    );
    assert!(
        run.stderr.contains("error"),
        "{case}: no error line: {run:?}"
    );
    assert!(
        run.stderr.len() < 4096,
        "{case}: the error is {} bytes long",
        run.stderr.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_tags_and_pairs_are_refused_before_any_request() {
    let sims = Sims::start().await;
    let target = app_env("shop", "stage");
    sims.seed(&target, "v0", &["web"]).await;
    let home = Home::with_config(&sims.config(&["shop"]));
    let before = sims.consul.control().kv_snapshot();
    let long = "a".repeat(64);
    let long_tag = "v".repeat(129);
    let bad_names = [
        "../etc",
        "a/b",
        "/shop",
        "a b",
        "ünïcode",
        "a\u{1}b",
        "",
        "SHOP",
        "shop\n",
        "a..b",
        "%2e%2e",
        &long,
    ];
    let bad_tags = [
        "../v1", "v1/x", "", " v1", "v1\n", "ünï", "v1;rm", ".v1", "-v1", &long_tag,
    ];
    let bad_pairs = ["=x", "A B=1", "../K=1", "K", "K\u{1}=1", "ü=1", "a/b=1"];
    let bad_scales = [
        "web=-1",
        "web=99999999999999999999",
        "../web=1",
        "web",
        "=3",
    ];
    let mut cases: Vec<(String, Vec<String>)> = Vec::new();
    let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    for name in bad_names {
        cases.push((
            format!("app {name:?}"),
            owned(&[
                "deploy",
                "-a",
                name,
                "-e",
                "stage",
                "-t",
                "v1",
                "-y",
                "--skip-image-check",
            ]),
        ));
        cases.push((
            format!("env {name:?}"),
            owned(&[
                "deploy",
                "-a",
                "shop",
                "-e",
                name,
                "-t",
                "v1",
                "-y",
                "--skip-image-check",
            ]),
        ));
        cases.push((
            format!("lock status app {name:?}"),
            owned(&["lock", "status", "-a", name, "-e", "stage"]),
        ));
        cases.push((
            format!("history env {name:?}"),
            owned(&["history", "-a", "shop", "-e", name]),
        ));
    }
    for tag in bad_tags {
        cases.push((
            format!("tag {tag:?}"),
            owned(&[
                "deploy",
                "-a",
                "shop",
                "-e",
                "stage",
                "-t",
                tag,
                "-y",
                "--skip-image-check",
            ]),
        ));
    }
    for pair in bad_pairs {
        cases.push((
            format!("env set {pair:?}"),
            owned(&["env", "set", pair, "-a", "shop", "-e", "stage", "-y"]),
        ));
    }
    for rule in bad_scales {
        cases.push((
            format!("scale {rule:?}"),
            owned(&["scale", rule, "-a", "shop", "-e", "stage", "-y"]),
        ));
    }
    sims.consul.control().clear_requests();
    sims.marathon.control().clear_requests();
    for (case, args) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = home.run(&args, &[]).await;
        assert_clear_error(case, &run);
        assert_eq!(
            sims.consul.control().request_count(),
            0,
            "{case}: Consul was asked: {run:?}"
        );
        assert_eq!(
            sims.marathon.control().requests().len(),
            0,
            "{case}: Marathon was asked: {run:?}"
        );
    }
    assert_eq!(sims.consul.control().kv_snapshot(), before);
    report(
        "hostile names, tags, KEY=VALUE and scale pairs (CLI)",
        cases.len(),
        "pass",
        &format!(
            "{} cases: 0 panics, each a one-line error with exit 1 or 2, 0 requests sent",
            cases.len()
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_config_files_are_refused_clearly() {
    let sims = Sims::start().await;
    let good = sims.config(&["shop"]);
    // 2,000 levels: far past the YAML parser's recursion limit. (At 100,000 levels serde_yaml
    // takes about a minute to refuse the file: see RELIABILITY.md.)
    let nested = format!("apps: {}{}\n", "[".repeat(2_000), "]".repeat(2_000));
    let cases: Vec<(&str, String)> = vec![
        ("truncated YAML", "apps: [shop\nconsul_url: ".to_owned()),
        ("wrong type for apps", format!("{good}environments: 5\n")),
        ("deeply nested YAML", nested),
        ("bad consul_url", "consul_url: \"ht!tp://x y\"\n".to_owned()),
        (
            "traversal in environments",
            format!("{good}environments: [\"../x\"]\n"),
        ),
        (
            "bad duration",
            format!("{good}timeouts:\n  deploy: forever\n"),
        ),
        ("10 MB value", format!("{good}github_org: {}\n", ten_mb())),
        ("binary garbage", "\u{0}\u{1}\u{2}\u{fffd}: [:\n".to_owned()),
        (
            "control characters",
            "consul_url: \"\u{7}\u{8}\"\n".to_owned(),
        ),
    ];
    let home = Home::with_config(&good);
    let mut refused = 0;
    let mut slowest = std::time::Duration::ZERO;
    for (case, yaml) in &cases {
        home.write_config(yaml, 0o600);
        sims.consul.control().clear_requests();
        let started = std::time::Instant::now();
        let run = home
            .run(&["history", "-a", "shop", "-e", "stage"], &[])
            .await;
        slowest = slowest.max(started.elapsed());
        run.assert_no_panic();
        assert!(
            run.stderr.len() < 4096,
            "{case}: {} bytes of stderr",
            run.stderr.len()
        );
        // A huge but well-formed value is a legal config; everything else must be refused.
        if *case != "10 MB value" {
            assert_clear_error(case, &run);
            refused += 1;
        }
    }
    // Hostile names under `apps` are refused before any request is built from them.
    home.write_config(&sims.config(&["../etc", "shop/x"]), 0o600);
    sims.consul.control().clear_requests();
    let status = home.run(&["status"], &[]).await;
    assert_clear_error("traversal under apps", &status);
    assert!(
        status.stderr.contains("../etc"),
        "names the bad app: {status:?}"
    );
    assert_eq!(sims.consul.control().request_count(), 0, "{status:?}");
    report(
        "hostile config files",
        cases.len(),
        "pass",
        &format!(
            "{} files: 0 panics; {refused} refused with one clear line; a 10 MB value is read \
             without echoing it; slowest {:.1} s",
            cases.len(),
            slowest.as_secs_f64()
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_megabyte_env_value_is_refused_and_changes_nothing() {
    let sims = Sims::start().await;
    let target = app_env("shop", "stage");
    let ctx = sims.ctx("tester");
    let name: EnvVarName = "BIG".parse().expect("name");
    let result = duncan_core::env_vars::set(
        &ctx.consul,
        &target,
        &ctx.settings.deployer,
        &[(name, ten_mb())],
        100,
    )
    .await;
    let error = result.expect_err("Consul refuses values over 512 KiB");
    let message = error.to_string();
    assert!(message.len() < 1024, "the error does not echo the value");
    assert!(
        sims.consul.control().kv_snapshot().is_empty(),
        "nothing written"
    );
    report(
        "10 MB environment value",
        1,
        "pass",
        "refused with a short error; nothing written",
    );
}

fn key_is_confined(app_env: &AppEnv) -> bool {
    let prefix = format!("deploys/{}/{}/", app_env.app, app_env.env);
    [
        app_env.current_key(),
        app_env.previous_key(),
        app_env.lock_key(),
        app_env.acl_check_key(),
        app_env.history_key(u64::MAX),
        app_env.event_key(0),
    ]
    .iter()
    .all(|k| k.starts_with(&prefix) && !k.contains("..") && !k.contains("//"))
        && app_env.group_id().as_str() == format!("/{}-{}", app_env.app, app_env.env)
}

/// Runs one property over `cases` random inputs; returns the failure, if any.
fn check<S: Strategy>(
    cases: u32,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> Option<String>
where
    S::Value: std::fmt::Debug,
{
    let config = ProptestConfig {
        // The seed is not replayed from files: the failure message holds the minimal input.
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases)
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    runner.run(&strategy, property).err().map(|e| e.to_string())
}

#[test]
fn parsers_keep_names_confined_and_never_panic_on_random_input() {
    let cases: u32 = crate::support::pick(256, 4096);
    let failures: Vec<String> = [
        // Any text as app and env: confined keys, or refused.
        check(
            cases,
            ("\\PC{0,80}", "\\PC{0,80}"),
            |(app, env): (String, String)| {
                if let Ok(parsed) = AppEnv::parse(&app, &env) {
                    prop_assert!(key_is_confined(&parsed), "{parsed:?}");
                }
                Ok(())
            },
        ),
        // Name-like text with the dangerous characters: confined keys, or a stated refusal.
        check(
            cases,
            ("[a-z0-9./ _-]{0,70}", "[a-zA-Z0-9./%-]{0,70}"),
            |(app, env): (String, String)| {
                match AppEnv::parse(&app, &env) {
                    Ok(parsed) => prop_assert!(key_is_confined(&parsed), "{parsed:?}"),
                    Err(error) => prop_assert!(!error.to_string().is_empty()),
                }
                Ok(())
            },
        ),
        // Tags and variable names never hold a path.
        check(cases, "\\PC{0,200}", |text: String| {
            if let Ok(tag) = text.parse::<Tag>() {
                prop_assert!(!tag.as_str().contains('/') && !tag.as_str().is_empty());
            }
            if let Ok(name) = text.parse::<EnvVarName>() {
                prop_assert!(!name.as_str().contains('/') && !name.as_str().contains(".."));
            }
            let _ = text.parse::<AppName>();
            let _ = text.parse::<EnvName>();
            Ok(())
        }),
        // KEY=VALUE keeps everything after the first `=` as the value.
        check(cases, "\\PC{0,200}", |text: String| {
            if let Ok((name, value)) = parse_assignment(&text) {
                let (before, after) = text.split_once('=').unwrap_or_default();
                prop_assert_eq!(name.as_str(), before);
                prop_assert_eq!(value.as_str(), after);
            }
            Ok(())
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    report(
        "property tests: names, tags, variable names, KEY=VALUE",
        4 * cases as usize,
        if failures.is_empty() { "pass" } else { "FAIL" },
        &format!(
            "{} random inputs over 4 properties: {} failures, 0 panics; accepted app/envs keep \
             every key under deploys/{{app}}/{{env}}/",
            4 * cases,
            failures.len()
        ),
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_deployment_ids_never_reach_a_url() {
    let sims = Sims::start().await;
    let home = Home::with_config(&sims.config(&["shop"]));
    let ids = [
        "../apps",
        "..%2F..%2Fv2%2Fapps",
        "x?force=true",
        "a b",
        "ü",
        "x/../../y",
    ];
    for id in ids {
        sims.marathon.control().clear_requests();
        let run = home.run(&["watch", id, "--timeout", "2s"], &[]).await;
        run.assert_no_panic();
        assert_ne!(run.code, 0, "{id:?}: {run:?}");
        for request in sims.marathon.control().requests() {
            let path = request.path_and_query;
            assert!(
                !path.contains("..") && !path.contains("force") && !path.contains("/v2/apps"),
                "{id:?} reached a URL: {path}"
            );
        }
        assert_eq!(sims.marathon_writes(), 0, "{id:?}: a watch only reads");
    }
    report(
        "hostile deployment ids given to duncan watch",
        ids.len(),
        "pass",
        "0 panics, refused, never part of a URL, 0 writes",
    );
}
