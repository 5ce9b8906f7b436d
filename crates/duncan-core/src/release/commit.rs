//! The transactions that record a deploy's outcome.
//!
//! [`commit_success`] is step 8 of the deploy protocol, as ONE Consul transaction:
//!
//! | op | verb | key |
//! | -- | ---- | --- |
//! | 0 | `check-session` | `lock` — fencing: only the lock's holder may write |
//! | 1 | `check-index` (or `check-not-exists`) | `current` — as read before the deploy |
//! | 2 | `set` | `current` = new tag |
//! | 3 | `set` (or `delete`; a `get` of `current` when redeploying it) | `previous` = old current |
//! | 4 | `cas` | `seq/history` — the history's counter, as read with the tags |
//! | 5, 6 | `check-not-exists`, `set` | `history/{seq:020}` |
//! | (4) | `cas` | `history/{seq:020}` at its index — instead of 4–6 when the deploy's record was opened |
//! | 7 | `cas` | `seq/events` — the audit log's counter |
//! | 8, 9 | `check-not-exists`, `set` | `events/{seq:020}` |
//! | (10) | `delete` | `events/{seq - retention:020}`, once the log is full |
//! | last | `unlock` | `lock` |
//!
//! A deploy opens its record (outcome `in_progress`, [`record_started`]) in the transaction
//! that writes its start event, right after Marathon accepted the update; its end finishes that
//! record in place (same number, a `cas` on the key's `ModifyIndex`), so the success
//! transaction stays one transaction and a process killed half-way leaves a record naming its
//! deployment.
//!
//! Sequence numbers come from the counters read with the release tags (see [`crate::sequence`]),
//! so the transaction needs no read before it; a `cas` or `check-not-exists` that fails makes a
//! collision with another writer (or a stale counter) a rolled-back transaction, retried after a
//! listing with fresh numbers, never an overwrite. Transport failures and 5xx answers are retried with exponential backoff; before each
//! retry the history key of the failed attempt is read back, since a transaction whose answer was
//! lost may have been applied. When the transaction still cannot be committed, the error states
//! exactly what Marathon runs, what Consul says and the commands that record the release by hand.

use std::fmt;
use std::time::Duration;

use consul_client::{Client, QueryOptions, TxnOp};

use super::ReleaseTags;
use super::record::HistoryRecord;
use crate::audit::Event;
use crate::audit::log::{
    MAX_SEQ_ATTEMPTS, append_ops, lost_sequence_race, prune_after, race_pause,
};
use crate::names::{AppEnv, Tag};
use crate::sequence::{self, SeqCounters, Series, claim_ops};

/// Operation indices of the success transaction, named for error analysis.
const OP_CHECK_SESSION: usize = 0;
const OP_CHECK_CURRENT: usize = 1;
const OP_PREVIOUS: usize = 3;

/// How a commit retries transport failures and 5xx answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitRetry {
    /// How many attempts in all (at least 1).
    pub attempts: usize,
    /// The pause after the first failure; doubled after each further one.
    pub initial_delay: Duration,
    /// The longest pause.
    pub max_delay: Duration,
}

impl Default for CommitRetry {
    /// 6 attempts, pauses of 0.25 s doubling up to 4 s (about 8 s in all).
    fn default() -> Self {
        CommitRetry {
            attempts: 6,
            initial_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
        }
    }
}

/// Everything the success transaction needs.
#[derive(Debug, Clone)]
pub struct SuccessCommit {
    /// The app/env deployed.
    pub target: AppEnv,
    /// The id of the session holding the deploy lock ([`DeployLock::session_id`](crate::lock::DeployLock::session_id)).
    pub session: String,
    /// The release tags as read before the deploy; `current_index` fences the write.
    pub tags: ReleaseTags,
    /// The history record (outcome [`Succeeded`](super::Outcome::Succeeded)); its `tag` becomes
    /// `current`.
    pub record: HistoryRecord,
    /// The audit event (usually [`DeploySucceeded`](crate::audit::EventKind::DeploySucceeded)
    /// or [`Rollback`](crate::audit::EventKind::Rollback)).
    pub event: Event,
    /// How many audit events to keep; older ones are pruned after the commit (best-effort).
    pub audit_retention: usize,
}

/// Where a committed record and event were stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// The history record's sequence number.
    pub history_seq: u64,
    /// The audit event's sequence number.
    pub event_seq: u64,
}

/// A history record written before its deploy ended (outcome
/// [`InProgress`](super::Outcome::InProgress)), which the end of the deploy finishes in place:
/// same sequence number, a `cas` on the key's `ModifyIndex`, so a record someone else finished
/// meanwhile (`duncan watch`) is never overwritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenRecord {
    /// The record's sequence number.
    pub seq: u64,
    /// The record key's `ModifyIndex` as written.
    pub index: u64,
}

/// What [`record_started`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    /// The open record, to finish (`None`: Consul did not answer with its index; the end of the
    /// deploy then appends a record of its own).
    pub record: Option<OpenRecord>,
    /// The audit log's counter after the start event, for the next append.
    pub events: crate::sequence::SeqCounter,
}

/// Shows an optional tag as itself or `(none)`.
struct ShownTag<'a>(Option<&'a Tag>);

impl fmt::Display for ShownTag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(t) => f.write_str(t.as_str()),
            None => f.write_str("(none)"),
        }
    }
}

/// The shell commands that record `tag` over `old` by hand with Consul's own CLI.
pub fn manual_recording_commands(target: &AppEnv, tag: &Tag, old: Option<&Tag>) -> String {
    let mut cmd = format!("consul kv put {} {tag}", target.current_key());
    match old {
        Some(old) if old != tag => {
            cmd.push_str(&format!(
                " && consul kv put {} {old}",
                target.previous_key()
            ));
        }
        _ => {}
    }
    cmd
}

/// A release outcome could not be recorded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommitError {
    /// Fencing refused the write: this deployer no longer holds the lock (its session expired, was
    /// invalidated, or the lock was forced free). Nothing was written.
    #[error(
        "the deploy lock of {target} was lost before the release could be recorded (its session \
         expired or the lock was forced free), so nothing was written to Consul: Marathon runs \
         {tag} while Consul's current still says {}. Someone else may be deploying now: check \
         what {target} runs, and if {tag} should stay, record it with: {}",
        ShownTag(old.as_ref()),
        manual_recording_commands(target, tag, old.as_ref())
    )]
    LockLost {
        /// The app/env.
        target: AppEnv,
        /// The tag Marathon now runs.
        tag: Tag,
        /// `current` as read before the deploy.
        old: Option<Tag>,
    },
    /// `current` changed since it was read (someone wrote it by hand or without the lock).
    /// Nothing was written.
    #[error(
        "{target}'s current tag changed in Consul during the deploy (it was {} when the deploy \
         started), so nothing was written: Marathon runs {tag}. Check who changed it, and if \
         {tag} should stay, record it with: {}",
        ShownTag(old.as_ref()),
        manual_recording_commands(target, tag, old.as_ref())
    )]
    CurrentChanged {
        /// The app/env.
        target: AppEnv,
        /// The tag Marathon now runs.
        tag: Tag,
        /// `current` as read before the deploy.
        old: Option<Tag>,
    },
    /// The transaction could not be committed, even after retries: Consul is unreachable or
    /// failing. The deploy itself is not undone.
    #[error(
        "could not record the release of {target} in Consul after {attempts} attempts: Marathon \
         runs {tag} while Consul's current still says {}. When Consul is back, record it with: {}",
        ShownTag(old.as_ref()),
        manual_recording_commands(target, tag, old.as_ref())
    )]
    NotRecorded {
        /// The app/env.
        target: AppEnv,
        /// The tag Marathon now runs.
        tag: Tag,
        /// `current` as read before the deploy.
        old: Option<Tag>,
        /// How many attempts were made.
        attempts: usize,
        /// The last error.
        #[source]
        source: consul_client::Error,
    },
    /// A failed deploy's history record and audit event could not be written (the tags were not
    /// to be touched and were not).
    #[error(
        "could not record the failed deploy of {tag} to {target} in Consul after {attempts} attempts"
    )]
    FailureNotRecorded {
        /// The app/env.
        target: AppEnv,
        /// The tag that failed to deploy.
        tag: Tag,
        /// How many attempts were made.
        attempts: usize,
        /// The last error.
        #[source]
        source: consul_client::Error,
    },
    /// The token may not write the app/env's keys.
    #[error("permission denied: the Consul token may not write deploys/{target}/")]
    PermissionDenied {
        /// The app/env.
        target: AppEnv,
        /// Consul's error.
        #[source]
        source: consul_client::Error,
    },
    /// Concurrent writers kept taking the chosen sequence numbers.
    #[error(
        "could not record the release of {target}: {attempts} attempts lost to concurrent writers"
    )]
    Contention {
        /// The app/env.
        target: AppEnv,
        /// How many attempts were made.
        attempts: usize,
    },
    /// The record or event could not be encoded.
    #[error("could not encode the history record or audit event")]
    Encode {
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

/// Why the retrying runner gave up.
enum RunError {
    /// Consul rolled the transaction back for a reason other than a lost sequence race.
    Rejected(consul_client::Error),
    /// Transient failures used up every attempt.
    Exhausted(consul_client::Error, usize),
    /// Sequence races used up every attempt.
    Contention(usize),
    /// A non-transient, non-rollback error.
    Fatal(consul_client::Error),
}

/// What one attempt came to.
enum Step {
    /// The transaction is applied (by this attempt or an earlier one whose answer was lost),
    /// with what its answer says of the keys it wrote (unknown after a lost answer).
    Committed(Committed, Written),
    /// Another writer took a sequence number; retry at once with fresh ones.
    LostRace,
    /// Consul could not be reached or failed; retry after a pause.
    Transient(consul_client::Error),
}

/// What a committed transaction's answer says of the keys it wrote.
#[derive(Debug, Clone, Copy, Default)]
struct Written {
    /// The history record key's `ModifyIndex`.
    history_index: Option<u64>,
    /// The audit log's counter after the append.
    events: crate::sequence::SeqCounter,
}

/// Sorts a Consul error into a retryable step or a fatal error.
fn transient_or_fatal(e: consul_client::Error) -> Result<Step, RunError> {
    if e.is_transient() {
        Ok(Step::Transient(e))
    } else {
        Err(RunError::Fatal(e))
    }
}

/// The fixed parts of a recording transaction; the numbered entries go between them.
struct Frame<'a> {
    /// Operations before the entries (fencing, tags).
    head: Vec<TxnOp>,
    /// The record to finish in place; `None`: a new record is numbered.
    open: Option<OpenRecord>,
    /// Operations after the entries (the unlock).
    tail: Vec<TxnOp>,
    /// The history record, encoded.
    record_json: &'a [u8],
    /// The audit event, encoded.
    event_json: &'a [u8],
    /// How many audit events to keep.
    retention: usize,
}

/// How the entries of the next attempt are numbered.
struct Numbering {
    /// The counters as last known; one without a next number sends the attempt the slow way.
    counters: SeqCounters,
    /// The audit log's listing, when the slow way made one (the prune reuses it).
    events_listing: Option<Vec<u64>>,
}

/// One attempt: look for an earlier attempt that was applied, else number the entries (from the
/// counters, or from listings when they are unknown or proved stale) and send the transaction.
async fn attempt(
    consul: &Client,
    target: &AppEnv,
    frame: &Frame<'_>,
    numbering: &mut Numbering,
    unknown: &mut Vec<Committed>,
) -> Result<Step, RunError> {
    for c in unknown.iter() {
        match landed(consul, target, c.history_seq, frame.record_json).await {
            Ok(Some(index)) => {
                let written = Written {
                    history_index: Some(index),
                    ..Written::default()
                };
                return Ok(Step::Committed(*c, written));
            }
            Ok(None) => {}
            Err(e) => return transient_or_fatal(e),
        }
    }
    let counters = &mut numbering.counters;
    let need_history = frame.open.is_none() && counters.history.next().is_none();
    let need_events = counters.events.next().is_none();
    if need_history || need_events {
        // Only the series whose counter is unknown are listed (the first deploy of an app/env
        // knows the audit log's from its start event); both at once when both are.
        let resync_if = |needed: bool, series: Series| async move {
            if needed {
                Some(sequence::resync(consul, target, series).await)
            } else {
                None
            }
        };
        let (history, events) = tokio::join!(
            resync_if(need_history, Series::History),
            resync_if(need_events, Series::Events)
        );
        match history {
            Some(Ok((found, _))) => counters.history = found,
            Some(Err(e)) => return transient_or_fatal(e),
            None => {}
        }
        match events {
            Some(Ok((found, listing))) => {
                counters.events = found;
                numbering.events_listing = Some(listing);
            }
            Some(Err(e)) => return transient_or_fatal(e),
            None => {}
        }
    }
    let seqs = Committed {
        history_seq: match frame.open {
            Some(open) => open.seq,
            None => counters.history.next().unwrap_or(1),
        },
        event_seq: counters.events.next().unwrap_or(1),
    };
    let mut ops = frame.head.clone();
    let base = ops.len();
    // The counters' `cas` and the entries' `check-not-exists`: a failure of one of them is a
    // lost race. (A failed `cas` of an open record is not: someone finished it.)
    let seq_ops: Vec<usize> = match frame.open {
        Some(open) => {
            ops.push(TxnOp::cas(
                target.history_key(open.seq),
                frame.record_json.to_vec(),
                open.index,
            ));
            vec![base + 1, base + 2]
        }
        None => {
            ops.extend(claim_ops(
                target,
                Series::History,
                counters.history,
                seqs.history_seq,
                frame.record_json.to_vec(),
            ));
            vec![base, base + 1, base + 3, base + 4]
        }
    };
    ops.extend(append_ops(
        target,
        counters.events,
        seqs.event_seq,
        frame.event_json,
        frame.retention,
    ));
    ops.extend(frame.tail.iter().cloned());
    match consul.txn(&ops).await {
        Ok(done) => {
            let history_key = target.history_key(seqs.history_seq);
            let written = Written {
                history_index: done
                    .results
                    .iter()
                    .rev()
                    .find(|p| p.key == history_key)
                    .map(|p| p.modify_index),
                events: crate::sequence::SeqCounter::taken(
                    &target.events_counter_key(),
                    seqs.event_seq,
                    &done.results,
                ),
            };
            Ok(Step::Committed(seqs, written))
        }
        Err(e) if lost_sequence_race(&e, &seq_ops) => {
            numbering.counters = SeqCounters::default();
            Ok(Step::LostRace)
        }
        Err(e @ consul_client::Error::TxnRolledBack { .. }) => Err(RunError::Rejected(e)),
        Err(e) if e.is_transient() => {
            // The transaction may have been applied although its answer was lost.
            unknown.push(seqs);
            Ok(Step::Transient(e))
        }
        Err(e) => Err(RunError::Fatal(e)),
    }
}

/// Runs attempts until the transaction commits: lost sequence races are retried at once,
/// transient failures with exponential backoff, up to `retry.attempts`. Prunes the audit log
/// after a commit (best-effort).
async fn run_with_retry(
    consul: &Client,
    target: &AppEnv,
    frame: &Frame<'_>,
    counters: SeqCounters,
    retry: &CommitRetry,
) -> Result<(Committed, Written), RunError> {
    let attempts = retry.attempts.max(1);
    let mut failures = 0;
    let mut races = 0;
    let mut delay = retry.initial_delay;
    let mut unknown: Vec<Committed> = Vec::new();
    let mut numbering = Numbering {
        counters,
        events_listing: None,
    };
    loop {
        let step = match attempt(consul, target, frame, &mut numbering, &mut unknown).await {
            Ok(step) => step,
            // A refusal after an attempt whose answer was lost may be that attempt's own doing
            // (applied late, it unlocked the key and moved `current`): look before saying that
            // nothing was written.
            Err(RunError::Rejected(e)) if !unknown.is_empty() => {
                match applied_earlier(consul, target, frame, &unknown).await {
                    Some((c, index)) => Step::Committed(
                        c,
                        Written {
                            history_index: Some(index),
                            ..Written::default()
                        },
                    ),
                    None => return Err(RunError::Rejected(e)),
                }
            }
            Err(e) => return Err(e),
        };
        match step {
            Step::Committed(c, written) => {
                let listing = numbering.events_listing.take();
                prune_after(consul, target, c.event_seq, listing, frame.retention).await;
                return Ok((c, written));
            }
            Step::LostRace => {
                races += 1;
                if races >= MAX_SEQ_ATTEMPTS {
                    return Err(RunError::Contention(races));
                }
                // A counter read with the tags may simply be stale; only a fresh one that lost
                // means another writer right now.
                if races > 1 {
                    race_pause().await;
                }
            }
            Step::Transient(e) => {
                failures += 1;
                if failures >= attempts {
                    return Err(RunError::Exhausted(e, failures));
                }
                tracing::warn!(attempt = failures, error = %e, "recording the release failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(retry.max_delay);
            }
        }
    }
}

/// The earlier attempt, among those whose answer was lost, that Consul applied after all.
/// `None` when none was, or when that could not be read (the refusal then stands).
async fn applied_earlier(
    consul: &Client,
    target: &AppEnv,
    frame: &Frame<'_>,
    unknown: &[Committed],
) -> Option<(Committed, u64)> {
    for c in unknown {
        if let Ok(Some(index)) = landed(consul, target, c.history_seq, frame.record_json).await {
            return Some((*c, index));
        }
    }
    None
}

/// Whether history entry `seq` holds exactly `record_json` (an earlier attempt was applied):
/// its `ModifyIndex` when it does.
async fn landed(
    consul: &Client,
    target: &AppEnv,
    seq: u64,
    record_json: &[u8],
) -> Result<Option<u64>, consul_client::Error> {
    let (pair, _) = consul
        .kv()
        .get(&target.history_key(seq), &QueryOptions::consistent())
        .await?;
    Ok(pair
        .filter(|p| p.value == record_json)
        .map(|p| p.modify_index))
}

/// Records a successful deploy: step 8 of the deploy protocol, one fenced transaction (see the
/// module documentation), then prunes the audit log best-effort.
///
/// # Errors
///
/// [`CommitError::LockLost`] when fencing refused the write, [`CommitError::CurrentChanged`] when
/// `current` moved, [`CommitError::NotRecorded`] when Consul kept failing; each says what runs,
/// what Consul holds and how to record the release by hand.
pub async fn commit_success(
    consul: &Client,
    commit: &SuccessCommit,
    retry: &CommitRetry,
) -> Result<Committed, CommitError> {
    commit_success_into(consul, commit, None, retry).await
}

/// [`commit_success`], finishing the open record `open` (written by [`record_started`]) in
/// place of appending a new one, when there is one.
///
/// # Errors
///
/// As [`commit_success`]; a record finished by someone else meanwhile makes the transaction
/// fail as a whole ([`CommitError::NotRecorded`]).
pub async fn commit_success_into(
    consul: &Client,
    commit: &SuccessCommit,
    open: Option<OpenRecord>,
    retry: &CommitRetry,
) -> Result<Committed, CommitError> {
    let target = &commit.target;
    let tag = &commit.record.tag;
    let old = commit.tags.current.as_ref();
    let record_json =
        serde_json::to_vec(&commit.record).map_err(|source| CommitError::Encode { source })?;
    let event_json =
        serde_json::to_vec(&commit.event).map_err(|source| CommitError::Encode { source })?;
    let lock_key = target.lock_key();
    let current_index = commit.tags.current_index;
    let current_check = if current_index == 0 {
        TxnOp::check_not_exists(target.current_key())
    } else {
        TxnOp::check_index(target.current_key(), current_index)
    };
    let previous = match old {
        // Redeploying the current tag (Marathon drifted from it) must not erase `previous`; a
        // read of `current` keeps the operation indices and changes nothing. (A second
        // `check-index` here would see the index the `set` just moved, and fail.)
        Some(old) if old == tag => TxnOp::get(target.current_key()),
        Some(old) => TxnOp::set(target.previous_key(), old.as_str().as_bytes().to_vec()),
        // No current tag: any `previous` left over is stale.
        None => TxnOp::delete(target.previous_key()),
    };
    let frame = Frame {
        head: vec![
            TxnOp::check_session(lock_key.clone(), commit.session.clone()),
            current_check,
            TxnOp::set(target.current_key(), tag.as_str().as_bytes().to_vec()),
            previous,
        ],
        open,
        tail: vec![TxnOp::unlock(lock_key, Vec::new(), commit.session.clone())],
        record_json: &record_json,
        event_json: &event_json,
        retention: commit.audit_retention,
    };
    run_with_retry(consul, target, &frame, commit.tags.counters, retry)
        .await
        .map(|(committed, _)| committed)
        .map_err(|e| success_error(e, target, tag, old))
}

/// Whether a rolled-back transaction failed at operation `index`.
fn failed_at(error: &consul_client::Error, index: usize) -> bool {
    match error {
        consul_client::Error::TxnRolledBack { errors } => {
            errors.iter().any(|x| x.op_index == index)
        }
        _ => false,
    }
}

fn success_error(e: RunError, target: &AppEnv, tag: &Tag, old: Option<&Tag>) -> CommitError {
    let (target, tag, old) = (target.clone(), tag.clone(), old.cloned());
    match e {
        RunError::Rejected(source) | RunError::Fatal(source)
            if source.is_permission_denied()
                || matches!(source, consul_client::Error::AclNotFound) =>
        {
            CommitError::PermissionDenied { target, source }
        }
        RunError::Rejected(source) if failed_at(&source, OP_CHECK_SESSION) => {
            CommitError::LockLost { target, tag, old }
        }
        RunError::Rejected(source)
            if failed_at(&source, OP_CHECK_CURRENT) || failed_at(&source, OP_PREVIOUS) =>
        {
            CommitError::CurrentChanged { target, tag, old }
        }
        RunError::Rejected(source) | RunError::Fatal(source) => CommitError::NotRecorded {
            target,
            tag,
            old,
            attempts: 1,
            source,
        },
        RunError::Exhausted(source, attempts) => CommitError::NotRecorded {
            target,
            tag,
            old,
            attempts,
            source,
        },
        RunError::Contention(attempts) => CommitError::Contention { target, attempts },
    }
}

/// Records a deploy that did not succeed: its history record and audit event, in one
/// transaction. The release tags are not touched, and the lock is not needed (a deployer whose
/// lock was lost still records what happened).
///
/// `counters` number the entries without a read (as in [`ReleaseTags::counters`]);
/// `SeqCounters::default()` when unknown, the numbers then come from listings.
///
/// # Errors
///
/// [`CommitError::FailureNotRecorded`] when Consul kept failing, or permission/encoding errors.
pub async fn record_failure(
    consul: &Client,
    target: &AppEnv,
    record: &HistoryRecord,
    event: &Event,
    audit_retention: usize,
    counters: SeqCounters,
    retry: &CommitRetry,
) -> Result<Committed, CommitError> {
    let entries = Entries {
        record,
        event,
        audit_retention,
        counters,
    };
    write_entries(consul, target, &entries, None, retry)
        .await
        .map(|(committed, _)| committed)
}

/// Writes the record of a deploy that has begun and not ended (outcome
/// [`InProgress`](super::Outcome::InProgress), with its deployment id) and its start event, in
/// one transaction, right after Marathon accepted the update. The end of the deploy finishes
/// that record ([`commit_success_into`], [`finish_failure`]); a process killed before leaves it
/// naming the deployment.
///
/// # Errors
///
/// As [`record_failure`].
pub async fn record_started(
    consul: &Client,
    target: &AppEnv,
    record: &HistoryRecord,
    event: &Event,
    audit_retention: usize,
    counters: SeqCounters,
    retry: &CommitRetry,
) -> Result<Opened, CommitError> {
    let entries = Entries {
        record,
        event,
        audit_retention,
        counters,
    };
    let (committed, written) = write_entries(consul, target, &entries, None, retry).await?;
    Ok(Opened {
        record: written.history_index.map(|index| OpenRecord {
            seq: committed.history_seq,
            index,
        }),
        events: written.events,
    })
}

/// [`record_failure`], finishing the open record `open` in place when there is one (and
/// appending a record when it is `None`, or when someone else finished it meanwhile).
///
/// # Errors
///
/// As [`record_failure`].
pub async fn finish_failure(
    consul: &Client,
    target: &AppEnv,
    record: &HistoryRecord,
    event: &Event,
    audit_retention: usize,
    slot: Slot,
    retry: &CommitRetry,
) -> Result<Committed, CommitError> {
    let Slot { counters, open } = slot;
    let entries = Entries {
        record,
        event,
        audit_retention,
        counters,
    };
    match write_entries(consul, target, &entries, open, retry).await {
        // The open record moved (someone finished it): ours is appended, nothing overwritten.
        Err(CommitError::FailureNotRecorded { source, .. })
            if open.is_some() && failed_at(&source, 0) =>
        {
            write_entries(consul, target, &entries, None, retry)
                .await
                .map(|(committed, _)| committed)
        }
        done => done.map(|(committed, _)| committed),
    }
}

/// Where a deploy's final record goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slot {
    /// The counters that number new entries (as in [`ReleaseTags::counters`]).
    pub counters: SeqCounters,
    /// The record opened at the deploy's start, finished in place (`None`: a record is appended).
    pub open: Option<OpenRecord>,
}

/// A record and event to write together.
struct Entries<'a> {
    record: &'a HistoryRecord,
    event: &'a Event,
    audit_retention: usize,
    counters: SeqCounters,
}

/// Writes a record (new, or finishing `open`) and its event in one transaction, retried.
async fn write_entries(
    consul: &Client,
    target: &AppEnv,
    entries: &Entries<'_>,
    open: Option<OpenRecord>,
    retry: &CommitRetry,
) -> Result<(Committed, Written), CommitError> {
    let Entries {
        record,
        event,
        audit_retention,
        counters,
    } = *entries;
    let record_json =
        serde_json::to_vec(record).map_err(|source| CommitError::Encode { source })?;
    let event_json = serde_json::to_vec(event).map_err(|source| CommitError::Encode { source })?;
    let frame = Frame {
        head: Vec::new(),
        open,
        tail: Vec::new(),
        record_json: &record_json,
        event_json: &event_json,
        retention: audit_retention,
    };
    let outcome = run_with_retry(consul, target, &frame, counters, retry).await;
    let (owned_target, tag) = (target.clone(), record.tag.clone());
    let committed = outcome.map_err(|e| match e {
        RunError::Rejected(source) | RunError::Fatal(source)
            if source.is_permission_denied()
                || matches!(source, consul_client::Error::AclNotFound) =>
        {
            CommitError::PermissionDenied {
                target: owned_target,
                source,
            }
        }
        RunError::Rejected(source) | RunError::Fatal(source) => CommitError::FailureNotRecorded {
            target: owned_target,
            tag,
            attempts: 1,
            source,
        },
        RunError::Exhausted(source, attempts) => CommitError::FailureNotRecorded {
            target: owned_target,
            tag,
            attempts,
            source,
        },
        RunError::Contention(attempts) => CommitError::Contention {
            target: owned_target,
            attempts,
        },
    })?;
    Ok(committed)
}
