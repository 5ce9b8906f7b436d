//! The watch over marathon-client against marathon-sim: what it asks Marathon, and the watch of
//! a rollback by its id.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use marathon_client::{AppEmbed, Client, Config, Group, GroupUpdateOptions};
use marathon_sim::{MarathonSim, SimOptions, TaskOutcome};
use serde_json::json;

use super::*;

/// A cancellation that never comes, for watches that run to their end.
static NEVER: std::sync::LazyLock<CancellationToken> =
    std::sync::LazyLock::new(CancellationToken::new);

const GROUP: &str = "/shop-stage";
const WEB: &str = "/shop-stage/web";

async fn start() -> (MarathonSim, Client) {
    let sim = MarathonSim::start(
        SimOptions::default()
            .task_start(Duration::from_millis(5))
            .keepalive(Duration::from_millis(200))
            .rule("*:bad", TaskOutcome::NeverHealthy),
    )
    .await
    .expect("marathon-sim starts");
    let config = Config::new(&sim.url())
        .expect("sim URL")
        .with_request_timeout(Duration::from_secs(5));
    let client = Client::new(config).expect("client");
    (sim, client)
}

/// The group with one app of two instances at `tag`, with or without a health check.
///
/// An update may kill one old task before its replacement is up, so an update that fails
/// leaves something for its rollback to do.
fn group(tag: &str, health_checked: bool) -> Group {
    let mut web = json!({
        "id": WEB, "instances": 2, "cpus": 0.1, "mem": 64,
        "container": {"type": "DOCKER", "docker": {"image": format!("acme/shop:{tag}"), "network": "BRIDGE"}},
        "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.0}
    });
    if health_checked {
        web["healthChecks"] = json!([{"protocol": "HTTP", "path": "/health", "gracePeriodSeconds": 1,
                                      "intervalSeconds": 1, "maxConsecutiveFailures": 1}]);
    }
    serde_json::from_value(json!({"id": GROUP, "apps": [web]})).expect("group JSON")
}

fn collecting() -> (ProgressSink, Arc<Mutex<Vec<Progress>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let store = Arc::clone(&seen);
    (
        ProgressSink::new(move |p| store.lock().unwrap().push(p)),
        seen,
    )
}

fn options() -> WatchOptions {
    WatchOptions {
        deadline: Some(Duration::from_secs(10)),
        stall_window: Some(Duration::from_secs(5)),
        poll_interval: Duration::from_millis(100),
        resync_interval: Duration::from_millis(500),
    }
}

/// Updates the group to `tag` and waits until Marathon lists no deployment.
async fn settle_at(client: &Client, tag: &str, health_checked: bool) {
    client
        .update_group(&group(tag, health_checked), GroupUpdateOptions::default())
        .await
        .expect("update");
    let settled = async {
        while !client.deployments().await.expect("deployments").is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), settled)
        .await
        .expect("settled within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_of_a_rollback_by_its_id_succeeds_when_the_old_version_is_back() {
    let (sim, client) = start().await;
    settle_at(&client, "v1", true).await;
    let failing = client
        .update_group(&group("bad", true), GroupUpdateOptions::default())
        .await
        .expect("update");
    let old_task_killed = async {
        loop {
            let web = client.app(WEB, &[AppEmbed::Tasks]).await.expect("app");
            let old = web
                .tasks
                .unwrap_or_default()
                .iter()
                .filter(|t| t.version.as_deref() != web.version.as_deref())
                .count();
            if old < 2 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), old_task_killed)
        .await
        .expect("an old task killed within 10 s");
    // Simulated time stands still until the watch has begun, so the rollback is running
    // when `duncan watch` looks it up.
    sim.control().set_speed(0.0);
    // Cancelled without force: Marathon starts a rollback to the app's old definition.
    let rollback = client
        .cancel_deployment(&failing.deployment_id)
        .await
        .expect("cancel");
    let web = client.app(WEB, &[]).await.expect("app");
    assert_ne!(
        web.version.as_deref(),
        Some(rollback.version.as_str()),
        "the rollback gives the app its old version, not the rollback's own"
    );

    let (sink, seen) = collecting();
    let control = sim.control();
    let resume = async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        control.set_speed(1.0);
    };
    let options = options();
    let (report, ()) = tokio::join!(
        watch_running(&client, &rollback.deployment_id, &options, &NEVER, &sink),
        resume
    );
    let report = report.expect("the rollback is running");

    assert_eq!(report.outcome, WatchOutcome::Succeeded, "{report:?}");
    let app = report.apps.first().expect("the app");
    assert!(app.is_done(), "{app:?}");
    assert_eq!(app.image.as_deref(), Some("acme/shop:v1"));
    assert!(
        !seen
            .lock()
            .unwrap()
            .iter()
            .any(|p| matches!(p, Progress::FallingBackToPolling)),
        "followed on the event stream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_of_a_quick_deploy_asks_marathon_for_the_app_once_and_never_for_deployments() {
    let (sim, client) = start().await;
    // No health check: tasks are up once running, so the deployment ends within milliseconds
    // and the stream's `deployment_success` prompts the one confirming read.
    settle_at(&client, "v1", false).await;
    sim.control().clear_requests();

    let (sink, seen) = collecting();
    let signals = open_signals(&client, &sink).await;
    let started = client
        .update_group(&group("v2", false), GroupUpdateOptions::default())
        .await
        .expect("update");
    let target = WatchTarget {
        deployment_id: started.deployment_id.clone(),
        version: Some(started.version.clone()),
        apps: vec![ExpectedApp {
            app_id: WEB.into(),
            image: Some("acme/shop:v2".into()),
        }],
    };
    let watch_options = WatchOptions {
        deadline: Some(Duration::from_secs(10)),
        ..WatchOptions::default()
    };
    let report = watch_deployment(&client, signals, &target, &watch_options, &NEVER, &sink).await;
    assert_eq!(report.outcome, WatchOutcome::Succeeded, "{report:?}");

    let log: Vec<String> = sim
        .control()
        .requests()
        .into_iter()
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect();
    let events = "GET /v2/events?event_type=deployment_info&event_type=deployment_step_success\
                  &event_type=deployment_step_failure&event_type=deployment_success\
                  &event_type=deployment_failed&event_type=status_update_event\
                  &event_type=health_status_changed_event&plan-format=light";
    assert_eq!(
        log,
        [
            events,
            "PUT /v2/groups/shop-stage",
            "GET /v2/apps/shop-stage/web?embed=app.tasks&embed=app.deployments&embed=app.lastTaskFailure",
        ],
        "one event stream, the update, one confirming read"
    );
    // The step comes from the stream's `deployment_info`, not from a REST read.
    assert!(
        seen.lock()
            .unwrap()
            .contains(&Progress::Step { k: 1, n: 1 })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_signals_carry_keep_alives_and_the_drop_and_return_of_the_stream() {
    let (sim, client) = start().await;
    let mut signals = open_signals(&client, &ProgressSink::none())
        .await
        .expect("the stream opens");
    // Nothing happens on the cluster: the sim's keep-alives (every 200 ms) come through.
    assert_eq!(
        next_other_than(&mut signals, &[Signal::Other]).await,
        Signal::KeepAlive
    );
    sim.control().drop_event_streams();
    let quiet = &[Signal::Other, Signal::KeepAlive];
    assert_eq!(
        next_other_than(&mut signals, quiet).await,
        Signal::Disconnected
    );
    assert_eq!(
        next_other_than(&mut signals, quiet).await,
        Signal::Reconnected
    );
}

/// The next signal that is not one of `skip`, failing the test instead of hanging.
async fn next_other_than(signals: &mut SignalStream, skip: &[Signal]) -> Signal {
    loop {
        let signal = tokio::time::timeout(Duration::from_secs(5), signals.next())
            .await
            .expect("a signal within 5 s")
            .expect("the stream goes on");
        if !skip.contains(&signal) {
            return signal;
        }
    }
}
