//! Deploy freezes ("holds") and the other blockers a deploy knows of before its prompt.
//!
//! `duncan lock hold -a APP -e ENV --reason "incident 4711"` writes a [`Hold`] as JSON
//! `{"reason", "by": "user@host", "since": RFC 3339}` on `deploys/{app}/{env}/hold`: under the
//! app/env's prefix, so the same ACL rule governs it as the lock, tags, history and audit. It is
//! a plain key, not a session lock: it outlives every session and stays until `duncan lock
//! release` deletes it. Every deploy, rollback and scale of that app/env reads it before its
//! prompt (with the plan's other reads, in the same transaction) and again in the transaction
//! that takes the deploy lock, so a hold set while one waited for the lock is honoured too.
//! Setting and releasing a hold each append an audit event ([`EventKind::HoldSet`],
//! [`EventKind::HoldReleased`]) in the same transaction as the key's write.
//!
//! A value on the key that is not a hold's JSON (written by hand) still freezes deploys: a key
//! someone wrote there on purpose is not ignored. `duncan lock release` removes it like a hold.

use std::fmt;
use std::time::Duration;

use consul_client::{Client, KvPair, QueryOptions, TxnOp};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::audit::log::{WriteError, write_with_event};
use crate::audit::{AuditError, Event, EventKind};
use crate::names::{AppEnv, Deployer};
use crate::sequence::{self, Series};

/// Longest reason accepted, in characters (it is shown in every refused deploy's message).
pub const MAX_REASON_CHARS: usize = 500;

/// A deploy freeze of one app/env, stored as JSON on `deploys/{app}/{env}/hold`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Why deploys are frozen (e.g. `incident 4711`).
    pub reason: String,
    /// Who set it (`user@host`).
    pub by: Deployer,
    /// When it was set (UTC, RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
}

impl fmt::Display for Hold {
    /// `"incident 4711", set by alice@laptop since 2026-01-02T03:04:05Z (5m 3s ago)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}, set by {} since {}",
            self.reason,
            self.by,
            rfc3339(self.since)
        )?;
        if let Some(age) = age_of(self.since) {
            write!(f, " ({} ago)", human(age))?;
        }
        Ok(())
    }
}

/// What the hold key holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum HoldState {
    /// A hold written by duncan.
    Hold(Hold),
    /// A value that is not a hold's JSON; it freezes deploys all the same.
    Foreign {
        /// The value, shortened.
        raw: String,
    },
}

impl fmt::Display for HoldState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HoldState::Hold(hold) => hold.fmt(f),
            HoldState::Foreign { raw } => {
                write!(f, "a value not written by duncan ({raw:?})")
            }
        }
    }
}

impl HoldState {
    pub(crate) fn from_pair(pair: &KvPair) -> Self {
        match serde_json::from_slice::<Hold>(&pair.value) {
            Ok(hold) => HoldState::Hold(hold),
            Err(_) => HoldState::Foreign {
                raw: String::from_utf8_lossy(&pair.value)
                    .chars()
                    .take(120)
                    .collect(),
            },
        }
    }
}

/// Errors of holds.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HoldError {
    /// A hold is set already; it was left as it is.
    #[error("deploys of {target} are on hold already: {state}")]
    AlreadyHeld {
        /// The app/env.
        target: AppEnv,
        /// The hold found.
        state: Box<HoldState>,
    },
    /// The reason is empty or too long.
    #[error("a hold needs a reason of 1 to {MAX_REASON_CHARS} characters")]
    BadReason,
    /// The hold key changed between its read and the release: nothing was released.
    #[error("the hold of {target} changed while it was being released; nothing was released")]
    Changed {
        /// The app/env.
        target: AppEnv,
    },
    /// The token may not read or write the app/env's keys.
    #[error("permission denied: the Consul token may not change deploys/{target}/hold")]
    PermissionDenied {
        /// The app/env.
        target: AppEnv,
        /// Consul's error.
        #[source]
        source: consul_client::Error,
    },
    /// Consul could not be reached or failed.
    #[error("Consul request for the hold of {target} failed")]
    Consul {
        /// The app/env.
        target: AppEnv,
        /// Consul's error.
        #[source]
        source: consul_client::Error,
    },
    /// The hold or its audit event could not be encoded, or the audit log kept moving.
    #[error("could not write the audit event of the hold of {target}")]
    Audit {
        /// The app/env.
        target: AppEnv,
        /// The audit error.
        #[source]
        source: AuditError,
    },
}

impl HoldError {
    fn from_consul(target: &AppEnv, source: consul_client::Error) -> Self {
        if source.is_permission_denied() || matches!(source, consul_client::Error::AclNotFound) {
            HoldError::PermissionDenied {
                target: target.clone(),
                source,
            }
        } else {
            HoldError::Consul {
                target: target.clone(),
                source,
            }
        }
    }

    fn from_write(target: &AppEnv, error: WriteError) -> Self {
        match error {
            WriteError::Consul(source) => HoldError::from_consul(target, source),
            WriteError::Contention => HoldError::Audit {
                target: target.clone(),
                source: AuditError::Contention {
                    target: target.clone(),
                    attempts: crate::audit::log::MAX_SEQ_ATTEMPTS,
                },
            },
        }
    }
}

/// The read of the hold key to put in a transaction (`get-tree`, since a `get` of a missing
/// key fails a whole transaction). Its result is found by [`hold_from_pairs`].
pub fn read_op(target: &AppEnv) -> TxnOp {
    TxnOp::get_tree(target.hold_key())
}

/// The hold among the results of a transaction that carried [`read_op`] (`None`: no hold).
pub fn hold_from_pairs(target: &AppEnv, pairs: &[KvPair]) -> Option<HoldState> {
    let key = target.hold_key();
    pairs
        .iter()
        .rev()
        .find(|p| p.key == key)
        .map(HoldState::from_pair)
}

/// Reads the hold of `target` (consistently). Other code calls this to show or honour it.
///
/// # Errors
///
/// [`HoldError::PermissionDenied`] or [`HoldError::Consul`].
pub async fn read_hold(consul: &Client, target: &AppEnv) -> Result<Option<HoldState>, HoldError> {
    let (pair, _) = consul
        .kv()
        .get(&target.hold_key(), &QueryOptions::consistent())
        .await
        .map_err(|e| HoldError::from_consul(target, e))?;
    Ok(pair.as_ref().map(HoldState::from_pair))
}

/// Freezes deploys of `target`: writes the hold (create-only) and its [`EventKind::HoldSet`]
/// audit event in one transaction. Returns the hold written.
///
/// # Errors
///
/// [`HoldError::AlreadyHeld`] naming the hold already set (it is left as it is);
/// [`HoldError::BadReason`]; permission, Consul or audit errors.
pub async fn set_hold(
    consul: &Client,
    target: &AppEnv,
    reason: &str,
    by: &Deployer,
    audit_retention: usize,
) -> Result<Hold, HoldError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(HoldError::BadReason);
    }
    let hold = Hold {
        reason: reason.to_owned(),
        by: by.clone(),
        since: now_seconds(),
    };
    let value = serde_json::to_vec(&hold).map_err(|source| HoldError::Audit {
        target: target.clone(),
        source: AuditError::Encode { source },
    })?;
    let event =
        Event::new(target, by.clone(), EventKind::HoldSet).with_message(hold.reason.clone());
    let ops = [
        TxnOp::check_not_exists(target.hold_key()),
        TxnOp::set(target.hold_key(), value),
    ];
    match write_event(consul, target, &ops, &event, audit_retention).await {
        Ok(()) => {}
        Err(HoldError::Consul {
            source: consul_client::Error::TxnRolledBack { errors },
            ..
        }) if errors.iter().any(|e| e.op_index == 0) => {
            // Set by someone else first: say whose it is (gone again meanwhile: say so too).
            let state = read_hold(consul, target)
                .await?
                .unwrap_or(HoldState::Foreign {
                    raw: "(released again meanwhile)".to_owned(),
                });
            return Err(HoldError::AlreadyHeld {
                target: target.clone(),
                state: Box::new(state),
            });
        }
        Err(other) => return Err(other),
    }
    Ok(hold)
}

/// Ends the hold of `target`: deletes the key (only if unchanged since it was read) and appends
/// an [`EventKind::HoldReleased`] audit event by `by`, in one transaction. Returns the hold
/// released (`None`: there was none, and nothing was written).
///
/// # Errors
///
/// [`HoldError::Changed`] when the key changed meanwhile; permission, Consul or audit errors.
pub async fn release_hold(
    consul: &Client,
    target: &AppEnv,
    by: &Deployer,
    audit_retention: usize,
) -> Result<Option<HoldState>, HoldError> {
    let (pair, _) = consul
        .kv()
        .get(&target.hold_key(), &QueryOptions::consistent())
        .await
        .map_err(|e| HoldError::from_consul(target, e))?;
    let Some(pair) = pair else { return Ok(None) };
    let state = HoldState::from_pair(&pair);
    let event = Event::new(target, by.clone(), EventKind::HoldReleased)
        .with_message(format!("the hold was {state}"));
    let ops = [TxnOp::delete_cas(target.hold_key(), pair.modify_index)];
    match write_event(consul, target, &ops, &event, audit_retention).await {
        Ok(()) => Ok(Some(state)),
        Err(HoldError::Consul {
            source: consul_client::Error::TxnRolledBack { errors },
            ..
        }) if errors.iter().any(|e| e.op_index == 0) => Err(HoldError::Changed {
            target: target.clone(),
        }),
        Err(other) => Err(other),
    }
}

/// Writes `ops` and `event` in one transaction.
async fn write_event(
    consul: &Client,
    target: &AppEnv,
    ops: &[TxnOp],
    event: &Event,
    audit_retention: usize,
) -> Result<(), HoldError> {
    let event_json = crate::audit::log::encode_event(event).map_err(|source| HoldError::Audit {
        target: target.clone(),
        source,
    })?;
    let counter = sequence::read(consul, target, Series::Events)
        .await
        .map_err(|e| HoldError::from_consul(target, e))?;
    write_with_event(consul, target, ops, &event_json, audit_retention, counter)
        .await
        .map_err(|e| HoldError::from_write(target, e))?;
    Ok(())
}

/// Something known before the prompt that stops, or may stop, a deploy. Shown in the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Blocker {
    /// Deploys are on hold: refused.
    Hold {
        /// The hold.
        hold: HoldState,
    },
    /// The deploy lock is held: refused, unless the deploy waits for it.
    Lock {
        /// Who holds it, as [`crate::lock::LockHeld`] shows it.
        holder: String,
        /// True when it has been held for longer than the configured limit.
        probably_stale: bool,
        /// How long the deploy waits for it (`None`: it does not, and is refused); in JSON,
        /// seconds.
        #[serde(serialize_with = "as_seconds")]
        waits_up_to: Option<Duration>,
    },
    /// Marathon deployments hold the apps: the update is refused by Marathon unless forced.
    MarathonDeployments {
        /// The deployment ids.
        ids: Vec<String>,
    },
}

impl Blocker {
    /// True when the deploy is refused because of it (before its prompt).
    pub fn refuses(&self) -> bool {
        match self {
            Blocker::Hold { .. } => true,
            Blocker::Lock { waits_up_to, .. } => waits_up_to.is_none(),
            Blocker::MarathonDeployments { .. } => false,
        }
    }
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Blocker::Hold { hold } => write!(f, "deploys are on hold: {hold}"),
            Blocker::Lock {
                holder,
                probably_stale,
                waits_up_to,
            } => {
                write!(f, "the deploy lock is held by {holder}")?;
                if *probably_stale {
                    f.write_str(
                        " - probably stale: if no deploy runs, `duncan lock release` frees it",
                    )?;
                }
                match waits_up_to {
                    Some(wait) => write!(f, "; waiting for it up to {}", human(*wait)),
                    None => Ok(()),
                }
            }
            Blocker::MarathonDeployments { ids } => write!(
                f,
                "Marathon deployment(s) {} hold the apps; the update is refused unless \
                 --force-marathon cancels them",
                ids.join(", ")
            ),
        }
    }
}

/// Now, to the second (as the Go tool's stamps and RFC 3339 output read).
fn now_seconds() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

fn as_seconds<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

/// How long ago `at` was, by this machine's clock (`None` when in the future).
pub(crate) fn age_of(at: OffsetDateTime) -> Option<Duration> {
    Duration::try_from(OffsetDateTime::now_utc() - at).ok()
}

/// `2026-01-02T03:04:05Z`.
pub(crate) fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

/// Formats a duration as `1h 2m 3s`, `4m 5s` or `6s`.
pub(crate) fn human(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, m, s) => format!("{h}h {m}m {s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(value: &str) -> KvPair {
        let mut pair: KvPair = serde_json::from_str(
            r#"{"Key":"deploys/web/stage/hold","Value":null,"Flags":0,"LockIndex":0,
                "CreateIndex":1,"ModifyIndex":1}"#,
        )
        .unwrap();
        pair.value = value.as_bytes().to_vec();
        pair
    }

    #[test]
    fn a_hold_is_stored_as_reason_by_and_since() {
        let hold = Hold {
            reason: "incident 4711".to_owned(),
            by: "alice@laptop".parse().unwrap(),
            since: time::macros::datetime!(2026-01-02 03:04:05 UTC),
        };
        assert_eq!(
            serde_json::to_string(&hold).unwrap(),
            r#"{"reason":"incident 4711","by":"alice@laptop","since":"2026-01-02T03:04:05Z"}"#
        );
        assert!(
            hold.to_string()
                .starts_with("\"incident 4711\", set by alice@laptop since 2026-01-02T03:04:05Z (")
        );
    }

    #[test]
    fn a_value_that_is_not_a_hold_still_freezes_deploys() {
        let target = AppEnv::parse("web", "stage").unwrap();
        let state = hold_from_pairs(&target, &[pair("frozen by ops")]).unwrap();
        assert_eq!(
            state,
            HoldState::Foreign {
                raw: "frozen by ops".to_owned()
            }
        );
        assert!(Blocker::Hold { hold: state }.refuses());
    }

    #[test]
    fn only_a_lock_not_waited_for_and_a_hold_refuse() {
        let lock = |waits_up_to| Blocker::Lock {
            holder: "bob@vm".to_owned(),
            probably_stale: false,
            waits_up_to,
        };
        assert!(lock(None).refuses());
        assert!(!lock(Some(Duration::from_secs(60))).refuses());
        assert!(
            !Blocker::MarathonDeployments {
                ids: vec!["d1".into()]
            }
            .refuses()
        );
    }
}
