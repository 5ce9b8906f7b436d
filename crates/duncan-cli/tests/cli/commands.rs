//! status, history, lock, scale and watch against both simulators.

use std::time::Duration;

use serde_json::json;

use crate::sims::Sims;
use crate::util::{
    Home, deploy_args, go_example_config, run_async, settings, settings_with_durations, shown,
};

async fn deployed() -> (Sims, Home) {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    sims.put_key("deploys/dogfood/stage/current", "v1").await;
    let home = Home::with_config(&sims.config());
    let mut cmd = home.duncan();
    cmd.args(deploy_args("v2"));
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    (sims, home)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_every_configured_app_and_environment() {
    let (sims, home) = deployed().await;
    sims.seed_group("dogfood", "production", "v1").await;
    let mut cmd = home.duncan();
    cmd.arg("status");
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    settings(&home).bind(|| insta::assert_snapshot!("status_all", shown(&out)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_of_one_app_env_as_json() {
    let (_sims, home) = deployed().await;
    let mut cmd = home.duncan();
    cmd.args(["list", "-a", "dogfood", "-e", "stage", "--json"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(json[0]["current"], "v2");
    assert_eq!(json[0]["drift"]["state"], "in_sync");
    settings(&home).bind(|| {
        insta::assert_json_snapshot!("status_json", json, {
            "[].apps[].version" => "[VERSION]",
        })
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_of_unknown_app_is_one_clear_line() {
    let (_sims, home) = deployed().await;
    let mut cmd = home.duncan();
    // Configured, so that Marathon is asked (an app not configured is refused before that).
    cmd.args(["status", "-a", "nosuchapp", "-e", "stage"])
        .env("DUNCAN_APPS", "dogfood,nosuchapp");
    let out = run_async(cmd).await;
    assert_eq!(out.code, 1);
    settings(&home).bind(|| insta::assert_snapshot!("status_unknown_app", shown(&out)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_lists_releases_newest_first() {
    let (_sims, home) = deployed().await;
    let mut cmd = home.duncan();
    cmd.args(["history", "-a", "dogfood", "-e", "stage"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    settings_with_durations(&home).bind(|| insta::assert_snapshot!("history_table", shown(&out)));
    let mut cmd = home.duncan();
    cmd.args([
        "history", "-a", "dogfood", "-e", "stage", "--json", "--limit", "1",
    ]);
    let out = run_async(cmd).await;
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(json.as_array().map(Vec::len), Some(1));
    assert_eq!(json[0]["tag"], "v2");
    assert_eq!(json[0]["outcome"], "succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_of_never_deployed_app_says_so() {
    let sims = Sims::start().await;
    let home = Home::with_config(&sims.config());
    let mut cmd = home.duncan();
    cmd.args(["history", "-a", "skulls", "-e", "stage"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "no releases recorded for skulls/stage\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_status_names_holder_and_release_frees_it() {
    let sims = Sims::start().await;
    let home = Home::with_config(&sims.config());
    let mut cmd = home.duncan();
    cmd.args(["lock", "status", "-a", "dogfood", "-e", "stage"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "dogfood/stage is free\n");

    sims.hold_lock("dogfood", "stage", "alice").await;
    let mut cmd = home.duncan();
    cmd.args(["lock", "status", "-a", "dogfood", "-e", "stage"]);
    let out = run_async(cmd).await;
    assert!(
        out.stdout
            .contains("locked by alice@otherhost (pid 4242) deploying v9"),
        "{}",
        out.stdout
    );

    let mut cmd = home.duncan();
    cmd.args(["lock", "release", "-a", "dogfood", "-e", "stage"]);
    let out = run_async(cmd).await;
    assert_eq!(
        out.code, 2,
        "release without --yes and without a terminal must refuse: {}",
        out.stderr
    );

    let mut cmd = home.duncan();
    cmd.args(["lock", "release", "-a", "dogfood", "-e", "stage", "--yes"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("released"), "{}", out.stdout);
    let mut cmd = home.duncan();
    cmd.args(["lock", "status", "-a", "dogfood", "-e", "stage", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&run_async(cmd).await.stdout).expect("JSON");
    assert_eq!(json["held"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_go_form_changes_instances_in_one_deployment() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&go_example_config(&sims.consul_url(), &sims.marathon_url()));
    let mut cmd = home.duncan();
    cmd.args([
        "scale", "web=3", "worker=2", "-a", "dogfood", "-e", "stage", "-f",
    ]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(sims.instances("/dogfood-stage/web").await, 3);
    assert_eq!(sims.instances("/dogfood-stage/worker").await, 2);
    settings(&home).bind(|| insta::assert_snapshot!("scale_go_form", out.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_flag_form_changes_one_type() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&sims.config());
    let mut cmd = home.duncan();
    cmd.args([
        "scale",
        "--type",
        "web",
        "--instances",
        "1",
        "-a",
        "dogfood",
        "-e",
        "stage",
        "--yes",
        "--json",
    ]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(
        json["changes"][0],
        json!({"app_id": "/dogfood-stage/web", "app_type": "web", "from": 2, "to": 1})
    );
    assert_eq!(sims.instances("/dogfood-stage/web").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_unknown_type_names_the_types_and_changes_nothing() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&sims.config());
    let mut cmd = home.duncan();
    cmd.args(["scale", "cron=1", "-a", "dogfood", "-e", "stage", "-y"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(sims.instances("/dogfood-stage/web").await, 2);
    settings(&home).bind(|| insta::assert_snapshot!("scale_unknown_type", shown(&out)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_bad_pair_is_a_usage_error() {
    let sims = Sims::start().await;
    let home = Home::with_config(&sims.config());
    let mut cmd = home.duncan();
    cmd.args(["scale", "web=lots", "-a", "dogfood", "-e", "stage", "-y"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 2);
    settings(&home).bind(|| insta::assert_snapshot!("scale_bad_pair", shown(&out)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_follows_a_running_deployment_to_its_end() {
    let sims = crate::sims::Sims::start_with(
        consul_sim::SimOptions::default(),
        crate::sims::marathon_options().rule(
            "quay.io/myorg/dogfood:slow",
            marathon_sim::TaskOutcome::Slow(Duration::from_millis(400)),
        ),
    )
    .await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let id = sims
        .start_image_change("/dogfood-stage", "quay.io/myorg/dogfood:slow")
        .await;
    let home = Home::with_config(&sims.config());
    let mut cmd = home.duncan();
    cmd.args(["watch", &id]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, format!("finished deployment {id}\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_of_unknown_deployment_is_one_clear_line() {
    let sims = Sims::start().await;
    let home = Home::with_config(&sims.config());
    let mut cmd = home.duncan();
    cmd.args(["watch", "0000-no-such-deployment"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 1);
    settings(&home).bind(|| insta::assert_snapshot!("watch_unknown", shown(&out)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_works_with_the_go_example_config() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "production", "v7").await;
    sims.put_key("deploys/dogfood/production/current", "v7")
        .await;
    let home = Home::with_config(&go_example_config(&sims.consul_url(), &sims.marathon_url()));
    let mut cmd = home.duncan();
    cmd.args(["list", "-e", "production"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    settings(&home).bind(|| insta::assert_snapshot!("list_go_config", shown(&out)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn colour_always_paints_production_red_and_json_never_colours() {
    let (sims, home) = deployed().await;
    sims.seed_group("dogfood", "production", "v1").await;
    let mut cmd = home.duncan();
    cmd.args(["status", "-a", "dogfood", "--color", "always"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("\u{1b}[1m\u{1b}[31mproduction"),
        "{:?}",
        out.stdout
    );
    assert!(
        out.stdout.contains("\u{1b}[1m\u{1b}[32mstage"),
        "{:?}",
        out.stdout
    );
    let mut cmd = home.duncan();
    cmd.args(["status", "-a", "dogfood", "--color", "always", "--json"]);
    let out = run_async(cmd).await;
    assert!(!out.stdout.contains('\u{1b}'), "{}", out.stdout);
    let mut cmd = home.duncan();
    cmd.args(["status", "-a", "dogfood"]).env("NO_COLOR", "1");
    assert!(!run_async(cmd).await.stdout.contains('\u{1b}'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_variables_beat_the_file() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    // The file points at nothing; the environment at the sims.
    let home = Home::with_config(
        "consul_host: http://127.0.0.1:9\nmarathon_host: http://127.0.0.1:9\napps: [dogfood]\n",
    );
    let mut cmd = home.duncan();
    cmd.args(["status", "-e", "stage"])
        .env("CONSUL_HTTP_ADDR", sims.consul_url())
        .env("MARATHON_URL", sims.marathon_url())
        .env("DUNCAN_DOCKER_REPO_PREFIX", "quay.io/myorg");
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("web"), "{}", out.stdout);
    // And a flag beats the environment.
    let mut cmd = home.duncan();
    cmd.args([
        "status",
        "-e",
        "stage",
        "--marathon-url",
        "http://127.0.0.1:9",
    ])
    .env("CONSUL_HTTP_ADDR", sims.consul_url())
    .env("MARATHON_URL", sims.marathon_url());
    let out = run_async(cmd).await;
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stderr
            .contains("cannot reach Marathon at http://127.0.0.1:9"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("flag --marathon-url"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_flag_reads_another_file() {
    let sims = Sims::start().await;
    let home = Home::new();
    let path = home.path().join("team.yml");
    std::fs::write(&path, sims.config()).expect("write");
    let mut cmd = home.duncan();
    cmd.args([
        "--config",
        path.to_str().expect("utf-8 path"),
        "lock",
        "status",
        "-a",
        "skulls",
        "-e",
        "stage",
    ]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "skulls/stage is free\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_json_prints_progress_as_json_lines() {
    let sims = crate::sims::Sims::start_with(
        consul_sim::SimOptions::default(),
        crate::sims::marathon_options().rule(
            "quay.io/myorg/dogfood:slow",
            marathon_sim::TaskOutcome::Slow(Duration::from_millis(300)),
        ),
    )
    .await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let id = sims
        .start_image_change("/dogfood-stage", "quay.io/myorg/dogfood:slow")
        .await;
    let home = Home::with_config(&sims.config());
    let mut cmd = home.duncan();
    cmd.args(["watch", &id, "--json"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    let last = lines.last().expect("a result line");
    assert_eq!(last["result"], "succeeded");
    assert_eq!(last["deployment_id"], id.as_str());
    assert!(
        lines.iter().any(|l| l["progress"] == "app_health"),
        "{}",
        out.stdout
    );
}
