//! End-to-end tests of the `duncan` binary: the real executable against consul-sim and
//! marathon-sim started in-process, with whole outputs pinned by insta snapshots.

mod util;

mod config;
mod help;
mod usage;
