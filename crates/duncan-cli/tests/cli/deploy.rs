//! `duncan deploy` and `duncan rollback` against both simulators.

use crate::sims::Sims;
use crate::util::{Home, deploy_args, go_example_config, run_async, settings, shown};

async fn seeded() -> (Sims, Home) {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    sims.put_key("deploys/dogfood/stage/current", "v1").await;
    let home = Home::with_config(&sims.config());
    (sims, home)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_with_yes_prints_plan_deploys_and_records_release() {
    let (sims, home) = seeded().await;
    let mut cmd = home.duncan();
    cmd.args([
        "deploy",
        "-a",
        "dogfood",
        "-e",
        "stage",
        "-t",
        "v2",
        "--yes",
        "--skip-image-check",
    ]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v2")
    );
    assert_eq!(
        sims.image("/dogfood-stage/worker").as_deref(),
        Some("quay.io/myorg/dogfood:v2")
    );
    assert_eq!(
        sims.key("deploys/dogfood/stage/current").as_deref(),
        Some("v2")
    );
    assert_eq!(
        sims.key("deploys/dogfood/stage/previous").as_deref(),
        Some("v1")
    );
    assert_eq!(sims.keys_under("deploys/dogfood/stage/history/").len(), 1);
    assert!(out.stderr.contains("started"), "{}", out.stderr);
    // Only stdout is pinned: stderr carries progress, whose wording belongs to duncan-core.
    settings(&home).bind(|| insta::assert_snapshot!("deploy_yes", out.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_go_force_flag_works_with_go_example_config() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    sims.put_key("deploys/dogfood/stage/current", "v1").await;
    let marathon_base = sims.marathon_url();
    let home = Home::with_config(&go_example_config(&sims.consul_url(), &marathon_base));
    let mut cmd = home.duncan();
    cmd.args([
        "deploy",
        "-a",
        "dogfood",
        "-e",
        "stage",
        "-t",
        "v2",
        "-f",
        "--skip-image-check",
    ]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v2")
    );
    assert!(
        out.stdout
            .contains("https://github.com/myorg/dogfood-repo/compare/"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_without_yes_and_without_terminal_asks_for_yes_and_changes_nothing() {
    let (sims, home) = seeded().await;
    let mut cmd = home.duncan();
    cmd.args([
        "deploy",
        "-a",
        "dogfood",
        "-e",
        "stage",
        "-t",
        "v2",
        "--skip-image-check",
    ]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 2);
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v1")
    );
    settings(&home).bind(|| insta::assert_snapshot!("deploy_needs_yes", shown(&out)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_shows_plan_and_changes_nothing() {
    let (sims, home) = seeded().await;
    let mut cmd = home.duncan();
    cmd.args([
        "deploy",
        "-a",
        "dogfood",
        "-e",
        "stage",
        "-t",
        "v2",
        "--dry-run",
        "--skip-image-check",
    ]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v1")
    );
    assert_eq!(
        sims.key("deploys/dogfood/stage/current").as_deref(),
        Some("v1")
    );
    settings(&home).bind(|| insta::assert_snapshot!("deploy_dry_run", shown(&out)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploying_the_running_tag_is_nothing_to_do() {
    let (_sims, home) = seeded().await;
    let mut cmd = home.duncan();
    cmd.args(deploy_args("v1"));
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("nothing to do"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_json_prints_one_document() {
    let (_sims, home) = seeded().await;
    let mut cmd = home.duncan();
    cmd.args(deploy_args("v2")).args(["--json"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    assert_eq!(json["outcome"]["result"], "deployed");
    assert_eq!(json["plan"]["tag"], "v2");
    settings(&home).bind(|| {
        insta::assert_json_snapshot!("deploy_json", json, {
            ".outcome.deployment_id" => "[ID]",
            ".plan.changes[].app_id" => insta::dynamic_redaction(|v, _| v),
        })
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_app_is_one_clear_line() {
    let (_sims, home) = seeded().await;
    let mut cmd = home.duncan();
    cmd.args([
        "deploy",
        "-a",
        "nosuchapp",
        "-e",
        "stage",
        "-t",
        "v2",
        "-y",
        "--skip-image-check",
    ])
    // Configured, so that Marathon is asked (an app not configured is refused before that).
    .env("DUNCAN_APPS", "dogfood,nosuchapp");
    let out = run_async(cmd).await;
    assert_eq!(out.code, 1);
    settings(&home).bind(|| insta::assert_snapshot!("deploy_unknown_app", shown(&out)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tag_is_a_usage_error_and_nothing_is_asked() {
    let (sims, home) = seeded().await;
    sims.marathon.control().clear_requests();
    let mut cmd = home.duncan();
    cmd.args([
        "deploy", "-a", "dogfood", "-e", "stage", "-t", "v1/../x", "-y",
    ]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 2);
    assert!(sims.marathon.control().requests().is_empty());
    settings(&home).bind(|| insta::assert_snapshot!("deploy_bad_tag", shown(&out)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_outside_the_list_is_a_usage_error() {
    let (_sims, home) = seeded().await;
    let mut cmd = home.duncan();
    cmd.args(["deploy", "-a", "dogfood", "-e", "qa", "-t", "v2", "-y"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 2);
    settings(&home).bind(|| insta::assert_snapshot!("deploy_env_not_allowed", shown(&out)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_held_by_other_reports_holder_and_exits_3() {
    let (sims, home) = seeded().await;
    sims.hold_lock("dogfood", "stage", "alice").await;
    let mut cmd = home.duncan();
    cmd.args(deploy_args("v2"));
    let out = run_async(cmd).await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("alice@otherhost"), "{}", out.stderr);
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_deploy_is_rolled_back_and_exits_4() {
    let sims = Sims::start_with(
        consul_sim::SimOptions::default(),
        crate::sims::marathon_options().rule(
            "quay.io/myorg/dogfood:bad",
            marathon_sim::TaskOutcome::NeverHealthy,
        ),
    )
    .await;
    sims.seed_group("dogfood", "stage", "v1").await;
    sims.put_key("deploys/dogfood/stage/current", "v1").await;
    let home = Home::with_config(&sims.config());
    let mut cmd = home.duncan();
    cmd.args(deploy_args("bad")).args(["--timeout", "1s"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v1")
    );
    assert_eq!(
        sims.key("deploys/dogfood/stage/current").as_deref(),
        Some("v1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_deploy_with_no_rollback_exits_5() {
    let sims = Sims::start_with(
        consul_sim::SimOptions::default(),
        crate::sims::marathon_options().rule(
            "quay.io/myorg/dogfood:bad",
            marathon_sim::TaskOutcome::NeverHealthy,
        ),
    )
    .await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&sims.config());
    let mut cmd = home.duncan();
    cmd.args(deploy_args("bad"))
        .args(["--timeout", "1s", "--no-rollback"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:bad")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_without_rights_is_not_allowed_and_exits_7() {
    let sims = Sims::start_with(
        consul_sim::SimOptions::default()
            .acl_master_token("root")
            .token(
                "other-team",
                vec![consul_sim::Rule::new(
                    "deploys/skulls/",
                    consul_sim::Access::Write,
                )],
            ),
        crate::sims::marathon_options(),
    )
    .await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&format!("{}consul_token: other-team\n", sims.config()));
    let mut cmd = home.duncan();
    cmd.args(deploy_args("v2"));
    let out = run_async(cmd).await;
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(
        !out.stderr.contains("other-team"),
        "the token must never be printed: {}",
        out.stderr
    );
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_consul_is_one_clear_line_and_nothing_changes() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&format!(
        "consul_url: http://127.0.0.1:9\nmarathon_url: {}\ndocker_repo_prefix: quay.io/myorg\n",
        sims.marathon_url()
    ));
    let mut cmd = home.duncan();
    cmd.args(deploy_args("v2"));
    let out = run_async(cmd).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v1")
    );
    assert_eq!(out.stderr.lines().count(), 2, "{}", out.stderr);
    settings(&home).bind(|| insta::assert_snapshot!("deploy_consul_unreachable", shown(&out)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_marathon_is_one_clear_line() {
    let sims = Sims::start().await;
    let home = Home::with_config(&format!(
        "consul_url: {}\nmarathon_url: http://127.0.0.1:9\ndocker_repo_prefix: quay.io/myorg\n",
        sims.consul_url()
    ));
    let mut cmd = home.duncan();
    cmd.args(deploy_args("v2"));
    let out = run_async(cmd).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(sims.keys_under("deploys/").is_empty());
    settings(&home).bind(|| insta::assert_snapshot!("deploy_marathon_unreachable", shown(&out)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_goes_back_to_previous_tag() {
    let (sims, home) = seeded().await;
    let mut cmd = home.duncan();
    cmd.args(deploy_args("v2"));
    assert_eq!(run_async(cmd).await.code, 0);
    let mut cmd = home.duncan();
    cmd.args([
        "rollback",
        "-a",
        "dogfood",
        "-e",
        "stage",
        "-y",
        "--skip-image-check",
    ]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v1")
    );
    assert_eq!(
        sims.key("deploys/dogfood/stage/current").as_deref(),
        Some("v1")
    );
    settings(&home).bind(|| insta::assert_snapshot!("rollback_previous", out.stdout));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_without_previous_tag_says_so() {
    let (sims, home) = seeded().await;
    let mut cmd = home.duncan();
    cmd.args(["rollback", "-a", "dogfood", "-e", "stage", "-y"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v1")
    );
    settings(&home).bind(|| insta::assert_snapshot!("rollback_no_previous", shown(&out)));
}

/// A Go-tool user's day, with their `~/.duncan.yml` unchanged: deploy, look, roll back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_user_deploys_checks_history_and_rolls_back_with_the_go_config() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "production", "v1").await;
    sims.put_key("deploys/dogfood/production/current", "v1")
        .await;
    let home = Home::with_config(&go_example_config(&sims.consul_url(), &sims.marathon_url()));
    let step = |args: &[&str]| {
        let mut cmd = home.duncan();
        cmd.args(args);
        cmd
    };
    let out = run_async(step(&[
        "deploy",
        "-a",
        "dogfood",
        "-e",
        "production",
        "-t",
        "v2",
        "-f",
        "--skip-image-check",
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run_async(step(&["list", "-a", "dogfood", "-e", "production"])).await;
    assert!(out.stdout.contains("v2"), "{}", out.stdout);
    let out = run_async(step(&["history", "-a", "dogfood", "-e", "production"])).await;
    assert!(out.stdout.contains("succeeded"), "{}", out.stdout);
    let out = run_async(step(&[
        "rollback",
        "-a",
        "dogfood",
        "-e",
        "production",
        "-f",
        "--skip-image-check",
    ]))
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        sims.image("/dogfood-production/web").as_deref(),
        Some("quay.io/myorg/dogfood:v1")
    );
    assert_eq!(
        sims.key("deploys/dogfood/production/current").as_deref(),
        Some("v1")
    );
    assert_eq!(
        sims.key("deploys/dogfood/production/previous").as_deref(),
        Some("v2")
    );
    let out = run_async(step(&[
        "history",
        "-a",
        "dogfood",
        "-e",
        "production",
        "--json",
    ]))
    .await;
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(json[0]["kind"], "rollback");
    assert_eq!(json[1]["kind"], "deploy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_failure_is_also_a_document_on_stdout() {
    let (_sims, home) = seeded().await;
    let mut cmd = home.duncan();
    cmd.args([
        "deploy",
        "-a",
        "nosuchapp",
        "-e",
        "stage",
        "-t",
        "v2",
        "-y",
        "--skip-image-check",
        "--json",
    ])
    // Configured, so that Marathon is asked (an app not configured is refused before that).
    .env("DUNCAN_APPS", "dogfood,nosuchapp");
    let out = run_async(cmd).await;
    assert_eq!(out.code, 1);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).expect("one JSON document");
    assert_eq!(json["error"]["exit_code"], 1);
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("/nosuchapp-stage")),
        "{json}"
    );
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
}
