//! The transactions that record a deploy's outcome.
//!
//! [`commit_success`] is step 8 of the deploy protocol, as ONE Consul transaction:
//!
//! | op | verb | key |
//! | -- | ---- | --- |
//! | 0 | `check-session` | `lock` — fencing: only the lock's holder may write |
//! | 1 | `check-index` (or `check-not-exists`) | `current` — as read before the deploy |
//! | 2 | `set` | `current` = new tag |
//! | 3 | `set` (or `delete`) | `previous` = old current |
//! | 4, 5 | `check-not-exists`, `set` | `history/{seq:020}` |
//! | 6, 7 | `check-not-exists`, `set` | `events/{seq:020}` |
//! | 8 | `unlock` | `lock` |
//!
//! Sequence numbers are one more than the highest present; the `check-not-exists` operations make
//! a collision with another writer a rolled-back transaction, retried with fresh numbers, never an
//! overwrite. Transport failures and 5xx answers are retried with exponential backoff; before each
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
    MAX_SEQ_ATTEMPTS, append_ops, lost_sequence_race, next_after, prune, prune_seen, race_pause,
    sequences,
};
use crate::names::{AppEnv, Tag};

/// Operation indices of the success transaction, named for error analysis.
const OP_CHECK_SESSION: usize = 0;
const OP_CHECK_CURRENT: usize = 1;
const OP_PREVIOUS: usize = 3;
const OP_CHECK_HISTORY: usize = 4;
const OP_CHECK_EVENT: usize = 6;

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
    /// The transaction is applied (by this attempt or an earlier one whose answer was lost).
    Committed(Committed),
    /// Another writer took a sequence number; retry at once with fresh ones.
    LostRace,
    /// Consul could not be reached or failed; retry after a pause.
    Transient(consul_client::Error),
}

/// Sorts a Consul error into a retryable step or a fatal error.
fn transient_or_fatal(e: consul_client::Error) -> Result<Step, RunError> {
    if e.is_transient() {
        Ok(Step::Transient(e))
    } else {
        Err(RunError::Fatal(e))
    }
}

/// One attempt: look for an earlier attempt that was applied, else choose sequence numbers and
/// send the transaction built by `build(history_seq, event_seq)`.
async fn attempt(
    consul: &Client,
    target: &AppEnv,
    record_json: &[u8],
    seq_ops: &[usize],
    build: &impl Fn(u64, u64) -> Vec<TxnOp>,
    unknown: &mut Vec<Committed>,
    events_seen: &mut Vec<u64>,
) -> Result<Step, RunError> {
    for c in unknown.iter() {
        match landed(consul, target, c.history_seq, record_json).await {
            Ok(true) => return Ok(Step::Committed(*c)),
            Ok(false) => {}
            Err(e) => return transient_or_fatal(e),
        }
    }
    // The two listings are independent: one round trip for both.
    let (history_prefix, events_prefix) = (target.history_prefix(), target.events_prefix());
    let (history, events) = tokio::join!(
        sequences(consul, &history_prefix),
        sequences(consul, &events_prefix)
    );
    let history_seq = match history {
        Ok(s) => next_after(&s),
        Err(e) => return transient_or_fatal(e),
    };
    let event_seq = match events {
        Ok(s) => {
            let next = next_after(&s);
            // Kept for the prune after the commit, which then needs no listing of its own.
            *events_seen = s;
            events_seen.push(next);
            next
        }
        Err(e) => return transient_or_fatal(e),
    };
    let seqs = Committed {
        history_seq,
        event_seq,
    };
    match consul.txn(&build(history_seq, event_seq)).await {
        Ok(_) => Ok(Step::Committed(seqs)),
        Err(e) if lost_sequence_race(&e, seq_ops) => Ok(Step::LostRace),
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
/// transient failures with exponential backoff, up to `retry.attempts`.
async fn run_with_retry(
    consul: &Client,
    target: &AppEnv,
    record_json: &[u8],
    retry: &CommitRetry,
    seq_ops: &[usize],
    build: impl Fn(u64, u64) -> Vec<TxnOp>,
    events_seen: &mut Vec<u64>,
) -> Result<Committed, RunError> {
    let attempts = retry.attempts.max(1);
    let mut failures = 0;
    let mut races = 0;
    let mut delay = retry.initial_delay;
    let mut unknown: Vec<Committed> = Vec::new();
    loop {
        let step = attempt(
            consul,
            target,
            record_json,
            seq_ops,
            &build,
            &mut unknown,
            events_seen,
        )
        .await?;
        match step {
            Step::Committed(c) => return Ok(c),
            Step::LostRace => {
                races += 1;
                if races >= MAX_SEQ_ATTEMPTS {
                    return Err(RunError::Contention(races));
                }
                race_pause().await;
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

/// Whether history entry `seq` holds exactly `record_json` (an earlier attempt was applied).
async fn landed(
    consul: &Client,
    target: &AppEnv,
    seq: u64,
    record_json: &[u8],
) -> Result<bool, consul_client::Error> {
    let (pair, _) = consul
        .kv()
        .get(&target.history_key(seq), &QueryOptions::consistent())
        .await?;
    Ok(pair.is_some_and(|p| p.value == record_json))
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
    let target = &commit.target;
    let tag = &commit.record.tag;
    let old = commit.tags.current.as_ref();
    let record_json =
        serde_json::to_vec(&commit.record).map_err(|source| CommitError::Encode { source })?;
    let event_json =
        serde_json::to_vec(&commit.event).map_err(|source| CommitError::Encode { source })?;
    let lock_key = target.lock_key();
    let current_index = commit.tags.current_index;
    let build = |history_seq: u64, event_seq: u64| -> Vec<TxnOp> {
        let current_check = if current_index == 0 {
            TxnOp::check_not_exists(target.current_key())
        } else {
            TxnOp::check_index(target.current_key(), current_index)
        };
        let previous = match old {
            // Redeploying the current tag must not erase `previous`; the op keeps the indices.
            Some(old) if old == tag => current_check.clone(),
            Some(old) => TxnOp::set(target.previous_key(), old.as_str().as_bytes().to_vec()),
            // No current tag: any `previous` left over is stale.
            None => TxnOp::delete(target.previous_key()),
        };
        let history_key = target.history_key(history_seq);
        let [event_check, event_set] = append_ops(target, event_seq, event_json.clone());
        vec![
            TxnOp::check_session(lock_key.clone(), commit.session.clone()),
            current_check,
            TxnOp::set(target.current_key(), tag.as_str().as_bytes().to_vec()),
            previous,
            TxnOp::check_not_exists(history_key.clone()),
            TxnOp::set(history_key, record_json.clone()),
            event_check,
            event_set,
            TxnOp::unlock(lock_key.clone(), Vec::new(), commit.session.clone()),
        ]
    };
    let seq_ops = [OP_CHECK_HISTORY, OP_CHECK_EVENT];
    let mut events_seen = Vec::new();
    let committed = run_with_retry(
        consul,
        target,
        &record_json,
        retry,
        &seq_ops,
        build,
        &mut events_seen,
    )
    .await
    .map_err(|e| success_error(e, target, tag, old))?;
    prune_after_commit(consul, target, &events_seen, commit.audit_retention).await;
    Ok(committed)
}

/// Prunes the audit log after a commit, best-effort, from the listing that chose the event's
/// sequence number (listing again only when the commit found an earlier attempt applied).
async fn prune_after_commit(
    consul: &Client,
    target: &AppEnv,
    events_seen: &[u64],
    retention: usize,
) {
    let pruned = if events_seen.is_empty() {
        prune(consul, target, retention).await
    } else {
        prune_seen(consul, target, events_seen, retention).await
    };
    if let Err(e) = pruned {
        tracing::warn!(error = %e, "could not prune the audit log");
    }
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
/// # Errors
///
/// [`CommitError::FailureNotRecorded`] when Consul kept failing, or permission/encoding errors.
pub async fn record_failure(
    consul: &Client,
    target: &AppEnv,
    record: &HistoryRecord,
    event: &Event,
    audit_retention: usize,
    retry: &CommitRetry,
) -> Result<Committed, CommitError> {
    let record_json =
        serde_json::to_vec(record).map_err(|source| CommitError::Encode { source })?;
    let event_json = serde_json::to_vec(event).map_err(|source| CommitError::Encode { source })?;
    let build = |history_seq: u64, event_seq: u64| -> Vec<TxnOp> {
        let history_key = target.history_key(history_seq);
        let [event_check, event_set] = append_ops(target, event_seq, event_json.clone());
        vec![
            TxnOp::check_not_exists(history_key.clone()),
            TxnOp::set(history_key, record_json.clone()),
            event_check,
            event_set,
        ]
    };
    let mut events_seen = Vec::new();
    let outcome = run_with_retry(
        consul,
        target,
        &record_json,
        retry,
        &[0, 2],
        build,
        &mut events_seen,
    )
    .await;
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
    prune_after_commit(consul, target, &events_seen, audit_retention).await;
    Ok(committed)
}
