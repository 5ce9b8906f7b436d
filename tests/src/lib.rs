//! End-to-end scenarios across the duncan CLI and both simulators, and the test support they
//! share.
//!
//! - [`binary`]: the `duncan` binary under test.
//! - [`example`]: the example cluster of `cargo xtask demo` and `cargo xtask sandbox`:
//!   consul-sim, marathon-sim and a registry, seeded with the app `shop`.
//! - [`it_scope`]: the unique namespace and the real-or-simulated services of the
//!   integration suite (`cargo xtask it`), which make it safe against real services.
//!
//! The test registry (a real CNCF registry on a loopback port) is the crate `test-registry`.

pub mod binary;
pub mod example;
pub mod it_scope;
