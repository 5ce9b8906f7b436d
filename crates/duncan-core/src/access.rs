//! May this Consul token manage an app/env? The Go tool's `AllowedToManage`, made honest.
//!
//! The probe is one transaction that sets and deletes `deploys/{app}/{env}/acl_check`: it needs
//! exactly the write right a deploy needs, and leaves nothing behind whether it succeeds or not
//! (a transaction is all or nothing). Unlike the Go tool, "not allowed" is told apart from
//! "Consul cannot be reached", which is an error.

use consul_client::{Client, TxnOp};

use crate::names::AppEnv;

/// The value written by the probe, for anyone who catches it in a snapshot.
const PROBE_VALUE: &[u8] = b"duncan access probe";

/// What the probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Access {
    /// The token may write the app/env's keys.
    Allowed,
    /// The token is known but may not write the app/env's keys.
    Denied,
    /// Consul does not know the token (`ACL not found`): expired, deleted or mistyped.
    TokenUnknown,
}

impl Access {
    /// Whether the token may manage the app/env.
    pub fn is_allowed(self) -> bool {
        self == Access::Allowed
    }
}

/// The probe could not tell: Consul could not be reached or answered something unexpected.
#[derive(Debug, thiserror::Error)]
#[error("could not check the rights on {target} in Consul")]
pub struct AccessError {
    /// The app/env probed.
    pub target: AppEnv,
    /// Consul's error.
    #[source]
    pub source: consul_client::Error,
}

/// The probe's two operations, to send alone or at the head of a larger transaction (the deploy
/// sends them with its read of the release tags). They need the write right on the key and
/// leave nothing behind.
pub(crate) fn probe_ops(target: &AppEnv) -> [TxnOp; 2] {
    let key = target.acl_check_key();
    [
        TxnOp::set(key.clone(), PROBE_VALUE.to_vec()),
        TxnOp::delete(key),
    ]
}

/// Sorts the answer to a transaction headed by [`probe_ops`]: `Some` verdict when Consul said
/// no, `None` when it was not a refusal.
pub(crate) fn refusal(error: &consul_client::Error) -> Option<Access> {
    match error {
        consul_client::Error::AclNotFound => Some(Access::TokenUnknown),
        e if e.is_permission_denied() => Some(Access::Denied),
        _ => None,
    }
}

/// Probes whether the client's token may manage `target` (write under `deploys/{app}/{env}/`).
///
/// # Errors
///
/// [`AccessError`] when Consul is unreachable or answers neither yes nor no.
pub async fn probe_access(consul: &Client, target: &AppEnv) -> Result<Access, AccessError> {
    // It leaves nothing behind: safe to retry like a read.
    match consul.idempotent_txn(&probe_ops(target)).await {
        Ok(_) => Ok(Access::Allowed),
        Err(consul_client::Error::AclNotFound) => Ok(Access::TokenUnknown),
        Err(e) if e.is_permission_denied() => Ok(Access::Denied),
        Err(source) => Err(AccessError {
            target: target.clone(),
            source,
        }),
    }
}

/// Whether the client's token may manage `target`: `Ok(false)` when Consul says no (including
/// for an unknown token), an error when Consul cannot be asked.
///
/// # Errors
///
/// [`AccessError`] when Consul is unreachable or answers neither yes nor no.
pub async fn allowed_to_manage(consul: &Client, target: &AppEnv) -> Result<bool, AccessError> {
    Ok(probe_access(consul, target).await?.is_allowed())
}
