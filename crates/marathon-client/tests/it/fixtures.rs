//! Models against every real Marathon response in `tests/data`.

use marathon_client::sse::SseParser;
use marathon_client::{App, Deployment, DeploymentRef, DeploymentStep, Event, Group, Info};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::util::data;

/// Parses `json` as `T`, serializes it back and requires the same JSON value: nothing lost,
/// nothing added, `null` kept as `null`.
fn assert_lossless<T: DeserializeOwned + serde::Serialize>(json: &Value, what: &str) -> T {
    let parsed: T = serde_json::from_value(json.clone())
        .unwrap_or_else(|e| panic!("{what} does not parse: {e}"));
    let back = serde_json::to_value(&parsed).expect("serializes");
    assert_eq!(&back, json, "{what} changed in a round trip");
    parsed
}

fn json(path: &str) -> Value {
    serde_json::from_slice(&data(path)).expect("fixture is JSON")
}

#[test]
fn example_app_round_trips_losslessly_with_secret_env_and_volumes() {
    let app: App = assert_lossless(&json("examples/app.json"), "examples/app.json");
    assert_eq!(app.docker_image(), Some("mesosphere:marathon/latest"));
    // The only ':' comes before the last '/', so it is not a tag separator.
    assert_eq!(app.image_repository(), Some("mesosphere:marathon/latest"));
    assert_eq!(app.image_tag(), None);
    assert_eq!(app.extra["env"]["PASSWORD"]["secret"], "/db/password");
}

#[test]
fn example_app_list_round_trips_with_counts_and_deployments() {
    let list = json("examples/app_list.json");
    let apps = list["apps"].as_array().expect("apps array");
    for app in apps {
        let app: App = assert_lossless(app, "examples/app_list.json app");
        assert_eq!(app.tasks_running, Some(0));
        let ids: Vec<_> = app.deployments.unwrap().into_iter().map(|d| d.id).collect();
        assert_eq!(ids, ["9538079c-3898-4e32-aa31-799bf9097f74"]);
    }
}

#[test]
fn example_and_depcon_groups_round_trip_losslessly() {
    for path in [
        "examples/group.json",
        "depcon/groups_get_group_response.json",
        "depcon/groups_list_groups_response.json",
    ] {
        let group: Group = assert_lossless(&json(path), path);
        assert!(!group.all_apps().is_empty(), "{path} has apps");
    }
    let group: Group = serde_json::from_value(json("examples/group.json")).unwrap();
    let images: Vec<_> = group.all_apps().iter().map(|a| a.image_tag()).collect();
    assert_eq!(
        images,
        [
            Some("6d7d463cb8b1517002080a81cf23f9cf7b7fc774"),
            Some("latest"),
            None
        ]
    );
}

#[test]
fn depcon_app_with_tasks_round_trips_and_reports_health() {
    let wrapper = json("depcon/apps_get_app_response.json");
    let app: App = assert_lossless(&wrapper["app"], "depcon app");
    let tasks = app.tasks.as_ref().expect("tasks embedded");
    assert!(tasks.iter().all(|t| t.is_healthy()));
    assert_eq!(app.image_repository(), Some("redis"));
}

#[test]
fn queue_apps_round_trip_losslessly() {
    let queue = json("examples/queue.json");
    for item in queue["queue"].as_array().expect("queue array") {
        assert_lossless::<App>(&item["app"], "queue app");
    }
}

#[test]
fn deployments_parse_with_current_actions() {
    let deployments: Vec<Deployment> =
        serde_json::from_value(json("examples/deployments.json")).unwrap();
    let deployment = &deployments[0];
    assert_eq!(deployment.id, "97c136bf-5a28-4821-9d94-480d9fbb01c8");
    assert_eq!(deployment.affected_apps, ["/foo"]);
    assert_eq!(deployment.steps[1].actions[0].pod.as_deref(), Some("/bla"));
    assert_eq!(deployment.current_actions[0].action, "ScaleApplication");
    assert_eq!(
        (deployment.current_step, deployment.total_steps),
        (Some(1), Some(1))
    );
}

#[test]
fn deployment_steps_and_results_parse() {
    #[derive(Deserialize)]
    struct Steps {
        steps: Vec<DeploymentStep>,
    }
    let steps: Steps = serde_json::from_value(json("examples/deployment_steps.json")).unwrap();
    assert_eq!(steps.steps[0].actions[0].action, "StartApplication");
    for path in [
        "examples/deployments_result.json",
        "depcon/common_deployid_response.json",
    ] {
        let result: DeploymentRef = serde_json::from_value(json(path)).unwrap();
        assert_eq!(result.deployment_id, "5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43");
    }
}

#[test]
fn info_parses_leader_and_keeps_config() {
    let info: Info = serde_json::from_value(json("examples/info.json")).unwrap();
    assert_eq!(info.leader.as_deref(), Some("localhost:8080"));
    assert_eq!(info.elected, Some(true));
    assert_eq!(info.extra["http_config"]["http_port"], 8080);
}

#[test]
fn documented_lf_event_stream_parses_into_typed_events() {
    let mut parser = SseParser::new(1 << 20);
    let messages = parser.push(&data("examples/events.txt")).unwrap();
    let events: Vec<Event> = messages
        .iter()
        .map(|m| Event::parse(m.event.as_deref(), &m.data).unwrap())
        .collect();
    let types: Vec<_> = events.iter().map(Event::event_type).collect();
    assert_eq!(
        types,
        [
            "event_stream_attached",
            "status_update_event",
            "status_update_event"
        ]
    );
    match &events[1] {
        Event::StatusUpdate(update) => {
            assert_eq!(update.task_status.as_deref(), Some("TASK_FAILED"));
            assert_eq!(update.app_id.as_deref(), Some("/foo"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// The bodies of the HTTP responses in a capture, with the `// comments` the docs added
/// removed (a comment starts at whitespace followed by `//`, which no URL in them has).
/// Some captures have no blank line after the headers, so the body starts at the first
/// line opening a JSON object or array.
fn capture_responses(path: &str) -> Vec<Value> {
    let text = String::from_utf8(data(path)).unwrap();
    let mut bodies = Vec::new();
    for block in text.split("```").skip(1).step_by(2) {
        let Some(start) = block.find("HTTP/1.1 ") else {
            continue;
        };
        let response = &block[start..];
        let body: String = response
            .lines()
            .skip_while(|line| !line.starts_with('{') && !line.starts_with('['))
            .map(|line| match line.find(" //") {
                Some(i) => &line[..i],
                None => line,
            })
            .collect::<Vec<_>>()
            .join("\n");
        if body.trim().is_empty() {
            continue;
        }
        bodies.push(serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}")));
    }
    bodies
}

#[test]
fn captured_app_show_round_trips_with_tasks_and_null_fields() {
    let bodies = capture_responses("captures-1.4.5/AppsResource_show.md");
    assert_eq!(bodies.len(), 1);
    let app: App = assert_lossless(&bodies[0]["app"], "captured app");
    assert_eq!(app.container, Some(None));
    assert_eq!(app.tasks_healthy, Some(2));
    assert_eq!(app.health_checks.unwrap()[0].grace_period_seconds, Some(5));
}

#[test]
fn captured_deployments_and_cancel_parse() {
    let running = capture_responses("captures-1.4.5/DeploymentsResource_running.md");
    let deployments: Vec<Deployment> = serde_json::from_value(running[0].clone()).unwrap();
    assert_eq!(deployments[0].steps.len(), 9);
    assert_eq!(deployments[0].current_step, Some(2));
    let cancel = capture_responses("captures-1.4.5/DeploymentsResource_cancel.md");
    let rollback: DeploymentRef = serde_json::from_value(cancel[0].clone()).unwrap();
    assert_eq!(
        rollback.deployment_id,
        "0b1467fc-d5cd-4bbc-bac2-2805351cee1e"
    );
}

#[test]
fn captured_groups_round_trip_losslessly() {
    let index = capture_responses("captures-1.4.5/GroupsResource_index.md");
    for group in index[0].as_array().unwrap() {
        assert_lossless::<Group>(group, "captured group list entry");
    }
    let show = capture_responses("captures-1.4.5/GroupsResource_show.md");
    let groups: Vec<&Value> = show.iter().filter(|v| v.is_object()).collect();
    assert_eq!(groups.len(), 2, "show and show-version");
    for group in groups {
        let group: Group = assert_lossless(group, "captured group");
        assert_eq!(group.all_apps().len(), 1);
    }
    // The 1.4 update answer predates `deploymentId`: only a version.
    let update = capture_responses("captures-1.4.5/GroupsResource_update.md");
    assert_eq!(update[0]["version"], "2014-07-01T10:20:50.196Z");
}

#[test]
fn captured_event_stream_without_event_names_parses_by_event_type() {
    let text = String::from_utf8(data("captures-1.4.5/EventResource_get.md")).unwrap();
    let start = text.find("data: ").unwrap();
    let end = text[start..].find("```").unwrap() + start;
    let mut parser = SseParser::new(1 << 20);
    let mut messages = parser.push(&text.as_bytes()[start..end]).unwrap();
    messages.extend(parser.push(b"\n\n").unwrap());
    let events: Vec<Event> = messages
        .iter()
        .map(|m| Event::parse(m.event.as_deref(), &m.data).unwrap())
        .collect();
    assert!(matches!(events[0], Event::EventStreamAttached(_)));
    assert!(matches!(events[1], Event::GroupChangeSuccess(_)));
}

#[test]
fn real_root_groups_of_100_and_1000_apps_round_trip_losslessly() {
    for (path, count) in [
        ("real-groups/155_100.json", 100),
        ("real-groups/155_1000.json", 1000),
    ] {
        let group: Group = assert_lossless(&json(path), path);
        assert_eq!(group.all_apps().len(), count, "{path}");
    }
}

#[test]
fn real_1000_app_group_parses_from_bytes() {
    // The path duncan takes: bytes straight into the model (no intermediate Value).
    let group: Group = serde_json::from_slice(&data("real-groups/155_1000.json")).unwrap();
    let with_image = group
        .all_apps()
        .iter()
        .filter(|a| a.docker_image().is_some())
        .count();
    assert!(with_image > 0);
}
