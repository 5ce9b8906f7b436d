//! duncan's domain: names, the deploy lock, release tags, history, audit events, notifiers and the
//! deploy protocol, as a UI-free library.
//!
//! Nothing here prints, prompts, reads the environment or exits: progress is reported as typed
//! values, failures as typed errors, and the `duncan` binary decides how to show them.
//!
//! # Where each operation starts
//!
//! Every operation runs in a [`Context`](context::Context) (the clients, the image check, the
//! settings and the cancellation token) and reports through a
//! [`ProgressSink`](progress::ProgressSink).
//!
//! | operation | entry point | then |
//! | --- | --- | --- |
//! | deploy | [`deploy::deploy`] | [`plan::build_plan`], the lock ([`lock`]), the group update, [`watch::watch_deployment`], the records ([`release`], [`audit`]) |
//! | rollback | [`deploy::rollback`] | [`release::rollback_target`], then the deploy's steps |
//! | scale | [`scale::scale`] | [`scale::plan_scale`], the deploy's lock and watch |
//! | status | [`status::status`], [`status::status_many`] | [`status::group_status`] |
//! | watch a running deployment | [`watch::watch_running`] | [`watch::target_of_running`], [`watch::watch_deployment`] |
//! | lock status, force release | [`lock::lock_status`], [`lock::force_release`] | |
//! | history, tags | [`release::history`], [`release::read_tags`] | |
//! | app environment | [`env_vars::list`], [`env_vars::get`], [`env_vars::set`], [`env_vars::unset`] | |
//! | access check | [`access::probe_access`] | |

pub mod access;
pub mod audit;
pub mod context;
pub mod deploy;
pub mod env_vars;
pub mod github;
pub mod hold;
pub mod lock;
pub mod names;
pub mod plan;
pub mod progress;
pub mod release;
pub mod report;
pub mod scale;
pub mod sequence;
pub mod settings;
pub mod status;
pub mod watch;
