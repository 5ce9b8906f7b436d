//! The harness: a Consul to talk to, a client for it, and key names that do not collide.

use std::time::Duration;

use consul_client::{Client, Config, RetryPolicy};
use consul_sim::{ConsulSim, SimOptions};

/// A Consul for one test: the simulator (always, when the test needs its controls), or a
/// real Consul named by `CONSUL_HTTP_ADDR`.
pub struct Env {
    /// The simulator, when the test runs against it.
    pub sim: Option<ConsulSim>,
    /// A client for it.
    pub client: Client,
    /// A prefix unique to this test, so tests against a shared real Consul do not collide.
    pub prefix: String,
}

impl Env {
    /// The sim, or a real Consul when `CONSUL_HTTP_ADDR` is set.
    pub async fn any() -> Env {
        if std::env::var_os("CONSUL_HTTP_ADDR").is_some_and(|v| !v.is_empty()) {
            let config = Config::from_env().expect("CONSUL_HTTP_* variables are valid");
            let client = Client::new(quick(config)).expect("client");
            return Env {
                sim: None,
                client,
                prefix: unique_prefix(),
            };
        }
        Env::sim(SimOptions::default()).await
    }

    /// Always the simulator, started with `options`.
    pub async fn sim(options: SimOptions) -> Env {
        let sim = ConsulSim::start(options).await.expect("consul-sim starts");
        let client = client_for(&sim, None);
        Env {
            sim: Some(sim),
            client,
            prefix: unique_prefix(),
        }
    }

    /// The simulator's controls (only for tests started with [`Env::sim`]).
    pub fn control(&self) -> consul_sim::Control {
        self.sim
            .as_ref()
            .expect("this test runs against consul-sim")
            .control()
    }

    /// A key under this test's prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

/// A client for `sim`, sending `token` when given, with quick retries.
pub fn client_for(sim: &ConsulSim, token: Option<&str>) -> Client {
    let mut config = Config::new(&sim.url()).expect("sim url");
    if let Some(token) = token {
        config = config.with_token(token);
    }
    Client::new(quick(config)).expect("client")
}

/// Short timeouts and retry delays, so failing tests fail fast.
pub fn quick(config: Config) -> Config {
    config
        .with_timeout(Duration::from_secs(5))
        .with_retry(RetryPolicy::new(
            3,
            Duration::from_millis(10),
            Duration::from_millis(50),
        ))
}

fn unique_prefix() -> String {
    format!("cc-test/{:016x}/", fastrand::u64(..))
}

/// Polls `cond` until it holds, failing the test after a generous bound.
pub async fn wait_until(mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached in time"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
