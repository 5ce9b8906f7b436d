//! Audit events: what happened to an app/env, stored in Consul, fired as a Consul user event and
//! sent to notifiers.
//!
//! Every change duncan makes (a deploy and its outcome, a rollback, a scale, an environment or
//! secrets update, an autoscaling-policy update, a forced lock release, a hold set or ended) is
//! an [`Event`]. Events are
//! appended to the audit log under `deploys/{app}/{env}/events/{seq:020}` (see [`log`]), the
//! oldest pruned beyond the configured retention, and announced best-effort (see [`notify`]).

pub mod log;
pub mod notify;

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::names::{AppEnv, AppName, Deployer, EnvName, Tag};

pub use log::{AuditEntry, AuditError, append, list, prune};
pub use notify::{NotifyWarning, notify_all};

/// The name of the Consul user event fired after a change (the Go tool's event name).
pub const USER_EVENT_NAME: &str = "duncan-deploy";

/// What kind of change an [`Event`] records. Serialized as a snake_case string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A deploy started (the lock is held and Marathon was asked to update).
    DeployStarted,
    /// A deploy finished: the apps run the new tag, healthy.
    DeploySucceeded,
    /// A deploy failed and was not rolled back (or its rollback failed).
    DeployFailed,
    /// A deploy failed and Marathon rolled the apps back to their previous version.
    DeployRolledBack,
    /// A deliberate rollback to the previous tag or a tag from history.
    Rollback,
    /// A manual scale of the app's instances.
    Scale,
    /// The app's environment variables were changed.
    EnvUpdate,
    /// The app's secrets were changed.
    SecretsUpdate,
    /// The app's autoscaling policy was changed.
    AutoscalingPolicyUpdate,
    /// An operator forced the deploy lock free.
    LockForced,
    /// Deploys of the app/env were frozen (`duncan lock hold`); the message is the reason.
    HoldSet,
    /// A deploy freeze was ended (`duncan lock release`).
    HoldReleased,
}

impl EventKind {
    /// The kind as stored (`deploy_succeeded`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::DeployStarted => "deploy_started",
            EventKind::DeploySucceeded => "deploy_succeeded",
            EventKind::DeployFailed => "deploy_failed",
            EventKind::DeployRolledBack => "deploy_rolled_back",
            EventKind::Rollback => "rollback",
            EventKind::Scale => "scale",
            EventKind::EnvUpdate => "env_update",
            EventKind::SecretsUpdate => "secrets_update",
            EventKind::AutoscalingPolicyUpdate => "autoscaling_policy_update",
            EventKind::LockForced => "lock_forced",
            EventKind::HoldSet => "hold_set",
            EventKind::HoldReleased => "hold_released",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audit event, stored as JSON.
///
/// ```
/// use duncan_core::audit::{Event, EventKind};
/// use duncan_core::names::AppEnv;
///
/// let target = AppEnv::parse("web", "stage")?;
/// let event = Event::new(&target, "alice@laptop".parse()?, EventKind::DeploySucceeded)
///     .with_tag("v2".parse()?)
///     .with_previous_tag(Some("v1".parse()?));
/// assert_eq!(event.summary(), "alice@laptop deployed web v2 to stage (was v1)");
/// # Ok::<(), duncan_core::names::NameError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The application.
    pub app: AppName,
    /// The environment.
    pub env: EnvName,
    /// Who made the change (`user@host`).
    pub deployer: Deployer,
    /// What kind of change.
    pub kind: EventKind,
    /// The tag deployed or rolled back to, when the change has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Tag>,
    /// The tag that was current before, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_tag: Option<Tag>,
    /// The Marathon deployment id, when the change started one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    /// A free-form detail (e.g. `web=3`, `set DB_URL`, the failure reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When it happened (UTC, RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
}

impl Event {
    /// An event of `kind` for `target` by `deployer`, stamped now.
    pub fn new(target: &AppEnv, deployer: Deployer, kind: EventKind) -> Self {
        Event {
            app: target.app.clone(),
            env: target.env.clone(),
            deployer,
            kind,
            tag: None,
            previous_tag: None,
            deployment_id: None,
            message: None,
            timestamp: OffsetDateTime::now_utc(),
        }
    }

    /// Sets the tag.
    #[must_use]
    pub fn with_tag(mut self, tag: Tag) -> Self {
        self.tag = Some(tag);
        self
    }

    /// Sets the previous tag.
    #[must_use]
    pub fn with_previous_tag(mut self, previous: Option<Tag>) -> Self {
        self.previous_tag = previous;
        self
    }

    /// Sets the Marathon deployment id.
    #[must_use]
    pub fn with_deployment_id(mut self, id: impl Into<String>) -> Self {
        self.deployment_id = Some(id.into());
        self
    }

    /// Sets the message.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// Sets the timestamp.
    #[must_use]
    pub fn at(mut self, timestamp: OffsetDateTime) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// The app/env the event is about.
    pub fn app_env(&self) -> AppEnv {
        AppEnv::new(self.app.clone(), self.env.clone())
    }

    /// One line saying what happened, for people (notifiers, `duncan history`).
    pub fn summary(&self) -> String {
        let who = &self.deployer;
        let (app, env) = (&self.app, &self.env);
        let tag = self.tag.as_ref().map_or("", Tag::as_str);
        let was = self
            .previous_tag
            .as_ref()
            .map(|p| format!(" (was {p})"))
            .unwrap_or_default();
        let detail = self
            .message
            .as_deref()
            .map(|m| format!(": {m}"))
            .unwrap_or_default();
        match self.kind {
            EventKind::DeployStarted => {
                format!("{who} started deploying {app} {tag} to {env}{was}")
            }
            EventKind::DeploySucceeded => format!("{who} deployed {app} {tag} to {env}{was}"),
            EventKind::DeployFailed => {
                format!("{who} failed to deploy {app} {tag} to {env}{detail}")
            }
            EventKind::DeployRolledBack => {
                format!("{who}'s deploy of {app} {tag} to {env} failed and was rolled back{detail}")
            }
            EventKind::Rollback => format!("{who} rolled {app} in {env} back to {tag}{was}"),
            EventKind::Scale => format!("{who} scaled {app} in {env}{detail}"),
            EventKind::EnvUpdate => {
                format!("{who} updated the environment of {app} in {env}{detail}")
            }
            EventKind::SecretsUpdate => {
                format!("{who} updated the secrets of {app} in {env}{detail}")
            }
            EventKind::AutoscalingPolicyUpdate => {
                format!("{who} updated the autoscaling policy of {app} in {env}{detail}")
            }
            EventKind::LockForced => {
                format!("{who} forced the deploy lock of {app} in {env} free{detail}")
            }
            EventKind::HoldSet => format!("{who} put deploys of {app} to {env} on hold{detail}"),
            EventKind::HoldReleased => {
                format!("{who} ended the hold on deploys of {app} to {env}{detail}")
            }
        }
    }
}
