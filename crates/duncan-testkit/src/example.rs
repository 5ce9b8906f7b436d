//! The example cluster that `cargo xtask demo` and `cargo xtask sandbox` run, and that end-to-end
//! tests may start too: consul-sim, marathon-sim and a real registry on free loopback ports,
//! seeded with an app `shop` in two environments.
//!
//! `/shop-stage` and `/shop-production` each hold `web` (3 instances) and `worker` (2 instances)
//! on `{registry}/acme/shop:v1`, with health checks; Consul's `current` tag is `v1` for both.
//! The registry holds `shop:v1`, `shop:v2` and `shop:v3`; marathon-sim is told that `shop:v3`
//! never becomes healthy, so a deploy of `v3` fails and is rolled back.
//!
//! Where no registry can be run ([`ExampleCluster::start_without_registry`]), the images name
//! [`NO_REGISTRY_HOST`], where nothing answers: deploys then need `--skip-image-check`.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::json;

use test_registry::{RegistryAuth, TestRegistry};

use crate::{apps, wait};

/// The example application's name.
pub const APP: &str = "shop";
/// The environments the example has.
pub const ENVIRONMENTS: [&str; 2] = ["stage", "production"];
/// The tags pushed to the registry; `BROKEN_TAG` is among them.
pub const TAGS: [&str; 3] = ["v1", "v2", "v3"];
/// A tag whose tasks never become healthy in marathon-sim.
pub const BROKEN_TAG: &str = "v3";
/// The registry host the images name when the example runs without a registry: a loopback port
/// nothing listens on, so a forgotten `--skip-image-check` fails at once with "connection
/// refused" rather than reaching out to a real registry.
pub const NO_REGISTRY_HOST: &str = "127.0.0.1:1";

/// A running example cluster; everything stops when it is dropped.
pub struct ExampleCluster {
    consul: consul_sim::ConsulSim,
    marathon: marathon_sim::MarathonSim,
    registry: Option<TestRegistry>,
    /// The digest of each pushed tag, in `TAGS` order (none without a registry).
    digests: Vec<(String, String)>,
    http: reqwest::Client,
    // Declared last so the servers above are dropped while their runtime still runs.
    runtime: tokio::runtime::Runtime,
}

impl ExampleCluster {
    /// Starts the three servers on free loopback ports and seeds the example.
    ///
    /// Tasks start after `task_start` of simulated time; the demo uses a short one so that a deploy
    /// takes about a second.
    ///
    /// # Errors
    ///
    /// When a server does not start: the registry's message names the Debian package when its
    /// binary is missing (see [`test_registry::registry_binary`]).
    pub fn start(task_start: Duration) -> Result<Self> {
        Self::launch(task_start, true)
    }

    /// Like [`start`](Self::start), with no registry: the images name [`NO_REGISTRY_HOST`], so
    /// deploys and rollbacks need `--skip-image-check`.
    ///
    /// # Errors
    ///
    /// When a simulator does not start.
    pub fn start_without_registry(task_start: Duration) -> Result<Self> {
        Self::launch(task_start, false)
    }

    fn launch(task_start: Duration, with_registry: bool) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("could not start a tokio runtime")?;
        let registry = if with_registry {
            Some(TestRegistry::start(RegistryAuth::None)?)
        } else {
            None
        };
        let mut digests = Vec::new();
        if let Some(registry) = &registry {
            for tag in TAGS {
                let digest = registry.push_image(&format!("acme/{APP}"), tag)?;
                digests.push((tag.to_owned(), digest));
            }
        }
        let (consul, marathon) = runtime.block_on(async {
            let consul = consul_sim::ConsulSim::start(consul_sim::SimOptions::default())
                .await
                .context("could not start consul-sim")?;
            let marathon = marathon_sim::MarathonSim::start(
                marathon_sim::SimOptions::default()
                    .task_start(task_start)
                    .rule(
                        format!("*/{APP}:{BROKEN_TAG}"),
                        marathon_sim::TaskOutcome::NeverHealthy,
                    ),
            )
            .await
            .context("could not start marathon-sim")?;
            anyhow::Ok((consul, marathon))
        })?;
        let cluster = Self {
            consul,
            marathon,
            registry,
            digests,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .context("could not build an HTTP client")?,
            runtime,
        };
        cluster.seed()?;
        Ok(cluster)
    }

    /// consul-sim's address, for `CONSUL_HTTP_ADDR`.
    pub fn consul_url(&self) -> String {
        self.consul.url()
    }

    /// marathon-sim's address, for `MARATHON_URL`.
    pub fn marathon_url(&self) -> String {
        self.marathon.url()
    }

    /// Whether the example runs a registry (holding [`TAGS`]).
    pub fn has_registry(&self) -> bool {
        self.registry.is_some()
    }

    /// The registry's `host:port`, or [`NO_REGISTRY_HOST`] without a registry.
    pub fn registry_host(&self) -> String {
        self.registry
            .as_ref()
            .map_or_else(|| NO_REGISTRY_HOST.to_owned(), TestRegistry::host)
    }

    /// The `docker_repo_prefix` of the example: the registry's host and the `acme` organisation.
    pub fn docker_repo_prefix(&self) -> String {
        format!("{}/acme", self.registry_host())
    }

    /// The registry's digest of `{APP}:{tag}`, when the example pushed that tag.
    pub fn digest(&self, tag: &str) -> Option<&str> {
        self.digests
            .iter()
            .find(|(pushed, _)| pushed == tag)
            .map(|(_, digest)| digest.as_str())
    }

    /// The controls of the running marathon-sim.
    pub fn marathon_control(&self) -> marathon_sim::Control {
        self.marathon.control()
    }

    /// The controls of the running consul-sim.
    pub fn consul_control(&self) -> consul_sim::Control {
        self.consul.control()
    }

    /// A `~/.duncan.yml` for this cluster, in the Go tool's shape plus duncan's `marathon_url` and
    /// `insecure_registries` (the example registry speaks plain HTTP on loopback).
    pub fn duncan_config(&self) -> String {
        format!(
            "consul_host: {consul}\n\
             marathon_url: {marathon}\n\
             docker_repo_prefix: {prefix}\n\
             insecure_registries:\n  - {registry}\n\
             github_org: acme\n\
             apps:\n  - {APP}\n\
             repos:\n  {APP}: shop-service\n",
            consul = self.consul_url(),
            marathon = self.marathon_url(),
            prefix = self.docker_repo_prefix(),
            registry = self.registry_host(),
        )
    }

    /// Calls `ready`, then blocks until the process receives SIGINT (Ctrl-C) or SIGTERM, and
    /// returns that signal's name. Both signals are caught before `ready` is called, so one that
    /// arrives after it always returns here, for the caller to stop the cluster and remove its
    /// files, instead of ending the process.
    ///
    /// # Errors
    ///
    /// When the signal handlers cannot be installed.
    pub fn wait_for_stop_signal(&self, ready: impl FnOnce()) -> Result<&'static str> {
        self.runtime.block_on(async {
            #[cfg(unix)]
            {
                use tokio::signal::unix::{SignalKind, signal};
                let mut interrupt =
                    signal(SignalKind::interrupt()).context("cannot catch SIGINT")?;
                let mut terminate =
                    signal(SignalKind::terminate()).context("cannot catch SIGTERM")?;
                ready();
                tokio::select! {
                    _ = interrupt.recv() => Ok("SIGINT"),
                    _ = terminate.recv() => Ok("SIGTERM"),
                }
            }
            #[cfg(not(unix))]
            {
                let ctrl_c = tokio::signal::ctrl_c();
                ready();
                ctrl_c.await.context("cannot catch Ctrl-C")?;
                Ok("Ctrl-C")
            }
        })
    }

    /// Takes the deploy lock of `{APP}/{env}` as somebody else would: a Consul session holding
    /// `deploys/shop/{env}/lock` with a holder record. Returns the session id.
    pub fn hold_lock_as(&self, env: &str, user: &str, tag: &str) -> Result<String> {
        let consul = self.consul_url();
        self.runtime.block_on(async {
            let session: serde_json::Value = self
                .http
                .put(format!("{consul}/v1/session/create"))
                .json(&json!({
                    "Name": format!("duncan deploy {APP}/{env} by {user}@laptop"),
                    "TTL": "60s",
                    "Behavior": "release",
                }))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let id = session["ID"]
                .as_str()
                .context("consul-sim answered a session without an ID")?
                .to_owned();
            let holder = json!({
                "user": user,
                "host": "laptop",
                "pid": 4242,
                "tag": tag,
                "started_at": "2026-11-26T09:00:00Z",
                "duncan_version": "0.1.0",
            });
            let acquired: bool = self
                .http
                .put(format!(
                    "{consul}/v1/kv/deploys/{APP}/{env}/lock?acquire={id}"
                ))
                .json(&holder)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            if !acquired {
                bail!("could not take the example's lock for {APP}/{env}");
            }
            Ok(id)
        })
    }

    /// Releases a lock taken with [`ExampleCluster::hold_lock_as`] by destroying its session.
    pub fn release_lock(&self, session: &str) -> Result<()> {
        let consul = self.consul_url();
        self.runtime.block_on(async {
            self.http
                .put(format!("{consul}/v1/session/destroy/{session}"))
                .send()
                .await?
                .error_for_status()?;
            Ok(())
        })
    }

    fn seed(&self) -> Result<()> {
        let image = format!("{}/{APP}:v1", self.docker_repo_prefix());
        let marathon = self.marathon_url();
        let consul = self.consul_url();
        self.runtime.block_on(async {
            for env in ENVIRONMENTS {
                let group = apps::group(
                    &format!("/{APP}-{env}"),
                    vec![
                        example_app(
                            env,
                            "web",
                            3,
                            &image,
                            Some(format!("{APP}-{env}.example.com")),
                        ),
                        example_app(env, "worker", 2, &image, None),
                    ],
                );
                self.http
                    .put(format!("{marathon}/v2/groups/{APP}-{env}"))
                    .json(&group)
                    .send()
                    .await?
                    .error_for_status()
                    .with_context(|| {
                        format!("marathon-sim refused the example group /{APP}-{env}")
                    })?;
                self.http
                    .put(format!("{consul}/v1/kv/deploys/{APP}/{env}/current"))
                    .body("v1")
                    .send()
                    .await?
                    .error_for_status()?;
            }
            // Let the seeding deployments finish, so the example starts from a steady state.
            let idle = wait::until(async || {
                let running = self
                    .http
                    .get(format!("{marathon}/v2/deployments"))
                    .send()
                    .await;
                match running {
                    Ok(response) => response
                        .json::<Vec<serde_json::Value>>()
                        .await
                        .is_ok_and(|running| running.is_empty()),
                    Err(_) => false,
                }
            })
            .await;
            if !idle {
                bail!("the example's seeding deployments did not finish within 10 s");
            }
            Ok(())
        })
    }
}

fn example_app(
    env: &str,
    kind: &str,
    instances: u32,
    image: &str,
    vhost: Option<String>,
) -> serde_json::Value {
    let app = apps::docker_app(&format!("/{APP}-{env}/{kind}"), instances, image);
    apps::with(
        app,
        json!({
            "cmd": null,
            "cpus": 0.25,
            "mem": 256.0,
            "container": {"docker": {"forcePullImage": false}},
            "env": {"APP_ENV": env},
            "labels": apps::vhost_label(vhost),
            "healthChecks": [apps::production_health_check()],
            "upgradeStrategy": apps::upgrade_strategy(1.0, 0.5),
        }),
    )
}
