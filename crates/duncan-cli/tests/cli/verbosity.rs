//! What stderr shows at each verbosity: by default no library noise and no raw tracing lines
//! (duncan's own warnings read like every other `warning:`), `-v` duncan's own steps, `-vv` the
//! libraries' debug detail.

use crate::sims::Sims;
use crate::util::{Home, Run, run_async};

async fn history(home: &Home, flags: &[&str]) -> Run {
    let mut cmd = home.duncan();
    cmd.args(flags)
        .args(["history", "-a", "dogfood", "-e", "stage"]);
    run_async(cmd).await
}

/// No line looks like tracing's default format (`2026-…Z  WARN target: …`).
fn assert_no_raw_tracing(out: &Run) {
    for line in out.stderr.lines() {
        for level in [" WARN ", " INFO ", " DEBUG ", " ERROR ", " TRACE "] {
            assert!(!line.contains(level), "raw tracing line: {line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_consul_read_is_silent_by_default_and_shown_with_vv() {
    let sims = Sims::start().await;
    let home = Home::with_config(&sims.config());

    sims.consul.control().fail_next(1, 500);
    let out = history(&home, &[]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        sims.consul.control().request_count() >= 2,
        "the read was retried"
    );
    assert_eq!(out.stderr, "", "nothing on stderr by default");

    sims.consul.control().fail_next(1, 500);
    let out = history(&home, &["-v"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_no_raw_tracing(&out);
    assert!(
        out.stderr.contains("duncan: configuration read from "),
        "-v shows duncan's steps: {}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("retrying"),
        "-v shows no library detail: {}",
        out.stderr
    );
    for line in out.stderr.lines() {
        assert!(line.starts_with("duncan: "), "{line}");
    }

    sims.consul.control().fail_next(1, 500);
    let out = history(&home, &["-vv"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_no_raw_tracing(&out);
    assert!(
        out.stderr
            .lines()
            .any(|l| l.starts_with("consul_client: debug: retrying Consul request")),
        "-vv shows the libraries' detail: {}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duncans_own_warning_reads_like_every_other_warning() {
    let sims = Sims::start().await;
    sims.put_key(
        "deploys/dogfood/stage/history/00000000000000000001",
        "not a release record",
    )
    .await;
    let home = Home::with_config(&sims.config());
    let out = history(&home, &[]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_no_raw_tracing(&out);
    let warnings: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(warnings.len(), 1, "{}", out.stderr);
    assert!(
        warnings[0].starts_with("warning: skipping an undecodable "),
        "{}",
        out.stderr
    );
    assert!(
        warnings[0].contains("deploys/dogfood/stage/history/00000000000000000001"),
        "{}",
        out.stderr
    );

    let out = history(&home, &["-q"]).await;
    assert_eq!(out.stderr, "", "-q keeps errors only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v_shows_each_step_of_a_deploy_and_no_library_detail() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&sims.config());
    let mut cmd = home.duncan();
    cmd.args(["-v"]).args(crate::util::deploy_args("v2"));
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    for step in [
        "duncan: plan ready",
        "duncan: lock acquired",
        "duncan: deployment ",
        "duncan: recording the release in Consul",
        "duncan: done",
    ] {
        assert!(out.stderr.contains(step), "no `{step}` in:\n{}", out.stderr);
    }
    assert_no_raw_tracing(&out);
    assert!(!out.stderr.contains("consul_client"), "{}", out.stderr);
}
