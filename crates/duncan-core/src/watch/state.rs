//! The watch loop's memory: what the stream said and when, what progress was seen, what to
//! report.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::{AppObservation, Signal, Snapshot, WatchOutcome, WatchReport, WatchTarget};
use crate::progress::{Progress, ProgressSink};

pub(super) struct LoopState {
    pub(super) listed: bool,
    pub(super) others_seen: Vec<String>,
    pub(super) success_event: bool,
    pub(super) failed_event: bool,
    pub(super) unreachable: bool,
    healthy_total: u32,
    old_tasks: Option<u32>,
    step: Option<(u32, u32)>,
    health: BTreeMap<String, (u32, u32)>,
    /// Each app's version as first read, when the target names no version (see
    /// [`LoopState::pin_versions`]).
    pins: BTreeMap<String, String>,
    pub(super) apps: Vec<AppObservation>,
    /// The last time something showed progress (not a stall).
    pub(super) last_progress_at: Instant,
    /// The last time the event stream said anything, a keep-alive included.
    pub(super) heard_at: Instant,
    /// The stream said it dropped and has not said it is back.
    pub(super) stream_down: bool,
    /// When the reads started failing in a row, while they do.
    unreachable_since: Option<Instant>,
}

impl LoopState {
    pub(super) fn new(started: Instant) -> LoopState {
        LoopState {
            listed: false,
            others_seen: Vec::new(),
            success_event: false,
            failed_event: false,
            unreachable: false,
            healthy_total: 0,
            old_tasks: None,
            step: None,
            health: BTreeMap::new(),
            pins: BTreeMap::new(),
            apps: Vec::new(),
            last_progress_at: started,
            // The stream was opened just before the watch started.
            heard_at: started,
            stream_down: false,
            unreachable_since: None,
        }
    }

    /// A read of the apps failed: says so, with how long Marathon has not answered.
    pub(super) fn read_failed(&mut self, error: &str, progress: &ProgressSink) {
        let since = *self.unreachable_since.get_or_insert_with(Instant::now);
        self.unreachable = true;
        progress.emit(Progress::MarathonUnreachable {
            for_secs: since.elapsed().as_secs(),
            error: error.to_owned(),
        });
    }

    /// A read of the apps succeeded: says so when Marathon had not answered before.
    pub(super) fn read_succeeded(&mut self, progress: &ProgressSink) {
        if self.unreachable_since.take().is_some() {
            progress.emit(Progress::MarathonReachable);
        }
        self.unreachable = false;
    }

    /// True when the stream has been heard from within `silence_limit` and is not known to be
    /// down: its silence about our deployment can then be trusted between re-syncs.
    pub(super) fn stream_trusted(&self, now: Instant, silence_limit: Duration) -> bool {
        !self.stream_down && now.saturating_duration_since(self.heard_at) <= silence_limit
    }

    /// Without a target version, an app must keep the definition it had when first read: the
    /// deployment installed it before the watch began (the update's or the cancel's answer
    /// came first), and only another deployment can change it while ours holds the app.
    pub(super) fn pin_versions(&mut self, snap: &mut Snapshot, target: &WatchTarget) {
        if target.version.is_some() {
            return;
        }
        for app in &mut snap.apps {
            let Some(version) = &app.version else {
                continue;
            };
            match self.pins.get(&app.app_id) {
                Some(pinned) if pinned != version => app.on_target = false,
                Some(_) => {}
                None => {
                    self.pins.insert(app.app_id.clone(), version.clone());
                }
            }
        }
    }

    /// Emits progress for what changed; notes the moment when a new healthy task appeared or an
    /// old one went away (not a stall).
    ///
    /// Besides a new healthy task, an old task gone counts as progress: once every new task is
    /// healthy, Marathon may still spend a while killing the old ones.
    pub(super) fn record(&mut self, snap: &Snapshot, progress: &ProgressSink) {
        let mut healthy_total = 0u32;
        for app in &snap.apps {
            let healthy = if app.on_target { app.new_healthy } else { 0 };
            healthy_total = healthy_total.saturating_add(healthy);
            let now = (healthy, app.instances);
            if self.health.get(&app.app_id) != Some(&now) {
                self.health.insert(app.app_id.clone(), now);
                progress.emit(Progress::AppHealth {
                    app: app.app_id.clone(),
                    healthy,
                    target: app.instances,
                });
            }
        }
        let old_tasks = snap
            .apps
            .iter()
            .map(|a| a.old_tasks)
            .fold(0u32, u32::saturating_add);
        let advanced = healthy_total > self.healthy_total
            || self.old_tasks.is_some_and(|before| old_tasks < before);
        self.healthy_total = self.healthy_total.max(healthy_total);
        self.old_tasks = Some(
            self.old_tasks
                .map_or(old_tasks, |before| before.min(old_tasks)),
        );
        if advanced {
            self.last_progress_at = Instant::now();
        }
    }

    /// Handles one stream signal received at `now`; returns how soon REST should be read
    /// because of it.
    pub(super) fn on_signal(
        &mut self,
        signal: Signal,
        target: &WatchTarget,
        progress: &ProgressSink,
        now: Instant,
    ) -> Option<Duration> {
        if signal == Signal::Disconnected {
            // Events are being missed until the stream says it is back.
            self.stream_down = true;
            return None;
        }
        self.heard_at = now;
        self.stream_down = false;
        match signal {
            Signal::DeploymentSuccess { id } if id == target.deployment_id => {
                self.success_event = true;
                progress.emit(Progress::ConfirmingOverRest);
                Some(Duration::ZERO)
            }
            Signal::DeploymentFailed { id } if id == target.deployment_id => {
                self.failed_event = true;
                Some(Duration::ZERO)
            }
            Signal::DeploymentStep { id, step, .. } if id == target.deployment_id => {
                if let Some((k, n)) = step {
                    self.on_step(k, n, progress, now);
                }
                Some(Duration::from_millis(20))
            }
            Signal::DeploymentStep {
                id, affected_apps, ..
            } => {
                // Another deployment touching our apps: if ours fails, this one superseded it.
                let ours = affected_apps
                    .iter()
                    .any(|a| target.apps.iter().any(|e| &e.app_id == a));
                if ours && !self.others_seen.contains(&id) {
                    self.others_seen.push(id);
                }
                ours.then_some(Duration::from_millis(50))
            }
            // Another deployment finishing or failing may be the one that superseded ours.
            Signal::DeploymentSuccess { .. } | Signal::DeploymentFailed { .. } => {
                Some(Duration::from_millis(50))
            }
            Signal::AppActivity { app_id } if target.apps.iter().any(|a| a.app_id == app_id) => {
                // Several task events come in bursts: read once shortly after the first.
                Some(Duration::from_millis(50))
            }
            Signal::Reconnected => {
                progress.emit(Progress::StreamReconnected);
                Some(Duration::ZERO)
            }
            _ => None,
        }
    }

    /// Our deployment is at step `k` of `n`: shown once per change; a later step is progress.
    fn on_step(&mut self, k: u32, n: u32, progress: &ProgressSink, now: Instant) {
        if n == 0 || self.step == Some((k, n)) {
            return;
        }
        if self.step.is_some_and(|(before, _)| k > before) {
            self.last_progress_at = now;
        }
        self.step = Some((k, n));
        progress.emit(Progress::Step { k, n });
    }

    pub(super) fn report(&mut self, outcome: WatchOutcome) -> WatchReport {
        WatchReport {
            outcome,
            apps: std::mem::take(&mut self.apps),
            marathon_unreachable: self.unreachable,
            unreachable_for: self.unreachable_since.map(|since| since.elapsed()),
        }
    }
}
