//! What REST says about a deployment and its apps, and the verdict drawn from it.
//!
//! Pure functions over marathon-client's models of what Marathon returns (`GET /v2/apps/{id}`
//! with its tasks and deployments, and `GET /v2/deployments`), so the rules that decide
//! success, supersession and cancellation can be tested on exact responses (deserialised).
//!
//! Which deployments are running is read from the apps themselves: Marathon lists every
//! deployment that holds an app in the app's `deployments` array (`[{"id": …}]`). So one app
//! read per changed app tells whether our deployment still runs and who else holds our apps;
//! `/v2/deployments` is needed only when an answer has no such array (see [`holders_from_apps`]).

use marathon_client::{App, Deployment, Task};
use serde::Serialize;

/// One app the watch expects to reach a new version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedApp {
    /// The Marathon app id.
    pub app_id: String,
    /// The image the app must run at the end, when known (a deploy knows it; a bare
    /// `duncan watch ID` does not).
    pub image: Option<String>,
}

/// How one app looks right now, compared with what the watch expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppObservation {
    /// The Marathon app id.
    pub app_id: String,
    /// The app's definition is the one the deployment installs (version and image).
    pub on_target: bool,
    /// The app's definition version now.
    pub version: Option<String>,
    /// The image the app's definition names now.
    pub image: Option<String>,
    /// Instances wanted.
    pub instances: u32,
    /// Tasks of the current definition that are running.
    pub new_running: u32,
    /// Tasks of the current definition that are running and healthy (running, for apps without
    /// health checks).
    pub new_healthy: u32,
    /// Tasks started from an older definition, still alive.
    pub old_tasks: u32,
    /// The longest health-check grace period plus failure allowance, in seconds.
    pub health_allowance_secs: u64,
    /// The ids of the deployments holding the app, from its `deployments` array; `None` when
    /// the app does not exist or Marathon's answer has no such array.
    pub deployments: Option<Vec<String>>,
    /// Marathon's `lastTaskFailure` of the app, when the failed task ran the current
    /// definition (a failure of the new tasks, not an old one).
    pub last_task_failure: Option<LastTaskFailure>,
    /// The running tasks of the current definition whose health checks fail.
    pub unhealthy_tasks: Vec<UnhealthyTask>,
}

/// Marathon's `lastTaskFailure` of an app, as far as a user needs it to see why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastTaskFailure {
    /// The terminal Mesos state, such as `TASK_FAILED` or `TASK_KILLED`.
    pub state: Option<String>,
    /// Mesos' or Marathon's message, such as `Command exited with status 1`.
    pub message: Option<String>,
    /// When the task failed.
    pub timestamp: Option<String>,
    /// The failed task.
    pub task_id: Option<String>,
    /// The agent it ran on.
    pub host: Option<String>,
}

/// A running task of the new definition that fails its health checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnhealthyTask {
    /// The task id.
    pub task_id: String,
    /// The agent it runs on.
    pub host: Option<String>,
    /// Failed checks in a row.
    pub consecutive_failures: Option<u64>,
    /// Why the last check failed, when Marathon says.
    pub last_failure_cause: Option<String>,
    /// When the last check failed.
    pub last_failure: Option<String>,
}

/// Why one app's new tasks fail, as Marathon tells it: the app's last task failure and the
/// health check results of its unhealthy tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppTrouble {
    /// The Marathon app id.
    pub app_id: String,
    /// The app's last task failure (of the new definition).
    pub last_task_failure: Option<LastTaskFailure>,
    /// The new tasks failing their health checks.
    pub unhealthy_tasks: Vec<UnhealthyTask>,
}

impl AppTrouble {
    /// What went wrong with the app's new tasks, as seen in `apps`; one entry per app with
    /// something to say.
    pub fn of(apps: &[AppObservation]) -> Vec<AppTrouble> {
        apps.iter()
            .filter(|a| a.last_task_failure.is_some() || !a.unhealthy_tasks.is_empty())
            .map(|a| AppTrouble {
                app_id: a.app_id.clone(),
                last_task_failure: a.last_task_failure.clone(),
                unhealthy_tasks: a.unhealthy_tasks.clone(),
            })
            .collect()
    }
}

impl std::fmt::Display for AppTrouble {
    /// `/shop/web: last task TASK_FAILED at T (Command exited with status 1); 2 tasks fail
    /// their health checks (health check failed)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:", self.app_id)?;
        let mut sep = " ";
        if let Some(failure) = &self.last_task_failure {
            write!(
                f,
                "{sep}last task {}",
                failure.state.as_deref().unwrap_or("failed")
            )?;
            if let Some(at) = &failure.timestamp {
                write!(f, " at {at}")?;
            }
            if let Some(message) = failure.message.as_deref().filter(|m| !m.is_empty()) {
                write!(f, " ({message})")?;
            }
            sep = "; ";
        }
        if !self.unhealthy_tasks.is_empty() {
            let n = self.unhealthy_tasks.len();
            write!(
                f,
                "{sep}{n} new task{} fail{} health checks",
                if n == 1 { "" } else { "s" },
                if n == 1 { "s" } else { "" }
            )?;
            let mut causes: Vec<&str> = Vec::new();
            for cause in self
                .unhealthy_tasks
                .iter()
                .filter_map(|t| t.last_failure_cause.as_deref())
            {
                if !causes.contains(&cause) {
                    causes.push(cause);
                }
            }
            if !causes.is_empty() {
                write!(f, " ({})", causes.join("; "))?;
            }
        }
        Ok(())
    }
}

impl AppObservation {
    /// An app Marathon does not know (404): never on target.
    pub fn missing(expected: &ExpectedApp) -> AppObservation {
        AppObservation {
            app_id: expected.app_id.clone(),
            on_target: false,
            version: None,
            image: None,
            instances: 0,
            new_running: 0,
            new_healthy: 0,
            old_tasks: 0,
            health_allowance_secs: 0,
            deployments: None,
            last_task_failure: None,
            unhealthy_tasks: Vec::new(),
        }
    }

    /// True when the app runs the target definition with exactly its instances, all healthy,
    /// and no task of an older definition is left.
    pub fn is_done(&self) -> bool {
        self.on_target
            && self.old_tasks == 0
            && self.new_running == self.instances
            && self.new_healthy == self.instances
    }
}

/// Reads an app (with tasks, deployments and the last task failure embedded, as
/// `GET /v2/apps/{id}?embed=app.tasks&embed=app.deployments&embed=app.lastTaskFailure`
/// answers) against what is expected: `target_version` is the version the deployment gives
/// the app (for an update, the deployment's own version).
pub fn observe_app(
    app: &App,
    expected: &ExpectedApp,
    target_version: Option<&str>,
) -> AppObservation {
    let version = app.version.clone();
    let image = app.docker_image().map(str::to_owned);
    let version_ok = match (target_version, version.as_deref()) {
        (Some(target), Some(now)) => target == now,
        (Some(_), None) => false,
        (None, _) => true,
    };
    let image_ok = match (&expected.image, &image) {
        (Some(want), Some(now)) => want == now,
        (Some(_), None) => false,
        (None, _) => true,
    };
    let instances = app.instances.map_or(0, saturating_u32);
    // A task belongs to the current definition when it was started at or after the last
    // configuration change: a pure scale changes `version` but keeps the old tasks valid.
    let config_since = app
        .version_info
        .as_ref()
        .and_then(|v| v.last_config_change_at.as_deref())
        .or(version.as_deref());
    let health_checks = app.health_checks.as_ref().map_or(0, Vec::len);
    let mut new_running = 0u32;
    let mut new_healthy = 0u32;
    let mut old_tasks = 0u32;
    let mut unhealthy_tasks = Vec::new();
    for task in app.tasks.iter().flatten() {
        if !task_is_alive(task) {
            continue;
        }
        let current = match (task.version.as_deref(), config_since) {
            // ISO-8601 timestamps in Marathon's single format compare correctly as strings.
            (Some(tv), Some(since)) => tv >= since,
            _ => false,
        };
        if !current {
            old_tasks = old_tasks.saturating_add(1);
            continue;
        }
        if !task_is_running(task) {
            continue;
        }
        new_running = new_running.saturating_add(1);
        if health_checks == 0 || task.is_healthy() {
            new_healthy = new_healthy.saturating_add(1);
        } else if let Some(unhealthy) = unhealthy_task(task) {
            unhealthy_tasks.push(unhealthy);
        }
    }
    // A failure of a task started from the current definition (or later) is the new tasks'.
    let last_task_failure = app
        .last_task_failure
        .clone()
        .flatten()
        .filter(|f| match (f.version.as_deref(), config_since) {
            (Some(fv), Some(since)) => fv >= since,
            _ => false,
        })
        .map(|f| LastTaskFailure {
            state: f.state,
            message: f.message,
            timestamp: f.timestamp,
            task_id: f.task_id,
            host: f.host,
        });
    AppObservation {
        app_id: expected.app_id.clone(),
        on_target: version_ok && image_ok,
        version,
        image,
        instances,
        new_running,
        new_healthy,
        old_tasks,
        health_allowance_secs: health_allowance_secs(app),
        deployments: deployments_of(app),
        last_task_failure,
        unhealthy_tasks,
    }
}

/// A task with a health check result that is not alive; `None` when no check has failed yet
/// (results not in, or still in the grace period).
fn unhealthy_task(task: &Task) -> Option<UnhealthyTask> {
    let failing = task
        .health_check_results
        .iter()
        .flatten()
        .find(|r| r.alive == Some(false))?;
    Some(UnhealthyTask {
        task_id: task.id.clone(),
        host: task.host.clone(),
        consecutive_failures: failing.consecutive_failures,
        last_failure_cause: failing.last_failure_cause.clone().flatten(),
        last_failure: failing.last_failure.clone().flatten(),
    })
}

/// The ids in an app's `deployments` array; `None` when the answer has no such array.
pub fn deployments_of(app: &App) -> Option<Vec<String>> {
    app.deployment_ids()
        .map(|ids| ids.into_iter().map(str::to_owned).collect())
}

/// Who holds the watched apps, from the apps' own `deployments` arrays: whether
/// `deployment_id` still holds one of them, and the other deployments holding any of them
/// (each once, in order of appearance).
///
/// `None` when that cannot be told from the apps: an app is missing or its answer has no
/// `deployments` array (Marathon versions that leave it out unless embedded, or a proxy that
/// strips it). The caller then reads `/v2/deployments` ([`holders_from_deployments`]).
pub fn holders_from_apps(
    apps: &[AppObservation],
    deployment_id: &str,
) -> Option<(bool, Vec<String>)> {
    if apps.is_empty() {
        return None;
    }
    let mut ours = false;
    let mut others: Vec<String> = Vec::new();
    for app in apps {
        for id in app.deployments.as_ref()? {
            if id == deployment_id {
                ours = true;
            } else if !others.contains(id) {
                others.push(id.clone());
            }
        }
    }
    Some((ours, others))
}

/// Who holds the watched apps, from `GET /v2/deployments`: whether `deployment_id` is listed,
/// and the other listed deployments that affect one of `app_ids`.
pub fn holders_from_deployments(
    deployments: &[Deployment],
    deployment_id: &str,
    app_ids: &[&str],
) -> (bool, Vec<String>) {
    let mut ours = false;
    let mut others = Vec::new();
    for summary in deployments.iter().map(summarize_deployment) {
        if summary.id == deployment_id {
            ours = true;
        } else if summary
            .affected_apps
            .iter()
            .any(|a| app_ids.contains(&a.as_str()))
        {
            others.push(summary.id);
        }
    }
    (ours, others)
}

fn saturating_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn task_is_alive(task: &Task) -> bool {
    !matches!(
        task.mesos_state(),
        Some(
            "TASK_FINISHED"
                | "TASK_FAILED"
                | "TASK_KILLED"
                | "TASK_LOST"
                | "TASK_ERROR"
                | "TASK_DROPPED"
                | "TASK_GONE"
                | "TASK_GONE_BY_OPERATOR"
        )
    )
}

fn task_is_running(task: &Task) -> bool {
    match task.mesos_state() {
        Some(state) => state == "TASK_RUNNING",
        // Marathon before 1.2 has no `state` on tasks; `startedAt` is set once running.
        None => matches!(task.started_at, Some(Some(_))),
    }
}

/// The longest time one task may take to become healthy: for each health check its grace period
/// plus interval × allowed failures; the maximum over the app's checks (0 without checks).
pub fn health_allowance_secs(app: &App) -> u64 {
    app.health_checks
        .iter()
        .flatten()
        .map(|check| {
            // Defaults are Marathon's own.
            check.grace_period_seconds.unwrap_or(300).saturating_add(
                check
                    .interval_seconds
                    .unwrap_or(60)
                    .saturating_mul(check.max_consecutive_failures.unwrap_or(3)),
            )
        })
        .max()
        .unwrap_or(0)
}

/// A deployment as `GET /v2/deployments` lists it, reduced to what the watch needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentSummary {
    /// The deployment id.
    pub id: String,
    /// The version the deployment installs.
    pub version: Option<String>,
    /// The apps it touches.
    pub affected_apps: Vec<String>,
    /// The current step, 1-based.
    pub current_step: u32,
    /// The number of steps.
    pub total_steps: u32,
}

/// Reduces one entry of `GET /v2/deployments` to what the watch needs.
pub fn summarize_deployment(deployment: &Deployment) -> DeploymentSummary {
    let num = |n: Option<u64>| n.map_or(0, saturating_u32);
    DeploymentSummary {
        id: deployment.id.clone(),
        version: deployment.version.clone(),
        affected_apps: deployment.affected_apps.clone(),
        current_step: num(deployment.current_step),
        total_steps: num(deployment.total_steps),
    }
}

/// The state the verdict is drawn from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Our deployment still holds one of our apps (Marathon still runs it).
    pub ours_running: bool,
    /// The ids of other running deployments that hold one of our apps.
    pub others: Vec<String>,
    /// Our apps.
    pub apps: Vec<AppObservation>,
}

/// What the watch concludes from a snapshot and the events seen so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Keep watching.
    Running,
    /// The deployment finished and REST confirms every app runs the new version, healthy.
    Succeeded,
    /// Another deployment took over our apps.
    Superseded {
        /// The deployments now holding them (may be empty when they have already finished).
        by: Vec<String>,
    },
    /// Our deployment ended without the apps reaching the new version, and no one else changed
    /// them: it was cancelled (or Marathon failed it).
    Cancelled,
}

/// What the watch has learnt besides the snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    /// `deployment_success` for our id was seen on the stream.
    pub success_event: bool,
    /// `deployment_failed` for our id was seen on the stream.
    pub failed_event: bool,
    /// Our id missing from REST means it ended: it was listed before, or enough time has
    /// passed since the update for it to be listed.
    pub trust_absence: bool,
}

/// Judges a snapshot, given what else was seen.
pub fn judge(snapshot: &Snapshot, seen: Seen) -> Verdict {
    let Seen {
        success_event,
        failed_event,
        trust_absence,
    } = seen;
    let all_done = !snapshot.apps.is_empty() && snapshot.apps.iter().all(AppObservation::is_done);
    let gone = !snapshot.ours_running && trust_absence;
    if all_done && !failed_event && (success_event || gone) {
        return Verdict::Succeeded;
    }
    if !(failed_event || gone) {
        return Verdict::Running;
    }
    if success_event && !failed_event && !all_done && snapshot.others.is_empty() {
        // Marathon said success, but the apps do not look done yet (task lists lag behind the
        // event by a moment): keep checking until the deadline.
        if snapshot.apps.iter().all(|a| a.on_target) {
            return Verdict::Running;
        }
    }
    let moved_on = snapshot.apps.iter().any(|a| !a.on_target);
    if !snapshot.others.is_empty() || moved_on {
        Verdict::Superseded {
            by: snapshot.others.clone(),
        }
    } else {
        Verdict::Cancelled
    }
}

#[cfg(test)]
mod tests;
