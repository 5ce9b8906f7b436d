//! The one test kit of the workspace: what the CLI tests, duncan-core's protocol tests, the
//! end-to-end and reliability suites, the benchmarks and `cargo xtask demo`/`sandbox` share.
//!
//! - [`sims`]: consul-sim and marathon-sim in-process, seeded and inspected over HTTP or their
//!   controls.
//! - [`apps`]: the example app's Marathon JSON, written once.
//! - [`core`]: duncan-core contexts, clients with quick retries, deploy requests with short
//!   windows, an image check that finds everything, a progress recorder.
//! - [`cli`]: the `duncan` binary in a clean home, and what a run produced.
//! - [`wait`]: waiting on observable state instead of sleeping.
//! - [`example`]: the example cluster (`shop` in two environments, with a registry), which
//!   the binary `example-cluster` runs for `cargo xtask demo` and `sandbox`.
//! - [`binary`]: where the `duncan` binary under test is.
//!
//! Each suite's harness module (`tests/cli/sims.rs`, `tests/protocol_common`,
//! `tests/reliability/support.rs`) is a thin layer that fixes the suite's defaults (names,
//! windows, prefixes) over these pieces.

pub mod apps;
pub mod binary;
pub mod cli;
pub mod core;
pub mod example;
pub mod sims;
pub mod wait;

pub use cli::{Home, Run};
pub use sims::Sims;
