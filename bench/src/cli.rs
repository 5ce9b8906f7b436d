//! Whole-process figures of the CLI itself: start-up (`duncan --version`) and `duncan status`
//! over 100 app/env pairs.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::runtime::Runtime;

use crate::cluster::{Cluster, expect_success};

/// Wall times of `duncan --version`, one per run.
pub fn startup(duncan: &Path, runs: usize) -> Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let status = Command::new(duncan)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("could not start duncan")?;
        times.push(started.elapsed());
        if !status.success() {
            bail!("`duncan --version` failed ({status})");
        }
    }
    Ok(times)
}

/// What `duncan status` over many pairs cost.
pub struct StatusRuns {
    /// App/env pairs shown.
    pub pairs: usize,
    /// Wall time of each run.
    pub times: Vec<Duration>,
    /// Requests per run, marathon-sim and consul-sim together.
    pub requests_per_run: u64,
}

/// `duncan status` with `apps` apps × 2 environments, each a group with one app.
pub fn status(rt: &Runtime, duncan: &Path, apps: usize, runs: usize) -> Result<StatusRuns> {
    let names: Vec<String> = (0..apps).map(|i| format!("app{i:03}")).collect();
    let cluster = Cluster::start(rt, marathon_sim::SimOptions::default().speed(0.0), &names)?;
    for name in &names {
        for env in ["stage", "production"] {
            cluster.seed_app(rt, name, env, 1, "v1")?;
        }
    }
    cluster.settle(rt)?;
    let marathon = cluster.marathon_control();
    let consul = cluster.consul_control();
    let mut times = Vec::with_capacity(runs);
    let mut requests = 0;
    for _ in 0..runs {
        marathon.clear_requests();
        consul.clear_requests();
        let started = Instant::now();
        let child = cluster
            .duncan(duncan, &["status"])
            .spawn()
            .context("could not start duncan")?;
        expect_success(child, "duncan status")?;
        times.push(started.elapsed());
        requests = marathon.request_stats().count + consul.request_count() as u64;
    }
    Ok(StatusRuns {
        pairs: apps * 2,
        times,
        requests_per_run: requests,
    })
}
