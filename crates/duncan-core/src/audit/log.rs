//! The audit log in Consul: `deploys/{app}/{env}/events/{seq:020}`, one JSON [`Event`] per key.
//!
//! Sequence numbers come from the counter `deploys/{app}/{env}/seq/events` (see
//! [`crate::sequence`]): the transaction that writes an entry moves the counter with `cas` and
//! checks that the entry's key is free, so two writers can never take the same number or
//! overwrite each other: the loser reads again and takes the next number. The same transaction
//! deletes the entry `retention` numbers back, so the log keeps the newest `retention` entries;
//! what single deletes cannot catch (a retention lowered since, entries written by hand) is
//! pruned from a listing every 64 entries and whenever the writer had to list
//! anyway. The newest entry is never pruned, so numbers keep growing.

use std::time::Duration;

use consul_client::{Client, KvPair, QueryOptions, TxnOp};
use serde::Serialize;

use super::Event;
use crate::names::{AppEnv, sequence_from_key};
pub(crate) use crate::sequence::sequences;
use crate::sequence::{self, SeqCounter, Series, claim_ops};

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

/// Encodes an event as stored.
///
/// # Errors
///
/// [`AuditError::Encode`] when the event cannot be encoded.
pub(crate) fn encode_event(event: &Event) -> Result<Vec<u8>, AuditError> {
    serde_json::to_vec(event).map_err(|source| AuditError::Encode { source })
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
    let counter = sequence::read(consul, &target, Series::Events)
        .await
        .map_err(|e| AuditError::from_consul(&target, e))?;
    Ok(append_counted(consul, event, retention, counter).await?.seq)
}

/// [`append`] with the counter already read (with the tags, or by the previous append), so the
/// append is one transaction. Returns the number taken and the counter after it.
pub(crate) async fn append_counted(
    consul: &Client,
    event: &Event,
    retention: usize,
    counter: SeqCounter,
) -> Result<Appended, AuditError> {
    let target = event.app_env();
    let event_json = encode_event(event)?;
    write_with_event(consul, &target, &[], &event_json, retention, counter)
        .await
        .map_err(|e| match e {
            WriteError::Consul(e) => AuditError::from_consul(&target, e),
            WriteError::Contention => AuditError::Contention {
                target: target.clone(),
                attempts: MAX_SEQ_ATTEMPTS,
            },
        })
}

/// An audit entry as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Appended {
    /// Its sequence number.
    pub(crate) seq: u64,
    /// The counter after the write, for the next append.
    pub(crate) counter: SeqCounter,
}

/// Why [`write_with_event`] wrote nothing.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// Consul refused or failed; a rolled-back transaction's errors name the operations (the
    /// caller's come first).
    Consul(consul_client::Error),
    /// Other writers kept taking the numbers.
    Contention,
}

/// Every how many entries an append lists the log to prune what its own delete cannot catch.
pub(crate) const FULL_PRUNE_EVERY: u64 = 64;

/// The entry an append numbered `seq` deletes, keeping `retention` entries (at least one).
pub(crate) fn expired_by(seq: u64, retention: usize) -> Option<u64> {
    let keep = u64::try_from(retention.max(1)).unwrap_or(u64::MAX);
    seq.checked_sub(keep).filter(|old| *old > 0)
}

/// The operations that append the encoded event as number `seq` (the counter read as
/// `counter`) and delete the entry it pushes out of the retention window.
pub(crate) fn append_ops(
    target: &AppEnv,
    counter: SeqCounter,
    seq: u64,
    event_json: &[u8],
    retention: usize,
) -> Vec<TxnOp> {
    let mut ops = claim_ops(target, Series::Events, counter, seq, event_json.to_vec()).to_vec();
    if let Some(old) = expired_by(seq, retention) {
        ops.push(TxnOp::delete(target.event_key(old)));
    }
    ops
}

/// Prunes after an append numbered `seq`, best-effort: from `listing` when the writer listed
/// the log anyway, from a new listing every [`FULL_PRUNE_EVERY`] entries, else not at all (the
/// append's own delete did it).
pub(crate) async fn prune_after(
    consul: &Client,
    target: &AppEnv,
    seq: u64,
    listing: Option<Vec<u64>>,
    retention: usize,
) {
    let pruned = match listing {
        Some(mut seen) => {
            // The append's own delete took one already; the listing predates the append.
            let deleted = expired_by(seq, retention);
            seen.retain(|s| *s != seq && Some(*s) != deleted);
            seen.push(seq);
            prune_seen(consul, target, &seen, retention).await
        }
        None if seq.is_multiple_of(FULL_PRUNE_EVERY) => prune(consul, target, retention).await,
        None => Ok(0),
    };
    if let Err(e) = pruned {
        tracing::warn!(error = %e, "could not prune the audit log");
    }
}

/// Writes the caller's `ops` and the encoded audit event in one transaction, numbering the event
/// from `counter` (a counter that is unknown, or proves stale, costs one listing), then prunes
/// (see [`prune_after`]).
pub(crate) async fn write_with_event(
    consul: &Client,
    target: &AppEnv,
    ops: &[TxnOp],
    event_json: &[u8],
    retention: usize,
    mut counter: SeqCounter,
) -> Result<Appended, WriteError> {
    let base = ops.len();
    let counter_key = target.events_counter_key();
    let mut listing = None;
    for _ in 0..MAX_SEQ_ATTEMPTS {
        let seq = match counter.next() {
            Some(seq) => seq,
            None => {
                let (fresh, seen) = sequence::resync(consul, target, Series::Events)
                    .await
                    .map_err(WriteError::Consul)?;
                counter = fresh;
                listing = Some(seen);
                fresh.next().unwrap_or(1)
            }
        };
        let mut all = ops.to_vec();
        all.extend(append_ops(target, counter, seq, event_json, retention));
        match consul.txn(&all).await {
            Ok(done) => {
                prune_after(consul, target, seq, listing, retention).await;
                return Ok(Appended {
                    seq,
                    counter: SeqCounter::taken(&counter_key, seq, &done.results),
                });
            }
            Err(e) if lost_sequence_race(&e, &[base, base + 1]) => {
                // Only a counter that was just read fresh lost to another writer: then pause.
                if listing.is_some() {
                    race_pause().await;
                }
                counter = SeqCounter::default();
            }
            Err(e) => return Err(WriteError::Consul(e)),
        }
    }
    Err(WriteError::Contention)
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

/// The whole audit log of `target`, newest first, in one read (a `recurse` on `events/`), only
/// the entries at or after `since` when given.
///
/// Consul filters a listing down to what the token may read, so an empty listing may hide a
/// refusal: then one plain read of a key under the prefix (the lock) tells, and a refusal is an
/// error rather than "no events".
///
/// # Errors
///
/// [`AuditError`] when Consul could not be read, or refused.
pub async fn read_log(
    consul: &Client,
    target: &AppEnv,
    since: Option<time::OffsetDateTime>,
) -> Result<Vec<AuditEntry>, AuditError> {
    let mut entries = list(consul, target, None).await?;
    if entries.is_empty() {
        consul
            .kv()
            .get(&target.lock_key(), &QueryOptions::consistent())
            .await
            .map_err(|e| AuditError::from_consul(target, e))?;
    }
    if let Some(since) = since {
        entries.retain(|e| e.event.timestamp >= since);
    }
    Ok(entries)
}
