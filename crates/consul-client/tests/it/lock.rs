//! Locks: contention, lock-delay, waiting with blocking queries, loss, release.

use std::time::Duration;

use consul_client::{
    AcquireMode, Error, GO_API_LOCK_FLAGS, HeldLock, Lock, LockAttempt, LockLost, LockOptions,
    PutOptions, QueryOptions, SessionRequest, TxnOp,
};
use futures_util::future::join_all;

use crate::util::{Env, wait_until};

fn acquired(attempt: LockAttempt) -> HeldLock {
    match attempt {
        LockAttempt::Acquired(held) => held,
        other => panic!("expected the lock, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_sessions_racing_acquire_exactly_one_wins() {
    let env = Env::any().await;
    let key = env.key("contended");
    let mut sessions = Vec::new();
    for i in 0..20 {
        let req = SessionRequest::new(format!("racer {i}"));
        sessions.push(env.client.session().create(&req).await.expect("session"));
    }
    let attempts = sessions.iter().enumerate().map(|(i, sid)| {
        let client = env.client.clone();
        let key = key.clone();
        let sid = sid.clone();
        tokio::spawn(async move {
            let opts = PutOptions::new().acquire(sid);
            client
                .kv()
                .put(&key, format!("racer {i}").as_bytes(), &opts)
                .await
        })
    });
    let results: Vec<bool> = join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.expect("task").expect("acquire answered"))
        .collect();
    assert_eq!(results.iter().filter(|won| **won).count(), 1, "{results:?}");
    let winner = results.iter().position(|won| *won).expect("a winner");
    let (pair, _) = env
        .client
        .kv()
        .get(&key, &QueryOptions::new())
        .await
        .expect("get");
    let pair = pair.expect("exists");
    assert_eq!(pair.session.as_deref(), Some(sessions[winner].as_str()));
    assert_eq!(pair.value_str(), Some(format!("racer {winner}").as_str()));
    assert_eq!(pair.lock_index, 1);
    for sid in &sessions {
        env.client.session().destroy(sid).await.expect("destroy");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_locks_trying_once_give_one_holder_and_nineteen_busy() {
    let env = Env::any().await;
    let key = env.key("job-lock");
    let session_name = format!("racer of {key}");
    let attempts = (0..20).map(|i| {
        let lock = Lock::new(
            env.client.clone(),
            LockOptions::new(key.clone(), format!("worker {i}")).session_name(session_name.clone()),
        )
        .expect("lock");
        tokio::spawn(async move { lock.acquire(AcquireMode::TryOnce).await })
    });
    let mut held = Vec::new();
    let mut busy = Vec::new();
    for result in join_all(attempts).await {
        match result.expect("task").expect("attempt") {
            LockAttempt::Acquired(h) => held.push(h),
            LockAttempt::Busy { holder } => busy.push(holder),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((held.len(), busy.len()), (1, 19));
    let winner = held.pop().expect("one holder");
    let (pair, _) = env
        .client
        .kv()
        .get(&key, &QueryOptions::new())
        .await
        .expect("get");
    let winner_value = pair.expect("exists").value;
    for holder in busy {
        // Busy attempts that saw the key name the winner (one may have seen the key before
        // the winner's write landed).
        if let Some(h) = holder.filter(|h| h.session.is_some()) {
            assert_eq!(h.session.as_deref(), Some(winner.session_id()));
            assert_eq!(h.value, winner_value);
        }
    }
    winner.release().await.expect("release");
    // Losers destroyed the sessions they created, and the release destroyed the winner's.
    let (sessions, _) = env
        .client
        .session()
        .list(&QueryOptions::new())
        .await
        .expect("list");
    assert!(
        sessions.iter().all(|s| s.name != session_name),
        "{sessions:?}"
    );
}

#[tokio::test]
async fn expired_ttl_session_frees_its_lock_only_after_lock_delay() {
    let env = Env::sim(Default::default()).await;
    let key = env.key("lock");
    let a = env
        .client
        .session()
        .create(
            &SessionRequest::new("crashed holder")
                .ttl(Duration::from_secs(10))
                .lock_delay(Duration::from_secs(15)),
        )
        .await
        .expect("session");
    let put = PutOptions::new()
        .acquire(a.clone())
        .flags(GO_API_LOCK_FLAGS);
    assert!(
        env.client
            .kv()
            .put(&key, b"a", &put)
            .await
            .expect("acquire")
    );

    // The holder stops renewing; after 2×TTL on Consul's clock its session expires.
    env.control().advance_clock(Duration::from_secs(21));
    let (pair, _) = env
        .client
        .kv()
        .get(&key, &QueryOptions::new())
        .await
        .expect("get");
    assert_eq!(
        pair.expect("the key stays (behaviour release)").session,
        None
    );

    let lock = Lock::new(
        env.client.clone(),
        LockOptions::new(key.clone(), b"b".to_vec()),
    )
    .expect("lock");
    match lock.acquire(AcquireMode::TryOnce).await.expect("attempt") {
        LockAttempt::Busy { holder } => {
            let h = holder.expect("the key exists");
            assert_eq!(
                (h.session.as_deref(), h.value_str()),
                (None, Some("a")),
                "free, but in lock-delay"
            );
        }
        other => panic!("the lock-delay must hold the lock back, got {other:?}"),
    }
    env.control().advance_clock(Duration::from_secs(10));
    assert!(matches!(
        lock.acquire(AcquireMode::TryOnce).await.expect("attempt"),
        LockAttempt::Busy { .. }
    ));

    env.control().advance_clock(Duration::from_secs(6));
    let held = acquired(lock.acquire(AcquireMode::TryOnce).await.expect("attempt"));
    let (pair, _) = env
        .client
        .kv()
        .get(&key, &QueryOptions::new())
        .await
        .expect("get");
    let pair = pair.expect("exists");
    assert_eq!(pair.session.as_deref(), Some(held.session_id()));
    assert_eq!(pair.value_str(), Some("b"));
    held.release().await.expect("release");
}

#[tokio::test]
async fn waiting_acquire_gets_the_lock_when_the_holder_releases() {
    let env = Env::sim(Default::default()).await;
    let key = env.key("queue");
    let first = Lock::new(
        env.client.clone(),
        LockOptions::new(key.clone(), b"first".to_vec()),
    )
    .expect("lock");
    let held = acquired(first.acquire(AcquireMode::TryOnce).await.expect("attempt"));
    // Let the first lock's monitor settle into its blocking query before counting reads.
    wait_until(|| blocking_reads(&env, &key) >= 1).await;
    let reads_before = key_reads(&env, &key);

    let second = Lock::new(
        env.client.clone(),
        LockOptions::new(key.clone(), b"second".to_vec()),
    )
    .expect("lock");
    let waiter = tokio::spawn(async move {
        second
            .acquire(AcquireMode::WaitUpTo(Duration::from_secs(30)))
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiter.is_finished(),
        "the second lock waits while the first is held"
    );
    let reads_while_waiting = key_reads(&env, &key) - reads_before;

    held.release().await.expect("release");
    let second_held = acquired(
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("acquired soon after the release, not at the end of the wait")
            .expect("task")
            .expect("attempt"),
    );
    assert_eq!(
        env.client
            .kv()
            .get_raw(&key, &QueryOptions::new())
            .await
            .expect("raw")
            .0
            .as_deref(),
        Some(&b"second"[..])
    );
    // It waited with a blocking query, not by polling: one plain read, then one blocking read.
    assert!(
        reads_while_waiting <= 2,
        "{reads_while_waiting} reads while waiting"
    );
    second_held.release().await.expect("release");
}

#[tokio::test]
async fn bounded_wait_reports_the_holder_when_it_ends() {
    let env = Env::any().await;
    let key = env.key("busy");
    let holder = Lock::new(
        env.client.clone(),
        LockOptions::new(key.clone(), b"{\"user\":\"ann\"}".to_vec()),
    )
    .expect("lock");
    let held = acquired(holder.acquire(AcquireMode::TryOnce).await.expect("attempt"));
    let other = Lock::new(
        env.client.clone(),
        LockOptions::new(key.clone(), b"bob".to_vec()),
    )
    .expect("lock");
    match other
        .acquire(AcquireMode::WaitUpTo(Duration::from_millis(300)))
        .await
        .expect("attempt")
    {
        LockAttempt::Busy { holder } => {
            let h = holder.expect("held");
            assert_eq!(h.value_str(), Some("{\"user\":\"ann\"}"));
            assert_eq!(h.session.as_deref(), Some(held.session_id()));
        }
        other => panic!("expected busy, got {other:?}"),
    }
    let seen = other.holder().await.expect("holder").expect("held");
    assert_eq!(seen.value_str(), Some("{\"user\":\"ann\"}"));
    held.release().await.expect("release");
    assert_eq!(other.holder().await.expect("holder"), None);
}

#[tokio::test]
async fn monitor_reports_loss_when_the_session_is_invalidated() {
    let env = Env::sim(Default::default()).await;
    let lock = Lock::new(
        env.client.clone(),
        LockOptions::new(env.key("l"), b"me".to_vec()),
    )
    .expect("lock");
    let mut held = acquired(lock.acquire(AcquireMode::TryOnce).await.expect("attempt"));
    assert_eq!(held.loss(), None);
    assert!(env.control().invalidate_session(held.session_id()));
    let lost = tokio::time::timeout(Duration::from_secs(5), held.lost())
        .await
        .expect("loss reported");
    assert!(
        matches!(
            lost,
            LockLost::KeyLost {
                holder_session: None
            } | LockLost::Session(_)
        ),
        "{lost:?}"
    );
}

#[tokio::test]
async fn monitor_reports_loss_when_another_session_takes_the_key() {
    let env = Env::any().await;
    let key = env.key("stolen");
    let lock = Lock::new(
        env.client.clone(),
        LockOptions::new(key.clone(), b"me".to_vec()),
    )
    .expect("lock");
    let mut held = acquired(lock.acquire(AcquireMode::TryOnce).await.expect("attempt"));
    // Someone deletes the key by hand.
    env.client
        .kv()
        .delete(&key, &Default::default())
        .await
        .expect("delete");
    let lost = tokio::time::timeout(Duration::from_secs(5), held.lost())
        .await
        .expect("loss reported");
    assert_eq!(
        lost,
        LockLost::KeyLost {
            holder_session: None
        }
    );
    held.release().await.expect("release after loss succeeds");
}

#[tokio::test]
async fn release_frees_the_key_keeps_the_value_and_destroys_the_session() {
    let env = Env::any().await;
    let key = env.key("released");
    let lock = Lock::new(
        env.client.clone(),
        LockOptions::new(key.clone(), b"holder".to_vec()),
    )
    .expect("lock");
    let held = acquired(lock.acquire(AcquireMode::TryOnce).await.expect("attempt"));
    let session = held.session_id().to_owned();
    held.release().await.expect("release");
    let (pair, _) = env
        .client
        .kv()
        .get(&key, &QueryOptions::new())
        .await
        .expect("get");
    let pair = pair.expect("exists");
    assert_eq!(
        (pair.session.as_deref(), pair.value_str()),
        (None, Some("holder"))
    );
    let (info, _) = env
        .client
        .session()
        .info(&session, &QueryOptions::new())
        .await
        .expect("info");
    assert_eq!(info, None, "the lock's own session is destroyed");
}

#[tokio::test]
async fn lock_with_callers_session_keeps_that_session() {
    let env = Env::any().await;
    let sid = env
        .client
        .session()
        .create(&SessionRequest::new("mine"))
        .await
        .expect("session");
    let lock = Lock::new(
        env.client.clone(),
        LockOptions::new(env.key("k"), b"v".to_vec()).session(sid.clone()),
    )
    .expect("lock");
    let held = acquired(lock.acquire(AcquireMode::TryOnce).await.expect("attempt"));
    assert_eq!(held.session_id(), sid);
    held.release().await.expect("release");
    assert!(
        env.client
            .session()
            .info(&sid, &QueryOptions::new())
            .await
            .expect("info")
            .0
            .is_some()
    );
    env.client.session().destroy(&sid).await.expect("destroy");
}

#[tokio::test]
async fn dropped_lock_is_released_in_the_background() {
    let env = Env::any().await;
    let key = env.key("dropped");
    let lock = Lock::new(
        env.client.clone(),
        LockOptions::new(key.clone(), b"v".to_vec()),
    )
    .expect("lock");
    let held = acquired(lock.acquire(AcquireMode::TryOnce).await.expect("attempt"));
    drop(held);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (pair, _) = env
            .client
            .kv()
            .get(&key, &QueryOptions::new())
            .await
            .expect("get");
        if pair.expect("exists").session.is_none() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the dropped lock was not released"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn key_with_other_flags_is_a_lock_conflict() {
    let env = Env::any().await;
    let key = env.key("plain");
    env.client
        .kv()
        .put(&key, b"data", &PutOptions::new().flags(1))
        .await
        .expect("put");
    let lock = Lock::new(env.client.clone(), LockOptions::new(key, b"v".to_vec())).expect("lock");
    let err = lock
        .acquire(AcquireMode::TryOnce)
        .await
        .expect_err("not a lock key");
    assert!(
        matches!(err, Error::LockConflict { flags: 1, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn held_lock_session_is_renewed_while_held() {
    let env = Env::sim(Default::default()).await;
    let opts = LockOptions::new(env.key("long"), b"v".to_vec())
        .session_ttl(Duration::from_secs(10))
        .renew_interval(Duration::from_millis(20));
    let lock = Lock::new(env.client.clone(), opts).expect("lock");
    let held = acquired(lock.acquire(AcquireMode::TryOnce).await.expect("attempt"));
    for _ in 0..3 {
        let before = renewals(&env);
        wait_until(|| renewals(&env) > before).await;
        env.control().advance_clock(Duration::from_secs(15));
    }
    assert_eq!(
        held.loss(),
        None,
        "45 s on Consul's clock with a 10 s TTL, kept by renewals"
    );
    held.release().await.expect("release");
}

fn renewals(env: &Env) -> usize {
    env.control()
        .requests()
        .iter()
        .filter(|r| r.path_and_query.starts_with("/v1/session/renew/") && r.status == 200)
        .count()
}

fn key_reads(env: &Env, key: &str) -> usize {
    let path = format!("/v1/kv/{key}");
    env.control()
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path_and_query.split('?').next() == Some(path.as_str()))
        .count()
}

fn blocking_reads(env: &Env, key: &str) -> usize {
    let path = format!("/v1/kv/{key}?");
    env.control()
        .requests()
        .iter()
        .filter(|r| r.path_and_query.starts_with(&path) && r.path_and_query.contains("index="))
        .count()
}

#[tokio::test]
async fn long_wait_keeps_the_waiting_session_alive() {
    let env = Env::sim(Default::default()).await;
    let key = env.key("patient");
    let opts = |value: &str| {
        LockOptions::new(key.clone(), value.as_bytes().to_vec())
            .session_ttl(Duration::from_secs(10))
            .renew_interval(Duration::from_millis(20))
    };
    let first = Lock::new(env.client.clone(), opts("first")).expect("lock");
    let held = acquired(first.acquire(AcquireMode::TryOnce).await.expect("attempt"));
    let second = Lock::new(env.client.clone(), opts("second")).expect("lock");
    let waiter = tokio::spawn(async move {
        second
            .acquire(AcquireMode::WaitUpTo(Duration::from_secs(30)))
            .await
    });
    // 45 s pass on Consul's clock while the second waits: both sessions are renewed meanwhile.
    for _ in 0..3 {
        let before = renewals(&env);
        wait_until(|| renewals(&env) >= before + 2).await;
        env.control().advance_clock(Duration::from_secs(15));
    }
    held.release().await.expect("release");
    let second_held = acquired(
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("acquired after the release")
            .expect("task")
            .expect("the waiting session is still valid"),
    );
    second_held.release().await.expect("release");
}

/// The requests the simulator received, as `METHOD path` without the query.
fn request_paths(env: &Env) -> Vec<String> {
    env.control()
        .requests()
        .into_iter()
        .map(|r| {
            let path = r.path_and_query.split('?').next().unwrap_or_default();
            format!("{} {path}", r.method)
        })
        .collect()
}

#[tokio::test]
async fn lock_seen_free_is_taken_in_one_txn_without_reading_the_key() {
    let env = Env::sim(Default::default()).await;
    let key = env.key("seen");
    env.client
        .kv()
        .put(&key, b"old", &PutOptions::new().flags(GO_API_LOCK_FLAGS))
        .await
        .expect("put");
    let (pair, _) = env
        .client
        .kv()
        .get(&key, &QueryOptions::new())
        .await
        .expect("get");
    let seen = pair.expect("exists").modify_index;
    env.control().clear_requests();
    let opts = LockOptions::new(key.clone(), b"me".to_vec()).seen_free_at(seen);
    let lock = Lock::new(env.client.clone(), opts).expect("lock");
    let held = acquired(lock.acquire(AcquireMode::TryOnce).await.expect("acquire"));
    let (pair, _) = env
        .client
        .kv()
        .get(&key, &QueryOptions::new())
        .await
        .expect("get");
    let pair = pair.expect("exists");
    assert_eq!(pair.session.as_deref(), Some(held.session_id()));
    assert_eq!(pair.value_str(), Some("me"));
    let sent = request_paths(&env);
    assert_eq!(
        sent.get(..2),
        Some(
            &[
                "PUT /v1/session/create".to_owned(),
                "PUT /v1/txn".to_owned()
            ][..]
        ),
        "{sent:?}"
    );
    held.release().await.expect("release");
}

#[tokio::test]
async fn lock_seen_free_but_changed_since_still_checks_flags_and_holder() {
    let env = Env::sim(Default::default()).await;
    let key = env.key("changed");
    // Seen missing, but written since as plain data: the guarded txn must not take it.
    env.client
        .kv()
        .put(&key, b"data", &PutOptions::new().flags(1))
        .await
        .expect("put");
    let opts = LockOptions::new(key.clone(), b"me".to_vec()).seen_free_at(0);
    let lock = Lock::new(env.client.clone(), opts).expect("lock");
    let err = lock
        .acquire(AcquireMode::TryOnce)
        .await
        .expect_err("not a lock key");
    assert!(
        matches!(err, Error::LockConflict { flags: 1, .. }),
        "{err:?}"
    );
    let (pair, _) = env
        .client
        .kv()
        .get(&key, &QueryOptions::new())
        .await
        .expect("get");
    assert_eq!(pair.expect("kept").value_str(), Some("data"));

    // Seen free, but another session holds it now: busy, naming that holder.
    let other_key = env.key("taken");
    let other = Lock::new(
        env.client.clone(),
        LockOptions::new(other_key.clone(), b"other".to_vec()),
    )
    .expect("lock");
    let theirs = acquired(other.acquire(AcquireMode::TryOnce).await.expect("acquire"));
    let opts = LockOptions::new(other_key, b"me".to_vec()).seen_free_at(0);
    let mine = Lock::new(env.client.clone(), opts).expect("lock");
    match mine.acquire(AcquireMode::TryOnce).await.expect("acquire") {
        LockAttempt::Busy { holder } => {
            assert_eq!(
                holder.and_then(|p| p.session).as_deref(),
                Some(theirs.session_id())
            );
        }
        other => panic!("expected busy, got {other:?}"),
    }
    theirs.release().await.expect("release");
}

/// Takes `key` at once with a lock storing `value` (and the given lock-delay).
async fn take(env: &Env, key: &str, value: &[u8], lock_delay: Duration) -> HeldLock {
    let opts = LockOptions::new(key.to_owned(), value.to_vec()).lock_delay(lock_delay);
    let lock = Lock::new(env.client.clone(), opts).expect("lock");
    acquired(lock.acquire(AcquireMode::TryOnce).await.expect("acquire"))
}

/// The session holding `key` now, if any.
async fn holder_session(env: &Env, key: &str) -> Option<String> {
    let (pair, _) = env
        .client
        .kv()
        .get(key, &QueryOptions::new())
        .await
        .expect("get");
    pair.and_then(|p| p.session)
}

#[tokio::test]
async fn lock_reads_come_back_from_the_acquiring_transaction_on_the_guarded_path() {
    let env = Env::sim(Default::default()).await;
    let key = env.key("guarded-reads");
    let data = env.key("guarded-reads-data");
    env.client
        .kv()
        .put(&data, b"v1", &PutOptions::new())
        .await
        .expect("put");
    env.control().clear_requests();
    let opts = LockOptions::new(key.clone(), b"me".to_vec())
        .seen_free_at(0)
        .reads(vec![TxnOp::get(data.clone())]);
    let lock = Lock::new(env.client.clone(), opts).expect("lock");
    let held = acquired(lock.acquire(AcquireMode::TryOnce).await.expect("acquire"));
    let reads = held.acquired_reads();
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0].key, data);
    assert_eq!(reads[0].value_str(), Some("v1"));
    // Session, then one transaction: the reads cost no request of their own.
    assert_eq!(
        request_paths(&env).get(..2),
        Some(
            &[
                "PUT /v1/session/create".to_owned(),
                "PUT /v1/txn".to_owned()
            ][..]
        )
    );
    held.release().await.expect("release");
}

#[tokio::test]
async fn lock_reads_come_back_after_waiting_for_the_holder() {
    let env = Env::sim(Default::default()).await;
    let key = env.key("waited-reads");
    let data = env.key("waited-reads-data");
    let theirs = take(&env, &key, b"first", Duration::ZERO).await;
    let opts = LockOptions::new(key.clone(), b"second".to_vec())
        .reads(vec![TxnOp::get_tree(data.clone())]);
    let second = Lock::new(env.client.clone(), opts).expect("lock");
    let waiting = tokio::spawn(async move {
        second
            .acquire(AcquireMode::WaitUpTo(Duration::from_secs(10)))
            .await
    });
    // Written while the first holder has the lock: the waiter must see it in its reads.
    env.client
        .kv()
        .put(&data, b"written under the first lock", &PutOptions::new())
        .await
        .expect("put");
    theirs.release().await.expect("release");
    let held = acquired(waiting.await.expect("join").expect("acquire"));
    let reads = held.acquired_reads();
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0].value_str(), Some("written under the first lock"));
    assert_eq!(
        holder_session(&env, &key).await.as_deref(),
        Some(held.session_id())
    );
    held.release().await.expect("release");
}

#[tokio::test]
async fn lock_with_reads_held_by_another_is_busy_not_an_error() {
    let env = Env::sim(Default::default()).await;
    let key = env.key("busy-reads");
    let theirs = take(&env, &key, b"first", Duration::from_secs(15)).await;
    let opts = LockOptions::new(key.clone(), b"second".to_vec())
        .reads(vec![TxnOp::get_tree(env.key("x"))]);
    let second = Lock::new(env.client.clone(), opts).expect("lock");
    match second.acquire(AcquireMode::TryOnce).await.expect("acquire") {
        LockAttempt::Busy { holder } => assert_eq!(
            holder.and_then(|p| p.session).as_deref(),
            Some(theirs.session_id())
        ),
        other => panic!("expected busy, got {other:?}"),
    }
    theirs.release().await.expect("release");
}
