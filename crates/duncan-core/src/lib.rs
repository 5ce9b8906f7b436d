//! duncan's domain: names, the deploy lock, release tags, history, audit events, notifiers and the
//! deploy protocol, as a UI-free library.
//!
//! Nothing here prints, prompts, reads the environment or exits: progress is reported as typed
//! values, failures as typed errors, and the `duncan` binary decides how to show them.

pub mod access;
pub mod audit;
pub mod deploy;
pub mod env_vars;
pub mod github;
pub mod hold;
pub mod lock;
pub mod names;
pub mod plan;
pub mod progress;
pub mod release;
pub mod scale;
pub mod sequence;
pub mod settings;
pub mod status;
pub mod watch;
