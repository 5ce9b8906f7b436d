//! The audit log (append, list, prune, concurrent writers) and the notifiers (Consul user event,
//! Slack-compatible and generic JSON webhooks, failures as warnings without the URL).

mod common;

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use common::{Backend, deployer, settings, unique_target};
use consul_client::QueryOptions;
use duncan_core::audit::notify::{slack_text, user_event_payload};
use duncan_core::audit::{self, Event, EventKind, USER_EVENT_NAME, notify_all};
use duncan_core::github::DiffLink;
use duncan_core::names::AppEnv;
use duncan_core::settings::{NotifierConfig, WebhookUrl};
use time::OffsetDateTime;
use tokio::sync::mpsc;

fn event(target: &AppEnv, kind: EventKind, tag: &str) -> Event {
    Event::new(target, deployer("alice"), kind).with_tag(tag.parse().unwrap())
}

#[tokio::test]
async fn appended_events_are_listed_newest_first_with_a_limit() {
    let backend = Backend::start().await;
    let target = unique_target("stage");
    let mut seqs = Vec::new();
    for (i, kind) in [
        EventKind::DeployStarted,
        EventKind::DeploySucceeded,
        EventKind::Scale,
    ]
    .into_iter()
    .enumerate()
    {
        seqs.push(
            audit::append(
                &backend.client,
                &event(&target, kind, &format!("v{i}")),
                100,
            )
            .await
            .unwrap(),
        );
    }
    assert_eq!(seqs, [1, 2, 3]);
    let listed = audit::list(&backend.client, &target, Some(2))
        .await
        .unwrap();
    let kinds: Vec<(u64, EventKind)> = listed.iter().map(|e| (e.seq, e.event.kind)).collect();
    assert_eq!(
        kinds,
        [(3, EventKind::Scale), (2, EventKind::DeploySucceeded)]
    );
    let (raw, _) = backend
        .client
        .kv()
        .get(&target.event_key(1), &QueryOptions::consistent())
        .await
        .unwrap();
    let stored: serde_json::Value = serde_json::from_slice(&raw.unwrap().value).unwrap();
    assert_eq!(stored["kind"], "deploy_started");
    assert_eq!(stored["deployer"], "alice@testhost");
}

#[tokio::test]
async fn the_log_is_pruned_beyond_retention_and_numbers_keep_growing() {
    let backend = Backend::start().await;
    let target = unique_target("stage");
    for i in 0..5 {
        audit::append(
            &backend.client,
            &event(&target, EventKind::EnvUpdate, &format!("v{i}")),
            3,
        )
        .await
        .unwrap();
    }
    let seqs: Vec<u64> = audit::list(&backend.client, &target, None)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, [5, 4, 3]);
    let next = audit::append(&backend.client, &event(&target, EventKind::Scale, "v9"), 3)
        .await
        .unwrap();
    assert_eq!(next, 6);
    // Pruning to a smaller retention deletes the oldest; zero still keeps the newest.
    assert_eq!(audit::prune(&backend.client, &target, 0).await.unwrap(), 2);
    let seqs: Vec<u64> = audit::list(&backend.client, &target, None)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, [6]);
}

#[tokio::test]
async fn concurrent_appends_never_overwrite_each_other() {
    let backend = Backend::start().await;
    let target = unique_target("stage");
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let consul = backend.client.clone();
            let e = event(&target, EventKind::Scale, &format!("v{i}"));
            tokio::spawn(async move { audit::append(&consul, &e, 100).await })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap().unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=10).collect::<Vec<u64>>());
    assert_eq!(
        audit::list(&backend.client, &target, None)
            .await
            .unwrap()
            .len(),
        10
    );
}

#[test]
fn event_kinds_serialize_as_snake_case_strings() {
    let all = [
        (EventKind::DeployStarted, "deploy_started"),
        (EventKind::DeploySucceeded, "deploy_succeeded"),
        (EventKind::DeployFailed, "deploy_failed"),
        (EventKind::DeployRolledBack, "deploy_rolled_back"),
        (EventKind::Rollback, "rollback"),
        (EventKind::Scale, "scale"),
        (EventKind::EnvUpdate, "env_update"),
        (EventKind::SecretsUpdate, "secrets_update"),
        (
            EventKind::AutoscalingPolicyUpdate,
            "autoscaling_policy_update",
        ),
        (EventKind::LockForced, "lock_forced"),
    ];
    for (kind, text) in all {
        assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::json!(text));
        assert_eq!(
            serde_json::from_value::<EventKind>(serde_json::json!(text)).unwrap(),
            kind
        );
        assert_eq!(kind.to_string(), text);
    }
}

#[test]
fn event_json_round_trips_with_rfc3339_timestamp() {
    let target = AppEnv::parse("web", "stage").unwrap();
    let e = event(&target, EventKind::DeploySucceeded, "v2")
        .with_previous_tag(Some("v1".parse().unwrap()))
        .with_deployment_id("d-1")
        .at(OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap());
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "app": "web", "env": "stage", "deployer": "alice@testhost",
            "kind": "deploy_succeeded", "tag": "v2", "previous_tag": "v1",
            "deployment_id": "d-1", "timestamp": "2023-11-14T22:13:20Z"
        })
    );
    assert_eq!(serde_json::from_value::<Event>(json).unwrap(), e);
}

/// A local webhook receiver: `/ok` records bodies, `/fail` answers 500.
async fn webhook_server() -> (String, mpsc::UnboundedReceiver<(String, serde_json::Value)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    async fn ok(
        State(tx): State<mpsc::UnboundedSender<(String, serde_json::Value)>>,
        body: axum::extract::Json<serde_json::Value>,
    ) -> StatusCode {
        let _ = tx.send(("ok".into(), body.0));
        StatusCode::OK
    }
    async fn fail() -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
    let app = Router::new()
        .route("/hooks/T000/SECRET-ok", post(ok))
        .route("/hooks/T000/SECRET-fail", post(fail))
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

#[tokio::test]
async fn notifiers_send_slack_text_json_event_and_consul_user_event() {
    let backend = Backend::start().await;
    let (base, mut received) = webhook_server().await;
    let mut s = settings("alice");
    s.notifiers = vec![
        NotifierConfig::Slack {
            name: "slack".into(),
            url: WebhookUrl::new(format!("{base}/hooks/T000/SECRET-ok")),
        },
        NotifierConfig::JsonWebhook {
            name: "audit-hook".into(),
            url: WebhookUrl::new(format!("{base}/hooks/T000/SECRET-ok")),
        },
    ];
    let target = unique_target("production");
    let e = event(&target, EventKind::DeploySucceeded, "v7")
        .with_previous_tag(Some("v6".parse().unwrap()));
    let link = DiffLink::Compare {
        url: format!("https://github.com/acme/{}/compare/v6...v7", target.app),
    };
    let warnings = notify_all(&s, Some(&backend.client), &e, &link).await;
    assert!(warnings.is_empty(), "{warnings:?}");

    let mut bodies = [
        received.recv().await.unwrap().1,
        received.recv().await.unwrap().1,
    ];
    bodies.sort_by_key(|b| b.get("text").is_none());
    let text = bodies[0]["text"].as_str().unwrap();
    assert_eq!(text, slack_text(&e, &link));
    assert_eq!(
        text,
        format!(
            "alice@testhost deployed {} v7 to production (was v6)\nhttps://github.com/acme/{}/compare/v6...v7",
            target.app, target.app
        )
    );
    let json = &bodies[1];
    assert_eq!(json["kind"], "deploy_succeeded");
    assert_eq!(json["app"], target.app.as_str());
    assert_eq!(json["tag"], "v7");
    assert_eq!(json["diff_link"], link.to_string());

    let (events, _) = backend
        .client
        .event()
        .list(Some(USER_EVENT_NAME), &QueryOptions::new())
        .await
        .unwrap();
    let fired = events
        .iter()
        .find(|u| u.payload == user_event_payload(&e))
        .expect("the user event was fired");
    let payload: serde_json::Value = serde_json::from_slice(&fired.payload).unwrap();
    assert_eq!(payload["app"], target.app.as_str());
    assert_eq!(payload["kind"], "deploy_succeeded");
}

#[tokio::test]
async fn failing_notifiers_are_warnings_that_never_show_the_url() {
    let (base, _received) = webhook_server().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        format!("http://{addr}/hooks/T000/SECRET-closed")
    };
    let mut s = settings("alice");
    s.notify_timeout = Duration::from_secs(2);
    s.notifiers = vec![
        NotifierConfig::Slack {
            name: "slack".into(),
            url: WebhookUrl::new(format!("{base}/hooks/T000/SECRET-fail")),
        },
        NotifierConfig::JsonWebhook {
            name: "hook".into(),
            url: WebhookUrl::new(closed),
        },
        NotifierConfig::JsonWebhook {
            name: "typo".into(),
            url: WebhookUrl::new("not a url SECRET"),
        },
    ];
    let target = AppEnv::parse("web", "stage").unwrap();
    let warnings = notify_all(
        &s,
        None,
        &event(&target, EventKind::Rollback, "v1"),
        &DiffLink::NoChanges,
    )
    .await;
    let names: Vec<&str> = warnings.iter().map(|w| w.notifier.as_str()).collect();
    assert_eq!(names, ["slack", "hook", "typo"]);
    assert_eq!(
        warnings[0].to_string(),
        "notifier slack failed: the webhook answered HTTP 500 Internal Server Error"
    );
    assert!(
        warnings[1].reason.starts_with("could not connect"),
        "{}",
        warnings[1]
    );
    assert_eq!(
        warnings[2].reason,
        "the configured webhook URL is not a valid URL"
    );
    for w in &warnings {
        let shown = format!("{w} {w:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(!shown.contains("127.0.0.1"), "{shown}");
    }
}

#[test]
fn user_event_payload_stays_small_enough_for_consul() {
    let target = AppEnv::parse(&"a".repeat(63), &"e".repeat(63)).unwrap();
    let long_tag = "t".repeat(128);
    let e = Event::new(
        &target,
        "someone-with-a-long-name@a-very-long-host-name.example.com"
            .parse()
            .unwrap(),
        EventKind::DeploySucceeded,
    )
    .with_tag(long_tag.parse().unwrap())
    .with_previous_tag(Some(long_tag.parse().unwrap()))
    .with_message("m".repeat(1000));
    let payload = user_event_payload(&e);
    assert!(payload.len() <= 400, "{} bytes", payload.len());
    let json: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(json["tag"], long_tag.as_str());
    assert!(json.get("message").is_none());
}

#[tokio::test]
async fn a_limited_listing_reads_only_the_newest_entries() {
    let backend = Backend::sim(consul_sim::SimOptions::default()).await;
    let target = AppEnv::parse("web", "stage").unwrap();
    for i in 0..5 {
        audit::append(
            &backend.client,
            &event(&target, EventKind::Scale, &format!("v{i}")),
            100,
        )
        .await
        .unwrap();
    }
    let control = backend.control();
    control.clear_requests();
    let newest = audit::list(&backend.client, &target, Some(2))
        .await
        .unwrap();
    let tags: Vec<String> = newest
        .iter()
        .map(|e| e.event.tag.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(tags, ["v4", "v3"]);
    let requests = control.requests();
    assert!(
        requests
            .iter()
            .all(|r| !r.path_and_query.contains("recurse")),
        "the whole log was read: {requests:?}"
    );
    // Without a limit, everything is read.
    assert_eq!(
        audit::list(&backend.client, &target, None)
            .await
            .unwrap()
            .len(),
        5
    );
}

/// Appends a scale event of `tag` to `target`'s log; returns its number.
async fn append_scale(backend: &Backend, target: &AppEnv, tag: &str, retention: usize) -> u64 {
    audit::append(
        &backend.client,
        &event(target, EventKind::Scale, tag),
        retention,
    )
    .await
    .unwrap()
}

/// Writes audit entry `seq` of `target` by hand (as a duncan without counters left them).
async fn write_entry(backend: &Backend, target: &AppEnv, seq: u64, tag: &str) {
    let json = serde_json::to_vec(&event(target, EventKind::Scale, tag)).unwrap();
    backend
        .client
        .kv()
        .put(
            &target.event_key(seq),
            &json,
            &consul_client::PutOptions::new(),
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn appends_continue_after_entries_left_without_a_counter() {
    let backend = Backend::sim(Default::default()).await;
    let target = unique_target("stage");
    for seq in 1..=5 {
        write_entry(&backend, &target, seq, "old").await;
    }
    let seq = append_scale(&backend, &target, "v6", 100).await;
    assert_eq!(seq, 6);
    let (counter, _) = backend
        .client
        .kv()
        .get(&target.events_counter_key(), &QueryOptions::new())
        .await
        .unwrap();
    assert_eq!(counter.unwrap().value_str(), Some("6"));
}

#[tokio::test]
async fn an_append_whose_counter_is_behind_takes_the_next_free_number_without_overwriting() {
    let backend = Backend::sim(Default::default()).await;
    let target = unique_target("stage");
    append_scale(&backend, &target, "v1", 100).await;
    // Entries 2 and 3 written behind the counter's back.
    write_entry(&backend, &target, 2, "by-hand-2").await;
    write_entry(&backend, &target, 3, "by-hand-3").await;
    let seq = append_scale(&backend, &target, "v4", 100).await;
    assert_eq!(seq, 4);
    let tags: Vec<(u64, String)> = audit::list(&backend.client, &target, None)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            (
                e.seq,
                e.event.tag.map(|t| t.to_string()).unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        tags,
        [
            (4, "v4".to_owned()),
            (3, "by-hand-3".to_owned()),
            (2, "by-hand-2".to_owned()),
            (1, "v1".to_owned()),
        ]
    );
}

#[tokio::test]
async fn appends_with_a_counter_list_nothing_and_delete_the_entry_they_push_out() {
    let backend = Backend::sim(Default::default()).await;
    let target = unique_target("stage");
    for i in 1..=3 {
        append_scale(&backend, &target, &format!("v{i}"), 3).await;
    }
    backend.control().clear_requests();
    let seq = append_scale(&backend, &target, "v4", 3).await;
    assert_eq!(seq, 4);
    let sent: Vec<String> = backend
        .control()
        .requests()
        .into_iter()
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect();
    // One read of the counter, one transaction: no listing, no prune of its own.
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert!(!sent.iter().any(|r| r.contains("keys")), "{sent:#?}");
    let seqs: Vec<u64> = audit::list(&backend.client, &target, None)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, [4, 3, 2]);
}
