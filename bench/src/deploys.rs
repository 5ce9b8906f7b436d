//! Whole-process figures of `duncan deploy`: completion-detection latency (event path and
//! stalled-stream path), overhead over Marathon's own time, peak memory, and the requests and
//! bytes one deploy costs as the cluster grows.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::runtime::Runtime;

use crate::cluster::{Cluster, expect_success, next_deployment};
use crate::proxy::NoEventsProxy;

const APP: &str = "shop";
const ENV: &str = "stage";

/// Which way duncan learns that the deployment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detection {
    /// The event stream delivers `deployment_success`.
    Events,
    /// The event stream is stalled (open, silent): only duncan's REST re-reads see the end.
    StalledStream,
    /// The event stream is refused when duncan asks for it: duncan polls REST.
    Polling,
}

/// Completion-detection latencies: from marathon-sim finishing the deployment to `duncan
/// deploy` exiting, one per deploy.
pub fn completion_latency(
    rt: &Runtime,
    duncan: &Path,
    path: Detection,
    deploys: usize,
) -> Result<Vec<Duration>> {
    // Simulated time stands still: the deployment ends only when the harness ends it.
    let cluster = Cluster::start(
        rt,
        marathon_sim::SimOptions::default().speed(0.0),
        &[APP.to_owned()],
    )?;
    cluster.seed_app(rt, APP, ENV, 2, "v0")?;
    cluster.settle(rt)?;
    // Kept alive until the end of the measurement.
    let _proxy = if path == Detection::Polling {
        let proxy = rt.block_on(NoEventsProxy::start(cluster.marathon.addr()))?;
        cluster.set_marathon_url(&proxy.url())?;
        Some(proxy)
    } else {
        None
    };
    let control = cluster.marathon_control();
    let mut latencies = Vec::with_capacity(deploys);
    for i in 0..deploys {
        let seen = control.deployment_history().len();
        let tag = format!("c{i}");
        let child = cluster
            .deploy(duncan, APP, ENV, &tag)
            .spawn()
            .context("could not start duncan")?;
        let record = next_deployment(&control, seen)?;
        // Give duncan time to read the update's answer and enter its watch; what is measured is
        // how fast it notices the end, not how fast it sends the update. Where duncan reads on
        // a timer, the end is spread evenly over one interval of it: a deployment ends at any
        // moment, not in step with duncan's reads.
        std::thread::sleep(Duration::from_millis(150) + spread(path, i, deploys));
        if path == Detection::StalledStream {
            control.stall_event_streams(true);
        }
        let finished = Instant::now();
        if !control.complete_deployment_now(&record.id) {
            bail!("marathon-sim could not finish deployment {}", record.id);
        }
        let result = expect_success(child, "duncan deploy");
        let latency = finished.elapsed();
        control.stall_event_streams(false);
        result?;
        latencies.push(latency);
    }
    Ok(latencies)
}

/// The extra wait before the end of deploy `i` of `n`: evenly over the interval at which duncan
/// reads REST on the path measured (2.5 s with a stream, 1 s polling; none with events).
fn spread(path: Detection, i: usize, n: usize) -> Duration {
    let interval: u64 = match path {
        Detection::Events => 0,
        Detection::Polling => 1_000,
        Detection::StalledStream => 2_500,
    };
    let (i, n) = (i as u64, n.max(1) as u64);
    Duration::from_millis(interval * i / n)
}

/// One deploy's wall time, Marathon's own duration for it, and the process's peak RSS.
pub struct DeployRun {
    /// Process start to exit.
    pub wall: Duration,
    /// The deployment's duration in marathon-sim (simulated time at real speed).
    pub marathon: Duration,
    /// Peak resident set size (`VmHWM`) in KiB.
    pub peak_rss_kib: u64,
}

/// The delay both simulators add to every request for the round-trip measurement.
pub const ROUND_TRIP_LATENCY: Duration = Duration::from_millis(20);

/// Deploys at real speed (tasks start after 200 ms) and measures wall time against the
/// deployment's own duration, and peak memory.
///
/// With a non-zero `latency`, both simulators answer every request that much later (their
/// `Control::set_latency`, set once the cluster is seeded): each round trip duncan waits for
/// one after the other then adds `latency` to the overhead, and nothing else does.
pub fn overhead(
    rt: &Runtime,
    duncan: &Path,
    deploys: usize,
    latency: Duration,
) -> Result<Vec<DeployRun>> {
    let cluster = Cluster::start(
        rt,
        marathon_sim::SimOptions::default().task_start(Duration::from_millis(200)),
        &[APP.to_owned()],
    )?;
    cluster.seed_app(rt, APP, ENV, 2, "v0")?;
    cluster.settle(rt)?;
    warm_up(&cluster, rt, duncan, "warm")?;
    let control = cluster.marathon_control();
    control.set_latency(latency);
    cluster.consul_control().set_latency(latency);
    let mut runs = Vec::with_capacity(deploys);
    for i in 0..deploys {
        let seen = control.deployment_history().len();
        let tag = format!("o{i}");
        let started = Instant::now();
        let mut child = cluster
            .deploy(duncan, APP, ENV, &tag)
            .spawn()
            .context("could not start duncan")?;
        let pid = child.id();
        let mut peak = 0;
        // Poll every millisecond: the wall time is exact to that, and VmHWM only grows.
        loop {
            if let Some(kib) = vm_hwm_kib(pid) {
                peak = peak.max(kib);
            }
            if child
                .try_wait()
                .context("could not wait for duncan")?
                .is_some()
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let wall = started.elapsed();
        expect_success(child, "duncan deploy")?;
        let record = control
            .deployment_history()
            .into_iter()
            .nth(seen)
            .context("duncan's deployment is not in marathon-sim's history")?;
        let ended = record
            .ended
            .context("duncan exited before its deployment ended")?;
        runs.push(DeployRun {
            wall,
            marathon: ended.saturating_sub(record.started),
            peak_rss_kib: peak,
        });
    }
    Ok(runs)
}

/// One unmeasured deploy of `tag`, as every app/env that duncan deployed before has had: the
/// first deploy of an app/env creates its sequence counters from listings of `history/` and
/// `events/`, which later deploys no longer need. Returns how many requests it sent.
pub fn warm_up(cluster: &Cluster, rt: &Runtime, duncan: &Path, tag: &str) -> Result<u64> {
    let marathon = cluster.marathon_control();
    let consul = cluster.consul_control();
    marathon.clear_requests();
    consul.clear_requests();
    let child = cluster
        .deploy(duncan, APP, ENV, tag)
        .spawn()
        .context("could not start duncan")?;
    expect_success(child, "duncan deploy (warm-up)")?;
    cluster.settle(rt)?;
    Ok(marathon.request_stats().count + consul.requests().len() as u64)
}

/// `VmHWM` (peak resident set) of a running process in KiB, from `/proc/{pid}/status`.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// What one deploy cost in a cluster of a given size.
pub struct Cost {
    /// Apps in other groups.
    pub other_apps: usize,
    /// Requests marathon-sim answered.
    pub marathon_requests: u64,
    /// Bytes marathon-sim received and sent (bodies).
    pub marathon_bytes: (u64, u64),
    /// Requests consul-sim answered.
    pub consul_requests: usize,
    /// Request body bytes consul-sim received.
    pub consul_bytes_in: u64,
    /// The requests in the order each simulator received them: `METHOD path` (query kept).
    pub marathon_log: Vec<String>,
    /// The same for consul-sim.
    pub consul_log: Vec<String>,
    /// The request count of every deploy measured in this cluster, in order.
    pub each_deploy: Vec<u64>,
    /// The bytes (both simulators, in and out) of every deploy, in order.
    pub each_bytes: Vec<u64>,
    /// The requests of the unmeasured first deploy of the app/env (see [`warm_up`]).
    pub first_deploy: u64,
}

impl Cost {
    /// Requests to both simulators.
    pub fn requests(&self) -> u64 {
        self.marathon_requests + self.consul_requests as u64
    }

    /// Body bytes in and out of both simulators.
    pub fn bytes(&self) -> u64 {
        self.marathon_bytes.0 + self.marathon_bytes.1 + self.consul_bytes_in
    }

    /// The fewest bytes among the deploys measured that sent exactly `requests` requests.
    pub fn bytes_at(&self, requests: u64) -> Option<u64> {
        self.each_deploy
            .iter()
            .zip(&self.each_bytes)
            .filter(|(count, _)| **count == requests)
            .map(|(_, bytes)| *bytes)
            .min()
    }

    /// The fewest and most bytes of the deploys measured (this one's when none is recorded).
    pub fn bytes_range(&self) -> (u64, u64) {
        let min = self.each_bytes.iter().copied().min();
        let max = self.each_bytes.iter().copied().max();
        (min.unwrap_or(self.bytes()), max.unwrap_or(self.bytes()))
    }
}

/// `deploys` deploys in a cluster with `other_apps` apps in other groups; the one with the
/// median request count (then bytes) is kept, with every deploy's request count beside it.
pub fn cost(rt: &Runtime, duncan: &Path, other_apps: usize, deploys: usize) -> Result<Cost> {
    let cluster = Cluster::start(
        rt,
        marathon_sim::SimOptions::default().task_start(Duration::from_millis(50)),
        &[APP.to_owned()],
    )?;
    cluster.seed_app(rt, APP, ENV, 2, "v0")?;
    if other_apps > 0 {
        cluster.seed_other_apps(rt, other_apps)?;
    }
    cluster.settle(rt)?;
    let first_deploy = warm_up(&cluster, rt, duncan, "warm")?;
    let marathon = cluster.marathon_control();
    let consul = cluster.consul_control();
    let mut costs = Vec::with_capacity(deploys);
    for i in 0..deploys.max(1) {
        marathon.clear_requests();
        consul.clear_requests();
        let child = cluster
            .deploy(duncan, APP, ENV, &format!("v{}", i + 1))
            .spawn()
            .context("could not start duncan")?;
        expect_success(child, "duncan deploy")?;
        let stats = marathon.request_stats();
        let consul_requests = consul.requests();
        costs.push(Cost {
            other_apps,
            marathon_requests: stats.count,
            marathon_bytes: (stats.bytes_in, stats.bytes_out),
            consul_requests: consul_requests.len(),
            consul_bytes_in: consul_requests.iter().map(|r| r.body.len() as u64).sum(),
            marathon_log: marathon
                .requests()
                .iter()
                .map(|r| format!("{} {}", r.method, r.path_and_query))
                .collect(),
            consul_log: consul_requests
                .iter()
                .map(|r| format!("{} {}", r.method, r.path_and_query))
                .collect(),
            each_deploy: Vec::new(),
            each_bytes: Vec::new(),
            first_deploy,
        });
    }
    let each_deploy: Vec<u64> = costs.iter().map(Cost::requests).collect();
    let each_bytes: Vec<u64> = costs.iter().map(Cost::bytes).collect();
    costs.sort_by_key(|c| (c.requests(), c.bytes()));
    let middle = costs.len() / 2;
    let mut median = costs
        .into_iter()
        .nth(middle)
        .context("no deploy was measured")?;
    median.each_deploy = each_deploy;
    median.each_bytes = each_bytes;
    Ok(median)
}
