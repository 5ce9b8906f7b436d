//! The simulator's state: groups, apps, tasks and their lifecycle, and how they render as JSON.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::clock::{SimClock, SimTime};
use crate::deploy::Deployment;
use crate::events::OutEvent;
use crate::model::{self, App};
use crate::{DeploymentRecord, TaskOutcome};

/// How long a crash-looping task runs before it fails.
const CRASH_AFTER: Duration = Duration::from_secs(1);

/// Rules and timings that decide how simulated tasks behave.
#[derive(Debug, Clone)]
pub(crate) struct TaskConfig {
    pub(crate) rules: Vec<(String, TaskOutcome)>,
    pub(crate) task_start: Duration,
}

impl TaskConfig {
    /// The outcome for an image: the last matching rule wins, `healthy` when none matches.
    pub(crate) fn outcome(&self, image: &str) -> TaskOutcome {
        self.rules
            .iter()
            .rev()
            .find(|(glob, _)| model::glob_match(glob, image))
            .map_or(TaskOutcome::Healthy, |(_, outcome)| *outcome)
    }
}

/// A group as stored (its apps and subgroups are found by id).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GroupMeta {
    pub(crate) version: String,
    /// Fields other than `id`, `apps`, `groups` and `version`, kept as sent.
    pub(crate) extra: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Staged,
    Running,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct TaskHealth {
    pub(crate) alive: bool,
    pub(crate) consecutive_failures: u64,
    pub(crate) first_success: Option<SimTime>,
    pub(crate) last_success: Option<SimTime>,
    pub(crate) last_failure: Option<SimTime>,
}

/// One simulated task.
#[derive(Debug, Clone)]
pub(crate) struct Task {
    pub(crate) id: String,
    pub(crate) instance_id: String,
    pub(crate) app_id: String,
    pub(crate) version: String,
    pub(crate) outcome: TaskOutcome,
    pub(crate) phase: Phase,
    pub(crate) staged_at: SimTime,
    pub(crate) started_at: Option<SimTime>,
    pub(crate) health: Option<TaskHealth>,
    pub(crate) next_at: Option<SimTime>,
    pub(crate) slave_id: String,
    pub(crate) ports: Vec<u16>,
}

/// Marathon's record of the last failed task of an app.
#[derive(Debug, Clone)]
pub(crate) struct TaskFailure {
    pub(crate) task_id: String,
    pub(crate) state: &'static str,
    pub(crate) message: String,
    pub(crate) at: SimTime,
    pub(crate) version: String,
}

/// Launch backoff of an app after failed tasks.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Backoff {
    pub(crate) failures: u32,
    pub(crate) not_before: SimTime,
}

/// Which parts of an app are embedded in a response.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AppEmbed {
    pub(crate) counts: bool,
    pub(crate) tasks: bool,
    pub(crate) deployments: bool,
    pub(crate) last_task_failure: bool,
}

/// Which parts of a group are embedded in a response.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct GroupEmbed {
    pub(crate) groups: bool,
    pub(crate) apps: bool,
    pub(crate) app: AppEmbed,
}

pub(crate) const HOST: &str = "127.0.0.1";

/// App definitions by id.
pub(crate) type AppDefs = BTreeMap<String, Map<String, Value>>;

/// Everything the simulator knows; guarded by one mutex.
pub(crate) struct State {
    pub(crate) clock: Arc<SimClock>,
    pub(crate) config: TaskConfig,
    pub(crate) groups: BTreeMap<String, GroupMeta>,
    pub(crate) apps: BTreeMap<String, App>,
    pub(crate) tasks: BTreeMap<String, Vec<Task>>,
    pub(crate) failures: BTreeMap<String, TaskFailure>,
    pub(crate) backoff: BTreeMap<String, Backoff>,
    pub(crate) deployments: Vec<Deployment>,
    pub(crate) history: Vec<DeploymentRecord>,
    /// Stored versions of groups updated by a PUT, newest first: `(version, app definitions)`.
    pub(crate) group_versions: BTreeMap<String, Vec<(String, AppDefs)>>,
    /// Stored versions of each app, newest first, as `GET /v2/apps/{id}/versions` lists them;
    /// dropped with the app, as Marathon's `AppRepository` deletes them.
    pub(crate) app_versions: BTreeMap<String, Vec<App>>,
    pub(crate) pending: Vec<OutEvent>,
    /// Whether some event subscriber gets full plans (set before every operation).
    pub(crate) full_plans_wanted: bool,
    /// The simulated moment being processed; never moves backwards.
    pub(crate) now: SimTime,
    last_version_ms: i128,
    task_seq: u64,
}

pub(crate) fn uuid() -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        fastrand::u32(..),
        fastrand::u16(..),
        fastrand::u16(..0x1000),
        0x8000 | fastrand::u16(..0x4000),
        fastrand::u64(..1 << 48)
    )
}

impl State {
    pub(crate) fn new(clock: Arc<SimClock>, config: TaskConfig) -> State {
        let now = clock.now();
        let mut state = State {
            clock,
            config,
            groups: BTreeMap::new(),
            apps: BTreeMap::new(),
            tasks: BTreeMap::new(),
            failures: BTreeMap::new(),
            backoff: BTreeMap::new(),
            deployments: Vec::new(),
            history: Vec::new(),
            group_versions: BTreeMap::new(),
            app_versions: BTreeMap::new(),
            full_plans_wanted: true,
            pending: Vec::new(),
            now,
            last_version_ms: 0,
            task_seq: 0,
        };
        let version = state.new_version();
        state.groups.insert(
            "/".to_owned(),
            GroupMeta {
                version,
                extra: Map::new(),
            },
        );
        state
    }

    pub(crate) fn ts(&self, t: SimTime) -> String {
        self.clock.format(t)
    }

    /// A fresh version timestamp, strictly later than every earlier one.
    pub(crate) fn new_version(&mut self) -> String {
        let now_ms = i128::try_from(self.now.0.as_millis()).unwrap_or(i128::MAX);
        let ms = now_ms.max(self.last_version_ms + 1);
        self.last_version_ms = ms;
        let offset = u64::try_from(ms.max(0)).unwrap_or(u64::MAX);
        self.clock.format(SimTime(Duration::from_millis(offset)))
    }

    /// Stores the app's current version (once: a rollback to a stored version adds nothing).
    pub(crate) fn record_app_version(&mut self, app: &App) {
        let list = self.app_versions.entry(app.id().to_owned()).or_default();
        if !list.iter().any(|a| a.version == app.version) {
            list.insert(0, app.clone());
            list.sort_by(|a, b| b.version.cmp(&a.version));
        }
    }

    pub(crate) fn emit(&mut self, kind: &'static str, body: Value) {
        let body = match body {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let timestamp = self.ts(self.now);
        self.pending.push(OutEvent {
            kind,
            body,
            timestamp,
            plan: None,
        });
    }

    /// Apps that a running deployment holds.
    pub(crate) fn locking_deployments(&self, app: &str) -> Vec<String> {
        self.deployments
            .iter()
            .filter(|d| d.affected.iter().any(|a| a == app))
            .map(|d| d.id.clone())
            .collect()
    }

    /// Makes sure every ancestor group of `id` exists.
    pub(crate) fn ensure_parents(&mut self, id: &str, version: &str) {
        let mut group = model::parent(id);
        loop {
            self.groups
                .entry(group.clone())
                .or_insert_with(|| GroupMeta {
                    version: version.to_owned(),
                    extra: Map::new(),
                });
            if group == "/" {
                break;
            }
            group = model::parent(&group);
        }
    }

    /// Assigns the service ports `0` of the desired apps (see [`model::assign_service_ports`]);
    /// `kept` says which current apps outside `desired` stay, so their ports stay taken.
    pub(crate) fn assign_ports(&self, desired: &mut AppDefs, kept: &dyn Fn(&str) -> bool) {
        let mut used: std::collections::BTreeSet<u64> = self
            .apps
            .iter()
            .filter(|(id, _)| !desired.contains_key(*id) && kept(id))
            .flat_map(|(_, a)| model::service_ports(&a.def))
            .collect();
        used.extend(desired.values().flat_map(model::service_ports));
        for (id, def) in desired.iter_mut() {
            let old = self.apps.get(id).map(|a| &a.def);
            model::assign_service_ports(def, old, &mut used);
        }
    }

    // ----- tasks -----

    pub(crate) fn can_launch(&self, app: &str) -> bool {
        self.backoff
            .get(app)
            .is_none_or(|b| b.not_before <= self.now)
    }

    /// Stages a new task of the app's current version.
    pub(crate) fn launch(&mut self, app_id: &str) {
        let Some(app) = self.apps.get(app_id) else {
            return;
        };
        let version = app.version.clone();
        let outcome = self.config.outcome(&app.image());
        // Without health checks a task is up once running, so a slow one is slow to start.
        let start = match outcome {
            TaskOutcome::Slow(d) if app.health().is_none() => {
                self.config.task_start.saturating_add(d)
            }
            _ => self.config.task_start,
        };
        self.task_seq += 1;
        let prefix = app_id.trim_start_matches('/').replace('/', "_");
        let uuid = uuid();
        let task = Task {
            id: format!("{prefix}.{uuid}"),
            instance_id: format!("{prefix}.marathon-{uuid}"),
            app_id: app_id.to_owned(),
            version,
            outcome,
            phase: Phase::Staged,
            staged_at: self.now,
            started_at: None,
            health: None,
            next_at: Some(self.now.after(start)),
            slave_id: format!("sim-agent-S{}", self.task_seq % 3),
            // One host port per service port, as Marathon's offer matcher reserves them.
            ports: (0..model::service_ports(&app.def).len())
                .map(|k| 31000 + u16::try_from((self.task_seq * 7 + k as u64) % 2000).unwrap_or(0))
                .collect(),
        };
        self.status_event(&task, "TASK_STAGING", "");
        self.tasks.entry(app_id.to_owned()).or_default().push(task);
    }

    fn status_event(&mut self, task: &Task, status: &str, message: &str) {
        let body = json!({
            "slaveId": task.slave_id,
            "taskId": task.id,
            "taskStatus": status,
            "message": message,
            "appId": task.app_id,
            "host": HOST,
            "ipAddresses": [{"ipAddress": HOST, "protocol": "IPv4"}],
            "ports": task.ports,
            "version": task.version,
        });
        self.emit("status_update_event", body);
        // Marathon 1.4+ follows every task status with its instance's new condition
        // (`InstanceChangedEventsGenerator`).
        let condition = match status {
            "TASK_STAGING" => "Staging",
            "TASK_RUNNING" => "Running",
            "TASK_KILLED" => "Killed",
            "TASK_FAILED" => "Failed",
            _ => "Unknown",
        };
        let body = json!({
            "instanceId": task.instance_id,
            "condition": condition,
            "runSpecId": task.app_id,
            "agentId": task.slave_id,
            "host": HOST,
            "runSpecVersion": task.version,
        });
        self.emit("instance_changed_event", body);
    }

    fn health_event(&mut self, task: &Task, alive: bool) {
        let body = json!({
            "appId": task.app_id,
            "taskId": task.id,
            "instanceId": task.instance_id,
            "version": task.version,
            "alive": alive,
        });
        self.emit("health_status_changed_event", body);
        let body = json!({
            "instanceId": task.instance_id,
            "runSpecId": task.app_id,
            "runSpecVersion": task.version,
            "healthy": alive,
        });
        self.emit("instance_health_changed_event", body);
    }

    /// Kills a task: `TASK_KILLED` and gone, as Marathon forgets terminal tasks.
    pub(crate) fn kill(&mut self, app_id: &str, task_id: &str) {
        let Some(list) = self.tasks.get_mut(app_id) else {
            return;
        };
        let Some(pos) = list.iter().position(|t| t.id == task_id) else {
            return;
        };
        let task = list.remove(pos);
        self.status_event(&task, "TASK_KILLED", "");
    }

    fn fail(&mut self, app_id: &str, task_id: &str, state: &'static str, message: &str) {
        let Some(list) = self.tasks.get_mut(app_id) else {
            return;
        };
        let Some(pos) = list.iter().position(|t| t.id == task_id) else {
            return;
        };
        let task = list.remove(pos);
        self.status_event(&task, state, message);
        self.failures.insert(
            app_id.to_owned(),
            TaskFailure {
                task_id: task.id.clone(),
                state,
                message: message.to_owned(),
                at: self.now,
                version: task.version.clone(),
            },
        );
        // Relaunches wait for Marathon's launch backoff, growing with each failure in a row.
        let entry = self.backoff.entry(app_id.to_owned()).or_default();
        entry.failures = entry.failures.saturating_add(1);
        let delay = self
            .apps
            .get(app_id)
            .map(|app| app.backoff(entry.failures))
            .unwrap_or_default();
        entry.not_before = self.now.after(delay);
    }

    /// Whether a task counts as up: running, and healthy when the app has health checks.
    pub(crate) fn is_ready(&self, task: &Task) -> bool {
        let checked = self.apps.get(&task.app_id).and_then(App::health).is_some();
        task.phase == Phase::Running && (!checked || task.health.as_ref().is_some_and(|h| h.alive))
    }

    /// The earliest moment after which something is due.
    pub(crate) fn next_due(&self) -> Option<SimTime> {
        let tasks = self.tasks.values().flatten().filter_map(|t| t.next_at);
        let backoffs = self
            .backoff
            .values()
            .map(|b| b.not_before)
            .filter(|t| *t > self.now);
        tasks.chain(backoffs).min()
    }

    /// Runs every task transition due at `self.now`.
    pub(crate) fn fire_due_tasks(&mut self) {
        let due: Vec<(String, String)> = self
            .tasks
            .values()
            .flatten()
            .filter(|t| t.next_at.is_some_and(|at| at <= self.now))
            .map(|t| (t.app_id.clone(), t.id.clone()))
            .collect();
        for (app_id, task_id) in due {
            self.fire(&app_id, &task_id);
        }
    }

    fn fire(&mut self, app_id: &str, task_id: &str) {
        let health = self.apps.get(app_id).and_then(App::health);
        let now = self.now;
        let Some(task) = self
            .tasks
            .get_mut(app_id)
            .and_then(|l| l.iter_mut().find(|t| t.id == task_id))
        else {
            return;
        };
        match task.phase {
            Phase::Staged => {
                task.phase = Phase::Running;
                task.started_at = Some(now);
                task.next_at = match (task.outcome, health) {
                    (TaskOutcome::CrashLoop, _) => Some(now.after(CRASH_AFTER)),
                    (_, None) => None,
                    (TaskOutcome::Healthy, Some(_)) => Some(now),
                    (TaskOutcome::Slow(d), Some(_)) => Some(now.after(d)),
                    (TaskOutcome::NeverHealthy, Some(h)) => {
                        Some(now.after(Duration::from_secs(h.grace_seconds)))
                    }
                };
                let task = task.clone();
                self.status_event(&task, "TASK_RUNNING", "");
                if task.next_at.is_none() {
                    self.reset_backoff(app_id);
                }
            }
            Phase::Running => match task.outcome {
                TaskOutcome::CrashLoop => {
                    self.fail(
                        app_id,
                        task_id,
                        "TASK_FAILED",
                        "Command exited with status 1",
                    );
                }
                TaskOutcome::Healthy | TaskOutcome::Slow(_) => {
                    let h = task.health.get_or_insert_with(TaskHealth::default);
                    let was_alive = h.alive;
                    h.alive = true;
                    h.consecutive_failures = 0;
                    h.first_success.get_or_insert(now);
                    h.last_success = Some(now);
                    task.next_at = None;
                    let task = task.clone();
                    if !was_alive {
                        self.health_event(&task, true);
                    }
                    self.reset_backoff(app_id);
                }
                TaskOutcome::NeverHealthy => {
                    let first = task.health.is_none();
                    let h = task.health.get_or_insert_with(TaskHealth::default);
                    h.alive = false;
                    h.consecutive_failures += 1;
                    h.last_failure = Some(now);
                    let failures = h.consecutive_failures;
                    let params = health.unwrap_or(model::HealthParams {
                        grace_seconds: 0,
                        interval_seconds: 60,
                        max_failures: 0,
                    });
                    task.next_at = Some(now.after(Duration::from_secs(params.interval_seconds)));
                    let task = task.clone();
                    let check = self
                        .apps
                        .get(app_id)
                        .and_then(|a| a.def.get("healthChecks"))
                        .and_then(|c| c.get(0))
                        .cloned()
                        .unwrap_or(Value::Null);
                    let body = json!({"appId": app_id, "taskId": task.id, "instanceId": task.instance_id, "healthCheck": check});
                    self.emit("failed_health_check_event", body);
                    if first {
                        self.health_event(&task, false);
                    }
                    if params.max_failures > 0 && failures >= params.max_failures {
                        // Marathon kills a task that failed too many health checks in a row
                        // (`UnhealthyInstanceKillEvent` since 1.4, with the instance).
                        let body = json!({
                            "appId": app_id,
                            "taskId": task.id,
                            "instanceId": task.instance_id,
                            "version": task.version,
                            "reason": "503 Service Unavailable",
                            "host": HOST,
                            "slaveId": task.slave_id,
                        });
                        self.emit("unhealthy_instance_kill_event", body);
                        self.fail(
                            app_id,
                            task_id,
                            "TASK_KILLED",
                            "Task was killed since health check failed",
                        );
                    }
                }
            },
        }
    }

    fn reset_backoff(&mut self, app_id: &str) {
        if let Some(b) = self.backoff.get_mut(app_id) {
            b.failures = 0;
        }
    }

    /// Keeps apps that no deployment holds at their instance count, as Marathon's scheduler does.
    pub(crate) fn reconcile_idle_apps(&mut self) {
        let locked: Vec<String> = self
            .deployments
            .iter()
            .flat_map(|d| d.affected.iter().cloned())
            .collect();
        let orphans: Vec<String> = self
            .tasks
            .iter()
            .filter(|(id, list)| {
                !list.is_empty() && !self.apps.contains_key(*id) && !locked.contains(id)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for app_id in orphans {
            let ids: Vec<String> = self
                .tasks
                .get(&app_id)
                .into_iter()
                .flatten()
                .map(|t| t.id.clone())
                .collect();
            for id in ids {
                self.kill(&app_id, &id);
            }
        }
        let ids: Vec<String> = self
            .apps
            .keys()
            .filter(|id| !locked.contains(id))
            .cloned()
            .collect();
        for app_id in ids {
            self.scale_to_instances(&app_id);
        }
    }

    /// Launches missing and kills surplus tasks of an app (current version first to survive).
    pub(crate) fn scale_to_instances(&mut self, app_id: &str) {
        let Some(app) = self.apps.get(app_id) else {
            return;
        };
        let target = app.instances();
        let version = app.version.clone();
        let alive = self.tasks.get(app_id).map_or(0, Vec::len);
        if alive > target {
            let mut order: Vec<(bool, bool, SimTime, String)> = self
                .tasks
                .get(app_id)
                .into_iter()
                .flatten()
                .map(|t| {
                    (
                        t.version == version,
                        self.is_ready(t),
                        t.staged_at,
                        t.id.clone(),
                    )
                })
                .collect();
            // Old versions, then tasks that are not up, then the newest go first.
            order.sort_by_key(|t| (t.0, t.1, std::cmp::Reverse(t.2)));
            for (_, _, _, id) in order.into_iter().take(alive - target) {
                self.kill(app_id, &id);
            }
        } else if alive < target && self.can_launch(app_id) {
            for _ in alive..target {
                self.launch(app_id);
            }
        }
    }
}
