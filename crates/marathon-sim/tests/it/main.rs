//! Integration tests of marathon-sim, one binary: the scenarios of deployments, the REST surface,
//! the event stream and the `marathon-sim` binary, all over real HTTP with raw reqwest.

mod access;
mod api;
mod binary;
mod deployments;
mod events;
mod fidelity;
mod latency;
mod login;
mod marathon16;
mod support;
