//! End-to-end tests of the `duncan` binary: the real executable against consul-sim and
//! marathon-sim started in-process, with whole outputs pinned by insta snapshots.

mod sims;
mod util;

mod certificates;
mod commands;
mod config;
mod config_errors;
mod config_refusals;
mod consul_settings;
mod day_two_history;
mod day_two_lock;
mod day_two_status;
mod deploy;
mod durations;
mod ecosystem;
mod env;
mod failures;
mod help;
mod interrupt;
mod not_consul;
mod notify;
mod progress_lines;
mod prompt;
mod registry;
mod report;
mod secrets;
mod signals;
mod suggestions;
mod terminal;
mod tokens;
mod usage;
mod verbosity;
