//! Who holds our apps, read from the apps' own `deployments` arrays (and the fallback).

use super::*;

#[tokio::test]
async fn our_id_listed_on_the_app_means_running_though_the_app_looks_done() {
    let fake = FakeMarathon::default();
    fake.set_deployments(vec![deployment("ours")]);
    fake.set_app(app(V2, "acme/shop:v2", &[true, true], 0));
    let options = WatchOptions {
        deadline: Some(Duration::from_millis(200)),
        ..quick()
    };
    let report = polling(options, fake.clone(), target()).await;
    assert!(matches!(report.outcome, WatchOutcome::TimedOut { .. }));
    assert_eq!(fake.deployment_reads(), 0, "the app's array said it all");
}

#[tokio::test]
async fn our_id_gone_from_the_app_with_the_app_done_is_success_without_the_deployments_list() {
    let fake = FakeMarathon::default();
    fake.set_deployments(vec![deployment("ours")]);
    fake.set_app(app(V2, "acme/shop:v2", &[true], 1));
    let driver = {
        let fake = fake.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(60)).await;
            end_deployment(&fake);
        }
    };
    let (report, ()) = tokio::join!(polling(quick(), fake.clone(), target()), driver);
    assert_eq!(report.outcome, WatchOutcome::Succeeded);
    assert_eq!(fake.deployment_reads(), 0);
}

#[tokio::test]
async fn another_deployment_listed_on_our_app_once_ours_is_gone_supersedes_it() {
    let fake = FakeMarathon::default();
    fake.set_deployments(vec![deployment("ours")]);
    fake.set_app(app(V2, "acme/shop:v2", &[false], 2));
    let driver = {
        let fake = fake.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(60)).await;
            // A forced update took the app over: ours is gone, theirs holds the app.
            fake.set_app(app("2017-03-03T10:00:00.000Z", "acme/shop:v9", &[], 2));
            fake.set_deployments(vec![deployment("theirs")]);
        }
    };
    let (report, ()) = tokio::join!(polling(quick(), fake.clone(), target()), driver);
    assert_eq!(
        report.outcome,
        WatchOutcome::Superseded {
            by: vec!["theirs".into()]
        }
    );
    assert_eq!(fake.deployment_reads(), 0);
}

#[tokio::test]
async fn app_answers_without_deployments_fall_back_to_the_deployments_list() {
    let fake = FakeMarathon::default();
    fake.set_legacy(true);
    fake.set_deployments(vec![deployment("ours")]);
    fake.set_app(app(V2, "acme/shop:v2", &[true, true], 0));
    let driver = {
        let fake = fake.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(60)).await;
            fake.set_deployments(vec![]);
        }
    };
    let (report, ()) = tokio::join!(polling(quick(), fake.clone(), target()), driver);
    assert_eq!(report.outcome, WatchOutcome::Succeeded);
    assert!(fake.deployment_reads() >= 2, "ours was listed, then gone");
}

#[tokio::test]
async fn deployment_ended_before_the_first_read_is_success_once_the_apps_run_its_version() {
    let fake = FakeMarathon::default();
    // Never listed: it ended before the watch first looked.
    fake.set_app(app(V2, "acme/shop:v2", &[true, true], 0));
    let options = WatchOptions {
        // Shorter than the grace for a deployment never listed: only the apps can prove it.
        deadline: Some(Duration::from_secs(1)),
        ..quick()
    };
    let report = polling(options, fake.clone(), target()).await;
    assert_eq!(report.outcome, WatchOutcome::Succeeded);
}

#[tokio::test]
async fn rollback_ended_before_the_first_read_is_success_once_the_apps_run_the_old_image() {
    let fake = FakeMarathon::default();
    // A rollback gives the apps their old versions back: its target names only the images.
    fake.set_app(app(V2, "acme/shop:v2", &[true, true], 0));
    let target = WatchTarget {
        version: None,
        ..target()
    };
    let options = WatchOptions {
        // Shorter than the grace for a deployment never listed, as `--timeout 2s` gives the
        // rollback: only the apps can prove it.
        deadline: Some(Duration::from_secs(1)),
        ..quick()
    };
    let report = polling(options, fake.clone(), target).await;
    assert_eq!(report.outcome, WatchOutcome::Succeeded);
}

#[tokio::test]
async fn target_without_version_or_images_never_listed_waits_out_the_grace_before_judging() {
    let fake = FakeMarathon::default();
    fake.set_app(app(V2, "acme/shop:v2", &[true, true], 0));
    let mut target = WatchTarget {
        version: None,
        ..target()
    };
    for app in &mut target.apps {
        app.image = None;
    }
    let options = WatchOptions {
        deadline: Some(Duration::from_secs(1)),
        ..quick()
    };
    let report = polling(options, fake.clone(), target).await;
    assert!(
        matches!(report.outcome, WatchOutcome::TimedOut { .. }),
        "without a version or an image to prove the change, absence alone is not an ending yet"
    );
}
