//! The deploy protocol when things go wrong: unhealthy images, someone else's forced deploy, a
//! dropped event stream, an expired session, Consul failing at the start or at the end, a held
//! lock, a refused ACL, locked apps, and a deploy future dropped half-way.

mod protocol_common;

use std::sync::Arc;
use std::time::Duration;

use consul_sim::{Access, Rule};
use duncan_core::deploy::{DeployError, DeployOutcome, deploy};
use duncan_core::progress::Progress;
use duncan_core::release::Outcome;
use duncan_testkit::wait;
use marathon_sim::TaskOutcome;
use protocol_common::{Recorder, Sims, app_env, app_id, image, request, seed_group};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_healthy_image_stalls_rolls_back_and_leaves_tags_unchanged() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    sims.marathon
        .control()
        .set_rule(&image(&target, "bad"), TaskOutcome::NeverHealthy);
    let ctx = sims.ctx("alice");
    deploy(&ctx, request(&target, "v2"), &Recorder::new().1)
        .await
        .expect("v2 deploys");
    let mut req = request(&target, "bad");
    req.options.watch.stall_window = Some(Duration::from_millis(800));
    let (recorder, sink) = Recorder::new();

    let error = deploy(&ctx, req, &sink).await.expect_err("never healthy");

    assert!(
        matches!(error, DeployError::FailedRolledBack { .. }),
        "{error}"
    );
    assert_eq!(error.exit_code(), 4);
    assert!(error.to_string().contains("stalled"), "{error}");
    assert!(recorder.saw(|p| matches!(p, Progress::RollbackStarted { .. })));
    assert!(recorder.saw(|p| matches!(p, Progress::RollbackFinished)));
    for app in [app_id(&target, "web"), app_id(&target, "worker")] {
        assert_eq!(
            sims.image(&app).as_deref(),
            Some(&*image(&target, "v2")),
            "{app} back on the old image"
        );
    }
    assert_eq!(sims.kv(&target.current_key()).await.as_deref(), Some("v2"));
    let last = sims.history(&target).await.pop().expect("history");
    assert_eq!(last.tag.as_str(), "bad");
    assert_eq!(last.outcome, Outcome::RolledBack);
    assert_eq!(
        sims.events(&target).await.last().expect("event")["kind"],
        "deploy_rolled_back"
    );
    assert!(!sims.lock_held(&target).await);
    assert_eq!(sims.session_count(&target).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_without_rollback_leaves_the_deployment_and_says_so() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    sims.marathon
        .control()
        .set_rule(&image(&target, "bad"), TaskOutcome::NeverHealthy);
    let ctx = sims.ctx("alice");
    let mut req = request(&target, "bad");
    req.options.watch.deadline = Some(Duration::from_millis(600));
    req.options.no_rollback = true;

    let error = deploy(&ctx, req, &Recorder::new().1)
        .await
        .expect_err("timed out");

    assert_eq!(error.exit_code(), 5, "{error}");
    assert!(error.to_string().contains("timed out"), "{error}");
    assert!(error.to_string().contains("--no-rollback"), "{error}");
    assert!(
        sims.kv(&target.current_key()).await.is_none(),
        "tags untouched"
    );
    assert_eq!(
        sims.history(&target).await.pop().expect("history").outcome,
        Outcome::TimedOut
    );
    assert!(!sims.lock_held(&target).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forced_deploy_by_someone_else_is_reported_as_superseded() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    sims.marathon.control().set_rule(
        &image(&target, "slow"),
        TaskOutcome::Slow(Duration::from_secs(30)),
    );
    let ctx = sims.ctx("alice");
    let other = sims.marathon_client();
    let control = sims.marathon.control();
    let theirs = seed_group(&target, "theirs");
    let (recorder, sink) = Recorder::with_hook(move |p| {
        if let Progress::DeploymentStarted { .. } = p {
            let other = other.clone();
            let control = control.clone();
            let group: marathon_client::Group =
                serde_json::from_value(theirs.clone()).expect("group");
            tokio::spawn(async move {
                // Forced once the watch listens to Marathon's events.
                wait::until_sync(|| control.event_stream_count() > 0).await;
                other
                    .update_group(
                        &group,
                        marathon_client::GroupUpdateOptions::new().with_force(true),
                    )
                    .await
                    .expect("forced update");
            });
        }
    });

    let error = deploy(&ctx, request(&target, "slow"), &sink)
        .await
        .expect_err("superseded");

    match &error {
        DeployError::FailedNotRolledBack {
            outcome,
            superseded_by,
            ..
        } => {
            assert_eq!(*outcome, Outcome::Superseded);
            assert!(!superseded_by.is_empty(), "names the other deployment");
        }
        other => panic!("not superseded: {other}"),
    }
    assert!(error.to_string().contains("superseded"), "{error}");
    assert!(!recorder.saw(|p| matches!(p, Progress::RollbackStarted { .. })));
    assert!(sims.kv(&target.current_key()).await.is_none());
    assert_eq!(
        sims.history(&target).await.pop().expect("history").outcome,
        Outcome::Superseded
    );
    sims.wait_idle().await;
    assert_eq!(
        sims.image(&app_id(&target, "web")).as_deref(),
        Some(&*image(&target, "theirs")),
        "their deployment was left alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_event_stream_mid_deploy_still_detects_success() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    sims.marathon.control().set_rule(
        &image(&target, "v2"),
        TaskOutcome::Slow(Duration::from_millis(400)),
    );
    let ctx = sims.ctx("alice");
    let control = sims.marathon.control();
    let (recorder, sink) = Recorder::with_hook(move |p| {
        if let Progress::DeploymentStarted { .. } = p {
            let control = control.clone();
            tokio::spawn(async move {
                // Dropped once the watch has a stream to lose.
                wait::until_sync(|| control.event_stream_count() > 0).await;
                control.drop_event_streams();
            });
        }
    });
    let mut req = request(&target, "v2");
    // Only the reconnect's re-sync or the events can end the watch in time, not a periodic read.
    req.options.watch.resync_interval = Duration::from_secs(30);

    let report = deploy(&ctx, req, &sink).await.expect("deploys");

    assert!(matches!(report.outcome, DeployOutcome::Deployed { .. }));
    assert!(recorder.saw(|p| matches!(p, Progress::StreamReconnected)));
    assert_eq!(sims.kv(&target.current_key()).await.as_deref(), Some("v2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_expiry_mid_deploy_blocks_the_fenced_write_and_says_what_to_do() {
    let sims = Sims::start_sim().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    sims.marathon.control().set_rule(
        &image(&target, "v2"),
        TaskOutcome::Slow(Duration::from_millis(300)),
    );
    let ctx = sims.ctx("alice");
    let consul = sims.consul_control();
    let (recorder, sink) = Recorder::with_hook(move |p| {
        if let Progress::DeploymentStarted { .. } = p {
            // Far past the session's TTL: it expires, the lock is freed.
            consul.advance_clock(Duration::from_secs(300));
        }
    });

    let error = deploy(&ctx, request(&target, "v2"), &sink)
        .await
        .expect_err("fencing refuses");

    assert!(
        matches!(error, DeployError::ReleaseNotRecorded { .. }),
        "{error}"
    );
    let text = error.to_string();
    assert!(text.contains("lock"), "{text}");
    assert!(
        text.contains(&format!("consul kv put {} v2", target.current_key())),
        "{text}"
    );
    assert!(
        sims.kv(&target.current_key()).await.is_none(),
        "nothing written"
    );
    assert!(recorder.saw(|p| matches!(p, Progress::LockLost { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_unavailable_at_the_start_leaves_marathon_untouched() {
    let sims = Sims::start_sim().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let ctx = sims.ctx("alice");
    sims.marathon.control().clear_requests();
    sims.consul_control().fail_next(1000, 500);

    let error = deploy(&ctx, request(&target, "v2"), &Recorder::new().1)
        .await
        .expect_err("Consul down");

    assert!(matches!(error, DeployError::Consul { .. }), "{error}");
    assert_eq!(error.exit_code(), 1);
    assert!(
        sims.marathon_writes().is_empty(),
        "{:?}",
        sims.marathon_writes()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_failing_at_the_final_transaction_is_retried_then_names_the_exact_state() {
    let sims = Sims::start_sim().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let ctx = sims.ctx("alice");
    deploy(&ctx, request(&target, "v2"), &Recorder::new().1)
        .await
        .expect("v2");
    let consul = sims.consul_control();
    let (_recorder, sink) = Recorder::with_hook(move |p| {
        if let Progress::RecordingRelease = p {
            consul.fail_next(1000, 500);
        }
    });

    let error = deploy(&ctx, request(&target, "v3"), &sink)
        .await
        .expect_err("not recorded");
    sims.consul_control().fail_next(0, 500);

    assert!(
        matches!(error, DeployError::ReleaseNotRecorded { .. }),
        "{error}"
    );
    let text = error.to_string();
    assert!(text.contains("after 3 attempts"), "{text}");
    assert!(text.contains("runs v3"), "{text}");
    assert!(text.contains("still says v2"), "{text}");
    assert!(
        text.contains(&format!("consul kv put {} v3", target.current_key())),
        "{text}"
    );
    assert_eq!(
        sims.image(&app_id(&target, "web")).as_deref(),
        Some(&*image(&target, "v3")),
        "the deploy itself is not undone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lock_names_its_holder_and_exits_3() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    sims.marathon.control().set_rule(
        &image(&target, "v2"),
        TaskOutcome::Slow(Duration::from_millis(500)),
    );
    let alice = sims.ctx("alice");
    let bob = sims.ctx("bob");
    let started = Arc::new(tokio::sync::Notify::new());
    let notify = Arc::clone(&started);
    let (_r, sink) = Recorder::with_hook(move |p| {
        if let Progress::DeploymentStarted { .. } = p {
            notify.notify_one();
        }
    });
    let req = request(&target, "v2");
    let alice_deploy = deploy(&alice, req, &sink);
    let bob_try = async {
        started.notified().await;
        deploy(&bob, request(&target, "v3"), &Recorder::new().1).await
    };

    let (alice_result, bob_result) = tokio::join!(alice_deploy, bob_try);

    alice_result.expect("alice deploys");
    let error = bob_result.expect_err("bob is refused");
    assert_eq!(error.exit_code(), 3, "{error}");
    let text = error.to_string();
    assert!(text.contains("alice@test"), "{text}");
    assert!(text.contains("v2"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_rights_is_told_before_anything_changes() {
    let consul = consul_sim::ConsulSim::start(
        consul_sim::SimOptions::default()
            .acl_master_token("master-secret")
            .token("reader-secret", vec![Rule::new("deploys/", Access::Read)])
            .token("nobody-secret", vec![Rule::new("deploys/", Access::Deny)]),
    )
    .await
    .expect("consul-sim");
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let mut ctx = sims.ctx("alice");
    ctx.consul = consul_client::Client::new(
        consul_client::Config::new(&consul.url())
            .expect("url")
            .with_token("reader-secret"),
    )
    .expect("client");
    sims.marathon.control().clear_requests();

    let error = deploy(&ctx, request(&target, "v2"), &Recorder::new().1)
        .await
        .expect_err("not allowed");

    assert_eq!(error.exit_code(), 7, "{error}");
    assert!(error.to_string().contains("not allowed"), "{error}");
    assert!(!error.to_string().contains("reader-secret"));

    // A token that may not even read the app/env's keys is told the same.
    ctx.consul = consul_client::Client::new(
        consul_client::Config::new(&consul.url())
            .expect("url")
            .with_token("nobody-secret"),
    )
    .expect("client");
    let error = deploy(&ctx, request(&target, "v2"), &Recorder::new().1)
        .await
        .expect_err("not allowed");
    assert_eq!(error.exit_code(), 7, "{error}");
    assert!(sims.marathon_writes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apps_locked_by_another_deployment_are_refused_unless_forced() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    sims.marathon.control().set_rule(
        &image(&target, "manual"),
        TaskOutcome::Slow(Duration::from_secs(30)),
    );
    // Someone changes the group outside duncan (no lock): a long deployment holds the apps.
    let group: marathon_client::Group =
        serde_json::from_value(seed_group(&target, "manual")).expect("group");
    sims.marathon_client()
        .update_group(&group, marathon_client::GroupUpdateOptions::default())
        .await
        .expect("manual update");
    let ctx = sims.ctx("alice");

    let error = deploy(&ctx, request(&target, "v2"), &Recorder::new().1)
        .await
        .expect_err("apps locked");
    assert!(matches!(error, DeployError::AppsLocked { .. }), "{error}");
    assert!(error.to_string().contains("--force-marathon"), "{error}");
    assert!(!sims.lock_held(&target).await);

    let mut req = request(&target, "v2");
    req.options.force_marathon = true;
    let (recorder, sink) = Recorder::new();
    deploy(&ctx, req, &sink).await.expect("forced deploy");
    assert!(recorder.saw(
        |p| matches!(p, Progress::ForcingMarathon { deployments } if !deployments.is_empty())
    ));
    assert_eq!(sims.kv(&target.current_key()).await.as_deref(), Some("v2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_deploy_future_releases_the_lock_and_session() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    sims.marathon.control().set_rule(
        &image(&target, "v2"),
        TaskOutcome::Slow(Duration::from_secs(30)),
    );
    let ctx = sims.ctx("alice");
    let started = Arc::new(tokio::sync::Notify::new());
    let notify = Arc::clone(&started);
    let (_r, sink) = Recorder::with_hook(move |p| {
        if let Progress::DeploymentStarted { .. } = p {
            notify.notify_one();
        }
    });
    let mut deploying = Box::pin(deploy(&ctx, request(&target, "v2"), &sink));
    tokio::select! {
        result = deploying.as_mut() => panic!("finished: {result:?}"),
        () = started.notified() => {}
    }
    assert!(
        sims.lock_held(&target).await,
        "the lock is held during the deploy"
    );

    // Dropped half-way, as the CLI does on Ctrl-C.
    drop(deploying);

    let freed = wait::until(async || {
        !sims.lock_held(&target).await && sims.session_count(&target).await == 0
    })
    .await;
    assert!(
        freed,
        "lock released and session destroyed after the drop (held: {}, sessions: {})",
        sims.lock_held(&target).await,
        sims.session_count(&target).await
    );
}
