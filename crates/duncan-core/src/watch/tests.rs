//! The watch loop against a scripted Marathon (no server): each rule of step 6 on its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::*;

/// A cancellation that never comes, for watches that run to their end.
static NEVER: std::sync::LazyLock<CancellationToken> =
    std::sync::LazyLock::new(CancellationToken::new);

const V1: &str = "2017-03-01T10:00:00.000Z";
const V2: &str = "2017-03-02T10:00:00.000Z";

#[derive(Debug, thiserror::Error)]
#[error("fake Marathon is down")]
struct Down;

#[derive(Clone, Default)]
struct FakeMarathon {
    inner: Arc<Mutex<FakeState>>,
}

#[derive(Default)]
struct FakeState {
    deployments: Vec<Value>,
    apps: HashMap<String, Value>,
    down: bool,
    /// Answer apps without their `deployments` array, as a Marathon that needs the embed.
    legacy: bool,
    app_reads: u32,
    deployment_reads: u32,
    /// How long every read takes.
    delay: Duration,
}

impl FakeMarathon {
    fn set_deployments(&self, deployments: Vec<Value>) {
        self.inner.lock().unwrap().deployments = deployments;
    }
    fn set_app(&self, app: Value) {
        let id = app["id"].as_str().unwrap().to_owned();
        self.inner.lock().unwrap().apps.insert(id, app);
    }
    fn set_down(&self, down: bool) {
        self.inner.lock().unwrap().down = down;
    }
    fn set_delay(&self, delay: Duration) {
        self.inner.lock().unwrap().delay = delay;
    }
    fn set_legacy(&self, legacy: bool) {
        self.inner.lock().unwrap().legacy = legacy;
    }
    /// Every request: app reads and `/v2/deployments` reads.
    fn reads(&self) -> u32 {
        let s = self.inner.lock().unwrap();
        s.app_reads + s.deployment_reads
    }
    fn deployment_reads(&self) -> u32 {
        self.inner.lock().unwrap().deployment_reads
    }
}

impl MarathonRead for FakeMarathon {
    type Error = Down;

    async fn deployments(&self) -> Result<Vec<Deployment>, Down> {
        let mut s = self.inner.lock().unwrap();
        s.deployment_reads += 1;
        if s.down {
            return Err(Down);
        }
        Ok(s.deployments.iter().map(typed).collect())
    }

    async fn app(&self, app_id: &str) -> Result<Option<App>, Down> {
        let delay = self.inner.lock().unwrap().delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut s = self.inner.lock().unwrap();
        s.app_reads += 1;
        if s.down {
            return Err(Down);
        }
        let Some(mut app) = s.apps.get(app_id).cloned() else {
            return Ok(None);
        };
        // As Marathon does: every running deployment whose plan touches the app.
        if !s.legacy && app.get("deployments").is_none() {
            let holders: Vec<Value> = s
                .deployments
                .iter()
                .filter(|d| {
                    d["affectedApps"]
                        .as_array()
                        .is_some_and(|a| a.iter().any(|x| x == app_id))
                })
                .map(|d| json!({"id": d["id"]}))
                .collect();
            app["deployments"] = Value::Array(holders);
        }
        Ok(Some(typed(&app)))
    }
}

/// Exact Marathon JSON, deserialised into marathon-client's model as the client does.
fn typed<T: serde::de::DeserializeOwned>(json: &Value) -> T {
    serde_json::from_value(json.clone()).expect("Marathon JSON the model reads")
}

/// Ends the deployment in `fake`: the app runs v2 with both tasks healthy and no old one, and
/// ours is no longer listed.
fn end_deployment(fake: &FakeMarathon) {
    fake.set_app(app(V2, "acme/shop:v2", &[true, true], 0));
    fake.set_deployments(vec![]);
}

fn app(version: &str, image: &str, healthy: &[bool], old: usize) -> Value {
    let mut tasks: Vec<Value> = healthy
        .iter()
        .map(|h| json!({"id": "web.new", "state": "TASK_RUNNING", "version": version, "healthCheckResults": [{"alive": h}]}))
        .collect();
    for _ in 0..old {
        tasks.push(json!({"id": "web.old", "state": "TASK_RUNNING", "version": V1, "healthCheckResults": [{"alive": true}]}));
    }
    json!({"id": "/shop-stage/web", "instances": 2, "version": version,
           "versionInfo": {"lastConfigChangeAt": version},
           "container": {"docker": {"image": image}},
           "healthChecks": [{"gracePeriodSeconds": 1, "intervalSeconds": 1, "maxConsecutiveFailures": 1}],
           "tasks": tasks})
}

fn deployment(id: &str) -> Value {
    json!({"id": id, "version": V2, "affectedApps": ["/shop-stage/web"], "currentStep": 1, "totalSteps": 1})
}

fn target() -> WatchTarget {
    WatchTarget {
        deployment_id: "ours".into(),
        version: Some(V2.into()),
        apps: vec![ExpectedApp {
            app_id: "/shop-stage/web".into(),
            image: Some("acme/shop:v2".into()),
        }],
    }
}

fn quick() -> WatchOptions {
    WatchOptions {
        deadline: Some(Duration::from_secs(5)),
        stall_window: Some(Duration::from_secs(5)),
        poll_interval: Duration::from_millis(20),
        resync_interval: Duration::from_millis(200),
    }
}

fn step(id: &str, k: u32, n: u32) -> Signal {
    Signal::DeploymentStep {
        id: id.into(),
        affected_apps: vec!["/shop-stage/web".into()],
        step: Some((k, n)),
    }
}

fn collecting() -> (ProgressSink, Arc<Mutex<Vec<Progress>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let store = Arc::clone(&seen);
    (
        ProgressSink::new(move |p| store.lock().unwrap().push(p)),
        seen,
    )
}

mod deadlines;
mod holders;
mod liveness;
mod target;

type Signals = tokio_stream_shim::Receiver;

mod tokio_stream_shim {
    //! A tiny `Stream` over an mpsc receiver (tokio-stream is not a dependency).
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::Signal;

    pub struct Receiver(pub tokio::sync::mpsc::UnboundedReceiver<Signal>);

    impl futures_util::Stream for Receiver {
        type Item = Signal;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Signal>> {
            self.0.poll_recv(cx)
        }
    }
}

fn signals() -> (mpsc::UnboundedSender<Signal>, Signals) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, tokio_stream_shim::Receiver(rx))
}

#[tokio::test]
async fn success_event_confirmed_by_rest_is_success() {
    let fake = FakeMarathon::default();
    fake.set_deployments(vec![deployment("ours")]);
    fake.set_app(app(V2, "acme/shop:v2", &[false], 2));
    let (tx, rx) = signals();
    tx.send(step("ours", 1, 1)).unwrap();
    let (sink, seen) = collecting();
    let driver = {
        let fake = fake.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            end_deployment(&fake);
            tx.send(Signal::DeploymentSuccess { id: "ours".into() })
                .unwrap();
            tx
        }
    };
    let (target, options) = (target(), quick());
    let (report, _tx) = tokio::join!(
        watch_deployment(&fake, Some(rx), &target, &options, &NEVER, &sink),
        driver
    );
    assert_eq!(report.outcome, WatchOutcome::Succeeded);
    let seen = seen.lock().unwrap();
    assert!(seen.contains(&Progress::AppHealth {
        app: "/shop-stage/web".into(),
        healthy: 2,
        target: 2
    }));
    assert!(seen.contains(&Progress::Step { k: 1, n: 1 }));
}

#[tokio::test]
async fn success_event_without_rest_confirmation_is_not_success() {
    let fake = FakeMarathon::default();
    // Marathon says success, but an old task is still there and REST never catches up.
    fake.set_app(app(V2, "acme/shop:v2", &[true, true], 1));
    let (tx, rx) = signals();
    tx.send(Signal::DeploymentSuccess { id: "ours".into() })
        .unwrap();
    let options = WatchOptions {
        deadline: Some(Duration::from_millis(400)),
        ..quick()
    };
    let report = watch_deployment(
        &fake,
        Some(rx),
        &target(),
        &options,
        &NEVER,
        &ProgressSink::none(),
    )
    .await;
    assert_eq!(
        report.outcome,
        WatchOutcome::TimedOut {
            after: Duration::from_millis(400)
        }
    );
}

#[tokio::test]
async fn success_event_for_another_id_is_ignored() {
    let fake = FakeMarathon::default();
    fake.set_deployments(vec![deployment("ours")]);
    fake.set_app(app(V2, "acme/shop:v2", &[true, true], 0));
    let (tx, rx) = signals();
    tx.send(Signal::DeploymentSuccess {
        id: "theirs".into(),
    })
    .unwrap();
    let options = WatchOptions {
        deadline: Some(Duration::from_millis(300)),
        ..quick()
    };
    let report = watch_deployment(
        &fake,
        Some(rx),
        &target(),
        &options,
        &NEVER,
        &ProgressSink::none(),
    )
    .await;
    assert_eq!(
        report.outcome,
        WatchOutcome::TimedOut {
            after: Duration::from_millis(300)
        }
    );
}

#[tokio::test]
async fn failed_event_with_another_deployment_is_superseded() {
    let fake = FakeMarathon::default();
    fake.set_deployments(vec![deployment("theirs")]);
    fake.set_app(app("2017-03-03T10:00:00.000Z", "acme/shop:v9", &[], 2));
    let (tx, rx) = signals();
    tx.send(Signal::DeploymentFailed { id: "ours".into() })
        .unwrap();
    let report = watch_deployment(
        &fake,
        Some(rx),
        &target(),
        &quick(),
        &NEVER,
        &ProgressSink::none(),
    )
    .await;
    assert_eq!(
        report.outcome,
        WatchOutcome::Superseded {
            by: vec!["theirs".into()]
        }
    );
}

#[tokio::test]
async fn vanished_deployment_with_apps_unchanged_is_cancelled() {
    let fake = FakeMarathon::default();
    fake.set_app(app(V2, "acme/shop:v2", &[false], 2));
    let report = watch_deployment::<_, Signals>(
        &fake,
        None,
        &target(),
        &quick(),
        &NEVER,
        &ProgressSink::none(),
    )
    .await;
    assert_eq!(report.outcome, WatchOutcome::Cancelled);
}

#[tokio::test]
async fn no_new_healthy_task_within_the_window_is_a_stall() {
    let fake = FakeMarathon::default();
    fake.set_deployments(vec![deployment("ours")]);
    fake.set_app(app(V2, "acme/shop:v2", &[false, false], 2));
    let options = WatchOptions {
        stall_window: Some(Duration::from_millis(200)),
        ..quick()
    };
    let report = watch_deployment::<_, Signals>(
        &fake,
        None,
        &target(),
        &options,
        &NEVER,
        &ProgressSink::none(),
    )
    .await;
    assert_eq!(
        report.outcome,
        WatchOutcome::Stalled {
            window: Duration::from_millis(200)
        }
    );
    assert_eq!(report.apps[0].old_tasks, 2);
}

#[tokio::test]
async fn stream_end_falls_back_to_polling_and_still_sees_success() {
    let fake = FakeMarathon::default();
    fake.set_deployments(vec![deployment("ours")]);
    fake.set_app(app(V2, "acme/shop:v2", &[false], 2));
    let (tx, rx) = signals();
    drop(tx);
    let (sink, seen) = collecting();
    let done = CancellationToken::new();
    let driver = {
        let fake = fake.clone();
        let done = done.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(60)).await;
            end_deployment(&fake);
            done.cancelled().await;
        }
    };
    let (target, options) = (target(), quick());
    let watch = async {
        let report = watch_deployment(&fake, Some(rx), &target, &options, &NEVER, &sink).await;
        done.cancel();
        report
    };
    let (report, ()) = tokio::join!(watch, driver);
    assert_eq!(report.outcome, WatchOutcome::Succeeded);
    assert!(
        seen.lock()
            .unwrap()
            .contains(&Progress::FallingBackToPolling)
    );
}

#[tokio::test]
async fn reconnect_resyncs_over_rest_at_once() {
    let fake = FakeMarathon::default();
    fake.set_deployments(vec![deployment("ours")]);
    fake.set_app(app(V2, "acme/shop:v2", &[false], 2));
    let (tx, rx) = signals();
    let options = WatchOptions {
        // Without the reconnect, nothing would be read again for a long time.
        resync_interval: Duration::from_secs(30),
        ..quick()
    };
    let (sink, seen) = collecting();
    let driver = {
        let fake = fake.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            // The success event was lost while the stream was down.
            end_deployment(&fake);
            tx.send(Signal::Reconnected).unwrap();
            tx
        }
    };
    let target = target();
    let (report, _tx) = tokio::join!(
        watch_deployment(&fake, Some(rx), &target, &options, &NEVER, &sink),
        driver
    );
    assert_eq!(report.outcome, WatchOutcome::Succeeded);
    assert!(seen.lock().unwrap().contains(&Progress::StreamReconnected));
}

#[tokio::test]
async fn unreachable_marathon_times_out_and_says_so() {
    let fake = FakeMarathon::default();
    fake.set_down(true);
    let options = WatchOptions {
        deadline: Some(Duration::from_millis(150)),
        ..quick()
    };
    let (sink, seen) = collecting();
    let report =
        watch_deployment::<_, Signals>(&fake, None, &target(), &options, &NEVER, &sink).await;
    assert!(matches!(report.outcome, WatchOutcome::TimedOut { .. }));
    assert!(report.marathon_unreachable);
    assert!(fake.reads() > 1, "kept retrying");
    let seen = seen.lock().unwrap();
    // Each failed read says so on the progress line (how long, why), not as a warning.
    let unreachable: Vec<_> = seen
        .iter()
        .filter_map(|p| match p {
            Progress::MarathonUnreachable { error, .. } => Some(error.as_str()),
            _ => None,
        })
        .collect();
    assert!(unreachable.len() > 1, "said on every failed read");
    assert!(
        unreachable
            .iter()
            .all(|e| e.contains("fake Marathon is down"))
    );
    assert!(!seen.iter().any(|p| matches!(p, Progress::Warning { .. })));
}

#[tokio::test]
async fn marathon_answering_again_is_said_once() {
    let fake = FakeMarathon::default();
    fake.set_down(true);
    fake.set_app(app(V2, "acme/shop:v2", &[true, true], 0));
    let (sink, seen) = collecting();
    let driver = {
        let fake = fake.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(60)).await;
            fake.set_down(false);
        }
    };
    let (target, options) = (target(), quick());
    let (report, ()) = tokio::join!(
        watch_deployment::<_, Signals>(&fake, None, &target, &options, &NEVER, &sink),
        driver
    );
    assert_eq!(report.outcome, WatchOutcome::Succeeded);
    assert!(!report.marathon_unreachable);
    let back = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|p| matches!(p, Progress::MarathonReachable))
        .count();
    assert_eq!(back, 1);
}

#[test]
fn default_windows_grow_with_instances_and_grace() {
    let obs = |instances, allowance| AppObservation {
        deployments: None,
        app_id: "/a".into(),
        on_target: true,
        version: None,
        image: None,
        instances,
        new_running: 0,
        new_healthy: 0,
        old_tasks: 0,
        health_allowance_secs: allowance,
        last_task_failure: None,
        unhealthy_tasks: Vec::new(),
    };
    assert_eq!(default_deadline(&[]), Duration::from_secs(120));
    assert_eq!(
        default_deadline(&[obs(10, 330)]),
        Duration::from_secs(60 + 10 * 360)
    );
    assert_eq!(
        default_stall_window(&[obs(1, 330), obs(1, 30)]),
        Duration::from_secs(450)
    );
}

#[tokio::test]
async fn old_tasks_going_away_is_progress_not_a_stall() {
    let fake = FakeMarathon::default();
    fake.set_deployments(vec![deployment("ours")]);
    // Every new task is healthy; Marathon is still killing old ones, one at a time.
    fake.set_app(app(V2, "acme/shop:v2", &[true, true], 3));
    let driver = {
        let fake = fake.clone();
        async move {
            for left in [2, 1, 0] {
                tokio::time::sleep(Duration::from_millis(150)).await;
                fake.set_app(app(V2, "acme/shop:v2", &[true, true], left));
            }
            fake.set_deployments(vec![]);
        }
    };
    let options = WatchOptions {
        stall_window: Some(Duration::from_millis(300)),
        ..quick()
    };
    let (target, sink) = (target(), ProgressSink::none());
    let (report, ()) = tokio::join!(
        watch_deployment::<_, Signals>(&fake, None, &target, &options, &NEVER, &sink),
        driver
    );
    assert_eq!(report.outcome, WatchOutcome::Succeeded);
}

#[tokio::test]
async fn quick_deployment_with_a_stream_costs_one_confirming_read() {
    let fake = FakeMarathon::default();
    fake.set_deployments(vec![deployment("ours")]);
    fake.set_app(app(V2, "acme/shop:v2", &[false], 2));
    let (tx, rx) = signals();
    let (sink, _seen) = collecting();
    // Intervals far longer than the deployment, so only the events can prompt a read.
    let options = WatchOptions {
        deadline: Some(Duration::from_secs(30)),
        poll_interval: Duration::from_secs(10),
        resync_interval: Duration::from_secs(20),
        ..quick()
    };
    let driver = {
        let fake = fake.clone();
        async move {
            // A burst of progress events, then the end, all within the first poll interval.
            tx.send(step("ours", 1, 1)).unwrap();
            tx.send(Signal::AppActivity {
                app_id: "/shop-stage/web".into(),
            })
            .unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            end_deployment(&fake);
            tx.send(Signal::DeploymentSuccess { id: "ours".into() })
                .unwrap();
            tx
        }
    };
    let target = target();
    let (report, _tx) = tokio::join!(
        watch_deployment(&fake, Some(rx), &target, &options, &NEVER, &sink),
        driver
    );
    assert_eq!(report.outcome, WatchOutcome::Succeeded);
    assert_eq!(
        fake.reads(),
        1,
        "only the read confirming the success: one app, no /v2/deployments"
    );
}

#[tokio::test]
async fn progress_events_prompt_a_read_within_a_poll_interval() {
    let fake = FakeMarathon::default();
    fake.set_deployments(vec![deployment("ours")]);
    fake.set_app(app(V2, "acme/shop:v2", &[true], 1));
    let (tx, rx) = signals();
    let (sink, seen) = collecting();
    let options = WatchOptions {
        deadline: Some(Duration::from_secs(30)),
        poll_interval: Duration::from_millis(200),
        resync_interval: Duration::from_secs(20),
        ..quick()
    };
    let driver = async move {
        tx.send(Signal::AppActivity {
            app_id: "/shop-stage/web".into(),
        })
        .unwrap();
        tokio::time::sleep(Duration::from_millis(1200)).await;
        tx
    };
    let target = target();
    let watch = tokio::time::timeout(
        Duration::from_millis(1000),
        watch_deployment(&fake, Some(rx), &target, &options, &NEVER, &sink),
    );
    let (ended, _tx) = tokio::join!(watch, driver);
    assert!(ended.is_err(), "the deployment is still running");
    assert_eq!(
        fake.reads(),
        1,
        "one read for the burst, not before a poll interval"
    );
    assert!(seen.lock().unwrap().contains(&Progress::AppHealth {
        app: "/shop-stage/web".into(),
        healthy: 1,
        target: 2
    }));
}

#[tokio::test]
async fn versionless_target_whose_app_definition_changes_is_not_success() {
    let fake = FakeMarathon::default();
    fake.set_deployments(vec![deployment("ours")]);
    fake.set_app(app(V2, "acme/shop:v2", &[false], 2));
    let driver = {
        let fake = fake.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(60)).await;
            // Someone else's deployment changed the app (same image) and has already ended.
            let v3 = "2017-03-03T10:00:00.000Z";
            fake.set_app(app(v3, "acme/shop:v2", &[true, true], 0));
            fake.set_deployments(vec![]);
        }
    };
    let target = WatchTarget {
        version: None,
        ..target()
    };
    let (report, ()) = tokio::join!(polling(quick(), fake.clone(), target), driver);
    assert_eq!(report.outcome, WatchOutcome::Superseded { by: vec![] });
}

#[tokio::test]
async fn step_events_show_progress_and_a_later_step_is_not_a_stall() {
    let fake = FakeMarathon::default();
    fake.set_deployments(vec![deployment("ours")]);
    // No task gets healthy until the end: only the steps show the deployment moving.
    fake.set_app(app(V2, "acme/shop:v2", &[false], 2));
    let (tx, rx) = signals();
    let (sink, seen) = collecting();
    let driver = {
        let fake = fake.clone();
        async move {
            for k in 1..=3 {
                tx.send(step("ours", k, 3)).unwrap();
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            end_deployment(&fake);
            tx.send(Signal::DeploymentSuccess { id: "ours".into() })
                .unwrap();
            tx
        }
    };
    let options = WatchOptions {
        stall_window: Some(Duration::from_millis(250)),
        ..quick()
    };
    let target = target();
    let (report, _tx) = tokio::join!(
        watch_deployment(&fake, Some(rx), &target, &options, &NEVER, &sink),
        driver
    );
    assert_eq!(report.outcome, WatchOutcome::Succeeded);
    let steps: Vec<Progress> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|p| matches!(p, Progress::Step { .. }))
        .cloned()
        .collect();
    assert_eq!(
        steps,
        [1, 2, 3].map(|k| Progress::Step { k, n: 3 }).to_vec()
    );
}

async fn polling(options: WatchOptions, fake: FakeMarathon, target: WatchTarget) -> WatchReport {
    watch_deployment::<_, Signals>(
        &fake,
        None,
        &target,
        &options,
        &NEVER,
        &ProgressSink::none(),
    )
    .await
}
