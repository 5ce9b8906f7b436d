//! The REST surface: groups, apps and their error bodies.

use std::time::Duration;

use crate::support::*;
use marathon_sim::SimOptions;
use serde_json::{Value, json};

const V1: &str = "registry.example/shop:v1";

fn fast() -> SimOptions {
    SimOptions::default().task_start(Duration::from_millis(20))
}

#[tokio::test]
async fn group_round_trip_keeps_unknown_fields_and_unchanged_app_versions() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    let mut web = app("web", V1, 1);
    web["constraints"] = json!([["hostname", "UNIQUE"]]);
    web["x-future-field"] = json!({"nested": [1, 2]});
    let body = json!({"id": "/shop-prod", "apps": [web, app("worker", V1, 1)]});
    deploy(&client, &url, "/shop-prod", &body).await;
    wait_idle(&client, &url).await;

    let (status, group) = get_json(&client, &format!("{url}/v2/groups/shop-prod")).await;
    assert_eq!(status, 200);
    let apps = group["apps"].as_array().cloned().unwrap_or_default();
    assert_eq!(apps[0]["x-future-field"], json!({"nested": [1, 2]}));
    assert_eq!(apps[0]["constraints"], json!([["hostname", "UNIQUE"]]));
    assert!(
        apps[0].get("tasksRunning").is_none(),
        "no counts without embed"
    );

    // Send the group back with only the worker's image changed.
    let mut changed = group.clone();
    changed["apps"][1]["container"]["docker"]["image"] = json!("registry.example/shop:v2");
    changed.as_object_mut().map(|g| g.remove("version"));
    deploy(&client, &url, "/shop-prod", &changed).await;
    wait_idle(&client, &url).await;
    let (_, after) = get_json(&client, &format!("{url}/v2/groups/shop-prod")).await;
    assert_eq!(
        after["apps"][0]["version"], apps[0]["version"],
        "the unchanged app keeps its version"
    );
    assert_ne!(after["apps"][1]["version"], apps[1]["version"]);
    assert_eq!(
        after["apps"][0]["x-future-field"],
        json!({"nested": [1, 2]})
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn apps_missing_from_a_group_put_are_stopped() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    deploy(
        &client,
        &url,
        "/shop-prod",
        &json!({"id": "/shop-prod", "apps": [app("web", V1, 1), app("worker", V1, 1)]}),
    )
    .await;
    wait_idle(&client, &url).await;
    deploy(
        &client,
        &url,
        "/shop-prod",
        &json!({"id": "/shop-prod", "apps": [app("web", V1, 1)]}),
    )
    .await;
    wait_idle(&client, &url).await;
    let (status, body) = get_json(&client, &format!("{url}/v2/apps/shop-prod/worker")).await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "App '/shop-prod/worker' does not exist");
    sim.shutdown().await;
}

#[tokio::test]
async fn group_embed_replaces_the_default_set() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    deploy(
        &client,
        &url,
        "/shop-prod",
        &json!({"id": "/shop-prod", "apps": [app("web", V1, 2)]}),
    )
    .await;
    wait_idle(&client, &url).await;
    let (_, root) = get_json(&client, &format!("{url}/v2/groups")).await;
    assert_eq!(root["id"], "/");
    assert_eq!(root["groups"][0]["id"], "/shop-prod");
    let (_, only_apps) = get_json(
        &client,
        &format!("{url}/v2/groups/shop-prod?embed=group.apps.counts&embed=group.apps.tasks"),
    )
    .await;
    assert!(only_apps.get("groups").is_none());
    assert_eq!(only_apps["apps"][0]["tasksHealthy"], 2);
    assert_eq!(
        only_apps["apps"][0]["tasks"].as_array().map(Vec::len),
        Some(2)
    );
    let (_, only_groups) = get_json(&client, &format!("{url}/v2/groups?embed=group.groups")).await;
    assert!(only_groups.get("apps").is_none() && only_groups["groups"].is_array());
    sim.shutdown().await;
}

#[tokio::test]
async fn dry_run_returns_steps_and_changes_nothing() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    let res = put_group(
        &client,
        &url,
        "/shop-prod",
        &json!({"apps": [app("web", V1, 1)]}),
        "?dryRun=true",
    )
    .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(
        body["steps"][0]["actions"][0],
        json!({"action": "StartApplication", "app": "/shop-prod/web"})
    );
    assert_eq!(
        get_json(&client, &format!("{url}/v2/groups/shop-prod"))
            .await
            .0,
        404
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn app_put_creates_then_updates_partially() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    let res = client
        .put(format!("{url}/v2/apps/tools/cron"))
        .json(&app("cron", V1, 1))
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("Marathon-Deployment-Id").is_some());
    wait_idle(&client, &url).await;
    let res = client
        .put(format!("{url}/v2/apps/tools/cron"))
        .json(&json!({"instances": 2}))
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("JSON");
    assert!(body["deploymentId"].is_string() && body["version"].is_string());
    wait_idle(&client, &url).await;
    let (_, app) = get_json(&client, &format!("{url}/v2/apps/tools/cron")).await;
    assert_eq!(app["app"]["instances"], 2);
    assert_eq!(
        app["app"]["container"]["docker"]["image"], V1,
        "partial update keeps the rest"
    );
    assert_eq!(app["app"]["tasksRunning"], 2);
    assert_ne!(
        app["app"]["versionInfo"]["lastScalingAt"],
        app["app"]["versionInfo"]["lastConfigChangeAt"]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn touching_a_locked_app_answers_marathons_409_body() {
    let options = fast().rule("*:stuck", marathon_sim::TaskOutcome::NeverHealthy);
    let (sim, client) = start(options).await;
    let url = sim.url();
    let id = deploy(
        &client,
        &url,
        "/shop-prod",
        &json!({"id": "/shop-prod", "apps": [app("web", "r/shop:stuck", 1)]}),
    )
    .await;
    let res = client
        .put(format!("{url}/v2/apps/shop-prod/web"))
        .json(&json!({"instances": 3}))
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 409);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(
        body,
        json!({
            "message": "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
            "deployments": [{"id": id}],
        })
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_json_answers_400_and_changes_nothing() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    let res = client
        .put(format!("{url}/v2/groups/shop-prod"))
        .header("Content-Type", "application/json")
        .body("{\"apps\": [")
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["message"], "Invalid JSON");
    assert_eq!(body["details"][0]["path"], "/");
    assert!(body["details"][0]["errors"][0].is_string());
    assert_eq!(
        get_json(&client, &format!("{url}/v2/groups/shop-prod"))
            .await
            .0,
        404
    );
    assert!(sim.control().deployment_history().is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn invalid_app_id_answers_422_with_validation_details() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    let res = put_group(
        &client,
        &url,
        "/shop-prod",
        &json!({"apps": [app("Web_App", V1, 1)]}),
        "",
    )
    .await;
    assert_eq!(res.status(), 422);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["message"], "Object is not valid");
    assert_eq!(body["details"][0]["path"], "/apps(0)/id");
    let error = body["details"][0]["errors"][0].as_str().unwrap_or_default();
    assert!(
        error.starts_with("must fully match regular expression"),
        "{error}"
    );
    let res = client
        .put(format!("{url}/v2/apps/Bad_Id"))
        .json(&json!({"instances": 1}))
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 422);
    assert_eq!(
        get_json(&client, &format!("{url}/v2/groups/shop-prod"))
            .await
            .0,
        404
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn unknown_group_answers_404_with_message() {
    let (sim, client) = start(fast()).await;
    let (status, body) = get_json(&client, &format!("{}/v2/groups/nowhere", sim.url())).await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({"message": "Group '/nowhere' does not exist"}));
    sim.shutdown().await;
}

#[tokio::test]
async fn real_hundred_app_group_round_trips_without_losing_fields() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    let real: Value =
        serde_json::from_str(include_str!("data/155_100.json")).expect("fixture parses");
    deploy(&client, &url, "/cudcos", &real).await;
    wait_idle(&client, &url).await;
    let (status, stored) = get_json(&client, &format!("{url}/v2/groups/cudcos")).await;
    assert_eq!(status, 200);
    let (mut sent, mut got) = (Default::default(), Default::default());
    apps_of(&real, &mut sent);
    apps_of(&stored, &mut got);
    assert_eq!(sent.len(), 100);
    assert_eq!(got.len(), 100);
    for (id, app) in &sent {
        for (field, value) in app.as_object().into_iter().flatten() {
            if field != "version" && field != "versionInfo" {
                assert_eq!(&got[id][field], value, "{id}: {field}");
            }
        }
    }
    // Sending back what was read changes no app.
    let mut again = stored.clone();
    again.as_object_mut().map(|g| g.remove("version"));
    let id = deploy(&client, &url, "/cudcos", &again).await;
    let history = sim.control().deployment_history();
    let record = history.iter().find(|d| d.id == id).expect("recorded");
    assert!(
        record.affected_apps.is_empty(),
        "{:?}",
        record.affected_apps
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn version_in_a_group_put_rolls_back_to_that_version() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    deploy(
        &client,
        &url,
        "/shop-prod",
        &json!({"apps": [app("web", V1, 1)]}),
    )
    .await;
    wait_idle(&client, &url).await;
    let (_, v1) = get_json(&client, &format!("{url}/v2/groups/shop-prod")).await;
    deploy(
        &client,
        &url,
        "/shop-prod",
        &json!({"apps": [app("web", "registry.example/shop:v2", 1)]}),
    )
    .await;
    wait_idle(&client, &url).await;
    let (status, versions) =
        get_json(&client, &format!("{url}/v2/groups/shop-prod/versions")).await;
    assert_eq!(status, 200);
    assert_eq!(versions.as_array().map(Vec::len), Some(2));
    assert_eq!(versions[1], v1["version"], "newest first");

    // A client that sends the group's version back gets a rollback, not its change.
    let mut body = v1.clone();
    body["apps"][0]["container"]["docker"]["image"] = json!("registry.example/shop:v3");
    deploy(&client, &url, "/shop-prod", &body).await;
    wait_idle(&client, &url).await;
    assert_eq!(
        sim.control().app_image("/shop-prod/web").as_deref(),
        Some(V1)
    );

    body["version"] = json!("2001-01-01T00:00:00.000Z");
    let res = put_group(&client, &url, "/shop-prod", &body, "").await;
    assert_eq!(res.status(), 422);
    sim.shutdown().await;
}

#[tokio::test]
async fn post_creates_an_app_once_and_delete_stops_it() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    let res = client
        .post(format!("{url}/v2/apps"))
        .json(&app("/tools/cron", V1, 1))
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("Location").is_some());
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["id"], "/tools/cron");
    assert!(body["deployments"][0]["id"].is_string());
    let again = client
        .post(format!("{url}/v2/apps"))
        .json(&app("/tools/cron", V1, 1))
        .send()
        .await
        .expect("answered");
    assert_eq!(again.status(), 409);
    let body: Value = again.json().await.expect("JSON");
    assert_eq!(
        body["message"],
        "An app with id [/tools/cron] already exists."
    );
    wait_idle(&client, &url).await;

    let res = client
        .delete(format!("{url}/v2/apps/tools/cron"))
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 200);
    wait_idle(&client, &url).await;
    assert_eq!(
        get_json(&client, &format!("{url}/v2/apps/tools/cron"))
            .await
            .0,
        404
    );
    let res = client
        .delete(format!("{url}/v2/groups/tools"))
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 200);
    assert_eq!(
        get_json(&client, &format!("{url}/v2/groups/tools")).await.0,
        404
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn put_with_partial_update_false_replaces_the_definition() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    let mut first = app("cron", V1, 1);
    first["labels"] = json!({"team": "ops"});
    client
        .put(format!("{url}/v2/apps/tools/cron"))
        .json(&first)
        .send()
        .await
        .expect("answered");
    wait_idle(&client, &url).await;
    let mut second = app("cron", V1, 1);
    second.as_object_mut().map(|a| a.remove("labels"));
    let res = client
        .put(format!("{url}/v2/apps/tools/cron?partialUpdate=false"))
        .json(&second)
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 200);
    wait_idle(&client, &url).await;
    let (_, got) = get_json(&client, &format!("{url}/v2/apps/tools/cron")).await;
    assert_eq!(
        got["app"]["labels"],
        json!({}),
        "a full replace drops what was not sent (Marathon writes the empty default)"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn malformed_app_body_answers_400() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    let res = client
        .put(format!("{url}/v2/apps/web"))
        .body("not json")
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(body["message"], "Invalid JSON");
    let res = client
        .put(format!("{url}/v2/apps/web"))
        .json(&json!({"instances": "three"}))
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 422);
    assert_eq!(
        get_json(&client, &format!("{url}/v2/apps/web")).await.0,
        404
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn nested_group_put_creates_its_parents() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    deploy(&client, &url, "/team/shop-prod", &json!({"apps": []})).await;
    let (status, team) = get_json(&client, &format!("{url}/v2/groups/team")).await;
    assert_eq!(status, 200);
    assert_eq!(team["groups"][0]["id"], "/team/shop-prod");
    let (_, root) = get_json(&client, &format!("{url}/v2/groups")).await;
    assert_eq!(root["groups"][0]["groups"][0]["id"], "/team/shop-prod");
    sim.shutdown().await;
}

#[tokio::test]
async fn app_tasks_lists_tasks_with_health_results() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    deploy(
        &client,
        &url,
        "/shop-prod",
        &json!({"apps": [app("web", V1, 2)]}),
    )
    .await;
    wait_idle(&client, &url).await;
    let (status, body) = get_json(&client, &format!("{url}/v2/apps/shop-prod/web/tasks")).await;
    assert_eq!(status, 200);
    let tasks = body["tasks"].as_array().cloned().unwrap_or_default();
    assert_eq!(tasks.len(), 2);
    assert!(
        tasks
            .iter()
            .all(|t| t["appId"] == "/shop-prod/web" && t["state"] == "TASK_RUNNING")
    );
    assert!(
        tasks
            .iter()
            .all(|t| t["healthCheckResults"][0]["alive"] == true)
    );
    sim.shutdown().await;
}

/// Every app of a group tree, by id.
fn apps_of(group: &Value, out: &mut std::collections::BTreeMap<String, Value>) {
    for app in group["apps"].as_array().into_iter().flatten() {
        out.insert(
            app["id"].as_str().unwrap_or_default().to_owned(),
            app.clone(),
        );
    }
    for child in group["groups"].as_array().into_iter().flatten() {
        apps_of(child, out);
    }
}
