//! Why a deploy, rollback or scale failed, and the CLI exit code of each reason.

use crate::deploy::image::ImageCheckError;
use crate::names::{AppEnv, GroupId};
use crate::plan::PlanError;
use crate::release::Outcome;
use crate::settings::EnvironmentNotAllowed;
use crate::watch::AppTrouble;

/// Why a deploy, rollback or scale failed. Every message is one line a user can act on and never
/// contains a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeployError {
    /// The environment is not in the configured list.
    #[error(transparent)]
    EnvironmentNotAllowed(#[from] EnvironmentNotAllowed),
    /// Marathon has no group `/{app}-{env}`.
    #[error("Marathon has no group {group}: check the app and environment names")]
    GroupNotFound {
        /// The group looked for.
        group: GroupId,
    },
    /// No plan could be built (no app runs the application's image…).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The tag is not in the registry: refused before anything changed.
    #[error("{image} does not exist in its registry ({detail}); nothing was changed")]
    ImageMissing {
        /// The image reference.
        image: String,
        /// The registry's answer.
        detail: String,
    },
    /// The registry refused access or could not be reached: refused before anything changed.
    #[error(
        "could not verify that {image} exists in its registry; nothing was changed \
         (pass --skip-image-check to deploy without the check)"
    )]
    ImageUnverifiable {
        /// The image reference.
        image: String,
        /// The cause.
        #[source]
        source: ImageCheckError,
    },
    /// The Consul token may not manage this app/env (the ACL probe was refused).
    #[error(
        "you are not allowed to manage {app_env}: the Consul token may not write \
         deploys/{app}/{env}/",
        app = app_env.app,
        env = app_env.env
    )]
    NotAllowed {
        /// The app/env.
        app_env: AppEnv,
    },
    /// Someone else holds the deploy lock.
    #[error(
        "the deploy lock of {} is held by {held}; try again later, or pass --wait DURATION",
        held.target
    )]
    LockHeld {
        /// Who holds it: user@host, tag, since when.
        held: Box<crate::lock::LockHeld>,
    },
    /// Deploys of the app/env are on hold (`duncan lock hold`): nothing was changed.
    #[error("deploys of {app_env} are on hold: {hold}; nothing was changed")]
    OnHold {
        /// The app/env.
        app_env: AppEnv,
        /// The hold: reason, who, since when.
        hold: Box<crate::hold::HoldState>,
    },
    /// Marathon deployments hold the apps, and `force_marathon` was not given.
    #[error(
        "the apps of {group} are locked by Marathon deployment(s) {}; nothing was changed \
         (wait for them, or pass --force-marathon to cancel them)",
        deployments.join(", ")
    )]
    AppsLocked {
        /// The group.
        group: GroupId,
        /// The deployments holding the apps.
        deployments: Vec<String>,
    },
    /// The deployment failed (timed out, stalled) while Marathon could not be reached, and the
    /// rollback could not be started: what Marathon is doing is unknown. The lock is released.
    #[error(
        "deployment {deployment_id} {reason}, and Marathon has been unreachable since {since_hms} \
         UTC: the deployment's state is unknown; it was not rolled back ({problem}); the \
         release tags were not updated; follow it with `duncan watch {deployment_id}` once \
         Marathon answers",
        since_hms = hms(since)
    )]
    StateUnknown {
        /// Our deployment.
        deployment_id: String,
        /// Why it was given up (the deadline, a stall).
        reason: String,
        /// Since when Marathon did not answer.
        since: time::OffsetDateTime,
        /// Why the rollback could not be started.
        problem: String,
    },
    /// Marathon's answer to the group update was lost, and what it did could not be told
    /// apart: the deployment, if one was started, runs unwatched. Nothing was recorded.
    #[error(
        "the update of {group} may have been applied, but it could not be followed: {detail}; \
         the release tags were not updated; check `duncan status` and follow a running \
         deployment with `duncan watch ID`"
    )]
    UpdateUnconfirmed {
        /// The group.
        group: GroupId,
        /// What was seen.
        detail: String,
    },
    /// A Marathon request failed.
    #[error("Marathon failed while {during}")]
    Marathon {
        /// What duncan was doing.
        during: &'static str,
        /// The cause.
        #[source]
        source: marathon_client::Error,
    },
    /// A Consul request failed.
    #[error("Consul failed while {during}")]
    Consul {
        /// What duncan was doing.
        during: &'static str,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The deployment failed and Marathon rolled the apps back to their previous version; the
    /// release tags are unchanged.
    #[error(
        "deployment {deployment_id} failed ({reason}{}); rolled back by deployment \
         {rollback_id}, the apps run their previous version and the release tags are unchanged",
        why_text(why)
    )]
    FailedRolledBack {
        /// Our deployment.
        deployment_id: String,
        /// Marathon's rollback deployment.
        rollback_id: String,
        /// Why ours failed.
        reason: String,
        /// What Marathon said of the new tasks when the deployment was given up: each app's
        /// last task failure and its unhealthy tasks.
        why: Vec<AppTrouble>,
    },
    /// The deployment failed and was not rolled back (superseded, cancelled, `no_rollback`, or
    /// the rollback itself failed); the release tags are unchanged.
    #[error(
        "deployment {deployment_id} failed ({reason}{}) and was not rolled back{}; the release \
         tags are unchanged",
        why_text(why),
        rollback_problem.as_ref().map(|p| format!(": {p}")).unwrap_or_default()
    )]
    FailedNotRolledBack {
        /// Our deployment.
        deployment_id: String,
        /// Why it failed.
        reason: String,
        /// What Marathon said of the new tasks when the deployment was given up: each app's
        /// last task failure and its unhealthy tasks.
        why: Vec<AppTrouble>,
        /// The outcome recorded in history.
        outcome: Outcome,
        /// The deployments that superseded ours, if that is what happened.
        superseded_by: Vec<String>,
        /// Why there was no rollback, or how it failed.
        rollback_problem: Option<String>,
    },
    /// The deploy succeeded in Marathon, but Consul could not record it: the message names the
    /// exact state and the command that repairs it.
    #[error(transparent)]
    ReleaseNotRecorded(Box<crate::release::CommitError>),
    /// A rollback has nothing to go back to.
    #[error("cannot roll back {app_env}: {detail}")]
    NoRollbackTarget {
        /// The app/env.
        app_env: AppEnv,
        /// Why.
        detail: String,
    },
    /// The operation was interrupted (the context's cancellation: Ctrl-C, SIGTERM, SIGHUP) and
    /// stopped at a safe point; what it left behind is said as seen.
    #[error("interrupted: {0}")]
    Interrupted(Box<crate::deploy::Interruption>),
    /// A scale named an app type the group does not have.
    #[error(
        "group {group} has no app type {app_type} (types: {})",
        if types.is_empty() { "none".to_owned() } else { types.join(", ") }
    )]
    UnknownAppType {
        /// The group.
        group: GroupId,
        /// The type asked for.
        app_type: String,
        /// The types the group has.
        types: Vec<String>,
    },
}

impl DeployError {
    /// The CLI's exit code for this error: 3 lock held or deploys on hold, 4 failed and rolled
    /// back, 5 failed and not rolled back (or an update whose fate is unknown), 6 failed while
    /// Marathon was unreachable (state unknown), 7 not allowed, 130 interrupted, 1 for everything
    /// else.
    pub fn exit_code(&self) -> i32 {
        match self {
            DeployError::Interrupted(_) => 130,
            DeployError::LockHeld { .. } | DeployError::OnHold { .. } => 3,
            DeployError::FailedRolledBack { .. } => 4,
            DeployError::FailedNotRolledBack { .. } | DeployError::UpdateUnconfirmed { .. } => 5,
            DeployError::StateUnknown { .. } => 6,
            DeployError::NotAllowed { .. } => 7,
            _ => 1,
        }
    }
}

impl DeployError {
    /// What Marathon said of a failed deployment's new tasks (last task failure, unhealthy
    /// tasks); empty for other errors, or when nothing was seen failing.
    pub fn why(&self) -> &[AppTrouble] {
        match self {
            DeployError::FailedRolledBack { why, .. }
            | DeployError::FailedNotRolledBack { why, .. } => why,
            _ => &[],
        }
    }
}

/// `; new tasks: A; B` for the troubles seen, or nothing.
fn why_text(why: &[AppTrouble]) -> String {
    if why.is_empty() {
        return String::new();
    }
    let each: Vec<String> = why.iter().map(ToString::to_string).collect();
    format!("; {}", each.join("; "))
}

/// `HH:MM:SS` of a time.
fn hms(at: &time::OffsetDateTime) -> String {
    format!("{:02}:{:02}:{:02}", at.hour(), at.minute(), at.second())
}
