//! The watch loop's memory: what the stream said, what progress was seen, what to report.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{AppObservation, Signal, Snapshot, WatchOutcome, WatchReport, WatchTarget};
use crate::progress::{Progress, ProgressSink};

#[derive(Default)]
pub(super) struct LoopState {
    pub(super) listed: bool,
    pub(super) others_seen: Vec<String>,
    pub(super) success_event: bool,
    pub(super) failed_event: bool,
    pub(super) unreachable: bool,
    pub(super) healthy_total: u32,
    pub(super) old_tasks: Option<u32>,
    pub(super) step: Option<(u32, u32)>,
    pub(super) health: BTreeMap<String, (u32, u32)>,
    pub(super) apps: Vec<AppObservation>,
}

impl LoopState {
    /// Emits progress for what changed; true when a new healthy task appeared (not a stall).
    ///
    /// Besides a new healthy task, a step reached and an old task gone count as progress: once
    /// every new task is healthy, Marathon may still spend a while killing the old ones.
    pub(super) fn record(&mut self, snap: &Snapshot, progress: &ProgressSink) -> bool {
        let mut advanced = false;
        if let Some(ours) = &snap.ours {
            let step = (ours.current_step, ours.total_steps);
            if ours.total_steps > 0 && self.step != Some(step) {
                advanced |= self.step.is_some_and(|(k, _)| step.0 > k);
                self.step = Some(step);
                progress.emit(Progress::Step {
                    k: step.0,
                    n: step.1,
                });
            }
        }
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
        advanced |= healthy_total > self.healthy_total;
        advanced |= self.old_tasks.is_some_and(|before| old_tasks < before);
        self.healthy_total = self.healthy_total.max(healthy_total);
        self.old_tasks = Some(
            self.old_tasks
                .map_or(old_tasks, |before| before.min(old_tasks)),
        );
        advanced
    }

    /// Handles one stream signal; returns how soon REST should be read because of it.
    pub(super) fn on_signal(
        &mut self,
        signal: Signal,
        target: &WatchTarget,
        progress: &ProgressSink,
    ) -> Option<Duration> {
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
            Signal::DeploymentStep { id, .. } if id == target.deployment_id => {
                Some(Duration::from_millis(20))
            }
            Signal::DeploymentStep { id, affected_apps } => {
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

    pub(super) fn report(&mut self, outcome: WatchOutcome) -> WatchReport {
        WatchReport {
            outcome,
            apps: std::mem::take(&mut self.apps),
            marathon_unreachable: self.unreachable,
        }
    }
}
