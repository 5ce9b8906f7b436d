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

/// What `duncan report` over a long history cost.
pub struct ReportRuns {
    /// App/env pairs reported on.
    pub pairs: usize,
    /// History records of each pair.
    pub records_per_pair: usize,
    /// Wall time of each run.
    pub times: Vec<Duration>,
    /// Consul requests per run.
    pub requests_per_run: usize,
}

/// `duncan report --since 3650d --json` over `apps` apps × 2 environments, each with a history
/// of `records` releases (one a day, every tenth rolled back), written straight into consul-sim.
pub fn delivery_report(
    rt: &Runtime,
    duncan: &Path,
    apps: usize,
    records: usize,
    runs: usize,
) -> Result<ReportRuns> {
    let names: Vec<String> = (0..apps).map(|i| format!("app{i:03}")).collect();
    let cluster = Cluster::start(rt, marathon_sim::SimOptions::default().speed(0.0), &names)?;
    let consul = consul_client::Client::new(
        consul_client::Config::new(&cluster.consul.url()).context("consul-sim's URL")?,
    )
    .context("a consul-client for seeding")?;
    rt.block_on(async {
        for name in &names {
            for env in ["stage", "production"] {
                let ops: Vec<consul_client::TxnOp> = (1..=records)
                    .map(|seq| {
                        consul_client::TxnOp::set(
                            format!("deploys/{name}/{env}/history/{seq:020}"),
                            history_record(seq, records).into_bytes(),
                        )
                    })
                    .collect();
                for batch in ops.chunks(64) {
                    consul.txn(batch).await.context("seeding the history")?;
                }
            }
        }
        anyhow::Ok(())
    })?;
    let control = cluster.consul_control();
    let mut times = Vec::with_capacity(runs);
    let mut requests = 0;
    for _ in 0..runs {
        control.clear_requests();
        let started = Instant::now();
        let child = cluster
            .duncan(duncan, &["report", "--since", "3650d", "--json"])
            .spawn()
            .context("could not start duncan")?;
        expect_success(child, "duncan report")?;
        times.push(started.elapsed());
        requests = control.request_count();
    }
    Ok(ReportRuns {
        pairs: apps * 2,
        records_per_pair: records,
        times,
        requests_per_run: requests,
    })
}

/// Release `seq` of `count`, one a day ending yesterday: a deploy that took two minutes,
/// every tenth rolled back.
fn history_record(seq: usize, count: usize) -> String {
    use time::format_description::well_known::Rfc3339;
    let days_ago = i64::try_from(count - seq + 1).unwrap_or(0);
    let start = time::OffsetDateTime::now_utc() - time::Duration::days(days_ago);
    let finish = start + time::Duration::minutes(2);
    let outcome = if seq.is_multiple_of(10) {
        "rolled_back"
    } else {
        "succeeded"
    };
    serde_json::json!({
        "tag": format!("v{seq}"),
        "previous": (seq > 1).then(|| format!("v{}", seq - 1)),
        "deployer": format!("user{}@ci", seq % 7),
        "kind": "deploy",
        "started_at": start.format(&Rfc3339).unwrap_or_default(),
        "finished_at": finish.format(&Rfc3339).unwrap_or_default(),
        "outcome": outcome,
        "deployment_id": format!("{seq:08x}-0000-4000-8000-000000000000"),
    })
    .to_string()
}
