//! The watch of one Marathon deployment until its real end (DESIGN.md, protocol step 6).
//!
//! - The event stream is opened by the caller **before** the update that starts the deployment,
//!   and handed in as a stream of [`Signal`]s, so no event can be missed.
//! - REST is the source of truth. A snapshot is one `GET /v2/apps/{id}` per changed app (sent
//!   together), with the app's tasks and the deployments holding it: our id in an app's
//!   `deployments` means ours still runs, other ids there are the deployments that took our
//!   apps over. `/v2/deployments` is read only when an app's answer has no `deployments` array.
//! - Success needs `deployment_success` for our id (or our id gone from the apps, which is how
//!   a missed event looks after a reconnect) **and** REST showing every changed app on the new
//!   version (image and `version`) with exactly its instances, all healthy, and no task of an
//!   older definition left.
//! - `deployment_failed` for our id, or our id gone while the apps are not on the new version, is
//!   a failure: [`WatchOutcome::Superseded`] when another deployment took the apps over,
//!   [`WatchOutcome::Cancelled`] otherwise.
//! - A stall (no new healthy task within the stall window) and the deadline are failures.
//! - When the stream reconnects (the client's reconnecting stream says so with
//!   [`Signal::Reconnected`]) the state is re-read over REST at once, since Marathon replays
//!   nothing; when the stream ends or was never had, REST is polled every `poll_interval`.
//! - With a stream, REST is read at once only for our deployment's end (or failure) and after a
//!   reconnect; step and task events prompt a read at most once per `poll_interval`, and the
//!   state is re-read every `resync_interval`. A deployment that ends quickly thus costs one
//!   confirming read.
//! - A stream is trusted only while it is heard from: Marathon sends a keep-alive every 10 s
//!   ([`Signal::KeepAlive`]), so a stream silent for longer than [`STREAM_SILENCE_LIMIT`], or
//!   one that said it dropped ([`Signal::Disconnected`]), is treated as unreliable and REST is
//!   read every `poll_interval` until the stream speaks again.
//!
//! The watch never reports success that REST does not confirm.

mod client;
mod observe;
mod state;
mod target;

use std::future::Future;
use std::time::Duration;

use futures_util::future::try_join_all;
use futures_util::{FutureExt, Stream, StreamExt};
use marathon_client::{App, Deployment};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use client::{SignalStream, open_signals, signal_of, watch_running};
pub use observe::{
    AppObservation, AppTrouble, DeploymentSummary, ExpectedApp, LastTaskFailure, Seen, Snapshot,
    UnhealthyTask, Verdict, deployments_of, health_allowance_secs, holders_from_apps,
    holders_from_deployments, judge, observe_app, summarize_deployment,
};
pub use target::target_of_running;

use crate::progress::{Progress, ProgressSink};
use state::LoopState;

/// The REST reads the watch needs. Implemented for [`marathon_client`]'s client; tests may fake
/// it.
pub trait MarathonRead: Send + Sync {
    /// The error of a read.
    type Error: std::error::Error + Send + Sync + 'static;

    /// `GET /v2/deployments`: every running deployment. The watch of a known target reads it
    /// only when an app's answer has no `deployments` array.
    fn deployments(&self) -> impl Future<Output = Result<Vec<Deployment>, Self::Error>> + Send;

    /// `GET /v2/apps/{id}` with its tasks, the deployments holding it and its last task
    /// failure embedded (`embed=app.tasks&embed=app.deployments&embed=app.lastTaskFailure`);
    /// `None` when the app does not exist.
    fn app(&self, app_id: &str) -> impl Future<Output = Result<Option<App>, Self::Error>> + Send;
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
        /// The step the event is about and the number of steps, `(k, n)` with `k` 1-based,
        /// when the event says.
        step: Option<(u32, u32)>,
    },
    /// A task or health event of an app (`status_update_event`, `health_status_changed_event`).
    AppActivity {
        /// The app id.
        app_id: String,
    },
    /// The stream dropped and was re-established; events in between are lost.
    Reconnected,
    /// The stream dropped and is reconnecting: events are being missed until
    /// [`Signal::Reconnected`].
    Disconnected,
    /// A keep-alive: the stream is there, with nothing to say.
    KeepAlive,
    /// Anything else (shows the stream is alive).
    Other,
}

/// What the watch waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchTarget {
    /// The Marathon deployment id.
    pub deployment_id: String,
    /// The version the deployment gives every app (an update's answer), or `None` when the
    /// apps keep versions of their own (a rollback restores each app's old definition): each
    /// app must then keep the version it had when the watch first read it.
    pub version: Option<String>,
    /// The apps it must bring to that version.
    pub apps: Vec<ExpectedApp>,
}

/// How long to wait, and how often to look.
///
/// The defaults, and why:
///
/// - `poll_interval` **1 s**. Without a trusted stream (none, dropped, or silent for longer
///   than [`STREAM_SILENCE_LIMIT`]) every read costs one request per changed app, so a
///   one-app deploy of a minute costs about 60 requests, and the end is seen 0.5 s after it
///   happens on average (go-marathon polls every 500 ms: twice the load for 0.25 s).
/// - `resync_interval` **2.5 s**. With a trusted stream the end is announced by an event and
///   confirmed at once; the re-read only catches what no event said, such as a stream that
///   stalls without a word (open, not even keep-alives) just before the end, which is then
///   seen at the next re-read: within 2.5 s, p50 about 1.25 s (the bench measured p50 3.4 s
///   with 5 s). A snapshot now costs one request per changed app where it cost one more for
///   `/v2/deployments`, so a one-app deploy re-reads at the same 0.4 requests per second as
///   the 5 s re-read of two requests did: half the detection time for the same load. Going
///   lower would add load to every deploy for a rare fault (a proxy or Marathon holding the
///   stream open without keep-alives), and a stream silent past [`STREAM_SILENCE_LIMIT`] is
///   read every `poll_interval` anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOptions {
    /// Give up after this long. `None`: derived from the apps (see [`default_deadline`]).
    pub deadline: Option<Duration>,
    /// Give up when no new healthy task appeared for this long. `None`: derived from the apps
    /// (see [`default_stall_window`]).
    pub stall_window: Option<Duration>,
    /// How often REST is read without a trusted event stream (1 s); with one, the shortest gap
    /// between reads prompted by progress events, and the delay of the first read.
    pub poll_interval: Duration,
    /// How often REST is re-read while the stream is trusted, to catch what events cannot say
    /// (2.5 s).
    pub resync_interval: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            deadline: None,
            stall_window: None,
            poll_interval: Duration::from_secs(1),
            resync_interval: Duration::from_millis(2500),
        }
    }
}

/// How long the event stream may stay silent (no event, not even a keep-alive) and still be
/// trusted: Marathon's keep-alive interval (10 s) plus 5 s for a slow network or a busy
/// Marathon. Past it the watch reads REST every [`WatchOptions::poll_interval`] until the
/// stream speaks again. marathon-client's idle watchdog drops the stream later (30 s), and
/// the reconnect that follows re-reads REST at once.
pub const STREAM_SILENCE_LIMIT: Duration = Duration::from_secs(15);

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
    /// The watch was asked to stop (its cancellation token) before the deployment ended: the
    /// deployment's fate is not known from this watch.
    Interrupted,
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
            WatchOutcome::Interrupted => f.write_str("interrupted before its end was seen"),
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
    /// How long the reads had been failing in a row when the watch ended (`None`: the last
    /// read succeeded).
    pub unreachable_for: Option<Duration>,
}

impl WatchReport {
    /// Why the apps' new tasks fail, as Marathon told at the last read: each app's last task
    /// failure and its unhealthy tasks (empty when nothing was seen failing).
    pub fn troubles(&self) -> Vec<AppTrouble> {
        AppTrouble::of(&self.apps)
    }
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

/// Reads the apps once (one request per app, sent together), and `/v2/deployments` only when
/// an app's answer cannot say which deployments hold it.
///
/// # Errors
///
/// The first read error.
pub async fn snapshot<M: MarathonRead>(
    marathon: &M,
    target: &WatchTarget,
) -> Result<Snapshot, M::Error> {
    let answers = try_join_all(target.apps.iter().map(|e| marathon.app(&e.app_id))).await?;
    let apps: Vec<AppObservation> = target
        .apps
        .iter()
        .zip(answers)
        .map(|(expected, answer)| match answer {
            Some(app) => observe_app(&app, expected, target.version.as_deref()),
            None => AppObservation::missing(expected),
        })
        .collect();
    let (ours_running, others) = match holders_from_apps(&apps, &target.deployment_id) {
        Some(holders) => holders,
        None => {
            let deployments = marathon.deployments().await?;
            let app_ids: Vec<&str> = target.apps.iter().map(|a| a.app_id.as_str()).collect();
            holders_from_deployments(&deployments, &target.deployment_id, &app_ids)
        }
    };
    Ok(Snapshot {
        ours_running,
        others,
        apps,
    })
}

/// Watches `target` until it succeeds or fails; see the module documentation for the rules.
///
/// `signals` is the event stream opened before the update (`None` when it could not be had:
/// REST is then polled every [`WatchOptions::poll_interval`]). Progress goes to `progress`:
/// step k/n, healthy/target per app, reconnects, the fall-back to polling.
///
/// Read errors never end the watch by themselves: it keeps trying until the deadline, and the
/// report says when Marathon was unreachable at the end. The deadline holds whatever the reads
/// cost: it is checked on every turn, and a read still running at the deadline is abandoned.
/// Before a deadline or a stall is reported, the apps are read once more (for at most
/// [`LAST_LOOK_LIMIT`]), so a deployment that ended just before is not reported failed.
///
/// # Cancel safety
///
/// `cancel` ends the watch at its next turn or in the middle of a read or a wait, with
/// [`WatchOutcome::Interrupted`]; nothing is left running. Dropping the future is also safe (it
/// only reads), but then the caller learns nothing.
pub async fn watch_deployment<M, S>(
    marathon: &M,
    signals: Option<S>,
    target: &WatchTarget,
    options: &WatchOptions,
    cancel: &CancellationToken,
    progress: &ProgressSink,
) -> WatchReport
where
    M: MarathonRead,
    S: Stream<Item = Signal> + Unpin,
{
    run(
        marathon,
        signals,
        target,
        options,
        STREAM_SILENCE_LIMIT,
        cancel,
        progress,
    )
    .await
}

/// How long the last read before a deadline or a stall is reported may take.
pub const LAST_LOOK_LIMIT: Duration = Duration::from_secs(5);

/// The watch's view of its limits: when it must give up, and how.
struct Limits {
    started: Instant,
    deadline: Option<(Duration, Instant)>,
    stall: Option<Duration>,
}

impl Limits {
    fn new(started: Instant, options: &WatchOptions) -> Limits {
        Limits {
            started,
            deadline: options.deadline.map(|d| (d, after(started, d))),
            stall: options.stall_window,
        }
    }

    /// Derives the limits not given from the apps, once they have been read.
    fn derive(&mut self, apps: &[AppObservation]) {
        if self.deadline.is_none() {
            let d = default_deadline(apps);
            self.deadline = Some((d, after(self.started, d)));
        }
        if self.stall.is_none() {
            self.stall = Some(default_stall_window(apps));
        }
    }

    /// Without the apps to derive it from, 10 minutes until they can be read.
    fn derive_unread(&mut self) {
        if self.deadline.is_none() {
            let d = Duration::from_secs(600);
            self.deadline = Some((d, after(self.started, d)));
        }
    }

    fn deadline_at(&self) -> Instant {
        self.deadline.map_or_else(far_future, |(_, at)| at)
    }

    fn stall_at(&self, state: &LoopState) -> Instant {
        self.stall
            .and_then(|w| state.last_progress_at.checked_add(w))
            .unwrap_or_else(far_future)
    }

    /// The failure due at `now`, if any.
    fn due(&self, now: Instant, state: &LoopState) -> Option<WatchOutcome> {
        if let Some((limit, at)) = self.deadline
            && now >= at
        {
            return Some(WatchOutcome::TimedOut { after: limit });
        }
        if let Some(window) = self.stall
            && now >= self.stall_at(state)
            && !state.success_event
        {
            return Some(WatchOutcome::Stalled { window });
        }
        None
    }
}

/// `start + d`, or the far future when that cannot be represented.
fn after(start: Instant, d: Duration) -> Instant {
    start.checked_add(d).unwrap_or_else(far_future)
}

/// What one read of the apps came to.
enum Read {
    /// The watch is over.
    Ended(WatchOutcome),
    /// Still running (or the read failed and will be tried again).
    Running,
}

/// [`watch_deployment`] with the stream's silence limit as a parameter, so tests need not wait
/// for Marathon's.
async fn run<M, S>(
    marathon: &M,
    signals: Option<S>,
    target: &WatchTarget,
    options: &WatchOptions,
    silence_limit: Duration,
    cancel: &CancellationToken,
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
    let mut state = LoopState::new(started);
    // The deadline and the stall window may depend on the apps: read them first.
    let mut limits = Limits::new(started, options);
    // With a stream, the first read waits: the deployment's end is announced by an event (read
    // at once then), and a deployment that ends within `poll_interval` needs only the
    // confirming read. Without one, read now.
    let mut next_read = if signals.is_some() {
        after(started, options.poll_interval)
    } else {
        started
    };
    // Reads prompted by progress events (steps, task updates) come at most once per
    // `poll_interval` after the last read ended: enough for the progress display and the stall
    // check, without a read per burst of task events.
    let mut last_read = started;
    let mut was_trusted = true;

    loop {
        // Every turn checks the interruption and the limits first, whatever the reads cost.
        if cancel.is_cancelled() {
            return state.report(WatchOutcome::Interrupted);
        }
        let now = Instant::now();
        if let Some(failure) = limits.due(now, &state) {
            // One last look: a deployment that ended just before is not a failure.
            let look = tokio::time::timeout(
                LAST_LOOK_LIMIT,
                read_and_judge(
                    marathon,
                    &mut signals,
                    target,
                    &mut state,
                    &mut limits,
                    progress,
                ),
            );
            let outcome = tokio::select! {
                biased;
                () = cancel.cancelled() => WatchOutcome::Interrupted,
                read = look => match read {
                    Ok(Read::Ended(outcome)) => outcome,
                    Ok(Read::Running) | Err(_) => failure,
                },
            };
            return state.report(outcome);
        }
        let trusted = signals.is_some() && state.stream_trusted(now, silence_limit);
        if signals.is_some() && trusted != was_trusted {
            tracing::debug!(
                trusted,
                "event stream {}",
                if trusted {
                    "heard from again"
                } else {
                    "silent or down: reading REST every poll interval"
                }
            );
        }
        was_trusted = trusted;
        // An untrusted stream may be hiding the end: read at least every poll interval.
        let read_at = if trusted {
            next_read
        } else {
            next_read.min(after(last_read, options.poll_interval))
        };
        if now >= read_at {
            // A read never outlasts the deadline: at the deadline the loop gives its last look.
            let read = tokio::time::timeout_at(
                limits.deadline_at(),
                read_and_judge(
                    marathon,
                    &mut signals,
                    target,
                    &mut state,
                    &mut limits,
                    progress,
                ),
            );
            let read = tokio::select! {
                biased;
                () = cancel.cancelled() => return state.report(WatchOutcome::Interrupted),
                read = read => read,
            };
            if let Ok(Read::Ended(outcome)) = read {
                return state.report(outcome);
            }
            last_read = Instant::now();
            let interval = if state.success_event {
                // Marathon said done: confirm as soon as the task lists catch up.
                Duration::from_millis(100)
            } else if signals.is_some() && !state.unreachable {
                // Shortened to `poll_interval` above whenever the stream is not trusted.
                options.resync_interval
            } else {
                options.poll_interval
            };
            next_read = after(last_read, interval);
            continue;
        }

        // While trusted, wake up when the stream's silence would stop being trusted.
        let distrust_at = if trusted {
            after(state.heard_at, silence_limit + Duration::from_millis(1))
        } else {
            far_future()
        };
        let wake_at = read_at
            .min(limits.deadline_at())
            .min(limits.stall_at(&state))
            .min(distrust_at);

        let signal = match signals.as_mut() {
            Some(stream) => {
                tokio::select! {
                    () = cancel.cancelled() => None,
                    item = stream.next() => Some(item),
                    () = tokio::time::sleep_until(wake_at) => None,
                }
            }
            None => {
                tokio::select! {
                    () = cancel.cancelled() => {}
                    () = tokio::time::sleep_until(wake_at) => {}
                }
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
                let now = Instant::now();
                let read_after = state.on_signal(signal, target, progress, now);
                if let Some(wait) = read_after {
                    let at = if wait.is_zero() {
                        // Our deployment's end, or a reconnect: read at once.
                        now
                    } else {
                        after(now, wait).max(after(last_read, options.poll_interval))
                    };
                    next_read = next_read.min(at);
                }
            }
        }
    }
}

/// Takes in what the stream already said, reads the apps once and judges what they show.
async fn read_and_judge<M, S>(
    marathon: &M,
    signals: &mut Option<S>,
    target: &WatchTarget,
    state: &mut LoopState,
    limits: &mut Limits,
    progress: &ProgressSink,
) -> Read
where
    M: MarathonRead,
    S: Stream<Item = Signal> + Unpin,
{
    // A verdict never ignores an event that arrived before the read (a finished deployment is
    // gone from REST at once).
    while let Some(stream) = signals.as_mut() {
        match stream.next().now_or_never() {
            Some(Some(signal)) => {
                state.on_signal(signal, target, progress, Instant::now());
            }
            Some(None) => {
                *signals = None;
                progress.emit(Progress::FallingBackToPolling);
            }
            None => break,
        }
    }
    let asked_at = Instant::now();
    let mut snap = match snapshot(marathon, target).await {
        Ok(snap) => snap,
        Err(error) => {
            limits.derive_unread();
            // Unreachable since the read was sent: its retries took time already.
            state.read_failed(asked_at, &error.to_string(), progress);
            return Read::Running;
        }
    };
    state.read_succeeded(progress);
    limits.derive(&snap.apps);
    state.pin_versions(&mut snap, target);
    state.record(&snap, progress);
    if snap.ours_running {
        state.listed = true;
    }
    let seen = Seen {
        success_event: state.success_event,
        failed_event: state.failed_event,
        // Until Marathon has listed our deployment once, its absence may only mean the listing
        // lags behind the update's answer; unless every app already runs the definition the
        // deployment gives it (its version, or for a rollback, whose apps get their old
        // versions back, its image), with exactly its instances healthy and no older task:
        // then the deployment has done its work (a deployment that ends within the first poll
        // interval is never seen listed, and must not wait out the grace, which may be longer
        // than a short deadline).
        trust_absence: state.listed
            || limits.started.elapsed() >= LISTING_GRACE
            || state.failed_event
            || (target_is_known(target)
                && !snap.apps.is_empty()
                && snap.apps.iter().all(AppObservation::is_done)),
    };
    let verdict = judge(&snap, seen);
    state.apps = snap.apps;
    match verdict {
        Verdict::Succeeded => Read::Ended(WatchOutcome::Succeeded),
        Verdict::Superseded { mut by } => {
            // The superseding deployment may have finished before the read; its events name
            // it, and may still be on their way.
            if by.is_empty()
                && state.others_seen.is_empty()
                && let Some(stream) = signals.as_mut()
            {
                let listen = async {
                    while let Some(signal) = stream.next().await {
                        state.on_signal(signal, target, progress, Instant::now());
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
            Read::Ended(WatchOutcome::Superseded { by })
        }
        Verdict::Cancelled => Read::Ended(WatchOutcome::Cancelled),
        Verdict::Running => Read::Running,
    }
}

fn far_future() -> Instant {
    // About 30 years: later than any deadline, without overflowing Instant arithmetic.
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

/// How long to listen for the name of a deployment that superseded ours and already ended.
const NAME_THE_OTHER: Duration = Duration::from_millis(500);

/// Whether the target says what each app must run: the deployment's version, or every app's
/// image (a rollback's target, where the versions are the apps' old ones).
fn target_is_known(target: &WatchTarget) -> bool {
    target.version.is_some()
        || (!target.apps.is_empty() && target.apps.iter().all(|a| a.image.is_some()))
}

/// How long after the watch starts a deployment that was never listed counts as ended.
const LISTING_GRACE: Duration = Duration::from_secs(2);

#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;
