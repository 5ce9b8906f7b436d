//! The watch of one Marathon deployment until its real end (DESIGN.md, protocol step 6).
//!
//! - The event stream is opened by the caller **before** the update that starts the deployment,
//!   and handed in as a stream of [`Signal`]s, so no event can be missed.
//! - REST is the source of truth: success needs `deployment_success` for our id (or our id gone
//!   from `/v2/deployments`, which is how a missed event looks after a reconnect) **and** a REST
//!   check that every changed app runs the new version (image and `version`) with exactly its
//!   instances, all healthy, and no task of an older definition left.
//! - `deployment_failed` for our id, or our id gone while the apps are not on the new version, is
//!   a failure: [`WatchOutcome::Superseded`] when another deployment took the apps over,
//!   [`WatchOutcome::Cancelled`] otherwise.
//! - A stall (no new healthy task within the stall window) and the deadline are failures.
//! - When the stream reconnects (the client's reconnecting stream says so with
//!   [`Signal::Reconnected`]) the state is re-read over REST, since Marathon replays nothing;
//!   when the stream ends or was never had, REST is polled every second.
//! - With a stream, REST is read at once only for our deployment's end (or failure) and after a
//!   reconnect; step and task events prompt a read at most once per `poll_interval`, and the
//!   state is re-read every `resync_interval`. A deployment that ends quickly thus costs one
//!   confirming read.
//!
//! The watch never reports success that REST does not confirm.

mod client;
mod observe;
mod state;

use std::future::Future;
use std::time::Duration;

use futures_util::{FutureExt, Stream, StreamExt};
use serde_json::Value;
use tokio::time::Instant;

pub use client::{SignalStream, open_signals, signal_of, watch_running};
pub use observe::{
    AppObservation, DeploymentSummary, ExpectedApp, Seen, Snapshot, Verdict, health_allowance_secs,
    judge, observe_app, summarize_deployment,
};

use crate::progress::{Progress, ProgressSink};
use state::LoopState;

/// The REST reads the watch needs. Implemented for [`marathon_client`]'s client; tests may fake
/// it.
pub trait MarathonRead: Send + Sync {
    /// The error of a read.
    type Error: std::error::Error + Send + Sync + 'static;

    /// `GET /v2/deployments`: every running deployment, as JSON.
    fn deployments(&self) -> impl Future<Output = Result<Vec<Value>, Self::Error>> + Send;

    /// `GET /v2/apps/{id}` with its tasks embedded, as JSON; `None` when the app does not exist.
    fn app(&self, app_id: &str) -> impl Future<Output = Result<Option<Value>, Self::Error>> + Send;
}

/// One thing the event stream said, reduced to what the watch acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signal {
    /// `deployment_success` for a deployment.
    DeploymentSuccess {
        /// Its id.
        id: String,
    },
    /// `deployment_failed` for a deployment.
    DeploymentFailed {
        /// Its id.
        id: String,
    },
    /// `deployment_info` or a step event of a deployment.
    DeploymentStep {
        /// Its id.
        id: String,
        /// The apps its plan touches (from the event's steps).
        affected_apps: Vec<String>,
    },
    /// A task or health event of an app (`status_update_event`, `health_status_changed_event`).
    AppActivity {
        /// The app id.
        app_id: String,
    },
    /// The stream dropped and was re-established; events in between are lost.
    Reconnected,
    /// Anything else (keeps the stream alive).
    Other,
}

/// What the watch waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchTarget {
    /// The Marathon deployment id.
    pub deployment_id: String,
    /// The version the deployment installs (from the update's answer or `/v2/deployments`).
    pub version: Option<String>,
    /// The apps it must bring to that version.
    pub apps: Vec<ExpectedApp>,
}

/// How long to wait, and how often to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOptions {
    /// Give up after this long. `None`: derived from the apps (see [`default_deadline`]).
    pub deadline: Option<Duration>,
    /// Give up when no new healthy task appeared for this long. `None`: derived from the apps
    /// (see [`default_stall_window`]).
    pub stall_window: Option<Duration>,
    /// How often REST is polled without an event stream (1 s); with one, the shortest gap
    /// between reads prompted by progress events, and the delay of the first read.
    pub poll_interval: Duration,
    /// How often REST is re-read while the stream is up, to catch what events cannot say (5 s).
    pub resync_interval: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            deadline: None,
            stall_window: None,
            poll_interval: Duration::from_secs(1),
            resync_interval: Duration::from_secs(5),
        }
    }
}

/// How a watched deployment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WatchOutcome {
    /// Marathon finished it and REST confirms every app on the new version, healthy.
    Succeeded,
    /// Another deployment took our apps over.
    Superseded {
        /// The deployments holding them when this was noticed.
        by: Vec<String>,
    },
    /// It ended without the apps reaching the new version, and no one else changed them.
    Cancelled,
    /// No new task became healthy within the stall window.
    Stalled {
        /// The window that passed.
        window: Duration,
    },
    /// The deadline passed.
    TimedOut {
        /// The deadline.
        after: Duration,
    },
}

impl WatchOutcome {
    /// True for [`WatchOutcome::Succeeded`].
    pub fn is_success(&self) -> bool {
        matches!(self, WatchOutcome::Succeeded)
    }
}

impl std::fmt::Display for WatchOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WatchOutcome::Succeeded => f.write_str("succeeded"),
            WatchOutcome::Superseded { by } if by.is_empty() => {
                f.write_str("superseded by another deployment")
            }
            WatchOutcome::Superseded { by } => {
                write!(f, "superseded by deployment {}", by.join(", "))
            }
            WatchOutcome::Cancelled => {
                f.write_str("cancelled before the apps reached the new version")
            }
            WatchOutcome::Stalled { window } => {
                write!(
                    f,
                    "stalled: no new task became healthy within {}s",
                    window.as_secs()
                )
            }
            WatchOutcome::TimedOut { after } => write!(f, "timed out after {}s", after.as_secs()),
        }
    }
}

/// The result of a watch: how it ended and the apps as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchReport {
    /// How it ended.
    pub outcome: WatchOutcome,
    /// The apps as REST showed them last.
    pub apps: Vec<AppObservation>,
    /// True when the last REST read failed (the outcome may then rest on older data).
    pub marathon_unreachable: bool,
}

/// Why a watch could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// `duncan watch ID` of a deployment Marathon does not list (finished, or never existed).
    #[error("Marathon lists no running deployment {id}: it has finished or never existed")]
    NotRunning {
        /// The id asked for.
        id: String,
    },
    /// Marathon could not be read to find the deployment.
    #[error("could not read Marathon's deployments")]
    Marathon {
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// The default deadline: 60 s, plus for every instance of every app the time one task may take
/// to become healthy (health-check grace period + interval × allowed failures) and 30 s to
/// launch; at least 2 minutes, at most 2 hours.
pub fn default_deadline(apps: &[AppObservation]) -> Duration {
    let per_task: u64 = apps
        .iter()
        .map(|a| {
            u64::from(a.instances.max(1)).saturating_mul(a.health_allowance_secs.saturating_add(30))
        })
        .fold(0u64, u64::saturating_add);
    Duration::from_secs(per_task.saturating_add(60).clamp(120, 7200))
}

/// The default stall window: the longest health allowance of the apps plus 2 minutes for a task
/// to be scheduled, pulled and started.
pub fn default_stall_window(apps: &[AppObservation]) -> Duration {
    let longest = apps
        .iter()
        .map(|a| a.health_allowance_secs)
        .max()
        .unwrap_or(0);
    Duration::from_secs(longest.saturating_add(120))
}

/// Reads the deployment and the apps once.
///
/// # Errors
///
/// The first read error.
pub async fn snapshot<M: MarathonRead>(
    marathon: &M,
    target: &WatchTarget,
) -> Result<Snapshot, M::Error> {
    let deployments = marathon.deployments().await?;
    let mut ours = None;
    let mut others = Vec::new();
    for summary in deployments.iter().filter_map(summarize_deployment) {
        if summary.id == target.deployment_id {
            ours = Some(summary);
        } else if summary
            .affected_apps
            .iter()
            .any(|a| target.apps.iter().any(|e| &e.app_id == a))
        {
            others.push(summary);
        }
    }
    let mut apps = Vec::with_capacity(target.apps.len());
    for expected in &target.apps {
        let observation = match marathon.app(&expected.app_id).await? {
            Some(app) => observe_app(&app, expected, target.version.as_deref()),
            None => AppObservation {
                app_id: expected.app_id.clone(),
                on_target: false,
                version: None,
                image: None,
                instances: 0,
                new_running: 0,
                new_healthy: 0,
                old_tasks: 0,
                health_allowance_secs: 0,
            },
        };
        apps.push(observation);
    }
    Ok(Snapshot { ours, others, apps })
}

/// Builds the target of `duncan watch ID` from `/v2/deployments`: the deployment's affected apps
/// and version (images are not known, so only versions are checked).
///
/// # Errors
///
/// [`WatchError::NotRunning`] when Marathon does not list the id; [`WatchError::Marathon`] when
/// it cannot be read.
pub async fn target_of_running<M: MarathonRead>(
    marathon: &M,
    deployment_id: &str,
) -> Result<WatchTarget, WatchError> {
    let deployments = marathon
        .deployments()
        .await
        .map_err(|e| WatchError::Marathon {
            source: Box::new(e),
        })?;
    let summary = deployments
        .iter()
        .filter_map(summarize_deployment)
        .find(|d| d.id == deployment_id)
        .ok_or_else(|| WatchError::NotRunning {
            id: deployment_id.to_owned(),
        })?;
    Ok(WatchTarget {
        deployment_id: summary.id,
        version: summary.version,
        apps: summary
            .affected_apps
            .into_iter()
            .map(|app_id| ExpectedApp {
                app_id,
                image: None,
            })
            .collect(),
    })
}

/// Watches `target` until it succeeds or fails; see the module documentation for the rules.
///
/// `signals` is the event stream opened before the update (`None` when it could not be had:
/// REST is then polled every [`WatchOptions::poll_interval`]). Progress goes to `progress`:
/// step k/n, healthy/target per app, reconnects, the fall-back to polling.
///
/// Read errors never end the watch by themselves: it keeps trying until the deadline, and the
/// report says when Marathon was unreachable at the end.
pub async fn watch_deployment<M, S>(
    marathon: &M,
    signals: Option<S>,
    target: &WatchTarget,
    options: &WatchOptions,
    progress: &ProgressSink,
) -> WatchReport
where
    M: MarathonRead,
    S: Stream<Item = Signal> + Unpin,
{
    let started = Instant::now();
    let mut signals = signals;
    if signals.is_none() {
        progress.emit(Progress::FallingBackToPolling);
    }
    let mut state = LoopState::default();
    // The deadline and the stall window may depend on the apps: read them first.
    let mut deadline = options.deadline.map(|d| (d, started + d));
    let mut stall = options.stall_window;
    let mut last_progress_at = started;
    // With a stream, the first read waits: the deployment's end is announced by an event (read
    // at once then), and a deployment that ends within `poll_interval` needs only the
    // confirming read. Without one, read now.
    let mut next_read = if signals.is_some() {
        started + options.poll_interval
    } else {
        started
    };
    // Reads prompted by progress events (steps, task updates) come at most once per
    // `poll_interval` after the last read: enough for the progress display and the stall
    // check, without a read per burst of task events.
    let mut last_read = started;

    loop {
        let now = Instant::now();
        if now >= next_read {
            // Take in what the stream already said, so a verdict never ignores an event that
            // arrived before the read (a finished deployment is gone from REST at once).
            while let Some(stream) = signals.as_mut() {
                match stream.next().now_or_never() {
                    Some(Some(signal)) => {
                        state.on_signal(signal, target, progress);
                    }
                    Some(None) => {
                        signals = None;
                        progress.emit(Progress::FallingBackToPolling);
                    }
                    None => break,
                }
            }
            last_read = Instant::now();
            match snapshot(marathon, target).await {
                Ok(snap) => {
                    state.unreachable = false;
                    if deadline.is_none() {
                        let d = default_deadline(&snap.apps);
                        deadline = Some((d, started + d));
                    }
                    if stall.is_none() {
                        stall = Some(default_stall_window(&snap.apps));
                    }
                    if state.record(&snap, progress) {
                        last_progress_at = Instant::now();
                    }
                    if snap.ours.is_some() {
                        state.listed = true;
                    }
                    let seen = Seen {
                        success_event: state.success_event,
                        failed_event: state.failed_event,
                        // Until Marathon has listed our deployment once, its absence may only
                        // mean the listing lags behind the update's answer.
                        trust_absence: state.listed
                            || started.elapsed() >= LISTING_GRACE
                            || state.success_event
                            || state.failed_event,
                    };
                    let verdict = judge(&snap, seen);
                    state.apps = snap.apps;
                    match verdict {
                        Verdict::Succeeded => return state.report(WatchOutcome::Succeeded),
                        Verdict::Superseded { mut by } => {
                            // The superseding deployment may have finished before the read;
                            // its events name it, and may still be on their way.
                            if by.is_empty()
                                && state.others_seen.is_empty()
                                && let Some(stream) = signals.as_mut()
                            {
                                let listen = async {
                                    while let Some(signal) = stream.next().await {
                                        state.on_signal(signal, target, progress);
                                        if !state.others_seen.is_empty() {
                                            break;
                                        }
                                    }
                                };
                                let _ = tokio::time::timeout(NAME_THE_OTHER, listen).await;
                            }
                            if by.is_empty() {
                                by.clone_from(&state.others_seen);
                            }
                            return state.report(WatchOutcome::Superseded { by });
                        }
                        Verdict::Cancelled => return state.report(WatchOutcome::Cancelled),
                        Verdict::Running => {}
                    }
                }
                Err(error) => {
                    if deadline.is_none() {
                        // The apps cannot be read to derive it; 10 minutes until they can.
                        let d = Duration::from_secs(600);
                        deadline = Some((d, started + d));
                    }
                    if !state.unreachable {
                        progress.warn(format!("reading Marathon failed, retrying: {error}"));
                    }
                    state.unreachable = true;
                }
            }
            let interval = if state.success_event {
                // Marathon said done: confirm as soon as the task lists catch up.
                Duration::from_millis(100)
            } else if signals.is_some() && !state.unreachable {
                options.resync_interval
            } else {
                options.poll_interval
            };
            next_read = Instant::now() + interval;
        }

        let (limit, limit_at) = deadline.unwrap_or((Duration::MAX, far_future()));
        let stall_window = stall.unwrap_or(Duration::MAX);
        let stall_at = last_progress_at
            .checked_add(stall_window)
            .unwrap_or_else(far_future);
        let now = Instant::now();
        if now >= limit_at {
            return state.report(WatchOutcome::TimedOut { after: limit });
        }
        if now >= stall_at && !state.success_event {
            return state.report(WatchOutcome::Stalled {
                window: stall_window,
            });
        }
        let wake_at = next_read.min(limit_at).min(stall_at);

        let signal = match signals.as_mut() {
            Some(stream) => {
                tokio::select! {
                    item = stream.next() => Some(item),
                    () = tokio::time::sleep_until(wake_at) => None,
                }
            }
            None => {
                tokio::time::sleep_until(wake_at).await;
                None
            }
        };
        match signal {
            None => {}
            Some(None) => {
                signals = None;
                progress.emit(Progress::FallingBackToPolling);
                next_read = Instant::now();
            }
            Some(Some(signal)) => {
                let read_after = state.on_signal(signal, target, progress);
                if let Some(after) = read_after {
                    let at = if after.is_zero() {
                        // Our deployment's end, or a reconnect: read at once.
                        Instant::now()
                    } else {
                        (Instant::now() + after).max(last_read + options.poll_interval)
                    };
                    next_read = next_read.min(at);
                }
            }
        }
    }
}

fn far_future() -> Instant {
    // About 30 years: later than any deadline, without overflowing Instant arithmetic.
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

/// How long to listen for the name of a deployment that superseded ours and already ended.
const NAME_THE_OTHER: Duration = Duration::from_millis(500);

/// How long after the watch starts a deployment that was never listed counts as ended.
const LISTING_GRACE: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests;
