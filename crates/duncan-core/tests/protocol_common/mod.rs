//! Shared setup of the deploy-protocol tests: Consul and Marathon, a seeded group, a
//! [`Context`] per deployer, and helpers to read what happened.
//!
//! Consul is a real one when `CONSUL_HTTP_ADDR` points at one (token from `CONSUL_HTTP_TOKEN`;
//! app names then get a unique suffix so runs never collide), else consul-sim; tests that inject
//! Consul faults (failures, clock jumps, request counts) use [`Sims::start_sim`] and always run
//! against the simulator. Marathon is always marathon-sim: the tests deploy images that exist
//! only there (healthy, never healthy or slow by rule), which a real cluster could not pull.

#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use consul_sim::ConsulSim;
use duncan_core::deploy::image::BoxFuture;
use duncan_core::deploy::{
    Context, DeployOptions, DeployRequest, ImageCheck, ImageCheckError, ImageFound,
};
use duncan_core::names::{AppEnv, Deployer, Tag};
use duncan_core::progress::{Progress, ProgressSink};
use duncan_core::release::{CommitRetry, HistoryRecord};
use duncan_core::settings::Settings;
use duncan_core::watch::WatchOptions;
use marathon_sim::MarathonSim;
use serde_json::{Value, json};

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

/// The real Consul to test against, when `CONSUL_HTTP_ADDR` names one.
fn real_consul() -> Option<String> {
    let addr = std::env::var("CONSUL_HTTP_ADDR")
        .ok()
        .filter(|a| !a.is_empty())?;
    Some(if addr.contains("://") {
        addr
    } else {
        format!("http://{addr}")
    })
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
        let mut config = consul_client::Config::new(&self.consul_url)
            .expect("consul url")
            .with_timeout(Duration::from_secs(3))
            .with_retry(consul_client::RetryPolicy::new(
                2,
                Duration::from_millis(10),
                Duration::from_millis(50),
            ));
        if let Some(token) = &self.consul_token {
            config = config.with_token(token.clone());
        }
        consul_client::Client::new(config).expect("consul client")
    }

    /// A Marathon client.
    pub fn marathon_client(&self) -> marathon_client::Client {
        let config = marathon_client::Config::new(&self.marathon.url())
            .expect("marathon url")
            .with_request_timeout(Duration::from_secs(5));
        marathon_client::Client::new(config).expect("marathon client")
    }

    /// The context of deployer `user@test`, with an image check that finds every image.
    pub fn ctx(&self, user: &str) -> Context {
        self.ctx_with_images(user, Arc::new(FindsEverything))
    }

    /// The context of deployer `user@test` with the given image check.
    pub fn ctx_with_images(&self, user: &str, images: Arc<dyn ImageCheck>) -> Context {
        let deployer = Deployer::new(user, "test").expect("deployer");
        let mut settings = Settings::new(deployer, "0.0.0-test");
        settings.docker_repo_prefix = PREFIX.to_owned();
        Context {
            consul: self.consul_client(),
            marathon: self.marathon_client(),
            images,
            settings,
            cancel: Default::default(),
        }
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
        for _ in 0..500 {
            if client.deployments().await.expect("deployments").is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("Marathon did not become idle");
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
        self.marathon
            .control()
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .map(|r| format!("{} {}", r.method, r.path_and_query))
            .collect()
    }
}

async fn start_marathon() -> MarathonSim {
    MarathonSim::start(
        marathon_sim::SimOptions::default()
            .task_start(Duration::from_millis(5))
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
        json!({
            "id": format!("{group}/{name}"),
            "instances": instances,
            "cpus": 0.1,
            "mem": 64,
            "labels": {"HAPROXY_0_VHOST": format!("{name}.{}.example.com", app_env.app)},
            "container": {"type": "DOCKER", "docker": {"image": image, "network": "BRIDGE"}},
            "healthChecks": [{"protocol": "HTTP", "path": "/health", "gracePeriodSeconds": 1,
                              "intervalSeconds": 1, "maxConsecutiveFailures": 1}],
            "upgradeStrategy": {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0}
        })
    };
    json!({
        "id": group.as_str(),
        "apps": [app("web", 2, &image), app("worker", 1, &image), app("redis", 1, "redis:3.2")]
    })
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

/// A tag.
pub fn tag(s: &str) -> Tag {
    s.parse().expect("tag")
}

/// Watch windows short enough for tests.
pub fn quick_watch() -> WatchOptions {
    WatchOptions {
        deadline: Some(Duration::from_secs(10)),
        stall_window: Some(Duration::from_secs(3)),
        poll_interval: Duration::from_millis(100),
        resync_interval: Duration::from_secs(2),
    }
}

/// A deploy request with test windows and quick commit retries.
pub fn request(app_env: &AppEnv, tag_name: &str) -> DeployRequest {
    let mut request = DeployRequest::new(app_env.clone(), tag(tag_name));
    request.options = quick_options();
    request
}

/// Deploy options with test windows and quick commit retries.
pub fn quick_options() -> DeployOptions {
    DeployOptions {
        watch: quick_watch(),
        commit_retry: CommitRetry {
            attempts: 3,
            initial_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(50),
        },
        ..DeployOptions::default()
    }
}

/// A progress sink that records every value, with an optional hook run on each.
pub struct Recorder {
    seen: Arc<Mutex<Vec<Progress>>>,
}

impl Recorder {
    /// A recorder and its sink.
    pub fn new() -> (Recorder, ProgressSink) {
        Recorder::with_hook(|_| {})
    }

    /// A recorder whose sink also calls `hook` on each value (to inject a fault at a step).
    pub fn with_hook(hook: impl Fn(&Progress) + Send + Sync + 'static) -> (Recorder, ProgressSink) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let store = Arc::clone(&seen);
        let sink = ProgressSink::new(move |p| {
            hook(&p);
            store.lock().expect("progress lock").push(p);
        });
        (Recorder { seen }, sink)
    }

    /// Everything seen so far.
    pub fn seen(&self) -> Vec<Progress> {
        self.seen.lock().expect("progress lock").clone()
    }

    /// Whether a value matching `f` was seen.
    pub fn saw(&self, f: impl Fn(&Progress) -> bool) -> bool {
        self.seen().iter().any(f)
    }
}

/// An image check that finds every image, with a digest derived from its name.
pub struct FindsEverything;

impl ImageCheck for FindsEverything {
    fn check<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<ImageFound, ImageCheckError>> {
        Box::pin(async move {
            Ok(ImageFound {
                digest: format!("sha256:{:0>64}", image.len()),
            })
        })
    }
}
