//! Integration tests of consul-client against consul-sim (or, for the tests that need no
//! simulator controls, a real Consul when `CONSUL_HTTP_ADDR` points at one).
//!
//! One test binary keeps the build short; each module is one API.

mod acl;
mod cancel;
mod events;
mod faults;
mod input;
mod kv;
mod lock;
mod not_consul;
mod session;
mod snapshots;
mod txn;
mod util;
