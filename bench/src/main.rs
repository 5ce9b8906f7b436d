//! `duncan-bench`: the performance measurements of duncan on the simulators, run by
//! `cargo xtask bench`, which builds the release binaries, runs the in-process `divan`
//! benchmarks, and hands their output here to go into BENCHMARKS.md.
//!
//! ```text
//! duncan-bench --duncan target/release/duncan [--quick] [--python-script bench/python/consul_ops.py]
//!              [--divan-output FILE] [--write BENCHMARKS.md]
//! ```
//!
//! Every figure comes from one run: whole-process figures by running the built `duncan`
//! against a consul-sim and a marathon-sim on loopback; consul-client's throughput in-process;
//! the parse figure from divan. Nothing here asserts a time: the figures are reported with
//! their targets, and the ratio says how far each is from it.

mod cli;
mod cluster;
mod consul_ops;
mod deploys;
mod lock_handoff;
mod notes;
mod proxy;
mod report;
mod stats;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// How many of each measurement to take.
#[derive(Debug, Clone)]
pub struct Counts {
    /// Deploys whose end comes by the event stream.
    pub event_deploys: usize,
    /// Deploys whose event stream is stalled.
    pub stalled_deploys: usize,
    /// Deploys whose event stream is refused (REST polling).
    pub polling_deploys: usize,
    /// Deploys at real speed for overhead and memory; as many again with every request
    /// delayed, for the sequential round trips.
    pub overhead_deploys: usize,
    /// Sizes of the rest of the cluster (apps in other groups).
    pub cluster_sizes: Vec<usize>,
    /// Deploys per cluster size.
    pub cost_deploys: usize,
    /// Apps of `duncan status` (each in two environments).
    pub status_apps: usize,
    /// Runs of `duncan status`.
    pub status_runs: usize,
    /// Apps of `duncan report` (each in two environments).
    pub report_apps: usize,
    /// History records of each app/env of `duncan report`.
    pub report_records: usize,
    /// Runs of `duncan report`.
    pub report_runs: usize,
    /// Runs of `duncan --version`.
    pub startup_runs: usize,
    /// Deployers waiting for the lock.
    pub lock_waiters: usize,
    /// Rounds of the lock hand-off.
    pub lock_rounds: usize,
    /// Consul operations per kind and mode.
    pub consul_ops: usize,
}

impl Counts {
    /// The full run behind BENCHMARKS.md.
    pub fn full() -> Self {
        Self {
            event_deploys: 50,
            stalled_deploys: 10,
            polling_deploys: 20,
            overhead_deploys: 20,
            cluster_sizes: vec![10, 1_000, 10_000],
            cost_deploys: 5,
            status_apps: 50,
            status_runs: 10,
            report_apps: 50,
            report_records: 1_000,
            report_runs: 10,
            startup_runs: 50,
            lock_waiters: 10,
            lock_rounds: 5,
            consul_ops: 2_000,
        }
    }

    /// Tiny counts that only prove the harness works (what CI runs).
    pub fn quick() -> Self {
        Self {
            event_deploys: 3,
            stalled_deploys: 1,
            polling_deploys: 1,
            overhead_deploys: 2,
            cluster_sizes: vec![10, 100],
            cost_deploys: 1,
            status_apps: 5,
            status_runs: 1,
            report_apps: 2,
            report_records: 20,
            report_runs: 1,
            startup_runs: 3,
            lock_waiters: 3,
            lock_rounds: 1,
            consul_ops: 64,
        }
    }
}

struct Args {
    duncan: PathBuf,
    quick: bool,
    python_script: Option<PathBuf>,
    divan_output: Option<PathBuf>,
    write: Option<PathBuf>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        duncan: PathBuf::new(),
        quick: false,
        python_script: None,
        divan_output: None,
        write: None,
    };
    let mut duncan = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--duncan" => duncan = Some(PathBuf::from(value("--duncan")?)),
            "--quick" => args.quick = true,
            "--python-script" => args.python_script = Some(value("--python-script")?.into()),
            "--divan-output" => args.divan_output = Some(value("--divan-output")?.into()),
            "--write" => args.write = Some(value("--write")?.into()),
            other => bail!("unknown argument `{other}`"),
        }
    }
    args.duncan = duncan.context("--duncan PATH (the release `duncan` binary) is required")?;
    Ok(args)
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args = parse_args()?;
    let counts = if args.quick {
        Counts::quick()
    } else {
        Counts::full()
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("could not start a tokio runtime")?;
    let duncan = args.duncan.as_path();
    let load_before = report::load_average();
    let step = |name: &str| eprintln!("bench: {name}");

    step("completion detection, event path");
    let events = deploys::completion_latency(
        &rt,
        duncan,
        deploys::Detection::Events,
        counts.event_deploys,
    )?;
    step("completion detection, stalled event stream");
    let stalled = deploys::completion_latency(
        &rt,
        duncan,
        deploys::Detection::StalledStream,
        counts.stalled_deploys,
    )?;
    step("completion detection, event stream refused (polling)");
    let polling = deploys::completion_latency(
        &rt,
        duncan,
        deploys::Detection::Polling,
        counts.polling_deploys,
    )?;
    step("overhead per deploy and peak memory");
    let overhead = deploys::overhead(&rt, duncan, counts.overhead_deploys, Duration::ZERO)?;
    let latency = deploys::ROUND_TRIP_LATENCY;
    step(&format!(
        "overhead per deploy with {} ms per request (sequential round trips)",
        latency.as_millis()
    ));
    let overhead_delayed = deploys::overhead(&rt, duncan, counts.overhead_deploys, latency)?;
    let mut costs = Vec::new();
    for size in &counts.cluster_sizes {
        step(&format!("requests and bytes with {size} other apps"));
        costs.push(deploys::cost(&rt, duncan, *size, counts.cost_deploys)?);
    }
    step("duncan status");
    let status = cli::status(&rt, duncan, counts.status_apps, counts.status_runs)?;
    step("duncan report");
    let delivery = cli::delivery_report(
        &rt,
        duncan,
        counts.report_apps,
        counts.report_records,
        counts.report_runs,
    )?;
    step("CLI start-up");
    let startup = cli::startup(duncan, counts.startup_runs)?;
    step("lock hand-off");
    let handoffs = lock_handoff::handoffs(
        &rt,
        counts.lock_waiters,
        counts.lock_rounds,
        lock_handoff::HOLD,
    )?;
    let handoffs_immediate = lock_handoff::handoffs(&rt, counts.lock_waiters, 1, Duration::ZERO)?;
    step("consul-client and python3-consul throughput");
    let consul = consul_ops::compare(&rt, counts.consul_ops, args.python_script.as_deref())?;
    let divan = match &args.divan_output {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("could not read {}", path.display()))?,
        ),
        None => None,
    };

    let results = report::Results {
        counts,
        quick: args.quick,
        load_before,
        load_after: report::load_average(),
        events,
        stalled,
        polling,
        overhead,
        overhead_delayed,
        latency,
        costs,
        status,
        delivery,
        startup,
        handoffs,
        handoffs_immediate,
        consul,
        divan,
    };
    let text = report::render(&results);
    print!("{}", report::summary_table(&results));
    if let Some(path) = &args.write {
        std::fs::write(path, text)
            .with_context(|| format!("could not write {}", path.display()))?;
        eprintln!("bench: wrote {}", path.display());
    }
    Ok(())
}
