//! Consul failing under the real `duncan` binary: unreachable, slow, 500s, 429s, a leader
//! change that sends the index backwards, a session invalidated by the server. Each case checks
//! what the user sees (message and exit code) and that nothing was lost or half-written.

use std::time::Duration;

use duncan_core::names::AppEnv;
use duncan_core::release::Outcome;
use marathon_sim::TaskOutcome;

use crate::support::{Home, Run, Sims, app_env, deploy_args, marathon_options, report};

/// Both sims, `shop/stage` seeded on `v0`, and a home configured for them.
async fn setup() -> (Sims, AppEnv, Home) {
    let sims = Sims::start_with(
        consul_sim::SimOptions::default(),
        marathon_options()
            .rule("*:slow", TaskOutcome::Slow(Duration::from_secs(3600)))
            .rule("*:broken", TaskOutcome::NeverHealthy),
    )
    .await;
    let target = app_env("shop", "stage");
    sims.seed(&target, "v0", &["web", "worker"]).await;
    let home = Home::with_config(&sims.config(&["shop"]));
    (sims, target, home)
}

/// The deploy succeeded and Consul recorded exactly it.
fn assert_released(sims: &Sims, target: &AppEnv, run: &Run, tag: &str) {
    run.assert_no_panic();
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(sims.kv(&target.current_key()).as_deref(), Some(tag));
    assert_eq!(sims.kv(&target.previous_key()).as_deref(), Some("v0"));
    let history = sims.history(target);
    assert_eq!(history.len(), 1, "one history record: {history:?}");
    assert!(history.iter().all(|r| r.outcome == Outcome::Succeeded));
}

/// The deploy failed before touching anything.
fn assert_untouched(sims: &Sims, target: &AppEnv, run: &Run, before: &[(String, String)]) {
    run.assert_no_panic();
    assert_eq!(sims.deploy_state(), before, "Consul changed: {run:?}");
    assert_eq!(
        sims.marathon_writes(),
        0,
        "Marathon was written to: {run:?}"
    );
    assert!(sims.history(target).is_empty());
}

/// The seeding's Marathon requests are forgotten, so `marathon_writes` counts the deploy's.
fn forget_seeding(sims: &Sims) {
    sims.marathon.control().clear_requests();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_unreachable_is_one_clear_line_and_nothing_changes() {
    let (sims, target, home) = setup().await;
    forget_seeding(&sims);
    let before = sims.deploy_state();
    let mut args = deploy_args("shop", "stage", "v1");
    args.extend(["--consul-url", "http://127.0.0.1:1"]);
    let run = home.run(&args, &[]).await;
    assert_untouched(&sims, &target, &run, &before);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("Consul"), "{run:?}");
    assert!(
        run.stderr.contains("127.0.0.1:1"),
        "names the address: {run:?}"
    );
    report(
        "Consul unreachable",
        1,
        "pass",
        "exit 1, one line naming Consul and its address; nothing written",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consul_within_the_timeout_still_deploys() {
    let (sims, target, home) = setup().await;
    sims.consul
        .control()
        .set_latency(Duration::from_millis(300));
    let run = home.run(&deploy_args("shop", "stage", "v1"), &[]).await;
    assert_released(&sims, &target, &run, "v1");
    report(
        "Consul slow (300 ms per request)",
        1,
        "pass",
        "exit 0, release recorded once",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_slower_than_the_request_timeout_fails_cleanly_before_any_change() {
    let (sims, target, home) = setup().await;
    forget_seeding(&sims);
    let before = sims.deploy_state();
    sims.consul.control().set_latency(Duration::from_secs(2));
    let run = home
        .run(
            &deploy_args("shop", "stage", "v1"),
            &[("DUNCAN_REQUEST_TIMEOUT", "500ms")],
        )
        .await;
    sims.consul.control().set_latency(Duration::ZERO);
    assert_untouched(&sims, &target, &run, &before);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("Consul"), "{run:?}");
    report(
        "Consul slower than the request timeout (2 s vs 500 ms)",
        1,
        "pass",
        "exit 1, Consul named; nothing written",
    );
}

async fn transient_errors_are_retried(status: u16) {
    let (sims, target, home) = setup().await;
    sims.consul.control().fail_next(2, status);
    let run = home.run(&deploy_args("shop", "stage", "v1"), &[]).await;
    assert_released(&sims, &target, &run, "v1");
}

async fn persistent_errors_fail_before_any_change(status: u16) -> Run {
    let (sims, target, home) = setup().await;
    forget_seeding(&sims);
    let before = sims.deploy_state();
    sims.consul.control().fail_next(10_000, status);
    let run = home.run(&deploy_args("shop", "stage", "v1"), &[]).await;
    sims.consul.control().fail_next(0, status);
    assert_untouched(&sims, &target, &run, &before);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("Consul"), "{run:?}");
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_500s_are_retried_and_persistent_ones_change_nothing() {
    transient_errors_are_retried(500).await;
    persistent_errors_fail_before_any_change(500).await;
    report(
        "Consul 500s",
        2,
        "pass",
        "2 transient 500s: retried, exit 0; persistent: exit 1, nothing written",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_429s_are_retried_and_persistent_ones_change_nothing() {
    transient_errors_are_retried(429).await;
    persistent_errors_fail_before_any_change(429).await;
    report(
        "Consul 429s",
        2,
        "pass",
        "2 transient 429s: retried, exit 0; persistent: exit 1, nothing written",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_failing_briefly_at_the_final_txn_is_retried_and_recorded_once() {
    let (sims, target, home) = setup().await;
    let mut child = home
        .command(&deploy_args("shop", "stage", "slow"), &[])
        .spawn()
        .expect("spawn duncan");
    assert!(
        sims.wait_until(async || !sims.deployments().await.is_empty())
            .await
    );
    let id = sims
        .marathon
        .control()
        .deployment_history()
        .last()
        .map(|d| d.id.clone())
        .unwrap_or_default();
    sims.consul.control().fail_next(2, 500);
    assert!(sims.marathon.control().complete_deployment_now(&id));
    let status = child.wait().await.expect("wait");
    assert_eq!(status.code(), Some(0));
    assert_eq!(sims.kv(&target.current_key()).as_deref(), Some("slow"));
    assert_eq!(sims.history(&target).len(), 1);

    assert!(
        sims.history(&target)
            .iter()
            .all(|r| r.outcome == Outcome::Succeeded)
    );
    report(
        "Consul failing briefly at the final txn",
        1,
        "pass",
        "2 transient 500s: the fenced txn retried and landed once, exit 0 (persistent failure: \
         see \"Consul down from the watch to the final txn\")",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_going_backwards_while_waiting_for_the_lock_still_deploys_once() {
    let (sims, target, home) = setup().await;
    let foreign = crate::support::hold_foreign_lock(&sims, &target).await;
    let mut args = deploy_args("shop", "stage", "v1");
    args.extend(["--wait", "1m"]);
    let child = home.command(&args, &[]).spawn().expect("spawn duncan");
    // Wait until duncan blocks on the lock key, then lose the index as a new leader would.
    assert!(
        sims.wait_until(async || {
            sims.consul
                .control()
                .requests()
                .iter()
                .any(|r| r.path_and_query.contains("/lock?") && r.path_and_query.contains("index="))
        })
        .await,
        "duncan never waited on the lock with a blocking query"
    );
    sims.consul.control().reset_index(1);
    reqwest::Client::new()
        .put(format!(
            "{}/v1/session/destroy/{foreign}",
            sims.consul.url()
        ))
        .send()
        .await
        .expect("consul-sim answers");
    // A destroyed session puts the key into lock-delay: let it pass on the sim clock.
    sims.consul.control().advance_clock(Duration::from_secs(16));
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("duncan ends")
        .expect("output");
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_released(&sims, &target, &run, "v1");
    assert_eq!(sims.session_count().await, 0);
    report(
        "Consul index going backwards (leader change) while waiting for the lock",
        1,
        "pass",
        "lock taken once freed, exit 0, release recorded once, no session left",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_invalidated_by_the_server_is_reported_and_no_tag_is_recorded() {
    let (sims, target, home) = setup().await;
    let child = home
        .command(&deploy_args("shop", "stage", "slow"), &[])
        .spawn()
        .expect("spawn duncan");
    assert!(
        sims.wait_until(async || !sims.deployments().await.is_empty())
            .await
    );
    let session = sims
        .lock_session(&target)
        .await
        .expect("duncan holds the lock");
    assert!(sims.consul.control().invalidate_session(&session));
    let id = sims
        .marathon
        .control()
        .deployment_history()
        .last()
        .map(|d| d.id.clone())
        .unwrap_or_default();
    sims.marathon.control().complete_deployment_now(&id);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("duncan ends")
        .expect("output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(
        output.status.code(),
        Some(0),
        "a lost lock is not a success: {stderr}"
    );
    assert!(stderr.contains("lock"), "the loss is named: {stderr}");
    assert_eq!(
        sims.kv(&target.current_key()).as_deref(),
        Some("v0"),
        "the fenced txn refused to record under a lost lock"
    );
    assert!(
        sims.history(&target)
            .iter()
            .all(|r| r.outcome != Outcome::Succeeded)
    );
    report(
        "Consul session invalidated by the server during the watch",
        1,
        "pass",
        &format!(
            "exit {}, the lost lock named, no tag recorded",
            output.status.code().unwrap_or(-1)
        ),
    );
}

/// Starts `duncan deploy … -t {tag}` (with `extra` flags), waits until its Marathon deployment
/// runs, then makes every Consul request fail with 500 until the process ends.
async fn consul_down_once_deploying(tag: &str, extra: &[&str]) -> (Sims, AppEnv, Run) {
    let (sims, target, home) = setup().await;
    let mut args = deploy_args("shop", "stage", tag);
    args.extend(extra);
    let child = home.command(&args, &[]).spawn().expect("spawn duncan");
    assert!(
        sims.wait_until(async || !sims.deployments().await.is_empty())
            .await
    );
    sims.consul.control().fail_next(1_000_000, 500);
    if tag == "slow" {
        let id = sims
            .marathon
            .control()
            .deployment_history()
            .last()
            .map(|d| d.id.clone())
            .unwrap_or_default();
        assert!(sims.marathon.control().complete_deployment_now(&id));
    }
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("duncan ends")
        .expect("output");
    sims.consul.control().fail_next(0, 500);
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    run.assert_no_panic();
    // Whatever the session could not do, TTL + lock-delay frees the lock.
    sims.consul
        .control()
        .advance_clock(crate::support::LOCK_EXPIRY);
    assert_eq!(
        sims.lock_session(&target).await,
        None,
        "the lock is free: {run:?}"
    );
    (sims, target, run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_down_from_the_watch_on_reports_the_unrecorded_release_with_its_repair() {
    let (sims, target, run) = consul_down_once_deploying("slow", &[]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains("consul kv put deploys/shop/stage/current slow"),
        "the exact repair is given: {run:?}"
    );
    assert_eq!(sims.kv(&target.current_key()).as_deref(), Some("v0"));
    // At most the record opened when Marathon accepted the update, still in progress.
    assert!(
        sims.history(&target)
            .iter()
            .all(|r| r.outcome == Outcome::InProgress)
    );
    report(
        "Consul down from the watch to the final txn",
        1,
        "pass",
        "exit 1 with the consul kv put commands that record the release; tags untouched, the \
         history holds at most the deploy's in_progress record; lock free after TTL + lock-delay",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_down_through_a_rollback_still_rolls_back_and_says_the_record_is_missing() {
    let (sims, target, run) = consul_down_once_deploying("broken", &["--timeout", "2s"]).await;
    assert_eq!(run.code, 4, "the rollback happened: {run:?}");
    assert!(run.stderr.contains("rolled back"), "{run:?}");
    assert!(
        run.stderr.to_lowercase().contains("not recorded")
            || run.stderr.to_lowercase().contains("could not record"),
        "the missing history record is mentioned: {run:?}"
    );
    assert_eq!(sims.kv(&target.current_key()).as_deref(), Some("v0"));
    report(
        "Consul down through the rollback",
        1,
        "pass",
        "rolled back anyway: exit 4, the unrecorded failure said; tags untouched; lock free \
         after TTL + lock-delay",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_connections_dropped_without_an_answer_are_retried() {
    let (sims, target, home) = setup().await;
    sims.consul.control().drop_next(2);
    let run = home.run(&deploy_args("shop", "stage", "v1"), &[]).await;
    assert_released(&sims, &target, &run, "v1");
    report(
        "Consul dropping connections (2, no answer)",
        1,
        "pass",
        "retried: exit 0, release recorded once",
    );
}
