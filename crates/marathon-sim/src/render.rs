//! How apps, tasks and groups render as Marathon's JSON.

use serde_json::{Map, Value, json};

use crate::model::{self, App};
use crate::state::{AppEmbed, GroupEmbed, HOST, Phase, State, Task};

impl State {
    pub(crate) fn render_task(&self, task: &Task, checked: bool) -> Value {
        let mut t = json!({
            "id": task.id,
            "slaveId": task.slave_id,
            "host": HOST,
            "state": if task.phase == Phase::Running { "TASK_RUNNING" } else { "TASK_STAGING" },
            "startedAt": task.started_at.map(|s| self.ts(s)),
            "stagedAt": self.ts(task.staged_at),
            "ports": task.ports,
            "servicePorts": self.apps.get(&task.app_id).map(|a| model::service_ports(&a.def)).unwrap_or_default(),
            "version": task.version,
            "ipAddresses": [{"ipAddress": HOST, "protocol": "IPv4"}],
            "appId": task.app_id,
        });
        if checked && let (Some(h), Value::Object(map)) = (&task.health, &mut t) {
            let result = json!({
                "alive": h.alive,
                "consecutiveFailures": h.consecutive_failures,
                "firstSuccess": h.first_success.map(|s| self.ts(s)),
                "lastFailure": h.last_failure.map(|s| self.ts(s)),
                "lastSuccess": h.last_success.map(|s| self.ts(s)),
                "lastFailureCause": h.last_failure.map(|_| "health check failed"),
                "instanceId": task.instance_id,
                "taskId": task.id,
            });
            map.insert("healthCheckResults".to_owned(), json!([result]));
        }
        t
    }

    pub(crate) fn render_app(&self, app: &App, embed: AppEmbed) -> Value {
        let mut out = app.def.clone();
        out.insert("version".to_owned(), json!(app.version));
        out.insert(
            "versionInfo".to_owned(),
            json!({"lastScalingAt": app.last_scaling, "lastConfigChangeAt": app.last_config_change}),
        );
        let tasks = self
            .tasks
            .get(app.id())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let checked = app.health().is_some();
        if embed.counts {
            let staged = tasks.iter().filter(|t| t.phase == Phase::Staged).count();
            let running = tasks.len() - staged;
            let with = |alive: bool| {
                tasks
                    .iter()
                    .filter(|t| {
                        checked
                            && t.phase == Phase::Running
                            && t.health.as_ref().is_some_and(|h| h.alive == alive)
                    })
                    .count()
            };
            out.insert("tasksStaged".to_owned(), json!(staged));
            out.insert("tasksRunning".to_owned(), json!(running));
            out.insert("tasksHealthy".to_owned(), json!(with(true)));
            out.insert("tasksUnhealthy".to_owned(), json!(with(false)));
        }
        if embed.deployments {
            let ids: Vec<Value> = self
                .locking_deployments(app.id())
                .into_iter()
                .map(|id| json!({"id": id}))
                .collect();
            out.insert("deployments".to_owned(), Value::Array(ids));
        }
        if embed.tasks {
            let list: Vec<Value> = tasks.iter().map(|t| self.render_task(t, checked)).collect();
            out.insert("tasks".to_owned(), Value::Array(list));
        }
        if embed.last_task_failure
            && let Some(f) = self.failures.get(app.id())
        {
            out.insert(
                "lastTaskFailure".to_owned(),
                json!({
                    "appId": app.id(),
                    "host": HOST,
                    "message": f.message,
                    "state": f.state,
                    "taskId": f.task_id,
                    "timestamp": self.ts(f.at),
                    "version": f.version,
                    "slaveId": "sim-agent-S0",
                }),
            );
        }
        Value::Object(out)
    }

    pub(crate) fn render_group(&self, id: &str, embed: GroupEmbed) -> Option<Value> {
        let meta = self.groups.get(id)?;
        let mut out = Map::new();
        out.insert("id".to_owned(), json!(id));
        for (k, v) in &meta.extra {
            out.insert(k.clone(), v.clone());
        }
        out.entry("dependencies").or_insert_with(|| json!([]));
        out.insert("version".to_owned(), json!(meta.version));
        // Ids sort by path, so a group's subtree is one contiguous range of keys.
        let prefix = if id == "/" {
            "/".to_owned()
        } else {
            format!("{id}/")
        };
        if embed.apps {
            let apps: Vec<Value> = self
                .apps
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .filter(|(k, _)| model::parent(k) == id)
                .map(|(_, a)| self.render_app(a, embed.app))
                .collect();
            out.insert("apps".to_owned(), Value::Array(apps));
        }
        if embed.groups {
            let groups: Vec<Value> = self
                .groups
                .range(prefix.clone()..)
                .map(|(g, _)| g)
                .take_while(|g| g.starts_with(&prefix))
                .filter(|g| g.as_str() != "/" && model::parent(g) == id)
                .filter_map(|g| self.render_group(g, embed))
                .collect();
            out.insert("groups".to_owned(), Value::Array(groups));
        }
        if embed.apps {
            out.insert("pods".to_owned(), json!([]));
        }
        Some(Value::Object(out))
    }
}
