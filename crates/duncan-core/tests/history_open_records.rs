//! A deploy's history record, opened when Marathon accepted the update and finished in place.

mod common;

use std::time::Duration;

use common::{Backend, deployer, settings, unique_target};
use duncan_core::audit::{Event, EventKind};
use duncan_core::lock::{DeployLock, LockRequest};
use duncan_core::names::{AppEnv, Tag};
use duncan_core::release::{
    CommitRetry, HistoryRecord, Opened, Outcome, Slot, SuccessCommit, commit_success_into,
    finish_failure, history, read_tags, record_started,
};
use time::OffsetDateTime;

fn tag(s: &str) -> Tag {
    s.parse().unwrap()
}

fn quick_retry() -> CommitRetry {
    CommitRetry {
        attempts: 3,
        initial_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
    }
}

fn record(new: &str, outcome: Outcome) -> HistoryRecord {
    let mut record = HistoryRecord::new(
        tag(new),
        None,
        deployer("alice"),
        OffsetDateTime::now_utc(),
        outcome,
    );
    record.deployment_id = Some("0b5a1c3e-1d2f-4e6a-9b8c-7d6e5f4a3b2c".into());
    record
}

/// Opens the record of a deploy of `new`, as a deploy does once Marathon accepted the update.
async fn open(consul: &consul_client::Client, target: &AppEnv, new: &str) -> Opened {
    let tags = read_tags(consul, target).await.unwrap();
    let event = Event::new(target, deployer("alice"), EventKind::DeployStarted).with_tag(tag(new));
    record_started(
        consul,
        target,
        &record(new, Outcome::InProgress),
        &event,
        100,
        tags.counters,
        &quick_retry(),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_success_transaction_finishes_the_open_record_instead_of_appending_one() {
    let backend = Backend::start().await;
    let consul = &backend.client;
    let target = unique_target("stage");
    let opened = open(consul, &target, "v2").await;
    let seq = opened.record.expect("the record's index").seq;
    let open_history = history(consul, &target, None).await.unwrap();
    assert_eq!(open_history.len(), 1);
    assert_eq!(open_history[0].record.outcome, Outcome::InProgress);

    let s = settings("alice");
    let lock = DeployLock::acquire(
        consul,
        &LockRequest::new(target.clone(), &s, Some(tag("v2"))),
    )
    .await
    .unwrap();
    let commit = SuccessCommit {
        target: target.clone(),
        session: lock.session_id().to_owned(),
        tags: read_tags(consul, &target).await.unwrap(),
        record: record("v2", Outcome::Succeeded),
        event: Event::new(&target, deployer("alice"), EventKind::DeploySucceeded),
        audit_retention: 100,
    };
    let committed = commit_success_into(consul, &commit, opened.record, &quick_retry())
        .await
        .unwrap();
    lock.release().await.unwrap();

    assert_eq!(committed.history_seq, seq);
    let records = history(consul, &target, None).await.unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].record.outcome, Outcome::Succeeded);
    assert_eq!(
        read_tags(consul, &target).await.unwrap().current,
        Some(tag("v2"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_never_overwrites_an_open_record_someone_else_finished() {
    let backend = Backend::start().await;
    let consul = &backend.client;
    let target = unique_target("stage");
    let opened = open(consul, &target, "v2").await;
    let event = Event::new(&target, deployer("alice"), EventKind::DeployFailed);
    let slot = Slot {
        counters: read_tags(consul, &target).await.unwrap().counters,
        open: opened.record,
    };
    // `duncan watch` finished it first.
    finish_failure(
        consul,
        &target,
        &record("v2", Outcome::Succeeded),
        &event,
        100,
        slot,
        &quick_retry(),
    )
    .await
    .unwrap();
    // The interrupted deploy's late record finds the record moved: it is appended instead.
    let slot = Slot {
        counters: read_tags(consul, &target).await.unwrap().counters,
        open: opened.record,
    };
    finish_failure(
        consul,
        &target,
        &record("v2", Outcome::Interrupted),
        &event,
        100,
        slot,
        &quick_retry(),
    )
    .await
    .unwrap();

    let records = history(consul, &target, None).await.unwrap();
    let outcomes: Vec<Outcome> = records.iter().map(|r| r.record.outcome).collect();
    assert_eq!(outcomes, vec![Outcome::Interrupted, Outcome::Succeeded]);
}
