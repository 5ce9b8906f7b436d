//! Without a terminal (CI), a deploy says what it is doing on stderr as plain lines, each with
//! the time since it started: at each phase change and, while it waits, at the interval set by
//! `DUNCAN_PROGRESS_INTERVAL` (30 s by default), so a job is never silent for long.

use std::time::Duration;

use crate::sims::{Sims, marathon_options};
use crate::util::{Home, deploy_args, run_async};

/// Lines of the form `[12s] …`.
fn timed_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| {
            line.strip_prefix('[')
                .and_then(|rest| rest.split_once("s] "))
                .is_some_and(|(secs, _)| {
                    !secs.is_empty() && secs.bytes().all(|b| b.is_ascii_digit())
                })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_deploy_without_a_terminal_prints_timed_progress_lines_at_the_interval() {
    let sims = Sims::start_with(
        consul_sim::SimOptions::default(),
        marathon_options().rule(
            "quay.io/myorg/dogfood:slow",
            marathon_sim::TaskOutcome::Slow(Duration::from_millis(1500)),
        ),
    )
    .await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&sims.config());
    let mut cmd = home.duncan();
    cmd.args(deploy_args("slow"))
        .env("DUNCAN_PROGRESS_INTERVAL", "200ms");
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines = timed_lines(&out.stderr);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("] deployment ") && l.ends_with(" started")),
        "{}",
        out.stderr
    );
    // The wait for the slow tasks is told again and again, with the step and each app's health.
    let waiting = lines
        .iter()
        .filter(|l| l.contains("] deploying, step 1/1"))
        .count();
    assert!(waiting >= 3, "{}", out.stderr);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(", web ") && l.contains(" healthy")),
        "{}",
        out.stderr
    );
    // Phase changes after the deployment are told too.
    assert!(
        lines.iter().any(|l| l.contains("] recording the release")),
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("deployed slow to dogfood/stage"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quick_deploy_without_a_terminal_says_each_phase_once() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&sims.config());
    let mut cmd = home.duncan();
    cmd.args(deploy_args("v2"));
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines = timed_lines(&out.stderr);
    assert_eq!(lines.len(), out.stderr.lines().count(), "{}", out.stderr);
    for phase in ["lock acquired", "] deployment ", "recording the release"] {
        assert_eq!(
            lines.iter().filter(|l| l.contains(phase)).count(),
            1,
            "{phase}: {}",
            out.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_progress_interval_that_is_not_a_duration_is_a_warning_not_a_failure() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&sims.config());
    let mut cmd = home.duncan();
    cmd.args(deploy_args("v2"))
        .env("DUNCAN_PROGRESS_INTERVAL", "often");
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("warning: DUNCAN_PROGRESS_INTERVAL: `often` is not a duration"),
        "{}",
        out.stderr
    );
}

/// Requests to Marathon's apps that were answered with `status`.
fn app_reads(sims: &Sims, status: u16) -> usize {
    sims.marathon
        .control()
        .requests()
        .iter()
        .filter(|r| r.path_and_query.starts_with("/v2/apps/") && r.status == status)
        .count()
}

/// Polls `done` every 20 ms, for at most 30 s.
async fn until(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..1500 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_unreachable_during_a_deploy_is_said_with_stale_counts_and_its_return() {
    let sims = Sims::start_with(
        consul_sim::SimOptions::default(),
        marathon_options().rule(
            "quay.io/myorg/dogfood:slow",
            marathon_sim::TaskOutcome::Slow(Duration::from_secs(600)),
        ),
    )
    .await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&sims.config());
    let mut cmd = home.duncan();
    cmd.args(deploy_args("slow"));
    let deploy = tokio::spawn(run_async(cmd));
    let mut started = false;
    for _ in 0..1500 {
        if !sims.deployments().await.is_empty() && app_reads(&sims, 200) > 0 {
            started = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(started, "the deployment never started");
    // No leader: every read is a 503. Each read is tried 5 times; wait for several to fail.
    sims.marathon.control().set_leader_available(false);
    assert!(
        until(|| app_reads(&sims, 503) >= 15).await,
        "no read failed"
    );
    sims.marathon.control().set_leader_available(true);
    let answered = app_reads(&sims, 200);
    assert!(
        until(|| app_reads(&sims, 200) > answered).await,
        "no read after"
    );
    // The slow tasks become healthy: the deploy ends.
    sims.marathon
        .control()
        .advance_clock(Duration::from_secs(601));
    let out = deploy.await.expect("join");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines = timed_lines(&out.stderr);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("] Marathon unreachable for ") && l.ends_with("counts are stale")),
        "{}",
        out.stderr
    );
    assert!(
        lines.iter().any(|l| l.contains("] Marathon answers again")),
        "{}",
        out.stderr
    );
}
