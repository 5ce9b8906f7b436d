//! The deploy plan: which Marathon apps of the group `/{app}-{env}` run the application's image,
//! which image each of them moves to, and the lossless group update that does it.
//!
//! The functions here are pure: they take the group exactly as Marathon returned it (as JSON) and
//! never talk to a server, so the selection rules can be tested on real responses.
//!
//! An app is *selected* when its Docker image is `{docker_repo_prefix}/{app}:{any tag}`. The
//! update body is the group as fetched with only those image strings changed: every field duncan
//! does not know is sent back as it came, and the group-level `version` is removed, because a
//! group update that carries a `version` asks Marathon to revert the group to that version.
//!
//! ```
//! use duncan_core::names::{AppEnv, Tag};
//! use duncan_core::plan::build_plan;
//!
//! let group = serde_json::json!({
//!     "id": "/shop-stage",
//!     "version": "2017-01-01T00:00:00.000Z",
//!     "apps": [
//!         {"id": "/shop-stage/web", "instances": 2,
//!          "container": {"docker": {"image": "quay.io/acme/shop:v1"}}},
//!         {"id": "/shop-stage/redis",
//!          "container": {"docker": {"image": "redis:3"}}}
//!     ]
//! });
//! let app_env = AppEnv::parse("shop", "stage")?;
//! let tag: Tag = "v2".parse()?;
//! let planned = build_plan(&group, "quay.io/acme", &app_env, &tag)?;
//! assert_eq!(planned.plan.changes.len(), 1);
//! assert_eq!(planned.plan.changes[0].new_image, "quay.io/acme/shop:v2");
//! assert!(planned.update_body.get("version").is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde::Serialize;
use serde_json::Value;

use crate::names::{AppEnv, GroupId, Tag};

/// One Marathon app the deploy changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppChange {
    /// The Marathon app id, e.g. `/shop-stage/web`.
    pub app_id: String,
    /// The image the app runs now.
    pub old_image: String,
    /// The image the app will run.
    pub new_image: String,
    /// The tag part of [`AppChange::old_image`].
    pub old_tag: String,
}

impl AppChange {
    /// The app type: the last segment of the Marathon app id (`/shop-stage/web` ⇒ `web`).
    pub fn app_type(&self) -> &str {
        app_type(&self.app_id)
    }
}

/// What a deploy of one tag to one app/env will do, for the user to confirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The application and environment.
    pub app_env: AppEnv,
    /// The Marathon group, `/{app}-{env}`.
    pub group_id: GroupId,
    /// The tag being deployed.
    pub tag: Tag,
    /// The image repository the selected apps run (`{docker_repo_prefix}/{app}`).
    pub repository: String,
    /// The apps whose image changes; empty for a no-op.
    pub changes: Vec<AppChange>,
    /// Selected apps that already run [`Plan::tag`] and are left as they are.
    pub unchanged: Vec<String>,
    /// The manifest digest of the new image, once the registry check found it.
    pub digest: Option<String>,
    /// True when the registry check was skipped on request.
    pub image_check_skipped: bool,
    /// The tag Consul records as `current`, read during planning.
    pub current: Option<Tag>,
    /// The GitHub compare link (or the text that replaces it) from `current` to the new tag.
    pub diff_link: Option<String>,
    /// The steps Marathon's `dryRun` reported for this update, when asked for.
    pub marathon_steps: Option<Value>,
    /// The Marathon deployments that held the selected apps when the group was read (from the
    /// apps' `deployments`, when the group was read with them): a plan with nothing to change
    /// is no no-op while one runs.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub in_deployments: Vec<String>,
    /// For a rollback, the history entry it restores (and the rollback that left that release,
    /// when it was rolled back from).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<crate::release::RollbackSource>,
    /// What is known, before the prompt, to stop or delay the deploy (a hold, the lock held,
    /// Marathon deployments holding the apps); see [`crate::hold::Blocker`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blockers: Vec<crate::hold::Blocker>,
}

impl Plan {
    /// True when every selected app already runs the tag: nothing to deploy.
    pub fn is_noop(&self) -> bool {
        self.changes.is_empty()
    }

    /// The image the changed apps will run, `{repository}:{tag}`.
    pub fn new_image(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
    }

    /// The distinct tags the changed apps run now, in order of first appearance (usually one).
    pub fn old_tags(&self) -> Vec<&str> {
        let mut tags: Vec<&str> = Vec::new();
        for change in &self.changes {
            if !tags.contains(&change.old_tag.as_str()) {
                tags.push(&change.old_tag);
            }
        }
        tags
    }
}

/// A plan together with the group body that carries it out.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedUpdate {
    /// The plan to show.
    pub plan: Plan,
    /// The group as fetched, with only the selected apps' images changed and no group `version`.
    pub update_body: Value,
}

/// Why no plan could be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// No app of the group runs the application's image repository.
    #[error(
        "no app in Marathon group {group} runs an image of {repository} (images found: {})",
        found_list(found)
    )]
    NoMatchingApp {
        /// The group that was searched.
        group: String,
        /// The repository that was looked for.
        repository: String,
        /// Every image the group's apps run, so the user can see what is there.
        found: Vec<String>,
    },
    /// The group JSON Marathon returned is not an object with an `apps` list.
    #[error("Marathon returned a group {group} duncan cannot read: {problem}")]
    MalformedGroup {
        /// The group id.
        group: String,
        /// What is wrong with it.
        problem: String,
    },
}

fn found_list(found: &[String]) -> String {
    if found.is_empty() {
        "none".to_owned()
    } else {
        found.join(", ")
    }
}

/// The image repository of `app` under `docker_repo_prefix`: `{prefix}/{app}`, or just `{app}`
/// when the prefix is empty. A trailing `/` on the prefix is ignored.
pub fn image_repository(docker_repo_prefix: &str, app: &str) -> String {
    let prefix = docker_repo_prefix.trim_end_matches('/');
    if prefix.is_empty() {
        app.to_owned()
    } else {
        format!("{prefix}/{app}")
    }
}

/// The tag of `image` when it is `{repository}:{tag}` with a valid tag; `None` otherwise
/// (another repository, a digest reference, or no tag).
pub fn tag_in_repository<'a>(image: &'a str, repository: &str) -> Option<&'a str> {
    let tag = image.strip_prefix(repository)?.strip_prefix(':')?;
    Tag::new(tag).ok().map(|_| tag)
}

/// The tag part of any image reference (after the last `:` that follows the last `/`).
pub fn image_tag(image: &str) -> Option<&str> {
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    let last = image.get(name_start..)?;
    let colon = last.rfind(':')?;
    last.get(colon + 1..)
}

/// The app type: the last segment of a Marathon app id (`/shop-stage/web` ⇒ `web`).
pub fn app_type(app_id: &str) -> &str {
    app_id.rsplit('/').next().unwrap_or(app_id)
}

/// The Docker image of a Marathon app JSON (`container.docker.image`), if it has one.
pub fn app_image(app: &Value) -> Option<&str> {
    app.get("container")?.get("docker")?.get("image")?.as_str()
}

/// Every app of `group` and of its nested groups, in Marathon's order.
pub fn group_apps(group: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    collect_apps(group, &mut out);
    out
}

fn collect_apps<'a>(group: &'a Value, out: &mut Vec<&'a Value>) {
    if let Some(apps) = group.get("apps").and_then(Value::as_array) {
        out.extend(apps.iter());
    }
    if let Some(groups) = group.get("groups").and_then(Value::as_array) {
        for sub in groups {
            collect_apps(sub, out);
        }
    }
}

/// Calls `f` on every app of `group` and its nested groups, mutably.
pub(crate) fn for_each_app_mut(group: &mut Value, f: &mut dyn FnMut(&mut Value)) {
    if let Some(apps) = group.get_mut("apps").and_then(Value::as_array_mut) {
        for app in apps {
            f(app);
        }
    }
    if let Some(groups) = group.get_mut("groups").and_then(Value::as_array_mut) {
        for sub in groups {
            for_each_app_mut(sub, f);
        }
    }
}

/// Prepares a fetched group for a PUT: [`strip_group_versions`], and removes what each app
/// was read with that is no part of its definition (`deployments`, embedded on request).
pub fn strip_for_update(group: &mut Value) {
    strip_group_versions(group);
    for_each_app_mut(group, &mut |app| {
        if let Some(object) = app.as_object_mut() {
            object.remove("deployments");
        }
    });
}

/// Removes the group-level `version` (and that of nested groups), which would otherwise ask
/// Marathon to revert to that version.
pub fn strip_group_versions(group: &mut Value) {
    if let Some(object) = group.as_object_mut() {
        object.remove("version");
    }
    if let Some(groups) = group.get_mut("groups").and_then(Value::as_array_mut) {
        for sub in groups {
            strip_group_versions(sub);
        }
    }
}

/// Builds the plan for deploying `tag` of `app_env` from the group JSON Marathon returned.
///
/// # Errors
///
/// [`PlanError::NoMatchingApp`] when no app runs `{docker_repo_prefix}/{app}:…` (the error
/// lists the images found); [`PlanError::MalformedGroup`] when the JSON is not a group.
pub fn build_plan(
    group: &Value,
    docker_repo_prefix: &str,
    app_env: &AppEnv,
    tag: &Tag,
) -> Result<PlannedUpdate, PlanError> {
    let group_id = app_env.group_id();
    if !group.is_object() {
        return Err(PlanError::MalformedGroup {
            group: group_id.to_string(),
            problem: "it is not a JSON object".to_owned(),
        });
    }
    let repository = image_repository(docker_repo_prefix, app_env.app.as_str());
    let new_image = format!("{repository}:{tag}");

    let mut changes = Vec::new();
    let mut unchanged = Vec::new();
    let mut found = Vec::new();
    let mut in_deployments: Vec<String> = Vec::new();
    for app in group_apps(group) {
        let Some(image) = app_image(app) else {
            continue;
        };
        if !found.iter().any(|f| f == image) {
            found.push(image.to_owned());
        }
        let Some(old_tag) = tag_in_repository(image, &repository) else {
            continue;
        };
        let app_id = app
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| PlanError::MalformedGroup {
                group: group_id.to_string(),
                problem: "an app has no string `id`".to_owned(),
            })?
            .to_owned();
        let holders = app.get("deployments").and_then(Value::as_array);
        for id in holders
            .into_iter()
            .flatten()
            .filter_map(|d| d.get("id")?.as_str())
        {
            if !in_deployments.iter().any(|known| known == id) {
                in_deployments.push(id.to_owned());
            }
        }
        if old_tag == tag.as_str() {
            unchanged.push(app_id);
        } else {
            changes.push(AppChange {
                app_id,
                old_image: image.to_owned(),
                new_image: new_image.clone(),
                old_tag: old_tag.to_owned(),
            });
        }
    }
    if changes.is_empty() && unchanged.is_empty() {
        return Err(PlanError::NoMatchingApp {
            group: group_id.to_string(),
            repository,
            found,
        });
    }

    let mut update_body = group.clone();
    strip_for_update(&mut update_body);
    for_each_app_mut(&mut update_body, &mut |app| {
        let changed = app
            .get("id")
            .and_then(Value::as_str)
            .is_some_and(|id| changes.iter().any(|c| c.app_id == id));
        if changed {
            set_app_image(app, &new_image);
        }
    });

    Ok(PlannedUpdate {
        plan: Plan {
            app_env: app_env.clone(),
            group_id,
            tag: tag.clone(),
            repository,
            changes,
            unchanged,
            digest: None,
            image_check_skipped: false,
            current: None,
            diff_link: None,
            marathon_steps: None,
            in_deployments,
            rollback: None,
            blockers: Vec::new(),
        },
        update_body,
    })
}

/// Replaces the image string of an app JSON in place; other fields are left untouched.
pub(crate) fn set_app_image(app: &mut Value, image: &str) {
    if let Some(slot) = app
        .get_mut("container")
        .and_then(|c| c.get_mut("docker"))
        .and_then(|d| d.get_mut("image"))
    {
        *slot = Value::String(image.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn shop_stage() -> AppEnv {
        AppEnv::parse("shop", "stage").unwrap()
    }

    fn tag(s: &str) -> Tag {
        s.parse().unwrap()
    }

    fn group() -> Value {
        json!({
            "id": "/shop-stage",
            "version": "2017-03-01T10:00:00.000Z",
            "dependencies": [],
            "apps": [
                {"id": "/shop-stage/web", "instances": 3, "cpus": 0.5, "mem": 256.0,
                 "labels": {"HAPROXY_0_VHOST": "shop.example.com"},
                 "someFutureField": {"kept": [1, 2, 3]},
                 "version": "2017-03-01T10:00:00.000Z",
                 "container": {"type": "DOCKER", "docker": {"image": "quay.io/acme/shop:v1",
                    "network": "BRIDGE", "forcePullImage": false}}},
                {"id": "/shop-stage/worker", "instances": 1,
                 "container": {"type": "DOCKER", "docker": {"image": "quay.io/acme/shop:v1"}}},
                {"id": "/shop-stage/redis", "instances": 1,
                 "container": {"type": "DOCKER", "docker": {"image": "redis:3.2"}}},
                {"id": "/shop-stage/cron", "cmd": "sleep 1000"}
            ],
            "groups": []
        })
    }

    #[test]
    fn selects_only_apps_running_the_app_repository() {
        let planned = build_plan(&group(), "quay.io/acme", &shop_stage(), &tag("v2")).unwrap();
        let ids: Vec<_> = planned
            .plan
            .changes
            .iter()
            .map(|c| c.app_id.as_str())
            .collect();
        assert_eq!(ids, ["/shop-stage/web", "/shop-stage/worker"]);
        assert_eq!(planned.plan.changes[0].old_image, "quay.io/acme/shop:v1");
        assert_eq!(planned.plan.changes[0].new_image, "quay.io/acme/shop:v2");
        assert_eq!(planned.plan.old_tags(), ["v1"]);
        assert!(!planned.plan.is_noop());
    }

    #[test]
    fn update_body_changes_only_image_strings_and_drops_group_version() {
        let original = group();
        let planned = build_plan(&original, "quay.io/acme/", &shop_stage(), &tag("v2")).unwrap();
        let mut expected = original.clone();
        expected.as_object_mut().unwrap().remove("version");
        expected["apps"][0]["container"]["docker"]["image"] = json!("quay.io/acme/shop:v2");
        expected["apps"][1]["container"]["docker"]["image"] = json!("quay.io/acme/shop:v2");
        assert_eq!(planned.update_body, expected);
        // Field order is kept too (serde_json preserves order), so the body reads like the input.
        let keys: Vec<_> = planned.update_body["apps"][0]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(keys[0], "id");
        assert_eq!(keys[5], "someFutureField");
    }

    #[test]
    fn every_app_on_the_tag_is_a_noop() {
        let planned = build_plan(&group(), "quay.io/acme", &shop_stage(), &tag("v1")).unwrap();
        assert!(planned.plan.is_noop());
        assert_eq!(
            planned.plan.unchanged,
            ["/shop-stage/web", "/shop-stage/worker"]
        );
    }

    #[test]
    fn apps_on_different_tags_are_all_moved() {
        let mut g = group();
        g["apps"][1]["container"]["docker"]["image"] = json!("quay.io/acme/shop:v2");
        let planned = build_plan(&g, "quay.io/acme", &shop_stage(), &tag("v2")).unwrap();
        assert_eq!(planned.plan.changes.len(), 1);
        assert_eq!(planned.plan.unchanged, ["/shop-stage/worker"]);
    }

    #[test]
    fn no_matching_app_names_the_images_found() {
        let err = build_plan(&group(), "docker.io/other", &shop_stage(), &tag("v2")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("docker.io/other/shop"), "{text}");
        assert!(text.contains("quay.io/acme/shop:v1"), "{text}");
        assert!(text.contains("redis:3.2"), "{text}");
    }

    #[test]
    fn similar_repository_names_are_not_selected() {
        let g = json!({"id": "/shop-stage", "apps": [
            {"id": "/shop-stage/a", "container": {"docker": {"image": "quay.io/acme/shop-admin:v1"}}},
            {"id": "/shop-stage/b", "container": {"docker": {"image": "quay.io/acme/shop@sha256:abcd"}}},
            {"id": "/shop-stage/c", "container": {"docker": {"image": "quay.io/acme/shop"}}}
        ]});
        let err = build_plan(&g, "quay.io/acme", &shop_stage(), &tag("v2")).unwrap_err();
        assert!(matches!(err, PlanError::NoMatchingApp { ref found, .. } if found.len() == 3));
    }

    #[test]
    fn nested_groups_are_searched_and_their_versions_dropped() {
        let g = json!({"id": "/shop-stage", "version": "x", "apps": [], "groups": [
            {"id": "/shop-stage/back", "version": "y", "apps": [
                {"id": "/shop-stage/back/api", "container": {"docker": {"image": "acme/shop:1"}}}
            ]}
        ]});
        let planned = build_plan(&g, "acme", &shop_stage(), &tag("2")).unwrap();
        assert_eq!(planned.plan.changes[0].app_id, "/shop-stage/back/api");
        assert!(planned.update_body["groups"][0].get("version").is_none());
        assert_eq!(
            planned.update_body["groups"][0]["apps"][0]["container"]["docker"]["image"],
            "acme/shop:2"
        );
    }

    #[test]
    fn empty_prefix_means_bare_repository() {
        assert_eq!(image_repository("", "shop"), "shop");
        assert_eq!(
            image_repository("quay.io/acme/", "shop"),
            "quay.io/acme/shop"
        );
        assert_eq!(tag_in_repository("shop:v1", "shop"), Some("v1"));
        assert_eq!(tag_in_repository("shop:v1/x", "shop"), None);
    }

    #[test]
    fn image_tag_handles_registry_ports() {
        assert_eq!(image_tag("localhost:5000/acme/shop:v3"), Some("v3"));
        assert_eq!(image_tag("localhost:5000/acme/shop"), None);
        assert_eq!(image_tag("redis:3.2"), Some("3.2"));
    }

    #[test]
    fn app_type_is_last_id_segment() {
        assert_eq!(app_type("/shop-stage/web"), "web");
        assert_eq!(app_type("web"), "web");
    }

    #[test]
    fn a_non_object_group_is_malformed() {
        let err = build_plan(&json!([1]), "acme", &shop_stage(), &tag("2")).unwrap_err();
        assert!(matches!(err, PlanError::MalformedGroup { .. }));
    }
}
