//! Integration tests of marathon-client, in one binary: models against real fixtures
//! (`fixtures`), what the client sends (`requests`), every call against marathon-sim (`sim`,
//! `sim_events`), read-only checks against a real Marathon when one is configured (`live`),
//! misbehaving servers (`bad_servers`) and redirects (`redirects`).

mod bad_servers;
mod fixtures;
mod live;
mod redirects;
mod requests;
mod service_account;
mod sim;
mod sim_events;
mod util;
