//! The event stream against marathon-sim: typed events, watchdog, and the
//! reconnecting stream surviving drops in the middle of a deployment.

use std::time::Duration;

use futures_util::StreamExt;
use marathon_client::{
    Error, Event, EventStreamOptions, GroupUpdateOptions, ReconnectPolicy, ReconnectingEventStream,
    StreamItem,
};

use crate::sim::{deployment_events, seed, shop, start, until_done};

fn quick_reconnects() -> ReconnectPolicy {
    ReconnectPolicy {
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(100),
        max_attempts: None,
    }
}

/// The next item, failing the test instead of hanging when none comes within 10 s.
async fn next(stream: &mut ReconnectingEventStream) -> StreamItem {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an item within 10 s")
        .expect("stream goes on")
        .expect("no error")
}

#[tokio::test]
async fn forced_update_fails_the_running_deployment_on_the_stream() {
    let (sim, client) = start().await;
    seed(&client, "1.0").await;
    sim.control().set_speed(0.0);
    let mut events = client.events(&deployment_events()).await.unwrap();
    let first = client
        .update_group(&shop("2.0"), GroupUpdateOptions::default())
        .await
        .unwrap();
    client
        .update_group(&shop("3.0"), GroupUpdateOptions::new().with_force(true))
        .await
        .unwrap();
    let seen = until_done(&mut events, &first.deployment_id).await;
    assert!(
        matches!(seen.last(), Some(Event::DeploymentFailed(_))),
        "{seen:?}"
    );
}

#[tokio::test]
async fn stalled_stream_trips_the_idle_watchdog() {
    let (sim, client) = start().await;
    let options = EventStreamOptions::new().with_idle_timeout(Duration::from_millis(300));
    let mut events = client.events(&options).await.unwrap();
    events.next().await.unwrap().unwrap();
    sim.control().stall_event_streams(true);
    let err = events.next().await.unwrap().unwrap_err();
    assert!(matches!(err, Error::StreamIdle { .. }), "{err:?}");
}

#[tokio::test]
async fn reconnecting_stream_survives_a_drop_mid_deployment_and_sees_its_success() {
    let (sim, client) = start().await;
    seed(&client, "1.0").await;
    let mut stream = client
        .reconnecting_events(deployment_events(), quick_reconnects())
        .await
        .unwrap();
    sim.control().set_speed(0.0);
    let started = client
        .update_group(&shop("2.0"), GroupUpdateOptions::default())
        .await
        .unwrap();
    let id = started.deployment_id.as_str();
    // The deployment has begun on the stream…
    loop {
        if let StreamItem::Event(event) = next(&mut stream).await
            && event.deployment_id() == Some(id)
        {
            break;
        }
    }
    // …when the connection drops.
    sim.control().drop_event_streams();
    loop {
        match next(&mut stream).await {
            StreamItem::Disconnected(_) => break,
            StreamItem::Event(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(matches!(next(&mut stream).await, StreamItem::Reconnected));
    // Re-sync over REST, as a consumer must: the deployment is still running.
    let running = client.deployments().await.unwrap();
    assert!(running.iter().any(|d| d.id == id), "{running:?}");

    sim.control().set_speed(1.0);
    loop {
        match next(&mut stream).await {
            StreamItem::Event(Event::DeploymentSuccess(done)) if done.id == id => break,
            StreamItem::Event(Event::DeploymentFailed(failed)) if failed.id == id => {
                panic!("deployment failed: {failed:?}")
            }
            StreamItem::Event(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    let app = client.app("/shop/web", &[]).await.unwrap();
    assert_eq!(app.image_tag(), Some("2.0"));
}

#[tokio::test]
async fn reconnecting_stream_waits_out_a_leader_election() {
    let (sim, client) = start().await;
    let mut stream = client
        .reconnecting_events(EventStreamOptions::new(), quick_reconnects())
        .await
        .unwrap();
    assert!(matches!(
        next(&mut stream).await,
        StreamItem::Event(Event::EventStreamAttached(_))
    ));
    sim.control().set_leader_available(false);
    assert!(matches!(
        next(&mut stream).await,
        StreamItem::Disconnected(_)
    ));
    // Reconnect attempts run while the stream is polled; a leader comes back once a few
    // of them have met the 503.
    let control = sim.control();
    let restore = tokio::spawn(async move {
        let failed_attempts = || {
            control
                .requests()
                .iter()
                .filter(|r| r.path_and_query.starts_with("/v2/events") && r.status == 503)
                .count()
        };
        while failed_attempts() < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        control.set_leader_available(true);
    });
    assert!(matches!(next(&mut stream).await, StreamItem::Reconnected));
    restore.await.unwrap();
    assert!(matches!(
        next(&mut stream).await,
        StreamItem::Event(Event::EventStreamAttached(_))
    ));
}

#[tokio::test]
async fn every_event_of_a_deployment_parses_into_its_typed_variant() {
    let (_sim, client) = start().await;
    let mut events = client.events(&EventStreamOptions::new()).await.unwrap();
    let started = client
        .update_group(&shop("1.0"), GroupUpdateOptions::default())
        .await
        .unwrap();
    let mut types = Vec::new();
    let collect = async {
        while let Some(event) = events.next().await {
            let event = event.expect("every event decodes");
            if let Event::Other { event_type, .. } = &event {
                // Marathon's API audit event and its 1.4+ instance and health-check events
                // (which marathon-sim now emits too) are the ones this crate leaves untyped.
                let untyped = [
                    "api_post_event",
                    "instance_changed_event",
                    "instance_health_changed_event",
                    "add_health_check_event",
                    "remove_health_check_event",
                    "app_terminated_event",
                    "unhealthy_instance_kill_event",
                ];
                assert!(untyped.contains(&event_type.as_str()), "{event:?}");
            }
            types.push(event.event_type().to_owned());
            if matches!(&event, Event::DeploymentSuccess(done) if done.id == started.deployment_id)
            {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), collect)
        .await
        .expect("deployment ended within 10 s");
    for expected in [
        "event_stream_attached",
        "deployment_info",
        "status_update_event",
        "health_status_changed_event",
        "deployment_step_success",
        "deployment_success",
    ] {
        assert!(
            types.iter().any(|t| t == expected),
            "no {expected} in {types:?}"
        );
    }
}

#[tokio::test]
async fn never_healthy_image_keeps_the_deployment_running_while_tasks_are_relaunched() {
    let (sim, client) = start().await;
    seed(&client, "1.0").await;
    sim.control()
        .set_rule("*:broken", marathon_sim::TaskOutcome::NeverHealthy);
    let options =
        EventStreamOptions::new().with_event_types([marathon_client::event_types::STATUS_UPDATE]);
    let mut events = client.events(&options).await.unwrap();
    sim.control().set_speed(0.0);
    let started = client
        .update_group(&shop("broken"), GroupUpdateOptions::default())
        .await
        .unwrap();
    // Far past the health checks' grace period (30 s) and failure allowance.
    sim.control().advance_clock(Duration::from_secs(600));
    let running = client.deployments().await.unwrap();
    assert!(
        running.iter().any(|d| d.id == started.deployment_id),
        "{running:?}"
    );
    // An unhealthy new task is killed and replaced, again and again.
    let mut statuses = Vec::new();
    let collect = async {
        while let Some(event) = events.next().await {
            if let Ok(Event::StatusUpdate(update)) = event {
                let status = update.task_status.unwrap_or_default();
                let killed = status == "TASK_KILLED" || status == "TASK_FAILED";
                statuses.push(status);
                if killed {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), collect)
        .await
        .expect("a task killed within 10 s");
    sim.control().advance_clock(Duration::from_secs(600));
    let running = client.deployments().await.unwrap();
    assert!(
        running.iter().any(|d| d.id == started.deployment_id),
        "{running:?}"
    );
    let web = client.app("/shop/web", &[]).await.unwrap();
    assert_eq!(web.image_tag(), Some("broken"));
    assert!(
        statuses.iter().filter(|s| *s == "TASK_STAGING").count() >= 2,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn reconnecting_stream_reports_keep_alives_and_none_once_stalled() {
    let (sim, client) = crate::sim::start_with(
        marathon_sim::SimOptions::default().keepalive(Duration::from_millis(30)),
    )
    .await;
    let mut stream = client
        .reconnecting_events(deployment_events(), quick_reconnects())
        .await
        .unwrap();
    // Nothing happens on the cluster: only Marathon's bare-CRLF keep-alives keep coming.
    for _ in 0..3 {
        assert!(matches!(next(&mut stream).await, StreamItem::KeepAlive));
    }
    sim.control().stall_event_streams(true);
    // Whatever was already on its way drains; then the stream is silent.
    let silent = async {
        while let Some(item) = stream.next().await {
            assert!(matches!(item, Ok(StreamItem::KeepAlive)), "{item:?}");
        }
    };
    assert!(
        tokio::time::timeout(Duration::from_millis(400), silent)
            .await
            .is_err(),
        "a stalled stream stays open and silent"
    );
    sim.control().stall_event_streams(false);
    assert!(matches!(next(&mut stream).await, StreamItem::KeepAlive));
}

#[tokio::test]
async fn single_connection_stream_yields_events_only_between_keep_alives() {
    let (_sim, client) = crate::sim::start_with(
        marathon_sim::SimOptions::default().keepalive(Duration::from_millis(20)),
    )
    .await;
    let mut events = client.events(&EventStreamOptions::new()).await.unwrap();
    assert!(matches!(
        events.next().await,
        Some(Ok(Event::EventStreamAttached(_)))
    ));
    crate::sim::seed(&client, "1.0").await;
    // Keep-alives arrive throughout, yet only events come out.
    let next = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event within 10 s");
    assert!(
        matches!(next, Some(Ok(ref e)) if !matches!(e, Event::EventStreamAttached(_))),
        "{next:?}"
    );
}
