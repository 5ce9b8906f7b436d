//! The replicated state of the simulated cluster: the KV store with its tombstones, sessions,
//! lock-delays and the single index counter every write advances.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::events::UserEvent;

/// Consul caps the lock-delay a session may ask for at this value.
pub(crate) const MAX_LOCK_DELAY: Duration = Duration::from_secs(60);

/// One KV entry, as Consul's `DirEntry` (the key is the map key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub lock_index: u64,
    pub flags: u64,
    /// `None` is what Consul stores for an empty body and sends as JSON `null`.
    pub value: Option<Vec<u8>>,
    pub session: Option<String>,
    pub create_index: u64,
    pub modify_index: u64,
}

/// The KV table: entries, tombstones of deleted keys and the table index.
///
/// Cloned whole by a transaction so that a failed transaction can be dropped without a trace.
#[derive(Debug, Clone, Default)]
pub(crate) struct KvStore {
    pub entries: BTreeMap<String, Entry>,
    /// Index at which a key (or, for a tree delete, a prefix) was deleted; this is what makes a
    /// delete advance the index of a prefix listing, as Consul's graveyard does.
    pub tombstones: BTreeMap<String, u64>,
    pub table_index: u64,
}

/// What a write is asked to store.
#[derive(Debug, Clone, Default)]
pub(crate) struct Write {
    pub value: Option<Vec<u8>>,
    pub flags: u64,
}

impl KvStore {
    /// Index of a single-key read: the key's ModifyIndex, or the table index when it is missing.
    pub fn key_index(&self, key: &str) -> u64 {
        match self.entries.get(key) {
            Some(entry) => entry.modify_index,
            None => self.table_index,
        }
    }

    /// Index of a prefix read: the highest ModifyIndex or tombstone under the prefix; the whole
    /// table's index for the empty prefix.
    pub fn prefix_index(&self, prefix: &str) -> u64 {
        if prefix.is_empty() {
            return self.table_index;
        }
        let live = self
            .under(prefix)
            .map(|(_, e)| e.modify_index)
            .max()
            .unwrap_or(0);
        let dead = self
            .tombstones
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, i)| *i)
            .max()
            .unwrap_or(0);
        live.max(dead)
    }

    /// Entries whose key starts with `prefix`, in key order.
    pub fn under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a String, &'a Entry)> {
        self.entries
            .range(prefix.to_owned()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
    }

    /// Keys under `prefix`, rolled up at the first `separator` after the prefix (Consul's
    /// `?keys&separator=`), sorted and without duplicates.
    pub fn keys(&self, prefix: &str, separator: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (key, _) in self.under(prefix) {
            let rest = key.get(prefix.len()..).unwrap_or("");
            let item = match (!separator.is_empty())
                .then(|| rest.find(separator))
                .flatten()
            {
                Some(at) => format!(
                    "{prefix}{}",
                    rest.get(..at + separator.len()).unwrap_or(rest)
                ),
                None => key.clone(),
            };
            if out.last() != Some(&item) {
                out.push(item);
            }
        }
        out
    }

    fn touch(&mut self, idx: u64) {
        self.table_index = idx;
    }

    /// Plain set: keeps the existing session and LockIndex.
    pub fn set(&mut self, key: &str, write: Write, idx: u64) {
        let entry = match self.entries.get(key) {
            Some(old) => Entry {
                lock_index: old.lock_index,
                flags: write.flags,
                value: write.value,
                session: old.session.clone(),
                create_index: old.create_index,
                modify_index: idx,
            },
            None => Entry {
                lock_index: 0,
                flags: write.flags,
                value: write.value,
                session: None,
                create_index: idx,
                modify_index: idx,
            },
        };
        self.entries.insert(key.to_owned(), entry);
        self.touch(idx);
    }

    /// Check-and-set: `cas == 0` creates only; otherwise `cas` must equal the ModifyIndex.
    pub fn cas(&mut self, key: &str, write: Write, cas: u64, idx: u64) -> bool {
        let ok = match self.entries.get(key) {
            None => cas == 0,
            Some(old) => cas != 0 && old.modify_index == cas,
        };
        if ok {
            self.set(key, write, idx);
        }
        ok
    }

    /// Lock acquisition by a session already known to exist.
    pub fn lock(&mut self, key: &str, write: Write, session: &str, idx: u64) -> bool {
        let (create_index, lock_index) = match self.entries.get(key) {
            Some(old) => match old.session.as_deref() {
                Some(holder) if holder == session => (old.create_index, old.lock_index),
                Some(_) => return false,
                None => (old.create_index, old.lock_index + 1),
            },
            None => (idx, 1),
        };
        self.entries.insert(
            key.to_owned(),
            Entry {
                lock_index,
                flags: write.flags,
                value: write.value,
                session: Some(session.to_owned()),
                create_index,
                modify_index: idx,
            },
        );
        self.touch(idx);
        true
    }

    /// Lock release: only the holder may release; the value is updated with the release.
    pub fn unlock(&mut self, key: &str, write: Write, session: &str, idx: u64) -> bool {
        let Some(old) = self.entries.get(key) else {
            return false;
        };
        if old.session.as_deref() != Some(session) {
            return false;
        }
        let entry = Entry {
            lock_index: old.lock_index,
            flags: write.flags,
            value: write.value,
            session: None,
            create_index: old.create_index,
            modify_index: idx,
        };
        self.entries.insert(key.to_owned(), entry);
        self.touch(idx);
        true
    }

    /// Deletes one key; returns whether anything changed.
    pub fn delete(&mut self, key: &str, idx: u64) -> bool {
        if self.entries.remove(key).is_none() {
            return false;
        }
        self.tombstones.insert(key.to_owned(), idx);
        self.touch(idx);
        true
    }

    /// Delete-if-index: a missing key counts as deleted (Consul answers `true`).
    pub fn delete_cas(&mut self, key: &str, cas: u64, idx: u64) -> (bool, bool) {
        match self.entries.get(key) {
            None => (true, false),
            Some(old) if old.modify_index != cas => (false, false),
            Some(_) => (true, self.delete(key, idx)),
        }
    }

    /// Deletes every key under `prefix`; one tombstone for the prefix, as Consul records it.
    pub fn delete_tree(&mut self, prefix: &str, idx: u64) -> bool {
        let doomed: Vec<String> = self.under(prefix).map(|(k, _)| k.clone()).collect();
        if doomed.is_empty() {
            return false;
        }
        for key in doomed {
            self.entries.remove(&key);
        }
        self.tombstones.insert(prefix.to_owned(), idx);
        self.touch(idx);
        true
    }
}

/// What happens to a session's locks when it is invalidated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behavior {
    Release,
    Delete,
}

impl Behavior {
    pub fn as_str(self) -> &'static str {
        match self {
            Behavior::Release => "release",
            Behavior::Delete => "delete",
        }
    }
}

/// A session as Consul keeps it.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub name: String,
    pub node: String,
    pub lock_delay: Duration,
    pub behavior: Behavior,
    /// The TTL exactly as the client wrote it (Consul stores and returns the string).
    pub ttl: String,
    pub ttl_duration: Option<Duration>,
    pub node_checks: Vec<String>,
    pub service_checks: Vec<(String, String)>,
    pub create_index: u64,
    pub modify_index: u64,
    /// Sim-clock instant after which the session is invalidated (2×TTL after the last renewal).
    pub expires_at: Option<Instant>,
}

/// The whole replicated state.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// The one index counter; every write that changes something takes the next value.
    pub index: u64,
    pub kv: KvStore,
    pub sessions: BTreeMap<String, Session>,
    pub session_table_index: u64,
    /// Sim-clock instant until which a key may not be acquired.
    pub lock_delays: HashMap<String, Instant>,
    pub events: VecDeque<UserEvent>,
    pub event_ltime: u64,
    /// Bumped by [`State::reset_index`] so that waiting queries return at once.
    pub epoch: u64,
}

/// The raft index a freshly booted server has already reached. Consul's own boot writes
/// (leader election, autopilot, the anonymous token) leave its index well above 1 before any
/// client write, while reads of an empty table answer 1. Starting here means the first write
/// always passes an index an empty store answered, so a blocking query made before it wakes.
pub(crate) const BOOT_INDEX: u64 = 12;

impl State {
    /// The state of a server that has just booted: empty, with the index at [`BOOT_INDEX`].
    pub fn booted() -> Self {
        State {
            index: BOOT_INDEX,
            ..State::default()
        }
    }

    /// The index the next write will use.
    pub fn next_index(&self) -> u64 {
        self.index + 1
    }

    /// Whether `key` is inside a lock-delay at sim time `now`.
    pub fn in_lock_delay(&self, key: &str, now: Instant) -> bool {
        self.lock_delays.get(key).is_some_and(|until| *until > now)
    }

    /// Invalidates a session: its locks are released (or keys deleted) and each key enters the
    /// session's lock-delay. Returns whether the session existed.
    pub fn invalidate_session(&mut self, id: &str, now: Instant) -> bool {
        let Some(session) = self.sessions.remove(id) else {
            return false;
        };
        let idx = self.next_index();
        let held: Vec<String> = self
            .kv
            .entries
            .iter()
            .filter(|(_, e)| e.session.as_deref() == Some(id))
            .map(|(k, _)| k.clone())
            .collect();
        for key in held {
            match session.behavior {
                Behavior::Release => {
                    if let Some(entry) = self.kv.entries.get_mut(&key) {
                        entry.session = None;
                        entry.modify_index = idx;
                    }
                    self.kv.touch(idx);
                }
                Behavior::Delete => {
                    self.kv.delete(&key, idx);
                }
            }
            if !session.lock_delay.is_zero() {
                let delay = session.lock_delay.min(MAX_LOCK_DELAY);
                self.lock_delays.insert(key, now + delay);
            }
        }
        self.session_table_index = idx;
        self.index = idx;
        true
    }

    /// Invalidates every session whose TTL ran out by sim time `now`; returns how many.
    pub fn expire_sessions(&mut self, now: Instant) -> usize {
        let expired: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.expires_at.is_some_and(|at| at <= now))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            self.invalidate_session(id, now);
        }
        self.lock_delays.retain(|_, until| *until > now);
        expired.len()
    }

    /// Moves the index counter (and every recorded index above it) down to `to`, as after a
    /// snapshot restore on a new leader.
    pub fn reset_index(&mut self, to: u64) {
        let clamp = |i: &mut u64| *i = (*i).min(to);
        self.index = to;
        clamp(&mut self.kv.table_index);
        clamp(&mut self.session_table_index);
        for entry in self.kv.entries.values_mut() {
            clamp(&mut entry.create_index);
            clamp(&mut entry.modify_index);
        }
        for index in self.kv.tombstones.values_mut() {
            clamp(index);
        }
        for session in self.sessions.values_mut() {
            clamp(&mut session.create_index);
            clamp(&mut session.modify_index);
        }
        self.epoch += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(lock_delay: Duration) -> Session {
        Session {
            name: String::new(),
            node: "n".into(),
            lock_delay,
            behavior: Behavior::Release,
            ttl: String::new(),
            ttl_duration: None,
            node_checks: Vec::new(),
            service_checks: Vec::new(),
            create_index: 1,
            modify_index: 1,
            expires_at: None,
        }
    }

    #[test]
    fn lock_delay_above_sixty_seconds_is_capped() {
        let mut state = State::default();
        state
            .sessions
            .insert("s".into(), session(Duration::from_secs(600)));
        state.kv.lock("k", w("x"), "s", 2);
        let now = Instant::now();
        assert!(state.invalidate_session("s", now));
        assert!(state.in_lock_delay("k", now + Duration::from_secs(59)));
        assert!(!state.in_lock_delay("k", now + Duration::from_secs(61)));
    }

    fn w(v: &str) -> Write {
        Write {
            value: Some(v.as_bytes().to_vec()),
            flags: 0,
        }
    }

    #[test]
    fn keys_roll_up_at_separator() {
        let mut kv = KvStore::default();
        for (i, k) in ["a/b/c", "a/b/d", "a/e", "b"].iter().enumerate() {
            kv.set(k, w("x"), i as u64 + 1);
        }
        assert_eq!(kv.keys("a/", "/"), vec!["a/b/", "a/e"]);
        assert_eq!(kv.keys("", "/"), vec!["a/", "b"]);
        assert_eq!(kv.keys("a", ""), vec!["a/b/c", "a/b/d", "a/e"]);
    }

    #[test]
    fn delete_advances_prefix_index_through_tombstone() {
        let mut kv = KvStore::default();
        kv.set("p/a", w("1"), 5);
        kv.set("q", w("1"), 6);
        assert_eq!(kv.prefix_index("p/"), 5);
        kv.delete("p/a", 7);
        assert_eq!(kv.prefix_index("p/"), 7);
    }

    #[test]
    fn lock_by_same_session_keeps_lock_index() {
        let mut kv = KvStore::default();
        assert!(kv.lock("k", w("1"), "s1", 3));
        assert!(kv.lock("k", w("2"), "s1", 4));
        assert!(!kv.lock("k", w("3"), "s2", 5));
        let e = &kv.entries["k"];
        assert_eq!((e.lock_index, e.modify_index, e.create_index), (1, 4, 3));
        assert!(kv.unlock("k", w("4"), "s1", 6));
        assert!(kv.lock("k", w("5"), "s2", 7));
        assert_eq!(kv.entries["k"].lock_index, 2);
    }
}
