//! Both simulators in-process, on loopback ports, with helpers that seed and inspect them the
//! way another user of the services would: over HTTP, or through the simulators' controls.

use std::time::Duration;

use consul_sim::ConsulSim;
use duncan_core::names::AppEnv;
use duncan_core::release::HistoryRecord;
use marathon_sim::MarathonSim;
use serde_json::{Value, json};

use crate::wait;

/// The Consul token the helpers send: the management token of a simulator started with
/// `acl_master_token("root")`, and ignored by one without ACLs.
pub const ROOT_TOKEN: &str = "root";

/// marathon-sim options whose tasks start after `task_start` of simulated time.
pub fn marathon_options(task_start: Duration) -> marathon_sim::SimOptions {
    marathon_sim::SimOptions::default().task_start(task_start)
}

/// Write requests `marathon` received (anything but GET), as `METHOD path?query`.
pub fn marathon_writes(marathon: &MarathonSim) -> Vec<String> {
    marathon
        .control()
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect()
}

/// A Consul and a Marathon simulator for one test.
pub struct Sims {
    /// The Consul simulator.
    pub consul: ConsulSim,
    /// The Marathon simulator.
    pub marathon: MarathonSim,
    http: reqwest::Client,
}

impl Sims {
    /// Starts both simulators with the given options.
    ///
    /// # Panics
    ///
    /// When a simulator does not start (the test cannot run).
    pub async fn start_with(
        consul: consul_sim::SimOptions,
        marathon: marathon_sim::SimOptions,
    ) -> Self {
        let consul = ConsulSim::start(consul).await.expect("consul-sim starts");
        let marathon = MarathonSim::start(marathon)
            .await
            .expect("marathon-sim starts");
        Self {
            consul,
            marathon,
            http: reqwest::Client::new(),
        }
    }

    /// Consul's URL.
    pub fn consul_url(&self) -> String {
        self.consul.url()
    }

    /// Marathon's URL.
    pub fn marathon_url(&self) -> String {
        self.marathon.url()
    }

    /// Creates or replaces a group over HTTP (no force), as someone else would.
    ///
    /// # Panics
    ///
    /// When marathon-sim refuses the group.
    pub async fn put_group(&self, group: &Value) {
        let id = group["id"].as_str().expect("the group has an id");
        let url = format!(
            "{}/v2/groups/{}",
            self.marathon_url(),
            id.trim_start_matches('/')
        );
        let response = self
            .http
            .put(url)
            .json(group)
            .send()
            .await
            .expect("PUT group");
        assert!(
            response.status().is_success(),
            "seeding the group {id}: {}",
            response.status()
        );
    }

    /// Marathon's running deployments.
    pub async fn deployments(&self) -> Vec<Value> {
        let url = format!("{}/v2/deployments", self.marathon_url());
        let body: Value = self
            .http
            .get(url)
            .send()
            .await
            .expect("GET deployments")
            .json()
            .await
            .expect("deployments JSON");
        body.as_array().cloned().unwrap_or_default()
    }

    /// Waits until Marathon runs no deployment.
    ///
    /// # Panics
    ///
    /// When one still runs after [`wait::LIMIT`].
    pub async fn wait_idle(&self) {
        assert!(
            wait::until(async || self.deployments().await.is_empty()).await,
            "Marathon did not become idle"
        );
    }

    /// Changes the image of every app of a group over HTTP, as someone else would, and returns
    /// the deployment id.
    pub async fn start_image_change(&self, group_id: &str, image: &str) -> String {
        let url = format!("{}/v2/groups{group_id}", self.marathon_url());
        let mut group: Value = self
            .http
            .get(&url)
            .send()
            .await
            .expect("GET group")
            .json()
            .await
            .expect("json");
        if let Some(object) = group.as_object_mut() {
            object.remove("version");
        }
        for app in group["apps"].as_array_mut().into_iter().flatten() {
            app["container"]["docker"]["image"] = json!(image);
            if let Some(object) = app.as_object_mut() {
                object.remove("version");
            }
        }
        let response: Value = self
            .http
            .put(&url)
            .json(&group)
            .send()
            .await
            .expect("PUT group")
            .json()
            .await
            .expect("json");
        response["deploymentId"]
            .as_str()
            .expect("deployment id")
            .to_owned()
    }

    /// The image an app runs now.
    pub fn image(&self, app_id: &str) -> Option<String> {
        self.marathon.control().app_image(app_id)
    }

    /// The instances an app wants now.
    pub async fn instances(&self, app_id: &str) -> u64 {
        let url = format!("{}/v2/apps{app_id}", self.marathon_url());
        let body: Value = self
            .http
            .get(url)
            .send()
            .await
            .expect("GET app")
            .json()
            .await
            .expect("json");
        body["app"]["instances"].as_u64().unwrap_or(0)
    }

    /// Write requests Marathon received (anything but GET), as `METHOD path?query`.
    pub fn marathon_writes(&self) -> Vec<String> {
        marathon_writes(&self.marathon)
    }

    /// Writes a Consul key over HTTP (with [`ROOT_TOKEN`]).
    ///
    /// # Panics
    ///
    /// When consul-sim refuses the write.
    pub async fn put_key(&self, key: &str, value: &str) {
        let url = format!("{}/v1/kv/{key}", self.consul_url());
        let response = self
            .http
            .put(url)
            .header("X-Consul-Token", ROOT_TOKEN)
            .body(value.to_owned())
            .send()
            .await
            .expect("PUT kv");
        assert!(
            response.status().is_success(),
            "seeding {key}: {}",
            response.status()
        );
    }

    /// A Consul key's value as text, as the simulator holds it.
    pub fn key(&self, key: &str) -> Option<String> {
        self.consul
            .control()
            .kv_snapshot()
            .get(key)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// Every Consul key under a prefix.
    pub fn keys_under(&self, prefix: &str) -> Vec<String> {
        self.consul
            .control()
            .kv_snapshot()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Every key but the lock keys, with its value: the state a deploy may change. (A lock key
    /// stays behind, without a session, once its session ends.)
    pub fn deploy_state(&self) -> Vec<(String, String)> {
        self.consul
            .control()
            .kv_snapshot()
            .into_iter()
            .filter(|(k, _)| !k.ends_with("/lock"))
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect()
    }

    fn values_under(&self, prefix: &str) -> Vec<Vec<u8>> {
        self.consul
            .control()
            .kv_snapshot()
            .into_iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v)
            .collect()
    }

    /// The history records of an app/env, oldest first.
    pub fn history(&self, app_env: &AppEnv) -> Vec<HistoryRecord> {
        self.values_under(&app_env.history_prefix())
            .iter()
            .map(|v| serde_json::from_slice(v).expect("history record"))
            .collect()
    }

    /// The audit events of an app/env, oldest first, as JSON.
    pub fn events(&self, app_env: &AppEnv) -> Vec<Value> {
        self.values_under(&app_env.events_prefix())
            .iter()
            .map(|v| serde_json::from_slice(v).expect("audit event"))
            .collect()
    }

    /// Takes `lock_key` as another deployer would: creates a session from `session` (the body
    /// of `/v1/session/create`) and acquires the key with `holder` as its value. Returns the
    /// session id.
    ///
    /// # Panics
    ///
    /// When the session cannot be made or the key is held already.
    pub async fn hold_lock(&self, lock_key: &str, session: &Value, holder: &Value) -> String {
        let url = format!("{}/v1/session/create", self.consul_url());
        let created: Value = self
            .http
            .put(url)
            .header("X-Consul-Token", ROOT_TOKEN)
            .json(session)
            .send()
            .await
            .expect("session")
            .json()
            .await
            .expect("json");
        let id = created["ID"].as_str().expect("session id").to_owned();
        let url = format!("{}/v1/kv/{lock_key}?acquire={id}", self.consul_url());
        let acquired: Value = self
            .http
            .put(url)
            .header("X-Consul-Token", ROOT_TOKEN)
            .json(holder)
            .send()
            .await
            .expect("acquire")
            .json()
            .await
            .expect("json");
        assert_eq!(acquired, json!(true), "acquiring {lock_key}");
        id
    }

    /// Releases `lock_key` held by `session`, as its holder finishing would.
    pub async fn release_lock(&self, lock_key: &str, session: &str) {
        let url = format!("{}/v1/kv/{lock_key}?release={session}", self.consul_url());
        let released: Value = self
            .http
            .put(url)
            .header("X-Consul-Token", ROOT_TOKEN)
            .send()
            .await
            .expect("release")
            .json()
            .await
            .expect("json");
        assert_eq!(released, json!(true), "releasing {lock_key}");
    }

    /// The session holding `lock_key`, if any.
    pub async fn lock_session(&self, lock_key: &str) -> Option<String> {
        let url = format!("{}/v1/kv/{lock_key}", self.consul_url());
        let response = self
            .http
            .get(url)
            .header("X-Consul-Token", ROOT_TOKEN)
            .send()
            .await
            .expect("lock key");
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return None;
        }
        let entries: Value = response.json().await.expect("json");
        entries[0]["Session"].as_str().map(str::to_owned)
    }

    /// The ids of every session Consul knows.
    pub async fn sessions(&self) -> Vec<String> {
        let url = format!("{}/v1/session/list", self.consul_url());
        let list: Value = self
            .http
            .get(url)
            .header("X-Consul-Token", ROOT_TOKEN)
            .send()
            .await
            .expect("session list")
            .json()
            .await
            .expect("json");
        list.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["ID"].as_str().map(str::to_owned))
            .collect()
    }
}
