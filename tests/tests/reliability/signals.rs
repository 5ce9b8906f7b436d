//! SIGTERM, SIGHUP and SIGINT through the real binary at each step that holds something: the
//! same orderly end every time (exit 130, the lock released or never taken, our session
//! destroyed, and the truth about Marathon told).

use std::time::Duration;

use marathon_sim::TaskOutcome;
use tokio::process::Child;

use crate::support::{
    Home, PREFIX, Run, Sims, app_env, deploy_args, hold_foreign_lock, marathon_options, report,
};

/// Sims where the tag `slow` never finishes deploying, `shop/stage` seeded on `v0`.
async fn slow_sims() -> Sims {
    let sims = Sims::start_with(
        consul_sim::SimOptions::default(),
        marathon_options().rule("*:slow", TaskOutcome::Slow(Duration::from_secs(600))),
    )
    .await;
    sims.seed(&app_env("shop", "stage"), "v0", &["web", "worker"])
        .await;
    // Only what duncan sends counts from here on.
    sims.marathon.control().clear_requests();
    sims
}

/// Sends `kill -NAME` to `child` and collects what it printed.
async fn signal(child: Child, name: &str) -> Run {
    // The child is not reaped before `wait_with_output`, so its pid is still its own.
    let pid = child.id().expect("duncan still runs").to_string();
    let sent = tokio::process::Command::new("kill")
        .args([&format!("-{name}"), &pid])
        .status()
        .await
        .expect("kill runs");
    assert!(sent.success(), "kill -{name} {pid}");
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("duncan ends after the signal")
        .expect("output");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The slow deploy of `shop/stage`, with `extra` arguments.
fn deploy_slow(home: &Home, extra: &[&str]) -> Child {
    let mut args = deploy_args("shop", "stage", "slow");
    args.extend(extra);
    home.command(&args, &[]).spawn().expect("spawn duncan")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_sighup_and_sigint_during_the_watch_end_the_same_way() {
    let target = app_env("shop", "stage");
    let mut ends = Vec::new();
    for name in ["TERM", "HUP", "INT"] {
        let sims = slow_sims().await;
        let home = Home::with_config(&sims.config(&["shop"]));
        let child = deploy_slow(&home, &[]);
        assert!(
            sims.wait_until(async || !sims.deployments().await.is_empty())
                .await,
            "the deployment started"
        );
        let run = signal(child, name).await;
        run.assert_no_panic();
        assert_eq!(run.code, 130, "SIG{name}: {run:?}");
        assert!(
            run.stderr.contains("the lock was released"),
            "SIG{name}: {run:?}"
        );
        assert!(
            run.stderr.contains("Marathon is still running deployment"),
            "SIG{name}: {run:?}"
        );
        assert_eq!(
            sims.lock_session(&target).await,
            None,
            "SIG{name}: lock free"
        );
        assert_eq!(sims.session_count().await, 0, "SIG{name}: no session left");
        assert_eq!(
            sims.kv(&target.current_key()).as_deref(),
            Some("v0"),
            "SIG{name}: current untouched"
        );
        // The deploy's record says it was interrupted, with its deployment.
        let records = sims.history(&target);
        assert_eq!(records.len(), 1, "SIG{name}: {records:?}");
        assert_eq!(
            records[0].outcome,
            duncan_core::release::Outcome::Interrupted,
            "SIG{name}: recorded as interrupted"
        );
        assert!(records[0].deployment_id.is_some(), "SIG{name}");
        ends.push(format!("SIG{name}"));
    }
    report(
        "SIGTERM, SIGHUP, SIGINT during the watch",
        ends.len(),
        "pass",
        &format!(
            "{}: each exit 130, \"the lock was released\", \"Marathon is still running \
             deployment\" named; lock free, 0 sessions, tags untouched, the deploy recorded as interrupted",
            ends.join(", ")
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_while_waiting_for_the_lock_destroys_our_session_only() {
    let sims = slow_sims().await;
    let target = app_env("shop", "stage");
    let foreign = hold_foreign_lock(&sims, &target).await;
    let home = Home::with_config(&sims.config(&["shop"]));
    let child = deploy_slow(&home, &["--wait", "5m"]);
    assert!(
        sims.wait_until(async || sims.session_count().await == 2)
            .await,
        "our waiting session exists"
    );
    let run = signal(child, "INT").await;
    run.assert_no_panic();
    assert_eq!(run.code, 130, "{run:?}");
    assert!(run.stderr.contains("the lock was not taken"), "{run:?}");
    assert!(
        run.stderr.contains("nothing was changed in Marathon"),
        "{run:?}"
    );
    assert_eq!(sims.session_count().await, 1, "our session was destroyed");
    assert_eq!(
        sims.lock_session(&target).await,
        Some(foreign),
        "the other holder keeps the lock"
    );
    assert_eq!(sims.marathon_writes(), 0, "nothing sent to Marathon");
    report(
        "SIGINT while waiting for the lock (--wait)",
        1,
        "pass",
        "exit 130, \"the lock was not taken\", \"nothing was changed in Marathon\"; our session \
         destroyed, the other holder's lock and session untouched, 0 Marathon writes",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_during_a_scale_releases_the_lock() {
    let sims = slow_sims().await;
    let target = app_env("shop", "stage");
    // New tasks of v0 never become healthy: the scale runs until interrupted.
    sims.marathon.control().set_rule(
        &format!("{PREFIX}/shop:v0"),
        TaskOutcome::Slow(Duration::from_secs(600)),
    );
    let home = Home::with_config(&sims.config(&["shop"]));
    let child = home
        .command(&["scale", "web=4", "-a", "shop", "-e", "stage", "-y"], &[])
        .spawn()
        .expect("spawn duncan scale");
    assert!(
        sims.wait_until(async || !sims.deployments().await.is_empty())
            .await,
        "the scale's deployment started"
    );
    let run = signal(child, "INT").await;
    run.assert_no_panic();
    assert_eq!(run.code, 130, "{run:?}");
    assert!(run.stderr.contains("the lock was released"), "{run:?}");
    assert!(
        run.stderr.contains("Marathon is still running deployment"),
        "{run:?}"
    );
    assert_eq!(sims.lock_session(&target).await, None, "lock free");
    assert_eq!(sims.session_count().await, 0, "no session left");
    report(
        "SIGINT during duncan scale",
        1,
        "pass",
        "exit 130, \"the lock was released\", the running scale deployment named; lock free, \
         0 sessions",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_after_the_lock_before_the_stream_opens_changes_nothing() {
    let sims = slow_sims().await;
    let target = app_env("shop", "stage");
    // Every Marathon answer takes 2 s: the lock is ours long before the event stream is open.
    sims.marathon.control().set_latency(Duration::from_secs(2));
    let home = Home::with_config(&sims.config(&["shop"]));
    let child = deploy_slow(&home, &[]);
    // Consul answers at once: only Marathon is slow.
    let lock_key = target.lock_key();
    assert!(
        sims.wait_until(async || sims.lock_session(&target).await.is_some())
            .await,
        "the lock taken"
    );
    let run = signal(child, "INT").await;
    run.assert_no_panic();
    assert_eq!(run.code, 130, "{run:?}");
    assert!(run.stderr.contains("the lock was released"), "{run:?}");
    assert!(
        run.stderr.contains("nothing was changed in Marathon"),
        "{run:?}"
    );
    assert_eq!(sims.lock_session(&target).await, None, "lock free");
    assert_eq!(sims.session_count().await, 0, "no session left");
    assert!(
        sims.consul.control().kv_snapshot().contains_key(&lock_key),
        "the lock key was written"
    );
    sims.marathon.control().set_latency(Duration::ZERO);
    assert_eq!(sims.marathon_writes(), 0, "no group PUT");
    assert_eq!(
        sims.image(&format!("{}/web", target.group_id())).as_deref(),
        Some(format!("{PREFIX}/shop:v0").as_str()),
        "Marathon still runs v0"
    );
    report(
        "SIGINT after the lock, before the event stream opens (Marathon latency 2 s)",
        1,
        "pass",
        "exit 130, \"the lock was released\", \"nothing was changed in Marathon\"; 0 Marathon \
         writes, lock free, 0 sessions",
    );
}

/// An HTTP proxy in front of marathon-sim that passes every request on, streaming the
/// answers (the event stream too), but holds back the answer to a group `PUT` for ten minutes
/// once Marathon has applied it: the update is in flight, as far as duncan can tell.
async fn withholding_put_proxy(upstream: String) -> String {
    use axum::body::{Body, Bytes};
    use axum::http::{HeaderMap, Method, Uri};
    let http = reqwest::Client::new();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let http = http.clone();
            let upstream = upstream.clone();
            async move {
                let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
                let withhold = method == Method::PUT && path.starts_with("/v2/groups");
                let mut request = http.request(method, format!("{upstream}{path}")).body(body);
                for (name, value) in &headers {
                    if name != "host" {
                        request = request.header(name, value);
                    }
                }
                let Ok(answer) = request.send().await else {
                    return axum::http::Response::builder()
                        .status(502)
                        .body(Body::empty())
                        .expect("response");
                };
                if withhold {
                    tokio::time::sleep(Duration::from_secs(600)).await;
                }
                let mut response = axum::http::Response::builder().status(answer.status());
                for (name, value) in answer.headers() {
                    response = response.header(name, value);
                }
                response
                    .body(Body::from_stream(answer.bytes_stream()))
                    .expect("response")
            }
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_while_the_group_put_is_in_flight_never_says_nothing_changed() {
    let sims = slow_sims().await;
    let target = app_env("shop", "stage");
    let proxy = withholding_put_proxy(sims.marathon.url()).await;
    let config = sims.config(&["shop"]).replace(&sims.marathon.url(), &proxy);
    // Each request may take 3 s: an answer that never comes is given up on after that.
    let home = Home::with_config(&format!("{config}timeouts:\n  request: 3s\n"));
    let child = deploy_slow(&home, &[]);
    // Marathon applied the update; its answer is still held back by the proxy.
    assert!(
        sims.wait_until(async || !sims.deployments().await.is_empty())
            .await,
        "the update reached Marathon"
    );
    let signalled = std::time::Instant::now();
    let run = signal(child, "INT").await;
    let seconds = signalled.elapsed().as_secs_f64();
    run.assert_no_panic();
    assert_eq!(run.code, 130, "{run:?}");
    assert!(run.stderr.contains("the lock was released"), "{run:?}");
    assert!(
        !run.stderr.contains("nothing was changed in Marathon"),
        "Marathon runs the new version: {run:?}"
    );
    assert_eq!(sims.lock_session(&target).await, None, "lock free");
    assert_eq!(sims.session_count().await, 0, "no session left");
    let said = run
        .stderr
        .lines()
        .rfind(|l| l.starts_with("error"))
        .unwrap_or_default()
        .replace('|', "/");
    report(
        "SIGINT while the group PUT is in flight (Marathon applied it, the answer withheld)",
        1,
        "pass",
        &format!(
            "exit 130 {seconds:.1} s after the signal (timeouts.request 3s), lock free, 0 \
             sessions, not \"nothing was changed\"; said: {said}"
        ),
    );
}
