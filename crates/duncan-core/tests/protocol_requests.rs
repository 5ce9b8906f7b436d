//! What a deploy asks Consul: the tags and the ACL probe in one transaction, the lock and a fresh
//! read of the tags in one guarded transaction, records numbered from counters (no listing), no
//! release write after the transaction that unlocked the key.

mod protocol_common;

use duncan_core::deploy::{DeployOutcome, deploy};
use protocol_common::{Recorder, Sims, app_env, request};

/// One deploy of v3, with `prepare` applied to its request, over an app/env deployed once
/// before; with the requests each simulator received for it (`METHOD path?query`).
async fn second_deploy(
    prepare: impl FnOnce(&mut duncan_core::deploy::DeployRequest),
) -> (Sims, Vec<String>, Vec<String>) {
    let sims = Sims::start_sim().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let ctx = sims.ctx("alice");
    // The first deploy leaves the lock key behind, free, as every later deploy finds it, and
    // creates the sequence counters.
    deploy(&ctx, request(&target, "v2"), &Recorder::new().1)
        .await
        .expect("first deploy");
    sims.consul_control().clear_requests();
    sims.marathon.control().clear_requests();
    let mut req = request(&target, "v3");
    prepare(&mut req);
    let report = deploy(&ctx, req, &Recorder::new().1).await.expect("deploy");
    assert!(matches!(report.outcome, DeployOutcome::Deployed { .. }));
    let consul = sims
        .consul_control()
        .requests()
        .into_iter()
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect();
    let marathon = sims
        .marathon
        .control()
        .requests()
        .into_iter()
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect();
    (sims, consul, marathon)
}

/// The Consul requests of one deploy over an app/env deployed once before.
async fn consul_requests_of_a_deploy() -> (Sims, Vec<String>) {
    let (sims, consul, _) = second_deploy(|_| {}).await;
    (sims, consul)
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
async fn deploy_numbers_its_records_from_counters_without_listing_a_prefix() {
    let (sims, log) = consul_requests_of_a_deploy().await;
    let target = app_env("shop");
    assert!(
        !log.iter().any(|r| r.contains("keys")),
        "no key listing once the counters exist: {log:#?}"
    );
    // deploy_started and the success event of each of the two deploys; one record each.
    assert_eq!(
        sims.kv(&target.events_counter_key()).await.as_deref(),
        Some("4")
    );
    assert_eq!(
        sims.kv(&target.history_counter_key()).await.as_deref(),
        Some("2")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_sends_consul_seven_requests_besides_the_lock_monitor() {
    let (_sims, log) = consul_requests_of_a_deploy().await;
    let shapes: Vec<String> = log
        .iter()
        .map(|r| {
            // The session id and the monitor's index vary from run to run.
            let r = r.split("?index=").next().unwrap_or(r);
            match r.strip_prefix("PUT /v1/session/destroy/") {
                Some(_) => "PUT /v1/session/destroy/{id}".to_owned(),
                None => r.to_owned(),
            }
        })
        .collect();
    // The lock monitor's blocking query, sent from its own task as soon as the lock is held.
    let monitor = "GET /v1/kv/deploys/shop/stage/lock";
    assert!(
        shapes.iter().filter(|r| *r == monitor).count() <= 1,
        "{log:#?}"
    );
    let mut sorted: Vec<String> = shapes.into_iter().filter(|r| r != monitor).collect();
    sorted.sort();
    assert_eq!(
        sorted,
        [
            // The user event of step 9.
            "PUT /v1/event/fire/duncan-deploy",
            "PUT /v1/session/create",
            "PUT /v1/session/destroy/{id}",
            // Tags + ACL probe; lock + tags; deploy_started; the release.
            "PUT /v1/txn",
            "PUT /v1/txn",
            "PUT /v1/txn",
            "PUT /v1/txn",
        ],
        "{log:#?}"
    );
}

/// How many times a deploy over an app/env deployed once before reads the group, with
/// `prepare` applied to its request.
async fn group_reads_of_a_deploy(
    prepare: impl FnOnce(&mut duncan_core::deploy::DeployRequest),
) -> usize {
    let (_sims, _, marathon) = second_deploy(prepare).await;
    marathon
        .iter()
        .filter(|r| r.starts_with("GET /v2/groups/shop-stage"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_reads_the_group_once_when_nobody_held_the_lock_since() {
    assert_eq!(group_reads_of_a_deploy(|_| {}).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_reads_the_group_again_under_the_lock_after_a_prompt() {
    let reads = group_reads_of_a_deploy(|req| {
        req.options.confirm = Some(std::sync::Arc::new(|_plan| Box::pin(async { true })));
    })
    .await;
    assert_eq!(reads, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_plans_again_when_another_deploy_ran_between_its_read_and_its_lock() {
    let sims = Sims::start_sim().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let ctx = sims.ctx("alice");
    // Bob's deploy of v2 runs while alice's prompt is open (her plan was v1 -> v3).
    let bob = std::sync::Arc::new(sims.ctx("bob"));
    let bobs_target = target.clone();
    let mut req = request(&target, "v3");
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = asked.clone();
    req.options.confirm = Some(std::sync::Arc::new(move |_plan| {
        let bob = bob.clone();
        let target = bobs_target.clone();
        let first = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
        Box::pin(async move {
            if first {
                deploy(&bob, request(&target, "v2"), &Recorder::new().1)
                    .await
                    .expect("bob's deploy");
            }
            true
        })
    }));
    let report = deploy(&ctx, req, &Recorder::new().1)
        .await
        .expect("alice's deploy");
    // Her plan was rebuilt under the lock: v2 (bob's) is what she replaced and recorded.
    match report.outcome {
        DeployOutcome::Deployed { previous, .. } => {
            assert_eq!(previous.map(|t| t.to_string()).as_deref(), Some("v2"));
        }
        other => panic!("expected deployed, got {other:?}"),
    }
    assert_eq!(
        report.plan.current.map(|t| t.to_string()).as_deref(),
        Some("v2")
    );
    assert_eq!(sims.kv(&target.previous_key()).await.as_deref(), Some("v2"));
    assert_eq!(sims.kv(&target.current_key()).await.as_deref(), Some("v3"));
    // v2 -> v3 is not the v1 -> v3 she confirmed: she was asked again, under the lock.
    assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_deploy_of_an_app_env_lists_each_prefix_once_to_create_its_counters() {
    let sims = Sims::start_sim().await;
    let target = app_env("shop");
    // As a Go-tool app/env: `current` only, no history, no counters.
    sims.seed(&target, "v1").await;
    sims.consul_control().clear_requests();
    let report = deploy(
        &sims.ctx("alice"),
        request(&target, "v2"),
        &Recorder::new().1,
    )
    .await
    .expect("deploy");
    assert!(matches!(report.outcome, DeployOutcome::Deployed { .. }));
    let listings = |prefix: &str| {
        sims.consul_control()
            .requests()
            .iter()
            .filter(|r| r.path_and_query.contains("keys") && r.path_and_query.contains(prefix))
            .count()
    };
    // `events/` by the start's audit event, `history/` by the release: once each.
    assert_eq!(listings("/events/"), 1);
    assert_eq!(listings("/history/"), 1);
    assert_eq!(
        sims.kv(&target.history_counter_key()).await.as_deref(),
        Some("1")
    );
    assert_eq!(
        sims.kv(&target.events_counter_key()).await.as_deref(),
        Some("2")
    );
}
