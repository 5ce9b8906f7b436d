//! Cooperative cancellation of an operation (Ctrl-C, SIGTERM, SIGHUP in the CLI).
//!
//! The CLI cancels [`Context::cancel`]; every operation checks it at its steps and stops at the
//! next safe point, cleaning up in place: a lock it holds is released and its session
//! destroyed, a request that changes something (the group update, the success transaction) is
//! never abandoned half-way, and the result is a [`DeployError::Interrupted`] that says what was
//! seen: whether the lock was taken and released, and what Marathon is doing.

use std::future::Future;
use std::time::Duration;

use super::{Context, DeployError};

/// What an interrupted operation left behind, as far as it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interruption {
    /// What became of the deploy lock.
    pub lock: LockEnd,
    /// What Marathon is doing.
    pub marathon: MarathonEnd,
}

/// What became of the deploy lock of an interrupted operation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockEnd {
    /// The lock had not been taken (a wait for it was abandoned, its session destroyed).
    NotTaken,
    /// The lock was released and its session destroyed.
    Released,
    /// The lock could not be released; it frees itself when its session expires.
    NotReleased {
        /// Why, safe to show.
        problem: String,
    },
}

/// What Marathon was doing when an operation was interrupted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MarathonEnd {
    /// Nothing was sent to Marathon that changes anything.
    Unchanged,
    /// Our deployment runs on (not cancelled, not rolled back).
    Running {
        /// The deployment.
        deployment_id: String,
    },
    /// Our deployment is no longer listed: it ended, how is not known here.
    Ended {
        /// The deployment.
        deployment_id: String,
    },
    /// Our deployment was started; whether it still runs could not be read.
    Unknown {
        /// The deployment.
        deployment_id: String,
        /// Why Marathon could not be asked, safe to show.
        problem: String,
    },
    /// Our deployment failed and the rollback deployment that undoes it runs on, unwatched.
    RollingBack {
        /// The failed deployment.
        deployment_id: String,
        /// Marathon's rollback deployment.
        rollback_id: String,
    },
}

impl Interruption {
    /// What Marathon was doing, as the text after the lock's part (`"; Marathon is …"`).
    pub(crate) fn marathon_part(&self) -> String {
        struct Part<'a>(&'a MarathonEnd);
        impl std::fmt::Display for Part<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                marathon_text(self.0, f)
            }
        }
        Part(&self.marathon).to_string()
    }
}

impl std::fmt::Display for Interruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.lock {
            LockEnd::NotTaken => f.write_str("the lock was not taken")?,
            LockEnd::Released => f.write_str("the lock was released")?,
            LockEnd::NotReleased { problem } => write!(
                f,
                "the lock could not be released ({problem}; it frees itself within a minute, \
                 or run `duncan lock release`)"
            )?,
        }
        marathon_text(&self.marathon, f)
    }
}

fn marathon_text(marathon: &MarathonEnd, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    {
        match marathon {
            MarathonEnd::Unchanged => f.write_str("; nothing was changed in Marathon"),
            MarathonEnd::Running { deployment_id } => write!(
                f,
                "; Marathon is still running deployment {deployment_id} (not cancelled, not \
                 rolled back); follow it with `duncan watch {deployment_id}`; the release tags \
                 were not updated"
            ),
            MarathonEnd::Ended { deployment_id } => write!(
                f,
                "; deployment {deployment_id} is no longer running in Marathon; check `duncan \
                 status`; the release tags were not updated"
            ),
            MarathonEnd::Unknown {
                deployment_id,
                problem,
            } => write!(
                f,
                "; deployment {deployment_id} was started, and whether it still runs is unknown \
                 (Marathon could not be asked: {problem}); follow it with `duncan watch \
                 {deployment_id}`; the release tags were not updated"
            ),
            MarathonEnd::RollingBack {
                deployment_id,
                rollback_id,
            } => write!(
                f,
                "; deployment {deployment_id} failed and Marathon is rolling it back (deployment \
                 {rollback_id}, not followed to its end: `duncan watch {rollback_id}`); the \
                 release tags were not updated"
            ),
        }
    }
}

/// The error of an operation interrupted before it took the lock.
pub(crate) fn before_lock() -> DeployError {
    interrupted(LockEnd::NotTaken, MarathonEnd::Unchanged)
}

pub(crate) fn interrupted(lock: LockEnd, marathon: MarathonEnd) -> DeployError {
    DeployError::Interrupted(Box::new(Interruption { lock, marathon }))
}

/// Runs `work` unless the operation is interrupted first: then `work` is dropped (it must
/// change nothing: a read, a prompt, a wait) and `Err(on_interrupt())` is returned.
pub(crate) async fn unless_interrupted<T>(
    ctx: &Context,
    work: impl Future<Output = T>,
    on_interrupt: impl FnOnce() -> DeployError,
) -> Result<T, DeployError> {
    tokio::select! {
        biased;
        () = ctx.cancel.cancelled() => Err(on_interrupt()),
        done = work => Ok(done),
    }
}

/// How long the look at Marathon after an interruption may take.
const LOOK_LIMIT: Duration = Duration::from_secs(5);

/// After an interruption while our deployment ran: one bounded look at whether it still does.
pub(crate) async fn deployment_state(ctx: &Context, deployment_id: &str) -> MarathonEnd {
    let deployment_id = deployment_id.to_owned();
    match tokio::time::timeout(LOOK_LIMIT, ctx.marathon.deployments()).await {
        Ok(Ok(list)) if list.iter().any(|d| d.id == deployment_id) => {
            MarathonEnd::Running { deployment_id }
        }
        Ok(Ok(_)) => MarathonEnd::Ended { deployment_id },
        Ok(Err(error)) => MarathonEnd::Unknown {
            deployment_id,
            problem: error.to_string(),
        },
        Err(_) => MarathonEnd::Unknown {
            deployment_id,
            problem: format!("no answer within {}s", LOOK_LIMIT.as_secs()),
        },
    }
}
