//! Lock hand-off: deployers wait for one lock (consul-client's `Lock`, the pattern duncan's
//! deploy lock is built on); how long from one holder's release to the next holder's acquire.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use consul_client::{AcquireMode, Client, Config, Lock, LockAttempt, LockOptions};
use tokio::runtime::Runtime;
use tokio::time::Instant;

const KEY: &str = "deploys/shop/stage/lock";

/// How long each holder keeps the lock before releasing it in the main measurement.
pub const HOLD: Duration = Duration::from_millis(50);

/// Hand-off times over `rounds` rounds of `waiters` waiting deployers each, every holder
/// keeping the lock for `hold`.
pub fn handoffs(
    rt: &Runtime,
    waiters: usize,
    rounds: usize,
    hold: Duration,
) -> Result<Vec<Duration>> {
    rt.block_on(async {
        let sim = consul_sim::ConsulSim::start(consul_sim::SimOptions::default())
            .await
            .context("could not start consul-sim")?;
        let client = Client::new(Config::new(&sim.url())?)?;
        let mut all = Vec::new();
        for _ in 0..rounds {
            all.extend(round(&client, waiters, hold).await?);
        }
        sim.shutdown().await;
        Ok(all)
    })
}

async fn round(client: &Client, waiters: usize, hold: Duration) -> Result<Vec<Duration>> {
    let lock = |who: String| Lock::new(client.clone(), LockOptions::new(KEY, who.into_bytes()));
    let LockAttempt::Acquired(first) = lock("holder".to_owned())?
        .acquire(AcquireMode::TryOnce)
        .await?
    else {
        bail!("the first deployer could not take a free lock");
    };
    // (acquired at, release started at) of each waiter, in the order they got the lock.
    let log: Arc<Mutex<Vec<(Instant, Instant)>>> = Arc::default();
    let mut tasks = Vec::new();
    for w in 0..waiters {
        let lock = lock(format!("waiter-{w}"))?;
        let log = Arc::clone(&log);
        tasks.push(tokio::spawn(async move {
            match lock
                .acquire(AcquireMode::WaitUpTo(Duration::from_secs(120)))
                .await?
            {
                LockAttempt::Acquired(held) => {
                    let acquired = Instant::now();
                    // Hold it a little, as a deploy holds it for its whole length: the losers
                    // of this round are back in their blocking query before the release.
                    tokio::time::sleep(hold).await;
                    // Record under the log's lock, so the order of entries is the order of
                    // hand-offs; the release starts right after.
                    {
                        let mut entries = log.lock().unwrap_or_else(PoisonError::into_inner);
                        entries.push((acquired, Instant::now()));
                    }
                    held.release().await?;
                    anyhow::Ok(())
                }
                _ => bail!("a waiting deployer gave up"),
            }
        }));
    }
    // Let every waiter reach its blocking query before the first release.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let first_release = Instant::now();
    first.release().await?;
    for task in tasks {
        task.await.context("a waiting deployer panicked")??;
    }
    let entries = log.lock().unwrap_or_else(PoisonError::into_inner).clone();
    let mut previous_release = first_release;
    let mut times = Vec::with_capacity(entries.len());
    for (acquired, released) in entries {
        times.push(acquired.saturating_duration_since(previous_release));
        previous_release = released;
    }
    Ok(times)
}
