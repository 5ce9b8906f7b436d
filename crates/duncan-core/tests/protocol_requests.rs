//! What a deploy asks Consul: the tags in one read, the lock in one guarded transaction, no
//! release write after the transaction that unlocked the key, no listing to prune.

mod protocol_common;

use duncan_core::deploy::{DeployOutcome, deploy};
use protocol_common::{Recorder, Sims, app_env, request};

/// The Consul requests of one deploy of `tag` over an app/env deployed once before.
async fn consul_requests_of_a_deploy() -> (Sims, Vec<String>) {
    let sims = Sims::start_sim().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let ctx = sims.ctx("alice");
    // The first deploy leaves the lock key behind, free, as every later deploy finds it.
    deploy(&ctx, request(&target, "v2"), &Recorder::new().1)
        .await
        .expect("first deploy");
    sims.consul_control().clear_requests();
    let report = deploy(&ctx, request(&target, "v3"), &Recorder::new().1)
        .await
        .expect("deploy");
    assert!(matches!(report.outcome, DeployOutcome::Deployed { .. }));
    let log = sims
        .consul_control()
        .requests()
        .into_iter()
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect();
    (sims, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_reads_tags_in_transactions_and_takes_the_lock_without_reading_it_first() {
    let (sims, log) = consul_requests_of_a_deploy().await;
    let target = app_env("shop");
    assert!(
        !log.iter()
            .any(|r| r.contains("/current") || r.contains("/previous")),
        "the tags are read in transactions: {log:#?}"
    );
    assert!(
        !log.iter().any(|r| r.contains("acquire=")),
        "the lock is taken in a transaction: {log:#?}"
    );
    // The only reads of the lock key are the monitor's blocking queries.
    let plain_lock_reads: Vec<&String> = log
        .iter()
        .filter(|r| r.starts_with("GET ") && r.contains("/lock") && !r.contains("index="))
        .collect();
    assert!(plain_lock_reads.is_empty(), "{log:#?}");
    assert!(!sims.lock_held(&target).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_destroys_the_session_without_releasing_the_key_its_txn_unlocked() {
    let (sims, log) = consul_requests_of_a_deploy().await;
    let target = app_env("shop");
    assert!(
        !log.iter().any(|r| r.contains("release=")),
        "no release write after the unlocking txn: {log:#?}"
    );
    assert!(
        log.iter()
            .any(|r| r.starts_with("PUT /v1/session/destroy/")),
        "{log:#?}"
    );
    assert!(!sims.lock_held(&target).await, "the lock is free");
    assert_eq!(sims.kv(&target.current_key()).await.as_deref(), Some("v3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_lists_each_prefix_once_per_record_and_never_to_prune() {
    let (_sims, log) = consul_requests_of_a_deploy().await;
    let listings = |prefix: &str| {
        log.iter()
            .filter(|r| r.starts_with("GET ") && r.contains("keys") && r.contains(prefix))
            .count()
    };
    // `history/` once for the release record; `events/` once per event appended
    // (deploy_started, then the success event with the release record).
    assert_eq!(listings("/history/"), 1, "{log:#?}");
    assert_eq!(listings("/events/"), 2, "{log:#?}");
}
