//! Release tags (`current`, `previous`), the release history, and the transactions that record
//! a deploy's outcome.
//!
//! - [`read_tags`] reads `current` consistently, with the `ModifyIndex` the success transaction
//!   is fenced on.
//! - [`commit_success`] is step 8 of the deploy protocol: one transaction, fenced on the lock's
//!   session and on `current`, that moves the tags, appends the history record and the audit
//!   event and unlocks the lock (see [`commit`]).
//! - [`record_failure`] appends the history record and audit event of a failed deploy and leaves
//!   the tags alone.
//! - [`history`] lists the records, newest first; [`rollback_target`] finds what to roll back to.

pub mod commit;
pub mod record;

use consul_client::{Client, KvPair, QueryOptions, TxnOp};

use crate::audit::log::{newest_decoded, sequences};
use crate::names::{AppEnv, Tag};
use crate::sequence::SeqCounters;

pub use commit::{
    CommitError, CommitRetry, Committed, OpenRecord, Opened, Slot, SuccessCommit, commit_success,
    commit_success_into, finish_failure, record_failure, record_started,
};
pub use record::{HistoryEntry, HistoryRecord, Outcome, ReleaseKind};

/// Errors reading the release tags or history.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// A tag key holds something that is not a valid tag (edited by hand?).
    #[error("{key} holds {value:?}, which is not a valid image tag")]
    InvalidStoredTag {
        /// The key.
        key: String,
        /// What it holds (shortened).
        value: String,
        /// Why it is invalid.
        #[source]
        source: crate::names::NameError,
    },
    /// There is no release to roll back to (none succeeded other than the current one, or
    /// each was rolled back from).
    #[error("{target} has no previous release to roll back to; name a tag from its history")]
    NoPrevious {
        /// The app/env.
        target: AppEnv,
    },
    /// The requested rollback tag was never successfully deployed.
    #[error(
        "{tag} was never successfully deployed to {target}, so it cannot be a rollback target{}",
        if known.is_empty() { String::new() } else {
            format!(" (recent releases: {})", known.iter().map(Tag::as_str).collect::<Vec<_>>().join(", "))
        }
    )]
    TagNotInHistory {
        /// The app/env.
        target: AppEnv,
        /// The requested tag.
        tag: Tag,
        /// Recently deployed tags, newest first.
        known: Vec<Tag>,
    },
    /// The token may not read the app/env's keys.
    #[error("permission denied: the Consul token may not read deploys/{target}/")]
    PermissionDenied {
        /// The app/env.
        target: AppEnv,
        /// Consul's error.
        #[source]
        source: consul_client::Error,
    },
    /// Consul could not be read.
    #[error("Consul request for the releases of {target} failed")]
    Consul {
        /// The app/env.
        target: AppEnv,
        /// Consul's error.
        #[source]
        source: consul_client::Error,
    },
}

impl ReleaseError {
    pub(crate) fn from_consul(target: &AppEnv, source: consul_client::Error) -> Self {
        if source.is_permission_denied() || matches!(source, consul_client::Error::AclNotFound) {
            ReleaseError::PermissionDenied {
                target: target.clone(),
                source,
            }
        } else {
            ReleaseError::Consul {
                target: target.clone(),
                source,
            }
        }
    }
}

/// The release tags of one app/env.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseTags {
    /// The tag now deployed, if any.
    pub current: Option<Tag>,
    /// The `ModifyIndex` of the `current` key (0 when it does not exist): the success transaction
    /// checks it, so a concurrent change of `current` is never overwritten.
    pub current_index: u64,
    /// The tag deployed before the current one, if any.
    pub previous: Option<Tag>,
    /// The lock key's `ModifyIndex` when it was free (no session) and had duncan's flags at
    /// this read (0 when it did not exist); `None` when it was held or is not duncan's. Lets
    /// the deploy lock be taken in one guarded transaction, without reading the key again.
    pub lock_free_at: Option<u64>,
    /// The lock key's `LockIndex` (how many times it was acquired; 0 when it did not exist).
    /// Read again under the lock, exactly one more means nobody held the lock in between.
    pub lock_acquisitions: u64,
    /// The counters of the history's and the audit log's sequence numbers, read with the tags,
    /// so the records of the deploy need no read of their own to be numbered.
    pub counters: SeqCounters,
}

/// Parses a stored tag; surrounding whitespace (a trailing newline from `consul kv put`) is
/// ignored, an empty value counts as no tag.
fn parse_stored_tag(key: &str, value: &[u8]) -> Result<Option<Tag>, ReleaseError> {
    let text = String::from_utf8_lossy(value);
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|source| ReleaseError::InvalidStoredTag {
            key: key.to_owned(),
            value: text.chars().take(80).collect(),
            source,
        })
}

/// Reads `current` and `previous` (and the lock key, for [`ReleaseTags::lock_free_at`], and the
/// sequence counters) in one consistent round trip (a read-only transaction with `?consistent`,
/// so a just-finished deploy is never missed and all come from the same index).
///
/// # Errors
///
/// [`ReleaseError`] when Consul cannot be read or a key holds an invalid tag.
pub async fn read_tags(consul: &Client, target: &AppEnv) -> Result<ReleaseTags, ReleaseError> {
    let read = consul
        .read_txn(&tags_read_ops(target), &QueryOptions::consistent())
        .await
        .map_err(|e| ReleaseError::from_consul(target, e))?;
    tags_from_pairs(target, &read.results)
}

/// The transaction operations that read what [`ReleaseTags`] holds, to send alone or inside a
/// larger transaction (the ACL probe, the lock's acquisition).
///
/// Each key is read with `get-tree` rather than `get`, because a `get` of a missing key fails
/// the whole transaction in Consul; [`tags_from_pairs`] keeps only the entries whose key matches
/// exactly.
pub(crate) fn tags_read_ops(target: &AppEnv) -> Vec<TxnOp> {
    vec![
        TxnOp::get_tree(target.current_key()),
        TxnOp::get_tree(target.previous_key()),
        TxnOp::get_tree(target.lock_key()),
        crate::sequence::read_op(target),
    ]
}

/// The [`ReleaseTags`] found among the results of [`tags_read_ops`].
///
/// # Errors
///
/// [`ReleaseError::InvalidStoredTag`] when a tag key holds something that is not a tag.
pub(crate) fn tags_from_pairs(
    target: &AppEnv,
    pairs: &[KvPair],
) -> Result<ReleaseTags, ReleaseError> {
    let current_key = target.current_key();
    let previous_key = target.previous_key();
    let lock_key = target.lock_key();
    let find = |key: &str| pairs.iter().rev().find(|p| p.key == key);
    let current = find(&current_key);
    let previous = find(&previous_key);
    let lock_free_at = match find(&lock_key) {
        None => Some(0),
        Some(p) if p.session.is_none() && p.flags == crate::lock::LOCK_FLAGS => {
            Some(p.modify_index)
        }
        Some(_) => None,
    };
    Ok(ReleaseTags {
        current: match current {
            Some(p) => parse_stored_tag(&current_key, &p.value)?,
            None => None,
        },
        current_index: current.map_or(0, |p| p.modify_index),
        previous: match previous {
            Some(p) => parse_stored_tag(&previous_key, &p.value)?,
            None => None,
        },
        lock_free_at,
        lock_acquisitions: find(&lock_key).map_or(0, |p| p.lock_index),
        counters: SeqCounters::from_pairs(target, pairs),
    })
}

/// The release history of `target`, newest first, at most `limit` records (all when `None`).
/// With a limit, only those records are read, so the cost does not grow with the history.
///
/// Records that cannot be decoded are skipped and logged at `warn` level.
///
/// # Errors
///
/// [`ReleaseError`] when Consul cannot be read.
pub async fn history(
    consul: &Client,
    target: &AppEnv,
    limit: Option<usize>,
) -> Result<Vec<HistoryEntry>, ReleaseError> {
    let records =
        newest_decoded::<HistoryRecord>(consul, &target.history_prefix(), limit, "history record")
            .await
            .map_err(|e| ReleaseError::from_consul(target, e))?;
    Ok(records
        .into_iter()
        .map(|(seq, record)| HistoryEntry { seq, record })
        .collect())
}

/// The sequence numbers of the history of `target`, ascending (cheap: keys only).
///
/// # Errors
///
/// [`ReleaseError`] when Consul cannot be read.
pub async fn history_sequences(consul: &Client, target: &AppEnv) -> Result<Vec<u64>, ReleaseError> {
    sequences(consul, &target.history_prefix())
        .await
        .map_err(|e| ReleaseError::from_consul(target, e))
}

/// What a rollback deploys, and over what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackTarget {
    /// The tag to deploy.
    pub tag: Tag,
    /// The release tags as read (their `current_index` fences the final transaction).
    pub tags: ReleaseTags,
    /// The history entry the tag comes from, and whether it was rolled back from.
    pub source: RollbackSource,
}

/// Which release a rollback restores: for the plan ("v1, deployed by alex 3 days ago") and
/// its warning when that release was itself rolled back from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RollbackSource {
    /// The newest successful history record of the tag (`None`: the tag is known only as
    /// `previous`, with no history record, e.g. recorded by the Go tool).
    pub entry: Option<HistoryEntry>,
    /// The successful rollback that went back from this tag, when the tag was rolled back from
    /// and not deployed successfully since.
    pub rolled_back_by: Option<HistoryEntry>,
}

/// The rollback-relevant reading of a history (any order in, oldest first inside).
///
/// A tag is **rolled back from** when a successful rollback record names it as its `previous`
/// (the rollback moved `current` away from it), and no successful record of that tag (a deploy,
/// a redeploy, a rollback to it) came after that rollback. Failed records change nothing: a
/// deploy that failed never became current.
struct Reading<'a> {
    /// Successful records, newest first.
    succeeded: Vec<&'a HistoryEntry>,
    /// For each tag rolled back from (as defined above), the rollback that did it.
    rolled_back_from: Vec<(&'a Tag, &'a HistoryEntry)>,
}

impl<'a> Reading<'a> {
    fn of(records: &'a [HistoryEntry]) -> Self {
        let mut oldest_first: Vec<&HistoryEntry> = records
            .iter()
            .filter(|r| r.record.outcome.is_success())
            .collect();
        oldest_first.sort_by_key(|r| r.seq);
        let mut rolled_back_from: Vec<(&Tag, &HistoryEntry)> = Vec::new();
        for entry in &oldest_first {
            let record = &entry.record;
            rolled_back_from.retain(|(tag, _)| **tag != record.tag);
            if record.kind == ReleaseKind::Rollback
                && let Some(previous) = &record.previous
                && *previous != record.tag
            {
                rolled_back_from.retain(|(tag, _)| *tag != previous);
                rolled_back_from.push((previous, entry));
            }
        }
        oldest_first.reverse();
        Reading {
            succeeded: oldest_first,
            rolled_back_from,
        }
    }

    fn rolled_back_by(&self, tag: &Tag) -> Option<&'a HistoryEntry> {
        self.rolled_back_from
            .iter()
            .find(|(t, _)| *t == tag)
            .map(|(_, entry)| *entry)
    }

    fn newest_success(&self, tag: &Tag) -> Option<&'a HistoryEntry> {
        self.succeeded
            .iter()
            .copied()
            .find(|r| &r.record.tag == tag)
    }
}

/// How many of the newest history records a rollback without a tag reads to choose one.
pub const ROLLBACK_LOOKBACK: usize = 100;

/// Finds the tag a rollback deploys.
///
/// - With `to`: that tag; it must have been deployed successfully before, per the history, or
///   be the `previous` or `current` tag. Its [`RollbackSource::rolled_back_by`] says when it
///   was itself rolled back from, for the plan's warning and the prompt.
/// - Without: the newest release in the history that succeeded, is not the current tag, and
///   was not rolled back from (see [`RollbackSource`]); with no history record at all, the
///   `previous` tag.
///
/// # Errors
///
/// [`ReleaseError::NoPrevious`] without a release to go back to, [`ReleaseError::TagNotInHistory`]
/// for a tag never deployed, or a read error.
pub async fn rollback_target(
    consul: &Client,
    target: &AppEnv,
    to: Option<&Tag>,
) -> Result<RollbackTarget, ReleaseError> {
    let tags = read_tags(consul, target).await?;
    rollback_target_over(consul, target, tags, to).await
}

/// [`rollback_target`] over release tags already read (under the lock, by the transaction that
/// took it).
///
/// # Errors
///
/// As [`rollback_target`].
pub async fn rollback_target_over(
    consul: &Client,
    target: &AppEnv,
    tags: ReleaseTags,
    to: Option<&Tag>,
) -> Result<RollbackTarget, ReleaseError> {
    // Without a tag, the newest records decide; a named tag may be older.
    let limit = if to.is_none() {
        Some(ROLLBACK_LOOKBACK)
    } else {
        None
    };
    let records = history(consul, target, limit).await?;
    let reading = Reading::of(&records);
    let source_of = |tag: &Tag| RollbackSource {
        entry: reading.newest_success(tag).cloned(),
        rolled_back_by: reading.rolled_back_by(tag).cloned(),
    };
    let Some(to) = to else {
        let current = tags.current.as_ref();
        let chosen = reading
            .succeeded
            .iter()
            .map(|r| &r.record.tag)
            .find(|tag| Some(*tag) != current && reading.rolled_back_by(tag).is_none());
        let chosen = match chosen {
            Some(tag) => Some(tag.clone()),
            // No usable record: `previous`, unless the history says it was rolled back from.
            None => tags
                .previous
                .clone()
                .filter(|p| records.is_empty() || reading.rolled_back_by(p).is_none()),
        };
        return match chosen {
            Some(tag) => Ok(RollbackTarget {
                source: source_of(&tag),
                tag,
                tags,
            }),
            None => Err(ReleaseError::NoPrevious {
                target: target.clone(),
            }),
        };
    };
    let known_tag = tags.previous.as_ref() == Some(to)
        || tags.current.as_ref() == Some(to)
        || reading.newest_success(to).is_some();
    if known_tag {
        return Ok(RollbackTarget {
            tag: to.clone(),
            source: source_of(to),
            tags,
        });
    }
    let mut known: Vec<Tag> = Vec::new();
    for r in &reading.succeeded {
        if !known.contains(&r.record.tag) {
            known.push(r.record.tag.clone());
        }
        if known.len() == 5 {
            break;
        }
    }
    Err(ReleaseError::TagNotInHistory {
        target: target.clone(),
        tag: to.clone(),
        known,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        seq: u64,
        kind: ReleaseKind,
        tag: &str,
        previous: &str,
        outcome: Outcome,
    ) -> HistoryEntry {
        let mut record = HistoryRecord::new(
            tag.parse().unwrap(),
            (!previous.is_empty()).then(|| previous.parse().unwrap()),
            "alex@vm".parse().unwrap(),
            time::OffsetDateTime::UNIX_EPOCH,
            outcome,
        );
        record.kind = kind;
        HistoryEntry { seq, record }
    }

    #[test]
    fn a_release_is_rolled_back_from_until_it_succeeds_again() {
        use Outcome::{RolledBack, Succeeded};
        use ReleaseKind::{Deploy, Rollback};
        let mut records = vec![
            entry(1, Deploy, "v1", "", Succeeded),
            entry(2, Deploy, "v2", "v1", Succeeded),
            entry(3, Rollback, "v1", "v2", Succeeded),
            // A failed deploy changes nothing.
            entry(4, Deploy, "v3", "v1", RolledBack),
        ];
        records.reverse();
        let reading = Reading::of(&records);
        let v2: Tag = "v2".parse().unwrap();
        let v1: Tag = "v1".parse().unwrap();
        assert_eq!(reading.rolled_back_by(&v2).map(|e| e.seq), Some(3));
        assert_eq!(reading.rolled_back_by(&v1), None);
        // Deployed again on purpose, and it held: a release like any other.
        records.insert(0, entry(5, Deploy, "v2", "v1", Succeeded));
        let reading = Reading::of(&records);
        assert_eq!(reading.rolled_back_by(&v2), None);
        assert_eq!(reading.newest_success(&v2).map(|e| e.seq), Some(5));
    }

    #[test]
    fn stored_tags_tolerate_a_trailing_newline_and_reject_garbage() {
        assert_eq!(
            parse_stored_tag("k", b"v1\n").unwrap(),
            Some("v1".parse().unwrap())
        );
        assert_eq!(parse_stored_tag("k", b"  ").unwrap(), None);
        let err = parse_stored_tag("deploys/a/b/current", b"a b").unwrap_err();
        assert!(
            err.to_string()
                .contains("deploys/a/b/current holds \"a b\"")
        );
    }
}
