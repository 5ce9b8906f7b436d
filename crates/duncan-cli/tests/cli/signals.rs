//! SIGINT, SIGTERM and SIGHUP at every step that holds something: the same orderly end (lock
//! released, session destroyed, the truth told, exit 130).

use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::sims::{Sims, marathon_options};
use crate::util::Home;

/// Starts `duncan ARGS` in `home`, its output piped.
fn spawn(home: &Home, args: &[&str]) -> Child {
    Command::new(assert_cmd::cargo::cargo_bin("duncan"))
        .env_clear()
        .env("HOME", home.path())
        .env("USER", "tester")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn duncan")
}

/// Sends `signal` (`INT`, `TERM`, `HUP`) to `child` and waits for it to end.
async fn signal_and_wait_output(child: Child, signal: &str) -> Output {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait")
}

/// [`signal_and_wait_output`]'s exit code and standard error.
async fn signal_and_wait(child: Child, signal: &str) -> (Option<i32>, String) {
    let output = signal_and_wait_output(child, signal).await;
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

/// The deploy lock of dogfood/stage is free and no session is left.
async fn assert_nothing_held(sims: &Sims) {
    assert_eq!(sims.lock_session("dogfood", "stage").await, None);
    assert!(sims.sessions().await.is_empty(), "session left");
}

/// Sims where the tag `slow` never finishes deploying.
async fn slow_sims() -> Sims {
    Sims::start_with(
        consul_sim::SimOptions::default(),
        marathon_options().rule(
            "quay.io/myorg/dogfood:slow",
            marathon_sim::TaskOutcome::Slow(Duration::from_secs(600)),
        ),
    )
    .await
}

const DEPLOY_SLOW: [&str; 9] = [
    "deploy",
    "-a",
    "dogfood",
    "-e",
    "stage",
    "-t",
    "slow",
    "-y",
    "--skip-image-check",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sighup_end_a_deploy_as_ctrl_c_does() {
    for signal in ["TERM", "HUP", "INT"] {
        let sims = slow_sims().await;
        sims.seed_group("dogfood", "stage", "v1").await;
        let home = Home::with_config(&sims.config());
        let child = spawn(&home, &DEPLOY_SLOW);
        until(
            async || !sims.deployments().await.is_empty(),
            "the deployment",
        )
        .await;
        let (code, stderr) = signal_and_wait(child, signal).await;
        assert_eq!(code, Some(130), "SIG{signal}: {stderr}");
        assert!(stderr.contains("the lock was released"), "{stderr}");
        assert!(
            stderr.contains("Marathon is still running deployment"),
            "{stderr}"
        );
        assert_eq!(sims.lock_session("dogfood", "stage").await, None);
        assert!(
            sims.sessions().await.is_empty(),
            "SIG{signal}: session left"
        );
        assert!(sims.key("deploys/dogfood/stage/current").is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_after_the_lock_before_the_stream_is_open_releases_the_lock() {
    let sims = slow_sims().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    // Every Marathon answer takes 2 s: the lock is ours long before the event stream is open.
    sims.marathon.control().set_latency(Duration::from_secs(2));
    let home = Home::with_config(&sims.config());
    let child = spawn(&home, &DEPLOY_SLOW);
    until(
        async || sims.lock_session("dogfood", "stage").await.is_some(),
        "the lock taken",
    )
    .await;
    let (code, stderr) = signal_and_wait(child, "INT").await;
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("the lock was released"), "{stderr}");
    assert!(
        stderr.contains("nothing was changed in Marathon"),
        "{stderr}"
    );
    assert_nothing_held(&sims).await;
    sims.marathon.control().set_latency(Duration::ZERO);
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_while_waiting_for_the_lock_leaves_no_session() {
    let sims = slow_sims().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let alices = sims.hold_lock("dogfood", "stage", "alice").await;
    let home = Home::with_config(&sims.config());
    let mut args = DEPLOY_SLOW.to_vec();
    args.extend(["--wait", "5m"]);
    let child = spawn(&home, &args);
    until(
        async || sims.sessions().await.len() == 2,
        "the waiting session",
    )
    .await;
    let (code, stderr) = signal_and_wait(child, "INT").await;
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("the lock was not taken"), "{stderr}");
    assert!(
        stderr.contains("nothing was changed in Marathon"),
        "{stderr}"
    );
    // Alice still holds it; our waiting session is gone.
    assert_eq!(sims.sessions().await, vec![alices.clone()]);
    assert_eq!(sims.lock_session("dogfood", "stage").await, Some(alices));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_during_a_scale_releases_the_lock() {
    let sims = slow_sims().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    // New tasks of v1 never become healthy: the scale runs until interrupted.
    sims.marathon.control().set_rule(
        "quay.io/myorg/dogfood:v1",
        marathon_sim::TaskOutcome::Slow(Duration::from_secs(600)),
    );
    let home = Home::with_config(&sims.config());
    let child = spawn(
        &home,
        &["scale", "web=4", "-a", "dogfood", "-e", "stage", "-y"],
    );
    until(
        async || !sims.deployments().await.is_empty(),
        "the scale's deployment",
    )
    .await;
    let (code, stderr) = signal_and_wait(child, "TERM").await;
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("the lock was released"), "{stderr}");
    assert!(
        stderr.contains("Marathon is still running deployment"),
        "{stderr}"
    );
    assert_nothing_held(&sims).await;
}

/// A webhook that accepts connections and never answers; says when one arrived.
async fn silent_webhook() -> (String, Arc<AtomicBool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let called = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&called);
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            seen.store(true, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (url, called)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_while_notifying_a_recorded_release_says_it_was_deployed() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let (hook, called) = silent_webhook().await;
    let home = Home::with_config(&format!("{}slack_webhook_url: {hook}\n", sims.config()));
    let child = spawn(
        &home,
        &[
            "deploy",
            "-a",
            "dogfood",
            "-e",
            "stage",
            "-t",
            "v2",
            "-y",
            "--skip-image-check",
        ],
    );
    until(async || called.load(Ordering::SeqCst), "the webhook called").await;
    let output = signal_and_wait_output(child, "INT").await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    // The release was recorded before the notification: that is what is said, and the exit.
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("deployed v2"), "{stdout}");
    assert!(
        stderr.contains("notifications were not all sent"),
        "{stderr}"
    );
    assert!(!stderr.contains("were not updated"), "{stderr}");
    assert_eq!(
        sims.key("deploys/dogfood/stage/current").as_deref(),
        Some("v2")
    );
    assert_eq!(sims.lock_session("dogfood", "stage").await, None);
}
