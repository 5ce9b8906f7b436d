//! The harness: the test kit (`duncan-testkit`) with this suite's defaults — both simulators
//! in-process, seeded groups, duncan-core contexts, the real `duncan` binary with a clean
//! environment — and the figures each scenario reports.
//!
//! Fault injection (failing Consul, stalled event streams, expired sessions) needs the
//! simulators' test controls, which real services do not have, so these scenarios always run
//! against the simulators.

#![allow(
    dead_code,
    unused_imports,
    reason = "each module uses its own part of the harness"
)]

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use duncan_core::deploy::{Context, DeployRequest};
use duncan_core::names::AppEnv;
use duncan_testkit::core as kit;
use duncan_testkit::{apps, wait};
use serde_json::{Value, json};

pub use duncan_testkit::cli::{Home, Run};
pub use duncan_testkit::core::{FindsEverything, tag};
pub use duncan_tests::binary::duncan_bin;

/// The image repository prefix the scenarios deploy under.
pub const PREFIX: &str = "registry.test/acme";

/// The session TTL plus lock-delay duncan's lock uses, with margin: after this much Consul
/// time a crashed holder's lock is free again (a session expires 2×TTL after its last renewal).
pub const LOCK_EXPIRY: Duration = Duration::from_secs(2 * 30 + 15 + 1);

/// Whether the full form runs (`DUNCAN_RELIABILITY=full`), else the short CI form.
pub fn full() -> bool {
    std::env::var("DUNCAN_RELIABILITY").is_ok_and(|v| v == "full")
}

/// `short` in the short form, `full` in the full form.
pub fn pick<T>(short: T, full_form: T) -> T {
    if full() { full_form } else { short }
}

/// The seed of this run: `DUNCAN_RELIABILITY_SEED`, else one drawn now. Printed, so a failing
/// run can be replayed.
pub fn seed(scenario: &str) -> u64 {
    let seed = std::env::var("DUNCAN_RELIABILITY_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("seed of {scenario}: {seed} (replay with DUNCAN_RELIABILITY_SEED={seed})");
    seed
}

/// Prints the figure line `cargo xtask reliability` collects:
/// `RELIABILITY|scenario|runs|result|figure|test`, the last field naming the test that
/// reproduces the row (the test harness names each test's thread after the test).
pub fn report(scenario: &str, runs: usize, result: &str, figure: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("reliability")
        .to_owned();
    println!("RELIABILITY|{scenario}|{runs}|{result}|{figure}|{test}");
}

/// Both simulators; the kit's helpers are reached through it.
pub struct Sims(duncan_testkit::Sims);

impl Deref for Sims {
    type Target = duncan_testkit::Sims;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// Marathon options the scenarios start from: quick tasks and keep-alives.
pub fn marathon_options() -> marathon_sim::SimOptions {
    duncan_testkit::sims::marathon_options(Duration::from_millis(5))
        .keepalive(Duration::from_millis(200))
}

impl Sims {
    /// Starts both with default options.
    pub async fn start() -> Sims {
        Sims::start_with(consul_sim::SimOptions::default(), marathon_options()).await
    }

    /// Starts both with the given options.
    pub async fn start_with(
        consul: consul_sim::SimOptions,
        marathon: marathon_sim::SimOptions,
    ) -> Sims {
        Sims(duncan_testkit::Sims::start_with(consul, marathon).await)
    }

    /// A Consul client with quick retries.
    pub fn consul_client(&self) -> consul_client::Client {
        kit::consul_client(
            &self.consul_url(),
            None,
            Duration::from_secs(5),
            3,
            Duration::from_millis(100),
        )
    }

    /// A Marathon client.
    pub fn marathon_client(&self) -> marathon_client::Client {
        kit::marathon_client(&self.marathon_url(), Duration::from_secs(10))
    }

    /// The duncan-core context of deployer `user@reliability`, finding every image.
    pub fn ctx(&self, user: &str) -> Context {
        kit::context(
            self.consul_client(),
            self.marathon_client(),
            Arc::new(FindsEverything),
            kit::settings(user, "reliability", "0.0.0-reliability", PREFIX),
        )
    }

    /// Creates the group `/{app}-{env}` with `processes` apps on `{PREFIX}/{app}:{tag}` and a
    /// `redis` app on another image, records `tag` as Consul's `current`, and waits until
    /// Marathon is idle.
    pub async fn seed(&self, app_env: &AppEnv, tag: &str, processes: &[&str]) {
        self.put_group(&seed_group(app_env, tag, processes)).await;
        self.put_key(&app_env.current_key(), tag).await;
        self.wait_idle().await;
    }

    /// Waits (real time, bounded) until `ready` holds; false when it never did.
    pub async fn wait_until(&self, ready: impl AsyncFnMut() -> bool) -> bool {
        wait::until(ready).await
    }

    /// One Consul key's value as text.
    pub fn kv(&self, key: &str) -> Option<String> {
        self.key(key)
    }

    /// The session holding the lock of `app_env`, if any.
    pub async fn lock_session(&self, app_env: &AppEnv) -> Option<String> {
        self.0.lock_session(&app_env.lock_key()).await
    }

    /// Number of Consul sessions that exist.
    pub async fn session_count(&self) -> usize {
        self.sessions().await.len()
    }

    /// Write requests Marathon received (anything but GET).
    pub fn marathon_writes(&self) -> usize {
        self.0.marathon_writes().len()
    }

    /// A `~/.duncan.yml` for these sims.
    pub fn config(&self, apps: &[&str]) -> String {
        format!(
            "consul_url: {}\nmarathon_url: {}\ndocker_repo_prefix: {PREFIX}\napps:\n{}",
            self.consul_url(),
            self.marathon_url(),
            apps.iter()
                .map(|a| format!("  - {a}\n"))
                .collect::<String>()
        )
    }
}

/// The JSON of a seeded group: `processes` on the app's image and a `redis` on another.
pub fn seed_group(app_env: &AppEnv, tag: &str, processes: &[&str]) -> Value {
    let group = app_env.group_id();
    let image = format!("{PREFIX}/{}:{tag}", app_env.app);
    let app = |name: &str, image: &str| {
        apps::with(
            apps::docker_app(&format!("{group}/{name}"), 1, image),
            json!({"upgradeStrategy": apps::upgrade_strategy(1.0, 1.0)}),
        )
    };
    let mut all: Vec<Value> = processes.iter().map(|p| app(p, &image)).collect();
    all.push(app("redis", "redis:3.2"));
    apps::group(group.as_str(), all)
}

/// An app/env.
pub fn app_env(app: &str, env: &str) -> AppEnv {
    AppEnv::parse(app, env).expect("app env")
}

/// A deploy request with windows short enough for tests and quick commit retries.
pub fn request(app_env: &AppEnv, tag_name: &str) -> DeployRequest {
    let watch = kit::watch_options(Duration::from_secs(20), Duration::from_secs(10));
    kit::deploy_request(
        app_env,
        tag_name,
        kit::deploy_options(watch, 4, Duration::from_millis(100)),
    )
}

/// The arguments of a CLI deploy without prompt or image check.
pub fn deploy_args<'a>(app: &'a str, env: &'a str, tag: &'a str) -> Vec<&'a str> {
    duncan_testkit::cli::deploy_args(app, env, tag).to_vec()
}

/// Takes the lock of `target` for a long-lived foreign session; returns the session id.
pub async fn hold_foreign_lock(sims: &Sims, target: &AppEnv) -> String {
    let session = json!({"Name": "someone else", "TTL": "86400s"});
    let holder = json!({"user": "alice", "host": "laptop", "pid": 1, "tag": "v9",
        "started_at": "2026-11-26T09:00:00Z", "duncan_version": "0.1.0"});
    sims.hold_lock(&target.lock_key(), &session, &holder).await
}
