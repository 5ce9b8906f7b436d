//! The status of app/envs: what Marathon runs (per app: image tag, instances, healthy/running,
//! cpus, mem, version, `HAPROXY_0_VHOST`), which apps drifted from Consul's `current`, and what
//! is going on: a duncan deploy under the lock, or a Marathon deployment nobody holds the lock
//! for (an orphan: a killed duncan, another tool).
//!
//! Each app/env costs one group read (`/{app}-{env}` with task counts and deployments) and two
//! consistent KV reads sent together (the release tags, the lock), whatever the size of the
//! cluster; many app/envs are read concurrently, a bounded number at a time. When Consul cannot
//! be read, Marathon's side is still reported, with Consul's side as unknown
//! ([`Drift::ConsulUnknown`], [`Activity::Unknown`]).

use futures_util::StreamExt;
use marathon_client::{App, Group};
use serde::Serialize;

use crate::deploy::Context;
use crate::lock::{HolderInfo, LockStatus, lock_status};
use crate::names::{AppEnv, GroupId, Tag};
use crate::plan::{app_type, image_repository, image_tag, tag_in_repository};

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
    /// True when duncan deploys this app and it runs another tag than Consul's `current`
    /// (false when Consul records none or could not be read).
    pub drifted: bool,
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
    /// Consul could not be read: whether Marathon runs the recorded tag is unknown.
    ConsulUnknown {
        /// The tags Marathon runs.
        marathon: Vec<String>,
        /// Why Consul could not be read.
        reason: String,
    },
}

/// What is being done to the app/env right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Activity {
    /// No lock held and no Marathon deployment on the group's apps.
    Idle,
    /// A deploy (or rollback, scale) holds duncan's lock.
    InProgress {
        /// Who holds the lock: `user@host`, or the raw value of a lock that is not duncan's
        /// (the Go tool's `user-YYYY-MM-DD-HH:MM:SS`).
        holder: String,
        /// The tag being deployed, when the holder says.
        tag: Option<Tag>,
        /// When the lock was taken (RFC 3339), when the holder says.
        started_at: Option<String>,
        /// Seconds since then, by this machine's clock.
        age_secs: Option<u64>,
        /// The Marathon deployments on the group's apps.
        deployments: Vec<String>,
    },
    /// A Marathon deployment runs on the group's apps while nobody holds duncan's lock: a
    /// duncan that was killed, or another tool.
    Orphaned {
        /// The deployments' ids.
        deployments: Vec<String>,
    },
    /// Consul could not be read, so whether a deploy holds the lock is unknown.
    Unknown {
        /// The Marathon deployments on the group's apps.
        deployments: Vec<String>,
    },
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
    /// What is being done to it now.
    pub activity: Activity,
    /// The hold on deploys of the app/env (`duncan lock hold`), when one is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold: Option<crate::hold::HoldState>,
}

impl GroupStatus {
    /// True when Consul could not be read and only Marathon's side is known.
    pub fn consul_unknown(&self) -> bool {
        matches!(self.drift, Drift::ConsulUnknown { .. })
    }
}

/// What Consul said about an app/env: its `current`, and its lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsulSide {
    /// Both were read.
    Read {
        /// `current`.
        current: Option<Tag>,
        /// The lock.
        lock: LockStatus,
    },
    /// Consul could not be read.
    Unknown {
        /// Why.
        reason: String,
    },
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
    let (group, consul) = tokio::join!(
        ctx.marathon.group(group_id.as_str(), &embed),
        consul_side(ctx, app_env)
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
    let (consul, hold) = consul?;
    let repository = image_repository(&ctx.settings.docker_repo_prefix, app_env.app.as_str());
    let mut status = group_status(app_env, &group, &repository, consul);
    status.hold = hold;
    Ok(status)
}

/// Consul's side of one app/env in one consistent read transaction: `current`, the lock and
/// the hold (`get-tree` of each key, so a missing key does not fail the read). Consul leaves
/// out of such a read what the token may not see, so without a `current` a plain read of the
/// lock key tells a refusal from "not recorded". An unreachable Consul is "unknown", never an
/// error of the app/env; a refusal or a key that holds no tag is one.
async fn consul_side(
    ctx: &Context,
    app_env: &AppEnv,
) -> Result<(ConsulSide, Option<crate::hold::HoldState>), StatusError> {
    let consul_error = |source: Box<dyn std::error::Error + Send + Sync>| StatusError::Consul {
        app_env: app_env.clone(),
        source,
    };
    let mut ops = crate::release::tags_read_ops(app_env);
    ops.push(consul_client::TxnOp::get_tree(app_env.hold_key()));
    let read = match ctx
        .consul
        .read_txn(&ops, &consul_client::QueryOptions::consistent())
        .await
        .map_err(|e| crate::release::ReleaseError::from_consul(app_env, e))
    {
        Ok(read) => read,
        Err(source) if consul_unreachable(&source) => {
            let reason = chain(&source);
            return Ok((ConsulSide::Unknown { reason }, None));
        }
        Err(source) => return Err(consul_error(Box::new(source))),
    };
    let tags = crate::release::tags_from_pairs(app_env, &read.results)
        .map_err(|source| consul_error(Box::new(source)))?;
    let find = |key: &str| read.results.iter().rev().find(|p| p.key == key);
    let lock = match find(&app_env.lock_key()) {
        None if tags.current.is_none() => match lock_status(&ctx.consul, app_env).await {
            Ok(lock) => lock,
            Err(source) if lock_unreachable(&source) => {
                let reason = chain(&source);
                return Ok((ConsulSide::Unknown { reason }, None));
            }
            Err(source) => return Err(consul_error(Box::new(source))),
        },
        pair => crate::lock::lock_status_of(app_env, pair),
    };
    let hold = find(&app_env.hold_key()).map(crate::hold::HoldState::from_pair);
    Ok((
        ConsulSide::Read {
            current: tags.current,
            lock,
        },
        hold,
    ))
}

/// An error and its causes on one line.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Whether a failed read of the tags means Consul could not be reached (rather than refused).
fn consul_unreachable(error: &crate::release::ReleaseError) -> bool {
    matches!(error, crate::release::ReleaseError::Consul { source, .. } if source.is_transient())
}

/// Whether a failed read of the lock means Consul could not be reached.
fn lock_unreachable(error: &crate::lock::LockError) -> bool {
    matches!(error, crate::lock::LockError::Consul { source, .. } if source.is_transient())
}

/// Builds the status of one app/env from its group (with counts and deployments) and what
/// Consul said.
pub fn group_status(
    app_env: &AppEnv,
    group: &Group,
    repository: &str,
    consul: ConsulSide,
) -> GroupStatus {
    let (current, lock) = match consul {
        ConsulSide::Read { current, lock } => (current, Ok(lock)),
        ConsulSide::Unknown { reason } => (None, Err(reason)),
    };
    let mut apps: Vec<AppStatus> = group
        .all_apps()
        .into_iter()
        .map(|app| app_status(app, repository))
        .collect();
    if let Some(current) = &current {
        for app in apps.iter_mut().filter(|a| a.deployed_by_duncan) {
            app.drifted = app.tag.as_deref() != Some(current.as_str());
        }
    }
    let mut deployments: Vec<String> = Vec::new();
    for id in apps.iter().flat_map(|a| &a.deployments) {
        if !deployments.contains(id) {
            deployments.push(id.clone());
        }
    }
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
        match (&current, &lock) {
            (_, Err(reason)) => Drift::ConsulUnknown {
                marathon: running_tags,
                reason: reason.clone(),
            },
            (None, _) => Drift::NotRecorded {
                marathon: running_tags,
            },
            (Some(tag), _) if running_tags.len() == 1 && running_tags[..] == [tag.to_string()] => {
                Drift::InSync
            }
            (Some(tag), _) => Drift::Drifted {
                marathon: running_tags,
                consul: tag.clone(),
            },
        }
    };
    let activity = match lock {
        Err(_) => Activity::Unknown { deployments },
        Ok(LockStatus::Held(held)) => {
            let (holder, tag, started_at) = match &held.holder {
                HolderInfo::Duncan(h) => (
                    format!("{}@{}", h.user, h.host),
                    h.tag.clone(),
                    h.started_at
                        .format(&time::format_description::well_known::Rfc3339)
                        .ok(),
                ),
                HolderInfo::Other { raw } => (raw.clone(), None, None),
                _ => ("unknown".to_owned(), None, None),
            };
            Activity::InProgress {
                holder,
                tag,
                started_at,
                age_secs: held.age.map(|a| a.as_secs()),
                deployments,
            }
        }
        Ok(_) if !deployments.is_empty() => Activity::Orphaned { deployments },
        Ok(_) => Activity::Idle,
    };
    GroupStatus {
        app_env: app_env.clone(),
        group_id: app_env.group_id(),
        current,
        apps,
        drift,
        activity,
        hold: None,
    }
}

fn app_status(app: &App, repository: &str) -> AppStatus {
    let image = app.docker_image().map(str::to_owned);
    let deployed_by_duncan = image
        .as_deref()
        .is_some_and(|i| tag_in_repository(i, repository).is_some());
    AppStatus {
        app_type: app_type(&app.id).to_owned(),
        tag: image.as_deref().and_then(image_tag).map(str::to_owned),
        image,
        deployed_by_duncan,
        instances: app.instances.unwrap_or(0),
        running: app.tasks_running.unwrap_or(0),
        healthy: app.tasks_healthy.unwrap_or(0),
        staged: app.tasks_staged.unwrap_or(0),
        cpus: app.cpus(),
        mem: app.mem(),
        version: app.version.clone(),
        vhost: app.label("HAPROXY_0_VHOST").map(str::to_owned),
        deployments: app
            .deployment_ids()
            .unwrap_or_default()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        drifted: false,
        app_id: app.id.clone(),
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

    /// Exact Marathon JSON, deserialised as the client does.
    fn group() -> Group {
        serde_json::from_value(json!({"id": "/shop-stage", "apps": [
            {"id": "/shop-stage/web", "instances": 3, "tasksRunning": 3, "tasksHealthy": 2,
             "tasksStaged": 0, "cpus": 0.5, "mem": 256.0, "version": "2017-01-01T00:00:00.000Z",
             "labels": {"HAPROXY_0_VHOST": "shop.example.com"},
             "deployments": [{"id": "d1"}],
             "container": {"docker": {"image": "acme/shop:v2"}}},
            {"id": "/shop-stage/redis", "instances": 1,
             "container": {"docker": {"image": "redis:3"}}}
        ]}))
        .expect("a group")
    }

    fn read(current: Option<&str>) -> ConsulSide {
        ConsulSide::Read {
            current: current.map(|c| c.parse().unwrap()),
            lock: LockStatus::Free,
        }
    }

    #[test]
    fn status_lists_every_app_with_counts_and_vhost() {
        let app_env = AppEnv::parse("shop", "stage").unwrap();
        let s = group_status(&app_env, &group(), "acme/shop", read(Some("v2")));
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
        let s = group_status(&app_env, &group(), "acme/shop", read(Some("v1")));
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
        let s = group_status(&app_env, &group(), "acme/shop", read(None));
        assert!(matches!(s.drift, Drift::NotRecorded { .. }));
        let s = group_status(&app_env, &group(), "other/shop", read(None));
        assert_eq!(s.drift, Drift::NoDeployedApps);
    }

    /// `/shop-stage` with `web` on v1 (changed by hand) and `worker` on the recorded v2.
    fn drifted_group() -> Group {
        serde_json::from_value(json!({"id": "/shop-stage", "apps": [
            {"id": "/shop-stage/web", "instances": 1,
             "container": {"docker": {"image": "acme/shop:v1"}}},
            {"id": "/shop-stage/worker", "instances": 1, "deployments": [],
             "container": {"docker": {"image": "acme/shop:v2"}}}
        ]}))
        .expect("a group")
    }

    #[test]
    fn only_the_apps_that_differ_from_current_are_drifted() {
        let app_env = AppEnv::parse("shop", "stage").unwrap();
        let s = group_status(&app_env, &drifted_group(), "acme/shop", read(Some("v2")));
        assert!(matches!(s.drift, Drift::Drifted { .. }));
        let drifted: Vec<(&str, bool)> = s
            .apps
            .iter()
            .map(|a| (a.app_type.as_str(), a.drifted))
            .collect();
        assert_eq!(drifted, [("web", true), ("worker", false)]);
    }

    #[test]
    fn a_deployment_without_the_lock_is_an_orphan_and_with_it_a_deploy_in_progress() {
        let app_env = AppEnv::parse("shop", "stage").unwrap();
        let s = group_status(&app_env, &group(), "acme/shop", read(Some("v2")));
        assert_eq!(
            s.activity,
            Activity::Orphaned {
                deployments: vec!["d1".into()]
            }
        );
        let held = crate::lock::LockHeld {
            target: app_env.clone(),
            holder: HolderInfo::Other {
                raw: "alex-2017-01-02-03:04:05".into(),
            },
            session: Some("s".into()),
            age: None,
        };
        let consul = ConsulSide::Read {
            current: Some("v2".parse().unwrap()),
            lock: LockStatus::Held(Box::new(held)),
        };
        let s = group_status(&app_env, &group(), "acme/shop", consul);
        assert!(
            matches!(&s.activity, Activity::InProgress { holder, deployments, .. }
                if holder == "alex-2017-01-02-03:04:05" && deployments == &["d1"]),
            "{:?}",
            s.activity
        );
    }

    #[test]
    fn consul_unreadable_keeps_marathons_side_and_says_consuls_is_unknown() {
        let app_env = AppEnv::parse("shop", "stage").unwrap();
        let consul = ConsulSide::Unknown {
            reason: "connection refused".into(),
        };
        let s = group_status(&app_env, &drifted_group(), "acme/shop", consul);
        assert!(s.consul_unknown());
        assert_eq!(s.apps.len(), 2);
        assert!(s.apps.iter().all(|a| !a.drifted));
        assert_eq!(
            s.activity,
            Activity::Unknown {
                deployments: vec![]
            }
        );
    }
}
