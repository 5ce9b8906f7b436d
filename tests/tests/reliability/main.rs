//! Reliability and security proofs: duncan keeps its promises under load, faults and hostile
//! input, and never leaks a secret.
//!
//! One test binary (as ripgrep's `tests/tests.rs`), one module per family of promises. Each
//! scenario prints a machine-readable line `RELIABILITY|scenario|runs|result|figure` on stdout;
//! `cargo xtask reliability` runs the suite with `--no-capture` in its full form
//! (`DUNCAN_RELIABILITY=full`) and writes those lines into RELIABILITY.md. Without that variable
//! the short form runs (small N, one run each), quick enough for CI.
//!
//! Random timings come from one seed, printed by every test that uses it; set
//! `DUNCAN_RELIABILITY_SEED` to replay a run.

mod chaos;
mod consul_faults;
mod crash;
mod drift;
mod hostile;
mod hostile_servers;
mod impostors;
mod lock_loss;
mod marathon_faults;
mod never_hang;
mod race;
mod security;
mod signals;
mod support;
mod tls;
mod tokens;
