//! Marathon failing under the real `duncan` binary: 503 during a leader election, the event
//! stream dropped or silently stalled, slow-consumer drops, a deployment superseded by a forced
//! one, a deployment that never finishes. Each case checks what the user sees (message and exit
//! code) and what Consul records.

use std::time::Duration;

use duncan_core::names::AppEnv;
use duncan_core::release::Outcome;
use duncan_testkit::wait;
use marathon_sim::TaskOutcome;

use crate::support::{Home, PREFIX, Run, Sims, app_env, deploy_args, marathon_options, report};

async fn setup(marathon: marathon_sim::SimOptions) -> (Sims, AppEnv, Home) {
    let sims = Sims::start_with(
        consul_sim::SimOptions::default(),
        marathon
            .rule("*:slow", TaskOutcome::Slow(Duration::from_secs(3600)))
            .rule("*:broken", TaskOutcome::NeverHealthy),
    )
    .await;
    let target = app_env("shop", "stage");
    sims.seed(&target, "v0", &["web", "worker"]).await;
    let home = Home::with_config(&sims.config(&["shop"]));
    (sims, target, home)
}

/// Starts `duncan deploy … -t slow` and returns once its Marathon deployment runs, with its id.
async fn deploy_slow(sims: &Sims, home: &Home, extra: &[&str]) -> (tokio::process::Child, String) {
    let mut args = deploy_args("shop", "stage", "slow");
    args.extend(extra);
    let child = home.command(&args, &[]).spawn().expect("spawn duncan");
    assert!(
        sims.wait_until(async || !sims.deployments().await.is_empty())
            .await,
        "the deployment never started"
    );
    let id = sims
        .marathon
        .control()
        .deployment_history()
        .last()
        .map(|d| d.id.clone())
        .unwrap_or_default();
    (child, id)
}

/// Lets the slow deployment finish now and collects duncan's end.
async fn finish(sims: &Sims, child: tokio::process::Child, id: &str) -> Run {
    assert!(sims.marathon.control().complete_deployment_now(id));
    collect(child).await
}

/// How many requests with a method `matching` Marathon refused with 503 (no leader).
fn refused(sims: &Sims, matching: impl Fn(&str) -> bool) -> usize {
    sims.marathon
        .control()
        .requests()
        .iter()
        .filter(|r| r.status == 503 && matching(&r.method))
        .count()
}

async fn collect(child: tokio::process::Child) -> Run {
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("duncan ends within a minute")
        .expect("output");
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    run.assert_no_panic();
    run
}

fn assert_recorded(sims: &Sims, target: &AppEnv, run: &Run, tag: &str) {
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains(&format!("deployed {tag}")), "{run:?}");
    assert_eq!(sims.kv(&target.current_key()).as_deref(), Some(tag));
    let history = sims.history(target);
    assert_eq!(history.len(), 1, "{history:?}");
    assert!(history.iter().all(|r| r.outcome == Outcome::Succeeded));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_503_during_a_leader_election_is_ridden_out() {
    let (sims, target, home) = setup(marathon_options()).await;
    let (child, id) = deploy_slow(&sims, &home, &[]).await;
    let control = sims.marathon.control();
    control.set_leader_available(false);
    // The election lasts until duncan has been refused twice.
    assert!(wait::until_sync(|| refused(&sims, |_| true) >= 2).await);
    control.set_leader_available(true);
    let run = finish(&sims, child, &id).await;
    assert_recorded(&sims, &target, &run, "slow");

    // A Marathon without a leader from the start: a clear error before anything changes.
    let (sims, target, home) = setup(marathon_options()).await;
    let before = sims.deploy_state();
    sims.marathon.control().set_leader_available(false);
    let run = home.run(&deploy_args("shop", "stage", "v1"), &[]).await;
    run.assert_no_panic();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("Marathon"), "{run:?}");
    assert_eq!(sims.deploy_state(), before);
    assert!(sims.history(&target).is_empty());
    report(
        "Marathon 503 (leader election)",
        2,
        "pass",
        "503s during the watch (until two requests were refused): exit 0, recorded once; 503 \
         from the start: exit 1 naming Marathon, nothing written",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_event_stream_is_reconnected_and_the_deploy_recorded_once() {
    let (sims, target, home) = setup(marathon_options()).await;
    let (child, id) = deploy_slow(&sims, &home, &[]).await;
    let control = sims.marathon.control();
    assert!(wait::until_sync(|| control.event_stream_count() > 0).await);
    control.drop_event_streams();
    // Dropped again once duncan has reconnected.
    assert!(wait::until_sync(|| control.event_stream_count() > 0).await);
    control.drop_event_streams();
    let run = finish(&sims, child, &id).await;
    assert_recorded(&sims, &target, &run, "slow");
    report(
        "Marathon event stream dropped (twice)",
        1,
        "pass",
        "exit 0, recorded once",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silently_stalled_event_stream_falls_back_to_rest() {
    let (sims, target, home) = setup(marathon_options()).await;
    let (child, id) = deploy_slow(&sims, &home, &[]).await;
    sims.marathon.control().clear_requests();
    sims.marathon.control().stall_event_streams(true);
    let run = finish(&sims, child, &id).await;
    sims.marathon.control().stall_event_streams(false);
    assert_recorded(&sims, &target, &run, "slow");
    let rest_reads = sims
        .marathon
        .control()
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && !r.path_and_query.starts_with("/v2/events"))
        .count();
    assert!(
        rest_reads > 0,
        "the outcome came from REST, not the stalled stream"
    );
    report(
        "Marathon event stream stalled (no keep-alives)",
        1,
        "pass",
        "success seen over REST while the stream sent nothing: exit 0, recorded once",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_drops_do_not_lose_the_outcome() {
    let (sims, target, home) = setup(marathon_options().event_buffer(1)).await;
    let run = home.run(&deploy_args("shop", "stage", "v1"), &[]).await;
    run.assert_no_panic();
    assert_recorded(&sims, &target, &run, "v1");
    report(
        "Marathon slow-consumer drops (event buffer of 1)",
        1,
        "pass",
        "exit 0, recorded once",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_superseded_by_a_forced_one_fails_with_exit_5_and_keeps_the_tags() {
    let (sims, target, home) = setup(marathon_options()).await;
    let (child, _id) = deploy_slow(&sims, &home, &[]).await;
    // Someone forces another image onto the group meanwhile.
    let group = crate::support::seed_group(&target, "hotfix", &["web", "worker"]);
    reqwest::Client::new()
        .put(format!(
            "{}/v2/groups/shop-stage?force=true",
            sims.marathon.url()
        ))
        .json(&group)
        .send()
        .await
        .expect("marathon-sim answers")
        .error_for_status()
        .expect("forced update accepted");
    let run = collect(child).await;
    assert_eq!(run.code, 5, "{run:?}");
    assert!(
        run.stderr.contains("supersed") || run.stderr.contains("replaced"),
        "the user is told another deployment took over: {run:?}"
    );
    assert_eq!(sims.kv(&target.current_key()).as_deref(), Some("v0"));
    let history = sims.history(&target);
    assert!(
        history.iter().all(|r| r.outcome != Outcome::Succeeded),
        "{history:?}"
    );
    assert_eq!(
        sims.image("/shop-stage/web").as_deref(),
        Some(format!("{PREFIX}/shop:hotfix").as_str()),
        "duncan did not fight the forced deployment"
    );
    report(
        "Marathon deployment superseded by a forced one",
        1,
        "pass",
        "exit 5, superseded named, tags unchanged, no success recorded",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_that_never_finishes_is_rolled_back_with_exit_4() {
    let (sims, target, home) = setup(marathon_options()).await;
    let mut args = deploy_args("shop", "stage", "broken");
    args.extend(["--timeout", "2s"]);
    let run = home.run(&args, &[]).await;
    run.assert_no_panic();
    assert_eq!(run.code, 4, "{run:?}");
    assert!(run.stderr.contains("rolled back"), "{run:?}");
    assert_eq!(sims.kv(&target.current_key()).as_deref(), Some("v0"));
    let history = sims.history(&target);
    assert_eq!(history.len(), 1, "{history:?}");
    assert!(history.iter().all(|r| r.outcome == Outcome::RolledBack));
    sims.wait_idle().await;
    assert_eq!(
        sims.image("/shop-stage/web").as_deref(),
        Some(format!("{PREFIX}/shop:v0").as_str()),
        "the apps run the previous version again"
    );
    assert_eq!(sims.session_count().await, 0);

    // With --no-rollback the deployment is left as it is: exit 5.
    let (sims, target, home) = setup(marathon_options()).await;
    let mut args = deploy_args("shop", "stage", "broken");
    args.extend(["--timeout", "2s", "--no-rollback"]);
    let run = home.run(&args, &[]).await;
    run.assert_no_panic();
    assert_eq!(run.code, 5, "{run:?}");
    assert_eq!(sims.kv(&target.current_key()).as_deref(), Some("v0"));
    assert_eq!(sims.session_count().await, 0);
    report(
        "Marathon deployment that never finishes (--timeout 2s)",
        2,
        "pass",
        "rolled back: exit 4, apps on the previous version, RolledBack recorded; \
         --no-rollback: exit 5; tags unchanged, no session left",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_503_when_the_rollback_starts_is_reported_truthfully() {
    let (sims, target, home) = setup(marathon_options()).await;
    let mut args = deploy_args("shop", "stage", "broken");
    args.extend(["--timeout", "2s"]);
    let child = home.command(&args, &[]).spawn().expect("spawn duncan");
    assert!(
        sims.wait_until(async || !sims.deployments().await.is_empty())
            .await
    );
    // Marathon loses its leader before the deadline, and finds one again only once the write
    // that starts the rollback has been refused.
    sims.marathon.control().set_leader_available(false);
    assert!(wait::until_sync(|| refused(&sims, |method| method != "GET") >= 1).await);
    sims.marathon.control().set_leader_available(true);
    let run = collect(child).await;
    // The cancel that starts the rollback is retried through the election, so the deploy is
    // rolled back rather than left running.
    assert_eq!(run.code, 4, "the rollback rode out the election: {run:?}");
    assert!(run.stderr.contains("rolled back"), "{run:?}");
    assert_eq!(sims.kv(&target.current_key()).as_deref(), Some("v0"));
    assert!(
        sims.history(&target)
            .iter()
            .all(|r| r.outcome != Outcome::Succeeded)
    );
    assert_eq!(sims.session_count().await, 0, "the lock was released");
    report(
        "Marathon 503 (leader election) when the rollback starts",
        1,
        "pass",
        "503s until the cancel was refused: the cancel is retried through the election, \
         rolled back (exit 4), tags unchanged, lock released",
    );
}
