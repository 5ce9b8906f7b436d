//! Day two (issue #17): interrupted and killed deploys stay in the history and `duncan watch`
//! finishes their records; rollback goes back to a release that was not rolled back from;
//! `deploy` adopts what Marathon already runs; history's durations are the deployments'.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::sims::{Sims, marathon_options};
use crate::util::{Home, deploy_args, run_async};

/// Starts `duncan ARGS` in `home`, its output piped.
fn spawn(home: &Home, args: &[&str]) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("duncan"))
        .env_clear()
        .env("HOME", home.path())
        .env("USER", "tester")
        .env("HOSTNAME", "testhost")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn duncan")
}

/// Sends `signal` (`TERM`, `KILL`, …) to `child` and returns its exit code and standard error.
async fn signal_and_wait(child: Child, signal: &str) -> (Option<i32>, String) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Polls `seen` every 20 ms, for up to 10 s.
async fn until(mut seen: impl AsyncFnMut() -> bool, what: &str) {
    for _ in 0..500 {
        if seen().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never saw {what}");
}

/// Sims where the tag `slow` takes 10 minutes to become healthy (a deploy of it runs until
/// stopped) and `broken` never does.
async fn day_two_sims() -> Sims {
    Sims::start_with(
        consul_sim::SimOptions::default(),
        marathon_options()
            .rule(
                "quay.io/myorg/dogfood:slow",
                marathon_sim::TaskOutcome::Slow(Duration::from_secs(600)),
            )
            .rule(
                "quay.io/myorg/dogfood:broken",
                marathon_sim::TaskOutcome::NeverHealthy,
            ),
    )
    .await
}

/// `duncan history --json` of dogfood/stage, newest first.
async fn history(home: &Home) -> Vec<Value> {
    let mut cmd = home.duncan();
    cmd.args(["history", "-a", "dogfood", "-e", "stage", "--json"]);
    let run = run_async(cmd).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str::<Value>(&run.stdout)
        .expect("history json")
        .as_array()
        .cloned()
        .expect("an array")
}

/// Runs `duncan ARGS` to its end.
async fn duncan(home: &Home, args: &[&str]) -> crate::util::Run {
    let mut cmd = home.duncan();
    cmd.args(args);
    run_async(cmd).await
}

/// Whether dogfood/stage's history holds a record yet.
fn has_history(sims: &Sims) -> bool {
    sims.keys_under("deploys/dogfood/stage/history/")
        .iter()
        .any(|k| !k.ends_with('/'))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_stopped_by_sigterm_is_in_history_as_interrupted_with_its_deployment() {
    let sims = day_two_sims().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&sims.config());
    let child = spawn(&home, &deploy_args("slow"));
    until(async || has_history(&sims), "the deploy's record").await;
    let running = sims.deployments().await;
    let id = running[0]["id"].as_str().expect("deployment id").to_owned();
    let (code, stderr) = signal_and_wait(child, "TERM").await;
    assert_eq!(code, Some(130), "{stderr}");

    let records = history(&home).await;
    assert_eq!(
        records.len(),
        1,
        "one record, finished in place: {records:?}"
    );
    let record = &records[0];
    assert_eq!(record["outcome"], "interrupted");
    assert_eq!(record["tag"], "slow");
    assert_eq!(record["deployment_id"], id.as_str());
    let message = record["message"].as_str().expect("a message");
    assert!(
        message.contains(&format!("Marathon is still running deployment {id}")),
        "{message}"
    );
    // Nothing was recorded as released.
    assert!(sims.key("deploys/dogfood/stage/current").is_none());

    let table = duncan(&home, &["history", "-a", "dogfood", "-e", "stage"]).await;
    assert!(table.stdout.contains("interrupted"), "{}", table.stdout);
    assert!(
        table.stderr.contains(&format!("`duncan watch {id}`")),
        "{}",
        table.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_killed_outright_leaves_an_in_progress_record_naming_its_deployment() {
    let sims = day_two_sims().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&sims.config());
    let child = spawn(&home, &deploy_args("slow"));
    until(async || has_history(&sims), "the deploy's record").await;
    let (code, _) = signal_and_wait(child, "KILL").await;
    assert_eq!(code, None, "killed by a signal");
    let id = sims.deployments().await[0]["id"]
        .as_str()
        .expect("deployment id")
        .to_owned();

    let records = history(&home).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["outcome"], "in_progress");
    assert_eq!(records[0]["deployment_id"], id.as_str());
    let table = duncan(&home, &["history", "-a", "dogfood", "-e", "stage"]).await;
    assert!(table.stdout.contains("in_progress"), "{}", table.stdout);
    assert!(
        table.stderr.contains(&format!("`duncan watch {id}`")),
        "{}",
        table.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_starts_when_the_update_was_sent_and_records_the_lock_wait_apart() {
    let sims = day_two_sims().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let alices = sims.hold_lock("dogfood", "stage", "alice").await;
    let home = Home::with_config(&sims.config());
    let mut args = deploy_args("v2").to_vec();
    args.extend(["--wait", "1m"]);
    let child = spawn(&home, &args);
    until(
        async || sims.sessions().await.len() == 2,
        "the deploy waiting for the lock",
    )
    .await;
    let released_at = time::OffsetDateTime::now_utc();
    sims.release_lock("dogfood", "stage", &alices).await;
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let records = history(&home).await;
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record["outcome"], "succeeded");
    let started = time::OffsetDateTime::parse(
        record["started_at"].as_str().expect("started_at"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("rfc3339");
    // The update could only be sent once Alice's lock was released: the wait is not in it.
    assert!(
        started >= released_at,
        "started {started} before the lock was free at {released_at}"
    );
    assert!(record["lock_wait_ms"].is_u64(), "{record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_of_the_tag_marathon_already_runs_adopts_it_as_current() {
    let sims = day_two_sims().await;
    sims.seed_group("dogfood", "stage", "v2").await;
    sims.put_key("deploys/dogfood/stage/current", "v1").await;
    let home = Home::with_config(&sims.config());

    let run = duncan(&home, &deploy_args("v2")).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("adopted v2 to dogfood/stage"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("(previous: v1)"), "{}", run.stdout);
    // The plan said what Consul recorded, not "none recorded".
    assert!(!run.stdout.contains("none recorded"), "{}", run.stdout);
    assert!(!run.stdout.contains("nothing to do"), "{}", run.stdout);
    assert_eq!(
        sims.key("deploys/dogfood/stage/current").as_deref(),
        Some("v2")
    );
    assert_eq!(
        sims.key("deploys/dogfood/stage/previous").as_deref(),
        Some("v1")
    );
    assert_eq!(sims.lock_session("dogfood", "stage").await, None);
    assert!(sims.sessions().await.is_empty(), "session left");

    let records = history(&home).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["kind"], "deploy");
    assert_eq!(records[0]["outcome"], "succeeded");
    assert_eq!(records[0]["previous"], "v1");
    assert_eq!(records[0]["message"], "adopted: Marathon already ran v2");

    // Now Consul records it: nothing to do, as before.
    let again = duncan(&home, &deploy_args("v2")).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("nothing to do"), "{}", again.stdout);
    assert!(again.stdout.contains("current:  v2"), "{}", again.stdout);
    assert_eq!(history(&home).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_deploy_over_a_group_already_running_the_tag_adopts_it_with_no_previous() {
    let sims = day_two_sims().await;
    sims.seed_group("dogfood", "stage", "v2").await;
    let home = Home::with_config(&sims.config());
    let run = duncan(&home, &deploy_args("v2")).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("(previous: none)"), "{}", run.stdout);
    assert_eq!(
        sims.key("deploys/dogfood/stage/current").as_deref(),
        Some("v2")
    );
    assert!(sims.key("deploys/dogfood/stage/previous").is_none());
}

/// The arguments of an unattended rollback of dogfood/stage, with more after them.
fn rollback_args<'a>(more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "rollback",
        "-a",
        "dogfood",
        "-e",
        "stage",
        "--skip-image-check",
    ];
    args.extend(more);
    args
}

/// dogfood/stage with v1, v2 and v3 deployed, then rolled back from v3 to v2.
async fn rolled_back_from_v3() -> (Sims, Home) {
    let sims = day_two_sims().await;
    sims.seed_group("dogfood", "stage", "v0").await;
    let home = Home::with_config(&sims.config());
    for tag in ["v1", "v2", "v3"] {
        let run = duncan(&home, &deploy_args(tag)).await;
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let back = duncan(&home, &rollback_args(&["-y"])).await;
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert_eq!(
        sims.key("deploys/dogfood/stage/current").as_deref(),
        Some("v2")
    );
    assert_eq!(
        sims.key("deploys/dogfood/stage/previous").as_deref(),
        Some("v3")
    );
    (sims, home)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_after_a_rollback_goes_to_the_release_before_not_back_to_the_undone_one() {
    let (sims, home) = rolled_back_from_v3().await;

    let run = duncan(&home, &rollback_args(&["-y"])).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    // The plan names the history entry it restores.
    assert!(
        run.stdout
            .contains("restores: v1, deployed by tester@testhost"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("warning:"), "{}", run.stdout);
    assert_eq!(
        sims.key("deploys/dogfood/stage/current").as_deref(),
        Some("v1")
    );
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_to_a_tag_that_was_rolled_back_from_names_that_before_asking() {
    let (sims, home) = rolled_back_from_v3().await;

    let plan = duncan(&home, &rollback_args(&["--to", "v3", "--dry-run"])).await;
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout
            .contains("warning: v3 was rolled back from by tester@testhost"),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("(rollback to v2"), "{}", plan.stdout);

    // Without a terminal to ask on and without --yes, nothing happens.
    let refused = duncan(&home, &rollback_args(&["--to", "v3"])).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("needs confirmation"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        sims.key("deploys/dogfood/stage/current").as_deref(),
        Some("v2")
    );

    // --yes is the answer.
    let done = duncan(&home, &rollback_args(&["--to", "v3", "-y"])).await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_eq!(
        sims.key("deploys/dogfood/stage/current").as_deref(),
        Some("v3")
    );
}

/// A deploy of `slow` killed outright once its record was written: its deployment id.
async fn killed_slow_deploy(sims: &Sims, home: &Home) -> String {
    let child = spawn(home, &deploy_args("slow"));
    until(async || has_history(sims), "the deploy's record").await;
    let (code, _) = signal_and_wait(child, "KILL").await;
    assert_eq!(code, None, "killed by a signal");
    // Its session would hold the lock until its TTL: free it as `duncan lock release` would.
    if let Some(session) = sims.lock_session("dogfood", "stage").await {
        sims.release_lock("dogfood", "stage", &session).await;
    }
    sims.deployments().await[0]["id"]
        .as_str()
        .expect("deployment id")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_follows_a_killed_deploys_deployment_and_records_its_success() {
    let sims = day_two_sims().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    sims.put_key("deploys/dogfood/stage/current", "v1").await;
    let home = Home::with_config(&sims.config());
    let id = killed_slow_deploy(&sims, &home).await;

    sims.marathon.control().clear_requests();
    let watch = spawn(&home, &["watch", &id]);
    // Once the watch has read the deployment twice (is it running? what does it install?), it
    // follows it: then it ends.
    until(
        async || {
            sims.marathon
                .control()
                .requests()
                .iter()
                .filter(|r| r.method == "GET" && r.path_and_query.starts_with("/v2/deployments"))
                .count()
                >= 2
        },
        "the watch following the deployment",
    )
    .await;
    assert!(sims.marathon.control().complete_deployment_now(&id));
    let output = tokio::task::spawn_blocking(move || watch.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains(&format!("finished deployment {id}")),
        "{stdout}"
    );
    assert!(stdout.contains("recorded as current"), "{stdout}");

    let records = history(&home).await;
    assert_eq!(records.len(), 1, "the same record, finished: {records:?}");
    assert_eq!(records[0]["outcome"], "succeeded");
    assert_eq!(records[0]["deployment_id"], id.as_str());
    assert_eq!(
        sims.key("deploys/dogfood/stage/current").as_deref(),
        Some("slow")
    );
    assert_eq!(
        sims.key("deploys/dogfood/stage/previous").as_deref(),
        Some("v1")
    );
    assert_eq!(sims.lock_session("dogfood", "stage").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_of_an_interrupted_deploy_that_ended_since_tells_it_succeeded_and_records_it() {
    let sims = day_two_sims().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&sims.config());
    let child = spawn(&home, &deploy_args("slow"));
    until(async || has_history(&sims), "the deploy's record").await;
    let id = sims.deployments().await[0]["id"]
        .as_str()
        .expect("deployment id")
        .to_owned();
    let (code, stderr) = signal_and_wait(child, "TERM").await;
    assert_eq!(code, Some(130), "{stderr}");
    assert!(sims.marathon.control().complete_deployment_now(&id));
    sims.wait_idle().await;

    let run = duncan(&home, &["watch", &id]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout
            .contains("it had ended: every app runs slow, healthy"),
        "{}",
        run.stdout
    );
    let records = history(&home).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["outcome"], "succeeded");
    assert_eq!(
        sims.key("deploys/dogfood/stage/current").as_deref(),
        Some("slow")
    );

    // Its record is finished: a second watch says what it says, and records nothing.
    let again = duncan(&home, &["watch", &id]).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.contains("its history record says succeeded"),
        "{}",
        again.stdout
    );
    assert_eq!(history(&home).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_of_a_deployment_that_ended_without_installing_the_tag_records_the_failure() {
    let sims = day_two_sims().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&sims.config());
    let id = killed_slow_deploy(&sims, &home).await;
    // Someone cancels it in Marathon, which rolls the apps back to v1.
    let cancelled = reqwest::Client::new()
        .delete(format!("{}/v2/deployments/{id}", sims.marathon_url()))
        .send()
        .await
        .expect("DELETE deployment");
    assert!(cancelled.status().is_success(), "{}", cancelled.status());
    sims.wait_idle().await;

    let run = duncan(&home, &["watch", &id]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("recorded as failed"), "{}", run.stderr);
    assert!(
        run.stderr.contains("without installing slow"),
        "{}",
        run.stderr
    );
    let records = history(&home).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["outcome"], "failed");
    assert!(sims.key("deploys/dogfood/stage/current").is_none());
    assert_eq!(sims.lock_session("dogfood", "stage").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_refuses_to_finish_a_record_while_someone_else_holds_the_lock() {
    let sims = day_two_sims().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&sims.config());
    let id = killed_slow_deploy(&sims, &home).await;
    let alices = sims.hold_lock("dogfood", "stage", "alice").await;

    let run = duncan(&home, &["watch", &id]).await;
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("alice"), "{}", run.stderr);
    assert_eq!(history(&home).await[0]["outcome"], "in_progress");
    assert_eq!(sims.lock_session("dogfood", "stage").await, Some(alices));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_of_a_deployment_unknown_to_marathon_and_history_says_so() {
    let sims = day_two_sims().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&sims.config());
    let run = duncan(&home, &["watch", "5d3e0b8a-0000-4000-8000-000000000000"]).await;
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("no history record of the configured apps names it"),
        "{}",
        run.stderr
    );
}
