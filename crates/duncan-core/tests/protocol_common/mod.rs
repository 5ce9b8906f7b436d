//! Shared setup of the deploy-protocol tests: the test kit's pieces with this suite's
//! defaults — Consul and Marathon, a seeded group, a [`Context`] per deployer, and helpers to
//! read what happened.
//!
//! Consul is a real one when `CONSUL_HTTP_ADDR` points at one (token from `CONSUL_HTTP_TOKEN`;
//! app names then get a unique suffix so runs never collide), else consul-sim; tests that inject
//! Consul faults (failures, clock jumps, request counts) use [`Sims::start_sim`] and always run
//! against the simulator. Marathon is always marathon-sim: the tests deploy images that exist
//! only there (healthy, never healthy or slow by rule), which a real cluster could not pull.

#![allow(
    dead_code,
    unused_imports,
    reason = "each test binary uses a different part of the harness"
)]

use std::sync::Arc;
use std::time::Duration;

use consul_sim::ConsulSim;
use duncan_core::deploy::{Context, DeployOptions, DeployRequest, ImageCheck};
use duncan_core::names::AppEnv;
use duncan_core::release::HistoryRecord;
use duncan_core::watch::WatchOptions;
use duncan_testkit::core::{self as kit, real_consul};
use duncan_testkit::{apps, wait};
use marathon_sim::MarathonSim;
use serde_json::{Value, json};

pub use duncan_testkit::core::{FindsEverything, Recorder, tag};

/// The image repository prefix the tests deploy under.
pub const PREFIX: &str = "registry.test/acme";

/// Consul (simulated or real) and the Marathon simulator.
pub struct Sims {
    /// consul-sim, unless a real Consul is used.
    pub consul: Option<ConsulSim>,
    /// The Consul address.
    pub consul_url: String,
    /// The token for a real Consul, if any.
    consul_token: Option<String>,
    /// Marathon.
    pub marathon: MarathonSim,
}

impl Sims {
    /// A real Consul when `CONSUL_HTTP_ADDR` is set, else consul-sim; marathon-sim with tasks
    /// starting after 5 ms of simulated time.
    pub async fn start() -> Sims {
        match real_consul() {
            Some(url) => Sims {
                consul: None,
                consul_url: url,
                consul_token: std::env::var("CONSUL_HTTP_TOKEN").ok(),
                marathon: start_marathon().await,
            },
            None => Sims::start_sim().await,
        }
    }

    /// consul-sim whatever the environment says: for tests that steer it.
    pub async fn start_sim() -> Sims {
        let consul = ConsulSim::start(consul_sim::SimOptions::default())
            .await
            .expect("consul-sim starts");
        Sims {
            consul_url: consul.url(),
            consul: Some(consul),
            consul_token: None,
            marathon: start_marathon().await,
        }
    }

    /// consul-sim's controls (only tests started with [`Sims::start_sim`] call this).
    pub fn consul_control(&self) -> consul_sim::Control {
        self.consul
            .as_ref()
            .expect("this test needs consul-sim (Sims::start_sim)")
            .control()
    }

    /// A Consul client with quick retries.
    pub fn consul_client(&self) -> consul_client::Client {
        kit::consul_client(
            &self.consul_url,
            self.consul_token.as_deref(),
            Duration::from_secs(3),
            2,
            Duration::from_millis(50),
        )
    }

    /// A Marathon client.
    pub fn marathon_client(&self) -> marathon_client::Client {
        kit::marathon_client(&self.marathon.url(), Duration::from_secs(5))
    }

    /// The context of deployer `user@test`, with an image check that finds every image.
    pub fn ctx(&self, user: &str) -> Context {
        self.ctx_with_images(user, Arc::new(FindsEverything))
    }

    /// The context of deployer `user@test` with the given image check.
    pub fn ctx_with_images(&self, user: &str, images: Arc<dyn ImageCheck>) -> Context {
        kit::context(
            self.consul_client(),
            self.marathon_client(),
            images,
            kit::settings(user, "test", "0.0.0-test", PREFIX),
        )
    }

    /// Creates the group `/{app}-{env}` with `web` (2 instances) and `worker` (1) on
    /// `{PREFIX}/{app}:{tag}`, a `redis` app on another image, and waits until it runs.
    pub async fn seed(&self, app_env: &AppEnv, tag: &str) {
        let group = seed_group(app_env, tag);
        let client = self.marathon_client();
        let group: marathon_client::Group = serde_json::from_value(group).expect("group");
        client
            .update_group(&group, marathon_client::GroupUpdateOptions::default())
            .await
            .expect("seed group");
        self.wait_idle().await;
    }

    /// Waits until Marathon runs no deployment.
    pub async fn wait_idle(&self) {
        let client = self.marathon_client();
        let idle =
            wait::until(async || client.deployments().await.expect("deployments").is_empty());
        assert!(idle.await, "Marathon did not become idle");
    }

    /// The image the app runs now, per the simulator.
    pub fn image(&self, app_id: &str) -> Option<String> {
        self.marathon.control().app_image(app_id)
    }

    /// One Consul key's value as text.
    pub async fn kv(&self, key: &str) -> Option<String> {
        let (value, _) = self
            .consul_client()
            .kv()
            .get_raw(key, &consul_client::QueryOptions::consistent())
            .await
            .expect("kv read");
        value.map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    async fn list(&self, prefix: &str) -> Vec<Vec<u8>> {
        let (pairs, _) = self
            .consul_client()
            .kv()
            .list(prefix, &consul_client::QueryOptions::consistent())
            .await
            .expect("kv list");
        pairs.into_iter().map(|p| p.value).collect()
    }

    /// The history records of an app/env, oldest first.
    pub async fn history(&self, app_env: &AppEnv) -> Vec<HistoryRecord> {
        self.list(&app_env.history_prefix())
            .await
            .iter()
            .map(|v| serde_json::from_slice(v).expect("history record"))
            .collect()
    }

    /// The audit events of an app/env, oldest first, as JSON.
    pub async fn events(&self, app_env: &AppEnv) -> Vec<Value> {
        self.list(&app_env.events_prefix())
            .await
            .iter()
            .map(|v| serde_json::from_slice(v).expect("audit event"))
            .collect()
    }

    /// Number of duncan sessions of `app_env` that exist.
    pub async fn session_count(&self, app_env: &AppEnv) -> usize {
        let (sessions, _) = self
            .consul_client()
            .session()
            .list(&consul_client::QueryOptions::new())
            .await
            .expect("session list");
        let name = format!("duncan deploy {app_env} by");
        sessions
            .iter()
            .filter(|s| s.name.starts_with(&name))
            .count()
    }

    /// Whether the lock key of `app_env` is held by a session.
    pub async fn lock_held(&self, app_env: &AppEnv) -> bool {
        let (pair, _) = self
            .consul_client()
            .kv()
            .get(&app_env.lock_key(), &consul_client::QueryOptions::new())
            .await
            .expect("lock key read");
        pair.is_some_and(|p| p.session.is_some())
    }

    /// Write requests Marathon received (anything but GET).
    pub fn marathon_writes(&self) -> Vec<String> {
        duncan_testkit::sims::marathon_writes(&self.marathon)
    }
}

async fn start_marathon() -> MarathonSim {
    MarathonSim::start(
        duncan_testkit::sims::marathon_options(Duration::from_millis(5))
            .keepalive(Duration::from_millis(200)),
    )
    .await
    .expect("marathon-sim starts")
}

/// The JSON of a seeded group.
pub fn seed_group(app_env: &AppEnv, tag: &str) -> Value {
    let group = app_env.group_id();
    let image = format!("{PREFIX}/{}:{tag}", app_env.app);
    let app = |name: &str, instances: u32, image: &str| {
        apps::with(
            apps::docker_app(&format!("{group}/{name}"), instances, image),
            json!({
                "labels": {"HAPROXY_0_VHOST": format!("{name}.{}.example.com", app_env.app)},
                "upgradeStrategy": apps::upgrade_strategy(1.0, 1.0),
            }),
        )
    };
    apps::group(
        group.as_str(),
        vec![
            app("web", 2, &image),
            app("worker", 1, &image),
            app("redis", 1, "redis:3.2"),
        ],
    )
}

/// An app/env for a test: `{app}` with stage, plus a unique suffix against a real Consul.
pub fn app_env(app: &str) -> AppEnv {
    let app = if real_consul().is_some() {
        format!("{app}-{:08x}", fastrand::u32(..))
    } else {
        app.to_owned()
    };
    AppEnv::parse(&app, "stage").expect("app env")
}

/// The Marathon id of the app of type `kind` in the group of `app_env`.
pub fn app_id(app_env: &AppEnv, kind: &str) -> String {
    format!("{}/{kind}", app_env.group_id())
}

/// The image of `app_env`'s application with `tag`.
pub fn image(app_env: &AppEnv, tag: &str) -> String {
    format!("{PREFIX}/{}:{tag}", app_env.app)
}

/// Watch windows short enough for tests.
pub fn quick_watch() -> WatchOptions {
    kit::watch_options(Duration::from_secs(10), Duration::from_secs(3))
}

/// A deploy request with test windows and quick commit retries.
pub fn request(app_env: &AppEnv, tag_name: &str) -> DeployRequest {
    kit::deploy_request(app_env, tag_name, quick_options())
}

/// Deploy options with test windows and quick commit retries.
pub fn quick_options() -> DeployOptions {
    kit::deploy_options(quick_watch(), 3, Duration::from_millis(50))
}
