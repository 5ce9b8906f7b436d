//! The event stream: wire format, filters, plan format, keep-alives and dropped subscribers.

use std::time::{Duration, Instant};

use crate::support::*;
use marathon_sim::SimOptions;
use serde_json::json;

#[tokio::test]
async fn first_event_is_attached_and_keepalives_arrive_at_the_interval() {
    let keepalive = Duration::from_millis(50);
    let (sim, client) = start(SimOptions::default().keepalive(keepalive)).await;
    let opened = Instant::now();
    let mut stream = subscribe(&client, &sim.url(), "").await;
    match stream.rx.recv().await {
        Some(Item::Event { kind, data }) => {
            assert_eq!(kind, "event_stream_attached");
            assert_eq!(data["eventType"], "event_stream_attached");
            assert!(data["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
        }
        other => panic!("expected event_stream_attached first, got {other:?}"),
    }
    let mut arrivals = vec![opened];
    while arrivals.len() < 5 {
        match stream.rx.recv().await {
            Some(Item::KeepAlive(at)) => arrivals.push(at),
            other => panic!("expected keep-alives, got {other:?}"),
        }
    }
    // A keep-alive never comes before its interval is over.
    for pair in arrivals.windows(2) {
        assert!(
            pair[1] - pair[0] >= keepalive.mul_f32(0.8),
            "{:?}",
            pair[1] - pair[0]
        );
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn wire_format_is_event_and_data_lines_with_crlf() {
    let (sim, client) = start(SimOptions::default().keepalive(Duration::from_secs(60))).await;
    let res = client
        .get(format!("{}/v2/events", sim.url()))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .expect("answered");
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream;charset=UTF-8")
    );
    let mut res = res;
    let chunk = res.chunk().await.ok().flatten().unwrap_or_default();
    let text = String::from_utf8_lossy(&chunk);
    assert!(
        text.starts_with("event: event_stream_attached\r\ndata: {"),
        "{text:?}"
    );
    assert!(text.ends_with("}\r\n\r\n"), "{text:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn event_type_filters_and_light_plans() {
    let (sim, client) = start(SimOptions::default().task_start(Duration::from_millis(20))).await;
    let url = sim.url();
    let mut light = subscribe(
        &client,
        &url,
        "?event_type=deployment_success&event_type=deployment_info&plan-format=light",
    )
    .await;
    let mut full = subscribe(&client, &url, "?event_type=deployment_success").await;
    let id = deploy(
        &client,
        &url,
        "/shop-prod",
        &json!({"apps": [app("web", "r/shop:v1", 1)]}),
    )
    .await;
    let seen = light.until(|k, _| k == "deployment_success").await;
    assert!(
        seen.iter()
            .all(|(k, _)| k == "deployment_info" || k == "deployment_success"),
        "only the asked types"
    );
    for (_, data) in &seen {
        assert_eq!(data["plan"]["id"], id.as_str());
        assert!(data["plan"].get("original").is_none() && data["plan"].get("target").is_none());
        assert!(data["plan"]["steps"].is_array());
    }
    let (kind, data) = full.next_event().await.expect("an event");
    assert_eq!(kind, "deployment_success");
    assert_eq!(data["plan"]["target"]["groups"][0]["id"], "/shop-prod");
    sim.shutdown().await;
}

#[tokio::test]
async fn stream_without_event_stream_accept_is_refused_like_jetty() {
    let (sim, client) = start(SimOptions::default()).await;
    let res = client
        .get(format!("{}/v2/events", sim.url()))
        .header("Accept", "application/json")
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 405);
    assert_eq!(sim.control().event_stream_count(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn dropping_streams_closes_every_connection() {
    let (sim, client) = start(SimOptions::default()).await;
    let mut stream = subscribe(&client, &sim.url(), "").await;
    assert!(stream.next_event().await.is_some());
    sim.control().drop_event_streams();
    assert!(stream.next_event().await.is_none(), "the stream ends");
    assert_eq!(sim.control().event_stream_count(), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn stalled_streams_send_nothing_and_a_slow_consumer_is_dropped() {
    let options = SimOptions::default()
        .keepalive(Duration::from_millis(20))
        .event_buffer(4)
        .task_start(Duration::from_millis(10));
    let (sim, client) = start(options).await;
    let url = sim.url();
    let mut stream = subscribe(&client, &url, "").await;
    assert!(stream.next_event().await.is_some());
    sim.control().stall_event_streams(true);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        stream.rx.try_recv().is_err(),
        "not even keep-alives while stalled"
    );
    // More events than the subscriber's buffer holds: it is dropped.
    deploy(
        &client,
        &url,
        "/shop-prod",
        &json!({"apps": [app("web", "r/shop:v1", 3)]}),
    )
    .await;
    wait_idle(&client, &url).await;
    assert_eq!(sim.control().event_stream_count(), 0);
    sim.control().stall_event_streams(false);
    let mut rest = 0;
    while stream.rx.recv().await.is_some() {
        rest += 1;
    }
    assert!(
        rest <= 1,
        "the connection closed without delivering the backlog"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn leader_loss_closes_streams() {
    let (sim, client) = start(SimOptions::default()).await;
    let mut stream = subscribe(&client, &sim.url(), "").await;
    assert!(stream.next_event().await.is_some());
    sim.control().set_leader_available(false);
    assert!(stream.next_event().await.is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn redirected_event_stream_is_served_under_the_leaders_prefix() {
    let (sim, client) = start(SimOptions::default().token("t0ken")).await;
    sim.control().redirect_event_stream(true);
    let res = client
        .get(format!(
            "{}/v2/events?event_type=event_stream_attached",
            sim.url()
        ))
        .header("Accept", "text/event-stream")
        .header("Authorization", "token=t0ken")
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 200, "reqwest follows the redirect");
    assert_eq!(res.url().path(), "/service/marathon/v2/events");
    let requests = sim.control().requests();
    assert_eq!(requests[0].status, 302);
    assert_eq!(
        requests[1].path_and_query,
        "/service/marathon/v2/events?event_type=event_stream_attached"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_client_that_goes_away_no_longer_counts_as_a_stream() {
    let (sim, client) = start(SimOptions::default().keepalive(Duration::from_millis(20))).await;
    let res = client
        .get(format!("{}/v2/events", sim.url()))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .expect("answered");
    assert_eq!(sim.control().event_stream_count(), 1);
    drop(res);
    drop(client);
    let mut open = 1;
    for _ in 0..250 {
        open = sim.control().event_stream_count();
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(open, 0);
    sim.shutdown().await;
}
