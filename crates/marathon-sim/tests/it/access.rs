//! Access to the API: auth, the DC/OS prefix, leader loss, info and request recording.

use std::time::Duration;

use marathon_sim::SimOptions;
use serde_json::{Value, json};

use crate::support::*;

const V1: &str = "registry.example/shop:v1";

fn fast() -> SimOptions {
    SimOptions::default().task_start(Duration::from_millis(20))
}

#[tokio::test]
async fn api_is_served_under_the_dcos_prefix_too() {
    let (sim, client) = start(fast()).await;
    let base = format!("{}/service/marathon", sim.url());
    let id = deploy(
        &client,
        &base,
        "/shop-prod",
        &json!({"apps": [app("web", V1, 1)]}),
    )
    .await;
    let (status, list) = get_json(&client, &format!("{base}/v2/deployments")).await;
    assert_eq!(status, 200);
    assert!(
        list.as_array()
            .is_some_and(|l| l.iter().all(|d| d["id"] == id.as_str()))
    );
    let (status, info) = get_json(&client, &format!("{base}/v2/info")).await;
    assert_eq!((status, info["name"].clone()), (200, json!("marathon")));
    let pong = client
        .get(format!("{base}/ping"))
        .send()
        .await
        .expect("answered");
    assert_eq!(pong.text().await.ok().as_deref(), Some("pong"));
    let paths: Vec<String> = sim
        .control()
        .requests()
        .into_iter()
        .map(|r| r.path_and_query)
        .collect();
    assert!(
        paths.iter().all(|p| p.starts_with("/service/marathon/")),
        "{paths:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn token_auth_answers_401_without_and_403_when_forbidden() {
    let (sim, client) = start(fast().token("s3cret")).await;
    let url = sim.url();
    let res = client
        .get(format!("{url}/v2/apps"))
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 401);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body, json!({"message": "Invalid username or password."}));
    let wrong = client
        .get(format!("{url}/v2/apps"))
        .header("Authorization", "token=nope")
        .send()
        .await
        .expect("answered");
    assert_eq!(wrong.status(), 401);
    let ok = client
        .get(format!("{url}/v2/apps"))
        .header("Authorization", "token=s3cret")
        .send()
        .await
        .expect("answered");
    assert_eq!(ok.status(), 200);
    sim.control().set_forbidden(true);
    let res = client
        .get(format!("{url}/v2/apps"))
        .header("Authorization", "token=s3cret")
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 403);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(
        body,
        json!({"message": "Not Authorized to perform this action!"})
    );
    let ping = client
        .get(format!("{url}/ping"))
        .send()
        .await
        .expect("answered");
    assert_eq!(ping.status(), 200, "ping needs no auth");
    let recorded = format!("{:?}", sim.control().requests());
    assert!(
        !recorded.contains("s3cret"),
        "Debug of recorded requests redacts the token"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn basic_auth_accepts_the_right_password_only() {
    let (sim, client) = start(fast().basic_auth("ops", "pa55")).await;
    let url = sim.url();
    let ok = client
        .get(format!("{url}/v2/info"))
        .basic_auth("ops", Some("pa55"))
        .send()
        .await
        .expect("answered");
    assert_eq!(ok.status(), 200);
    let bad = client
        .get(format!("{url}/v2/info"))
        .basic_auth("ops", Some("nope"))
        .send()
        .await
        .expect("answered");
    assert_eq!(bad.status(), 401);
    assert!(bad.headers().get("WWW-Authenticate").is_some());
    sim.shutdown().await;
}

#[tokio::test]
async fn leader_unavailable_answers_503_until_back() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    sim.control().set_leader_available(false);
    let (status, body) = get_json(&client, &format!("{url}/v2/apps")).await;
    assert_eq!(status, 503);
    assert!(body["message"].is_string());
    sim.control().set_leader_available(true);
    assert_eq!(get_json(&client, &format!("{url}/v2/apps")).await.0, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn requests_are_recorded_with_their_bytes() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    let body = json!({"apps": [app("web", V1, 1)]});
    deploy(&client, &url, "/shop-prod", &body).await;
    let (_, apps) = get_json(&client, &format!("{url}/v2/apps?embed=apps.tasks")).await;
    let requests = sim.control().requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        (requests[0].method.as_str(), requests[0].status),
        ("PUT", 200)
    );
    assert_eq!(requests[0].bytes_in, body.to_string().len() as u64);
    assert_eq!(requests[1].path_and_query, "/v2/apps?embed=apps.tasks");
    assert_eq!(requests[1].bytes_out, apps.to_string().len() as u64);
    let stats = sim.control().request_stats();
    assert_eq!(stats.count, 2);
    assert_eq!(stats.bytes_in, requests[0].bytes_in);
    sim.control().clear_requests();
    assert_eq!(sim.control().request_stats().count, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn info_names_marathon_and_this_leader() {
    let (sim, client) = start(fast()).await;
    let (status, info) = get_json(&client, &format!("{}/v2/info", sim.url())).await;
    assert_eq!(status, 200);
    assert_eq!(info["name"], "marathon");
    assert_eq!(info["elected"], true);
    assert_eq!(info["leader"], sim.addr().to_string());
    assert!(info["version"].is_string());
    sim.shutdown().await;
}
