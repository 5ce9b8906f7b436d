//! Holds (deploy freezes), the Go tool's lock during a migration, and reading the audit log.

mod common;

use std::time::Duration;

use common::{Backend, deployer, settings, unique_target};
use consul_client::{DeleteOptions, PutOptions, QueryOptions};
use duncan_core::audit::{self, Event, EventKind};
use duncan_core::hold::{HoldError, HoldState, read_hold, release_hold, set_hold};
use duncan_core::lock::{DeployLock, HolderInfo, LockError, LockRequest};
use duncan_core::names::AppEnv;
use time::OffsetDateTime;

/// A Go-tool lock value stamped `ago` before now.
fn go_lock_value(user: &str, ago: time::Duration) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]-[hour]:[minute]:[second]");
    let at = (OffsetDateTime::now_utc() - ago).format(format).unwrap();
    format!("{user}-{at}")
}

fn request(target: &AppEnv, user: &str) -> LockRequest {
    LockRequest::new(target.clone(), &settings(user), None)
}

#[tokio::test]
async fn a_hold_is_stored_as_json_under_the_app_env_and_audited() {
    let backend = Backend::start().await;
    let target = unique_target("stage");
    let hold = set_hold(
        &backend.client,
        &target,
        "incident 4711",
        &deployer("alice"),
        100,
    )
    .await
    .unwrap();
    let (pair, _) = backend
        .client
        .kv()
        .get(&target.hold_key(), &QueryOptions::consistent())
        .await
        .unwrap();
    let pair = pair.expect("the hold key exists");
    assert_eq!(pair.session, None, "a hold is not a session lock");
    let json: serde_json::Value = serde_json::from_slice(&pair.value).unwrap();
    assert_eq!(json["reason"], "incident 4711");
    assert_eq!(json["by"], "alice@testhost");
    assert!(json["since"].as_str().unwrap().ends_with('Z'), "{json}");
    assert_eq!(
        read_hold(&backend.client, &target).await.unwrap(),
        Some(HoldState::Hold(hold))
    );
    let events = audit::list(&backend.client, &target, None).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.kind, EventKind::HoldSet);
    assert_eq!(events[0].event.message.as_deref(), Some("incident 4711"));
}

#[tokio::test]
async fn a_second_hold_is_refused_naming_the_first_and_leaves_it() {
    let backend = Backend::start().await;
    let target = unique_target("stage");
    set_hold(
        &backend.client,
        &target,
        "incident 1",
        &deployer("alice"),
        100,
    )
    .await
    .unwrap();
    let error = set_hold(
        &backend.client,
        &target,
        "incident 2",
        &deployer("bob"),
        100,
    )
    .await
    .unwrap_err();
    let HoldError::AlreadyHeld { state, .. } = error else {
        panic!("expected AlreadyHeld, got {error:?}");
    };
    assert!(
        state
            .to_string()
            .contains("\"incident 1\", set by alice@testhost")
    );
    let Some(HoldState::Hold(kept)) = read_hold(&backend.client, &target).await.unwrap() else {
        panic!("the first hold is kept");
    };
    assert_eq!(kept.reason, "incident 1");
    // Only the first hold was audited.
    assert_eq!(
        audit::list(&backend.client, &target, None)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn releasing_a_hold_deletes_it_and_audits_who_ended_it() {
    let backend = Backend::start().await;
    let target = unique_target("stage");
    set_hold(&backend.client, &target, "freeze", &deployer("alice"), 100)
        .await
        .unwrap();
    let released = release_hold(&backend.client, &target, &deployer("bob"), 100)
        .await
        .unwrap();
    assert!(matches!(released, Some(HoldState::Hold(h)) if h.reason == "freeze"));
    assert_eq!(read_hold(&backend.client, &target).await.unwrap(), None);
    let events = audit::list(&backend.client, &target, None).await.unwrap();
    let kinds: Vec<EventKind> = events.iter().map(|e| e.event.kind).collect();
    assert_eq!(kinds, [EventKind::HoldReleased, EventKind::HoldSet]);
    assert_eq!(events[0].event.deployer.to_string(), "bob@testhost");
    // Nothing left to release: nothing written.
    assert_eq!(
        release_hold(&backend.client, &target, &deployer("bob"), 100)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        audit::list(&backend.client, &target, None)
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn a_fresh_go_tool_lock_is_honoured_as_held() {
    let backend = Backend::start().await;
    let target = unique_target("stage");
    let value = go_lock_value("root", time::Duration::minutes(3));
    backend
        .client
        .kv()
        .put(&target.lock_key(), value.as_bytes(), &PutOptions::new())
        .await
        .unwrap();
    let error = DeployLock::acquire(&backend.client, &request(&target, "alice"))
        .await
        .unwrap_err();
    let LockError::Held(held) = error else {
        panic!("expected Held, got {error:?}");
    };
    assert!(matches!(&held.holder, HolderInfo::GoTool { user, .. } if user == "root"));
    assert!(
        error_text(&held).starts_with("the Go tool: root since "),
        "{}",
        error_text(&held)
    );
    // The Go tool's key is untouched.
    let (pair, _) = backend
        .client
        .kv()
        .get(&target.lock_key(), &QueryOptions::consistent())
        .await
        .unwrap();
    assert_eq!(pair.unwrap().value, value.as_bytes());
}

fn error_text(held: &duncan_core::lock::LockHeld) -> String {
    held.to_string()
}

#[tokio::test]
async fn a_wait_for_a_go_tool_lock_ends_when_the_go_tool_deletes_it() {
    let backend = Backend::start().await;
    let target = unique_target("stage");
    let value = go_lock_value("root", time::Duration::seconds(10));
    backend
        .client
        .kv()
        .put(&target.lock_key(), value.as_bytes(), &PutOptions::new())
        .await
        .unwrap();
    let (waiting_tx, waiting_rx) = tokio::sync::oneshot::channel::<String>();
    let client = backend.client.clone();
    let key = target.lock_key();
    // The Go tool finishes once duncan says it waits.
    let go_tool = tokio::spawn(async move {
        let holder = waiting_rx.await.unwrap();
        client
            .kv()
            .delete(&key, &DeleteOptions::new())
            .await
            .unwrap();
        holder
    });
    let waiting = request(&target, "alice").wait(Some(Duration::from_secs(30)));
    let mut waiting_tx = Some(waiting_tx);
    let lock = DeployLock::acquire_reporting(&backend.client, &waiting, |held| {
        if let Some(tx) = waiting_tx.take() {
            let _ = tx.send(held.to_string());
        }
    })
    .await
    .expect("the lock is taken once the Go tool deleted its key");
    assert!(go_tool.await.unwrap().starts_with("the Go tool: root"));
    assert!(lock.replaced_go_lock().is_none());
    lock.release().await.unwrap();
}

#[tokio::test]
async fn the_log_reads_newest_first_and_only_since_when_asked() {
    let backend = Backend::start().await;
    let target = unique_target("stage");
    let now = OffsetDateTime::now_utc();
    for (hours_ago, kind) in [
        (48, EventKind::DeploySucceeded),
        (2, EventKind::Scale),
        (1, EventKind::HoldSet),
    ] {
        let event =
            Event::new(&target, deployer("alice"), kind).at(now - time::Duration::hours(hours_ago));
        audit::append(&backend.client, &event, 100).await.unwrap();
    }
    let all = audit::log::read_log(&backend.client, &target, None)
        .await
        .unwrap();
    let kinds: Vec<EventKind> = all.iter().map(|e| e.event.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::HoldSet,
            EventKind::Scale,
            EventKind::DeploySucceeded
        ]
    );
    let recent = audit::log::read_log(
        &backend.client,
        &target,
        Some(now - time::Duration::hours(24)),
    )
    .await
    .unwrap();
    assert_eq!(recent.len(), 2);
}
