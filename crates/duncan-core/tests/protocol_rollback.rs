//! `rollback`: the deploy protocol with `previous` or a tag from history.

mod protocol_common;

use duncan_core::deploy::{DeployError, DeployOutcome, RollbackTarget, deploy, rollback};
use duncan_core::release::{Outcome, ReleaseKind};
use protocol_common::{Recorder, Sims, app_env, app_id, image, quick_options, request, tag};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_to_previous_swaps_the_tags_and_is_recorded_as_a_rollback() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let ctx = sims.ctx("alice");
    for t in ["v2", "v3"] {
        deploy(&ctx, request(&target, t), &Recorder::new().1)
            .await
            .expect("deploy");
    }

    let report = rollback(
        &ctx,
        &target,
        RollbackTarget::Previous,
        quick_options(),
        &Recorder::new().1,
    )
    .await
    .expect("rollback");

    assert!(matches!(report.outcome, DeployOutcome::Deployed { .. }));
    assert_eq!(report.plan.tag.as_str(), "v2");
    assert_eq!(
        sims.image(&app_id(&target, "web")).as_deref(),
        Some(&*image(&target, "v2"))
    );
    assert_eq!(sims.kv(&target.current_key()).await.as_deref(), Some("v2"));
    assert_eq!(sims.kv(&target.previous_key()).await.as_deref(), Some("v3"));
    let last = sims.history(&target).await.pop().expect("history");
    assert_eq!(last.kind, ReleaseKind::Rollback);
    assert_eq!(last.outcome, Outcome::Succeeded);
    assert_eq!(
        sims.events(&target).await.last().expect("event")["kind"],
        "rollback"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_to_an_older_tag_from_history() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let ctx = sims.ctx("alice");
    for t in ["v2", "v3", "v4"] {
        deploy(&ctx, request(&target, t), &Recorder::new().1)
            .await
            .expect("deploy");
    }

    rollback(
        &ctx,
        &target,
        RollbackTarget::Tag(tag("v2")),
        quick_options(),
        &Recorder::new().1,
    )
    .await
    .expect("rollback to v2");

    assert_eq!(
        sims.image(&app_id(&target, "worker")).as_deref(),
        Some(&*image(&target, "v2"))
    );
    assert_eq!(sims.kv(&target.current_key()).await.as_deref(), Some("v2"));
    assert_eq!(sims.kv(&target.previous_key()).await.as_deref(), Some("v4"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_to_a_tag_never_deployed_is_refused_naming_recent_ones() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let ctx = sims.ctx("alice");
    deploy(&ctx, request(&target, "v2"), &Recorder::new().1)
        .await
        .expect("deploy");
    sims.marathon.control().clear_requests();

    let error = rollback(
        &ctx,
        &target,
        RollbackTarget::Tag(tag("v9")),
        quick_options(),
        &Recorder::new().1,
    )
    .await
    .expect_err("never deployed");

    assert!(
        matches!(error, DeployError::NoRollbackTarget { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("v9"), "{error}");
    assert!(sims.marathon_writes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_without_previous_is_refused() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let ctx = sims.ctx("alice");

    let error = rollback(
        &ctx,
        &target,
        RollbackTarget::Previous,
        quick_options(),
        &Recorder::new().1,
    )
    .await
    .expect_err("nothing to go back to");

    assert!(
        matches!(error, DeployError::NoRollbackTarget { .. }),
        "{error}"
    );
}
