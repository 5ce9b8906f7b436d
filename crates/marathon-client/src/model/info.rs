//! `GET /v2/info`: who Marathon is and who leads.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Marathon's description of itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Info {
    /// Always `marathon`.
    #[serde(default)]
    pub name: Option<String>,
    /// Marathon's version, such as `1.5.0`.
    #[serde(default)]
    pub version: Option<String>,
    /// Whether the instance answering is the elected leader.
    #[serde(default)]
    pub elected: Option<bool>,
    /// The leader's `host:port`; `None` while there is no leader.
    #[serde(default)]
    pub leader: Option<String>,
    /// The Mesos framework id.
    #[serde(default, rename = "frameworkId")]
    pub framework_id: Option<String>,
    /// Every other field (`marathon_config`, `zookeeper_config`…), kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
