//! Integration tests of marathon-client: models against real fixtures, every call against
//! marathon-sim, and bad input from misbehaving servers.

mod bad_servers;
mod fixtures;
mod requests;
mod sim;
mod sim_events;
mod util;
