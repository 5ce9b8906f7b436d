//! Every REST call against marathon-sim, seeded through the client's own group PUT.

use std::time::Duration;

use futures_util::StreamExt;
use marathon_client::{
    App, AppEmbed, AppUpdateOptions, Client, Config, Error, Event, EventStream, EventStreamOptions,
    Group, GroupEmbed, GroupUpdateOptions, RetryPolicy, event_types,
};
use marathon_sim::{DeploymentOutcome, MarathonSim, SimOptions};
use serde_json::json;

use crate::util::quick_retry;

/// A simulator whose tasks start after 20 ms, and a client of it.
pub async fn start() -> (MarathonSim, Client) {
    start_with(SimOptions::default()).await
}

/// A simulator started with `options` (tasks starting after 20 ms), and a client of it.
pub async fn start_with(options: SimOptions) -> (MarathonSim, Client) {
    let sim = MarathonSim::start(options.task_start(Duration::from_millis(20)))
        .await
        .expect("simulator starts");
    let client = Client::new(
        Config::new(&sim.url())
            .expect("sim URL")
            .with_retry(quick_retry()),
    )
    .expect("client");
    (sim, client)
}

/// The group `/shop` with two Docker apps of two instances each, at image tag `tag`.
pub fn shop(tag: &str) -> Group {
    let app = |name: &str| {
        json!({
            "id": format!("/shop/{name}"),
            "instances": 2,
            "cpus": 0.1,
            "mem": 64,
            "container": {"type": "DOCKER", "docker": {
                "image": format!("registry.example.com/shop/{name}:{tag}"),
                "network": "BRIDGE"}},
            "healthChecks": [{"protocol": "HTTP", "path": "/health", "gracePeriodSeconds": 30,
                "intervalSeconds": 10, "maxConsecutiveFailures": 3}],
            "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1},
            "labels": {"team": "shop"}
        })
    };
    serde_json::from_value(json!({"id": "/shop", "apps": [app("web"), app("worker")]}))
        .expect("group JSON")
}

/// The deployment events only.
pub fn deployment_events() -> EventStreamOptions {
    EventStreamOptions::new().with_event_types([
        event_types::DEPLOYMENT_INFO,
        event_types::DEPLOYMENT_STEP_SUCCESS,
        event_types::DEPLOYMENT_SUCCESS,
        event_types::DEPLOYMENT_FAILED,
    ])
}

/// Reads events until `deployment_success` or `deployment_failed` for `id`; returns every
/// event seen for `id`, the final one last. Gives up after 10 s so a bug cannot hang CI.
pub async fn until_done(events: &mut EventStream, id: &str) -> Vec<Event> {
    let mut seen = Vec::new();
    let wait = async {
        while let Some(event) = events.next().await {
            let event = event.expect("event");
            if event.deployment_id() != Some(id) {
                continue;
            }
            let done = matches!(
                event,
                Event::DeploymentSuccess(_) | Event::DeploymentFailed(_)
            );
            seen.push(event);
            if done {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("deployment ended within 10 s");
    seen
}

/// Seeds `/shop` at `tag` and waits for the deployment to succeed.
pub async fn seed(client: &Client, tag: &str) {
    let mut events = client
        .events(&deployment_events())
        .await
        .expect("subscribe");
    let started = client
        .update_group(&shop(tag), GroupUpdateOptions::default())
        .await
        .expect("seed");
    let seen = until_done(&mut events, &started.deployment_id).await;
    assert!(
        matches!(seen.last(), Some(Event::DeploymentSuccess(_))),
        "{seen:?}"
    );
}

#[tokio::test]
async fn ping_and_info_answer() {
    let (_sim, client) = start().await;
    client.ping().await.unwrap();
    let info = client.info().await.unwrap();
    assert_eq!(info.name.as_deref(), Some("marathon"));
}

#[tokio::test]
async fn group_update_runs_a_deployment_to_success_with_its_events() {
    let (_sim, client) = start().await;
    let mut events = client.events(&deployment_events()).await.unwrap();
    let started = client
        .update_group(&shop("1.0"), GroupUpdateOptions::default())
        .await
        .unwrap();
    let seen = until_done(&mut events, &started.deployment_id).await;
    assert!(
        matches!(seen.first(), Some(Event::DeploymentInfo(_))),
        "{seen:?}"
    );
    assert!(
        matches!(seen.last(), Some(Event::DeploymentSuccess(_))),
        "{seen:?}"
    );
    if let Some(Event::DeploymentInfo(info)) = seen.first() {
        let mut apps = info.plan.affected_apps();
        apps.sort_unstable();
        assert_eq!(apps, ["/shop/web", "/shop/worker"]);
    }

    let app = client
        .app("/shop/web", &[AppEmbed::Tasks, AppEmbed::Counts])
        .await
        .unwrap();
    assert_eq!(app.image_tag(), Some("1.0"));
    assert_eq!(app.tasks_healthy, Some(2));
    let tasks = app.tasks.unwrap();
    assert_eq!(tasks.len(), 2);
    assert!(tasks.iter().all(|t| t.is_healthy()));
    // Fields the model does not name went to Marathon and came back.
    assert_eq!(app.extra["labels"]["team"], "shop");
}

#[tokio::test]
async fn group_embeds_are_sent_as_chosen() {
    let (sim, client) = start().await;
    seed(&client, "1.0").await;
    let plain = client.group("/shop", &[]).await.unwrap();
    let counted = client
        .group("/shop", &[GroupEmbed::Apps, GroupEmbed::AppCounts])
        .await
        .unwrap();
    assert_eq!(plain.all_apps().len(), 2);
    assert!(plain.all_apps().iter().all(|a| a.tasks_running.is_none()));
    assert!(
        counted
            .all_apps()
            .iter()
            .all(|a| a.tasks_running == Some(2))
    );
    let requests = sim.control().requests();
    assert!(requests.iter().any(|r| r.method == "GET"
        && r.path_and_query == "/v2/groups/shop?embed=group.apps&embed=group.apps.counts"));
}

#[tokio::test]
async fn root_group_and_app_list_hold_the_seeded_apps() {
    let (_sim, client) = start().await;
    seed(&client, "1.0").await;
    let root = client.root_group(&[]).await.unwrap();
    assert_eq!(root.id, "/");
    let mut ids: Vec<String> = root.all_apps().iter().map(|a| a.id.clone()).collect();
    ids.sort();
    assert_eq!(ids, ["/shop/web", "/shop/worker"]);
    let apps = client.apps(&[AppEmbed::Counts]).await.unwrap();
    assert_eq!(apps.len(), 2);
    assert!(apps.iter().all(|a| a.tasks_healthy == Some(2)));
}

#[tokio::test]
async fn locked_apps_name_the_running_deployment_and_force_fails_it() {
    let (sim, client) = start().await;
    seed(&client, "1.0").await;
    sim.control().set_speed(0.0);
    let first = client
        .update_group(&shop("2.0"), GroupUpdateOptions::default())
        .await
        .unwrap();
    let err = client
        .update_group(&shop("3.0"), GroupUpdateOptions::default())
        .await
        .unwrap_err();
    match &err {
        Error::AppLocked { deployment_ids, .. } => {
            assert_eq!(deployment_ids, std::slice::from_ref(&first.deployment_id));
        }
        other => panic!("unexpected {other:?}"),
    }
    let forced = client
        .update_group(&shop("3.0"), GroupUpdateOptions::new().with_force(true))
        .await
        .unwrap();
    assert_ne!(forced.deployment_id, first.deployment_id);
    let history = sim.control().deployment_history();
    let first_record = history
        .iter()
        .find(|d| d.id == first.deployment_id)
        .unwrap();
    assert_eq!(first_record.outcome, DeploymentOutcome::Failed);
}

#[tokio::test]
async fn running_deployment_is_listed_with_its_apps_and_steps() {
    let (sim, client) = start().await;
    seed(&client, "1.0").await;
    sim.control().set_speed(0.0);
    let started = client
        .update_group(&shop("2.0"), GroupUpdateOptions::default())
        .await
        .unwrap();
    let deployments = client.deployments().await.unwrap();
    assert_eq!(deployments.len(), 1);
    let deployment = &deployments[0];
    assert_eq!(deployment.id, started.deployment_id);
    let mut apps = deployment.affected_apps.clone();
    apps.sort();
    assert_eq!(apps, ["/shop/web", "/shop/worker"]);
    assert!(!deployment.steps.is_empty());
    assert_eq!(deployment.total_steps, Some(deployment.steps.len() as u64));
}

#[tokio::test]
async fn dry_run_lists_steps_and_starts_nothing() {
    let (_sim, client) = start().await;
    seed(&client, "1.0").await;
    let steps = client
        .dry_run_group_update(&shop("2.0"), GroupUpdateOptions::default())
        .await
        .unwrap();
    let actions: Vec<&str> = steps
        .iter()
        .flat_map(|s| s.actions.iter().map(|a| a.action.as_str()))
        .collect();
    assert!(actions.contains(&"RestartApplication"), "{actions:?}");
    assert!(client.deployments().await.unwrap().is_empty());
    let app = client.app("/shop/web", &[]).await.unwrap();
    assert_eq!(app.image_tag(), Some("1.0"));
}

#[tokio::test]
async fn cancel_starts_a_rollback_that_restores_the_old_image() {
    let (sim, client) = start().await;
    seed(&client, "1.0").await;
    sim.control().set_speed(0.0);
    let started = client
        .update_group(&shop("2.0"), GroupUpdateOptions::default())
        .await
        .unwrap();
    let mut events = client.events(&deployment_events()).await.unwrap();
    let rollback = client
        .cancel_deployment(&started.deployment_id)
        .await
        .unwrap();
    assert_ne!(rollback.deployment_id, started.deployment_id);
    sim.control().set_speed(1.0);
    let seen = until_done(&mut events, &rollback.deployment_id).await;
    assert!(
        matches!(seen.last(), Some(Event::DeploymentSuccess(_))),
        "{seen:?}"
    );
    for id in ["/shop/web", "/shop/worker"] {
        assert_eq!(client.app(id, &[]).await.unwrap().image_tag(), Some("1.0"));
    }
}

#[tokio::test]
async fn force_cancel_stops_the_deployment_without_rollback() {
    let (sim, client) = start().await;
    seed(&client, "1.0").await;
    sim.control().set_speed(0.0);
    let started = client
        .update_group(&shop("2.0"), GroupUpdateOptions::default())
        .await
        .unwrap();
    client
        .force_cancel_deployment(&started.deployment_id)
        .await
        .unwrap();
    assert!(client.deployments().await.unwrap().is_empty());
    let record = sim
        .control()
        .deployment_history()
        .into_iter()
        .find(|d| d.id == started.deployment_id)
        .unwrap();
    assert_eq!(record.outcome, DeploymentOutcome::Cancelled);
}

#[tokio::test]
async fn cancel_of_unknown_deployment_is_not_found() {
    let (_sim, client) = start().await;
    let err = client
        .cancel_deployment("00000000-0000-0000-0000-000000000000")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn partial_app_update_changes_only_what_is_sent() {
    let (_sim, client) = start().await;
    seed(&client, "1.0").await;
    let mut events = client.events(&deployment_events()).await.unwrap();
    let scale = App {
        id: "/shop/web".into(),
        instances: Some(3),
        ..App::default()
    };
    let started = client
        .update_app(&scale, AppUpdateOptions::new().with_partial_update(true))
        .await
        .unwrap();
    until_done(&mut events, &started.deployment_id).await;
    let app = client.app("/shop/web", &[AppEmbed::Counts]).await.unwrap();
    assert_eq!(app.instances, Some(3));
    assert_eq!(app.image_tag(), Some("1.0"));
    assert_eq!(app.tasks_healthy, Some(3));
}

#[tokio::test]
async fn full_app_update_replaces_the_image() {
    let (_sim, client) = start().await;
    seed(&client, "1.0").await;
    let mut events = client.events(&deployment_events()).await.unwrap();
    let mut app = client.app("/shop/worker", &[]).await.unwrap();
    app.set_image_tag("1.1").unwrap();
    let started = client
        .update_app(&app, AppUpdateOptions::default())
        .await
        .unwrap();
    let seen = until_done(&mut events, &started.deployment_id).await;
    assert!(
        matches!(seen.last(), Some(Event::DeploymentSuccess(_))),
        "{seen:?}"
    );
    let app = client.app("/shop/worker", &[]).await.unwrap();
    assert_eq!(app.image_tag(), Some("1.1"));
    assert_eq!(app.extra["labels"]["team"], "shop");
}

#[tokio::test]
async fn app_update_on_a_locked_app_is_app_locked() {
    let (sim, client) = start().await;
    seed(&client, "1.0").await;
    sim.control().set_speed(0.0);
    let started = client
        .update_group(&shop("2.0"), GroupUpdateOptions::default())
        .await
        .unwrap();
    let app = App {
        id: "/shop/web".into(),
        instances: Some(1),
        ..App::default()
    };
    let options = AppUpdateOptions::new().with_partial_update(true);
    let err = client.update_app(&app, options).await.unwrap_err();
    assert!(
        matches!(&err, Error::AppLocked { deployment_ids, .. } if deployment_ids == std::slice::from_ref(&started.deployment_id)),
        "{err:?}"
    );
}

#[tokio::test]
async fn unknown_group_and_app_are_not_found() {
    let (_sim, client) = start().await;
    let err = client.group("/nope", &[]).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = client.app("/nope/web", &[]).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn invalid_app_id_in_a_group_is_invalid_with_details() {
    let (sim, client) = start().await;
    let mut group = shop("1.0");
    if let Some(apps) = group.apps.as_mut() {
        apps[0].id = "/shop/Web_Bad".into();
    }
    let err = client
        .update_group(&group, GroupUpdateOptions::default())
        .await
        .unwrap_err();
    match err {
        Error::Invalid {
            status, details, ..
        } => {
            assert_eq!(status, 422);
            assert!(!details.is_empty());
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(sim.control().deployment_history().is_empty());
}

#[tokio::test]
async fn reads_retry_while_there_is_no_leader_then_report_unavailable() {
    let (sim, client) = start().await;
    sim.control().set_leader_available(false);
    let err = client.info().await.unwrap_err();
    assert!(
        matches!(err, Error::Unavailable { status: 503, .. }),
        "{err:?}"
    );
    let attempts = sim
        .control()
        .requests()
        .iter()
        .filter(|r| r.path_and_query == "/v2/info")
        .count();
    assert_eq!(attempts, 1 + quick_retry().max_retries);
}

#[tokio::test]
async fn writes_are_retried_while_there_is_no_leader_then_report_unavailable() {
    let (sim, client) = start().await;
    sim.control().set_leader_available(false);
    let err = client
        .update_group(&shop("1.0"), GroupUpdateOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Unavailable { status: 503, .. }),
        "{err:?}"
    );
    let puts = sim
        .control()
        .requests()
        .iter()
        .filter(|r| r.method == "PUT")
        .count();
    assert_eq!(puts, 1 + quick_retry().max_retries);
}

#[tokio::test]
async fn group_update_goes_through_once_a_leader_is_elected() {
    let sim = MarathonSim::start(SimOptions::default().task_start(Duration::from_millis(20)))
        .await
        .unwrap();
    let client = Client::new(Config::new(&sim.url()).unwrap().with_retry(RetryPolicy {
        max_retries: 50,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }))
    .unwrap();
    let control = sim.control();
    control.set_leader_available(false);
    // The election ends once Marathon has refused the update at least once.
    let election = tokio::spawn(async move {
        loop {
            let refused = control
                .requests()
                .iter()
                .any(|r| r.method == "PUT" && r.status == 503);
            if refused {
                control.set_leader_available(true);
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    let deployment = client
        .update_group(&shop("1.0"), GroupUpdateOptions::default())
        .await
        .unwrap();
    election.await.unwrap();
    let puts: Vec<u16> = sim
        .control()
        .requests()
        .iter()
        .filter(|r| r.method == "PUT")
        .map(|r| r.status)
        .collect();
    assert!(puts.len() >= 2, "{puts:?}");
    assert!(puts[..puts.len() - 1].iter().all(|s| *s == 503), "{puts:?}");
    assert!(
        puts.last().is_some_and(|s| (200..300).contains(s)),
        "{puts:?}"
    );
    assert_eq!(sim.control().deployment_history().len(), 1);
    assert!(
        sim.control()
            .deployment_history()
            .iter()
            .any(|d| d.id == deployment.deployment_id)
    );
}

#[tokio::test]
async fn token_is_required_and_accepted_and_forbidden_is_told_apart() {
    let (sim, anonymous) = start_with(SimOptions::default().token("s3cret")).await;
    let err = anonymous.info().await.unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    let client = Client::new(Config::new(&sim.url()).unwrap().with_token("s3cret")).unwrap();
    client.info().await.unwrap();
    sim.control().set_forbidden(true);
    let err = client.info().await.unwrap_err();
    assert!(matches!(err, Error::Forbidden { .. }), "{err:?}");
    let stream_err = anonymous
        .events(&EventStreamOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(stream_err, Error::Unauthorized { .. }),
        "{stream_err:?}"
    );
}

#[tokio::test]
async fn basic_auth_is_accepted() {
    let (sim, _) = start_with(SimOptions::default().basic_auth("ops", "pw")).await;
    let client = Client::new(
        Config::new(&sim.url())
            .unwrap()
            .with_basic_auth("ops", "pw"),
    )
    .unwrap();
    client.info().await.unwrap();
}

#[tokio::test]
async fn dcos_path_prefix_reaches_the_same_api() {
    let (sim, _) = start().await;
    let client =
        Client::new(Config::new(&format!("{}/service/marathon", sim.url())).unwrap()).unwrap();
    client.ping().await.unwrap();
    seed(&client, "1.0").await;
    assert_eq!(
        client.group("/shop", &[]).await.unwrap().all_apps().len(),
        2
    );
    assert!(
        sim.control()
            .requests()
            .iter()
            .any(|r| r.path_and_query.starts_with("/service/marathon/v2/events?"))
    );
}

#[tokio::test]
async fn deleting_an_app_then_its_group_stops_them() {
    let (_sim, client) = start().await;
    seed(&client, "1.0").await;
    let mut events = client.events(&deployment_events()).await.unwrap();
    let app_gone = client.delete_app("/shop/worker", false).await.unwrap();
    until_done(&mut events, &app_gone.deployment_id).await;
    let err = client.app("/shop/worker", &[]).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");

    let group_gone = client.delete_group("/shop", false).await.unwrap();
    until_done(&mut events, &group_gone.deployment_id).await;
    let err = client.group("/shop", &[]).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}
