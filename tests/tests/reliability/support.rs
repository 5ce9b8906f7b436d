//! The harness: both simulators in-process, seeded groups, duncan-core contexts, the real
//! `duncan` binary with a clean environment, and the figures each scenario reports.
//!
//! Fault injection (failing Consul, stalled event streams, expired sessions) needs the
//! simulators' test controls, which real services do not have, so these scenarios always run
//! against the simulators.

#![allow(dead_code, reason = "each module uses its own part of the harness")]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use consul_sim::ConsulSim;
use duncan_core::deploy::image::BoxFuture;
use duncan_core::deploy::{
    Context, DeployOptions, DeployRequest, ImageCheck, ImageCheckError, ImageFound,
};
use duncan_core::names::{AppEnv, Deployer, Tag};
use duncan_core::release::{CommitRetry, HistoryRecord};
use duncan_core::settings::Settings;
use duncan_core::watch::WatchOptions;
use marathon_sim::MarathonSim;
use serde_json::{Value, json};

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

/// Both simulators.
pub struct Sims {
    /// Consul.
    pub consul: ConsulSim,
    /// Marathon.
    pub marathon: MarathonSim,
}

/// Marathon options the scenarios start from: quick tasks and keep-alives.
pub fn marathon_options() -> marathon_sim::SimOptions {
    marathon_sim::SimOptions::default()
        .task_start(Duration::from_millis(5))
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
        let consul = ConsulSim::start(consul).await.expect("consul-sim starts");
        let marathon = MarathonSim::start(marathon)
            .await
            .expect("marathon-sim starts");
        Sims { consul, marathon }
    }

    /// A Consul client with quick retries.
    pub fn consul_client(&self) -> consul_client::Client {
        let config = consul_client::Config::new(&self.consul.url())
            .expect("consul url")
            .with_timeout(Duration::from_secs(5))
            .with_retry(consul_client::RetryPolicy::new(
                3,
                Duration::from_millis(10),
                Duration::from_millis(100),
            ));
        consul_client::Client::new(config).expect("consul client")
    }

    /// A Marathon client.
    pub fn marathon_client(&self) -> marathon_client::Client {
        let config = marathon_client::Config::new(&self.marathon.url())
            .expect("marathon url")
            .with_request_timeout(Duration::from_secs(10));
        marathon_client::Client::new(config).expect("marathon client")
    }

    /// The duncan-core context of deployer `user@reliability`, finding every image.
    pub fn ctx(&self, user: &str) -> Context {
        let deployer = Deployer::new(user, "reliability").expect("deployer");
        let mut settings = Settings::new(deployer, "0.0.0-reliability");
        settings.docker_repo_prefix = PREFIX.to_owned();
        Context {
            consul: self.consul_client(),
            marathon: self.marathon_client(),
            images: Arc::new(FindsEverything),
            settings,
            cancel: Default::default(),
        }
    }

    /// Creates the group `/{app}-{env}` with `processes` apps on `{PREFIX}/{app}:{tag}` and a
    /// `redis` app on another image, records `tag` as Consul's `current`, and waits until
    /// Marathon is idle.
    pub async fn seed(&self, app_env: &AppEnv, tag: &str, processes: &[&str]) {
        let http = reqwest::Client::new();
        let group = seed_group(app_env, tag, processes);
        let id = app_env.group_id();
        http.put(format!(
            "{}/v2/groups/{}",
            self.marathon.url(),
            id.as_str().trim_start_matches('/')
        ))
        .json(&group)
        .send()
        .await
        .expect("marathon-sim answers")
        .error_for_status()
        .expect("marathon-sim accepts the seed group");
        http.put(format!(
            "{}/v1/kv/{}",
            self.consul.url(),
            app_env.current_key()
        ))
        .body(tag.to_owned())
        .send()
        .await
        .expect("consul-sim answers")
        .error_for_status()
        .expect("consul-sim stores current");
        self.wait_idle().await;
    }

    /// Waits until Marathon runs no deployment.
    pub async fn wait_idle(&self) {
        for _ in 0..1000 {
            if self.deployments().await.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("Marathon did not become idle");
    }

    /// The deployments Marathon runs now, as JSON.
    pub async fn deployments(&self) -> Vec<Value> {
        reqwest::get(format!("{}/v2/deployments", self.marathon.url()))
            .await
            .expect("marathon-sim answers")
            .json()
            .await
            .expect("deployments JSON")
    }

    /// Waits (real time, bounded) until `ready` holds; false when it never did.
    pub async fn wait_until(&self, mut ready: impl AsyncFnMut() -> bool) -> bool {
        for _ in 0..500 {
            if ready().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// One Consul key's value as text.
    pub fn kv(&self, key: &str) -> Option<String> {
        self.consul
            .control()
            .kv_snapshot()
            .get(key)
            .map(|v| String::from_utf8_lossy(v).into_owned())
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

    /// The history records of an app/env, oldest first.
    pub fn history(&self, app_env: &AppEnv) -> Vec<HistoryRecord> {
        let prefix = app_env.history_prefix();
        self.consul
            .control()
            .kv_snapshot()
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| serde_json::from_slice(v).expect("history record"))
            .collect()
    }

    /// The audit events of an app/env, oldest first, as JSON.
    pub fn events(&self, app_env: &AppEnv) -> Vec<Value> {
        let prefix = app_env.events_prefix();
        self.consul
            .control()
            .kv_snapshot()
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| serde_json::from_slice(v).expect("audit event"))
            .collect()
    }

    /// The session holding the lock of `app_env`, if any.
    pub async fn lock_session(&self, app_env: &AppEnv) -> Option<String> {
        let response = reqwest::get(format!(
            "{}/v1/kv/{}",
            self.consul.url(),
            app_env.lock_key()
        ))
        .await
        .expect("consul-sim answers");
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return None;
        }
        let entries: Value = response.json().await.expect("kv JSON");
        entries[0]["Session"].as_str().map(str::to_owned)
    }

    /// Number of Consul sessions that exist.
    pub async fn session_count(&self) -> usize {
        let sessions: Vec<Value> = reqwest::get(format!("{}/v1/session/list", self.consul.url()))
            .await
            .expect("consul-sim answers")
            .json()
            .await
            .expect("sessions JSON");
        sessions.len()
    }

    /// The image an app runs, per the simulator.
    pub fn image(&self, app_id: &str) -> Option<String> {
        self.marathon.control().app_image(app_id)
    }

    /// Write requests Marathon received (anything but GET).
    pub fn marathon_writes(&self) -> usize {
        self.marathon
            .control()
            .requests()
            .iter()
            .filter(|r| r.method != "GET")
            .count()
    }

    /// A `~/.duncan.yml` for these sims.
    pub fn config(&self, apps: &[&str]) -> String {
        format!(
            "consul_url: {}\nmarathon_url: {}\ndocker_repo_prefix: {PREFIX}\napps:\n{}",
            self.consul.url(),
            self.marathon.url(),
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
    let app = |name: &str, instances: u32, image: &str| {
        json!({
            "id": format!("{group}/{name}"),
            "instances": instances,
            "cpus": 0.1,
            "mem": 64,
            "container": {"type": "DOCKER", "docker": {"image": image, "network": "BRIDGE"}},
            "healthChecks": [{"protocol": "HTTP", "path": "/health", "gracePeriodSeconds": 1,
                              "intervalSeconds": 1, "maxConsecutiveFailures": 1}],
            "upgradeStrategy": {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0}
        })
    };
    let mut apps: Vec<Value> = processes.iter().map(|p| app(p, 1, &image)).collect();
    apps.push(app("redis", 1, "redis:3.2"));
    json!({ "id": group.as_str(), "apps": apps })
}

/// An image check that finds every image (the registry is not what these scenarios test).
pub struct FindsEverything;

impl ImageCheck for FindsEverything {
    fn check<'a>(&'a self, _image: &'a str) -> BoxFuture<'a, Result<ImageFound, ImageCheckError>> {
        Box::pin(async {
            Ok(ImageFound {
                digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000"
                    .to_owned(),
            })
        })
    }
}

/// An app/env.
pub fn app_env(app: &str, env: &str) -> AppEnv {
    AppEnv::parse(app, env).expect("app env")
}

/// A tag.
pub fn tag(s: &str) -> Tag {
    s.parse().expect("tag")
}

/// A deploy request with windows short enough for tests and quick commit retries.
pub fn request(app_env: &AppEnv, tag_name: &str) -> DeployRequest {
    let mut request = DeployRequest::new(app_env.clone(), tag(tag_name));
    request.options = DeployOptions {
        watch: WatchOptions {
            deadline: Some(Duration::from_secs(20)),
            stall_window: Some(Duration::from_secs(10)),
            poll_interval: Duration::from_millis(100),
            resync_interval: Duration::from_secs(2),
        },
        commit_retry: CommitRetry {
            attempts: 4,
            initial_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
        },
        ..DeployOptions::default()
    };
    request
}

pub use duncan_tests::binary::duncan_bin;

/// A home directory for one run of the CLI, with `~/.duncan.yml` (mode 0600).
pub struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    /// A home holding `yaml` as `~/.duncan.yml`.
    pub fn with_config(yaml: &str) -> Home {
        let home = Home {
            dir: tempfile::TempDir::new().expect("temp dir"),
        };
        home.write_config(yaml, 0o600);
        home
    }

    /// Rewrites `~/.duncan.yml` with `mode`.
    pub fn write_config(&self, yaml: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.config_path();
        std::fs::write(&path, yaml).expect("write config");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    /// Where `~/.duncan.yml` is.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join(".duncan.yml")
    }

    /// The home directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `duncan args…` with an environment holding only this home, a user and `extra`.
    pub fn command(&self, args: &[&str], extra: &[(&str, &str)]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(duncan_bin());
        cmd.env_clear()
            .env("HOME", self.path())
            .env("USER", "tester")
            .env("HOSTNAME", "testhost")
            .env("NO_COLOR", "1")
            .env("TZ", "UTC")
            .envs(extra.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs `duncan args…` to its end (at most a minute).
    pub async fn run(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let child = self.command(args, extra).spawn().expect("spawn duncan");
        let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("duncan ends within a minute")
            .expect("duncan output");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Both streams, for assertions that look at everything the user saw.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Fails the test when the binary panicked.
    pub fn assert_no_panic(&self) {
        assert!(
            !self.stderr.contains("panicked") && self.code != 101,
            "duncan panicked: {self:?}"
        );
    }
}

/// The arguments of a CLI deploy without prompt or image check.
pub fn deploy_args<'a>(app: &'a str, env: &'a str, tag: &'a str) -> Vec<&'a str> {
    vec![
        "deploy",
        "-a",
        app,
        "-e",
        env,
        "-t",
        tag,
        "-y",
        "--skip-image-check",
    ]
}

/// Takes the lock of `target` for a long-lived foreign session; returns the session id.
pub async fn hold_foreign_lock(sims: &Sims, target: &AppEnv) -> String {
    let http = reqwest::Client::new();
    let session: serde_json::Value = http
        .put(format!("{}/v1/session/create", sims.consul.url()))
        .json(&serde_json::json!({"Name": "someone else", "TTL": "86400s"}))
        .send()
        .await
        .expect("consul-sim answers")
        .json()
        .await
        .expect("session JSON");
    let id = session["ID"].as_str().expect("session id").to_owned();
    let holder = serde_json::json!({"user": "alice", "host": "laptop", "pid": 1, "tag": "v9",
        "started_at": "2026-11-26T09:00:00Z", "duncan_version": "0.1.0"});
    let acquired: bool = http
        .put(format!(
            "{}/v1/kv/{}?acquire={id}",
            sims.consul.url(),
            target.lock_key()
        ))
        .json(&holder)
        .send()
        .await
        .expect("consul-sim answers")
        .json()
        .await
        .expect("acquire answer");
    assert!(acquired, "the foreign lock is taken");
    id
}
