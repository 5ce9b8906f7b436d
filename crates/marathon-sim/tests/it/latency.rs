//! `Control::set_latency`: every answer comes a fixed real delay later, an event stream's
//! head included but not its events.

use std::time::{Duration, Instant};

use crate::support::*;
use marathon_sim::SimOptions;
use serde_json::json;

#[tokio::test]
async fn a_get_is_answered_no_earlier_than_the_latency_after_it_was_sent() {
    let (sim, client) = start(SimOptions::default()).await;
    let control = sim.control();
    assert_eq!(control.latency(), Duration::ZERO, "off by default");
    let latency = Duration::from_millis(150);
    control.set_latency(latency);
    let sent = Instant::now();
    let (status, info) = get_json(&client, &format!("{}/v2/info", sim.url())).await;
    let answered = sent.elapsed();
    assert_eq!(status, 200);
    assert!(info["version"].is_string(), "{info}");
    assert!(answered >= latency, "answered after {answered:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_delayed_put_starts_its_deployment_only_after_the_latency() {
    let (sim, client) = start(SimOptions::default().task_start(Duration::from_millis(20))).await;
    let control = sim.control();
    let latency = Duration::from_millis(150);
    control.set_latency(latency);
    // Simulated time runs at real speed: the sim's own clock shows when the PUT was handled.
    let sent = control.sim_time();
    let id = deploy(
        &client,
        &sim.url(),
        "/shop-prod",
        &json!({"apps": [app("web", "r/shop:v1", 1)]}),
    )
    .await;
    let record = control
        .deployment_history()
        .into_iter()
        .find(|r| r.id == id)
        .expect("the deployment is recorded");
    assert!(
        record.started >= sent + latency,
        "sent at {sent:?}, started at {:?}",
        record.started
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_streams_head_waits_the_latency_but_its_events_do_not() {
    let (sim, client) = start(SimOptions::default().speed(0.0)).await;
    let control = sim.control();
    let url = sim.url();
    // Simulated time stands still: the deployment runs until the test ends it.
    let id = deploy(
        &client,
        &url,
        "/shop-prod",
        &json!({"apps": [app("web", "r/shop:v1", 1)]}),
    )
    .await;
    let latency = Duration::from_millis(150);
    control.set_latency(latency);
    let opened = Instant::now();
    let mut stream = subscribe(&client, &url, "?event_type=deployment_success").await;
    let head = opened.elapsed();
    assert!(head >= latency, "stream head after {head:?}");
    // Any request from now on would wait an hour; the open stream's events must not.
    control.set_latency(Duration::from_secs(3600));
    assert!(control.complete_deployment_now(&id));
    let (kind, data) = stream
        .next_event()
        .await
        .expect("deployment_success arrives while requests wait an hour");
    assert_eq!(kind, "deployment_success");
    assert_eq!(data["id"], id.as_str());
    control.set_latency(Duration::ZERO);
    sim.shutdown().await;
}
