//! The events Marathon sends on `/v2/events`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::model::{DeploymentStep, Group};

/// One event from Marathon's event stream.
///
/// The variant is chosen by the SSE `event:` name, or, when a server sends only `data:`
/// lines (Marathon before 1.1), by the `eventType` field of the JSON. Event types this crate
/// does not model arrive as [`Event::Other`] with their JSON intact, so a new Marathon
/// version never breaks a consumer.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// `event_stream_attached`: the first event of every stream.
    EventStreamAttached(StreamAttached),
    /// `deployment_info`: a deployment started a step (also sent when it starts).
    DeploymentInfo(DeploymentInfo),
    /// `deployment_step_success`: a step finished.
    DeploymentStepSuccess(DeploymentStepEvent),
    /// `deployment_step_failure`: a step failed.
    DeploymentStepFailure(DeploymentStepEvent),
    /// `deployment_success`: a deployment finished.
    DeploymentSuccess(DeploymentOutcome),
    /// `deployment_failed`: a deployment was cancelled or superseded.
    DeploymentFailed(DeploymentOutcome),
    /// `status_update_event`: a task changed Mesos state.
    StatusUpdate(StatusUpdate),
    /// `health_status_changed_event`: a task became healthy or unhealthy.
    HealthStatusChanged(HealthStatusChanged),
    /// `group_change_success`: a group change was applied.
    GroupChangeSuccess(GroupChange),
    /// `group_change_failed`: a group change failed.
    GroupChangeFailed(GroupChange),
    /// Any other event type, kept as received.
    Other {
        /// The event type, such as `api_post_event`.
        event_type: String,
        /// The event's JSON.
        data: Value,
    },
}

/// The names of the event types modelled by [`Event`], for use as stream filters.
pub mod event_types {
    /// `event_stream_attached`
    pub const EVENT_STREAM_ATTACHED: &str = "event_stream_attached";
    /// `deployment_info`
    pub const DEPLOYMENT_INFO: &str = "deployment_info";
    /// `deployment_step_success`
    pub const DEPLOYMENT_STEP_SUCCESS: &str = "deployment_step_success";
    /// `deployment_step_failure`
    pub const DEPLOYMENT_STEP_FAILURE: &str = "deployment_step_failure";
    /// `deployment_success`
    pub const DEPLOYMENT_SUCCESS: &str = "deployment_success";
    /// `deployment_failed`
    pub const DEPLOYMENT_FAILED: &str = "deployment_failed";
    /// `status_update_event`
    pub const STATUS_UPDATE: &str = "status_update_event";
    /// `health_status_changed_event`
    pub const HEALTH_STATUS_CHANGED: &str = "health_status_changed_event";
    /// `group_change_success`
    pub const GROUP_CHANGE_SUCCESS: &str = "group_change_success";
    /// `group_change_failed`
    pub const GROUP_CHANGE_FAILED: &str = "group_change_failed";
}

impl Event {
    /// Parses one event from its SSE `event:` name (if any) and its `data:` JSON.
    ///
    /// # Errors
    /// The JSON error when `data` is not JSON, or not the shape of the named event type.
    pub fn parse(event_name: Option<&str>, data: &[u8]) -> Result<Event, serde_json::Error> {
        use event_types as t;
        let name = match event_name {
            Some(name) if !name.is_empty() => name.to_owned(),
            _ => {
                #[derive(Deserialize)]
                struct TypeOnly {
                    #[serde(rename = "eventType", default)]
                    event_type: String,
                }
                serde_json::from_slice::<TypeOnly>(data)?.event_type
            }
        };
        Ok(match name.as_str() {
            t::EVENT_STREAM_ATTACHED => Event::EventStreamAttached(serde_json::from_slice(data)?),
            t::DEPLOYMENT_INFO => Event::DeploymentInfo(serde_json::from_slice(data)?),
            t::DEPLOYMENT_STEP_SUCCESS => {
                Event::DeploymentStepSuccess(serde_json::from_slice(data)?)
            }
            t::DEPLOYMENT_STEP_FAILURE => {
                Event::DeploymentStepFailure(serde_json::from_slice(data)?)
            }
            t::DEPLOYMENT_SUCCESS => Event::DeploymentSuccess(serde_json::from_slice(data)?),
            t::DEPLOYMENT_FAILED => Event::DeploymentFailed(serde_json::from_slice(data)?),
            t::STATUS_UPDATE => Event::StatusUpdate(serde_json::from_slice(data)?),
            t::HEALTH_STATUS_CHANGED => Event::HealthStatusChanged(serde_json::from_slice(data)?),
            t::GROUP_CHANGE_SUCCESS => Event::GroupChangeSuccess(serde_json::from_slice(data)?),
            t::GROUP_CHANGE_FAILED => Event::GroupChangeFailed(serde_json::from_slice(data)?),
            _ => Event::Other {
                event_type: name,
                data: serde_json::from_slice(data)?,
            },
        })
    }

    /// The event type's wire name, such as `deployment_success`.
    pub fn event_type(&self) -> &str {
        use event_types as t;
        match self {
            Event::EventStreamAttached(_) => t::EVENT_STREAM_ATTACHED,
            Event::DeploymentInfo(_) => t::DEPLOYMENT_INFO,
            Event::DeploymentStepSuccess(_) => t::DEPLOYMENT_STEP_SUCCESS,
            Event::DeploymentStepFailure(_) => t::DEPLOYMENT_STEP_FAILURE,
            Event::DeploymentSuccess(_) => t::DEPLOYMENT_SUCCESS,
            Event::DeploymentFailed(_) => t::DEPLOYMENT_FAILED,
            Event::StatusUpdate(_) => t::STATUS_UPDATE,
            Event::HealthStatusChanged(_) => t::HEALTH_STATUS_CHANGED,
            Event::GroupChangeSuccess(_) => t::GROUP_CHANGE_SUCCESS,
            Event::GroupChangeFailed(_) => t::GROUP_CHANGE_FAILED,
            Event::Other { event_type, .. } => event_type,
        }
    }

    /// The deployment id this event is about, for the deployment events.
    pub fn deployment_id(&self) -> Option<&str> {
        match self {
            Event::DeploymentInfo(e) => Some(e.plan.id.as_str()),
            Event::DeploymentStepSuccess(e) | Event::DeploymentStepFailure(e) => {
                Some(e.plan.id.as_str())
            }
            Event::DeploymentSuccess(e) | Event::DeploymentFailed(e) => Some(e.id.as_str()),
            _ => None,
        }
    }
}

/// `event_stream_attached`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamAttached {
    /// The address Marathon saw the client connect from.
    #[serde(default)]
    pub remote_address: Option<String>,
    /// When the event was emitted.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Every other field, kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The plan carried by deployment events.
///
/// With `plan-format=light` (which this crate's streams ask for) `original` and `target`
/// are left out, which keeps events small for large groups.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentPlan {
    /// The deployment id.
    pub id: String,
    /// The target version.
    #[serde(default)]
    pub version: Option<String>,
    /// The steps of the plan.
    #[serde(default)]
    pub steps: Vec<DeploymentStep>,
    /// The root group before the deployment (full plan format only).
    #[serde(default)]
    pub original: Option<Box<Group>>,
    /// The root group after the deployment (full plan format only).
    #[serde(default)]
    pub target: Option<Box<Group>>,
    /// Every other field, kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl DeploymentPlan {
    /// Ids of the apps the plan acts on, in the order of its steps, without repeats.
    pub fn affected_apps(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for action in self.steps.iter().flat_map(|s| s.actions.iter()) {
            if let Some(app) = action.app.as_deref()
                && !out.contains(&app)
            {
                out.push(app);
            }
        }
        out
    }

    /// The 1-based position of `step` among the plan's steps: the first step acting on the
    /// same apps and pods with the same actions (fields such as readiness results are not
    /// compared). `None` when the plan has no such step.
    ///
    /// ```
    /// use marathon_client::{DeploymentPlan, DeploymentStep};
    ///
    /// let plan: DeploymentPlan = serde_json::from_str(r#"{"id": "d", "steps": [
    ///     {"actions": [{"action": "StartApplication", "app": "/a"}]},
    ///     {"actions": [{"action": "ScaleApplication", "app": "/a"}]}]}"#)?;
    /// let step: DeploymentStep =
    ///     serde_json::from_str(r#"{"actions": [{"action": "ScaleApplication", "app": "/a"}]}"#)?;
    /// assert_eq!(plan.step_number(&step), Some(2));
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn step_number(&self, step: &DeploymentStep) -> Option<usize> {
        let key = |s: &DeploymentStep| -> Vec<(String, Option<String>, Option<String>)> {
            s.actions
                .iter()
                .map(|a| (a.action.clone(), a.app.clone(), a.pod.clone()))
                .collect()
        };
        let wanted = key(step);
        self.steps
            .iter()
            .position(|s| key(s) == wanted)
            .map(|i| i + 1)
    }
}

/// `deployment_info`: a deployment is at a new step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentInfo {
    /// The deployment's plan.
    pub plan: DeploymentPlan,
    /// The step now running (`deployment_info`), or the step that succeeded or failed (the
    /// step events).
    #[serde(default)]
    pub current_step: Option<DeploymentStep>,
    /// When the event was emitted.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Every other field, kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `deployment_step_success` and `deployment_step_failure`: the same fields as
/// `deployment_info`, where `current_step` is the step that succeeded or failed.
pub type DeploymentStepEvent = DeploymentInfo;

/// `deployment_success` and `deployment_failed`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentOutcome {
    /// The deployment id.
    pub id: String,
    /// The deployment's plan, when sent.
    #[serde(default)]
    pub plan: Option<DeploymentPlan>,
    /// When the event was emitted.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Every other field (such as a failure `reason`), kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `status_update_event`: a task changed Mesos state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusUpdate {
    /// The app of the task.
    #[serde(default)]
    pub app_id: Option<String>,
    /// The task id.
    #[serde(default)]
    pub task_id: Option<String>,
    /// The new state, such as `TASK_RUNNING` or `TASK_FAILED`.
    #[serde(default)]
    pub task_status: Option<String>,
    /// Mesos's message, often empty.
    #[serde(default)]
    pub message: Option<String>,
    /// The agent host.
    #[serde(default)]
    pub host: Option<String>,
    /// The app version the task runs.
    #[serde(default)]
    pub version: Option<String>,
    /// When the event was emitted.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Every other field (slaveId, ports, ipAddresses…), kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `health_status_changed_event`: a task passed or failed its health checks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthStatusChanged {
    /// The app of the task.
    #[serde(default)]
    pub app_id: Option<String>,
    /// The task id (older versions).
    #[serde(default)]
    pub task_id: Option<String>,
    /// The instance id (newer versions).
    #[serde(default)]
    pub instance_id: Option<String>,
    /// The app version the task runs.
    #[serde(default)]
    pub version: Option<String>,
    /// Whether the task is now healthy.
    #[serde(default)]
    pub alive: Option<bool>,
    /// When the event was emitted.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Every other field, kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `group_change_success` and `group_change_failed`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupChange {
    /// The group changed.
    #[serde(default)]
    pub group_id: Option<String>,
    /// The group's new version.
    #[serde(default)]
    pub version: Option<String>,
    /// Why the change failed (failures only).
    #[serde(default)]
    pub reason: Option<String>,
    /// When the event was emitted.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// Every other field, kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_type_comes_from_data_when_no_event_name() {
        let event = Event::parse(
            None,
            br#"{"groupId":"/","version":"2015-04-28T12:24:12.098Z","eventType":"group_change_success","timestamp":"2015-04-28T12:24:12.224Z"}"#,
        )
        .unwrap();
        assert!(
            matches!(event, Event::GroupChangeSuccess(GroupChange { group_id: Some(g), .. }) if g == "/")
        );
    }

    #[test]
    fn unknown_event_type_is_kept_as_other() {
        let event = Event::parse(
            Some("instance_changed_event"),
            br#"{"eventType":"instance_changed_event","x":1}"#,
        )
        .unwrap();
        assert_eq!(event.event_type(), "instance_changed_event");
        assert!(matches!(event, Event::Other { data, .. } if data["x"] == 1));
    }

    #[test]
    fn deployment_success_exposes_its_id() {
        let event = Event::parse(
            Some("deployment_success"),
            br#"{"id":"d-1","plan":{"id":"d-1","steps":[[{"type":"StartApplication","app":"/a"}]]},"eventType":"deployment_success"}"#,
        )
        .unwrap();
        assert_eq!(event.deployment_id(), Some("d-1"));
    }

    #[test]
    fn step_of_a_deployment_event_is_numbered_by_its_plan() {
        let event = Event::parse(
            Some("deployment_info"),
            br#"{"plan":{"id":"d-1","steps":[{"actions":[{"action":"StartApplication","app":"/a"}]},
                {"actions":[{"action":"RestartApplication","app":"/a"}]}]},
               "currentStep":{"actions":[{"action":"RestartApplication","app":"/a","readinessCheckResults":[]}]}}"#,
        )
        .unwrap();
        let Event::DeploymentInfo(info) = event else {
            panic!("not deployment_info: {event:?}");
        };
        let step = info.current_step.as_ref().unwrap();
        assert_eq!(info.plan.step_number(step), Some(2));
        assert_eq!(info.plan.steps.len(), 2);
    }

    #[test]
    fn step_missing_from_the_plan_has_no_number() {
        let plan: DeploymentPlan = serde_json::from_str(r#"{"id":"d","steps":[]}"#).unwrap();
        let step: DeploymentStep =
            serde_json::from_str(r#"{"actions":[{"action":"StopApplication","app":"/b"}]}"#)
                .unwrap();
        assert_eq!(plan.step_number(&step), None);
    }

    #[test]
    fn deployment_event_that_is_not_json_is_an_error() {
        assert!(Event::parse(Some("deployment_success"), b"{\"id\":").is_err());
    }
}
