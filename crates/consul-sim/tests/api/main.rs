//! Integration tests: the sim spoken to over raw HTTP, as any Consul client would.

mod acl;
mod agent;
mod binary;
mod events;
mod faults;
mod kv;
mod session;
mod txn;
mod util;
