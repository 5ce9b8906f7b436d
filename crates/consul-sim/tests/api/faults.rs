//! Test controls: injected statuses, dropped connections, pause, latency, request log.

use std::time::Duration;

use reqwest::{Method, StatusCode};

use crate::util::start;

#[tokio::test]
async fn fail_next_matching_fails_only_the_matching_requests() {
    let h = start().await;
    h.control.fail_next_matching(1, 500, "cas=");
    assert_eq!(h.get("/v1/kv/k").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        h.put("/v1/kv/k?cas=0", "1").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert!(h.control.kv_snapshot().is_empty());
    assert_eq!(h.put("/v1/kv/k?cas=0", "1").await.body, "true");
}

#[tokio::test]
async fn fail_next_answers_the_status_then_recovers() {
    let h = start().await;
    h.control.fail_next(2, 503);
    let first = h.put("/v1/kv/k", "1").await;
    let second = h.get("/v1/kv/k").await;
    assert_eq!(
        (first.status, second.status),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::SERVICE_UNAVAILABLE
        )
    );
    assert!(!first.body.is_empty());
    assert!(
        h.control.kv_snapshot().is_empty(),
        "a failed request changes nothing"
    );
    assert_eq!(h.put("/v1/kv/k", "1").await.body, "true");
    h.control.fail_next(1, 429);
    assert_eq!(
        h.get("/v1/kv/k").await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    h.control.fail_next(1, 500);
    assert_eq!(
        h.get("/v1/kv/k").await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[tokio::test]
async fn drop_next_closes_the_connection_without_answer() {
    let h = start().await;
    h.control.drop_next(1);
    let dropped = h.http.get(format!("{}/v1/kv/k", h.sim.url())).send().await;
    assert!(dropped.is_err(), "got an answer: {dropped:?}");
    assert_eq!(h.put("/v1/kv/k", "1").await.body, "true");
    let log = h.control.requests();
    assert_eq!(log.first().map(|r| r.status), Some(0));
}

#[tokio::test]
async fn pause_holds_requests_until_resume() {
    let h = start().await;
    h.control.pause();
    let http = h.http.clone();
    let url = format!("{}/v1/status/leader", h.sim.url());
    let held = tokio::spawn(async move { http.get(url).send().await.map(|r| r.status()) });
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!held.is_finished(), "answered while paused");
    h.control.resume();
    let status = tokio::time::timeout(Duration::from_secs(5), held)
        .await
        .expect("answered after resume")
        .expect("ran");
    assert_eq!(status.ok(), Some(StatusCode::OK));
}

#[tokio::test]
async fn latency_delays_but_still_answers() {
    let h = start().await;
    h.control.set_latency(Duration::from_millis(30));
    assert_eq!(h.get("/v1/status/leader").await.status, StatusCode::OK);
    h.control.set_latency(Duration::ZERO);
}

#[tokio::test]
async fn request_log_keeps_path_query_headers_and_status() {
    let h = start().await;
    h.send(
        Method::PUT,
        "/v1/kv/a%2Fb?cas=0&flags=1",
        Some(b"x".to_vec()),
        &[("X-Consul-Token", "sekrit")],
    )
    .await;
    h.get("/v1/kv/missing").await;
    assert_eq!(h.control.request_count(), 2);
    let log = h.control.requests();
    let first = &log[0];
    assert_eq!(
        (
            first.method.as_str(),
            first.path_and_query.as_str(),
            first.status
        ),
        ("PUT", "/v1/kv/a%2Fb?cas=0&flags=1", 200)
    );
    assert_eq!(first.header("x-consul-token"), Some("sekrit"));
    assert!(
        !format!("{first:?}").contains("sekrit"),
        "Debug redacts the token"
    );
    assert_eq!(log[1].status, 404);
    h.control.clear_requests();
    assert_eq!(
        (h.control.request_count(), h.control.requests().len()),
        (0, 0)
    );
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let h = start().await;
    let url = h.sim.url();
    let http = h.http.clone();
    h.sim.shutdown().await;
    assert!(
        http.get(format!("{url}/v1/status/leader"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn debug_of_a_recorded_request_redacts_query_tokens() {
    let h = start().await;
    h.get("/v1/kv/x?token=sekrit&recurse").await;
    let log = h.control.requests();
    let shown = format!("{:?}", log);
    assert!(!shown.contains("sekrit"), "{shown}");
    assert!(shown.contains("token=<redacted>&recurse"), "{shown}");
    // The field itself keeps the request exactly as sent, for assertions on URLs.
    assert_eq!(log[0].path_and_query, "/v1/kv/x?token=sekrit&recurse");
}

#[tokio::test]
async fn request_bodies_are_recorded_but_not_shown_by_debug() {
    let h = start().await;
    h.put("/v1/kv/hook", "https://hooks.example/sekrit-path")
        .await;
    h.get("/v1/kv/hook").await;
    let log = h.control.requests();
    assert_eq!(log[0].body, b"https://hooks.example/sekrit-path");
    assert!(log[1].body.is_empty(), "a GET has no body");
    let shown = format!("{:?}", log[0]);
    assert!(!shown.contains("sekrit"), "{shown}");
    assert!(shown.contains("<33 bytes>"), "{shown}");
}

#[tokio::test]
async fn recorded_body_is_capped_while_the_endpoint_sees_it_whole() {
    let h = start().await;
    // Larger than the cap, smaller than Consul's 512 KiB value limit.
    let value = "v".repeat(consul_sim::MAX_RECORDED_BODY + 1000);
    let a = h.put("/v1/kv/big", &value).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let stored = h.control.kv_snapshot();
    assert_eq!(stored.get("big").map(Vec::len), Some(value.len()));
    let log = h.control.requests();
    assert_eq!(log[0].body.len(), consul_sim::MAX_RECORDED_BODY);
}
