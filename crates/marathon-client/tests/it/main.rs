//! Integration tests of marathon-client: models against real fixtures, every call against
//! marathon-sim, and bad input from misbehaving servers.

mod fixtures;
mod util;
