//! The status of app/envs: what Marathon runs (per app: image tag, instances, healthy/running,
//! cpus, mem, version, `HAPROXY_0_VHOST`) and whether it drifted from Consul's `current`.
//!
//! Each app/env costs one group read (`/{app}-{env}` with task counts) and one consistent KV read,
//! whatever the size of the cluster; many app/envs are read concurrently, a bounded number at a
//! time.

use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;

use crate::deploy::Context;
use crate::names::{AppEnv, GroupId, Tag};
use crate::plan::{
    app_image, app_type, group_apps, image_repository, image_tag, tag_in_repository,
};

/// How many app/envs [`status_many`] reads at once by default.
pub const DEFAULT_STATUS_CONCURRENCY: usize = 8;

/// One Marathon app of the group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppStatus {
    /// The Marathon app id.
    pub app_id: String,
    /// The app type (last segment of the id).
    pub app_type: String,
    /// The Docker image, if any.
    pub image: Option<String>,
    /// The image tag, if any.
    pub tag: Option<String>,
    /// True when the image is the application's repository (`{docker_repo_prefix}/{app}`),
    /// i.e. duncan deploys this app.
    pub deployed_by_duncan: bool,
    /// Instances wanted.
    pub instances: u64,
    /// Tasks running.
    pub running: u64,
    /// Tasks healthy.
    pub healthy: u64,
    /// Tasks staged.
    pub staged: u64,
    /// CPUs per instance.
    pub cpus: Option<f64>,
    /// Memory per instance, MiB.
    pub mem: Option<f64>,
    /// The app definition's version.
    pub version: Option<String>,
    /// The `HAPROXY_0_VHOST` label (the host name the app is served on), if set.
    pub vhost: Option<String>,
    /// Deployments now touching the app.
    pub deployments: Vec<String>,
}

/// How Marathon's running tag compares with Consul's `current`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Drift {
    /// Every deployed app runs `current`.
    InSync,
    /// Marathon runs other tags than Consul records.
    Drifted {
        /// The tags Marathon runs (distinct, in app order).
        marathon: Vec<String>,
        /// What Consul records as `current`.
        consul: Tag,
    },
    /// Consul has no `current` for this app/env (never deployed with duncan).
    NotRecorded {
        /// The tags Marathon runs.
        marathon: Vec<String>,
    },
    /// No app of the group runs the application's repository.
    NoDeployedApps,
}

/// The status of one app/env.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupStatus {
    /// The application and environment.
    pub app_env: AppEnv,
    /// The Marathon group.
    pub group_id: GroupId,
    /// Consul's `current`.
    pub current: Option<Tag>,
    /// The apps of the group.
    pub apps: Vec<AppStatus>,
    /// Marathon against Consul.
    pub drift: Drift,
    /// The hold on deploys of the app/env (`duncan lock hold`), when one is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<crate::hold::HoldState>,
}

/// Why a status could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StatusError {
    /// Marathon has no group `/{app}-{env}`.
    #[error("Marathon has no group {group}")]
    GroupNotFound {
        /// The group id.
        group: GroupId,
    },
    /// Marathon could not be read.
    #[error("could not read group {group} from Marathon")]
    Marathon {
        /// The group id.
        group: GroupId,
        /// The cause.
        #[source]
        source: marathon_client::Error,
    },
    /// Consul's `current` could not be read.
    #[error("could not read the current tag of {app_env} from Consul")]
    Consul {
        /// The app/env.
        app_env: AppEnv,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Reads the status of one app/env.
///
/// # Errors
///
/// [`StatusError`] when the group or Consul's `current` cannot be read.
pub async fn status(ctx: &Context, app_env: &AppEnv) -> Result<GroupStatus, StatusError> {
    let group_id = app_env.group_id();
    let embed = [
        marathon_client::GroupEmbed::Groups,
        marathon_client::GroupEmbed::Apps,
        marathon_client::GroupEmbed::AppCounts,
        marathon_client::GroupEmbed::AppDeployments,
    ];
    let (group, current, hold) = tokio::join!(
        ctx.marathon.group(group_id.as_str(), &embed),
        crate::deploy::read_current(ctx, app_env),
        crate::hold::read_hold(&ctx.consul, app_env)
    );
    let group = group.map_err(|source| match source {
        marathon_client::Error::NotFound { .. } => StatusError::GroupNotFound {
            group: group_id.clone(),
        },
        source => StatusError::Marathon {
            group: group_id.clone(),
            source,
        },
    })?;
    let current = current.map_err(|source| StatusError::Consul {
        app_env: app_env.clone(),
        source,
    })?;
    let hold = hold.map_err(|source| StatusError::Consul {
        app_env: app_env.clone(),
        source: Box::new(source),
    })?;
    let group = serde_json::to_value(&group).unwrap_or(Value::Null);
    let repository = image_repository(&ctx.settings.docker_repo_prefix, app_env.app.as_str());
    let mut status = group_status(app_env, &group, &repository, current);
    status.hold = hold;
    Ok(status)
}

/// Builds the status of one app/env from its group JSON (with counts) and Consul's `current`.
pub fn group_status(
    app_env: &AppEnv,
    group: &Value,
    repository: &str,
    current: Option<Tag>,
) -> GroupStatus {
    let apps: Vec<AppStatus> = group_apps(group)
        .into_iter()
        .map(|app| app_status(app, repository))
        .collect();
    let mut running_tags: Vec<String> = Vec::new();
    for app in apps.iter().filter(|a| a.deployed_by_duncan) {
        if let Some(tag) = &app.tag
            && !running_tags.contains(tag)
        {
            running_tags.push(tag.clone());
        }
    }
    let drift = if running_tags.is_empty() {
        Drift::NoDeployedApps
    } else {
        match &current {
            None => Drift::NotRecorded {
                marathon: running_tags,
            },
            Some(tag) if running_tags.len() == 1 && running_tags[..] == [tag.to_string()] => {
                Drift::InSync
            }
            Some(tag) => Drift::Drifted {
                marathon: running_tags,
                consul: tag.clone(),
            },
        }
    };
    GroupStatus {
        app_env: app_env.clone(),
        group_id: app_env.group_id(),
        current,
        apps,
        drift,
        hold: None,
    }
}

fn app_status(app: &Value, repository: &str) -> AppStatus {
    let app_id = app
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let image = app_image(app).map(str::to_owned);
    let deployed_by_duncan = image
        .as_deref()
        .is_some_and(|i| tag_in_repository(i, repository).is_some());
    let count = |k: &str| app.get(k).and_then(Value::as_u64).unwrap_or(0);
    AppStatus {
        app_type: app_type(&app_id).to_owned(),
        tag: image.as_deref().and_then(image_tag).map(str::to_owned),
        image,
        deployed_by_duncan,
        instances: count("instances"),
        running: count("tasksRunning"),
        healthy: count("tasksHealthy"),
        staged: count("tasksStaged"),
        cpus: app.get("cpus").and_then(Value::as_f64),
        mem: app.get("mem").and_then(Value::as_f64),
        version: app
            .get("version")
            .and_then(Value::as_str)
            .map(str::to_owned),
        vhost: app
            .get("labels")
            .and_then(|l| l.get("HAPROXY_0_VHOST"))
            .and_then(Value::as_str)
            .map(str::to_owned),
        deployments: app
            .get("deployments")
            .and_then(Value::as_array)
            .map(|ds| {
                ds.iter()
                    .filter_map(|d| d.get("id").and_then(Value::as_str).map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        app_id,
    }
}

/// Reads the status of many app/envs, at most `concurrency` at a time (at least one), in the
/// order given.
pub async fn status_many(
    ctx: &Context,
    app_envs: &[AppEnv],
    concurrency: usize,
) -> Vec<(AppEnv, Result<GroupStatus, StatusError>)> {
    futures_util::stream::iter(app_envs.iter().cloned())
        .map(|app_env| async move {
            let result = status(ctx, &app_env).await;
            (app_env, result)
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn group() -> Value {
        json!({"id": "/shop-stage", "apps": [
            {"id": "/shop-stage/web", "instances": 3, "tasksRunning": 3, "tasksHealthy": 2,
             "tasksStaged": 0, "cpus": 0.5, "mem": 256.0, "version": "2017-01-01T00:00:00.000Z",
             "labels": {"HAPROXY_0_VHOST": "shop.example.com"},
             "deployments": [{"id": "d1"}],
             "container": {"docker": {"image": "acme/shop:v2"}}},
            {"id": "/shop-stage/redis", "instances": 1,
             "container": {"docker": {"image": "redis:3"}}}
        ]})
    }

    #[test]
    fn status_lists_every_app_with_counts_and_vhost() {
        let app_env = AppEnv::parse("shop", "stage").unwrap();
        let s = group_status(&app_env, &group(), "acme/shop", Some("v2".parse().unwrap()));
        assert_eq!(s.apps.len(), 2);
        let web = &s.apps[0];
        assert_eq!(web.app_type, "web");
        assert_eq!(web.tag.as_deref(), Some("v2"));
        assert_eq!((web.instances, web.running, web.healthy), (3, 3, 2));
        assert_eq!(web.vhost.as_deref(), Some("shop.example.com"));
        assert_eq!(web.deployments, ["d1"]);
        assert!(web.deployed_by_duncan);
        assert!(!s.apps[1].deployed_by_duncan);
        assert_eq!(s.drift, Drift::InSync);
    }

    #[test]
    fn other_tag_in_consul_is_drift() {
        let app_env = AppEnv::parse("shop", "stage").unwrap();
        let s = group_status(&app_env, &group(), "acme/shop", Some("v1".parse().unwrap()));
        assert_eq!(
            s.drift,
            Drift::Drifted {
                marathon: vec!["v2".into()],
                consul: "v1".parse().unwrap()
            }
        );
    }

    #[test]
    fn missing_current_is_not_recorded() {
        let app_env = AppEnv::parse("shop", "stage").unwrap();
        let s = group_status(&app_env, &group(), "acme/shop", None);
        assert!(matches!(s.drift, Drift::NotRecorded { .. }));
        let s = group_status(&app_env, &group(), "other/shop", None);
        assert_eq!(s.drift, Drift::NoDeployedApps);
    }
}
