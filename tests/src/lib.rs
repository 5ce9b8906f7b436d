//! End-to-end scenarios across the duncan CLI and both simulators.
//!
//! - [`binary`]: the `duncan` binary under test (from the test kit, `duncan-testkit`).
//! - [`example`]: the example cluster of `cargo xtask demo` and `cargo xtask sandbox` (from
//!   the test kit).
//! - [`address`]: the suite's address variables, checked and shown without secrets (all that
//!   remains without the default feature `scope`, for xtask).
//! - [`it_scope`]: the unique namespace and the real-or-simulated services of the
//!   integration suite (`cargo xtask it`), which make it safe against real services.
//!
//! The harness the scenarios share is the test kit, `duncan-testkit`; the test registry (a
//! real CNCF registry on a loopback port) is the crate `test-registry`.

pub mod address;
#[cfg(feature = "scope")]
pub use duncan_testkit::{binary, example};
#[cfg(feature = "scope")]
pub mod it_scope;
