//! Sequence numbers of the release history and the audit log, kept in counter keys.
//!
//! `deploys/{app}/{env}/seq/history` and `deploys/{app}/{env}/seq/events` hold, as decimal text,
//! the last sequence number used under `history/` and `events/`. A writer takes the next number
//! with a `cas` on the counter in the same transaction that writes the entry (which also carries a
//! `check-not-exists` on the entry's key), so:
//!
//! - two writers never take the same number, nor overwrite each other's entry: the second `cas`
//!   fails and its transaction changes nothing;
//! - numbers follow the order in which the entries were committed;
//! - a writer that already read the counter (the deploy reads it with the tags, and again in the
//!   transaction that takes the lock) needs no request of its own to choose a number, where a
//!   listing of the prefix would cost one more round trip per record.
//!
//! A counter that is missing (an app/env that has none yet), unreadable, or behind the entries
//! (entries written by hand, or by a duncan without counters) sends the writer the slow way once:
//! it lists the prefix and reads the counter, and continues after the higher of the two.
//! Because every writer of the audit log goes through its counter, its numbers are dense, and an
//! append prunes the log by deleting entry `seq - retention` in its own transaction.

use consul_client::{Client, KvPair, QueryOptions, TxnOp};

use crate::names::{AppEnv, sequence_from_key};

/// The two numbered series of an app/env.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Series {
    /// `history/`: release records.
    History,
    /// `events/`: audit events.
    Events,
}

impl Series {
    /// The key of the series' counter.
    pub(crate) fn counter_key(self, target: &AppEnv) -> String {
        match self {
            Series::History => target.history_counter_key(),
            Series::Events => target.events_counter_key(),
        }
    }

    /// The prefix of the series' entries.
    pub(crate) fn prefix(self, target: &AppEnv) -> String {
        match self {
            Series::History => target.history_prefix(),
            Series::Events => target.events_prefix(),
        }
    }

    /// The key of entry `seq`.
    pub(crate) fn entry_key(self, target: &AppEnv, seq: u64) -> String {
        match self {
            Series::History => target.history_key(seq),
            Series::Events => target.event_key(seq),
        }
    }
}

/// A sequence counter as last read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeqCounter {
    /// The last number used, when the key holds one (`None`: missing or not a number, so the
    /// next writer must list the prefix first).
    pub last: Option<u64>,
    /// The key's `ModifyIndex`; 0 when it does not exist (a `cas` at 0 creates it).
    pub index: u64,
}

impl SeqCounter {
    /// The counter `key` as found among `pairs` (results of [`read_op`] or of a KV read): only
    /// the entry whose key matches exactly counts.
    pub(crate) fn from_pairs(key: &str, pairs: &[KvPair]) -> SeqCounter {
        match pairs.iter().rev().find(|p| p.key == key) {
            Some(pair) => SeqCounter {
                last: std::str::from_utf8(&pair.value)
                    .ok()
                    .and_then(|text| text.trim().parse().ok()),
                index: pair.modify_index,
            },
            None => SeqCounter::default(),
        }
    }

    /// The next number, when the counter is known.
    pub(crate) fn next(self) -> Option<u64> {
        self.last.map(|last| last.saturating_add(1))
    }

    /// The counter after a committed transaction took `seq` (its entry is among `results`).
    pub(crate) fn taken(key: &str, seq: u64, results: &[KvPair]) -> SeqCounter {
        match results.iter().rev().find(|p| p.key == key) {
            Some(pair) => SeqCounter {
                last: Some(seq),
                index: pair.modify_index,
            },
            // Consul answers a `cas` with its entry; without it, read again next time.
            None => SeqCounter::default(),
        }
    }
}

/// Both counters of an app/env.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeqCounters {
    /// The counter of `history/`.
    pub history: SeqCounter,
    /// The counter of `events/`.
    pub events: SeqCounter,
}

impl SeqCounters {
    /// Both counters as found among `pairs` (results of [`read_op`]).
    pub(crate) fn from_pairs(target: &AppEnv, pairs: &[KvPair]) -> SeqCounters {
        SeqCounters {
            history: SeqCounter::from_pairs(&target.history_counter_key(), pairs),
            events: SeqCounter::from_pairs(&target.events_counter_key(), pairs),
        }
    }
}

/// The read of both counters, to put in a transaction (`get-tree`, since a `get` of a missing
/// key fails a whole transaction).
pub(crate) fn read_op(target: &AppEnv) -> TxnOp {
    TxnOp::get_tree(target.counters_prefix())
}

/// The three operations that take number `seq` of `series` (whose counter was read as
/// `counter`) and write `value` as its entry: `cas` on the counter, `check-not-exists` and `set`
/// of the entry. Either of the first two failing means another writer was first.
pub(crate) fn claim_ops(
    target: &AppEnv,
    series: Series,
    counter: SeqCounter,
    seq: u64,
    value: Vec<u8>,
) -> [TxnOp; 3] {
    let entry = series.entry_key(target, seq);
    [
        TxnOp::cas(
            series.counter_key(target),
            seq.to_string().into_bytes(),
            counter.index,
        ),
        TxnOp::check_not_exists(entry.clone()),
        TxnOp::set(entry, value),
    ]
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

/// Reads one counter (consistent).
pub(crate) async fn read(
    consul: &Client,
    target: &AppEnv,
    series: Series,
) -> Result<SeqCounter, consul_client::Error> {
    let key = series.counter_key(target);
    let (pair, _) = consul.kv().get(&key, &QueryOptions::consistent()).await?;
    Ok(SeqCounter::from_pairs(&key, pair.as_slice()))
}

/// The slow way: lists the prefix and reads the counter (together), and returns the counter
/// with `last` set to the highest number in use by either, plus the listing (ascending).
pub(crate) async fn resync(
    consul: &Client,
    target: &AppEnv,
    series: Series,
) -> Result<(SeqCounter, Vec<u64>), consul_client::Error> {
    let prefix = series.prefix(target);
    let (listing, counter) = tokio::join!(sequences(consul, &prefix), read(consul, target, series));
    let (listing, counter) = (listing?, counter?);
    let highest = listing.last().copied().max(counter.last).unwrap_or(0);
    Ok((
        SeqCounter {
            last: Some(highest),
            index: counter.index,
        },
        listing,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(key: &str, value: &str, index: u64) -> KvPair {
        serde_json::from_value(serde_json::json!({
            "Key": key,
            "Value": base64_of(value),
            "Flags": 0,
            "CreateIndex": index,
            "ModifyIndex": index,
            "LockIndex": 0,
        }))
        .expect("pair")
    }

    fn base64_of(text: &str) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn target() -> AppEnv {
        AppEnv::new("shop".parse().expect("app"), "stage".parse().expect("env"))
    }

    #[test]
    fn counter_is_read_from_its_exact_key_only() {
        let t = target();
        let pairs = [
            pair("deploys/shop/stage/seq/historyx", "99", 9),
            pair("deploys/shop/stage/seq/history", "41\n", 7),
            pair("deploys/shop/stage/seq/events", "12", 8),
        ];
        let counters = SeqCounters::from_pairs(&t, &pairs);
        assert_eq!(
            counters.history,
            SeqCounter {
                last: Some(41),
                index: 7
            }
        );
        assert_eq!(counters.history.next(), Some(42));
        assert_eq!(counters.events.next(), Some(13));
    }

    #[test]
    fn missing_or_garbled_counter_has_no_next_number() {
        let t = target();
        let missing = SeqCounter::from_pairs(&t.history_counter_key(), &[]);
        assert_eq!(missing, SeqCounter::default());
        assert_eq!(missing.next(), None);
        let garbled = SeqCounter::from_pairs(
            &t.events_counter_key(),
            &[pair("deploys/shop/stage/seq/events", "twelve", 5)],
        );
        assert_eq!(garbled.next(), None);
        // Its index is kept, so the slow way's `cas` can overwrite it.
        assert_eq!(garbled.index, 5);
    }

    #[test]
    fn claim_takes_the_counter_by_cas_and_the_entry_only_if_free() {
        let t = target();
        let counter = SeqCounter {
            last: Some(4),
            index: 17,
        };
        let ops = claim_ops(&t, Series::History, counter, 5, b"{}".to_vec());
        let json = serde_json::to_value(&ops).expect("json");
        assert_eq!(json[0]["KV"]["Verb"], "cas");
        assert_eq!(json[0]["KV"]["Key"], "deploys/shop/stage/seq/history");
        assert_eq!(json[0]["KV"]["Index"], 17);
        assert_eq!(json[1]["KV"]["Verb"], "check-not-exists");
        assert_eq!(
            json[1]["KV"]["Key"],
            "deploys/shop/stage/history/00000000000000000005"
        );
        assert_eq!(json[2]["KV"]["Verb"], "set");
    }
}
