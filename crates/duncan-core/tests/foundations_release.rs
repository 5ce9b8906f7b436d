//! Release tags, history and the transactions that record a deploy's outcome.

mod common;

use std::time::Duration;

use common::{Backend, deployer, settings, unique_target};
use consul_client::{Client, PutOptions};
use consul_sim::SimOptions;
use duncan_core::audit::{self, Event, EventKind};
use duncan_core::lock::{DeployLock, LockRequest, LockStatus, lock_status};
use duncan_core::names::{AppEnv, Tag};
use duncan_core::release::{
    CommitError, CommitRetry, HistoryRecord, Outcome, ReleaseError, SuccessCommit, commit_success,
    history, read_tags, record_failure, rollback_target,
};
use duncan_core::sequence::SeqCounters;
use time::OffsetDateTime;

fn tag(s: &str) -> Tag {
    s.parse().unwrap()
}

/// Quick retries, so failure tests stay fast.
fn quick_retry(attempts: usize) -> CommitRetry {
    CommitRetry {
        attempts,
        initial_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }
}

/// Takes the lock and records a successful deploy of `new`, as the protocol does.
async fn deploy(
    consul: &Client,
    target: &AppEnv,
    user: &str,
    new: &str,
) -> Result<(), CommitError> {
    let s = settings(user);
    let lock = DeployLock::acquire(
        consul,
        &LockRequest::new(target.clone(), &s, Some(tag(new))),
    )
    .await
    .unwrap();
    let tags = read_tags(consul, target).await.unwrap();
    let record = HistoryRecord::new(
        tag(new),
        tags.current.clone(),
        s.deployer.clone(),
        OffsetDateTime::now_utc(),
        Outcome::Succeeded,
    );
    let event = Event::new(target, s.deployer.clone(), EventKind::DeploySucceeded)
        .with_tag(tag(new))
        .with_previous_tag(tags.current.clone());
    let commit = SuccessCommit {
        target: target.clone(),
        session: lock.session_id().to_owned(),
        tags,
        record,
        event,
        audit_retention: 100,
    };
    let result = commit_success(consul, &commit, &quick_retry(3))
        .await
        .map(|_| ());
    lock.release().await.unwrap();
    result
}

#[tokio::test]
async fn successful_deploys_move_current_and_previous_and_append_history_and_audit() {
    let backend = Backend::start().await;
    let consul = &backend.client;
    let target = unique_target("stage");
    let empty = read_tags(consul, &target).await.unwrap();
    assert_eq!(
        (empty.current, empty.previous, empty.current_index),
        (None, None, 0)
    );

    deploy(consul, &target, "alice", "v1").await.unwrap();
    let tags = read_tags(consul, &target).await.unwrap();
    assert_eq!((tags.current, tags.previous), (Some(tag("v1")), None));
    assert!(tags.current_index > 0);

    deploy(consul, &target, "bob", "v2").await.unwrap();
    let tags = read_tags(consul, &target).await.unwrap();
    assert_eq!(
        (tags.current, tags.previous),
        (Some(tag("v2")), Some(tag("v1")))
    );

    let records = history(consul, &target, None).await.unwrap();
    let seen: Vec<(u64, &str, Option<&str>)> = records
        .iter()
        .map(|e| {
            (
                e.seq,
                e.record.tag.as_str(),
                e.record.previous.as_ref().map(Tag::as_str),
            )
        })
        .collect();
    assert_eq!(seen, [(2, "v2", Some("v1")), (1, "v1", None)]);
    assert_eq!(history(consul, &target, Some(1)).await.unwrap().len(), 1);

    let events = audit::list(consul, &target, None).await.unwrap();
    let kinds: Vec<(EventKind, Option<&str>)> = events
        .iter()
        .map(|e| (e.event.kind, e.event.tag.as_ref().map(Tag::as_str)))
        .collect();
    assert_eq!(
        kinds,
        [
            (EventKind::DeploySucceeded, Some("v2")),
            (EventKind::DeploySucceeded, Some("v1"))
        ]
    );
    // The transaction's `unlock` freed the key.
    assert_eq!(
        lock_status(consul, &target).await.unwrap(),
        LockStatus::Free
    );
}

#[tokio::test]
async fn deployer_whose_session_was_invalidated_cannot_write_tags() {
    let backend = Backend::sim(SimOptions::default()).await;
    let consul = &backend.client;
    let target = AppEnv::parse("web", "production").unwrap();
    deploy(consul, &target, "alice", "v1").await.unwrap();

    let s = settings("bob");
    let lock = DeployLock::acquire(
        consul,
        &LockRequest::new(target.clone(), &s, Some(tag("v2"))),
    )
    .await
    .unwrap();
    let tags = read_tags(consul, &target).await.unwrap();
    // Bob's session expires mid-deploy.
    assert!(backend.control().invalidate_session(lock.session_id()));
    let commit = SuccessCommit {
        target: target.clone(),
        session: lock.session_id().to_owned(),
        tags,
        record: HistoryRecord::new(
            tag("v2"),
            Some(tag("v1")),
            s.deployer.clone(),
            OffsetDateTime::now_utc(),
            Outcome::Succeeded,
        ),
        event: Event::new(&target, s.deployer.clone(), EventKind::DeploySucceeded)
            .with_tag(tag("v2")),
        audit_retention: 100,
    };
    let err = commit_success(consul, &commit, &quick_retry(3))
        .await
        .unwrap_err();
    assert!(matches!(err, CommitError::LockLost { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("the deploy lock of web/production was lost"),
        "{text}"
    );
    assert!(
        text.contains("Marathon runs v2 while Consul's current still says v1"),
        "{text}"
    );
    assert!(
        text.contains(
            "consul kv put deploys/web/production/current v2 && consul kv put deploys/web/production/previous v1"
        ),
        "{text}"
    );
    // Nothing was written: tags, history and audit are as before.
    let after = read_tags(consul, &target).await.unwrap();
    assert_eq!((after.current, after.previous), (Some(tag("v1")), None));
    assert_eq!(history(consul, &target, None).await.unwrap().len(), 1);
    assert_eq!(audit::list(consul, &target, None).await.unwrap().len(), 1);
    lock.release().await.unwrap();
}

#[tokio::test]
async fn current_changed_behind_the_lock_is_not_overwritten() {
    let backend = Backend::start().await;
    let consul = &backend.client;
    let target = unique_target("stage");
    deploy(consul, &target, "alice", "v1").await.unwrap();
    let s = settings("bob");
    let lock = DeployLock::acquire(
        consul,
        &LockRequest::new(target.clone(), &s, Some(tag("v2"))),
    )
    .await
    .unwrap();
    let tags = read_tags(consul, &target).await.unwrap();
    // Someone edits `current` by hand during the deploy.
    consul
        .kv()
        .put(&target.current_key(), b"hotfix", &PutOptions::new())
        .await
        .unwrap();
    let commit = SuccessCommit {
        target: target.clone(),
        session: lock.session_id().to_owned(),
        tags,
        record: HistoryRecord::new(
            tag("v2"),
            Some(tag("v1")),
            s.deployer.clone(),
            OffsetDateTime::now_utc(),
            Outcome::Succeeded,
        ),
        event: Event::new(&target, s.deployer.clone(), EventKind::DeploySucceeded)
            .with_tag(tag("v2")),
        audit_retention: 100,
    };
    let err = commit_success(consul, &commit, &quick_retry(3))
        .await
        .unwrap_err();
    assert!(matches!(err, CommitError::CurrentChanged { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("current tag changed in Consul during the deploy"),
        "{err}"
    );
    assert_eq!(
        read_tags(consul, &target).await.unwrap().current,
        Some(tag("hotfix"))
    );
    assert_eq!(history(consul, &target, None).await.unwrap().len(), 1);
    // The lock is still ours (the txn rolled back), and releasing it works.
    assert!(matches!(
        lock_status(consul, &target).await.unwrap(),
        LockStatus::Held(_)
    ));
    lock.release().await.unwrap();
}

#[tokio::test]
async fn failed_outcome_records_history_and_audit_and_leaves_tags_untouched() {
    let backend = Backend::start().await;
    let consul = &backend.client;
    let target = unique_target("stage");
    deploy(consul, &target, "alice", "v1").await.unwrap();
    let before = read_tags(consul, &target).await.unwrap();
    let mut record = HistoryRecord::new(
        tag("v2"),
        Some(tag("v1")),
        deployer("bob"),
        OffsetDateTime::now_utc(),
        Outcome::RolledBack,
    );
    record.deployment_id = Some("5ed4c0c5-9ff8-4a6f-a0cd-f57d59a34b43".into());
    record.message = Some("web never became healthy".into());
    let event = Event::new(&target, deployer("bob"), Outcome::RolledBack.event_kind())
        .with_tag(tag("v2"))
        .with_message("web never became healthy");
    record_failure(
        consul,
        &target,
        &record,
        &event,
        100,
        SeqCounters::default(),
        &quick_retry(3),
    )
    .await
    .unwrap();

    // The tags are untouched; only the sequence counters moved, by one record each.
    let after = read_tags(consul, &target).await.unwrap();
    assert_eq!(
        (&after.current, after.current_index, &after.previous),
        (&before.current, before.current_index, &before.previous)
    );
    assert_eq!(
        after.counters.history.last,
        before.counters.history.last.map(|n| n + 1)
    );
    let newest = &history(consul, &target, Some(1)).await.unwrap()[0];
    assert_eq!(newest.record.outcome, Outcome::RolledBack);
    assert_eq!(newest.record.tag, tag("v2"));
    assert_eq!(
        newest.record.deployment_id.as_deref(),
        Some("5ed4c0c5-9ff8-4a6f-a0cd-f57d59a34b43")
    );
    let newest_event = &audit::list(consul, &target, Some(1)).await.unwrap()[0];
    assert_eq!(newest_event.event.kind, EventKind::DeployRolledBack);
}

#[tokio::test]
async fn transient_consul_failures_are_retried_until_the_commit_lands() {
    let backend = Backend::sim(SimOptions::default()).await;
    let consul = &backend.client;
    let target = AppEnv::parse("web", "stage").unwrap();
    let s = settings("alice");
    let lock = DeployLock::acquire(
        consul,
        &LockRequest::new(target.clone(), &s, Some(tag("v1"))),
    )
    .await
    .unwrap();
    let tags = read_tags(consul, &target).await.unwrap();
    let commit = SuccessCommit {
        target: target.clone(),
        session: lock.session_id().to_owned(),
        tags,
        record: HistoryRecord::new(
            tag("v1"),
            None,
            s.deployer.clone(),
            OffsetDateTime::now_utc(),
            Outcome::Succeeded,
        ),
        event: Event::new(&target, s.deployer.clone(), EventKind::DeploySucceeded)
            .with_tag(tag("v1")),
        audit_retention: 100,
    };
    backend.control().fail_next(3, 503);
    commit_success(consul, &commit, &quick_retry(6))
        .await
        .unwrap();
    assert_eq!(
        read_tags(consul, &target).await.unwrap().current,
        Some(tag("v1"))
    );
    assert_eq!(history(consul, &target, None).await.unwrap().len(), 1);
    lock.release().await.unwrap();
}

#[tokio::test]
async fn commit_that_keeps_failing_names_the_exact_state_and_the_repair() {
    let backend = Backend::sim(SimOptions::default()).await;
    let consul = &backend.client;
    let target = AppEnv::parse("api", "production").unwrap();
    deploy(consul, &target, "alice", "v1").await.unwrap();
    let s = settings("bob");
    let lock = DeployLock::acquire(
        consul,
        &LockRequest::new(target.clone(), &s, Some(tag("v2"))),
    )
    .await
    .unwrap();
    let tags = read_tags(consul, &target).await.unwrap();
    let commit = SuccessCommit {
        target: target.clone(),
        session: lock.session_id().to_owned(),
        tags,
        record: HistoryRecord::new(
            tag("v2"),
            Some(tag("v1")),
            s.deployer.clone(),
            OffsetDateTime::now_utc(),
            Outcome::Succeeded,
        ),
        event: Event::new(&target, s.deployer.clone(), EventKind::DeploySucceeded)
            .with_tag(tag("v2")),
        audit_retention: 100,
    };
    backend.control().fail_next(1000, 500);
    let err = commit_success(consul, &commit, &quick_retry(3))
        .await
        .unwrap_err();
    backend.control().fail_next(0, 500);
    assert!(
        matches!(err, CommitError::NotRecorded { attempts: 3, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "could not record the release of api/production in Consul after 3 attempts: Marathon runs \
         v2 while Consul's current still says v1. When Consul is back, record it with: consul kv \
         put deploys/api/production/current v2 && consul kv put deploys/api/production/previous v1"
    );
    assert_eq!(
        read_tags(consul, &target).await.unwrap().current,
        Some(tag("v1"))
    );
    lock.release().await.unwrap();
}

#[tokio::test]
async fn concurrent_writers_get_distinct_increasing_sequence_numbers() {
    let backend = Backend::start().await;
    let target = unique_target("stage");
    let writers = (0..12).map(|i| {
        let consul = backend.client.clone();
        let target = target.clone();
        tokio::spawn(async move {
            let record = HistoryRecord::new(
                tag(&format!("t{i}")),
                None,
                deployer("w"),
                OffsetDateTime::now_utc(),
                Outcome::Failed,
            );
            let event = Event::new(&target, deployer("w"), EventKind::DeployFailed)
                .with_tag(tag(&format!("t{i}")));
            record_failure(
                &consul,
                &target,
                &record,
                &event,
                100,
                SeqCounters::default(),
                &quick_retry(3),
            )
            .await
        })
    });
    let mut seqs = Vec::new();
    for w in writers.collect::<Vec<_>>() {
        seqs.push(w.await.unwrap().unwrap());
    }
    let mut history_seqs: Vec<u64> = seqs.iter().map(|c| c.history_seq).collect();
    history_seqs.sort_unstable();
    assert_eq!(history_seqs, (1..=12).collect::<Vec<u64>>());
    let records = history(&backend.client, &target, None).await.unwrap();
    assert_eq!(records.len(), 12, "no writer overwrote another");
    assert!(
        records.windows(2).all(|w| w[0].seq > w[1].seq),
        "newest first"
    );
    let mut tags: Vec<String> = records.iter().map(|r| r.record.tag.to_string()).collect();
    tags.sort();
    tags.dedup();
    assert_eq!(tags.len(), 12);
    assert_eq!(
        audit::list(&backend.client, &target, None)
            .await
            .unwrap()
            .len(),
        12
    );
}

#[tokio::test]
async fn rollback_target_is_previous_or_a_tag_from_history() {
    let backend = Backend::start().await;
    let consul = &backend.client;
    let target = unique_target("stage");
    let err = rollback_target(consul, &target, None).await.unwrap_err();
    assert!(matches!(err, ReleaseError::NoPrevious { .. }), "{err:?}");

    for t in ["v1", "v2", "v3"] {
        deploy(consul, &target, "alice", t).await.unwrap();
    }
    let failed = HistoryRecord::new(
        tag("broken"),
        Some(tag("v3")),
        deployer("bob"),
        OffsetDateTime::now_utc(),
        Outcome::RolledBack,
    );
    let event = Event::new(&target, deployer("bob"), EventKind::DeployRolledBack);
    record_failure(
        consul,
        &target,
        &failed,
        &event,
        100,
        SeqCounters::default(),
        &quick_retry(3),
    )
    .await
    .unwrap();

    let previous = rollback_target(consul, &target, None).await.unwrap();
    assert_eq!(previous.tag, tag("v2"));
    assert_eq!(previous.tags.current, Some(tag("v3")));
    assert_eq!(
        rollback_target(consul, &target, Some(&tag("v1")))
            .await
            .unwrap()
            .tag,
        tag("v1")
    );

    let err = rollback_target(consul, &target, Some(&tag("broken")))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "broken was never successfully deployed to {target}, so it cannot be a rollback \
             target (recent releases: v3, v2, v1)"
        )
    );
}

#[tokio::test]
async fn history_record_json_has_the_documented_fields() {
    let mut record = HistoryRecord::new(
        tag("v2"),
        Some(tag("v1")),
        deployer("alice"),
        OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap(),
        Outcome::TimedOut,
    );
    record.finished_at = OffsetDateTime::from_unix_timestamp(1_700_000_600).unwrap();
    record
        .image_digests
        .insert("registry.example/web:v2".into(), "sha256:abc".into());
    record.image_check_skipped = false;
    let json = serde_json::to_value(&record).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "tag": "v2",
            "previous": "v1",
            "deployer": "alice@testhost",
            "kind": "deploy",
            "started_at": "2023-11-14T22:13:20Z",
            "finished_at": "2023-11-14T22:23:20Z",
            "outcome": "timed_out",
            "image_digests": {"registry.example/web:v2": "sha256:abc"},
            "image_check_skipped": false
        })
    );
    let back: HistoryRecord = serde_json::from_value(json).unwrap();
    assert_eq!(back, record);
}

#[tokio::test]
async fn success_is_written_by_exactly_one_transaction_after_consistent_reads() {
    let backend = Backend::sim(SimOptions::default()).await;
    let consul = &backend.client;
    let control = backend.control();
    let target = AppEnv::parse("web", "stage").unwrap();
    deploy(consul, &target, "alice", "v1").await.unwrap();
    let s = settings("bob");
    let lock = DeployLock::acquire(
        consul,
        &LockRequest::new(target.clone(), &s, Some(tag("v2"))),
    )
    .await
    .unwrap();
    control.clear_requests();
    let tags = read_tags(consul, &target).await.unwrap();
    // The lock's monitor reads the lock key meanwhile; the tags are what matter here.
    let reads: Vec<String> = control
        .requests()
        .into_iter()
        .filter(|r| !r.path_and_query.contains("/lock"))
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect();
    assert_eq!(
        reads,
        // Both tags in one consistent read-only transaction.
        ["PUT /v1/txn?consistent"]
    );
    control.clear_requests();
    let commit = SuccessCommit {
        target: target.clone(),
        session: lock.session_id().to_owned(),
        tags,
        record: HistoryRecord::new(
            tag("v2"),
            Some(tag("v1")),
            s.deployer.clone(),
            OffsetDateTime::now_utc(),
            Outcome::Succeeded,
        ),
        event: Event::new(&target, s.deployer.clone(), EventKind::DeploySucceeded)
            .with_tag(tag("v2")),
        audit_retention: 100,
    };
    commit_success(consul, &commit, &quick_retry(3))
        .await
        .unwrap();
    let writes: Vec<String> = control
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect();
    assert_eq!(writes, ["PUT /v1/txn"]);
    lock.release().await.unwrap();
}
