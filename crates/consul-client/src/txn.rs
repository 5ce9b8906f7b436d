//! Transactions (`/v1/txn`): several KV operations applied atomically, or none of them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize, Serializer};

use crate::Client;
use crate::QueryOptions;
use crate::client::{Request, Retry};
use crate::error::{Error, InvalidInput, Result, TxnError};
use crate::kv::KvPair;
use crate::validate::{self, Empty, MAX_TXN_BODY, MAX_TXN_OPS};
use reqwest::StatusCode;

/// One KV operation of a transaction.
///
/// Build them with the constructors (`TxnOp::set`, `TxnOp::check_index`, …). They serialize
/// to Consul's wire format, `{"KV": {"Verb": …, "Key": …, …}}`:
///
/// ```
/// use consul_client::TxnOp;
/// let op = TxnOp::cas("app/current", b"v2".to_vec(), 17);
/// assert_eq!(
///     serde_json::to_string(&op).unwrap(),
///     r#"{"KV":{"Verb":"cas","Key":"app/current","Value":"djI=","Index":17}}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TxnOp {
    /// Sets the key's value.
    Set {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
        /// Flags stored with it.
        flags: Option<u64>,
    },
    /// Sets the key's value if its `ModifyIndex` equals `index` (0: only if absent).
    Cas {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
        /// Flags stored with it.
        flags: Option<u64>,
        /// The expected `ModifyIndex`.
        index: u64,
    },
    /// Takes the key's lock for `session` and sets its value.
    Lock {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
        /// Flags stored with it.
        flags: Option<u64>,
        /// The session taking the lock.
        session: String,
    },
    /// Releases the key's lock held by `session` and sets its value.
    Unlock {
        /// The key.
        key: String,
        /// The value.
        value: Vec<u8>,
        /// Flags stored with it.
        flags: Option<u64>,
        /// The session releasing the lock.
        session: String,
    },
    /// Reads the key; fails the transaction if it does not exist.
    Get {
        /// The key.
        key: String,
    },
    /// Reads every key under the prefix.
    GetTree {
        /// The prefix.
        prefix: String,
    },
    /// Fails the transaction unless the key's `ModifyIndex` equals `index`.
    CheckIndex {
        /// The key.
        key: String,
        /// The expected `ModifyIndex`.
        index: u64,
    },
    /// Fails the transaction unless the key's lock is held by `session`.
    CheckSession {
        /// The key.
        key: String,
        /// The expected lock holder.
        session: String,
    },
    /// Fails the transaction if the key exists.
    CheckNotExists {
        /// The key.
        key: String,
    },
    /// Deletes the key.
    Delete {
        /// The key.
        key: String,
    },
    /// Deletes every key under the prefix (an empty prefix is refused).
    DeleteTree {
        /// The prefix.
        prefix: String,
    },
    /// Deletes the key if its `ModifyIndex` equals `index`.
    DeleteCas {
        /// The key.
        key: String,
        /// The expected `ModifyIndex`.
        index: u64,
    },
}

impl TxnOp {
    /// `set`: sets the key's value.
    pub fn set(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self::Set {
            key: key.into(),
            value: value.into(),
            flags: None,
        }
    }

    /// `cas`: sets the value if the key's `ModifyIndex` equals `index` (0: only if absent).
    pub fn cas(key: impl Into<String>, value: impl Into<Vec<u8>>, index: u64) -> Self {
        Self::Cas {
            key: key.into(),
            value: value.into(),
            flags: None,
            index,
        }
    }

    /// `lock`: takes the key's lock for `session` and sets its value.
    pub fn lock(
        key: impl Into<String>,
        value: impl Into<Vec<u8>>,
        session: impl Into<String>,
    ) -> Self {
        Self::Lock {
            key: key.into(),
            value: value.into(),
            flags: None,
            session: session.into(),
        }
    }

    /// `unlock`: releases the lock held by `session` and sets the key's value.
    pub fn unlock(
        key: impl Into<String>,
        value: impl Into<Vec<u8>>,
        session: impl Into<String>,
    ) -> Self {
        Self::Unlock {
            key: key.into(),
            value: value.into(),
            flags: None,
            session: session.into(),
        }
    }

    /// The verb as Consul names it.
    fn verb(&self) -> &'static str {
        self.wire().verb
    }

    /// What a committed operation returns in `Results`, by Consul's rules (its state store's
    /// `txnKVS`): the entry of the key for `set`, `cas`, `lock`, `unlock`, `get`,
    /// `check-index` and `check-session`; every entry under the prefix for `get-tree`;
    /// nothing for `check-not-exists` (it only succeeds when there is no entry to return) and
    /// the `delete` verbs.
    fn yields(&self) -> Yields<'_> {
        match self {
            Self::Set { key, .. }
            | Self::Cas { key, .. }
            | Self::Lock { key, .. }
            | Self::Unlock { key, .. }
            | Self::Get { key }
            | Self::CheckIndex { key, .. }
            | Self::CheckSession { key, .. } => Yields::One(key),
            Self::GetTree { prefix } => Yields::Tree(prefix),
            Self::CheckNotExists { .. }
            | Self::Delete { .. }
            | Self::DeleteTree { .. }
            | Self::DeleteCas { .. } => Yields::Nothing,
        }
    }

    /// Whether the operation only reads (so a transaction of such operations changes nothing).
    fn is_read(&self) -> bool {
        matches!(
            self,
            Self::Get { .. }
                | Self::GetTree { .. }
                | Self::CheckIndex { .. }
                | Self::CheckSession { .. }
                | Self::CheckNotExists { .. }
        )
    }

    /// `get`: reads the key (the transaction fails if it is missing).
    pub fn get(key: impl Into<String>) -> Self {
        Self::Get { key: key.into() }
    }

    /// `get-tree`: reads every key under `prefix`.
    pub fn get_tree(prefix: impl Into<String>) -> Self {
        Self::GetTree {
            prefix: prefix.into(),
        }
    }

    /// `check-index`: the key's `ModifyIndex` must equal `index`.
    pub fn check_index(key: impl Into<String>, index: u64) -> Self {
        Self::CheckIndex {
            key: key.into(),
            index,
        }
    }

    /// `check-session`: the key's lock must be held by `session`.
    pub fn check_session(key: impl Into<String>, session: impl Into<String>) -> Self {
        Self::CheckSession {
            key: key.into(),
            session: session.into(),
        }
    }

    /// `check-not-exists`: the key must not exist.
    pub fn check_not_exists(key: impl Into<String>) -> Self {
        Self::CheckNotExists { key: key.into() }
    }

    /// `delete`: deletes the key.
    pub fn delete(key: impl Into<String>) -> Self {
        Self::Delete { key: key.into() }
    }

    /// `delete-tree`: deletes every key under `prefix`.
    pub fn delete_tree(prefix: impl Into<String>) -> Self {
        Self::DeleteTree {
            prefix: prefix.into(),
        }
    }

    /// `delete-cas`: deletes the key if its `ModifyIndex` equals `index`.
    pub fn delete_cas(key: impl Into<String>, index: u64) -> Self {
        Self::DeleteCas {
            key: key.into(),
            index,
        }
    }

    /// Sets the flags stored by a `set`, `cas`, `lock` or `unlock`; other verbs ignore them.
    pub fn with_flags(mut self, new_flags: u64) -> Self {
        match &mut self {
            Self::Set { flags, .. }
            | Self::Cas { flags, .. }
            | Self::Lock { flags, .. }
            | Self::Unlock { flags, .. } => *flags = Some(new_flags),
            _ => {}
        }
        self
    }

    fn wire(&self) -> WireOp<'_> {
        let mut w = WireOp {
            verb: "",
            key: "",
            value: None,
            flags: None,
            index: None,
            session: None,
        };
        match self {
            Self::Set { key, value, flags } => {
                w = WireOp {
                    verb: "set",
                    key,
                    value: Some(value),
                    flags: *flags,
                    ..w
                }
            }
            Self::Cas {
                key,
                value,
                flags,
                index,
            } => {
                w = WireOp {
                    verb: "cas",
                    key,
                    value: Some(value),
                    flags: *flags,
                    index: Some(*index),
                    ..w
                }
            }
            Self::Lock {
                key,
                value,
                flags,
                session,
            } => {
                w = WireOp {
                    verb: "lock",
                    key,
                    value: Some(value),
                    flags: *flags,
                    session: Some(session),
                    ..w
                }
            }
            Self::Unlock {
                key,
                value,
                flags,
                session,
            } => {
                w = WireOp {
                    verb: "unlock",
                    key,
                    value: Some(value),
                    flags: *flags,
                    session: Some(session),
                    ..w
                }
            }
            Self::Get { key } => {
                w = WireOp {
                    verb: "get",
                    key,
                    ..w
                }
            }
            Self::GetTree { prefix } => {
                w = WireOp {
                    verb: "get-tree",
                    key: prefix,
                    ..w
                }
            }
            Self::CheckIndex { key, index } => {
                w = WireOp {
                    verb: "check-index",
                    key,
                    index: Some(*index),
                    ..w
                }
            }
            Self::CheckSession { key, session } => {
                w = WireOp {
                    verb: "check-session",
                    key,
                    session: Some(session),
                    ..w
                }
            }
            Self::CheckNotExists { key } => {
                w = WireOp {
                    verb: "check-not-exists",
                    key,
                    ..w
                }
            }
            Self::Delete { key } => {
                w = WireOp {
                    verb: "delete",
                    key,
                    ..w
                }
            }
            Self::DeleteTree { prefix } => {
                w = WireOp {
                    verb: "delete-tree",
                    key: prefix,
                    ..w
                }
            }
            Self::DeleteCas { key, index } => {
                w = WireOp {
                    verb: "delete-cas",
                    key,
                    index: Some(*index),
                    ..w
                }
            }
        }
        w
    }

    fn validate(&self) -> Result<(), InvalidInput> {
        let w = self.wire();
        let empty = if matches!(self, Self::GetTree { .. }) {
            Empty::Allow
        } else {
            Empty::Refuse
        };
        validate::key(w.key, empty)?;
        if let Some(value) = w.value {
            validate::value(value)?;
        }
        if let Some(session) = w.session {
            validate::uuid("session id", session)?;
        }
        Ok(())
    }
}

impl Serialize for TxnOp {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Outer<'a> {
            #[serde(rename = "KV")]
            kv: WireOp<'a>,
        }
        Outer { kv: self.wire() }.serialize(serializer)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct WireOp<'a> {
    verb: &'static str,
    key: &'a str,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "base64_value"
    )]
    value: Option<&'a [u8]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flags: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session: Option<&'a str>,
}

fn base64_value<S: Serializer>(
    value: &Option<&[u8]>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.serialize_str(&BASE64.encode(v)),
        None => s.serialize_none(),
    }
}

/// What a committed transaction returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TxnResponse {
    /// The KV entries the operations returned, in operation order: the entry read by `get`,
    /// every entry of a `get-tree`, and the entry written by `set`, `cas`, `lock`, `unlock`,
    /// `check-index` and `check-session` (Consul leaves the value out of those). `delete`
    /// verbs and `check-not-exists` return nothing.
    ///
    /// The client checks this against the operations sent (the count, and each entry's key);
    /// an answer that does not fit is [`Error::NotConsul`](crate::Error::NotConsul), not a `TxnResponse`. Entries of a
    /// `get-tree` that the token may not read are left out by Consul.
    pub results: Vec<KvPair>,
}

/// What one operation contributes to a committed transaction's `Results`.
enum Yields<'a> {
    /// Exactly one entry, for this key.
    One(&'a str),
    /// Any number of entries (none included), each under this prefix.
    Tree(&'a str),
    /// No entry.
    Nothing,
}

#[derive(Deserialize)]
struct WireResponse {
    /// `None` when the field is missing, `Some(None)` when it is `null` (Consul's answer when
    /// no operation returned an entry).
    #[serde(rename = "Results", default, deserialize_with = "present")]
    results: Option<Option<Vec<WireResult>>>,
    #[serde(rename = "Errors", default)]
    errors: Option<Vec<TxnError>>,
}

fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<Vec<WireResult>>>, D::Error> {
    Option::<Vec<WireResult>>::deserialize(d).map(Some)
}

/// Checks that a committed transaction's results are what Consul returns for `ops`: one entry
/// per operation that yields one, for that operation's key, and entries under the prefix for a
/// `get-tree`, in operation order. Returns what does not fit.
///
/// A `get-tree` may return any number of entries, so with several of them more than one split
/// of the results can fit; this accepts the results when any split does (tracking every result
/// position each operation can end at).
fn check_results(ops: &[TxnOp], results: &[KvPair]) -> std::result::Result<(), String> {
    let singles = ops
        .iter()
        .filter(|op| matches!(op.yields(), Yields::One(_)))
        .count();
    let trees = ops.iter().any(|op| matches!(op.yields(), Yields::Tree(_)));
    let counted = |n: usize| {
        format!(
            "a committed transaction of {} operation{} answered with {n} result{}, where Consul \
             returns {}{singles} (one for each set, cas, lock, unlock, get, check-index and \
             check-session)",
            ops.len(),
            if ops.len() == 1 { "" } else { "s" },
            if n == 1 { "" } else { "s" },
            if trees { "at least " } else { "" },
        )
    };
    if results.len() < singles || (!trees && results.len() > singles) {
        return Err(counted(results.len()));
    }
    let n = results.len();
    // reach[j]: the operations so far can have returned exactly results[..j].
    let mut reach = vec![false; n + 1];
    reach[0] = true;
    for (i, op) in ops.iter().enumerate() {
        match op.yields() {
            Yields::Nothing => continue,
            Yields::One(key) => {
                let mut next = vec![false; n + 1];
                for (j, pair) in results.iter().enumerate() {
                    if reach[j] && pair.key == key {
                        next[j + 1] = true;
                    }
                }
                reach = next;
            }
            Yields::Tree(prefix) => {
                for (j, pair) in results.iter().enumerate() {
                    if reach[j] && pair.key.starts_with(prefix) {
                        reach[j + 1] = true;
                    }
                }
            }
        }
        if !reach.contains(&true) {
            return Err(format!(
                "a committed transaction's results hold no entry for operation {i} ({} of key \
                 {:?}) where Consul returns one",
                op.verb(),
                op.wire().key
            ));
        }
    }
    if reach[n] {
        Ok(())
    } else {
        Err(format!(
            "a committed transaction's results hold entries that none of its operations \
             returns; {}",
            counted(n)
        ))
    }
}

#[derive(Deserialize)]
struct WireResult {
    #[serde(rename = "KV", default)]
    kv: Option<KvPair>,
}

/// Checks a transaction and encodes its body, refusing what Consul would refuse.
///
/// This is the body [`Client::txn`] sends; it is public so that callers can log or pin it.
///
/// # Errors
///
/// [`Error::InvalidInput`](crate::Error::InvalidInput) for more than 128 operations, an invalid key or session id, a value or
/// body over 512 KiB.
pub fn encode_txn(ops: &[TxnOp]) -> Result<Vec<u8>> {
    if ops.len() > MAX_TXN_OPS {
        return Err(InvalidInput::TooManyOperations {
            count: ops.len(),
            limit: MAX_TXN_OPS,
        }
        .into());
    }
    for op in ops {
        op.validate()?;
    }
    let body = serde_json::to_vec(ops).map_err(|source| Error::Decode {
        context: "encoding a transaction".to_owned(),
        source,
    })?;
    if body.len() > MAX_TXN_BODY {
        return Err(InvalidInput::TxnTooLarge {
            size: body.len(),
            limit: MAX_TXN_BODY,
        }
        .into());
    }
    Ok(body)
}

impl Client {
    /// Applies `ops` atomically: all of them, or, when any fails, none
    /// ([`Error::TxnRolledBack`](crate::Error::TxnRolledBack) then lists each failed operation's index and Consul's
    /// reason).
    ///
    /// Refused before sending: more than 128 operations, invalid keys, values over 512 KiB,
    /// a body over 512 KiB. A transaction is a write and is not retried after it may have
    /// reached Consul.
    ///
    /// ```no_run
    /// # async fn demo(client: consul_client::Client, session: &str) -> Result<(), consul_client::Error> {
    /// use consul_client::TxnOp;
    /// let done = client
    ///     .txn(&[
    ///         TxnOp::check_session("app/lock", session),
    ///         TxnOp::set("app/current", b"v2".to_vec()),
    ///         TxnOp::unlock("app/lock", Vec::new(), session),
    ///     ])
    ///     .await?;
    /// println!("{} entries returned", done.results.len());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::TxnRolledBack`](crate::Error::TxnRolledBack) when any operation failed (nothing was applied);
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) as [`encode_txn`]; [`Error::NotConsul`](crate::Error::NotConsul) when a 200 answer's results
    /// do not fit the operations (a lock "taken" by a server that is not Consul); otherwise
    /// [`Error::Transport`](crate::Error::Transport), [`Error::Certificate`](crate::Error::Certificate), the error statuses
    /// ([`Error::PermissionDenied`](crate::Error::PermissionDenied), [`Error::AclNotFound`](crate::Error::AclNotFound), [`Error::RateLimited`](crate::Error::RateLimited),
    /// [`Error::Server`](crate::Error::Server)), [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge), and [`Error::Decode`](crate::Error::Decode) for an answer that is
    /// not Consul's JSON.
    pub async fn txn(&self, ops: &[TxnOp]) -> Result<TxnResponse> {
        self.send_txn(ops, None).await
    }

    /// Applies a transaction of reads only (`get`, `get-tree`, checks) with the consistency
    /// of `opts`, so several keys are read at one index in one round trip.
    ///
    /// When every operation is a read, the request is retried like any read (transport errors,
    /// 429, 5xx): it cannot change anything. A transaction with a write in it is sent once,
    /// as by [`Client::txn`].
    ///
    /// A `get` of a missing key fails the whole transaction (as in Consul); read a key that
    /// may be missing with `get-tree` and keep the entry whose key matches.
    ///
    /// ```no_run
    /// # async fn demo(client: consul_client::Client) -> Result<(), consul_client::Error> {
    /// use consul_client::{QueryOptions, TxnOp};
    /// let read = client
    ///     .read_txn(&[TxnOp::get_tree("app/current"), TxnOp::get_tree("app/previous")],
    ///         &QueryOptions::consistent())
    ///     .await?;
    /// let current = read.results.iter().find(|p| p.key == "app/current");
    /// # let _ = current;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Client::txn`].
    pub async fn read_txn(&self, ops: &[TxnOp], opts: &QueryOptions) -> Result<TxnResponse> {
        self.send_txn(ops, Some(opts)).await
    }

    /// Applies a transaction that the caller knows has the same effect however often it is
    /// applied (its writes leave nothing behind, as a `set` and `delete` of the same key, or
    /// write fixed values; its checks do not depend on its own earlier application), retrying
    /// it like a read on transport errors, 429 and 5xx, where [`Client::txn`] sends a write
    /// once. A transaction that checks an index (or a `cas`) is not such a transaction: a retry
    /// of one that was applied would fail its own checks. A `lock` is, for the session that
    /// takes it: taking a lock again with the session that holds it only sets its value.
    ///
    /// ```no_run
    /// # async fn demo(client: consul_client::Client) -> Result<(), consul_client::Error> {
    /// use consul_client::TxnOp;
    /// // May this token write under app/? Probe it and read a key in the same round trip.
    /// let done = client
    ///     .idempotent_txn(&[
    ///         TxnOp::set("app/probe", b"probe".to_vec()),
    ///         TxnOp::delete("app/probe"),
    ///         TxnOp::get_tree("app/current"),
    ///     ])
    ///     .await?;
    /// # let _ = done;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Client::txn`].
    pub async fn idempotent_txn(&self, ops: &[TxnOp]) -> Result<TxnResponse> {
        let req = Request::put("txn".to_owned())
            .body(encode_txn(ops)?)
            .pass_through(&[StatusCode::CONFLICT]);
        self.finish_txn(
            Request {
                retry: Retry::Idempotent,
                ..req
            },
            ops,
        )
        .await
    }

    async fn send_txn(&self, ops: &[TxnOp], opts: Option<&QueryOptions>) -> Result<TxnResponse> {
        let body = encode_txn(ops)?;
        let mut req = Request::put("txn".to_owned())
            .body(body)
            .pass_through(&[StatusCode::CONFLICT]);
        if let Some(opts) = opts {
            req = req.query(opts);
            if ops.iter().all(TxnOp::is_read) {
                req.retry = Retry::Idempotent;
            }
        }
        self.finish_txn(req, ops).await
    }

    /// Sends a transaction and checks its answer: a rollback is [`Error::TxnRolledBack`](crate::Error::TxnRolledBack), and a
    /// success whose results are not what Consul returns for `ops` is [`Error::NotConsul`](crate::Error::NotConsul), so
    /// that a server answering `200 {}` is never taken to have committed anything.
    pub(crate) async fn finish_txn(&self, req: Request, ops: &[TxnOp]) -> Result<TxnResponse> {
        let resp = self.send(&req).await?;
        let wire: WireResponse = resp.json("a transaction")?;
        let errors = wire.errors.unwrap_or_default();
        if resp.status == StatusCode::CONFLICT || !errors.is_empty() {
            return Err(Error::TxnRolledBack { errors });
        }
        let Some(results) = wire.results else {
            return Err(resp.not_consul(
                "its answer to a committed transaction has no Results; Consul always sends them",
            ));
        };
        let mut pairs = Vec::new();
        for result in results.unwrap_or_default() {
            match result.kv {
                Some(pair) => pairs.push(pair),
                None => {
                    return Err(resp.not_consul(
                        "a committed transaction of KV operations answered with a result that is \
                         not a KV entry",
                    ));
                }
            }
        }
        check_results(ops, &pairs).map_err(|reason| resp.not_consul(reason))?;
        Ok(TxnResponse { results: pairs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "adf4238a-882b-9ddc-4a9d-5b6758e4159e";

    #[test]
    fn every_verb_serializes_with_consul_names() {
        let ops = [
            TxnOp::set("a", b"1".to_vec()).with_flags(7),
            TxnOp::cas("a", b"1".to_vec(), 3),
            TxnOp::lock("l", b"h".to_vec(), SID),
            TxnOp::unlock("l", Vec::new(), SID),
            TxnOp::get("a"),
            TxnOp::get_tree(""),
            TxnOp::check_index("a", 3),
            TxnOp::check_session("l", SID),
            TxnOp::check_not_exists("b"),
            TxnOp::delete("a"),
            TxnOp::delete_tree("p/"),
            TxnOp::delete_cas("a", 9),
        ];
        let json: serde_json::Value =
            serde_json::from_slice(&encode_txn(&ops).expect("valid")).expect("json");
        let verbs: Vec<&str> = json
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|op| op["KV"]["Verb"].as_str())
            .collect();
        assert_eq!(
            verbs,
            [
                "set",
                "cas",
                "lock",
                "unlock",
                "get",
                "get-tree",
                "check-index",
                "check-session",
                "check-not-exists",
                "delete",
                "delete-tree",
                "delete-cas"
            ]
        );
        assert_eq!(json[0]["KV"]["Flags"], 7);
        assert_eq!(json[0]["KV"]["Value"], "MQ==");
    }

    #[test]
    fn more_than_128_ops_are_refused() {
        let ops: Vec<TxnOp> = (0..129).map(|i| TxnOp::get(format!("k{i}"))).collect();
        assert!(matches!(
            encode_txn(&ops),
            Err(Error::InvalidInput(InvalidInput::TooManyOperations {
                count: 129,
                limit: 128
            }))
        ));
        assert!(encode_txn(&ops[..128]).is_ok());
    }

    #[test]
    fn delete_tree_of_everything_is_refused() {
        assert!(encode_txn(&[TxnOp::delete_tree("")]).is_err());
    }

    fn pair(key: &str) -> KvPair {
        serde_json::from_value(serde_json::json!({ "Key": key })).expect("pair")
    }

    fn pairs(keys: &[&str]) -> Vec<KvPair> {
        keys.iter().map(|k| pair(k)).collect()
    }

    #[test]
    fn results_must_hold_one_entry_per_single_result_op_in_order() {
        let ops = [
            TxnOp::check_not_exists("n"),
            TxnOp::lock("l", Vec::new(), SID),
            TxnOp::delete("d"),
            TxnOp::get("g"),
        ];
        assert_eq!(check_results(&ops, &pairs(&["l", "g"])), Ok(()));
        let missing = check_results(&ops, &[]).expect_err("no results");
        assert!(missing.contains("with 0 results"), "{missing}");
        assert!(missing.contains("returns 2"), "{missing}");
        assert!(check_results(&ops, &pairs(&["l", "g", "g"])).is_err());
        let wrong = check_results(&ops, &pairs(&["g", "l"])).expect_err("order");
        assert!(wrong.contains("operation 1 (lock of key \"l\")"), "{wrong}");
    }

    #[test]
    fn get_tree_results_may_be_any_number_under_its_prefix() {
        let ops = [
            TxnOp::get_tree("a/"),
            TxnOp::set("a/b", b"1".to_vec()),
            TxnOp::set("x", b"1".to_vec()),
            TxnOp::get_tree("a/"),
        ];
        // Before the set, a/ was empty; after it, a/b is there: the greedy split would fail.
        assert_eq!(check_results(&ops, &pairs(&["a/b", "x", "a/b"])), Ok(()));
        assert_eq!(
            check_results(&ops, &pairs(&["a/1", "a/b", "x", "a/1", "a/b"])),
            Ok(())
        );
        assert!(check_results(&ops, &pairs(&["a/b", "x", "z"])).is_err());
        assert!(check_results(&ops, &pairs(&["x"])).is_err());
    }

    #[test]
    fn missing_results_differ_from_null_results() {
        let missing: WireResponse = serde_json::from_str("{}").expect("json");
        assert!(missing.results.is_none());
        let null: WireResponse =
            serde_json::from_str(r#"{"Results":null,"Errors":null}"#).expect("json");
        assert!(matches!(null.results, Some(None)));
    }

    #[test]
    fn decodes_rollback_errors() {
        let body = r#"{"Results":null,"Errors":[{"OpIndex":1,"What":"failed to set key \"a\": index is stale"}]}"#;
        let wire: WireResponse = serde_json::from_str(body).expect("json");
        let errors = wire.errors.unwrap_or_default();
        assert_eq!(errors[0].op_index, 1);
        assert!(errors[0].what.contains("index is stale"));
    }
}
