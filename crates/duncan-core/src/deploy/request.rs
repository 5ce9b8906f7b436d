//! The inputs and results of a deploy: the request and its options, and the report of a deploy
//! that did not fail. The [`Context`] every operation runs in is in [`crate::context`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::names::{AppEnv, Tag};
use crate::plan::Plan;
use crate::release::CommitRetry;
use crate::watch::WatchOptions;

pub use crate::context::Context;

/// The confirmation hook: called with the plan before anything changes; `false` declines. The
/// CLI prompts here.
pub type Confirm =
    Arc<dyn Fn(Plan) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync + 'static>;

/// Whether an operation deploys a new tag or goes back to an older one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeployKind {
    /// A deploy of a new tag.
    Deploy,
    /// A rollback to `previous` or a tag from history.
    Rollback,
}

/// What to deploy.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    /// The application and environment.
    pub app_env: AppEnv,
    /// The tag to deploy.
    pub tag: Tag,
    /// Deploy or rollback (recorded in history and audit).
    pub kind: DeployKind,
    /// How.
    pub options: DeployOptions,
}

impl DeployRequest {
    /// A deploy of `tag` to `app_env` with default options (see [`DeployOptions::default`]).
    pub fn new(app_env: AppEnv, tag: Tag) -> Self {
        DeployRequest {
            app_env,
            tag,
            kind: DeployKind::Deploy,
            options: DeployOptions::default(),
        }
    }
}

/// How to deploy. The default: no dry run, fail at once when the lock is held, roll back on
/// failure, check the image, no confirmation, watch windows derived from the apps.
#[derive(Clone, Default)]
pub struct DeployOptions {
    /// Stop after showing the plan.
    pub dry_run: bool,
    /// Ask Marathon for the update's steps (`?dryRun=true`) and put them in the plan.
    pub marathon_steps: bool,
    /// Wait up to this long for a lock held by someone else (blocking queries); `None` fails at
    /// once with the holder.
    pub wait_for_lock: Option<Duration>,
    /// Cancel Marathon deployments that hold the apps (`?force=true`), with a warning.
    pub force_marathon: bool,
    /// Leave a failed deployment as it is instead of rolling it back.
    pub no_rollback: bool,
    /// Deploy without checking the image in its registry (recorded in the audit event).
    pub skip_image_check: bool,
    /// Deadline, stall window and polling of the watch (the CLI's `--timeout` is the deadline).
    pub watch: WatchOptions,
    /// Called with the plan before anything changes; `None` proceeds (`--yes`).
    pub confirm: Option<Confirm>,
    /// How the final Consul transactions are retried when Consul fails (default: 6 attempts
    /// over about 8 s).
    pub commit_retry: CommitRetry,
}

impl std::fmt::Debug for DeployOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeployOptions")
            .field("dry_run", &self.dry_run)
            .field("marathon_steps", &self.marathon_steps)
            .field("wait_for_lock", &self.wait_for_lock)
            .field("force_marathon", &self.force_marathon)
            .field("no_rollback", &self.no_rollback)
            .field("skip_image_check", &self.skip_image_check)
            .field("watch", &self.watch)
            .field("confirm", &self.confirm.is_some())
            .field("commit_retry", &self.commit_retry)
            .finish()
    }
}

/// How a deploy that did not fail ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeployOutcome {
    /// Every selected app already ran the tag: nothing was touched.
    NoOp,
    /// `dry_run`: the plan was built and shown, nothing was touched.
    DryRun,
    /// The confirmation hook declined: nothing was touched.
    Declined,
    /// The apps run the new tag, healthy, and Consul records it.
    Deployed {
        /// The Marathon deployment id.
        deployment_id: String,
        /// The tag that was `current` before (now `previous`).
        previous: Option<Tag>,
    },
    /// Marathon already ran the tag everywhere, healthy, with no deployment in progress, while
    /// Consul recorded another `current` (or none): the tag was recorded as `current` under
    /// the lock, nothing was sent to Marathon.
    Adopted {
        /// The tag that was `current` before (now `previous`).
        previous: Option<Tag>,
    },
}

/// The result of a deploy that did not fail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeployReport {
    /// The plan that was shown (and carried out, for [`DeployOutcome::Deployed`]).
    pub plan: Plan,
    /// How it ended.
    pub outcome: DeployOutcome,
    /// Things that went wrong without failing the deploy (notifiers…), safe to show.
    pub warnings: Vec<String>,
}

/// What a rollback goes back to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RollbackTarget {
    /// Consul's `previous` tag.
    Previous,
    /// A tag that appears in the release history.
    Tag(Tag),
}
