//! A consul-sim and a marathon-sim on loopback ports, seeded for one measurement, and the
//! `duncan` command lines that run against them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use duncan_testkit::apps;
use serde_json::{Value, json};
use tokio::runtime::Runtime;

/// The registry part of every image; never contacted (deploys pass `--skip-image-check`).
pub const REPO_PREFIX: &str = "registry.bench.invalid/acme";

/// Two simulators and a `~/.duncan.yml` pointing at them.
pub struct Cluster {
    /// The Consul simulator.
    pub consul: consul_sim::ConsulSim,
    /// The Marathon simulator.
    pub marathon: marathon_sim::MarathonSim,
    http: reqwest::Client,
    home: tempfile::TempDir,
    config: PathBuf,
}

/// The image of `app` at `tag`.
pub fn image(app: &str, tag: &str) -> String {
    format!("{REPO_PREFIX}/{app}:{tag}")
}

/// A Marathon app `/{app}-{env}/web` with health checks, as a deploy target: the test kit's
/// example app with a production-like health check.
pub fn web_app(app: &str, env: &str, instances: u32, tag: &str) -> Value {
    apps::with(
        apps::docker_app(&format!("/{app}-{env}/web"), instances, &image(app, tag)),
        json!({
            "mem": 128.0,
            "healthChecks": [apps::production_health_check()],
            "upgradeStrategy": apps::upgrade_strategy(1.0, 1.0),
        }),
    )
}

impl Cluster {
    /// Starts both simulators with `marathon` options and writes a configuration naming `apps`.
    pub fn start(
        rt: &Runtime,
        marathon: marathon_sim::SimOptions,
        apps: &[String],
    ) -> Result<Self> {
        let (consul, marathon) = rt.block_on(async {
            let consul = consul_sim::ConsulSim::start(consul_sim::SimOptions::default())
                .await
                .context("could not start consul-sim")?;
            let marathon = marathon_sim::MarathonSim::start(marathon)
                .await
                .context("could not start marathon-sim")?;
            anyhow::Ok((consul, marathon))
        })?;
        let home = tempfile::tempdir().context("could not make a home directory")?;
        let config = home.path().join(".duncan.yml");
        let mut text = format!(
            "consul_url: {}\nmarathon_url: {}\ndocker_repo_prefix: {REPO_PREFIX}\nuser: bench\napps:\n",
            consul.url(),
            marathon.url()
        );
        for app in apps {
            text.push_str(&format!("  - {app}\n"));
        }
        std::fs::write(&config, text).context("could not write the duncan configuration")?;
        Ok(Self {
            consul,
            marathon,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .context("could not build an HTTP client")?,
            home,
            config,
        })
    }

    /// Points duncan at another Marathon URL (a proxy in front of marathon-sim).
    pub fn set_marathon_url(&self, url: &str) -> Result<()> {
        let text = std::fs::read_to_string(&self.config)
            .context("could not read the duncan configuration")?;
        let text: String = text
            .lines()
            .map(|line| {
                if line.starts_with("marathon_url:") {
                    format!("marathon_url: {url}\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        std::fs::write(&self.config, text).context("could not write the duncan configuration")
    }

    /// The controls of marathon-sim.
    pub fn marathon_control(&self) -> marathon_sim::Control {
        self.marathon.control()
    }

    /// The controls of consul-sim.
    pub fn consul_control(&self) -> consul_sim::Control {
        self.consul.control()
    }

    /// Creates the group `/{app}-{env}` with one `web` app on `tag`, and records `tag` as
    /// Consul's `current`.
    pub fn seed_app(
        &self,
        rt: &Runtime,
        app: &str,
        env: &str,
        instances: u32,
        tag: &str,
    ) -> Result<()> {
        let group =
            json!({ "id": format!("/{app}-{env}"), "apps": [web_app(app, env, instances, tag)] });
        rt.block_on(async {
            self.put_json(
                &format!("{}/v2/groups/{app}-{env}", self.marathon.url()),
                &group,
            )
            .await?;
            self.http
                .put(format!(
                    "{}/v1/kv/deploys/{app}/{env}/current",
                    self.consul.url()
                ))
                .body(tag.to_owned())
                .send()
                .await?
                .error_for_status()?;
            anyhow::Ok(())
        })
    }

    /// Adds `count` apps of 0 instances in groups `/other/g{k}` (100 apps each), which no
    /// deploy touches: the rest of a large cluster.
    pub fn seed_other_apps(&self, rt: &Runtime, count: usize) -> Result<()> {
        let groups: Vec<Value> = (0..count.div_ceil(100))
            .map(|g| {
                let apps: Vec<Value> = (g * 100..count.min(g * 100 + 100))
                    .map(|i| {
                        json!({
                            "id": format!("/other/g{g}/app{i}"),
                            "instances": 0,
                            "cpus": 0.1,
                            "mem": 32.0,
                            "cmd": "sleep 1000",
                            "labels": { "team": "other", "index": i.to_string() }
                        })
                    })
                    .collect();
                json!({ "id": format!("/other/g{g}"), "apps": apps })
            })
            .collect();
        let body = json!({ "id": "/other", "groups": groups });
        rt.block_on(self.put_json(&format!("{}/v2/groups/other", self.marathon.url()), &body))
    }

    async fn put_json(&self, url: &str, body: &Value) -> Result<()> {
        let response = self.http.put(url).json(body).send().await?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            bail!("marathon-sim refused PUT {url}: {status} {text}");
        }
        Ok(())
    }

    /// Finishes every running deployment by jumping simulated time, then waits until
    /// marathon-sim lists none.
    pub fn settle(&self, rt: &Runtime) -> Result<()> {
        self.marathon_control()
            .advance_clock(Duration::from_secs(600));
        let url = format!("{}/v2/deployments", self.marathon.url());
        let deadline = Instant::now() + Duration::from_secs(120);
        rt.block_on(async {
            while Instant::now() < deadline {
                let running: Vec<Value> = self.http.get(&url).send().await?.json().await?;
                if running.is_empty() {
                    return Ok(());
                }
                self.marathon_control()
                    .advance_clock(Duration::from_secs(600));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            bail!("marathon-sim's seeding deployments did not finish")
        })
    }

    /// `duncan --config … ARGS` with a clean environment and this cluster's home directory.
    pub fn duncan(&self, duncan: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(duncan);
        command
            .env_clear()
            .env("HOME", self.home.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .arg("--config")
            .arg(&self.config)
            .arg("--color")
            .arg("never")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        command
    }

    /// The `duncan deploy` command of `app`/`env` to `tag`, without prompt or image check.
    pub fn deploy(&self, duncan: &Path, app: &str, env: &str, tag: &str) -> Command {
        self.duncan(duncan, &duncan_testkit::cli::deploy_args(app, env, tag))
    }
}

/// Waits for `child` and fails with its standard error when it did not succeed.
pub fn expect_success(mut child: std::process::Child, what: &str) -> Result<()> {
    let status = child
        .wait()
        .with_context(|| format!("could not wait for {what}"))?;
    if !status.success() {
        let mut err = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            use std::io::Read as _;
            let _ = stderr.read_to_string(&mut err);
        }
        bail!("{what} failed ({status}): {}", err.trim());
    }
    Ok(())
}

/// The id of the first deployment of marathon-sim not in `seen`, waiting up to 30 s for one.
pub fn next_deployment(
    control: &marathon_sim::Control,
    seen: usize,
) -> Result<marathon_sim::DeploymentRecord> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(record) = control.deployment_history().into_iter().nth(seen) {
            return Ok(record);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    bail!("duncan started no deployment within 30 s")
}
