//! The deploy protocol end to end against consul-sim and marathon-sim: the happy path, no-ops,
//! refusals before anything changes, and what is recorded.

mod protocol_common;

use std::sync::Arc;

use duncan_core::deploy::{DeployError, DeployOutcome, StaticImageCheck, deploy};
use duncan_core::progress::Progress;
use duncan_core::release::Outcome;
use duncan_core::settings::{NotifierConfig, WebhookUrl};
use protocol_common::{Recorder, Sims, app_env, app_id, image, request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_deploy_moves_tags_records_history_and_audit_and_frees_the_lock() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let ctx = sims.ctx("alice");
    // A first deploy makes v2 current; the second one (v3) is the one checked.
    deploy(&ctx, request(&target, "v2"), &Recorder::new().1)
        .await
        .expect("first deploy");
    let (recorder, sink) = Recorder::new();

    let report = deploy(&ctx, request(&target, "v3"), &sink)
        .await
        .expect("deploy succeeds");

    let DeployOutcome::Deployed {
        deployment_id,
        previous,
    } = &report.outcome
    else {
        panic!("not deployed: {:?}", report.outcome);
    };
    assert_eq!(previous.as_ref().map(|t| t.as_str()), Some("v2"));
    assert_eq!(report.plan.changes.len(), 2, "web and worker, not redis");
    assert_eq!(
        sims.image(&app_id(&target, "web")).as_deref(),
        Some(&*image(&target, "v3"))
    );
    assert_eq!(
        sims.image(&app_id(&target, "redis")).as_deref(),
        Some("redis:3.2")
    );
    assert_eq!(sims.kv(&target.current_key()).await.as_deref(), Some("v3"));
    assert_eq!(sims.kv(&target.previous_key()).await.as_deref(), Some("v2"));

    let history = sims.history(&target).await;
    let last = history.last().expect("a history record");
    assert_eq!(last.tag.as_str(), "v3");
    assert_eq!(last.previous.as_ref().map(|t| t.as_str()), Some("v2"));
    assert_eq!(last.outcome, Outcome::Succeeded);
    assert_eq!(last.deployment_id.as_deref(), Some(deployment_id.as_str()));
    assert_eq!(last.deployer.to_string(), "alice@test");
    assert!(last.image_digests.contains_key(&image(&target, "v3")));
    let events = sims.events(&target).await;
    let kinds: Vec<_> = events.iter().map(|e| e["kind"].clone()).collect();
    assert_eq!(
        kinds,
        [
            "deploy_started",
            "deploy_succeeded",
            "deploy_started",
            "deploy_succeeded"
        ]
    );
    let event = events.last().expect("an audit event");
    assert_eq!(event["tag"], "v3");

    assert!(!sims.lock_held(&target).await, "lock released");
    assert_eq!(sims.session_count(&target).await, 0, "session destroyed");
    assert!(recorder.saw(|p| matches!(p, Progress::ConfirmingOverRest)));
    assert!(recorder.saw(|p| matches!(p, Progress::LockAcquired)));
    assert!(recorder.saw(|p| matches!(
        p,
        Progress::AppHealth { app, healthy: 2, target: 2 } if *app == app_id(&target, "web")
    )));
    // Our own success transaction unlocks the key; that must not be reported as a lost lock.
    // The loss monitor is asynchronous, so give a wrongly reported loss time to arrive.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !recorder.saw(|p| matches!(p, Progress::LockLost { .. })),
        "a successful deploy reported its lock as lost: {:?}",
        recorder.seen()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeploying_the_running_tag_is_a_noop_that_touches_nothing() {
    let sims = Sims::start_sim().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    // Consul records the tag the group runs (else the deploy adopts it).
    sims.consul_client()
        .kv()
        .put(
            &target.current_key(),
            b"v1",
            &consul_client::PutOptions::new(),
        )
        .await
        .expect("put current");
    let ctx = sims.ctx("alice");
    sims.marathon.control().clear_requests();
    sims.consul_control().clear_requests();
    let kv_before = sims.consul_control().kv_snapshot();

    let report = deploy(&ctx, request(&target, "v1"), &Recorder::new().1)
        .await
        .expect("no-op");

    assert_eq!(report.outcome, DeployOutcome::NoOp);
    assert!(
        sims.marathon_writes().is_empty(),
        "{:?}",
        sims.marathon_writes()
    );
    assert_consul_only_read(&sims, &kv_before);
}

/// Consul saw at most the one transaction sent beside the group read (tags + ACL probe, which
/// leaves nothing behind), and holds exactly what it held before.
fn assert_consul_only_read(sims: &Sims, kv_before: &std::collections::BTreeMap<String, Vec<u8>>) {
    let sent: Vec<String> = sims
        .consul_control()
        .requests()
        .into_iter()
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect();
    assert!(
        sent.iter().all(|r| r == "PUT /v1/txn") && sent.len() <= 1,
        "{sent:?}"
    );
    assert_eq!(
        &sims.consul_control().kv_snapshot(),
        kv_before,
        "Consul unchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_shows_the_plan_and_changes_nothing() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let ctx = sims.ctx("alice");
    let mut req = request(&target, "v2");
    req.options.dry_run = true;
    req.options.marathon_steps = true;
    sims.marathon.control().clear_requests();
    let (recorder, sink) = Recorder::new();

    let report = deploy(&ctx, req, &sink).await.expect("dry run");

    assert_eq!(report.outcome, DeployOutcome::DryRun);
    assert!(report.plan.digest.is_some());
    assert!(report.plan.marathon_steps.is_some());
    assert!(recorder.saw(|p| matches!(p, Progress::PlanReady(_))));
    let writes: Vec<_> = sims
        .marathon_writes()
        .into_iter()
        .filter(|w| !w.contains("dryRun=true"))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert!(sims.kv(&target.current_key()).await.is_none());
    assert_eq!(
        sims.image(&app_id(&target, "web")).as_deref(),
        Some(&*image(&target, "v1"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declined_confirmation_changes_nothing() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let ctx = sims.ctx("alice");
    let mut req = request(&target, "v2");
    req.options.confirm = Some(Arc::new(|plan| {
        Box::pin(async move { plan.changes.is_empty() })
    }));
    sims.marathon.control().clear_requests();

    let report = deploy(&ctx, req, &Recorder::new().1)
        .await
        .expect("declined");

    assert_eq!(report.outcome, DeployOutcome::Declined);
    assert!(sims.marathon_writes().is_empty());
    assert!(!sims.lock_held(&target).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_image_is_refused_before_the_lock_and_marathon() {
    let sims = Sims::start_sim().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let images = StaticImageCheck::new().with_image(image(&target, "v2"), "sha256:aa");
    let ctx = sims.ctx_with_images("alice", Arc::new(images));
    sims.marathon.control().clear_requests();
    sims.consul_control().clear_requests();
    let kv_before = sims.consul_control().kv_snapshot();

    let error = deploy(&ctx, request(&target, "v2-typo"), &Recorder::new().1)
        .await
        .expect_err("refused");

    assert!(matches!(error, DeployError::ImageMissing { .. }), "{error}");
    assert_eq!(error.exit_code(), 1);
    assert!(
        error.to_string().contains(&image(&target, "v2-typo")),
        "{error}"
    );
    assert!(sims.marathon_writes().is_empty());
    assert_consul_only_read(&sims, &kv_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_registry_is_refused_with_a_hint_unless_skipped_which_is_recorded() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let ctx = sims.ctx_with_images("alice", Arc::new(StaticImageCheck::new().unreachable()));

    let error = deploy(&ctx, request(&target, "v2"), &Recorder::new().1)
        .await
        .expect_err("refused");
    assert!(
        matches!(error, DeployError::ImageUnverifiable { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("--skip-image-check"), "{error}");
    assert!(sims.kv(&target.current_key()).await.is_none());

    let mut req = request(&target, "v2");
    req.options.skip_image_check = true;
    deploy(&ctx, req, &Recorder::new().1)
        .await
        .expect("skipped check deploys");
    let history = sims.history(&target).await;
    assert!(history.last().expect("record").image_check_skipped);
    let events = sims.events(&target).await;
    let message = events.last().expect("event")["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("skipped"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_app_on_the_repository_names_the_images_found() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let mut ctx = sims.ctx("alice");
    ctx.settings.docker_repo_prefix = "elsewhere.test/other".to_owned();

    let error = deploy(&ctx, request(&target, "v2"), &Recorder::new().1)
        .await
        .expect_err("no app matches");

    let text = error.to_string();
    assert!(text.contains("elsewhere.test/other/shop"), "{text}");
    assert!(text.contains("redis:3.2"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_group_is_a_clear_error() {
    let sims = Sims::start().await;
    let ctx = sims.ctx("alice");
    let target = app_env("ghost");
    let error = deploy(&ctx, request(&target, "v1"), &Recorder::new().1)
        .await
        .expect_err("no group");
    assert!(
        matches!(error, DeployError::GroupNotFound { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains(target.group_id().as_str()),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_outside_the_allowed_list_is_refused() {
    let sims = Sims::start().await;
    let ctx = sims.ctx("alice");
    let target = duncan_core::names::AppEnv::parse("shop", "qa").expect("names");
    let error = deploy(&ctx, request(&target, "v1"), &Recorder::new().1)
        .await
        .expect_err("qa not allowed");
    assert!(error.to_string().contains("qa"), "{error}");
    assert!(sims.marathon_writes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_notifier_is_a_warning_in_the_report_without_its_url() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let mut ctx = sims.ctx("alice");
    // A port nothing listens on; the path stands for the secret part of a webhook URL.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://{}/hooks/T000/SECRET-PART",
        dead.local_addr().expect("addr")
    );
    drop(dead);
    ctx.settings.notifiers = vec![NotifierConfig::Slack {
        name: "team-slack".to_owned(),
        url: WebhookUrl::new(url),
    }];

    let report = deploy(&ctx, request(&target, "v2"), &Recorder::new().1)
        .await
        .expect("the deploy succeeds anyway");

    assert!(matches!(report.outcome, DeployOutcome::Deployed { .. }));
    assert!(
        report.warnings.iter().any(|w| w.contains("team-slack")),
        "{:?}",
        report.warnings
    );
    assert!(
        report.warnings.iter().all(|w| !w.contains("SECRET-PART")),
        "{:?}",
        report.warnings
    );
    assert_eq!(sims.kv(&target.current_key()).await.as_deref(), Some("v2"));
}
