//! Groups: trees of apps that deploy together.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::App;

/// A Marathon group: apps and nested groups under one id.
///
/// Lossless like [`App`]: unnamed fields are kept in [`Group::extra`] and named fields
/// serialize back as received. [`crate::Client::update_group`] never sends `version` back
/// (at any level), because a `version` in a group `PUT` asks Marathon to roll the group back
/// to that version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The group's absolute id, such as `/prod`; `/` for the root group.
    pub id: String,
    /// The apps directly in this group (absent when not embedded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apps: Option<Vec<App>>,
    /// The nested groups (absent when not embedded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Group>>,
    /// The group's version (a timestamp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Every field not named above (dependencies, pods…), in the order received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Group {
    /// Every app in this group and its nested groups, depth first.
    pub fn all_apps(&self) -> Vec<&App> {
        let mut out = Vec::new();
        self.collect_apps(&mut out);
        out
    }

    fn collect_apps<'a>(&'a self, out: &mut Vec<&'a App>) {
        out.extend(self.apps.iter().flatten());
        for group in self.groups.iter().flatten() {
            group.collect_apps(out);
        }
    }

    /// Mutable access to every app in this group and its nested groups, depth first.
    pub fn all_apps_mut(&mut self) -> Vec<&mut App> {
        let mut out = Vec::new();
        self.collect_apps_mut(&mut out);
        out
    }

    fn collect_apps_mut<'a>(&'a mut self, out: &mut Vec<&'a mut App>) {
        if let Some(apps) = self.apps.as_mut() {
            out.extend(apps.iter_mut());
        }
        for group in self.groups.iter_mut().flatten() {
            group.collect_apps_mut(out);
        }
    }

    /// The body of a group `PUT`: the group as received, without `version` at any level.
    pub(crate) fn to_update_body(&self) -> Result<Value, serde_json::Error> {
        let mut value = serde_json::to_value(self)?;
        strip_group_versions(&mut value);
        Ok(value)
    }
}

fn strip_group_versions(group: &mut Value) {
    if let Some(object) = group.as_object_mut() {
        object.shift_remove("version");
        if let Some(Value::Array(groups)) = object.get_mut("groups") {
            for child in groups {
                strip_group_versions(child);
            }
        }
    }
}

/// What Marathon answers to a change that starts a deployment: the new version and the id
/// of the deployment that applies it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRef {
    /// The version the change created.
    pub version: String,
    /// The deployment that applies it.
    pub deployment_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn update_body_drops_versions_of_group_and_subgroups_but_not_of_apps() {
        let group: Group = serde_json::from_value(json!({"id": "/p", "version": "v1",
            "apps": [{"id": "/p/a", "version": "va"}],
            "groups": [{"id": "/p/g", "version": "v2", "dependencies": []}]}))
        .unwrap();
        let body = group.to_update_body().unwrap();
        assert_eq!(
            body,
            json!({"id": "/p", "apps": [{"id": "/p/a", "version": "va"}],
                "groups": [{"id": "/p/g", "dependencies": []}]})
        );
    }
}
