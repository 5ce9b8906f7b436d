//! End-to-end scenarios across the duncan CLI and both simulators, and the test support they
//! share.
//!
//! - [`registry`]: a real CNCF registry (Debian's `docker-registry`) on a loopback port, with
//!   the image pushes and the authentication modes the registry tests need.

pub mod registry;
