//! Running deployments: each tick steps them as far as their tasks allow, as Marathon's
//! deployment actors do (rolling restarts honour `upgradeStrategy`).

use std::sync::Arc;

use serde_json::{Value, json};

use crate::clock::SimTime;
use crate::deploy::{Action, ActionKind, steps_json};
use crate::model::App;
use crate::state::{State, Task};
use crate::{DeploymentOutcome, TaskOutcome};

impl State {
    /// Moves simulated time forward to `target`, firing every transition on the way in order.
    pub(crate) fn advance_to(&mut self, target: SimTime) {
        // A bound against any cycle of transitions that never moves time forward.
        for _ in 0..100_000 {
            match self.next_due() {
                Some(at) if at <= target => {
                    if at > self.now {
                        self.now = at;
                    }
                    self.fire_due_tasks();
                    self.progress();
                }
                _ => break,
            }
        }
        if target > self.now {
            self.now = target;
        }
        self.fire_due_tasks();
        self.progress();
    }

    /// Steps every running deployment as far as it can go now, then keeps idle apps scaled.
    pub(crate) fn progress(&mut self) {
        let ids: Vec<String> = self.deployments.iter().map(|d| d.id.clone()).collect();
        for id in ids {
            self.progress_deployment(&id);
        }
        self.reconcile_idle_apps();
    }

    fn progress_deployment(&mut self, id: &str) {
        loop {
            let Some(pos) = self.deployments.iter().position(|d| d.id == id) else {
                return;
            };
            let Some(d) = self.deployments.get(pos) else {
                return;
            };
            let plan = Arc::clone(&d.plan);
            let Some(step) = d.steps.get(d.current).cloned() else {
                self.end_deployment(id, DeploymentOutcome::Succeeded);
                return;
            };
            let current_step = json!({"actions": step.iter().map(|a| json!({"action": a.kind.name(), "app": a.app})).collect::<Vec<_>>()});
            let mut step = step;
            if !d.step_started {
                self.deployment_event(
                    "deployment_info",
                    &plan,
                    json!({"plan": null, "currentStep": current_step}),
                );
                for action in &mut step {
                    self.start_action(action);
                }
                if let Some(d) = self.deployments.get_mut(pos) {
                    d.step_started = true;
                    if let Some(s) = d.steps.get_mut(d.current) {
                        *s = step.clone();
                    }
                }
            }
            let mut done = true;
            for action in &step {
                done &= self.run_action(action);
            }
            if !done {
                return;
            }
            self.deployment_event(
                "deployment_step_success",
                &plan,
                json!({"plan": null, "currentStep": current_step}),
            );
            if let Some(d) = self.deployments.get_mut(pos) {
                d.current += 1;
                d.step_started = false;
            }
        }
    }

    fn task_ids(&self, app: &str, pick: impl Fn(&Task) -> bool) -> Vec<String> {
        self.tasks
            .get(app)
            .into_iter()
            .flatten()
            .filter(|t| pick(t))
            .map(|t| t.id.clone())
            .collect()
    }

    fn start_action(&mut self, action: &mut Action) {
        let Some(app) = self.apps.get(&action.app) else {
            return;
        };
        if matches!(action.kind, ActionKind::Start | ActionKind::Restart) {
            // The health-check manager starts checking the new version (`AddHealthCheck`).
            let checks: Vec<Value> = app
                .def
                .get("healthChecks")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let (app_id, version) = (action.app.clone(), app.version.clone());
            for check in checks {
                let body = json!({"appId": app_id, "version": version, "healthCheck": check});
                self.emit("add_health_check_event", body);
            }
        }
        let Some(app) = self.apps.get(&action.app) else {
            return;
        };
        if action.kind != ActionKind::Restart {
            return;
        }
        let version = app.version.clone();
        let (min_healthy, max_capacity) = capacities(app);
        let mut old: Vec<(bool, String)> = self
            .tasks
            .get(&action.app)
            .into_iter()
            .flatten()
            .filter(|t| t.version != version)
            .map(|t| (self.is_ready(t), t.id.clone()))
            .collect();
        let mut kill_now = old.len().saturating_sub(min_healthy);
        if min_healthy == max_capacity && max_capacity <= old.len() {
            // Marathon kills one task at once so that a full app can make progress at all.
            kill_now = kill_now.max(1);
        }
        old.sort(); // Tasks that are not up go first.
        for (_, id) in old.iter().take(kill_now) {
            self.kill(&action.app, id);
        }
        action.keep_old = old.len().saturating_sub(kill_now);
    }

    /// Does what an action can do now; returns whether it is complete.
    fn run_action(&mut self, action: &Action) -> bool {
        match action.kind {
            ActionKind::Start => true,
            ActionKind::Stop => {
                for id in self.task_ids(&action.app, |_| true) {
                    self.kill(&action.app, &id);
                }
                // `StopApplication` ends with the app's `AppTerminatedEvent`.
                self.emit("app_terminated_event", json!({"appId": action.app}));
                true
            }
            ActionKind::Scale => {
                self.scale_to_instances(&action.app);
                let Some(app) = self.apps.get(&action.app) else {
                    return true;
                };
                let n = app.instances();
                let list = self
                    .tasks
                    .get(&action.app)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                list.len() == n && list.iter().filter(|t| self.is_ready(t)).count() >= n
            }
            ActionKind::Restart => self.run_restart(action),
        }
    }

    fn run_restart(&mut self, action: &Action) -> bool {
        let Some(app) = self.apps.get(&action.app) else {
            return true;
        };
        let n = app.instances();
        let version = app.version.clone();
        let (_, max_capacity) = capacities(app);
        let new_ready = self
            .tasks
            .get(&action.app)
            .into_iter()
            .flatten()
            .filter(|t| t.version == version && self.is_ready(t))
            .count();
        // One old task goes for every new task that is up.
        let keep = action.keep_old.saturating_sub(new_ready);
        let mut old: Vec<(bool, String)> = self
            .tasks
            .get(&action.app)
            .into_iter()
            .flatten()
            .filter(|t| t.version != version)
            .map(|t| (self.is_ready(t), t.id.clone()))
            .collect();
        old.sort();
        let surplus = old.len().saturating_sub(keep);
        for (_, id) in old.iter().take(surplus) {
            self.kill(&action.app, id);
        }
        let old_alive = old.len() - surplus;
        let new_alive = self.task_ids(&action.app, |t| t.version == version).len();
        let room = max_capacity
            .saturating_sub(old_alive + new_alive)
            .min(n.saturating_sub(new_alive));
        if room > 0 && self.can_launch(&action.app) {
            for _ in 0..room {
                self.launch(&action.app);
            }
        }
        old_alive == 0 && new_ready >= n
    }

    /// Finishes a deployment at once when all its remaining tasks could become healthy.
    pub(crate) fn complete_now(&mut self, id: &str) -> bool {
        let Some(d) = self.deployments.iter().find(|d| d.id == id) else {
            return false;
        };
        let apps: Vec<String> = d
            .steps
            .iter()
            .skip(d.current)
            .flatten()
            .map(|a| a.app.clone())
            .collect();
        for app_id in &apps {
            if let Some(app) = self.apps.get(app_id)
                && matches!(
                    self.config.outcome(&app.image()),
                    TaskOutcome::NeverHealthy | TaskOutcome::CrashLoop
                )
            {
                return false;
            }
        }
        for app_id in &apps {
            let Some(app) = self.apps.get(app_id) else {
                for tid in self.task_ids(app_id, |_| true) {
                    self.kill(app_id, &tid);
                }
                continue;
            };
            let version = app.version.clone();
            let n = app.instances();
            for tid in self.task_ids(app_id, |t| t.version != version) {
                self.kill(app_id, &tid);
            }
            let have = self.task_ids(app_id, |_| true).len();
            for _ in have..n {
                self.launch(app_id);
            }
            for tid in self.task_ids(app_id, |_| true).into_iter().skip(n) {
                self.kill(app_id, &tid);
            }
            // Run every pending transition of these tasks now.
            let now = self.now;
            for _ in 0..4 {
                if let Some(list) = self.tasks.get_mut(app_id) {
                    for t in list.iter_mut().filter(|t| t.next_at.is_some()) {
                        t.next_at = Some(now);
                    }
                }
                self.fire_due_tasks();
            }
        }
        self.progress_deployment(id);
        !self.deployments.iter().any(|d| d.id == id)
    }

    /// `GET /v2/deployments`.
    pub(crate) fn render_deployments(&self) -> Value {
        Value::Array(
            self.deployments
                .iter()
                .map(|d| {
                    let current: Vec<Value> = d
                        .steps
                        .get(d.current)
                        .into_iter()
                        .flatten()
                        .map(|a| json!({"action": a.kind.name(), "app": a.app, "readinessCheckResults": []}))
                        .collect();
                    json!({
                        "id": d.id,
                        "version": d.version,
                        "affectedApps": d.affected,
                        "affectedPods": [],
                        "steps": steps_json(&d.steps),
                        "currentActions": current,
                        "currentStep": (d.current + 1).min(d.steps.len()),
                        "totalSteps": d.steps.len(),
                    })
                })
                .collect(),
        )
    }
}

/// `(minimum healthy, maximum capacity)` of a restart, computed as Marathon does.
fn capacities(app: &App) -> (usize, usize) {
    let n = app.instances();
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let (min_healthy, max_capacity) = {
        let nf = n as f64;
        (
            (nf * app.minimum_health_capacity() - 1e-9).ceil().max(0.0) as usize,
            (nf * (1.0 + app.maximum_over_capacity()) + 1e-9).floor() as usize,
        )
    };
    (min_healthy, max_capacity.max(n))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::capacities;
    use crate::model::App;

    fn app(instances: u64, min_health: f64, over: f64) -> App {
        let def = json!({
            "id": "/a",
            "instances": instances,
            "upgradeStrategy": {"minimumHealthCapacity": min_health, "maximumOverCapacity": over},
        });
        let Value::Object(def) = def else {
            unreachable!("a JSON object literal")
        };
        App {
            def,
            version: "v".into(),
            last_config_change: "v".into(),
            last_scaling: "v".into(),
        }
    }

    #[test]
    fn capacities_round_minimum_up_and_maximum_down_as_marathon() {
        assert_eq!(capacities(&app(3, 0.5, 0.5)), (2, 4));
        assert_eq!(capacities(&app(3, 1.0, 0.0)), (3, 3));
        assert_eq!(capacities(&app(10, 0.85, 0.15)), (9, 11));
        assert_eq!(capacities(&app(0, 1.0, 1.0)), (0, 0));
    }
}
