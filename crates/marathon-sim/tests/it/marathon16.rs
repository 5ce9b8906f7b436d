//! Marathon 1.6 endpoints beyond groups, apps and deployments: the launch queue, leader
//! abdication and app versions. Each test names where Marathon's answer comes from.

use std::time::Duration;

use crate::support::*;
use marathon_sim::{SimOptions, TaskOutcome};
use serde_json::{Value, json};

const V1: &str = "registry.example/shop:v1";
const V2: &str = "registry.example/shop:v2";

fn fast() -> SimOptions {
    SimOptions::default().task_start(Duration::from_millis(20))
}

async fn send(client: &reqwest::Client, method: reqwest::Method, url: &str) -> (u16, Value) {
    let res = client
        .request(method, url)
        .send()
        .await
        .expect("request is answered");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Source: Marathon 1.6 `QueueResource` and `docs/docs/rest-api/public/api/v2/queue.raml`
/// (`{"queue": [QueueItem]}`, each with `count`, `delay: {timeLeftSeconds, overdue}` and the
/// `app`; `DELETE /v2/queue/{app_id}/delay` answers 204, or 404 `Application {id} not found in
/// tasks queue.`).
#[tokio::test]
async fn the_queue_lists_an_app_held_by_its_backoff_until_the_delay_is_reset() {
    let (sim, client) = start(fast().speed(0.0).rule("*:crash", TaskOutcome::CrashLoop)).await;
    let url = sim.url();
    let (status, body) = get_json(&client, &format!("{url}/v2/queue")).await;
    assert_eq!((status, body), (200, json!({"queue": []})));

    let mut web = app("web", "registry.example/shop:crash", 1);
    web["backoffSeconds"] = json!(600);
    deploy(
        &client,
        &url,
        "/shop",
        &json!({"id": "/shop", "apps": [web]}),
    )
    .await;
    // Running after 20 ms, failed a second later: the relaunch waits 600 s of backoff.
    sim.control().advance_clock(Duration::from_secs(2));
    let (status, body) = get_json(&client, &format!("{url}/v2/queue")).await;
    assert_eq!(status, 200);
    let queue = body["queue"].as_array().expect("queue array");
    assert_eq!(queue.len(), 1, "{body}");
    let entry = &queue[0];
    assert_eq!(entry["count"], 1);
    assert_eq!(entry["app"]["id"], "/shop/web");
    assert_eq!(entry["delay"]["overdue"], false);
    let left = entry["delay"]["timeLeftSeconds"].as_u64().expect("seconds");
    assert!((590..=600).contains(&left), "{entry}");

    let (status, _) = send(
        &client,
        reqwest::Method::DELETE,
        &format!("{url}/v2/queue/shop/web/delay"),
    )
    .await;
    assert_eq!(status, 204);
    // The reset delay lets the task launch at once, without any time passing.
    let (_, tasks) = get_json(&client, &format!("{url}/v2/apps/shop/web/tasks")).await;
    assert_eq!(tasks["tasks"].as_array().map(Vec::len), Some(1), "{tasks}");
    let (_, body) = get_json(&client, &format!("{url}/v2/queue")).await;
    assert_eq!(body, json!({"queue": []}));

    let (status, body) = send(
        &client,
        reqwest::Method::DELETE,
        &format!("{url}/v2/queue/nope/delay"),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        body["message"],
        "Application /nope not found in tasks queue."
    );
    sim.shutdown().await;
}

/// Source: Marathon 1.6 `LeaderResource.delete` (200 `{"message": "Leadership abdicated"}`);
/// a single Marathon is elected again, so it still answers as leader.
#[tokio::test]
async fn deleting_the_leader_abdicates_and_the_sim_leads_again() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    let (status, body) = send(
        &client,
        reqwest::Method::DELETE,
        &format!("{url}/v2/leader"),
    )
    .await;
    assert_eq!(
        (status, body),
        (200, json!({"message": "Leadership abdicated"}))
    );
    let (status, body) = get_json(&client, &format!("{url}/v2/leader")).await;
    assert_eq!(status, 200);
    assert_eq!(body["leader"], sim.addr().to_string());
    sim.shutdown().await;
}

/// Source: Marathon 1.6 `AppVersionsResource` and `docs/docs/rest-api/public/api/v2/apps.raml`
/// (`/{app_id}/versions` answers `{"versions": [timestamps]}`, newest first;
/// `/{app_id}/versions/{version}` the `App` stored at that version, else
/// `ResourceErrors.unknownApp`'s 404).
#[tokio::test]
async fn app_versions_list_newest_first_and_each_serves_its_definition() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    deploy(
        &client,
        &url,
        "/shop",
        &json!({"id": "/shop", "apps": [app("web", V1, 1)]}),
    )
    .await;
    wait_idle(&client, &url).await;
    deploy(
        &client,
        &url,
        "/shop",
        &json!({"id": "/shop", "apps": [app("web", V2, 1)]}),
    )
    .await;
    wait_idle(&client, &url).await;

    let (status, body) = get_json(&client, &format!("{url}/v2/apps/shop/web/versions")).await;
    assert_eq!(status, 200);
    let list: Vec<&str> = body["versions"]
        .as_array()
        .expect("versions array")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(list.len(), 2, "{body}");
    assert!(list[0] > list[1], "newest first: {list:?}");
    assert!(list.iter().all(|v| v.ends_with('Z')), "{list:?}");
    let (_, current) = get_json(&client, &format!("{url}/v2/apps/shop/web")).await;
    assert_eq!(current["app"]["version"], list[0]);

    let (status, old) = get_json(
        &client,
        &format!("{url}/v2/apps/shop/web/versions/{}", list[1]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(old["id"], "/shop/web");
    assert_eq!(old["version"], list[1]);
    assert_eq!(old["container"]["docker"]["image"], V1);
    assert!(
        old.get("tasks").is_none(),
        "a stored version has no tasks: {old}"
    );
    let (status, new) = get_json(
        &client,
        &format!("{url}/v2/apps/shop/web/versions/{}", list[0]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(new["container"]["docker"]["image"], V2);

    let (status, body) = get_json(
        &client,
        &format!("{url}/v2/apps/shop/web/versions/2001-01-01T00:00:00.000Z"),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        body["message"],
        "App '/shop/web' does not exist in version 2001-01-01T00:00:00.000Z"
    );
    let (status, body) = get_json(&client, &format!("{url}/v2/apps/nope/versions")).await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "App '/nope' does not exist");
    sim.shutdown().await;
}

/// Source: Marathon 1.6 `TasksResource.indexJson` and `docs/docs/rest-api/public/api/v2/tasks.raml`
/// (`{"tasks": [EnrichedTask]}`, each naming its `appId`; `status=running|staging|…` filters).
#[tokio::test]
async fn all_tasks_list_every_apps_tasks_with_their_app_id() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    let body = json!({"id": "/shop", "apps": [app("web", V1, 2), app("api", V1, 1)]});
    deploy(&client, &url, "/shop", &body).await;
    wait_idle(&client, &url).await;
    let (status, body) = get_json(&client, &format!("{url}/v2/tasks")).await;
    assert_eq!(status, 200);
    let tasks = body["tasks"].as_array().expect("tasks array");
    let mut ids: Vec<&str> = tasks.iter().filter_map(|t| t["appId"].as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["/shop/api", "/shop/web", "/shop/web"], "{body}");
    assert!(tasks.iter().all(|t| t["state"] == "TASK_RUNNING"), "{body}");
    let (_, staging) = get_json(&client, &format!("{url}/v2/tasks?status=staging")).await;
    assert_eq!(staging, json!({"tasks": []}));
    let (_, running) = get_json(&client, &format!("{url}/v2/tasks?status=running")).await;
    assert_eq!(running["tasks"].as_array().map(Vec::len), Some(3));
    sim.shutdown().await;
}

/// Source: Marathon 1.6 `AppsResource.restart` and `apps.raml` (`POST /{app_id}/restart`:
/// 200 `{"version","deploymentId"}` with `Marathon-Deployment-Id`, a deployment that replaces
/// every task; 404 `App '/x' does not exist` for an unknown app).
#[tokio::test]
async fn restarting_an_app_replaces_every_task_in_a_new_deployment() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    deploy(
        &client,
        &url,
        "/shop",
        &json!({"id": "/shop", "apps": [app("web", V1, 2)]}),
    )
    .await;
    wait_idle(&client, &url).await;
    let (_, before) = get_json(&client, &format!("{url}/v2/apps/shop/web/tasks")).await;
    let old: Vec<String> = before["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(old.len(), 2);

    let res = client
        .post(format!("{url}/v2/apps/shop/web/restart"))
        .send()
        .await
        .expect("request is answered");
    assert_eq!(res.status(), 200);
    let header = res
        .headers()
        .get("Marathon-Deployment-Id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = res.json().await.expect("JSON body");
    assert_eq!(header.as_deref(), body["deploymentId"].as_str());
    let version = body["version"].as_str().expect("version").to_owned();
    let (_, deployments) = get_json(&client, &format!("{url}/v2/deployments")).await;
    assert!(
        deployments
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d["id"] == body["deploymentId"] && d["affectedApps"] == json!(["/shop/web"])),
        "{deployments}"
    );
    sim.control().advance_clock(Duration::from_secs(60));
    wait_idle(&client, &url).await;
    let (_, after) = get_json(&client, &format!("{url}/v2/apps/shop/web")).await;
    assert_eq!(after["app"]["version"], version.as_str());
    assert_eq!(after["app"]["container"]["docker"]["image"], V1);
    let tasks = after["app"]["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 2, "{after}");
    assert!(
        tasks
            .iter()
            .all(|t| t["version"] == version.as_str() && !old.iter().any(|o| t["id"] == o.as_str())),
        "{after}"
    );

    let (status, body) = send(
        &client,
        reqwest::Method::POST,
        &format!("{url}/v2/apps/nope/restart"),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "App '/nope' does not exist");
    sim.shutdown().await;
}
