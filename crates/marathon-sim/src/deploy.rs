//! Deployments: built from a change of the desired apps, stepped forward as tasks come up, ended
//! by success, by a forced deployment or by a cancel (with or without a rollback).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::events::{OutEvent, PlanJson};
use crate::model::{self, App};
use crate::state::{AppEmbed, GroupEmbed, GroupMeta, State};
use crate::{DeploymentOutcome, DeploymentRecord};

/// Marathon's message for a change that touches apps of a running deployment.
pub(crate) const LOCKED_MESSAGE: &str = "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.";

/// Why a request changes nothing.
#[derive(Debug)]
pub(crate) enum Rejection {
    /// 422: the definition breaks Marathon's validation (`path`, `message` pairs).
    Invalid(Vec<(String, String)>),
    /// 409: apps are locked by these deployments.
    Locked(Vec<String>),
    /// 404 with this message.
    NotFound(String),
    /// 409 with this message (e.g. creating what exists).
    Conflict(String),
    /// 422 with this message only.
    Unprocessable(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ActionKind {
    Start,
    Stop,
    Scale,
    Restart,
}

impl ActionKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ActionKind::Start => "StartApplication",
            ActionKind::Stop => "StopApplication",
            ActionKind::Scale => "ScaleApplication",
            ActionKind::Restart => "RestartApplication",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Action {
    pub(crate) kind: ActionKind,
    pub(crate) app: String,
    /// For a restart: how many old tasks stay until new ones are up (fixed when the step starts).
    pub(crate) keep_old: usize,
}

/// A running deployment.
pub(crate) struct Deployment {
    pub(crate) id: String,
    pub(crate) version: String,
    pub(crate) affected: Vec<String>,
    pub(crate) steps: Vec<Vec<Action>>,
    pub(crate) current: usize,
    pub(crate) step_started: bool,
    /// The apps as they were before: what a rollback restores (`None`: did not exist).
    original_apps: BTreeMap<String, Option<App>>,
    pub(crate) plan: Arc<PlanJson>,
    record: usize,
}

/// What a change of one app needs.
#[derive(Debug)]
pub(crate) enum Change {
    Start(App),
    Stop(String),
    Scale(App),
    Restart(App),
}

impl Change {
    fn id(&self) -> &str {
        match self {
            Change::Start(a) | Change::Scale(a) | Change::Restart(a) => a.id(),
            Change::Stop(id) => id,
        }
    }
}

pub(crate) fn steps_json(steps: &[Vec<Action>]) -> Value {
    Value::Array(
        steps
            .iter()
            .map(|s| json!({"actions": s.iter().map(|a| json!({"action": a.kind.name(), "app": a.app})).collect::<Vec<_>>()}))
            .collect(),
    )
}

/// The steps Marathon builds for a change: stops, then starts, then scales and restarts.
fn plan_steps(changes: &[Change]) -> Vec<Vec<Action>> {
    let action = |kind, app: &str| Action {
        kind,
        app: app.to_owned(),
        keep_old: 0,
    };
    let mut stop = Vec::new();
    let mut start = Vec::new();
    let mut run = Vec::new();
    for c in changes {
        match c {
            Change::Stop(id) => stop.push(action(ActionKind::Stop, id)),
            Change::Start(app) => {
                start.push(action(ActionKind::Start, app.id()));
                run.push(action(ActionKind::Scale, app.id()));
            }
            Change::Scale(app) => run.push(action(ActionKind::Scale, app.id())),
            Change::Restart(app) => run.push(action(ActionKind::Restart, app.id())),
        }
    }
    [stop, start, run]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect()
}

/// How the groups change along with the apps.
pub(crate) struct GroupTarget<'a> {
    /// Groups to store (with their new metadata).
    pub(crate) groups: BTreeMap<String, GroupMeta>,
    /// Groups to forget.
    pub(crate) removed_groups: Vec<String>,
    /// The group named in `group_change_success`; it and its ancestors get the new version.
    pub(crate) event_group: &'a str,
}

/// What the caller of an update gets back.
pub(crate) enum Applied {
    /// A deployment started: its version and id.
    Started {
        version: String,
        deployment_id: String,
    },
    /// A dry run: the steps it would take.
    DryRun(Value),
}

impl State {
    /// The root group for a plan's `original` / `target`. Rendering 1000 apps costs real time,
    /// so it is skipped (`null`) while no event subscriber wants full plans.
    fn root_snapshot(&self) -> Value {
        if !self.full_plans_wanted {
            return Value::Null;
        }
        let embed = GroupEmbed {
            groups: true,
            apps: true,
            app: Default::default(),
        };
        self.render_group("/", embed).unwrap_or(Value::Null)
    }

    /// Compares the desired apps of a scope with the current ones.
    pub(crate) fn diff(
        &self,
        scope: &dyn Fn(&str) -> bool,
        desired: &BTreeMap<String, Map<String, Value>>,
        version: &str,
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        for (id, app) in self.apps.iter().filter(|(id, _)| scope(id)) {
            if !desired.contains_key(id) {
                changes.push(Change::Stop(app.id().to_owned()));
            }
        }
        for (id, def) in desired {
            let fresh = |config_changed: bool, old: Option<&App>| App {
                def: def.clone(),
                version: version.to_owned(),
                last_config_change: if config_changed {
                    version.to_owned()
                } else {
                    old.map_or_else(|| version.to_owned(), |o| o.last_config_change.clone())
                },
                last_scaling: version.to_owned(),
            };
            match self.apps.get(id) {
                None => changes.push(Change::Start(fresh(true, None))),
                Some(old) if old.def == *def => {}
                Some(old) if old.only_scale_differs(def) => {
                    changes.push(Change::Scale(fresh(false, Some(old))))
                }
                Some(old) => changes.push(Change::Restart(fresh(true, Some(old)))),
            }
        }
        changes
    }

    /// Applies a change set: lock check, `force`, dry run, then the new state and its deployment.
    pub(crate) fn apply(
        &mut self,
        changes: Vec<Change>,
        target: GroupTarget<'_>,
        force: bool,
        dry_run: bool,
        version: String,
    ) -> Result<Applied, Rejection> {
        let GroupTarget {
            groups,
            removed_groups,
            event_group,
        } = target;
        let affected: Vec<String> = changes.iter().map(|c| c.id().to_owned()).collect();
        let mut conflicts: Vec<String> = Vec::new();
        for d in &self.deployments {
            if d.affected.iter().any(|a| affected.contains(a)) {
                conflicts.push(d.id.clone());
            }
        }
        if !conflicts.is_empty() && !force && !dry_run {
            // Marathon reports the refused group change on the event bus as well.
            let body =
                json!({"groupId": event_group, "version": version, "reason": LOCKED_MESSAGE});
            self.emit("group_change_failed", body);
            return Err(Rejection::Locked(conflicts));
        }
        let steps = plan_steps(&changes);
        if dry_run {
            return Ok(Applied::DryRun(json!({"steps": steps_json(&steps)})));
        }
        for id in &conflicts {
            // A forced update ends the deployments it overrides; they fail.
            self.end_deployment(id, DeploymentOutcome::Failed);
        }
        let original = self.root_snapshot();
        let mut original_apps = BTreeMap::new();
        for id in &affected {
            original_apps.insert(id.clone(), self.apps.get(id).cloned());
        }
        for g in removed_groups {
            self.groups.remove(&g);
        }
        for (id, meta) in groups {
            if id != "/" {
                self.ensure_parents(&id, &version);
            }
            self.groups.insert(id, meta);
        }
        for change in changes {
            match change {
                Change::Stop(id) => {
                    let removed = self.apps.remove(&id);
                    self.app_versions.remove(&id);
                    if removed.is_some_and(|a| a.health().is_some()) {
                        // Its health checks stop with it (`RemoveHealthCheck`).
                        self.emit("remove_health_check_event", json!({"appId": id}));
                    }
                }
                Change::Start(app) | Change::Scale(app) | Change::Restart(app) => {
                    let id = app.id().to_owned();
                    self.ensure_parents(&id, &version);
                    self.record_app_version(&app);
                    self.apps.insert(id, app);
                }
            }
        }
        // The changed group and its ancestors carry the new version.
        let mut g = event_group.to_owned();
        loop {
            if let Some(meta) = self.groups.get_mut(&g) {
                meta.version = version.clone();
            }
            if g == "/" {
                break;
            }
            g = model::parent(&g);
        }
        self.emit(
            "group_change_success",
            json!({"groupId": event_group, "version": version}),
        );
        let id = self.start_deployment(steps, affected, original_apps, original, version.clone());
        Ok(Applied::Started {
            version,
            deployment_id: id,
        })
    }

    fn start_deployment(
        &mut self,
        steps: Vec<Vec<Action>>,
        affected: Vec<String>,
        original_apps: BTreeMap<String, Option<App>>,
        original: Value,
        version: String,
    ) -> String {
        let id = crate::state::uuid();
        let target = self.root_snapshot();
        let plan = Arc::new(PlanJson::new(
            id.clone(),
            version.clone(),
            steps_json(&steps),
            original,
            target,
        ));
        self.history.push(DeploymentRecord {
            id: id.clone(),
            version: version.clone(),
            affected_apps: affected.clone(),
            started: self.now.0,
            ended: None,
            outcome: DeploymentOutcome::Running,
        });
        let record = self.history.len() - 1;
        self.deployments.push(Deployment {
            id: id.clone(),
            version,
            affected,
            steps,
            current: 0,
            step_started: false,
            original_apps,
            plan,
            record,
        });
        id
    }

    pub(crate) fn deployment_event(
        &mut self,
        kind: &'static str,
        plan: &Arc<PlanJson>,
        body: Value,
    ) {
        let body = match body {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let timestamp = self.ts(self.now);
        self.pending.push(OutEvent {
            kind,
            body,
            timestamp,
            plan: Some(Arc::clone(plan)),
        });
    }

    /// Removes a running deployment, emitting `deployment_success` or `deployment_failed`.
    pub(crate) fn end_deployment(
        &mut self,
        id: &str,
        outcome: DeploymentOutcome,
    ) -> Option<Deployment> {
        let pos = self.deployments.iter().position(|d| d.id == id)?;
        let d = self.deployments.remove(pos);
        if outcome != DeploymentOutcome::Succeeded
            && d.step_started
            && let Some(step) = d.steps.get(d.current)
        {
            // The step under way fails first, then the deployment.
            let current = json!({"actions": step.iter().map(|a| json!({"action": a.kind.name(), "app": a.app})).collect::<Vec<_>>()});
            self.deployment_event(
                "deployment_step_failure",
                &d.plan.clone(),
                json!({"plan": null, "currentStep": current}),
            );
        }
        let kind = if outcome == DeploymentOutcome::Succeeded {
            "deployment_success"
        } else {
            "deployment_failed"
        };
        self.deployment_event(kind, &d.plan.clone(), json!({"id": d.id, "plan": null}));
        if let Some(r) = self.history.get_mut(d.record) {
            r.ended = Some(self.now.0);
            r.outcome = outcome;
        }
        Some(d)
    }

    // ----- the API's changes -----

    /// `PUT /v2/apps/{id}` (and `POST /v2/apps`): returns whether the app was created.
    pub(crate) fn update_app(
        &mut self,
        id: &str,
        body: &Map<String, Value>,
        partial: bool,
        force: bool,
        create_only: bool,
    ) -> Result<(bool, Applied), Rejection> {
        let existing = self.apps.get(id).cloned();
        if create_only && existing.is_some() {
            return Err(Rejection::Conflict(format!(
                "An app with id [{id}] already exists."
            )));
        }
        let errors = model::check_app(body, "");
        if !errors.is_empty() {
            return Err(Rejection::Invalid(errors));
        }
        let def = match (&existing, partial) {
            (Some(old), true) => {
                let mut merged = old.def.clone();
                for (k, v) in body {
                    merged.insert(k.clone(), v.clone());
                }
                merged
            }
            _ => body.clone(),
        };
        let def = model::normalize_app(def, id);
        let version = self.new_version();
        let mut desired = BTreeMap::new();
        desired.insert(id.to_owned(), def);
        self.assign_ports(&mut desired, &|_| true);
        let only = |other: &str| other == id;
        let changes = self.diff(&only, &desired, &version);
        let parent = model::parent(id);
        let target = GroupTarget {
            groups: BTreeMap::new(),
            removed_groups: Vec::new(),
            event_group: &parent,
        };
        let applied = self.apply(changes, target, force, false, version)?;
        if let Some(app) = self.apps.get(id) {
            let definition = self.render_app(app, AppEmbed::default());
            let body = json!({"clientIp": "127.0.0.1", "uri": format!("/v2/apps{id}"), "appDefinition": definition});
            self.emit("api_post_event", body);
        }
        Ok((existing.is_none(), applied))
    }

    /// `POST /v2/apps/{id}/restart`: the same definition at a new version, so every task is
    /// replaced by a rolling restart (`AppsResource.restart` marks the app for restarting).
    pub(crate) fn restart_app(&mut self, id: &str, force: bool) -> Result<Applied, Rejection> {
        let Some(old) = self.apps.get(id).cloned() else {
            return Err(Rejection::NotFound(format!("App '{id}' does not exist")));
        };
        let version = self.new_version();
        let app = App {
            def: old.def,
            version: version.clone(),
            last_config_change: version.clone(),
            last_scaling: version.clone(),
        };
        let parent = model::parent(id);
        let target = GroupTarget {
            groups: BTreeMap::new(),
            removed_groups: Vec::new(),
            event_group: &parent,
        };
        self.apply(vec![Change::Restart(app)], target, force, false, version)
    }

    /// `DELETE /v2/apps/{id}`.
    pub(crate) fn delete_app(&mut self, id: &str, force: bool) -> Result<Applied, Rejection> {
        if !self.apps.contains_key(id) {
            return Err(Rejection::NotFound(format!("App '{id}' does not exist")));
        }
        let version = self.new_version();
        let changes = vec![Change::Stop(id.to_owned())];
        let parent = model::parent(id);
        let target = GroupTarget {
            groups: BTreeMap::new(),
            removed_groups: Vec::new(),
            event_group: &parent,
        };
        self.apply(changes, target, force, false, version)
    }

    /// `DELETE /v2/deployments/{id}`: `Ok(None)` for `force`, else the rollback's version and id.
    pub(crate) fn cancel(
        &mut self,
        id: &str,
        force: bool,
    ) -> Result<Option<(String, String)>, Rejection> {
        let outcome = if force {
            DeploymentOutcome::Cancelled
        } else {
            DeploymentOutcome::RolledBack
        };
        let Some(d) = self.end_deployment(id, outcome) else {
            return Err(Rejection::NotFound(format!(
                "DeploymentPlan {id} does not exist"
            )));
        };
        if force {
            return Ok(None);
        }
        // The rollback restores each affected app as it was before, old version included, so
        // tasks still running that version count as already rolled back.
        let version = self.new_version();
        let original = self.root_snapshot();
        let mut changes = Vec::new();
        let mut original_apps = BTreeMap::new();
        for (app_id, before) in d.original_apps {
            let now = self.apps.get(&app_id).cloned();
            original_apps.insert(app_id.clone(), now.clone());
            match (now, before) {
                (Some(cur), Some(old)) if cur == old => {}
                (Some(cur), Some(old)) if cur.only_scale_differs(&old.def) => {
                    changes.push(Change::Scale(old))
                }
                (Some(_), Some(old)) => changes.push(Change::Restart(old)),
                (None, Some(old)) => changes.push(Change::Start(old)),
                (Some(_), None) => changes.push(Change::Stop(app_id)),
                (None, None) => {}
            }
        }
        let affected: Vec<String> = changes.iter().map(|c| c.id().to_owned()).collect();
        let steps = plan_steps(&changes);
        for change in changes {
            match change {
                Change::Stop(app_id) => {
                    self.apps.remove(&app_id);
                    self.app_versions.remove(&app_id);
                }
                Change::Start(app) | Change::Scale(app) | Change::Restart(app) => {
                    let app_id = app.id().to_owned();
                    self.ensure_parents(&app_id, &version);
                    self.record_app_version(&app);
                    self.apps.insert(app_id, app);
                }
            }
        }
        if let Some(root) = self.groups.get_mut("/") {
            root.version = version.clone();
        }
        let new_id =
            self.start_deployment(steps, affected, original_apps, original, version.clone());
        Ok(Some((version, new_id)))
    }
}

/// Marathon's message for an id that breaks its grammar.
pub(crate) fn id_error() -> String {
    format!(
        "must fully match regular expression '{}'",
        model::ID_SEGMENT_PATTERN
    )
}
