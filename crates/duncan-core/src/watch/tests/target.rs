//! The target of `duncan watch ID`, from the deployment and its apps.

use super::*;
use crate::watch::target::target_of_deployment;

#[tokio::test]
async fn target_of_running_reads_affected_apps_and_version() {
    let fake = FakeMarathon::default();
    fake.set_deployments(vec![deployment("ours")]);
    fake.set_app(app(V2, "acme/shop:v2", &[false], 2));
    let t = target_of_running(&fake, "ours").await.unwrap();
    assert_eq!(t.version.as_deref(), Some(V2));
    assert_eq!(t.apps[0].app_id, "/shop-stage/web");
    assert_eq!(t.apps[0].image.as_deref(), Some("acme/shop:v2"));
    let err = target_of_running(&fake, "nope").await.unwrap_err();
    assert!(err.to_string().contains("nope"));
}

#[tokio::test]
async fn target_of_a_rollback_is_the_old_version_it_restores_not_its_own() {
    let fake = FakeMarathon::default();
    // Marathon's rollback has a new version of its own, but gives the app back its old
    // definition, old version included.
    let v3 = "2017-03-03T10:00:00.000Z";
    fake.set_deployments(vec![json!({"id": "rollback", "version": v3,
        "affectedApps": ["/shop-stage/web"], "currentStep": 1, "totalSteps": 1})]);
    fake.set_app(app(V1, "acme/shop:v1", &[true], 1));
    let t = target_of_running(&fake, "rollback").await.unwrap();
    assert_eq!(t.version.as_deref(), Some(V1));
    assert_eq!(t.apps[0].image.as_deref(), Some("acme/shop:v1"));
}

#[test]
fn target_falls_back_to_the_deployment_version_when_the_app_is_not_ours_alone() {
    let summary = summarize_deployment(&typed(&deployment("ours")));
    let mut shared = app(V1, "acme/shop:v9", &[], 0);
    shared["deployments"] = json!([{"id": "ours"}, {"id": "theirs"}]);
    let mut unlisted = app(V1, "acme/shop:v9", &[], 0);
    unlisted["deployments"] = json!([]);
    let legacy = app(V1, "acme/shop:v9", &[], 0);
    for answer in [Some(shared), Some(unlisted), Some(legacy), None] {
        let t = target_of_deployment(summary.clone(), &[answer.as_ref().map(typed)]);
        assert_eq!(t.version.as_deref(), Some(V2), "{t:?}");
        assert_eq!(t.apps[0].image, None);
    }
}

#[test]
fn target_of_apps_restored_to_different_versions_pins_their_images() {
    let summary = DeploymentSummary {
        affected_apps: vec!["/a".into(), "/b".into()],
        ..summarize_deployment(&typed(&deployment("ours")))
    };
    let held = |id: &str, version: &str, image: &str| {
        let mut a = app(version, image, &[], 0);
        a["id"] = json!(id);
        a["deployments"] = json!([{"id": "ours"}]);
        Some(typed(&a))
    };
    let t = target_of_deployment(
        summary,
        &[held("/a", V1, "acme/a:1"), held("/b", V2, "acme/b:2")],
    );
    assert_eq!(t.version, None);
    let images: Vec<_> = t.apps.iter().map(|a| a.image.as_deref()).collect();
    assert_eq!(images, [Some("acme/a:1"), Some("acme/b:2")]);
}
