//! `scale`: instances of app types in one deployment, watched, audited.

mod protocol_common;

use duncan_core::deploy::DeployError;
use duncan_core::scale::{ScaleRequest, scale};
use protocol_common::{Recorder, Sims, app_env, app_id, image, quick_watch};

fn app_instances(group: &serde_json::Value, id: &str) -> u64 {
    group["apps"]
        .as_array()
        .and_then(|apps| apps.iter().find(|a| a["id"] == id))
        .and_then(|a| a["instances"].as_u64())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_changes_instances_of_named_types_in_one_deployment() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let ctx = sims.ctx("alice");
    let before = sims.marathon.control().deployment_history().len();
    let mut request = ScaleRequest::new(
        target.clone(),
        vec![("web".to_owned(), 4), ("worker".to_owned(), 0)],
    );
    request.watch = quick_watch();

    let report = scale(&ctx, &request, &Recorder::new().1)
        .await
        .expect("scaled");

    assert_eq!(report.changes.len(), 2);
    assert!(report.deployment_id.is_some());
    assert_eq!(
        sims.marathon.control().deployment_history().len(),
        before + 1,
        "one deployment"
    );
    let group = serde_json::to_value(
        ctx.marathon
            .group(target.group_id().as_str(), &[])
            .await
            .expect("group"),
    )
    .expect("json");
    assert_eq!(app_instances(&group, &app_id(&target, "web")), 4);
    assert_eq!(app_instances(&group, &app_id(&target, "worker")), 0);
    assert_eq!(app_instances(&group, &app_id(&target, "redis")), 1);
    let event = sims.events(&target).await.pop().expect("audit event");
    assert_eq!(event["kind"], "scale");
    let message = event["message"].as_str().unwrap_or_default();
    assert!(message.contains("web 2 => 4"), "{message}");
    assert!(!sims.lock_held(&target).await);
    assert!(
        sims.kv(&target.current_key()).await.is_none(),
        "tags untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_of_an_unknown_type_names_the_types_that_exist() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let ctx = sims.ctx("alice");
    sims.marathon.control().clear_requests();

    let error = scale(
        &ctx,
        &ScaleRequest::new(target.clone(), vec![("cron".to_owned(), 2)]),
        &Recorder::new().1,
    )
    .await
    .expect_err("unknown type");

    assert!(
        matches!(error, DeployError::UnknownAppType { .. }),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "group {} has no app type cron (types: redis, web, worker)",
            target.group_id()
        )
    );
    assert!(sims.marathon_writes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_to_the_current_count_changes_nothing() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let ctx = sims.ctx("alice");
    sims.marathon.control().clear_requests();

    let report = scale(
        &ctx,
        &ScaleRequest::new(target, vec![("web".to_owned(), 2)]),
        &Recorder::new().1,
    )
    .await
    .expect("no-op");

    assert!(report.changes.is_empty());
    assert!(report.deployment_id.is_none());
    assert!(sims.marathon_writes().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_that_never_becomes_healthy_is_reverted_by_marathon() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    // From now on, new tasks of the running image never pass their health checks.
    sims.marathon.control().set_rule(
        &image(&target, "v1"),
        marathon_sim::TaskOutcome::NeverHealthy,
    );
    let ctx = sims.ctx("alice");
    let mut request = ScaleRequest::new(target.clone(), vec![("web".to_owned(), 4)]);
    request.watch = quick_watch();
    request.watch.stall_window = Some(std::time::Duration::from_millis(800));

    let error = scale(&ctx, &request, &Recorder::new().1)
        .await
        .expect_err("stalls");

    assert_eq!(error.exit_code(), 4, "{error}");
    sims.wait_idle().await;
    let group = serde_json::to_value(
        ctx.marathon
            .group(target.group_id().as_str(), &[])
            .await
            .expect("group"),
    )
    .expect("json");
    assert_eq!(
        app_instances(&group, &app_id(&target, "web")),
        2,
        "reverted"
    );
    let event = sims.events(&target).await.pop().expect("audit event");
    assert_eq!(event["kind"], "scale");
    assert!(
        event["message"]
            .as_str()
            .unwrap_or_default()
            .contains("failed"),
        "{event}"
    );
    assert!(!sims.lock_held(&target).await);
}
