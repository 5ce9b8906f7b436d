//! The deploy lock: holder record, contention, waiting, release, expiry, loss, forced release.

mod common;

use std::time::Duration;

use common::{Backend, deployer, settings, unique_target};
use consul_client::{PutOptions, QueryOptions, SessionBehavior, SessionRequest};
use consul_sim::SimOptions;
use duncan_core::audit::{self, EventKind};
use duncan_core::lock::{
    DeployLock, HolderInfo, LockError, LockHeld, LockHolder, LockRequest, LockStatus,
    force_release, lock_status,
};
use duncan_core::names::{AppEnv, Tag};

fn request(target: &AppEnv, user: &str, tag: &str) -> LockRequest {
    LockRequest::new(
        target.clone(),
        &settings(user),
        Some(tag.parse::<Tag>().unwrap()),
    )
}

fn held(err: LockError) -> LockHeld {
    match err {
        LockError::Held(held) => *held,
        other => panic!("expected the lock to be held, got {other:?}"),
    }
}

#[tokio::test]
async fn acquired_lock_records_holder_json_and_a_named_ttl_session() {
    let backend = Backend::start().await;
    let target = unique_target("stage");
    let lock = DeployLock::acquire(&backend.client, &request(&target, "alice", "v2"))
        .await
        .unwrap();
    let (pair, _) = backend
        .client
        .kv()
        .get(&target.lock_key(), &QueryOptions::consistent())
        .await
        .unwrap();
    let pair = pair.expect("the lock key exists");
    assert_eq!(pair.session.as_deref(), Some(lock.session_id()));
    let holder: LockHolder = serde_json::from_slice(&pair.value).unwrap();
    assert_eq!(
        (holder.user.as_str(), holder.host.as_str()),
        ("alice", "testhost")
    );
    assert_eq!(holder.tag, Some("v2".parse().unwrap()));
    assert_eq!(holder.pid, std::process::id());
    assert_eq!(holder.duncan_version, "0.1.0-test");
    let json: serde_json::Value = serde_json::from_slice(&pair.value).unwrap();
    let mut fields: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        ["duncan_version", "host", "pid", "started_at", "tag", "user"]
    );

    let (session, _) = backend
        .client
        .session()
        .info(lock.session_id(), &QueryOptions::consistent())
        .await
        .unwrap();
    let session = session.expect("the session exists");
    assert_eq!(
        session.name,
        format!("duncan deploy {target} by alice@testhost")
    );
    assert_eq!(session.ttl, Some(Duration::from_secs(30)));
    assert_eq!(session.lock_delay, Duration::from_secs(15));
    assert_eq!(session.behavior, SessionBehavior::Release);
    lock.release().await.unwrap();
}

#[tokio::test]
async fn lock_held_by_other_reports_holder_tag_and_age() {
    let backend = Backend::start().await;
    let target = unique_target("production");
    let alice = DeployLock::acquire(&backend.client, &request(&target, "alice", "v2"))
        .await
        .unwrap();
    let err = DeployLock::acquire(&backend.client, &request(&target, "bob", "v3"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "the deploy lock of {target} is held by alice@testhost (pid "
        )),
        "{text}"
    );
    assert!(text.contains(" deploying v2 since "), "{text}");
    assert!(text.ends_with("s ago)"), "{text}");
    let held = held(err);
    assert_eq!(held.session.as_deref(), Some(alice.session_id()));
    assert!(held.age.is_some());
    match &held.holder {
        HolderInfo::Duncan(h) => assert_eq!(h.tag, Some("v2".parse().unwrap())),
        other => panic!("unexpected holder {other:?}"),
    }
    // The failed attempt left no session behind: only alice's exists.
    let (sessions, _) = backend
        .client
        .session()
        .list(&QueryOptions::new())
        .await
        .unwrap();
    let ours: Vec<_> = sessions
        .iter()
        .filter(|s| s.name.contains(&target.to_string()))
        .collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    match lock_status(&backend.client, &target).await.unwrap() {
        LockStatus::Held(h) => assert_eq!(h.session.as_deref(), Some(alice.session_id())),
        other => panic!("expected held, got {other:?}"),
    }
    alice.release().await.unwrap();
    assert_eq!(
        lock_status(&backend.client, &target).await.unwrap(),
        LockStatus::Free
    );
}

#[tokio::test]
async fn waiting_deployer_gets_the_lock_when_the_holder_releases() {
    let backend = Backend::start().await;
    let target = unique_target("stage");
    let alice = DeployLock::acquire(&backend.client, &request(&target, "alice", "v2"))
        .await
        .unwrap();
    let client = backend.client.clone();
    let bob_request = request(&target, "bob", "v3").wait(Some(Duration::from_secs(20)));
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
    let bob = tokio::spawn(async move {
        DeployLock::acquire_reporting(&client, &bob_request, move |holder| {
            let _ = seen_tx.send(holder.to_string());
        })
        .await
    });
    // Bob reports whom he waits for before waiting; then Alice lets go.
    let waiting_for = seen_rx.await.unwrap();
    assert!(waiting_for.starts_with("alice@testhost"), "{waiting_for}");
    alice.release().await.unwrap();
    let bob = bob
        .await
        .unwrap()
        .expect("bob gets the lock once alice releases");
    assert_eq!(bob.holder().user, "bob");
    match lock_status(&backend.client, &target).await.unwrap() {
        LockStatus::Held(h) => assert_eq!(h.session.as_deref(), Some(bob.session_id())),
        other => panic!("expected held by bob, got {other:?}"),
    }
    bob.release().await.unwrap();
}

#[tokio::test]
async fn waiting_gives_up_after_the_bound_and_names_the_holder() {
    let backend = Backend::start().await;
    let target = unique_target("stage");
    let alice = DeployLock::acquire(&backend.client, &request(&target, "alice", "v2"))
        .await
        .unwrap();
    let bob_request = request(&target, "bob", "v3").wait(Some(Duration::from_millis(300)));
    let err = DeployLock::acquire(&backend.client, &bob_request)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("held by alice@testhost"), "{err}");
    alice.release().await.unwrap();
}

#[tokio::test]
async fn release_destroys_the_session_and_frees_the_key() {
    let backend = Backend::start().await;
    let target = unique_target("stage");
    let lock = DeployLock::acquire(&backend.client, &request(&target, "alice", "v2"))
        .await
        .unwrap();
    let session = lock.session_id().to_owned();
    lock.release().await.unwrap();
    let (info, _) = backend
        .client
        .session()
        .info(&session, &QueryOptions::consistent())
        .await
        .unwrap();
    assert_eq!(info, None, "the session must be destroyed");
    assert_eq!(
        lock_status(&backend.client, &target).await.unwrap(),
        LockStatus::Free
    );
    // Released (not lost): the next deployer gets it at once, with no lock-delay.
    let next = DeployLock::acquire(&backend.client, &request(&target, "bob", "v3"))
        .await
        .unwrap();
    next.release().await.unwrap();
}

#[tokio::test]
async fn dropping_a_held_lock_releases_it_in_the_background() {
    let backend = Backend::start().await;
    let target = unique_target("stage");
    let lock = DeployLock::acquire(&backend.client, &request(&target, "alice", "v2"))
        .await
        .unwrap();
    drop(lock);
    // A blocking wait sees the background release without polling.
    let bob_request = request(&target, "bob", "v3").wait(Some(Duration::from_secs(10)));
    let bob = DeployLock::acquire(&backend.client, &bob_request)
        .await
        .unwrap();
    bob.release().await.unwrap();
}

#[tokio::test]
async fn crashed_holder_lock_expires_after_ttl_then_lock_delay() {
    let backend = Backend::sim(SimOptions::default()).await;
    let control = backend.control();
    let target = AppEnv::parse("web", "stage").unwrap();
    // A holder that crashed: its session is never renewed or destroyed.
    let crashed = backend
        .client
        .session()
        .create(
            &SessionRequest::new("duncan deploy web/stage by carol@gone")
                .ttl(Duration::from_secs(30))
                .lock_delay(Duration::from_secs(15))
                .behavior(SessionBehavior::Release),
        )
        .await
        .unwrap();
    let holder = br#"{"user":"carol","host":"gone","pid":7,"tag":"v1","started_at":"2026-01-01T00:00:00Z","duncan_version":"0.1.0"}"#;
    assert!(
        backend
            .client
            .kv()
            .put(
                &target.lock_key(),
                holder,
                &PutOptions::new().acquire(&crashed)
            )
            .await
            .unwrap()
    );
    let err = DeployLock::acquire(&backend.client, &request(&target, "bob", "v2"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("carol@gone (pid 7) deploying v1"),
        "{err}"
    );

    // Consul expires a TTL session 2×TTL after its last renewal; its lock-delay then runs.
    control.advance_clock(Duration::from_secs(61));
    let during_delay = held(
        DeployLock::acquire(&backend.client, &request(&target, "bob", "v2"))
            .await
            .unwrap_err(),
    );
    assert_eq!(during_delay.holder, HolderInfo::LockDelay);

    control.advance_clock(Duration::from_secs(16));
    let bob = DeployLock::acquire(&backend.client, &request(&target, "bob", "v2"))
        .await
        .expect("the lock is free after TTL expiry and lock-delay");
    bob.release().await.unwrap();
}

#[tokio::test]
async fn loss_is_reported_when_the_session_is_invalidated() {
    let backend = Backend::sim(SimOptions::default()).await;
    let target = AppEnv::parse("web", "stage").unwrap();
    let mut lock = DeployLock::acquire(&backend.client, &request(&target, "alice", "v2"))
        .await
        .unwrap();
    let mut watcher = lock.subscribe();
    assert_eq!(lock.loss(), None);
    assert!(backend.control().invalidate_session(lock.session_id()));
    let lost = tokio::time::timeout(Duration::from_secs(10), lock.lost())
        .await
        .expect("the loss is reported promptly");
    assert!(lost.to_string().starts_with("lock lost"), "{lost}");
    watcher.wait_for(Option::is_some).await.unwrap();
    assert!(lock.loss().is_some());
    // Releasing a lost lock is still fine.
    lock.release().await.unwrap();
}

#[tokio::test]
async fn force_release_frees_the_lock_and_records_who_forced_it() {
    let backend = Backend::start().await;
    let target = unique_target("production");
    let mut alice = DeployLock::acquire(&backend.client, &request(&target, "alice", "v2"))
        .await
        .unwrap();
    let alice_session = alice.session_id().to_owned();
    let was = force_release(&backend.client, &target, &deployer("oscar"), 100)
        .await
        .unwrap()
        .expect("the lock was held");
    assert_eq!(was.session.as_deref(), Some(alice_session.as_str()));
    assert_eq!(
        lock_status(&backend.client, &target).await.unwrap(),
        LockStatus::Free
    );
    // Alice's deploy notices, and her session is gone, so fencing will refuse her writes.
    tokio::time::timeout(Duration::from_secs(10), alice.lost())
        .await
        .unwrap();
    let (info, _) = backend
        .client
        .session()
        .info(&alice_session, &QueryOptions::consistent())
        .await
        .unwrap();
    assert_eq!(info, None);
    // Forced free by release, not expiry: no lock-delay for the next deployer.
    let bob = DeployLock::acquire(&backend.client, &request(&target, "bob", "v3"))
        .await
        .unwrap();
    bob.release().await.unwrap();

    let events = audit::list(&backend.client, &target, None).await.unwrap();
    assert_eq!(events.len(), 1);
    let event = &events[0].event;
    assert_eq!(event.kind, EventKind::LockForced);
    assert_eq!(event.deployer.to_string(), "oscar@testhost");
    assert_eq!(event.tag, Some("v2".parse().unwrap()));
    assert!(
        event.message.as_deref().unwrap().contains("alice@testhost"),
        "{event:?}"
    );

    // Nothing to force on a free lock: no event.
    assert!(
        force_release(&backend.client, &target, &deployer("oscar"), 100)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        audit::list(&backend.client, &target, None)
            .await
            .unwrap()
            .len(),
        1
    );
    alice.release().await.unwrap();
}

#[tokio::test]
async fn a_go_tool_lock_older_than_the_limit_is_probably_stale_and_taken_over() {
    let backend = Backend::start().await;
    let target = unique_target("stage");
    // The Go tool wrote `user-YYYY-MM-DD-HH:MM:SS` with no session, and left it after a failure.
    backend
        .client
        .kv()
        .put(
            &target.lock_key(),
            b"carol-2017-03-04-05:06:07",
            &PutOptions::new(),
        )
        .await
        .unwrap();
    let LockStatus::Held(shown) = lock_status(&backend.client, &target).await.unwrap() else {
        panic!("a Go-tool lock is shown by lock status");
    };
    assert!(shown.is_probably_stale(Duration::from_secs(3600)));
    assert!(
        shown
            .to_string()
            .starts_with("the Go tool: carol since 2017-03-04T05:06:07Z"),
        "{shown}"
    );
    let lock = DeployLock::acquire(&backend.client, &request(&target, "alice", "v2"))
        .await
        .expect("a stale Go-tool key does not block a deploy");
    assert!(
        matches!(
            lock.replaced_go_lock().map(|h| &h.holder),
            Some(HolderInfo::GoTool { user, .. }) if user == "carol"
        ),
        "the takeover is reported"
    );
    lock.release().await.unwrap();
}
