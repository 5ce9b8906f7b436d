//! Shared setup of the foundations tests (over the test kit, `duncan-testkit`): a Consul (the in-process simulator, or a real one when
//! `CONSUL_HTTP_ADDR` points at one), clients, names and settings.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::time::Duration;

use consul_client::{Client, Config};
use consul_sim::{ConsulSim, Control, SimOptions};
use duncan_core::names::{AppEnv, Deployer};
use duncan_core::settings::Settings;

/// A Consul to test against.
pub struct Backend {
    /// The simulator, when the tests run against it (kept alive as long as the backend).
    pub sim: Option<ConsulSim>,
    /// Its address.
    pub url: String,
    /// A client with the management token (or none when ACLs are off).
    pub client: Client,
}

impl Backend {
    /// A real Consul when `CONSUL_HTTP_ADDR` is set, else a fresh simulator. For tests that need
    /// no simulator controls.
    pub async fn start() -> Backend {
        match duncan_testkit::core::real_consul() {
            Some(url) => {
                let mut config = Config::new(&url).expect("CONSUL_HTTP_ADDR is a valid address");
                if let Ok(token) = std::env::var("CONSUL_HTTP_TOKEN") {
                    config = config.with_token(token);
                }
                Backend {
                    sim: None,
                    client: Client::new(config).expect("client"),
                    url,
                }
            }
            None => Backend::sim(SimOptions::default()).await,
        }
    }

    /// Always the simulator, with `options`: for tests that steer it (clock, faults, ACLs).
    pub async fn sim(options: SimOptions) -> Backend {
        let sim = ConsulSim::start(options).await.expect("consul-sim starts");
        let url = sim.url();
        let client = client(&url, None);
        Backend {
            sim: Some(sim),
            url,
            client,
        }
    }

    /// The simulator's controls (panics for a real Consul: only sim tests call it).
    pub fn control(&self) -> Control {
        self.sim
            .as_ref()
            .expect("this test needs consul-sim")
            .control()
    }

    /// Another client of the same Consul with `token`.
    pub fn client_with_token(&self, token: &str) -> Client {
        client(&self.url, Some(token))
    }
}

/// A client of `url` with quick timeouts and retries, so failure tests stay fast.
pub fn client(url: &str, token: Option<&str>) -> Client {
    duncan_testkit::core::consul_client(
        url,
        token,
        Duration::from_secs(5),
        1,
        Duration::from_millis(50),
    )
}

/// An app/env with a unique app name, so tests sharing a real Consul never collide.
pub fn unique_target(env: &str) -> AppEnv {
    let app = format!("t{:012x}", fastrand::u64(..) & 0xffff_ffff_ffff);
    AppEnv::parse(&app, env).expect("valid names")
}

/// A deployer.
pub fn deployer(user: &str) -> Deployer {
    Deployer::new(user, "testhost").expect("valid deployer")
}

/// Default settings for `user`.
pub fn settings(user: &str) -> Settings {
    Settings::new(deployer(user), "0.1.0-test")
}
