//! `status` of app/envs, with drift between Marathon and Consul, and the standalone watch.

mod protocol_common;

use std::time::Duration;

use duncan_core::deploy::deploy;
use duncan_core::status::{Drift, StatusError, status, status_many};
use duncan_core::watch::{WatchOutcome, target_of_running, watch_deployment, watch_running};
use marathon_sim::TaskOutcome;
use protocol_common::{Recorder, Sims, app_env, image, quick_watch, request, seed_group};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_each_app_and_no_drift_after_a_deploy() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let ctx = sims.ctx("alice");
    deploy(&ctx, request(&target, "v2"), &Recorder::new().1)
        .await
        .expect("deploy");

    let s = status(&ctx, &target).await.expect("status");

    assert_eq!(s.drift, Drift::InSync);
    assert_eq!(s.current.as_ref().map(|t| t.as_str()), Some("v2"));
    let web = s.apps.iter().find(|a| a.app_type == "web").expect("web");
    assert_eq!(web.tag.as_deref(), Some("v2"));
    assert_eq!((web.instances, web.running, web.healthy), (2, 2, 2));
    assert_eq!(
        web.vhost.as_deref(),
        Some(&*format!("web.{}.example.com", target.app))
    );
    assert_eq!(web.cpus, Some(0.1));
    assert!(web.version.is_some());
    let redis = s
        .apps
        .iter()
        .find(|a| a.app_type == "redis")
        .expect("redis");
    assert!(!redis.deployed_by_duncan);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_drift_when_marathon_was_changed_behind_consul() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    let ctx = sims.ctx("alice");
    deploy(&ctx, request(&target, "v2"), &Recorder::new().1)
        .await
        .expect("deploy");
    // Someone deploys v5 by hand in Marathon.
    let group: marathon_client::Group =
        serde_json::from_value(seed_group(&target, "v5")).expect("group");
    sims.marathon_client()
        .update_group(&group, marathon_client::GroupUpdateOptions::default())
        .await
        .expect("manual update");
    sims.wait_idle().await;

    let s = status(&ctx, &target).await.expect("status");

    assert_eq!(
        s.drift,
        Drift::Drifted {
            marathon: vec!["v5".to_owned()],
            consul: "v2".parse().expect("tag")
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_of_many_app_envs_keeps_order_and_reports_each_error() {
    let sims = Sims::start().await;
    let shop = app_env("shop");
    let blog = app_env("blog");
    sims.seed(&shop, "v1").await;
    sims.seed(&blog, "b1").await;
    let ctx = sims.ctx("alice");
    let ghost = app_env("ghost");

    let all = status_many(&ctx, &[shop.clone(), ghost.clone(), blog.clone()], 2).await;

    let names: Vec<_> = all.iter().map(|(t, _)| t.clone()).collect();
    assert_eq!(names, [shop, ghost, blog]);
    assert!(matches!(all[0].1, Ok(ref s) if matches!(s.drift, Drift::NotRecorded { .. })));
    assert!(matches!(all[1].1, Err(StatusError::GroupNotFound { .. })));
    assert!(all[2].1.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_watch_follows_a_running_deployment_to_its_end() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    sims.marathon.control().set_rule(
        &image(&target, "v2"),
        TaskOutcome::Slow(Duration::from_millis(200)),
    );
    let client = sims.marathon_client();
    let group: marathon_client::Group =
        serde_json::from_value(seed_group(&target, "v2")).expect("group");
    let started = client
        .update_group(&group, marathon_client::GroupUpdateOptions::default())
        .await
        .expect("update");

    let watch_target = target_of_running(&client, &started.deployment_id)
        .await
        .expect("running");
    let (recorder, sink) = Recorder::new();
    let report = watch_deployment::<_, duncan_core::deploy::SignalStream>(
        &client,
        None,
        &watch_target,
        &quick_watch(),
        &Default::default(),
        &sink,
    )
    .await;

    assert_eq!(report.outcome, WatchOutcome::Succeeded);
    assert!(report.apps.iter().all(|a| a.is_done()));
    assert!(recorder.saw(|p| matches!(p, duncan_core::progress::Progress::FallingBackToPolling)));
    assert!(
        target_of_running(&client, &started.deployment_id)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_by_id_uses_the_event_stream_and_refuses_unknown_ids() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v1").await;
    sims.marathon.control().set_rule(
        &image(&target, "v2"),
        TaskOutcome::Slow(Duration::from_millis(200)),
    );
    let client = sims.marathon_client();
    let group: marathon_client::Group =
        serde_json::from_value(seed_group(&target, "v2")).expect("group");
    let started = client
        .update_group(&group, marathon_client::GroupUpdateOptions::default())
        .await
        .expect("update");
    let (recorder, sink) = Recorder::new();

    let report = watch_running(
        &client,
        &started.deployment_id,
        &quick_watch(),
        &Default::default(),
        &sink,
    )
    .await
    .expect("running");

    assert_eq!(report.outcome, WatchOutcome::Succeeded);
    assert!(recorder.saw(|p| matches!(p, duncan_core::progress::Progress::ConfirmingOverRest)));
    let error = watch_running(
        &client,
        "no-such-id",
        &quick_watch(),
        &Default::default(),
        &sink,
    )
    .await
    .expect_err("unknown id");
    assert!(error.to_string().contains("no-such-id"), "{error}");
}
