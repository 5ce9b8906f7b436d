//! Both simulators started in-process, with helpers to seed and inspect them over HTTP.

use std::time::Duration;

use consul_sim::ConsulSim;
use marathon_sim::MarathonSim;
use serde_json::{Value, json};

/// A Consul and a Marathon simulator for one test.
pub struct Sims {
    /// The Consul simulator.
    pub consul: ConsulSim,
    /// The Marathon simulator.
    pub marathon: MarathonSim,
    http: reqwest::Client,
}

impl Sims {
    /// Starts both simulators (tasks start after 20 ms).
    pub async fn start() -> Self {
        Self::start_with(consul_sim::SimOptions::default(), marathon_options()).await
    }

    /// Starts both simulators with the given options.
    pub async fn start_with(
        consul: consul_sim::SimOptions,
        marathon: marathon_sim::SimOptions,
    ) -> Self {
        let consul = ConsulSim::start(consul).await.expect("consul-sim");
        let marathon = MarathonSim::start(marathon).await.expect("marathon-sim");
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

    /// A configuration file pointing at both sims, with duncan's own keys.
    pub fn config(&self) -> String {
        format!(
            "consul_url: {}\nmarathon_url: {}\ngithub_org: myorg\ndocker_repo_prefix: quay.io/myorg\n\
             apps:\n  - dogfood\n  - skulls\nrepos:\n  dogfood: dogfood-repo\n",
            self.consul_url(),
            self.marathon_url()
        )
    }

    /// Creates the group `/{app}-{env}` with a `web` (2 instances) and a `worker` (1) running
    /// `quay.io/myorg/{app}:{tag}`, and waits for its deployment to finish.
    pub async fn seed_group(&self, app: &str, env: &str, tag: &str) {
        self.seed_group_from("quay.io/myorg", app, env, tag).await;
    }

    /// Like [`Sims::seed_group`], with images under another prefix.
    pub async fn seed_group_from(&self, prefix: &str, app: &str, env: &str, tag: &str) {
        let image = format!("{prefix}/{app}:{tag}");
        let app_json = |kind: &str, instances: u32| {
            json!({
                "id": format!("/{app}-{env}/{kind}"),
                "instances": instances,
                "cpus": 0.1,
                "mem": 64.0,
                "container": {"type": "DOCKER", "docker": {"image": image, "network": "BRIDGE"}},
                "healthChecks": [{"protocol": "HTTP", "path": "/health", "gracePeriodSeconds": 5,
                                  "intervalSeconds": 1, "maxConsecutiveFailures": 1}],
                "labels": {"HAPROXY_0_VHOST": format!("{app}.example.com")}
            })
        };
        let group = json!({"id": format!("/{app}-{env}"), "apps": [app_json("web", 2), app_json("worker", 1)]});
        let url = format!("{}/v2/groups/{app}-{env}", self.marathon_url());
        let response = self
            .http
            .put(url)
            .json(&group)
            .send()
            .await
            .expect("PUT group");
        assert!(
            response.status().is_success(),
            "seeding the group: {}",
            response.status()
        );
        self.wait_for_no_deployments().await;
    }

    /// Waits until Marathon lists no deployment.
    pub async fn wait_for_no_deployments(&self) {
        for _ in 0..200 {
            if self.deployments().await.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the seeded deployment did not finish");
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
            .expect("json");
        body.as_array().cloned().unwrap_or_default()
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

    /// Writes a Consul key (with the management token when ACLs are on).
    pub async fn put_key(&self, key: &str, value: &str) {
        let url = format!("{}/v1/kv/{key}", self.consul_url());
        let response = self
            .http
            .put(url)
            .header("X-Consul-Token", "root")
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

    /// A Consul key's value, as the sim holds it.
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

    /// Takes the deploy lock of `app/env` as another duncan would: a session and an acquire.
    pub async fn hold_lock(&self, app: &str, env: &str, user: &str) -> String {
        let url = format!("{}/v1/session/create", self.consul_url());
        let session: Value = self
            .http
            .put(url)
            .header("X-Consul-Token", "root")
            .json(&json!({"Name": "other deploy", "TTL": "60s", "Behavior": "release"}))
            .send()
            .await
            .expect("session")
            .json()
            .await
            .expect("json");
        let id = session["ID"].as_str().expect("session id").to_owned();
        let holder = json!({"user": user, "host": "otherhost", "pid": 4242, "tag": "v9",
                            "started_at": "2026-01-02T03:04:05Z", "duncan_version": "0.1.0"});
        let url = format!(
            "{}/v1/kv/deploys/{app}/{env}/lock?acquire={id}",
            self.consul_url()
        );
        let ok: Value = self
            .http
            .put(url)
            .header("X-Consul-Token", "root")
            .body(holder.to_string())
            .send()
            .await
            .expect("acquire")
            .json()
            .await
            .expect("json");
        assert_eq!(ok, json!(true), "acquiring the lock");
        id
    }
}

impl Sims {
    /// The session holding the deploy lock of `app/env`, if any.
    pub async fn lock_session(&self, app: &str, env: &str) -> Option<String> {
        let url = format!("{}/v1/kv/deploys/{app}/{env}/lock", self.consul_url());
        let response = self
            .http
            .get(url)
            .header("X-Consul-Token", "root")
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
            .header("X-Consul-Token", "root")
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

    /// Releases a lock taken with [`Sims::hold_lock`], as its holder finishing would.
    pub async fn release_lock(&self, app: &str, env: &str, session: &str) {
        let url = format!(
            "{}/v1/kv/deploys/{app}/{env}/lock?release={session}",
            self.consul_url()
        );
        let ok: Value = self
            .http
            .put(url)
            .header("X-Consul-Token", "root")
            .send()
            .await
            .expect("release")
            .json()
            .await
            .expect("json");
        assert_eq!(ok, json!(true), "releasing the lock");
    }
}

/// Marathon-sim options for CLI tests: tasks start after 20 ms.
pub fn marathon_options() -> marathon_sim::SimOptions {
    marathon_sim::SimOptions::default().task_start(Duration::from_millis(20))
}
