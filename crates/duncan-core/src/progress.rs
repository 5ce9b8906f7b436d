//! Progress of a deploy, rollback, scale or watch, as typed values for the CLI to draw.
//!
//! duncan-core never prints. Long operations take a [`ProgressSink`], a cheap-to-clone callback
//! that receives one [`Progress`] value per thing that happened, in order. The callback runs on
//! the task doing the work, so it must be quick (draw a line, send on a channel) and must not
//! block.
//!
//! A callback was chosen over a channel because the caller decides what to do with each value:
//! the CLI draws it, a test collects it, a server could forward it; a channel can be had by
//! sending from the callback:
//!
//! ```
//! use duncan_core::progress::{Progress, ProgressSink};
//!
//! let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
//! let sink = ProgressSink::new(move |p| {
//!     let _ = tx.send(p);
//! });
//! sink.emit(Progress::LockAcquired);
//! assert!(matches!(rx.try_recv(), Ok(Progress::LockAcquired)));
//! ```

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::plan::Plan;

/// One thing that happened during an operation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "progress", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Progress {
    /// The plan is built (and, for a deploy, the image checked and the diff link known).
    PlanReady(Box<Plan>),
    /// The new image was found in its registry.
    ImageChecked {
        /// The full image reference checked.
        image: String,
        /// Its manifest digest.
        digest: String,
    },
    /// The registry check was skipped on request; recorded in the audit event.
    ImageCheckSkipped {
        /// The full image reference that was not checked.
        image: String,
    },
    /// The ACL probe said the deployer may manage the app/env.
    AccessChecked,
    /// The lock is held by someone else and the operation waits for it.
    WaitingForLock {
        /// Who holds it, as the lock reports it (user@host, tag, since when).
        holder: String,
    },
    /// The deploy lock is ours.
    LockAcquired,
    /// The deploy lock was lost during the operation (its session expired or was destroyed):
    /// the release tags will not be written.
    LockLost {
        /// Why, as Consul's client saw it.
        reason: String,
    },
    /// The apps were locked by other Marathon deployments, which `force_marathon` cancels.
    ForcingMarathon {
        /// The deployments that were holding the apps.
        deployments: Vec<String>,
    },
    /// Marathon accepted the update and started a deployment.
    DeploymentStarted {
        /// The Marathon deployment id.
        id: String,
    },
    /// The deployment reached step `k` of `n`.
    Step {
        /// The current step, 1-based.
        k: u32,
        /// The number of steps.
        n: u32,
    },
    /// Health of one app's new tasks.
    AppHealth {
        /// The Marathon app id.
        app: String,
        /// New-version tasks that are running and healthy.
        healthy: u32,
        /// The number of instances wanted.
        target: u32,
    },
    /// The event stream dropped and was re-established; the state was re-read over REST.
    StreamReconnected,
    /// The event stream could not be had; the deployment is followed by polling REST.
    FallingBackToPolling,
    /// Marathon reported our deployment finished; duncan is confirming it over REST.
    ConfirmingOverRest,
    /// Marathon did not answer the watch's last read: the counts shown are stale.
    MarathonUnreachable {
        /// Whole seconds since the first read that failed in a row.
        for_secs: u64,
        /// Why the last read failed, safe to show.
        error: String,
    },
    /// Marathon answers again after [`Progress::MarathonUnreachable`].
    MarathonReachable,
    /// The operation was asked to stop (Ctrl-C, SIGTERM, SIGHUP) and is cleaning up.
    Interrupting,
    /// The deployment failed and Marathon's rollback deployment was started.
    RollbackStarted {
        /// The rollback deployment's id.
        id: String,
    },
    /// The rollback deployment finished.
    RollbackFinished,
    /// The release tags, history and audit event are being written to Consul.
    RecordingRelease,
    /// Something went wrong that does not fail the operation (a notifier, a forced Marathon
    /// update); the text is safe to show.
    Warning {
        /// What happened.
        message: String,
    },
    /// The operation is over (successfully or not; the result says which).
    Done,
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Progress::PlanReady(plan) => write!(
                f,
                "plan ready: {} app(s) of {} to {}",
                plan.changes.len(),
                plan.group_id,
                plan.tag
            ),
            Progress::ImageChecked { image, digest } => write!(f, "image {image} found ({digest})"),
            Progress::ImageCheckSkipped { image } => {
                write!(f, "image check of {image} skipped on request")
            }
            Progress::AccessChecked => f.write_str("access checked"),
            Progress::WaitingForLock { holder } => {
                write!(f, "waiting for the lock held by {holder}")
            }
            Progress::LockAcquired => f.write_str("lock acquired"),
            Progress::LockLost { reason } => {
                write!(
                    f,
                    "the deploy lock was lost ({reason}); the release will not be recorded"
                )
            }
            Progress::ForcingMarathon { deployments } => write!(
                f,
                "forcing the update: cancelling Marathon deployment(s) {}",
                deployments.join(", ")
            ),
            Progress::DeploymentStarted { id } => write!(f, "deployment {id} started"),
            Progress::Step { k, n } => write!(f, "step {k}/{n}"),
            Progress::AppHealth {
                app,
                healthy,
                target,
            } => write!(f, "{app}: {healthy}/{target} healthy"),
            Progress::StreamReconnected => f.write_str("event stream reconnected"),
            Progress::FallingBackToPolling => {
                f.write_str("event stream unavailable; polling Marathon every second")
            }
            Progress::ConfirmingOverRest => f.write_str("confirming over REST"),
            Progress::MarathonUnreachable { for_secs, error } => write!(
                f,
                "Marathon unreachable for {for_secs}s, retrying ({error}); counts are stale"
            ),
            Progress::MarathonReachable => f.write_str("Marathon answers again"),
            Progress::Interrupting => f.write_str("interrupted: cleaning up"),
            Progress::RollbackStarted { id } => write!(f, "rollback deployment {id} started"),
            Progress::RollbackFinished => f.write_str("rollback finished"),
            Progress::RecordingRelease => f.write_str("recording the release in Consul"),
            Progress::Warning { message } => write!(f, "warning: {message}"),
            Progress::Done => f.write_str("done"),
        }
    }
}

/// Where [`Progress`] values go: a shared callback.
#[derive(Clone)]
pub struct ProgressSink {
    callback: Arc<dyn Fn(Progress) + Send + Sync>,
}

impl ProgressSink {
    /// A sink calling `callback` for every value.
    pub fn new(callback: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        ProgressSink {
            callback: Arc::new(callback),
        }
    }

    /// A sink that drops every value.
    pub fn none() -> Self {
        ProgressSink::new(|_| {})
    }

    /// Delivers one value.
    pub fn emit(&self, progress: Progress) {
        (self.callback)(progress);
    }

    /// Delivers a [`Progress::Warning`].
    pub fn warn(&self, message: impl Into<String>) {
        self.emit(Progress::Warning {
            message: message.into(),
        });
    }
}

impl Default for ProgressSink {
    fn default() -> Self {
        ProgressSink::none()
    }
}

impl fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ProgressSink")
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn sink_delivers_values_in_order() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let store = Arc::clone(&seen);
        let sink = ProgressSink::new(move |p| store.lock().unwrap().push(p));
        sink.emit(Progress::LockAcquired);
        sink.emit(Progress::Step { k: 1, n: 2 });
        sink.warn("slack webhook answered 500");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[1].to_string(), "step 1/2");
        assert_eq!(seen[2].to_string(), "warning: slack webhook answered 500");
    }

    #[test]
    fn progress_serializes_with_a_kind_tag() {
        let json = serde_json::to_value(Progress::AppHealth {
            app: "/shop-stage/web".into(),
            healthy: 1,
            target: 3,
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"progress": "app_health", "app": "/shop-stage/web", "healthy": 1, "target": 3})
        );
    }
}
