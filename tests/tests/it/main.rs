//! The integration suite of `cargo xtask it`: consul-client and marathon-client against a real
//! Consul / Marathon when `DUNCAN_IT_CONSUL_ADDR` / `DUNCAN_IT_MARATHON_URL` name one, against
//! consul-sim / marathon-sim otherwise. The same test code runs in both cases.
//!
//! Every test works inside its own [`duncan_tests::it_scope::Scope`]: keys under a unique
//! `duncan-it-<16 hex>/` prefix, Marathon groups `/duncan-it-<16 hex>-…` with apps of zero
//! instances (so a real cluster runs nothing), and cleans up what it created even when it fails.

mod consul;
mod marathon;
mod scope;
mod util;
