//! Cooperative cancellation of `Lock::acquire_cancellable`: whatever the attempt was doing, it
//! leaves no session and no held key behind.

use std::time::Duration;

use consul_client::{AcquireMode, HeldLock, Lock, LockAttempt, LockOptions, QueryOptions};
use tokio_util::sync::CancellationToken;

use crate::util::{Env, wait_until};

async fn session_ids(env: &Env) -> Vec<String> {
    let (sessions, _) = env
        .client
        .session()
        .list(&QueryOptions::new())
        .await
        .expect("session list");
    sessions.into_iter().map(|s| s.id).collect()
}

async fn holder_session(env: &Env, key: &str) -> Option<String> {
    let (pair, _) = env
        .client
        .kv()
        .get(key, &QueryOptions::new())
        .await
        .expect("get");
    pair.and_then(|p| p.session)
}

async fn take(env: &Env, key: &str) -> HeldLock {
    let lock = Lock::new(
        env.client.clone(),
        LockOptions::new(key, b"holder".to_vec()),
    )
    .expect("lock");
    match lock.acquire(AcquireMode::TryOnce).await.expect("acquire") {
        LockAttempt::Acquired(held) => held,
        other => panic!("expected the lock, got {other:?}"),
    }
}

/// Starts a cancellable acquire of `key` in a task.
fn spawn_acquire(
    env: &Env,
    opts: LockOptions,
    mode: AcquireMode,
) -> (
    CancellationToken,
    tokio::task::JoinHandle<consul_client::Result<LockAttempt>>,
) {
    let lock = Lock::new(env.client.clone(), opts).expect("lock");
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    let task = tokio::spawn(async move { lock.acquire_cancellable(mode, &token).await });
    (cancel, task)
}

#[tokio::test]
async fn cancelled_while_waiting_for_a_held_lock_destroys_its_session_and_leaves_the_holder() {
    let env = Env::sim(Default::default()).await;
    let key = env.key("cancel-wait");
    let holder = take(&env, &key).await;
    let (cancel, task) = spawn_acquire(
        &env,
        LockOptions::new(key.clone(), b"waiter".to_vec()),
        AcquireMode::WaitUpTo(Duration::from_secs(300)),
    );
    // The waiter's blocking query is in flight (sent, not answered).
    let control = env.control();
    wait_until(|| {
        control
            .requests()
            .iter()
            .any(|r| r.method == "GET" && r.path_and_query.contains("index=") && r.status == 0)
    })
    .await;
    assert_eq!(session_ids(&env).await.len(), 2, "holder and waiter");
    cancel.cancel();
    let outcome = task.await.expect("task").expect("acquire");
    assert!(
        matches!(outcome, LockAttempt::Cancelled { cleaned_up: true }),
        "{outcome:?}"
    );
    assert_eq!(session_ids(&env).await, [holder.session_id().to_owned()]);
    assert_eq!(
        holder_session(&env, &key).await.as_deref(),
        Some(holder.session_id())
    );
    assert_eq!(holder.loss(), None);
    holder.release().await.expect("release");
}

#[tokio::test]
async fn cancelled_while_the_acquire_is_in_flight_leaves_the_key_free_and_no_session() {
    let env = Env::sim(Default::default()).await;
    let key = env.key("cancel-in-flight");
    let control = env.control();
    control.set_latency(Duration::from_millis(300));
    let (cancel, task) = spawn_acquire(
        &env,
        LockOptions::new(key.clone(), b"me".to_vec()),
        AcquireMode::TryOnce,
    );
    let acquiring = |r: &consul_sim::RecordedRequest| {
        r.method == "PUT" && r.path_and_query.contains("acquire=")
    };
    wait_until(|| control.requests().iter().any(acquiring)).await;
    cancel.cancel();
    let outcome = task.await.expect("task").expect("acquire");
    assert!(
        matches!(outcome, LockAttempt::Cancelled { cleaned_up: true }),
        "{outcome:?}"
    );
    // The abandoned acquire is dropped by the server with its connection, or applied before
    // the destroy (which then releases the key), or after it (refused: invalid session).
    control.set_latency(Duration::ZERO);
    assert_eq!(holder_session(&env, &key).await, None);
    assert!(session_ids(&env).await.is_empty());
}

#[tokio::test]
async fn cancelled_before_it_starts_sends_nothing() {
    let env = Env::sim(Default::default()).await;
    let lock = Lock::new(
        env.client.clone(),
        LockOptions::new(env.key("cancel-early"), b"me".to_vec()),
    )
    .expect("lock");
    let cancel = CancellationToken::new();
    cancel.cancel();
    let outcome = lock
        .acquire_cancellable(AcquireMode::TryOnce, &cancel)
        .await
        .expect("acquire");
    assert!(
        matches!(outcome, LockAttempt::Cancelled { .. }),
        "{outcome:?}"
    );
    assert_eq!(env.control().request_count(), 0);
}

#[tokio::test]
async fn cancelled_with_the_callers_session_releases_the_key_and_keeps_the_session() {
    let env = Env::sim(Default::default()).await;
    let key = env.key("cancel-callers-session");
    let control = env.control();
    let sid = env
        .client
        .session()
        .create(&consul_client::SessionRequest::new("caller's"))
        .await
        .expect("session");
    control.set_latency(Duration::from_millis(300));
    let (cancel, task) = spawn_acquire(
        &env,
        LockOptions::new(key.clone(), b"me".to_vec()).session(sid.clone()),
        AcquireMode::TryOnce,
    );
    let acquiring = |r: &consul_sim::RecordedRequest| {
        r.method == "PUT" && r.path_and_query.contains("acquire=")
    };
    wait_until(|| control.requests().iter().any(acquiring)).await;
    cancel.cancel();
    let outcome = task.await.expect("task").expect("acquire");
    assert!(
        matches!(outcome, LockAttempt::Cancelled { cleaned_up: true }),
        "{outcome:?}"
    );
    let released = control
        .requests()
        .iter()
        .any(|r| r.method == "PUT" && r.path_and_query.contains("release="));
    assert!(released, "{:?}", control.requests());
    control.set_latency(Duration::ZERO);
    assert_eq!(session_ids(&env).await, [sid]);
}
