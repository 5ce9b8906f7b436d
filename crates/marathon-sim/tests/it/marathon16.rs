//! Marathon 1.6 endpoints beyond groups, apps and deployments: the launch queue, leader
//! abdication and app versions. Each test names where Marathon's answer comes from.

use std::time::Duration;

use crate::support::*;
use marathon_sim::SimOptions;
use serde_json::{Value, json};

const V1: &str = "registry.example/shop:v1";
const V2: &str = "registry.example/shop:v2";

fn fast() -> SimOptions {
    SimOptions::default().task_start(Duration::from_millis(20))
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
