//! consul-client throughput against consul-sim: KV get, KV put and a two-op transaction,
//! sequentially and from 32 concurrent callers; and the same with Debian's python3-consul
//! against the same simulator.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use consul_client::{Client, Config, PutOptions, QueryOptions, TxnOp};
use tokio::runtime::Runtime;

/// The operations measured, in report order.
pub const KINDS: [&str; 3] = ["kv get", "kv put", "txn"];
/// Concurrent callers in the concurrent mode.
pub const CONCURRENCY: usize = 32;

/// Operations per second of one kind in one mode.
#[derive(Debug, Clone, Copy, Default)]
pub struct Throughput {
    /// One caller.
    pub sequential: f64,
    /// [`CONCURRENCY`] callers.
    pub concurrent: f64,
}

/// The figures of both clients, per kind (in [`KINDS`] order).
pub struct Comparison {
    /// consul-client.
    pub rust: Vec<Throughput>,
    /// python3-consul, `None` when it could not run.
    pub python: Option<Vec<Throughput>>,
    /// Why python3-consul did not run, when it did not.
    pub python_problem: Option<String>,
}

const VALUE: &[u8] = &[b'x'; 64];

/// Runs `ops` operations of each kind per mode with consul-client, then the python script (if
/// given) against the same consul-sim.
pub fn compare(rt: &Runtime, ops: usize, python_script: Option<&Path>) -> Result<Comparison> {
    let sim = rt
        .block_on(consul_sim::ConsulSim::start(
            consul_sim::SimOptions::default(),
        ))
        .context("could not start consul-sim")?;
    let client = Client::new(Config::new(&sim.url())?)?;
    rt.block_on(client.kv().put("bench/kv/read", VALUE, &PutOptions::new()))?;
    let mut rust = Vec::new();
    for kind in KINDS {
        let sequential = rt.block_on(run(&client, kind, ops, 1))?;
        let concurrent = rt.block_on(run(&client, kind, ops, CONCURRENCY))?;
        rust.push(Throughput {
            sequential,
            concurrent,
        });
    }
    let (python, python_problem) = match python_script {
        Some(script) => match python(script, &sim.url(), ops) {
            Ok(figures) => (Some(figures), None),
            Err(error) => (None, Some(format!("{error:#}"))),
        },
        None => (None, Some("not run (no script given)".to_owned())),
    };
    rt.block_on(sim.shutdown());
    Ok(Comparison {
        rust,
        python,
        python_problem,
    })
}

async fn one(client: &Client, kind: &str, caller: usize) -> Result<()> {
    match kind {
        "kv get" => {
            let (pair, _) = client
                .kv()
                .get("bench/kv/read", &QueryOptions::default())
                .await?;
            if pair.is_none() {
                bail!("the benchmark key is missing");
            }
        }
        "kv put" => {
            client
                .kv()
                .put(&format!("bench/kv/w{caller}"), VALUE, &PutOptions::new())
                .await?;
        }
        _ => {
            client
                .txn(&[
                    TxnOp::set(format!("bench/txn/{caller}"), VALUE.to_vec()),
                    TxnOp::get("bench/kv/read"),
                ])
                .await?;
        }
    }
    Ok(())
}

/// `ops` operations of `kind` spread over `callers` concurrent callers; operations per second.
async fn run(client: &Client, kind: &'static str, ops: usize, callers: usize) -> Result<f64> {
    let per_caller = ops.div_ceil(callers);
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(callers);
    for caller in 0..callers {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..per_caller {
                one(&client, kind, caller).await?;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await.context("a benchmark caller panicked")??;
    }
    Ok(per_second(per_caller * callers, started.elapsed()))
}

fn per_second(ops: usize, elapsed: Duration) -> f64 {
    #[allow(clippy::cast_precision_loss)] // Operation counts are small.
    let ops = ops as f64;
    ops / elapsed.as_secs_f64().max(f64::EPSILON)
}

/// Runs the python3-consul script; it prints `KIND<TAB>MODE<TAB>OPS_PER_SEC` lines.
fn python(script: &Path, url: &str, ops: usize) -> Result<Vec<Throughput>> {
    // Debian's interpreter, where Debian's python3-consul is installed.
    let output = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(url)
        .arg(ops.to_string())
        .arg(CONCURRENCY.to_string())
        .output()
        .context("could not start /usr/bin/python3")?;
    if !output.status.success() {
        bail!(
            "the python3-consul script failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut figures = vec![Throughput::default(); KINDS.len()];
    for line in text.lines() {
        let mut fields = line.split('\t');
        let (Some(kind), Some(mode), Some(value)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Some(index) = KINDS.iter().position(|k| *k == kind) else {
            continue;
        };
        let value: f64 = value
            .trim()
            .parse()
            .context("the python script printed a bad figure")?;
        let Some(slot) = figures.get_mut(index) else {
            continue;
        };
        match mode {
            "sequential" => slot.sequential = value,
            _ => slot.concurrent = value,
        }
    }
    Ok(figures)
}
