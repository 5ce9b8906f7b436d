//! Integration tests: the sim spoken to over raw HTTP, as any Consul client would.

mod kv;
mod session;
mod util;
