//! The app's environment variables under `env/{app}/{env}/{KEY}` (the Go tool's `env` command).
//!
//! [`set`] and [`unset`] apply all their changes in one Consul transaction, fenced on what was read
//! (a concurrent change makes them fail rather than silently overwrite it), together with an
//! [`EventKind::EnvUpdate`] audit event naming the changed keys (never their values, which may be
//! secrets). A call that changes nothing writes nothing.

use std::fmt;

use consul_client::{Client, QueryOptions, TxnOp};
use serde::Serialize;

use crate::audit::log::{MAX_SEQ_ATTEMPTS, WriteError, encode_event, write_with_event};
use crate::audit::{AuditError, Event, EventKind};
use crate::names::{AppEnv, Deployer, EnvVarName, NameError};
use crate::sequence::{self, Series};

/// Errors of the environment-variable operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvVarError {
    /// An assignment had no `=`.
    #[error("{input:?} is not an assignment: expected KEY=VALUE")]
    NotAnAssignment {
        /// The rejected input, shortened if very long.
        input: String,
    },
    /// A variable name was invalid.
    #[error(transparent)]
    InvalidName(#[from] NameError),
    /// More variables than one Consul transaction can change at once.
    #[error("{count} variables cannot be changed at once; change at most {max} per command")]
    TooMany {
        /// How many were given.
        count: usize,
        /// The most one command may change.
        max: usize,
    },
    /// The same variable was named twice in one call.
    #[error("{name} is given more than once")]
    Duplicate {
        /// The repeated name.
        name: EnvVarName,
    },
    /// Another change to the same variables was committed between our read and our write.
    #[error(
        "the environment of {target} changed while this update was being made; nothing was \
         written, run the command again"
    )]
    Conflict {
        /// The app/env.
        target: AppEnv,
    },
    /// The token may not change the app's environment.
    #[error("permission denied: the Consul token may not write env/{target}/ keys")]
    PermissionDenied {
        /// The app/env.
        target: AppEnv,
        /// Consul's error.
        #[source]
        source: consul_client::Error,
    },
    /// Consul could not be read or written.
    #[error("Consul request for the environment of {target} failed")]
    Consul {
        /// The app/env.
        target: AppEnv,
        /// Consul's error.
        #[source]
        source: consul_client::Error,
    },
    /// The audit event could not be prepared.
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// One environment variable and its value; `Display` is `KEY=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvVar {
    /// The variable's name.
    pub name: EnvVarName,
    /// Its value.
    pub value: String,
}

impl fmt::Display for EnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.value)
    }
}

/// What [`set`] or [`unset`] did to one variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EnvChange {
    /// The variable did not exist and now has `value`.
    Added {
        /// The variable.
        key: EnvVarName,
        /// Its new value.
        value: String,
    },
    /// The variable's value changed from `old` to `new`.
    Changed {
        /// The variable.
        key: EnvVarName,
        /// The value before.
        old: String,
        /// The value now.
        new: String,
    },
    /// The variable already had the requested value; nothing was written for it.
    Unchanged {
        /// The variable.
        key: EnvVarName,
    },
    /// The variable existed with value `old` and was removed.
    Removed {
        /// The variable.
        key: EnvVarName,
        /// The value it had.
        old: String,
    },
    /// The variable to remove did not exist.
    Absent {
        /// The variable.
        key: EnvVarName,
    },
}

impl EnvChange {
    /// The variable this change is about.
    pub fn key(&self) -> &EnvVarName {
        match self {
            EnvChange::Added { key, .. }
            | EnvChange::Changed { key, .. }
            | EnvChange::Unchanged { key }
            | EnvChange::Removed { key, .. }
            | EnvChange::Absent { key } => key,
        }
    }

    /// Whether something was written for this variable.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            EnvChange::Added { .. } | EnvChange::Changed { .. } | EnvChange::Removed { .. }
        )
    }
}

impl fmt::Display for EnvChange {
    /// The Go tool's wording for a change (`changing KEY from OLD => NEW`), and similar lines for
    /// the others.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvChange::Added { key, value } => write!(f, "setting {key} to {value}"),
            EnvChange::Changed { key, old, new } => write!(f, "changing {key} from {old} => {new}"),
            EnvChange::Unchanged { key } => write!(f, "{key} unchanged"),
            EnvChange::Removed { key, old } => write!(f, "removing {key} (was {old})"),
            EnvChange::Absent { key } => write!(f, "{key} not set"),
        }
    }
}

/// Splits `KEY=VALUE` at the first `=`: everything after it is the value, `=` included (the Go
/// tool lost the extra `=` characters).
///
/// ```
/// use duncan_core::env_vars::parse_assignment;
///
/// let (name, value) = parse_assignment("A=B=C")?;
/// assert_eq!((name.as_str(), value.as_str()), ("A", "B=C"));
/// let (_, empty) = parse_assignment("EMPTY=")?;
/// assert_eq!(empty, "");
/// assert!(parse_assignment("NOVALUE").is_err());
/// # Ok::<(), duncan_core::env_vars::EnvVarError>(())
/// ```
///
/// # Errors
///
/// [`EnvVarError::NotAnAssignment`] without `=`, [`EnvVarError::InvalidName`] for a bad name.
pub fn parse_assignment(input: &str) -> Result<(EnvVarName, String), EnvVarError> {
    let Some((name, value)) = input.split_once('=') else {
        return Err(EnvVarError::NotAnAssignment {
            input: input.chars().take(80).collect(),
        });
    };
    Ok((name.parse()?, value.to_owned()))
}

/// Maps a Consul error to [`EnvVarError`].
fn consul_error(target: &AppEnv, source: consul_client::Error) -> EnvVarError {
    if source.is_permission_denied() || matches!(source, consul_client::Error::AclNotFound) {
        EnvVarError::PermissionDenied {
            target: target.clone(),
            source,
        }
    } else {
        EnvVarError::Consul {
            target: target.clone(),
            source,
        }
    }
}

/// Every variable of `target`, sorted by name (`KEY=VALUE` with `Display`).
///
/// Keys under `env/{app}/{env}/` that are not valid variable names (nested keys, keys written by
/// hand) are skipped, since they could not be passed to the app as variables anyway.
///
/// # Errors
///
/// Permission or Consul errors.
pub async fn list(consul: &Client, target: &AppEnv) -> Result<Vec<EnvVar>, EnvVarError> {
    let prefix = target.env_prefix();
    let (pairs, _) = consul
        .kv()
        .list(&prefix, &QueryOptions::consistent())
        .await
        .map_err(|e| consul_error(target, e))?;
    let mut vars: Vec<EnvVar> = pairs
        .iter()
        .filter_map(|p| {
            let name = p.key.strip_prefix(&prefix)?.parse::<EnvVarName>().ok()?;
            Some(EnvVar {
                name,
                value: String::from_utf8_lossy(&p.value).into_owned(),
            })
        })
        .collect();
    vars.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(vars)
}

/// The value of one variable of `target`, `None` when it is not set.
///
/// # Errors
///
/// Permission or Consul errors.
pub async fn get(
    consul: &Client,
    target: &AppEnv,
    name: &EnvVarName,
) -> Result<Option<String>, EnvVarError> {
    let (pair, _) = consul
        .kv()
        .get(&target.env_key(name), &QueryOptions::consistent())
        .await
        .map_err(|e| consul_error(target, e))?;
    Ok(pair.map(|p| String::from_utf8_lossy(&p.value).into_owned()))
}

/// Reads the current entries of `names`: value and `ModifyIndex` (0 when absent).
async fn current_entries(
    consul: &Client,
    target: &AppEnv,
    names: &[&EnvVarName],
) -> Result<Vec<Option<(String, u64)>>, EnvVarError> {
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let (pair, _) = consul
            .kv()
            .get(&target.env_key(name), &QueryOptions::consistent())
            .await
            .map_err(|e| consul_error(target, e))?;
        out.push(pair.map(|p| {
            (
                String::from_utf8_lossy(&p.value).into_owned(),
                p.modify_index,
            )
        }));
    }
    Ok(out)
}

/// The most variables one call may change: a Consul transaction holds 128 operations, up to four
/// of which append the audit event (counter, check, entry, and the entry it pushes out).
pub const MAX_CHANGES: usize = consul_client::MAX_TXN_OPS - 4;

/// Refuses a name given twice, and more names than one transaction can change.
fn check_names<'a>(
    names: impl ExactSizeIterator<Item = &'a EnvVarName>,
) -> Result<(), EnvVarError> {
    if names.len() > MAX_CHANGES {
        return Err(EnvVarError::TooMany {
            count: names.len(),
            max: MAX_CHANGES,
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    for name in names {
        if !seen.insert(name) {
            return Err(EnvVarError::Duplicate { name: name.clone() });
        }
    }
    Ok(())
}

/// Writes `ops` together with an [`EventKind::EnvUpdate`] audit event, in one transaction.
async fn commit_with_event(
    consul: &Client,
    target: &AppEnv,
    deployer: &Deployer,
    ops: Vec<TxnOp>,
    message: String,
    audit_retention: usize,
) -> Result<(), EnvVarError> {
    let event = Event::new(target, deployer.clone(), EventKind::EnvUpdate).with_message(message);
    let event_json = encode_event(&event)?;
    let conditional = ops.len();
    let counter = sequence::read(consul, target, Series::Events)
        .await
        .map_err(|e| consul_error(target, e))?;
    match write_with_event(consul, target, &ops, &event_json, audit_retention, counter).await {
        Ok(_) => Ok(()),
        Err(WriteError::Consul(e)) if e.is_permission_denied() => Err(consul_error(target, e)),
        // A `cas` failed: a variable changed since it was read.
        Err(WriteError::Consul(consul_client::Error::TxnRolledBack { errors }))
            if errors.iter().all(|x| x.op_index < conditional) =>
        {
            Err(EnvVarError::Conflict {
                target: target.clone(),
            })
        }
        Err(WriteError::Consul(e)) => Err(consul_error(target, e)),
        Err(WriteError::Contention) => Err(AuditError::Contention {
            target: target.clone(),
            attempts: MAX_SEQ_ATTEMPTS,
        }
        .into()),
    }
}

/// Sets variables of `target` and reports each change (`Added`, `Changed` with old and new,
/// `Unchanged`). All writes and an [`EventKind::EnvUpdate`] audit event (naming the keys, not the
/// values) go in one transaction, fenced on the values read; when nothing changes, nothing is
/// written.
///
/// # Errors
///
/// [`EnvVarError::Duplicate`] for a name given twice, [`EnvVarError::TooMany`] for more than
/// [`MAX_CHANGES`] names, [`EnvVarError::Conflict`] when another
/// change landed between the read and the write, permission or Consul errors.
pub async fn set(
    consul: &Client,
    target: &AppEnv,
    deployer: &Deployer,
    assignments: &[(EnvVarName, String)],
    audit_retention: usize,
) -> Result<Vec<EnvChange>, EnvVarError> {
    check_names(assignments.iter().map(|(n, _)| n))?;
    let names: Vec<&EnvVarName> = assignments.iter().map(|(n, _)| n).collect();
    let current = current_entries(consul, target, &names).await?;
    let mut changes = Vec::with_capacity(assignments.len());
    let mut ops = Vec::new();
    for ((name, value), now) in assignments.iter().zip(current) {
        let key = target.env_key(name);
        let change = match now {
            None => {
                ops.push(TxnOp::cas(key, value.as_bytes().to_vec(), 0));
                EnvChange::Added {
                    key: name.clone(),
                    value: value.clone(),
                }
            }
            Some((old, _)) if old == *value => EnvChange::Unchanged { key: name.clone() },
            Some((old, index)) => {
                ops.push(TxnOp::cas(key, value.as_bytes().to_vec(), index));
                EnvChange::Changed {
                    key: name.clone(),
                    old,
                    new: value.clone(),
                }
            }
        };
        changes.push(change);
    }
    if !ops.is_empty() {
        let written: Vec<&str> = changes
            .iter()
            .filter(|c| c.is_write())
            .map(|c| c.key().as_str())
            .collect();
        let message = format!("set {}", written.join(", "));
        commit_with_event(consul, target, deployer, ops, message, audit_retention).await?;
    }
    Ok(changes)
}

/// Removes variables of `target` and reports each (`Removed` with the old value, or `Absent`).
/// Like [`set`]: one fenced transaction with an audit event; nothing written when nothing is
/// removed.
///
/// # Errors
///
/// As [`set`].
pub async fn unset(
    consul: &Client,
    target: &AppEnv,
    deployer: &Deployer,
    names: &[EnvVarName],
    audit_retention: usize,
) -> Result<Vec<EnvChange>, EnvVarError> {
    check_names(names.iter())?;
    let refs: Vec<&EnvVarName> = names.iter().collect();
    let current = current_entries(consul, target, &refs).await?;
    let mut changes = Vec::with_capacity(names.len());
    let mut ops = Vec::new();
    for (name, now) in names.iter().zip(current) {
        match now {
            None => changes.push(EnvChange::Absent { key: name.clone() }),
            Some((old, index)) => {
                ops.push(TxnOp::delete_cas(target.env_key(name), index));
                changes.push(EnvChange::Removed {
                    key: name.clone(),
                    old,
                });
            }
        }
    }
    if !ops.is_empty() {
        let removed: Vec<&str> = changes
            .iter()
            .filter(|c| c.is_write())
            .map(|c| c.key().as_str())
            .collect();
        let message = format!("unset {}", removed.join(", "));
        commit_with_event(consul, target, deployer, ops, message, audit_retention).await?;
    }
    Ok(changes)
}
