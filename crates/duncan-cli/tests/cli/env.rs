//! `duncan env` and `duncan config search` with the Go tool's config file, against consul-sim.

use crate::sims::Sims;
use crate::util::{Home, go_example_config, run_async, settings, shown};

async fn go_setup() -> (Sims, Home) {
    let sims = Sims::start().await;
    let home = Home::with_config(&go_example_config(&sims.consul_url(), &sims.marathon_url()));
    (sims, home)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_get_without_key_prints_all_sorted() {
    let (sims, home) = go_setup().await;
    sims.put_key("env/dogfood/stage/ZED", "last").await;
    sims.put_key("env/dogfood/stage/ALPHA", "first").await;
    sims.put_key("env/dogfood/stage/DATABASE_URL", "postgres://db/x")
        .await;
    let mut cmd = home.duncan();
    cmd.args(["env", "get", "-a", "dogfood", "-e", "stage"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "ALPHA=first\nDATABASE_URL=postgres://db/x\nZED=last\n"
    );
    // The Go tool's flag order (flags before the subcommand) works too, and so does `list`.
    let mut cmd = home.duncan();
    cmd.args(["env", "-a", "dogfood", "-e", "stage", "list"]);
    assert_eq!(run_async(cmd).await.stdout, out.stdout);
    let mut cmd = home.duncan();
    cmd.args(["env", "get", "ZED", "-a", "dogfood", "-e", "stage"]);
    assert_eq!(run_async(cmd).await.stdout, "last\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_set_keeps_everything_after_first_equals_and_says_what_changed() {
    let (sims, home) = go_setup().await;
    sims.put_key("env/dogfood/stage/MODE", "old").await;
    let mut cmd = home.duncan();
    cmd.args([
        "env",
        "set",
        "MODE=new",
        "QUERY=a=b=c",
        "-a",
        "dogfood",
        "-e",
        "stage",
        "-y",
    ]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        sims.key("env/dogfood/stage/QUERY").as_deref(),
        Some("a=b=c")
    );
    assert_eq!(sims.key("env/dogfood/stage/MODE").as_deref(), Some("new"));
    assert!(
        !sims.keys_under("deploys/dogfood/stage/events/").is_empty(),
        "an audit event is recorded"
    );
    settings(&home).bind(|| insta::assert_snapshot!("env_set", shown(&out)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_set_without_yes_and_without_terminal_changes_nothing() {
    let (sims, home) = go_setup().await;
    let mut cmd = home.duncan();
    cmd.args(["env", "set", "MODE=new", "-a", "dogfood", "-e", "stage"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(sims.key("env/dogfood/stage/MODE").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_del_removes_variables() {
    let (sims, home) = go_setup().await;
    sims.put_key("env/dogfood/stage/GONE", "x").await;
    sims.put_key("env/dogfood/stage/KEPT", "y").await;
    let mut cmd = home.duncan();
    cmd.args(["env", "del", "GONE", "-a", "dogfood", "-e", "stage", "-y"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(sims.key("env/dogfood/stage/GONE").is_none());
    assert_eq!(sims.key("env/dogfood/stage/KEPT").as_deref(), Some("y"));
    settings(&home).bind(|| insta::assert_snapshot!("env_del", shown(&out)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_set_bad_assignment_is_a_usage_error() {
    let (sims, home) = go_setup().await;
    let mut cmd = home.duncan();
    cmd.args([
        "env", "set", "NOVALUE", "-a", "dogfood", "-e", "stage", "-y",
    ]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 2);
    assert!(sims.keys_under("env/").is_empty());
    settings(&home).bind(|| insta::assert_snapshot!("env_set_bad", shown(&out)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_search_prints_sorted_matches_under_app_env_headings() {
    let (sims, home) = go_setup().await;
    sims.put_key("env/dogfood/stage/DATABASE_URL", "postgres://stage")
        .await;
    sims.put_key("env/dogfood/stage/REDIS_URL", "redis://stage")
        .await;
    sims.put_key("env/dogfood/production/DATABASE_URL", "postgres://prod")
        .await;
    sims.put_key("env/dogfood/production/ANALYTICS_DATABASE", "warehouse")
        .await;
    sims.put_key("env/skulls/stage/PORT", "80").await;
    let mut cmd = home.duncan();
    cmd.args(["config", "search", "DATABASE"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    settings(&home).bind(|| insta::assert_snapshot!("config_search", shown(&out)));
    let mut cmd = home.duncan();
    cmd.args(["config", "search", "URL", "-e", "stage"]);
    let out = run_async(cmd).await;
    assert_eq!(
        out.stdout,
        "dogfood-stage\nDATABASE_URL=postgres://stage\nREDIS_URL=redis://stage\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_search_lists_unreadable_apps_as_skipped() {
    let sims = Sims::start_with(
        consul_sim::SimOptions::default()
            .acl_master_token("root")
            .token(
                "dogfood-only",
                vec![consul_sim::Rule::new(
                    "env/dogfood/",
                    consul_sim::Access::Write,
                )],
            ),
        crate::sims::marathon_options(),
    )
    .await;
    sims.put_key("env/dogfood/stage/DATABASE_URL", "postgres://stage")
        .await;
    sims.put_key("env/skulls/stage/DATABASE_URL", "secret")
        .await;
    let home = Home::with_config(&format!("{}consul_token: dogfood-only\n", sims.config()));
    let mut cmd = home.duncan();
    cmd.args(["config", "search", "DATABASE", "-e", "stage"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    settings(&home).bind(|| insta::assert_snapshot!("config_search_skipped", shown(&out)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_search_invalid_pattern_is_a_clear_usage_error() {
    let (_sims, home) = go_setup().await;
    let mut cmd = home.duncan();
    cmd.args(["config", "search", "(unclosed"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 2);
    settings(&home).bind(|| insta::assert_snapshot!("config_search_invalid", shown(&out)));
}
