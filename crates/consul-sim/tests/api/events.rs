//! User events and the small status endpoints.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::util::start;

#[tokio::test]
async fn fired_event_is_listed_with_payload_and_filtered_by_name() {
    let h = start().await;
    let a = h
        .put("/v1/event/fire/duncan-deploy", r#"{"app":"a"}"#)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let fired = a.json();
    assert_eq!(fired["Name"], "duncan-deploy");
    assert_eq!(fired["LTime"], json!(0));
    assert_eq!(fired["Version"], json!(1));
    h.put("/v1/event/fire/other", "").await;

    let list = h.get("/v1/event/list?name=duncan-deploy").await;
    assert_eq!(list.status, StatusCode::OK);
    let events = list.json();
    assert_eq!(events.as_array().map(Vec::len), Some(1));
    assert_eq!(events[0]["ID"], fired["ID"]);
    assert_eq!(events[0]["Payload"], json!("eyJhcHAiOiJhIn0="));
    assert!(list.index() > 1);
    assert_eq!(
        h.get("/v1/event/list")
            .await
            .json()
            .as_array()
            .map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn only_the_last_256_events_are_kept() {
    let h = start().await;
    for i in 0..260 {
        h.put(&format!("/v1/event/fire/e{i}"), "").await;
    }
    let events = h.get("/v1/event/list").await.json();
    assert_eq!(events.as_array().map(Vec::len), Some(256));
    assert_eq!(events[0]["Name"], "e4");
}

#[tokio::test]
async fn oversized_event_is_refused_with_serf_wording() {
    let h = start().await;
    let a = h.put("/v1/event/fire/big", &"x".repeat(600)).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        a.body,
        "user event exceeds configured limit of 512 bytes before encoding"
    );
}

#[tokio::test]
async fn event_list_blocks_until_a_new_event() {
    let h = start().await;
    h.put("/v1/event/fire/first", "").await;
    let index = h.get("/v1/event/list").await.index();
    let url = format!("{}/v1/event/list?index={index}&wait=30s", h.sim.url());
    let http = h.http.clone();
    let waiter = tokio::spawn(async move {
        http.get(url)
            .send()
            .await
            .expect("answered")
            .text()
            .await
            .unwrap_or_default()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiter.is_finished());
    h.put("/v1/event/fire/second", "").await;
    let body = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("woke")
        .expect("ran");
    assert!(body.contains("second"), "{body}");
}

#[tokio::test]
async fn status_leader_is_a_json_string() {
    let h = start().await;
    let a = h.get("/v1/status/leader").await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (StatusCode::OK, r#""127.0.0.1:8300""#)
    );
    assert_eq!(
        h.get("/v1/status/peers").await.json(),
        json!(["127.0.0.1:8300"])
    );
}

#[tokio::test]
async fn unknown_path_is_go_404() {
    let h = start().await;
    let a = h.get("/v1/nothing/here").await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (StatusCode::NOT_FOUND, "404 page not found\n")
    );
}
