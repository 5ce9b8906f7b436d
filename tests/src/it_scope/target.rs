//! Where the integration suite's services are: real ones named by the environment, or the
//! simulators in-process; and how their addresses are shown without secrets.

use super::{CONSUL_ADDR_VAR, MARATHON_URL_VAR};
use super::{ScopeError, consul_err, marathon_err};
pub use crate::address::{address_has_credentials, display_address};

/// One service: a real one at an address, or a simulator running in this process.
#[derive(Debug)]
enum Service<S> {
    Real { address: String },
    Sim(S),
}

/// Where the suite's Consul and Marathon are.
#[derive(Debug)]
pub struct Target {
    consul: Service<consul_sim::ConsulSim>,
    marathon: Service<marathon_sim::MarathonSim>,
}

impl Target {
    /// Real services named by [`CONSUL_ADDR_VAR`] / [`MARATHON_URL_VAR`], simulators for the
    /// ones not named. Tokens for real services come from `CONSUL_HTTP_TOKEN` (or
    /// `CONSUL_HTTP_TOKEN_FILE`) and `DCOS_ACS_TOKEN` / `MARATHON_TOKEN`, as the clients read
    /// them.
    ///
    /// # Errors
    /// [`ScopeError::StartSim`] when a simulator cannot start.
    pub async fn from_env() -> Result<Target, ScopeError> {
        Target::from_lookup(|name| std::env::var(name).ok()).await
    }

    /// Like [`Target::from_env`], reading the two variables through `lookup`.
    ///
    /// # Errors
    /// As [`Target::from_env`].
    pub async fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Target, ScopeError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let consul = match get(CONSUL_ADDR_VAR) {
            Some(address) => Service::Real { address },
            None => Service::Sim(
                consul_sim::ConsulSim::start(consul_sim::SimOptions::default())
                    .await
                    .map_err(|source| ScopeError::StartSim {
                        what: "consul-sim",
                        source,
                    })?,
            ),
        };
        let marathon = match get(MARATHON_URL_VAR) {
            Some(address) => Service::Real { address },
            None => Service::Sim(
                marathon_sim::MarathonSim::start(marathon_sim::SimOptions::default())
                    .await
                    .map_err(|source| ScopeError::StartSim {
                        what: "marathon-sim",
                        source,
                    })?,
            ),
        };
        Ok(Target { consul, marathon })
    }

    /// A Consul client for the target.
    ///
    /// # Errors
    /// [`ScopeError::ConsulConfig`] or [`ScopeError::Consul`] when the address or the
    /// environment's Consul settings are invalid.
    pub fn consul_client(&self) -> Result<consul_client::Client, ScopeError> {
        let config = match &self.consul {
            Service::Real { address } => consul_client::Config::from_lookup(|name| {
                if name == "CONSUL_HTTP_ADDR" {
                    Some(address.clone())
                } else {
                    std::env::var(name).ok()
                }
            }),
            Service::Sim(sim) => consul_client::Config::new(&sim.url()),
        }
        .map_err(ScopeError::ConsulConfig)?;
        consul_client::Client::new(config).map_err(consul_err("building the client"))
    }

    /// A Marathon client for the target.
    ///
    /// # Errors
    /// [`ScopeError::Marathon`] when the URL or the environment's token is invalid.
    pub fn marathon_client(&self) -> Result<marathon_client::Client, ScopeError> {
        let config = match &self.marathon {
            Service::Real { address } => marathon_client::Config::from_lookup(|name| {
                if name == "MARATHON_URL" {
                    Some(address.clone())
                } else {
                    std::env::var(name).ok()
                }
            }),
            Service::Sim(sim) => marathon_client::Config::new(&sim.url()),
        }
        .map_err(marathon_err("configuring the client"))?;
        marathon_client::Client::new(config).map_err(marathon_err("building the client"))
    }

    /// The in-process consul-sim, when Consul is simulated.
    pub fn consul_sim(&self) -> Option<&consul_sim::ConsulSim> {
        match &self.consul {
            Service::Sim(sim) => Some(sim),
            Service::Real { .. } => None,
        }
    }

    /// The in-process marathon-sim, when Marathon is simulated.
    pub fn marathon_sim(&self) -> Option<&marathon_sim::MarathonSim> {
        match &self.marathon {
            Service::Sim(sim) => Some(sim),
            Service::Real { .. } => None,
        }
    }

    /// One line saying where each service is, without secrets.
    pub fn describe(&self) -> String {
        let consul = match &self.consul {
            Service::Real { address } => format!("real Consul at {}", display_address(address)),
            Service::Sim(sim) => format!("consul-sim at {}", sim.url()),
        };
        let marathon = match &self.marathon {
            Service::Real { address } => {
                format!("real Marathon at {}", display_address(address))
            }
            Service::Sim(sim) => format!("marathon-sim at {}", sim.url()),
        };
        format!("{consul}; {marathon}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displayed_addresses_lose_credentials() {
        assert_eq!(
            display_address("https://ops:hunter2@consul.example:8501/?token=abc"),
            "https://consul.example:8501/"
        );
        assert_eq!(display_address("127.0.0.1:8500"), "http://127.0.0.1:8500/");
        assert!(address_has_credentials("https://ops:hunter2@m.example"));
        assert!(!address_has_credentials(
            "https://m.example/service/marathon"
        ));
    }
}
