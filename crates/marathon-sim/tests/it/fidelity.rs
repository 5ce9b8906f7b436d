//! What other people's Marathon clients rely on: each test names the real behaviour and where
//! it comes from (a fixture under `fixtures/marathon/` or a Marathon source file).

use std::time::Duration;

use crate::support::*;
use marathon_sim::SimOptions;
use serde_json::{Value, json};

const V1: &str = "registry.example/shop:v1";

fn fast() -> SimOptions {
    SimOptions::default().task_start(Duration::from_millis(20))
}

async fn get_text(client: &reqwest::Client, url: &str) -> (u16, String) {
    let res = client.get(url).send().await.expect("request is answered");
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = client.request(method, url);
    if let Some(body) = body {
        req = req.json(body);
    }
    let res = req.send().await.expect("request is answered");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Source: `real-groups/155_100.json` (Marathon 1.5+ writes `"mem": 10`, `"disk": 0`).
#[tokio::test]
async fn whole_numbers_render_as_integers_as_marathon_1_5_writes_them() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    let mut web = app("web", V1, 1);
    web["mem"] = json!(64.0);
    web["cpus"] = json!(0.5);
    web["disk"] = json!(0.0);
    deploy(
        &client,
        &url,
        "/shop",
        &json!({"id": "/shop", "apps": [web]}),
    )
    .await;
    let (status, text) = get_text(&client, &format!("{url}/v2/apps/shop/web")).await;
    assert_eq!(status, 200);
    assert!(text.contains("\"mem\":64,"), "{text}");
    assert!(text.contains("\"disk\":0,"), "{text}");
    assert!(text.contains("\"cpus\":0.5"), "{text}");
    assert!(!text.contains("64.0") && !text.contains("1.0,"), "{text}");
    // Defaults filled in by the sim are integers too.
    let bare = json!({"id": "/bare", "cmd": "sleep 1000"});
    let (status, _) = send(
        &client,
        reqwest::Method::POST,
        &format!("{url}/v2/apps"),
        Some(&bare),
    )
    .await;
    assert_eq!(status, 201);
    let (_, text) = get_text(&client, &format!("{url}/v2/apps/bare")).await;
    assert!(
        text.contains("\"mem\":128") && text.contains("\"cpus\":1,"),
        "{text}"
    );
    sim.shutdown().await;
}

/// Source: `examples/info.json` (Marathon 1.5) and `InfoResource.scala`: `http_port` only
/// under `http_config` (marathon-python 0.13 reads `marathon_config` as `MarathonConfig`, which
/// has no `http_port`), Marathon's `marathon_config` keys, `event_subscriber` null when none.
#[tokio::test]
async fn info_has_marathons_sections_and_keys() {
    let (sim, client) = start(fast()).await;
    let (status, info) = get_json(&client, &format!("{}/v2/info", sim.url())).await;
    assert_eq!(status, 200);
    let example: Value = serde_json::from_str(include_str!("data/info.json")).expect("fixture");
    let keys = |v: &Value| {
        let mut k: Vec<String> = v
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    };
    assert_eq!(
        keys(&info["marathon_config"]),
        keys(&example["marathon_config"])
    );
    assert_eq!(
        keys(&info["zookeeper_config"]),
        keys(&example["zookeeper_config"])
    );
    assert_eq!(keys(&info["http_config"]), keys(&example["http_config"]));
    assert!(info["marathon_config"].get("http_port").is_none());
    assert_eq!(info["http_config"]["http_port"], json!(sim.addr().port()));
    assert_eq!(info["event_subscriber"], Value::Null);
    assert_eq!(info["version"], json!("1.6.322"));
    sim.shutdown().await;
}

/// Source: `AppsResource.scala` (1.6): `patch` updates with `allowCreation = false`.
#[tokio::test]
async fn patch_of_a_missing_app_is_404_and_creates_nothing() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    let (status, body) = send(
        &client,
        reqwest::Method::PATCH,
        &format!("{url}/v2/apps/ghost"),
        Some(&json!({"instances": 2})),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(body, json!({"message": "App '/ghost' does not exist"}));
    let (status, _) = get_json(&client, &format!("{url}/v2/apps/ghost")).await;
    assert_eq!(status, 404);
    assert!(sim.control().deployment_history().is_empty());
    sim.shutdown().await;
}

/// Source: `AppsResource.create`: the answer carries `TaskCounts.zero`, no tasks and the new
/// deployment.
#[tokio::test]
async fn post_app_answers_zero_counts_no_tasks_and_its_deployment() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    let (status, body) = send(
        &client,
        reqwest::Method::POST,
        &format!("{url}/v2/apps"),
        Some(&app("/web", V1, 3)),
    )
    .await;
    assert_eq!(status, 201);
    for key in [
        "tasksStaged",
        "tasksRunning",
        "tasksHealthy",
        "tasksUnhealthy",
    ] {
        assert_eq!(body[key], json!(0), "{key}: {body}");
    }
    assert_eq!(body["tasks"], json!([]));
    let history = sim.control().deployment_history();
    assert_eq!(body["deployments"], json!([{"id": history[0].id}]));
    sim.shutdown().await;
}

/// Source: `PathId` validation reserves `tasks`, `versions` and `restart`: `/x/tasks/T` is a
/// task path of `/x`, never an app id.
#[tokio::test]
async fn unserved_app_subpaths_answer_404_without_naming_them_an_app() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    deploy(
        &client,
        &url,
        "/shop",
        &json!({"id": "/shop", "apps": [app("web", V1, 1)]}),
    )
    .await;
    let (status, body) = get_json(&client, &format!("{url}/v2/apps/shop/web/tasks/t1")).await;
    assert_eq!(status, 404);
    let text = body["message"].as_str().unwrap_or_default();
    assert!(!text.contains("App '"), "{body}");
    assert!(text.contains("/v2/apps/shop/web/tasks/t1"), "{body}");
    sim.shutdown().await;
}

/// Source: `AppsResource.index` / `search`: `id` is a case-insensitive substring, `cmd` a
/// substring of the command, `label` a label selector.
#[tokio::test]
async fn app_list_honours_id_cmd_and_label_filters() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    let mut web = app("web", V1, 1);
    web["labels"] = json!({"tier": "front", "team": "shop"});
    let worker = json!({"id": "worker", "cmd": "python worker.py", "instances": 1, "labels": {"tier": "back"}});
    deploy(
        &client,
        &url,
        "/shop-x",
        &json!({"id": "/shop-x", "apps": [web, worker]}),
    )
    .await;
    let ids = |v: &Value| -> Vec<String> {
        v["apps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["id"].as_str().map(str::to_owned))
            .collect()
    };
    let (_, all) = get_json(&client, &format!("{url}/v2/apps?id=SHOP-X/W")).await;
    assert_eq!(ids(&all), ["/shop-x/web", "/shop-x/worker"]);
    let (_, by_cmd) = get_json(&client, &format!("{url}/v2/apps?cmd=worker.py")).await;
    assert_eq!(ids(&by_cmd), ["/shop-x/worker"]);
    let (_, by_label) = get_json(&client, &format!("{url}/v2/apps?label=tier==front")).await;
    assert_eq!(ids(&by_label), ["/shop-x/web"]);
    let (_, by_set) = get_json(
        &client,
        &format!("{url}/v2/apps?label=tier%20in%20(front,back),team"),
    )
    .await;
    assert_eq!(ids(&by_set), ["/shop-x/web"]);
    let (_, none) = get_json(
        &client,
        &format!("{url}/v2/apps?label=tier!=front&cmd=nothing"),
    )
    .await;
    assert_eq!(ids(&none), Vec::<String>::new());
    sim.shutdown().await;
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

/// Source: `real-groups/155_100.json` (a real Marathon 1.5+): every app carries the same set
/// of fields whatever was sent, and leaves `env`, `cmd`, `args`, `uris`, `fetch`,
/// `dependencies`, `healthChecks` out when empty; containers and health checks have their
/// defaults filled in (`AppHealthCheck`, `Container` of Marathon's RAML). marathon-lb reads
/// `app['labels']` unguarded.
#[tokio::test]
async fn apps_are_written_with_every_field_a_real_marathon_writes() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    let real: Value =
        serde_json::from_str(include_str!("data/155_100.json")).expect("real group fixture");
    let real_app = real["groups"][0]["apps"][0].clone();
    let real_app = if real_app.is_null() {
        real["apps"][0].clone()
    } else {
        real_app
    };
    let docker = json!({"id": "docker", "container": {"docker": {"image": V1}}, "env": {}, "cmd": null, "uris": []});
    let bare = json!({"id": "bare", "cmd": "sleep 1000", "healthChecks": [{"protocol": "HTTP"}]});
    deploy(
        &client,
        &url,
        "/g",
        &json!({"id": "/g", "apps": [docker, bare]}),
    )
    .await;
    let (_, group) = get_json(&client, &format!("{url}/v2/groups/g")).await;
    let apps = group["apps"].as_array().cloned().unwrap_or_default();
    // Apps come in id order.
    let (bare, docker) = (&apps[0], &apps[1]);
    let mut want = keys(&real_app);
    want.retain(|k| k != "env");
    want.push("version".to_owned());
    want.sort();
    assert_eq!(keys(docker), want, "{docker}");
    for omitted in [
        "env",
        "cmd",
        "args",
        "uris",
        "fetch",
        "dependencies",
        "healthChecks",
    ] {
        assert!(
            docker.get(omitted).is_none(),
            "{omitted} left out when empty: {docker}"
        );
    }
    assert_eq!(docker["labels"], json!({}));
    assert_eq!(
        keys(&docker["container"]),
        keys(&real_app["container"]),
        "{docker}"
    );
    assert_eq!(
        keys(&docker["container"]["docker"]),
        keys(&real_app["container"]["docker"])
    );
    assert_eq!(docker["killSelection"], json!("YOUNGEST_FIRST"));
    assert_eq!(docker["networks"], json!([{"mode": "host"}]));
    assert_eq!(bare["cmd"], json!("sleep 1000"));
    assert!(
        bare.get("container").is_none(),
        "no container when none was sent"
    );
    assert_eq!(
        bare["healthChecks"],
        json!([{
            "protocol": "HTTP", "path": "/", "portIndex": 0, "gracePeriodSeconds": 300,
            "intervalSeconds": 60, "maxConsecutiveFailures": 3, "timeoutSeconds": 20,
            "delaySeconds": 15, "ipProtocol": "IPv4", "ignoreHttp1xx": false,
        }])
    );
    sim.shutdown().await;
}

/// Source: `GroupManagerImpl.assignDynamicServicePorts` / `AssignDynamicServiceLogic`
/// (`local_port_min` 10000) and `AppNormalization`'s default port definition
/// (`real-groups/155_100.json`: `{"name":"default","port":10003,"protocol":"tcp"}`); tasks
/// carry the app's `servicePorts` (`captures-1.4.5/AppsResource_show.md`, `EnrichedTask`).
#[tokio::test]
async fn service_ports_are_assigned_from_10000_and_kept_on_resubmission() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    let two = json!({"id": "two", "cmd": "serve", "portDefinitions": [{"port": 0}, {"port": 0, "name": "admin"}]});
    let fixed = json!({"id": "fixed", "cmd": "serve", "portDefinitions": [{"port": 10001, "protocol": "udp"}]});
    let none = json!({"id": "none", "cmd": "serve"});
    let bridge = json!({"id": "bridge", "container": {"type": "DOCKER", "docker": {"image": V1, "network": "BRIDGE", "portMappings": [{"containerPort": 80}]}}});
    let body = json!({"id": "/p", "apps": [two, fixed, none, bridge]});
    deploy(&client, &url, "/p", &body).await;
    wait_idle(&client, &url).await;
    let (_, group) = get_json(&client, &format!("{url}/v2/groups/p")).await;
    let app = |id: &str| {
        group["apps"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["id"] == json!(format!("/p/{id}")))
            .cloned()
            .unwrap_or(Value::Null)
    };
    // Apps come in id order: bridge, fixed, none, two.
    assert_eq!(app("bridge")["portDefinitions"], json!([]));
    assert_eq!(
        app("bridge")["container"]["portMappings"][0]["servicePort"],
        json!(10000)
    );
    assert_eq!(
        app("bridge")["networks"],
        json!([{"mode": "container/bridge"}])
    );
    assert_eq!(
        app("fixed")["portDefinitions"],
        json!([{"port": 10001, "protocol": "udp"}])
    );
    assert_eq!(
        app("none")["portDefinitions"],
        json!([{"name": "default", "port": 10002, "protocol": "tcp"}])
    );
    assert_eq!(
        app("two")["portDefinitions"],
        json!([{"port": 10003, "protocol": "tcp"}, {"port": 10004, "name": "admin", "protocol": "tcp"}])
    );
    let (_, tasks) = get_json(&client, &format!("{url}/v2/apps/p/two/tasks")).await;
    assert_eq!(tasks["tasks"][0]["servicePorts"], json!([10003, 10004]));
    assert_eq!(tasks["tasks"][0]["ports"].as_array().map(Vec::len), Some(2));

    // The same definitions again: the ports stay, so nothing changes and no app restarts.
    let before = sim.control().deployment_history().len();
    deploy(&client, &url, "/p", &body).await;
    wait_idle(&client, &url).await;
    let (_, again) = get_json(&client, &format!("{url}/v2/groups/p")).await;
    assert_eq!(again["apps"], group["apps"]);
    assert_eq!(
        sim.control().deployment_history()[before].affected_apps,
        Vec::<String>::new()
    );
    sim.shutdown().await;
}

/// Source: `GroupsResource.updateOrCreate`: `scaleBy` sets every app of the group, subgroups
/// included, to `ceil(instances × scaleBy)`; it is an action, not a stored field.
#[tokio::test]
async fn group_scale_by_multiplies_every_apps_instances_rounding_up() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    let body = json!({"id": "/s", "apps": [app("a", V1, 3)], "groups": [{"id": "/s/sub", "apps": [app("b", V1, 1)]}]});
    deploy(&client, &url, "/s", &body).await;
    wait_idle(&client, &url).await;
    deploy(&client, &url, "/s", &json!({"scaleBy": 1.5})).await;
    wait_idle(&client, &url).await;
    let (_, a) = get_json(&client, &format!("{url}/v2/apps/s/a")).await;
    let (_, b) = get_json(&client, &format!("{url}/v2/apps/s/sub/b")).await;
    assert_eq!(a["app"]["instances"], json!(5));
    assert_eq!(b["app"]["instances"], json!(2));
    assert_eq!(a["app"]["tasksRunning"], json!(5));
    let (_, group) = get_json(&client, &format!("{url}/v2/groups/s")).await;
    assert!(group.get("scaleBy").is_none(), "{group}");
    sim.shutdown().await;
}

/// Source: Marathon 1.4+ `core/event/Events.scala`: `AddHealthCheck`, `InstanceChanged`
/// (after each `MesosStatusUpdateEvent`), `InstanceHealthChanged`, `RemoveHealthCheck` and
/// `AppTerminatedEvent` when `StopApplication` ends.
#[tokio::test]
async fn events_of_instances_health_checks_and_terminated_apps_are_emitted() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    let mut stream = subscribe(&client, &url, "").await;
    deploy(
        &client,
        &url,
        "/e",
        &json!({"id": "/e", "apps": [app("web", V1, 1)]}),
    )
    .await;
    let seen = stream.until(|k, _| k == "deployment_success").await;
    let find = |kind: &str| seen.iter().find(|(k, _)| k == kind).map(|(_, d)| d.clone());
    let add = find("add_health_check_event").expect("add_health_check_event");
    assert_eq!(add["appId"], json!("/e/web"));
    assert_eq!(add["healthCheck"]["path"], json!("/health"));
    let running = seen
        .iter()
        .find(|(k, d)| k == "instance_changed_event" && d["condition"] == json!("Running"))
        .map(|(_, d)| d.clone())
        .expect("instance_changed_event Running");
    assert_eq!(running["runSpecId"], json!("/e/web"));
    assert!(running["instanceId"].is_string() && running["runSpecVersion"].is_string());
    let healthy = find("instance_health_changed_event").expect("instance_health_changed_event");
    assert_eq!(healthy["healthy"], json!(true));
    assert_eq!(healthy["instanceId"], running["instanceId"]);

    let res = client
        .delete(format!("{url}/v2/apps/e/web"))
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 200);
    let seen = stream.until(|k, _| k == "deployment_success").await;
    let kinds: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert!(kinds.contains(&"remove_health_check_event"), "{kinds:?}");
    let terminated = seen
        .iter()
        .find(|(k, _)| k == "app_terminated_event")
        .map(|(_, d)| d.clone())
        .expect("app_terminated_event");
    assert_eq!(terminated["appId"], json!("/e/web"));
    sim.shutdown().await;
}
