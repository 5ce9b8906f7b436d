//! The audit log in Consul: `deploys/{app}/{env}/events/{seq:020}`, one JSON [`Event`] per key.
//!
//! Sequence numbers are chosen as one more than the highest existing one, and every write of a new
//! entry carries a `check-not-exists` on its key, so two writers can never overwrite each other:
//! the loser re-reads and takes the next number. The oldest entries beyond the retention count
//! are pruned, but never the newest, so numbers keep growing.

use std::time::Duration;

use consul_client::{Client, KvPair, QueryOptions, TxnOp};
use serde::Serialize;

use super::Event;
use crate::names::{AppEnv, sequence_from_key};

/// How many times a writer re-reads and retries after losing a sequence number to another writer.
pub(crate) const MAX_SEQ_ATTEMPTS: usize = 16;

/// Most delete operations put in one transaction while pruning (Consul allows 128 per txn).
const PRUNE_BATCH: usize = 64;

/// Errors of the audit log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The event could not be encoded as JSON.
    #[error("could not encode the audit event")]
    Encode {
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The token may not write the app/env's audit log.
    #[error("permission denied: the Consul token may not write deploys/{target}/events/")]
    PermissionDenied {
        /// The app/env.
        target: AppEnv,
        /// Consul's error.
        #[source]
        source: consul_client::Error,
    },
    /// Other writers kept taking the sequence numbers this writer chose.
    #[error(
        "could not append to the audit log of {target}: {attempts} attempts lost to concurrent \
         writers; try again"
    )]
    Contention {
        /// The app/env.
        target: AppEnv,
        /// How many attempts were made.
        attempts: usize,
    },
    /// Consul could not be read or written.
    #[error("Consul request for the audit log of {target} failed")]
    Consul {
        /// The app/env.
        target: AppEnv,
        /// Consul's error.
        #[source]
        source: consul_client::Error,
    },
}

impl AuditError {
    fn from_consul(target: &AppEnv, source: consul_client::Error) -> Self {
        if source.is_permission_denied() {
            AuditError::PermissionDenied {
                target: target.clone(),
                source,
            }
        } else {
            AuditError::Consul {
                target: target.clone(),
                source,
            }
        }
    }
}

/// An audit event with its sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// The sequence number (the last part of its key); higher is newer.
    pub seq: u64,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
}

/// The sequence numbers present directly under `prefix`, ascending.
pub(crate) async fn sequences(
    consul: &Client,
    prefix: &str,
) -> Result<Vec<u64>, consul_client::Error> {
    let (keys, _) = consul
        .kv()
        .keys(prefix, Some("/"), &QueryOptions::consistent())
        .await?;
    let mut seqs: Vec<u64> = keys
        .iter()
        .filter_map(|k| sequence_from_key(prefix, k))
        .collect();
    seqs.sort_unstable();
    Ok(seqs)
}

/// The next free sequence number under `prefix`: one more than the highest present, 1 if none.
pub(crate) async fn next_sequence(
    consul: &Client,
    prefix: &str,
) -> Result<u64, consul_client::Error> {
    Ok(next_after(&sequences(consul, prefix).await?))
}

/// The sequence number after the highest of `seqs` (ascending), 1 if there is none.
pub(crate) fn next_after(seqs: &[u64]) -> u64 {
    seqs.last().map_or(1, |s| s.saturating_add(1))
}

/// Encodes an event as stored.
///
/// # Errors
///
/// [`AuditError::Encode`] when the event cannot be encoded.
pub(crate) fn encode_event(event: &Event) -> Result<Vec<u8>, AuditError> {
    serde_json::to_vec(event).map_err(|source| AuditError::Encode { source })
}

/// The two transaction operations that append an encoded event as entry `seq` of `target`'s
/// audit log: a `check-not-exists` (so a concurrent writer's entry is never overwritten) and the
/// `set`.
pub(crate) fn append_ops(target: &AppEnv, seq: u64, event_json: Vec<u8>) -> [TxnOp; 2] {
    let key = target.event_key(seq);
    [
        TxnOp::check_not_exists(key.clone()),
        TxnOp::set(key, event_json),
    ]
}

/// True when a rolled-back transaction failed only on `check-not-exists` operations at the
/// given indices: another writer took our sequence numbers, and a retry with new ones may work.
pub(crate) fn lost_sequence_race(error: &consul_client::Error, seq_check_ops: &[usize]) -> bool {
    match error {
        consul_client::Error::TxnRolledBack { errors } => {
            !errors.is_empty() && errors.iter().all(|e| seq_check_ops.contains(&e.op_index))
        }
        _ => false,
    }
}

/// A short random pause before retrying after losing a sequence race, so racing writers spread.
pub(crate) async fn race_pause() {
    tokio::time::sleep(Duration::from_millis(fastrand::u64(1..20))).await;
}

/// Appends `event` to its app/env's audit log, then prunes the log to `retention` entries.
/// Returns the event's sequence number.
///
/// Pruning is best-effort: its failure is logged at `warn` level and does not fail the append,
/// since the event itself was recorded.
///
/// # Errors
///
/// [`AuditError`] when the event could not be written.
pub async fn append(consul: &Client, event: &Event, retention: usize) -> Result<u64, AuditError> {
    let target = event.app_env();
    let prefix = target.events_prefix();
    let event_json = encode_event(event)?;
    for _ in 0..MAX_SEQ_ATTEMPTS {
        let mut seen = sequences(consul, &prefix)
            .await
            .map_err(|e| AuditError::from_consul(&target, e))?;
        let seq = next_after(&seen);
        let ops = append_ops(&target, seq, event_json.clone());
        match consul.txn(&ops).await {
            Ok(_) => {
                seen.push(seq);
                if let Err(e) = prune_seen(consul, &target, &seen, retention).await {
                    tracing::warn!(error = %e, "could not prune the audit log");
                }
                return Ok(seq);
            }
            Err(e) if lost_sequence_race(&e, &[0]) => race_pause().await,
            Err(e) => return Err(AuditError::from_consul(&target, e)),
        }
    }
    Err(AuditError::Contention {
        target,
        attempts: MAX_SEQ_ATTEMPTS,
    })
}

/// Deletes the oldest audit entries of `target` so that at most `retention` remain (at least
/// one is always kept, so sequence numbers never restart). Returns how many were deleted.
///
/// # Errors
///
/// [`AuditError`] when Consul could not be read or written.
pub async fn prune(
    consul: &Client,
    target: &AppEnv,
    retention: usize,
) -> Result<usize, AuditError> {
    let prefix = target.events_prefix();
    let seqs = sequences(consul, &prefix)
        .await
        .map_err(|e| AuditError::from_consul(target, e))?;
    prune_seen(consul, target, &seqs, retention).await
}

/// [`prune`] from a listing already made (ascending: the one that chose the sequence number of
/// the entry just appended, plus that number), so an append needs no second listing. Entries
/// appended by others since are left for a later prune: the log may briefly hold a few more
/// than `retention`, never fewer.
///
/// # Errors
///
/// [`AuditError`] when Consul could not be written.
pub(crate) async fn prune_seen(
    consul: &Client,
    target: &AppEnv,
    seqs: &[u64],
    retention: usize,
) -> Result<usize, AuditError> {
    let keep = retention.max(1);
    let excess = seqs.len().saturating_sub(keep);
    let Some(old) = seqs.get(..excess) else {
        return Ok(0);
    };
    for batch in old.chunks(PRUNE_BATCH) {
        let ops: Vec<TxnOp> = batch
            .iter()
            .map(|s| TxnOp::delete(target.event_key(*s)))
            .collect();
        consul
            .txn(&ops)
            .await
            .map_err(|e| AuditError::from_consul(target, e))?;
    }
    Ok(old.len())
}

/// Most `get` operations per read transaction.
const READ_BATCH: usize = 64;

/// The entries directly under `prefix` whose last part is a sequence number: with a `limit`,
/// only the newest `limit` are read (the keys are listed, then those values fetched with `get`
/// transactions), so the cost of showing the last few does not grow with the log; without one,
/// all of them. Unsorted.
pub(crate) async fn newest_entries(
    consul: &Client,
    prefix: &str,
    limit: Option<usize>,
) -> Result<Vec<KvPair>, consul_client::Error> {
    if let Some(limit) = limit {
        let seqs = sequences(consul, prefix).await?;
        let wanted: Vec<u64> = seqs.iter().rev().take(limit).copied().collect();
        let mut out = Vec::with_capacity(wanted.len());
        let mut complete = true;
        for batch in wanted.chunks(READ_BATCH) {
            let ops: Vec<TxnOp> = batch
                .iter()
                .map(|s| TxnOp::get(format!("{prefix}{s:020}")))
                .collect();
            match consul.txn(&ops).await {
                Ok(response) => out.extend(response.results),
                // An entry was pruned since the listing: read them all instead.
                Err(consul_client::Error::TxnRolledBack { .. }) => {
                    complete = false;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if complete {
            return Ok(out);
        }
    }
    let (pairs, _) = consul
        .kv()
        .list(prefix, &QueryOptions::consistent())
        .await?;
    Ok(pairs)
}

/// The JSON values under `prefix` (keys `{prefix}{seq:020}`), decoded, newest first, at most
/// `limit` of them. Values that cannot be decoded (written by hand, or by a newer duncan) are
/// skipped and logged at `warn` level, naming them as `what`.
pub(crate) async fn newest_decoded<T: serde::de::DeserializeOwned>(
    consul: &Client,
    prefix: &str,
    limit: Option<usize>,
    what: &'static str,
) -> Result<Vec<(u64, T)>, consul_client::Error> {
    let pairs = newest_entries(consul, prefix, limit).await?;
    let mut entries: Vec<(u64, T)> = pairs
        .iter()
        .filter_map(|p| {
            let seq = sequence_from_key(prefix, &p.key)?;
            match serde_json::from_slice::<T>(&p.value) {
                Ok(value) => Some((seq, value)),
                Err(e) => {
                    tracing::warn!(key = %p.key, error = %e, "skipping an undecodable {what}");
                    None
                }
            }
        })
        .collect();
    entries.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
    if let Some(limit) = limit {
        entries.truncate(limit);
    }
    Ok(entries)
}

/// The audit entries of `target`, newest first, at most `limit` of them (all when `None`). With a
/// limit, only those entries' values are read.
///
/// Entries that cannot be decoded (written by hand, or by a newer duncan with kinds this one
/// does not know) are skipped and logged at `warn` level rather than failing the listing.
///
/// # Errors
///
/// [`AuditError`] when Consul could not be read.
pub async fn list(
    consul: &Client,
    target: &AppEnv,
    limit: Option<usize>,
) -> Result<Vec<AuditEntry>, AuditError> {
    let entries = newest_decoded::<Event>(consul, &target.events_prefix(), limit, "audit entry")
        .await
        .map_err(|e| AuditError::from_consul(target, e))?;
    Ok(entries
        .into_iter()
        .map(|(seq, event)| AuditEntry { seq, event })
        .collect())
}
