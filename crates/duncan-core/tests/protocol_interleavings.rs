//! The deploy protocol where another deployer, a late answer or a running deployment interleaves
//! with it: state read before the lock is a hint, decisions are made on state read under it.

mod protocol_common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use duncan_core::deploy::{DeployError, DeployOutcome, RollbackTarget, deploy, rollback};
use duncan_core::lock::{DeployLock, LockRequest};
use duncan_core::progress::Progress;
use duncan_core::release::Outcome;
use marathon_sim::TaskOutcome;
use protocol_common::{Recorder, Sims, app_env, app_id, image, quick_options, request};
use serde_json::json;

/// Sets an app's instances directly in Marathon, as another operator's scale would, and waits
/// for the deployment to end.
async fn set_instances(sims: &Sims, app: &str, instances: u32) {
    reqwest::Client::new()
        .put(format!("{}/v2/apps{app}", sims.marathon.url()))
        .json(&json!({"instances": instances}))
        .send()
        .await
        .expect("scale")
        .error_for_status()
        .expect("scale accepted");
    sims.wait_idle().await;
}

async fn instances(sims: &Sims, app: &str) -> u32 {
    let app = sims
        .marathon_client()
        .app(app, &[])
        .await
        .expect("app read");
    u32::try_from(app.instances.expect("instances")).expect("u32")
}

/// A sink that notifies once the deploy waits for the lock.
fn notify_on_wait() -> (
    Recorder,
    duncan_core::progress::ProgressSink,
    Arc<tokio::sync::Notify>,
) {
    let waiting = Arc::new(tokio::sync::Notify::new());
    let notify = Arc::clone(&waiting);
    let (recorder, sink) = Recorder::with_hook(move |p| {
        if let Progress::WaitingForLock { .. } = p {
            notify.notify_one();
        }
    });
    (recorder, sink, waiting)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_read_while_another_held_the_lock_is_built_again_under_it() {
    let sims = Sims::start_sim().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let web = app_id(&target, "web");
    // Bob holds the lock and scales web to 4; his scale will fail and be rolled back.
    let bob = sims.ctx("bob");
    let bobs_lock = DeployLock::acquire(
        &bob.consul,
        &LockRequest::new(target.clone(), &bob.settings, None),
    )
    .await
    .expect("bob's lock");
    set_instances(&sims, &web, 4).await;

    // Alice's deploy reads the group (4 instances) and waits for the lock.
    let alice = sims.ctx("alice");
    let mut req = request(&target, "v2");
    req.options.wait_for_lock = Some(Duration::from_secs(30));
    let (_recorder, sink, waiting) = notify_on_wait();
    let alices = tokio::spawn(async move { deploy(&alice, req, &sink).await });
    waiting.notified().await;

    // Bob's scale is rolled back, then he lets go.
    set_instances(&sims, &web, 2).await;
    bobs_lock.release().await.expect("bob's release");

    let report = alices.await.expect("join").expect("alice's deploy");
    assert!(matches!(report.outcome, DeployOutcome::Deployed { .. }));
    // Her update carries what runs now, not the 4 instances of the plan read during bob's scale.
    assert_eq!(instances(&sims, &web).await, 2);
    assert_eq!(
        sims.image(&web).as_deref(),
        Some(image(&target, "v2").as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploying_the_tag_another_deployer_is_deploying_is_the_lock_not_a_no_op() {
    let sims = Sims::start_sim().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    sims.marathon.control().set_rule(
        &image(&target, "v2"),
        TaskOutcome::Slow(Duration::from_secs(600)),
    );
    // Bob's deploy of v2 runs (his lock held, the group already shows v2).
    let bob = sims.ctx("bob");
    let bobs = tokio::spawn(async move {
        let req = request(&app_env("shop"), "v2");
        deploy(&bob, req, &Recorder::new().1).await
    });
    for _ in 0..500 {
        if sims.image(&app_id(&target, "web")).as_deref() == Some(image(&target, "v2").as_str()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let error = deploy(
        &sims.ctx("alice"),
        request(&target, "v2"),
        &Recorder::new().1,
    )
    .await
    .expect_err("not a no-op while bob deploys v2");
    assert!(matches!(error, DeployError::LockHeld { .. }), "{error:?}");
    assert_eq!(error.exit_code(), 3);
    bobs.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tag_a_marathon_deployment_is_installing_is_no_no_op_either() {
    let sims = Sims::start_sim().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    sims.marathon.control().set_rule(
        &image(&target, "v2"),
        TaskOutcome::Slow(Duration::from_secs(600)),
    );
    // Someone changes the group by hand (no duncan, no lock): a deployment of v2 runs.
    let mut group = protocol_common::seed_group(&target, "v2");
    group.as_object_mut().expect("group").remove("version");
    let group: marathon_client::Group = serde_json::from_value(group).expect("group");
    sims.marathon_client()
        .update_group(&group, marathon_client::GroupUpdateOptions::default())
        .await
        .expect("hand-made deployment");
    let error = deploy(
        &sims.ctx("alice"),
        request(&target, "v2"),
        &Recorder::new().1,
    )
    .await
    .expect_err("not a no-op while Marathon installs v2");
    match error {
        DeployError::AppsLocked { deployments, .. } => assert_eq!(deployments.len(), 1),
        other => panic!("expected the apps locked, got {other:?}"),
    }
}

/// `/shop-stage` released by alice as v1, then v2 (Consul: current v2, previous v1).
async fn released_v1_then_v2() -> (
    Sims,
    duncan_core::names::AppEnv,
    duncan_core::deploy::Context,
) {
    let sims = Sims::start_sim().await;
    let target = app_env("shop");
    sims.seed(&target, "v0").await;
    let alice = sims.ctx("alice");
    for tag in ["v1", "v2"] {
        deploy(&alice, request(&target, tag), &Recorder::new().1)
            .await
            .expect("earlier release");
    }
    (sims, target, alice)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_that_waited_for_the_lock_goes_back_one_release_from_what_is_current() {
    let (sims, target, alice) = released_v1_then_v2().await;
    // Bob's deploy of v3 takes a while; alice's rollback (current v2, previous v1) waits for it.
    sims.marathon.control().set_rule(
        &image(&target, "v3"),
        TaskOutcome::Slow(Duration::from_millis(700)),
    );
    let bob = sims.ctx("bob");
    let bobs = tokio::spawn(async move {
        deploy(&bob, request(&app_env("shop"), "v3"), &Recorder::new().1).await
    });
    for _ in 0..500 {
        if sims.lock_held(&target).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut options = quick_options();
    options.wait_for_lock = Some(Duration::from_secs(30));
    let report = rollback(
        &alice,
        &target,
        RollbackTarget::Previous,
        options,
        &Recorder::new().1,
    )
    .await
    .expect("alice's rollback");
    bobs.await.expect("join").expect("bob's deploy");
    // One release back from v3 is v2, not v1 (two releases back).
    assert!(matches!(report.outcome, DeployOutcome::Deployed { .. }));
    assert_eq!(report.plan.tag.as_str(), "v2");
    assert_eq!(sims.kv(&target.current_key()).await.as_deref(), Some("v2"));
    assert_eq!(sims.kv(&target.previous_key()).await.as_deref(), Some("v3"));
    assert_eq!(
        sims.image(&app_id(&target, "web")).as_deref(),
        Some(image(&target, "v2").as_str())
    );
}

/// A Consul proxy that holds back the first success transaction (no answer: the client times
/// out) and delivers it to Consul just before the retry, so the first attempt lands late.
async fn late_success_proxy(upstream: String) -> String {
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, Method, Uri};

    #[derive(Clone, Default)]
    struct Held {
        first: Arc<Mutex<Option<Bytes>>>,
        done: Arc<Mutex<bool>>,
    }
    async fn forward(
        State((upstream, held)): State<(String, Held)>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> (axum::http::StatusCode, HeaderMap, Bytes) {
        let http = reqwest::Client::new();
        let send = |body: Bytes| {
            let mut request = http.request(method.clone(), format!("{upstream}{uri}"));
            for (name, value) in &headers {
                if name != "host" && name != "content-length" {
                    request = request.header(name, value);
                }
            }
            request.body(body).send()
        };
        let is_success_txn =
            uri.path() == "/v1/txn" && String::from_utf8_lossy(&body).contains("check-session");
        if is_success_txn {
            let first = held.first.lock().expect("held").clone();
            let mut done = *held.done.lock().expect("done");
            if first.is_none() && !done {
                *held.first.lock().expect("held") = Some(body.clone());
                // Never answered: the client times out and retries.
                std::future::pending::<()>().await;
            }
            if let Some(late) = first
                && !done
            {
                // The first attempt reaches Consul now, just before the retry.
                let _ = send(late).await;
                *held.done.lock().expect("done") = true;
                done = true;
            }
            let _ = done;
        }
        let response = send(body).await.expect("upstream");
        let status = axum::http::StatusCode::from_u16(response.status().as_u16()).expect("status");
        let mut out = HeaderMap::new();
        for (name, value) in response.headers() {
            if name.as_str().starts_with("x-consul") || name == "content-type" {
                out.insert(name.clone(), value.clone());
            }
        }
        (status, out, response.bytes().await.expect("body"))
    }
    let app = axum::Router::new()
        .fallback(forward)
        .with_state((upstream, Held::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_transaction_applied_late_is_reported_as_recorded() {
    let sims = Sims::start_sim().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let proxy = late_success_proxy(sims.consul_url.clone()).await;
    let mut ctx = sims.ctx("alice");
    ctx.consul = consul_client::Client::new(
        consul_client::Config::new(&proxy)
            .expect("proxy url")
            .with_request_timeout(Duration::from_millis(500)),
    )
    .expect("client");
    let report = deploy(&ctx, request(&target, "v2"), &Recorder::new().1)
        .await
        .expect("recorded by the first attempt, which landed late");
    assert!(matches!(report.outcome, DeployOutcome::Deployed { .. }));
    assert_eq!(sims.kv(&target.current_key()).await.as_deref(), Some("v2"));
    let history = sims.history(&target).await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].outcome, Outcome::Succeeded);
}

/// What a Marathon proxy does to the first group update.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LostAnswer {
    /// Forwards it, then answers 504: applied, answer lost.
    AfterApplying,
    /// Answers 504 without forwarding it: not applied, answer lost.
    BeforeApplying,
}

/// A proxy in front of Marathon that loses the answer to the first `PUT /v2/groups/…` as
/// `lose` says, and stops answering at all once `gone` is set (Marathon vanished without closing
/// connections); the event stream is not proxied (the watch polls).
async fn marathon_proxy(
    upstream: String,
    lose: Option<LostAnswer>,
    gone: Arc<std::sync::atomic::AtomicBool>,
) -> String {
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};

    type Proxy = (
        String,
        Option<LostAnswer>,
        Arc<Mutex<bool>>,
        Arc<std::sync::atomic::AtomicBool>,
    );
    async fn forward(
        State((upstream, lose, lost, gone)): State<Proxy>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> (StatusCode, HeaderMap, Bytes) {
        if gone.load(std::sync::atomic::Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if uri.path() == "/v2/events" {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                HeaderMap::new(),
                Bytes::new(),
            );
        }
        let first_update = method == Method::PUT
            && uri.path().starts_with("/v2/groups/")
            && !std::mem::replace(&mut *lost.lock().expect("lost"), true);
        let lose = lose.filter(|_| first_update);
        let http = reqwest::Client::new();
        let mut request = http.request(method, format!("{upstream}{uri}"));
        for (name, value) in &headers {
            if name != "host" && name != "content-length" {
                request = request.header(name, value);
            }
        }
        if lose == Some(LostAnswer::BeforeApplying) {
            return (StatusCode::GATEWAY_TIMEOUT, HeaderMap::new(), Bytes::new());
        }
        let response = request.body(body).send().await.expect("upstream");
        if lose == Some(LostAnswer::AfterApplying) {
            return (StatusCode::GATEWAY_TIMEOUT, HeaderMap::new(), Bytes::new());
        }
        let status = StatusCode::from_u16(response.status().as_u16()).expect("status");
        let mut out = HeaderMap::new();
        if let Some(kind) = response.headers().get("content-type") {
            out.insert("content-type", kind.clone());
        }
        (status, out, response.bytes().await.expect("body"))
    }
    let state: Proxy = (upstream, lose, Arc::new(Mutex::new(false)), gone);
    let app = axum::Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// A Marathon client for `url` whose requests give up after `timeout`.
fn marathon_at(url: &str, timeout: Duration) -> marathon_client::Client {
    marathon_client::Client::new(
        marathon_client::Config::new(url)
            .expect("proxy url")
            .with_request_timeout(timeout),
    )
    .expect("client")
}

/// A deploy of v2 through a Marathon proxy that loses the first update's answer as `mode` says.
async fn deploy_losing_the_update_answer(mode: LostAnswer) -> (Sims, usize) {
    let sims = Sims::start_sim().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    // Long enough for the look that follows the lost answer to find the deployment running.
    sims.marathon.control().set_rule(
        &image(&target, "v2"),
        TaskOutcome::Slow(Duration::from_millis(500)),
    );
    let proxy = marathon_proxy(sims.marathon.url(), Some(mode), Default::default()).await;
    let mut ctx = sims.ctx("alice");
    ctx.marathon = marathon_at(&proxy, Duration::from_secs(5));
    sims.marathon.control().clear_requests();
    let report = deploy(&ctx, request(&target, "v2"), &Recorder::new().1)
        .await
        .expect("the lost answer was looked into and the deployment followed");
    assert!(matches!(report.outcome, DeployOutcome::Deployed { .. }));
    assert_eq!(sims.kv(&target.current_key()).await.as_deref(), Some("v2"));
    assert_eq!(
        sims.image(&app_id(&target, "web")).as_deref(),
        Some(image(&target, "v2").as_str())
    );
    let updates = sims
        .marathon_writes()
        .iter()
        .filter(|w| w.starts_with("PUT /v2/groups"))
        .count();
    (sims, updates)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_applied_whose_answer_was_lost_is_followed_not_sent_again() {
    let (_sims, updates) = deploy_losing_the_update_answer(LostAnswer::AfterApplying).await;
    assert_eq!(updates, 1, "the applied update was not sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_not_applied_whose_answer_was_lost_is_sent_again_once() {
    let (_sims, updates) = deploy_losing_the_update_answer(LostAnswer::BeforeApplying).await;
    assert_eq!(updates, 1, "Marathon saw the update once: the resent one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_vanishing_mid_watch_ends_at_the_deadline_with_the_state_unknown() {
    let sims = Sims::start_sim().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    sims.marathon.control().set_rule(
        &image(&target, "v2"),
        TaskOutcome::Slow(Duration::from_secs(600)),
    );
    let gone = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let proxy = marathon_proxy(sims.marathon.url(), None, Arc::clone(&gone)).await;
    let mut ctx = sims.ctx("alice");
    ctx.marathon = marathon_at(&proxy, Duration::from_millis(300));
    let vanish = Arc::clone(&gone);
    let (_recorder, sink) = Recorder::with_hook(move |p| {
        if let Progress::DeploymentStarted { .. } = p {
            vanish.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let mut req = request(&target, "v2");
    req.options.watch.deadline = Some(Duration::from_secs(1));
    let error = deploy(&ctx, req, &sink)
        .await
        .expect_err("no success without Marathon");
    match &error {
        DeployError::StateUnknown { deployment_id, .. } => {
            assert!(!deployment_id.is_empty());
        }
        other => panic!("expected the state unknown, got {other:?}"),
    }
    assert_eq!(error.exit_code(), 6);
    let message = error.to_string();
    assert!(message.contains("unreachable since"), "{message}");
    assert!(message.contains("not rolled back"), "{message}");
    assert!(!sims.lock_held(&target).await, "the lock is released");
    assert_eq!(sims.kv(&target.current_key()).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeploying_the_recorded_tag_over_drift_records_it_and_keeps_previous() {
    let (sims, target, alice) = released_v1_then_v2().await;
    // Someone changes one app by hand back to v1: Marathon drifts from Consul's v2.
    reqwest::Client::new()
        .put(format!(
            "{}/v2/apps{}",
            sims.marathon.url(),
            app_id(&target, "web")
        ))
        .json(&json!({"container": {"type": "DOCKER", "docker": {"image": image(&target, "v1")}}}))
        .send()
        .await
        .expect("hand edit")
        .error_for_status()
        .expect("accepted");
    sims.wait_idle().await;
    let report = deploy(&alice, request(&target, "v2"), &Recorder::new().1)
        .await
        .expect("the redeploy of the recorded tag succeeds");
    assert!(matches!(report.outcome, DeployOutcome::Deployed { .. }));
    assert_eq!(sims.kv(&target.current_key()).await.as_deref(), Some("v2"));
    assert_eq!(sims.kv(&target.previous_key()).await.as_deref(), Some("v1"));
    let history = sims.history(&target).await;
    assert_eq!(history.last().map(|r| r.tag.as_str()), Some("v2"));
    assert_eq!(
        sims.image(&app_id(&target, "web")).as_deref(),
        Some(image(&target, "v2").as_str())
    );
}
