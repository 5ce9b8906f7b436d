//! Deployments: the plans Marathon runs to apply a change.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A running deployment, as listed by `GET /v2/deployments`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// The deployment id.
    pub id: String,
    /// The target version.
    #[serde(default)]
    pub version: Option<String>,
    /// Ids of the apps it changes.
    #[serde(default)]
    pub affected_apps: Vec<String>,
    /// Ids of the pods it changes.
    #[serde(default)]
    pub affected_pods: Vec<String>,
    /// All steps of the plan.
    #[serde(default)]
    pub steps: Vec<DeploymentStep>,
    /// The actions of the step now running.
    #[serde(default)]
    pub current_actions: Vec<DeploymentAction>,
    /// The step now running, counted from 1.
    #[serde(default)]
    pub current_step: Option<u64>,
    /// How many steps the plan has.
    #[serde(default)]
    pub total_steps: Option<u64>,
    /// Every other field, kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One step of a deployment plan: actions that run together.
///
/// Marathon 1.0 and later send `{"actions": [...]}`; older versions send the bare array.
/// Both parse; a step serializes in the newer form.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DeploymentStep {
    /// The actions of the step.
    pub actions: Vec<DeploymentAction>,
}

impl<'de> Deserialize<'de> for DeploymentStep {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Object {
                #[serde(default)]
                actions: Vec<DeploymentAction>,
            },
            Array(Vec<DeploymentAction>),
        }
        Ok(match Wire::deserialize(deserializer)? {
            Wire::Object { actions } | Wire::Array(actions) => DeploymentStep { actions },
        })
    }
}

/// One action of a deployment step, such as restarting one app.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentAction {
    /// The action: `StartApplication`, `StopApplication`, `ScaleApplication`,
    /// `RestartApplication`, `ResolveArtifacts`, `KillAllOldTasksOf`, or a pod action.
    /// Older versions name this field `type`; both spellings parse.
    #[serde(alias = "type")]
    pub action: String,
    /// The app acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The pod acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Every other field (readiness check results…), kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn steps_parse_as_objects_and_as_pre_1_0_arrays_with_type() {
        let deployment: Deployment = serde_json::from_value(json!({"id": "d",
            "steps": [{"actions": [{"action": "StartApplication", "app": "/a"}]},
                      [{"type": "ScaleApplication", "app": "/a"}]]}))
        .unwrap();
        let actions: Vec<&str> = deployment
            .steps
            .iter()
            .flat_map(|s| s.actions.iter().map(|a| a.action.as_str()))
            .collect();
        assert_eq!(actions, ["StartApplication", "ScaleApplication"]);
    }
}
