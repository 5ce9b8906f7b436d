//! Scenario tests: deployments progress as Marathon's do, with its events in its order.

use std::time::Duration;

use crate::support::*;
use marathon_sim::{DeploymentOutcome, SimOptions, TaskOutcome};
use serde_json::{Value, json};

const V1: &str = "registry.example/shop:v1";
const V2: &str = "registry.example/shop:v2";

fn shop(image: &str) -> Value {
    json!({"id": "/shop-prod", "apps": [app("web", image, 3), app("worker", image, 3)]})
}

fn fast() -> SimOptions {
    SimOptions::default().task_start(Duration::from_millis(30))
}

#[tokio::test]
async fn healthy_rolling_deploy_emits_steps_and_success_and_apps_run_new_version() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    deploy(&client, &url, "/shop-prod", &shop(V1)).await;
    wait_idle(&client, &url).await;

    let mut stream = subscribe(&client, &url, "").await;
    let (first, attached) = stream.next_event().await.expect("first event");
    assert_eq!(first, "event_stream_attached");
    assert!(attached["remoteAddress"].is_string());

    let id = deploy(&client, &url, "/shop-prod", &shop(V2)).await;
    let seen = stream
        .until(|k, d| k == "deployment_success" && d["id"] == id.as_str())
        .await;
    let kinds: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    let pos = |kind: &str| kinds.iter().position(|k| *k == kind).unwrap_or(usize::MAX);
    assert!(
        pos("group_change_success") < pos("deployment_info"),
        "{kinds:?}"
    );
    assert!(
        pos("deployment_info") < pos("deployment_step_success"),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"status_update_event") && kinds.contains(&"health_status_changed_event"),
        "{kinds:?}"
    );
    for (kind, data) in &seen {
        if kind.starts_with("deployment_") {
            assert_eq!(
                data["plan"]["id"],
                id.as_str(),
                "{kind} carries the plan of our deployment"
            );
            assert!(data["plan"]["original"].is_object() && data["plan"]["target"].is_object());
        }
    }
    let info = &seen[pos("deployment_info")].1;
    assert_eq!(
        info["currentStep"]["actions"][0]["action"],
        "RestartApplication"
    );

    let (status, apps) = get_json(&client, &format!("{url}/v2/apps")).await;
    assert_eq!(status, 200);
    let apps = apps["apps"].as_array().expect("apps list");
    assert_eq!(apps.len(), 2);
    for app in apps {
        assert_eq!(app["container"]["docker"]["image"], V2);
        assert_eq!(app["tasksHealthy"], 3);
        assert_eq!(app["tasksRunning"], 3);
        assert_eq!(app["deployments"], json!([]));
        let (_, one) = get_json(
            &client,
            &format!("{url}/v2/apps{}", app["id"].as_str().unwrap_or_default()),
        )
        .await;
        let tasks = one["app"]["tasks"].as_array().expect("tasks");
        assert_eq!(tasks.len(), 3);
        for t in tasks {
            assert_eq!(t["version"], app["version"]);
            assert_eq!(t["healthCheckResults"][0]["alive"], true);
        }
    }
    let history = sim.control().deployment_history();
    assert_eq!(history.len(), 2);
    assert!(
        history
            .iter()
            .all(|d| d.outcome == DeploymentOutcome::Succeeded)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn never_healthy_deployment_keeps_running_past_grace_period_and_relaunches_tasks() {
    let options = SimOptions::default()
        .task_start(Duration::from_millis(10))
        .speed(0.0)
        .rule("*:bad", TaskOutcome::NeverHealthy);
    let (sim, client) = start(options).await;
    let url = sim.url();
    let control = sim.control();
    deploy(
        &client,
        &url,
        "/shop-prod",
        &json!({"id": "/shop-prod", "apps": [app("web", V1, 2)]}),
    )
    .await;
    control.advance_clock(Duration::from_secs(1));
    wait_idle(&client, &url).await;

    let mut stream = subscribe(
        &client,
        &url,
        "?event_type=status_update_event&event_type=deployment_success&event_type=unhealthy_instance_kill_event",
    )
    .await;
    let id = deploy(
        &client,
        &url,
        "/shop-prod",
        &json!({"id": "/shop-prod", "apps": [app("web", "registry.example/shop:bad", 2)]}),
    )
    .await;
    // Grace 30 s + 3 failed checks 5 s apart: killed after ~40 s; jump well past several rounds.
    for _ in 0..20 {
        control.advance_clock(Duration::from_secs(10));
    }
    let (_, deployments) = get_json(&client, &format!("{url}/v2/deployments")).await;
    assert_eq!(
        deployments[0]["id"],
        id.as_str(),
        "the deployment still runs"
    );
    let mut killed = 0;
    let mut staged = 0;
    let mut unhealthy_kills = 0;
    while let Ok(Some(item)) =
        tokio::time::timeout(Duration::from_millis(300), stream.rx.recv()).await
    {
        if let Item::Event { kind, data } = item {
            assert_ne!(kind, "deployment_success");
            if kind == "unhealthy_instance_kill_event" {
                // Marathon 1.4+ names the instance (`UnhealthyInstanceKillEvent`).
                assert!(data["instanceId"].is_string(), "{data}");
                unhealthy_kills += 1;
            }
            match data["taskStatus"].as_str() {
                Some("TASK_KILLED") => killed += 1,
                Some("TASK_STAGING") => staged += 1,
                _ => {}
            }
        }
    }
    assert!(
        killed >= 2 && staged >= 3,
        "unhealthy tasks are killed and relaunched: killed {killed}, staged {staged}"
    );
    assert!(
        unhealthy_kills >= 2,
        "each kill is announced: {unhealthy_kills}"
    );
    let (_, app) = get_json(&client, &format!("{url}/v2/apps/shop-prod/web")).await;
    // minimumHealthCapacity 0.5 keeps one healthy old task; no new one is ever healthy.
    assert_eq!(app["app"]["tasksHealthy"], 1);
    let version = app["app"]["version"].clone();
    let tasks = app["app"]["tasks"].as_array().cloned().unwrap_or_default();
    assert!(
        tasks
            .iter()
            .filter(|t| t["version"] == version)
            .all(|t| t["healthCheckResults"][0]["alive"] != true)
    );
    assert!(
        tasks.iter().any(|t| t["version"] != version),
        "an old task keeps serving"
    );
    assert_eq!(app["app"]["deployments"][0]["id"], id.as_str());
    assert!(app["app"]["lastTaskFailure"]["taskId"].is_string());
    let history = control.deployment_history();
    assert_eq!(
        history.last().map(|d| d.outcome),
        Some(DeploymentOutcome::Running)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn forced_update_fails_the_running_deployment_and_starts_its_own() {
    let options = fast().rule("*:slow", TaskOutcome::Slow(Duration::from_secs(3600)));
    let (sim, client) = start(options).await;
    let url = sim.url();
    deploy(&client, &url, "/shop-prod", &shop(V1)).await;
    wait_idle(&client, &url).await;
    let stuck = deploy(
        &client,
        &url,
        "/shop-prod",
        &shop("registry.example/shop:slow"),
    )
    .await;

    let mut stream = subscribe(
        &client,
        &url,
        "?event_type=deployment_failed&event_type=deployment_success",
    )
    .await;
    let res = put_group(&client, &url, "/shop-prod", &shop(V2), "").await;
    assert_eq!(res.status(), 409, "without force the apps are locked");
    let res = put_group(&client, &url, "/shop-prod", &shop(V2), "?force=true").await;
    assert_eq!(res.status(), 200);
    let forced: Value = res.json().await.expect("JSON");
    let forced = forced["deploymentId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let seen = stream
        .until(|k, d| k == "deployment_success" && d["id"] == forced.as_str())
        .await;
    assert_eq!(seen[0].0, "deployment_failed");
    assert_eq!(seen[0].1["id"], stuck.as_str());
    let history = sim.control().deployment_history();
    let outcome = |id: &str| history.iter().find(|d| d.id == id).map(|d| d.outcome);
    assert_eq!(outcome(&stuck), Some(DeploymentOutcome::Failed));
    assert_eq!(outcome(&forced), Some(DeploymentOutcome::Succeeded));
    assert_eq!(
        sim.control().app_image("/shop-prod/web").as_deref(),
        Some(V2)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn cancelling_a_deployment_rolls_the_apps_back_to_their_old_image() {
    let options = fast().rule("*:v2", TaskOutcome::NeverHealthy);
    let (sim, client) = start(options).await;
    let url = sim.url();
    deploy(&client, &url, "/shop-prod", &shop(V1)).await;
    wait_idle(&client, &url).await;
    let (_, before) = get_json(&client, &format!("{url}/v2/apps/shop-prod/web")).await;
    let failing = deploy(&client, &url, "/shop-prod", &shop(V2)).await;

    let mut stream = subscribe(
        &client,
        &url,
        "?event_type=deployment_failed&event_type=deployment_success",
    )
    .await;
    let res = client
        .delete(format!("{url}/v2/deployments/{failing}"))
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 200);
    let header = res
        .headers()
        .get("Marathon-Deployment-Id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = res.json().await.expect("JSON");
    let rollback = body["deploymentId"].as_str().unwrap_or_default().to_owned();
    assert_eq!(header.as_deref(), Some(rollback.as_str()));
    assert_ne!(rollback, failing);
    assert!(body["version"].is_string());

    let seen = stream
        .until(|k, d| k == "deployment_success" && d["id"] == rollback.as_str())
        .await;
    assert_eq!(
        (seen[0].0.as_str(), &seen[0].1["id"]),
        ("deployment_failed", &json!(failing))
    );
    let (_, after) = get_json(&client, &format!("{url}/v2/apps/shop-prod/web")).await;
    assert_eq!(after["app"]["container"]["docker"]["image"], V1);
    assert_eq!(
        after["app"]["version"], before["app"]["version"],
        "the old definition comes back as it was"
    );
    assert_eq!(after["app"]["tasksHealthy"], 3);
    let history = sim.control().deployment_history();
    assert_eq!(
        history.iter().find(|d| d.id == failing).map(|d| d.outcome),
        Some(DeploymentOutcome::RolledBack)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn force_cancel_answers_202_and_starts_no_rollback() {
    let options = fast().rule("*:v2", TaskOutcome::NeverHealthy);
    let (sim, client) = start(options).await;
    let url = sim.url();
    deploy(&client, &url, "/shop-prod", &shop(V1)).await;
    wait_idle(&client, &url).await;
    let failing = deploy(&client, &url, "/shop-prod", &shop(V2)).await;
    let res = client
        .delete(format!("{url}/v2/deployments/{failing}?force=true"))
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 202);
    let (_, list) = get_json(&client, &format!("{url}/v2/deployments")).await;
    assert_eq!(list, json!([]));
    assert_eq!(
        sim.control().app_image("/shop-prod/web").as_deref(),
        Some(V2),
        "no rollback"
    );
    let history = sim.control().deployment_history();
    assert_eq!(
        history.last().map(|d| d.outcome),
        Some(DeploymentOutcome::Cancelled)
    );
    let res = client
        .delete(format!("{url}/v2/deployments/{failing}"))
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 404);
    let body: Value = res.json().await.expect("JSON");
    assert_eq!(
        body["message"],
        format!("DeploymentPlan {failing} does not exist")
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn deployments_list_shows_steps_and_current_actions() {
    let options = fast().rule("*:v2", TaskOutcome::NeverHealthy);
    let (sim, client) = start(options).await;
    let url = sim.url();
    deploy(&client, &url, "/shop-prod", &shop(V1)).await;
    wait_idle(&client, &url).await;
    let id = deploy(&client, &url, "/shop-prod", &shop(V2)).await;
    let (status, list) = get_json(&client, &format!("{url}/v2/deployments")).await;
    assert_eq!(status, 200);
    let d = &list[0];
    assert_eq!(d["id"], id.as_str());
    assert_eq!(
        d["affectedApps"],
        json!(["/shop-prod/web", "/shop-prod/worker"])
    );
    assert_eq!(d["totalSteps"], 1);
    assert_eq!(d["currentStep"], 1);
    assert_eq!(
        d["steps"][0]["actions"][0],
        json!({"action": "RestartApplication", "app": "/shop-prod/web"})
    );
    assert_eq!(d["currentActions"][1]["app"], "/shop-prod/worker");
    assert!(d["version"].is_string());
    sim.shutdown().await;
}

#[tokio::test]
async fn new_group_starts_then_scales_its_apps() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    let mut stream = subscribe(
        &client,
        &url,
        "?event_type=deployment_step_success&event_type=deployment_success",
    )
    .await;
    let id = deploy(&client, &url, "/shop-prod", &shop(V1)).await;
    let seen = stream.until(|k, _| k == "deployment_success").await;
    let actions: Vec<Value> = seen
        .iter()
        .filter(|(k, _)| k == "deployment_step_success")
        .map(|(_, d)| d["currentStep"]["actions"][0]["action"].clone())
        .collect();
    assert_eq!(
        actions,
        vec![json!("StartApplication"), json!("ScaleApplication")]
    );
    assert_eq!(seen.last().map(|(_, d)| d["id"].clone()), Some(json!(id)));
    sim.shutdown().await;
}

#[tokio::test]
async fn crash_looping_tasks_fail_and_are_relaunched() {
    let options = SimOptions::default()
        .task_start(Duration::from_millis(10))
        .speed(0.0)
        .rule("*:crash", TaskOutcome::CrashLoop);
    let (sim, client) = start(options).await;
    let url = sim.url();
    let mut stream = subscribe(&client, &url, "?event_type=status_update_event").await;
    deploy(
        &client,
        &url,
        "/shop-prod",
        &json!({"id": "/shop-prod", "apps": [app("web", "registry.example/shop:crash", 1)]}),
    )
    .await;
    for _ in 0..10 {
        sim.control().advance_clock(Duration::from_secs(5));
    }
    let mut failed = 0;
    while let Ok(Some(item)) =
        tokio::time::timeout(Duration::from_millis(300), stream.rx.recv()).await
    {
        if let Item::Event { data, .. } = item {
            failed += usize::from(data["taskStatus"] == "TASK_FAILED");
        }
    }
    assert!(failed >= 3, "tasks keep failing and coming back: {failed}");
    let (_, app) = get_json(&client, &format!("{url}/v2/apps/shop-prod/web")).await;
    assert_eq!(app["app"]["lastTaskFailure"]["state"], "TASK_FAILED");
    sim.shutdown().await;
}

#[tokio::test]
async fn complete_deployment_now_finishes_a_slow_deployment_at_once() {
    let options = fast().rule("*:v2", TaskOutcome::Slow(Duration::from_secs(3600)));
    let (sim, client) = start(options).await;
    let url = sim.url();
    deploy(&client, &url, "/shop-prod", &shop(V1)).await;
    wait_idle(&client, &url).await;
    let mut stream = subscribe(&client, &url, "?event_type=deployment_success").await;
    let id = deploy(&client, &url, "/shop-prod", &shop(V2)).await;
    assert!(sim.control().complete_deployment_now(&id));
    let seen = stream.until(|k, _| k == "deployment_success").await;
    assert_eq!(seen[0].1["id"], id.as_str());
    assert!(!sim.control().complete_deployment_now(&id), "already over");
    sim.shutdown().await;
}

#[tokio::test]
async fn deployments_of_one_group_never_overlap_in_history() {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    for image in [V1, V2, V1] {
        deploy(&client, &url, "/shop-prod", &shop(image)).await;
        wait_idle(&client, &url).await;
    }
    let history = sim.control().deployment_history();
    assert_eq!(history.len(), 3);
    for pair in history.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            a.ended.is_some_and(|end| end <= b.started),
            "{a:?} overlaps {b:?}"
        );
    }
    sim.shutdown().await;
}

/// Runs a rolling restart of one 3-instance app with this upgrade strategy and returns the most
/// tasks alive at once and the fewest healthy tasks at any moment, from the event stream.
async fn restart_extremes(min_health: f64, over: f64) -> (usize, usize) {
    let (sim, client) = start(fast()).await;
    let url = sim.url();
    let group = |image: &str| {
        let mut web = app("web", image, 3);
        web["upgradeStrategy"] =
            json!({"minimumHealthCapacity": min_health, "maximumOverCapacity": over});
        json!({"id": "/shop-prod", "apps": [web]})
    };
    deploy(&client, &url, "/shop-prod", &group(V1)).await;
    wait_idle(&client, &url).await;
    let (_, before) = get_json(&client, &format!("{url}/v2/apps/shop-prod/web")).await;
    let mut alive: std::collections::BTreeSet<String> = before["app"]["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["id"].as_str().map(str::to_owned))
        .collect();
    let mut ready = alive.clone();
    let mut stream = subscribe(&client, &url, "").await;
    let id = deploy(&client, &url, "/shop-prod", &group(V2)).await;
    let seen = stream
        .until(|k, d| k == "deployment_success" && d["id"] == id.as_str())
        .await;
    let (mut max_alive, mut min_ready) = (alive.len(), ready.len());
    for (kind, data) in seen {
        let task = data["taskId"].as_str().unwrap_or_default().to_owned();
        match (kind.as_str(), data["taskStatus"].as_str()) {
            ("status_update_event", Some("TASK_STAGING")) => {
                alive.insert(task);
            }
            ("status_update_event", Some("TASK_KILLED" | "TASK_FAILED")) => {
                alive.remove(&task);
                ready.remove(&task);
            }
            ("health_status_changed_event", _) if data["alive"] == true => {
                ready.insert(task);
            }
            _ => {}
        }
        max_alive = max_alive.max(alive.len());
        min_ready = min_ready.min(ready.len());
    }
    assert_eq!(
        (alive.len(), ready.len()),
        (3, 3),
        "ends with all new tasks up"
    );
    sim.shutdown().await;
    (max_alive, min_ready)
}

#[tokio::test]
async fn rolling_restart_without_over_capacity_replaces_one_task_at_a_time() {
    let (max_alive, min_ready) = restart_extremes(1.0, 0.0).await;
    assert_eq!(max_alive, 3, "never more than the instance count");
    assert_eq!(
        min_ready, 2,
        "one task is killed first so that the restart can progress"
    );
}

#[tokio::test]
async fn rolling_restart_with_full_health_capacity_keeps_every_old_task_until_replaced() {
    let (max_alive, min_ready) = restart_extremes(1.0, 1.0).await;
    assert_eq!(max_alive, 6);
    assert_eq!(min_ready, 3);
}

#[tokio::test]
async fn rolling_restart_with_zero_health_capacity_kills_all_old_tasks_at_once() {
    let (max_alive, min_ready) = restart_extremes(0.0, 0.0).await;
    assert_eq!(max_alive, 3);
    assert_eq!(min_ready, 0);
}

#[tokio::test]
async fn refused_change_emits_group_change_failed_and_cancel_fails_the_step_first() {
    let options = fast().rule("*:v2", TaskOutcome::NeverHealthy);
    let (sim, client) = start(options).await;
    let url = sim.url();
    deploy(&client, &url, "/shop-prod", &shop(V1)).await;
    wait_idle(&client, &url).await;
    let running = deploy(&client, &url, "/shop-prod", &shop(V2)).await;
    let mut stream = subscribe(&client, &url, "?event_type=group_change_failed&event_type=deployment_step_failure&event_type=deployment_failed").await;
    assert_eq!(
        put_group(&client, &url, "/shop-prod", &shop(V1), "")
            .await
            .status(),
        409
    );
    let (kind, data) = stream.next_event().await.expect("an event");
    assert_eq!(
        (kind.as_str(), data["groupId"].as_str()),
        ("group_change_failed", Some("/shop-prod"))
    );
    assert!(
        data["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("App is locked"))
    );

    let res = client
        .delete(format!("{url}/v2/deployments/{running}?force=true"))
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 202);
    let seen = stream.until(|k, _| k == "deployment_failed").await;
    let kinds: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["deployment_step_failure", "deployment_failed"]);
    assert_eq!(
        seen[0].1["currentStep"]["actions"][0]["action"],
        "RestartApplication"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn slow_tasks_of_apps_without_health_checks_start_late() {
    let options = SimOptions::default()
        .task_start(Duration::from_millis(10))
        .speed(0.0)
        .rule("*:slow", TaskOutcome::Slow(Duration::from_secs(30)));
    let (sim, client) = start(options).await;
    let url = sim.url();
    let mut web = app("web", "r/shop:slow", 1);
    web.as_object_mut().map(|a| a.remove("healthChecks"));
    deploy(&client, &url, "/shop-prod", &json!({"apps": [web]})).await;
    sim.control().advance_clock(Duration::from_secs(20));
    let (_, app) = get_json(&client, &format!("{url}/v2/apps/shop-prod/web")).await;
    assert_eq!(
        (
            app["app"]["tasksStaged"].clone(),
            app["app"]["tasksRunning"].clone()
        ),
        (json!(1), json!(0))
    );
    sim.control().advance_clock(Duration::from_secs(15));
    wait_idle(&client, &url).await;
    let (_, app) = get_json(&client, &format!("{url}/v2/apps/shop-prod/web")).await;
    assert_eq!(app["app"]["tasksRunning"], 1);
    assert_eq!(
        app["app"]["tasksHealthy"], 0,
        "no health checks, no healthy count"
    );
    sim.shutdown().await;
}
