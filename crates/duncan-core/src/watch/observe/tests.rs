//! The rules of observe.rs on exact Marathon JSON.

use serde_json::{Value, json};

use super::*;

/// Exact Marathon JSON, deserialised into marathon-client's model as the client does.
fn typed<T: serde::de::DeserializeOwned>(json: &Value) -> T {
    serde_json::from_value(json.clone()).expect("Marathon JSON the model reads")
}

const V1: &str = "2017-03-01T10:00:00.000Z";
const V2: &str = "2017-03-02T10:00:00.000Z";

fn expected() -> ExpectedApp {
    ExpectedApp {
        app_id: "/shop-stage/web".into(),
        image: Some("acme/shop:v2".into()),
    }
}

fn task(version: &str, alive: Option<bool>) -> Value {
    let results = match alive {
        Some(a) => json!([{"alive": a}]),
        None => json!([]),
    };
    json!({"id": "t", "state": "TASK_RUNNING", "version": version, "healthCheckResults": results})
}

fn app(version: &str, image: &str, tasks: Vec<Value>) -> Value {
    json!({
        "id": "/shop-stage/web", "instances": 2, "version": version,
        "versionInfo": {"lastConfigChangeAt": version, "lastScalingAt": version},
        "container": {"docker": {"image": image}},
        "healthChecks": [{"gracePeriodSeconds": 10, "intervalSeconds": 5, "maxConsecutiveFailures": 2}],
        "tasks": tasks
    })
}

#[test]
fn all_new_tasks_healthy_and_no_old_ones_is_done() {
    let a = app(
        V2,
        "acme/shop:v2",
        vec![task(V2, Some(true)), task(V2, Some(true))],
    );
    let obs = observe_app(&typed(&a), &expected(), Some(V2));
    assert!(obs.is_done(), "{obs:?}");
    assert_eq!(obs.health_allowance_secs, 20);
}

#[test]
fn an_old_task_left_means_not_done() {
    let a = app(
        V2,
        "acme/shop:v2",
        vec![
            task(V2, Some(true)),
            task(V2, Some(true)),
            task(V1, Some(true)),
        ],
    );
    let obs = observe_app(&typed(&a), &expected(), Some(V2));
    assert_eq!(obs.old_tasks, 1);
    assert!(!obs.is_done());
}

#[test]
fn unhealthy_new_task_means_not_done() {
    let a = app(
        V2,
        "acme/shop:v2",
        vec![task(V2, Some(true)), task(V2, Some(false))],
    );
    let obs = observe_app(&typed(&a), &expected(), Some(V2));
    assert_eq!((obs.new_running, obs.new_healthy), (2, 1));
    assert!(!obs.is_done());
}

#[test]
fn wrong_image_is_not_on_target() {
    let a = app(
        V2,
        "acme/shop:v3",
        vec![task(V2, Some(true)), task(V2, Some(true))],
    );
    assert!(!observe_app(&typed(&a), &expected(), Some(V2)).on_target);
}

#[test]
fn scaled_app_keeps_tasks_started_since_last_config_change() {
    let mut a = app(
        V2,
        "acme/shop:v2",
        vec![task(V1, Some(true)), task(V2, Some(true))],
    );
    a["versionInfo"]["lastConfigChangeAt"] = json!(V1);
    let obs = observe_app(&typed(&a), &expected(), Some(V2));
    assert_eq!(obs.old_tasks, 0);
    assert!(obs.is_done());
}

#[test]
fn apps_without_health_checks_count_running_tasks() {
    let mut a = app(V2, "acme/shop:v2", vec![task(V2, None), task(V2, None)]);
    a.as_object_mut().unwrap().remove("healthChecks");
    assert!(observe_app(&typed(&a), &expected(), Some(V2)).is_done());
}

fn snapshot(done: bool, on_target: bool, ours: bool, others: &[&str]) -> Snapshot {
    Snapshot {
        ours_running: ours,
        others: others.iter().map(|id| (*id).to_owned()).collect(),
        apps: vec![AppObservation {
            app_id: "/shop-stage/web".into(),
            on_target,
            version: None,
            image: None,
            instances: 1,
            new_running: u32::from(done),
            new_healthy: u32::from(done),
            old_tasks: 0,
            health_allowance_secs: 0,
            deployments: None,
            last_task_failure: None,
            unhealthy_tasks: Vec::new(),
        }],
    }
}

fn seen(success_event: bool, failed_event: bool) -> Seen {
    Seen {
        success_event,
        failed_event,
        trust_absence: true,
    }
}

#[test]
fn absence_before_the_deployment_was_ever_listed_is_not_an_ending() {
    let early = Seen {
        trust_absence: false,
        ..Seen::default()
    };
    assert_eq!(
        judge(&snapshot(false, true, false, &[]), early),
        Verdict::Running
    );
    assert_eq!(
        judge(&snapshot(true, true, false, &[]), early),
        Verdict::Running
    );
}

#[test]
fn success_needs_rest_confirmation() {
    assert_eq!(
        judge(&snapshot(true, true, false, &[]), seen(true, false)),
        Verdict::Succeeded
    );
    assert_eq!(
        judge(&snapshot(false, true, false, &[]), seen(true, false)),
        Verdict::Running
    );
    assert_eq!(
        judge(&snapshot(true, true, true, &[]), seen(false, false)),
        Verdict::Running
    );
}

#[test]
fn vanished_deployment_with_apps_done_is_success() {
    assert_eq!(
        judge(&snapshot(true, true, false, &[]), seen(false, false)),
        Verdict::Succeeded
    );
}

#[test]
fn failure_with_another_deployment_is_superseded() {
    assert_eq!(
        judge(
            &snapshot(false, false, false, &["theirs"]),
            seen(false, true)
        ),
        Verdict::Superseded {
            by: vec!["theirs".into()]
        }
    );
}

#[test]
fn vanished_deployment_with_apps_unchanged_is_cancelled() {
    assert_eq!(
        judge(&snapshot(false, true, false, &[]), seen(false, false)),
        Verdict::Cancelled
    );
    assert_eq!(
        judge(&snapshot(false, true, false, &[]), seen(false, true)),
        Verdict::Cancelled
    );
}

fn held_by(ids: Option<&[&str]>) -> AppObservation {
    let mut a = app(V2, "acme/shop:v2", vec![]);
    match ids {
        Some(ids) => {
            a["deployments"] = ids.iter().map(|id| json!({"id": id})).collect();
        }
        None => {
            a.as_object_mut().unwrap().remove("deployments");
        }
    }
    observe_app(&typed(&a), &expected(), Some(V2))
}

#[test]
fn our_id_listed_on_an_app_means_ours_still_runs() {
    let apps = [held_by(Some(&[])), held_by(Some(&["ours"]))];
    assert_eq!(holders_from_apps(&apps, "ours"), Some((true, vec![])));
}

#[test]
fn our_id_gone_from_every_app_means_ours_ended() {
    let apps = [held_by(Some(&[])), held_by(Some(&[]))];
    assert_eq!(holders_from_apps(&apps, "ours"), Some((false, vec![])));
}

#[test]
fn another_id_listed_on_our_apps_is_named_once() {
    let apps = [
        held_by(Some(&["theirs", "ours"])),
        held_by(Some(&["theirs"])),
    ];
    assert_eq!(
        holders_from_apps(&apps, "ours"),
        Some((true, vec!["theirs".to_owned()]))
    );
}

#[test]
fn app_answer_without_deployments_array_cannot_tell_who_holds_it() {
    let apps = [held_by(Some(&["ours"])), held_by(None)];
    assert_eq!(holders_from_apps(&apps, "ours"), None);
    assert_eq!(
        holders_from_apps(&[AppObservation::missing(&expected())], "ours"),
        None
    );
    assert_eq!(holders_from_apps(&[], "ours"), None);
}

#[test]
fn deployments_list_names_ours_and_only_others_touching_our_apps() {
    let list: Vec<Deployment> = [
        json!({"id": "ours", "affectedApps": ["/shop-stage/web"]}),
        json!({"id": "theirs", "affectedApps": ["/shop-stage/web", "/x"]}),
        json!({"id": "unrelated", "affectedApps": ["/x"]}),
    ]
    .iter()
    .map(typed)
    .collect();
    assert_eq!(
        holders_from_deployments(&list, "ours", &["/shop-stage/web"]),
        (true, vec!["theirs".to_owned()])
    );
    assert_eq!(
        holders_from_deployments(&list[1..], "ours", &["/shop-stage/web"]),
        (false, vec!["theirs".to_owned()])
    );
}

#[test]
fn deployments_list_entries_are_summarized() {
    let d = json!({"id": "d1", "version": V2, "affectedApps": ["/a"], "currentStep": 2, "totalSteps": 3,
                   "steps": [], "currentActions": []});
    let s = summarize_deployment(&typed(&d));
    assert_eq!((s.id.as_str(), s.current_step, s.total_steps), ("d1", 2, 3));
    assert_eq!(s.affected_apps, ["/a"]);
}

#[test]
fn the_new_tasks_last_failure_and_failing_checks_are_kept_and_an_old_failure_is_not() {
    let mut a = app(
        V2,
        "acme/shop:v2",
        vec![
            json!({"id": "web.2", "host": "agent-2", "state": "TASK_RUNNING",
            "version": V2, "healthCheckResults": [{"alive": false, "consecutiveFailures": 2,
            "lastFailure": V2, "lastFailureCause": "503 Service Unavailable"}]}),
        ],
    );
    a["lastTaskFailure"] = json!({"appId": "/shop-stage/web", "host": "agent-1",
        "message": "Command exited with status 1", "state": "TASK_FAILED",
        "taskId": "web.1", "timestamp": V2, "version": V2, "slaveId": "s1"});
    let obs = observe_app(&typed(&a), &expected(), Some(V2));
    let troubles = AppTrouble::of(std::slice::from_ref(&obs));
    assert_eq!(
        troubles[0].to_string(),
        format!(
            "/shop-stage/web: last task TASK_FAILED at {V2} (Command exited with status 1); \
             1 new task fails health checks (503 Service Unavailable)"
        )
    );
    assert_eq!(obs.unhealthy_tasks[0].task_id, "web.2");

    // A failure of a task of the previous definition says nothing about the new one.
    a["lastTaskFailure"]["version"] = json!(V1);
    a["tasks"] = json!([]);
    let obs = observe_app(&typed(&a), &expected(), Some(V2));
    assert!(AppTrouble::of(&[obs]).is_empty());
}
