//! The KV store: get, raw get, recursive list, keys, put (with cas / flags / acquire /
//! release), delete, and watches built on blocking queries.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::Stream;
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use crate::client::{Request, Retry, key_path};
use crate::error::{InvalidInput, Result};
use crate::query::{QueryMeta, QueryOptions};
use crate::validate::{self, Empty};
use crate::{Client, watch};

/// One KV entry as Consul returns it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "WireKv")]
#[non_exhaustive]
pub struct KvPair {
    /// The full key.
    pub key: String,
    /// The value (empty when Consul holds none).
    pub value: Vec<u8>,
    /// Opaque flags the writer attached (Consul's `Flags`).
    pub flags: u64,
    /// The session holding the key's lock, if any.
    pub session: Option<String>,
    /// How many times the key's lock has been acquired.
    pub lock_index: u64,
    /// Index of the write that created the key.
    pub create_index: u64,
    /// Index of the last write to the key; use it for check-and-set.
    pub modify_index: u64,
}

impl KvPair {
    /// The value as UTF-8 text, or `None` when it is not valid UTF-8.
    pub fn value_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireKv {
    key: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    flags: u64,
    #[serde(default)]
    session: Option<String>,
    #[serde(default)]
    lock_index: u64,
    #[serde(default)]
    create_index: u64,
    #[serde(default)]
    modify_index: u64,
}

impl TryFrom<WireKv> for KvPair {
    type Error = String;

    fn try_from(w: WireKv) -> std::result::Result<Self, String> {
        let value = match w.value {
            Some(v) => BASE64
                .decode(v.as_bytes())
                .map_err(|e| format!("value of key {:?} is not base64: {e}", w.key))?,
            None => Vec::new(),
        };
        Ok(Self {
            key: w.key,
            value,
            flags: w.flags,
            session: w.session.filter(|s| !s.is_empty()),
            lock_index: w.lock_index,
            create_index: w.create_index,
            modify_index: w.modify_index,
        })
    }
}

/// Options of a KV write.
///
/// `cas`, `acquire` and `release` are exclusive: Consul refuses them together, and so does
/// this client, before sending.
///
/// ```
/// use consul_client::PutOptions;
/// // Create the key only if it does not exist yet.
/// let create_only = PutOptions::new().cas(0);
/// assert_eq!(create_only.cas, Some(0));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct PutOptions {
    /// Flags to store with the value.
    pub flags: Option<u64>,
    /// Check-and-set: write only if the key's `ModifyIndex` equals this (0: only if absent).
    pub cas: Option<u64>,
    /// Take the key's lock for this session (write only if free or already held by it).
    pub acquire: Option<String>,
    /// Release the key's lock held by this session.
    pub release: Option<String>,
}

impl PutOptions {
    /// A plain write.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flags stored with the value.
    pub fn flags(mut self, flags: u64) -> Self {
        self.flags = Some(flags);
        self
    }

    /// Makes the write a check-and-set against `modify_index` (0: create only).
    pub fn cas(mut self, modify_index: u64) -> Self {
        self.cas = Some(modify_index);
        self
    }

    /// Makes the write a lock acquisition for `session`.
    pub fn acquire(mut self, session: impl Into<String>) -> Self {
        self.acquire = Some(session.into());
        self
    }

    /// Makes the write a lock release by `session`.
    pub fn release(mut self, session: impl Into<String>) -> Self {
        self.release = Some(session.into());
        self
    }

    fn validate(&self) -> Result<(), InvalidInput> {
        let exclusive = [
            self.cas.is_some(),
            self.acquire.is_some(),
            self.release.is_some(),
        ];
        if exclusive.iter().filter(|set| **set).count() > 1 {
            return Err(InvalidInput::Options(
                "cas, acquire and release cannot be combined",
            ));
        }
        for session in [&self.acquire, &self.release].into_iter().flatten() {
            validate::uuid("session id", session)?;
        }
        Ok(())
    }
}

/// Options of a KV delete.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct DeleteOptions {
    /// Delete every key under the given prefix. An empty prefix (the whole store) is refused.
    pub recurse: bool,
    /// Delete only if the key's `ModifyIndex` equals this.
    pub cas: Option<u64>,
}

impl DeleteOptions {
    /// Deletes one key.
    pub fn new() -> Self {
        Self::default()
    }

    /// Deletes every key under the prefix.
    pub fn recurse() -> Self {
        Self {
            recurse: true,
            cas: None,
        }
    }

    /// Makes the delete a check-and-set against `modify_index`.
    pub fn cas(mut self, modify_index: u64) -> Self {
        self.cas = Some(modify_index);
        self
    }
}

/// The KV API; get one with [`Client::kv`].
#[derive(Debug, Clone, Copy)]
pub struct Kv<'a> {
    client: &'a Client,
}

impl Client {
    /// The KV store API.
    pub fn kv(&self) -> Kv<'_> {
        Kv { client: self }
    }
}

impl Kv<'_> {
    /// Reads one key. `None` when it does not exist (the metadata is still returned, so a
    /// blocking query can wait for the key to appear).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for an invalid key; otherwise [`Error::Transport`](crate::Error::Transport),
    /// [`Error::Certificate`](crate::Error::Certificate), the error statuses ([`Error::PermissionDenied`](crate::Error::PermissionDenied),
    /// [`Error::AclNotFound`](crate::Error::AclNotFound), [`Error::RateLimited`](crate::Error::RateLimited), [`Error::Server`](crate::Error::Server)),
    /// [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge), and [`Error::Decode`](crate::Error::Decode) for an answer that is not Consul's JSON;
    /// [`Error::NotConsul`](crate::Error::NotConsul) for an answer without `X-Consul-Index`. A missing key is not an error.
    pub async fn get(&self, key: &str, opts: &QueryOptions) -> Result<(Option<KvPair>, QueryMeta)> {
        validate::key(key, Empty::Refuse)?;
        let req = Request::get(format!("kv/{}", key_path(key)))
            .query(opts)
            .pass_through(&[StatusCode::NOT_FOUND]);
        let resp = self.client.send(&req).await?;
        let meta = resp.meta()?;
        if resp.status == StatusCode::NOT_FOUND {
            return Ok((None, meta));
        }
        let pairs: Vec<KvPair> = resp.json("a KV read")?;
        Ok((pairs.into_iter().find(|p| p.key == key), meta))
    }

    /// Reads one key's value as stored (`?raw`), without base64 or JSON. `None` when it does
    /// not exist.
    ///
    /// # Errors
    ///
    /// As [`Kv::get`].
    pub async fn get_raw(
        &self,
        key: &str,
        opts: &QueryOptions,
    ) -> Result<(Option<Vec<u8>>, QueryMeta)> {
        validate::key(key, Empty::Refuse)?;
        let req = Request::get(format!("kv/{}", key_path(key)))
            .flag("raw")
            .query(opts)
            .pass_through(&[StatusCode::NOT_FOUND]);
        let resp = self.client.send(&req).await?;
        let meta = resp.meta()?;
        if resp.status == StatusCode::NOT_FOUND {
            return Ok((None, meta));
        }
        Ok((Some(resp.body), meta))
    }

    /// Reads every entry whose key starts with `prefix` (`?recurse`), sorted by key. Empty
    /// when there are none; an empty prefix lists the whole store.
    ///
    /// # Errors
    ///
    /// As [`Kv::get`].
    pub async fn list(
        &self,
        prefix: &str,
        opts: &QueryOptions,
    ) -> Result<(Vec<KvPair>, QueryMeta)> {
        validate::key(prefix, Empty::Allow)?;
        let req = Request::get(format!("kv/{}", key_path(prefix)))
            .flag("recurse")
            .query(opts)
            .pass_through(&[StatusCode::NOT_FOUND]);
        let resp = self.client.send(&req).await?;
        let meta = resp.meta()?;
        if resp.status == StatusCode::NOT_FOUND {
            return Ok((Vec::new(), meta));
        }
        Ok((resp.json("a recursive KV read")?, meta))
    }

    /// Lists the keys under `prefix` (`?keys`). With a `separator` (usually `/`), keys are
    /// grouped up to the next separator after the prefix, as directory names.
    ///
    /// # Errors
    ///
    /// As [`Kv::get`].
    pub async fn keys(
        &self,
        prefix: &str,
        separator: Option<&str>,
        opts: &QueryOptions,
    ) -> Result<(Vec<String>, QueryMeta)> {
        validate::key(prefix, Empty::Allow)?;
        let mut req = Request::get(format!("kv/{}", key_path(prefix))).flag("keys");
        if let Some(sep) = separator {
            req = req.param("separator", sep);
        }
        let req = req.query(opts).pass_through(&[StatusCode::NOT_FOUND]);
        let resp = self.client.send(&req).await?;
        let meta = resp.meta()?;
        if resp.status == StatusCode::NOT_FOUND {
            return Ok((Vec::new(), meta));
        }
        Ok((resp.json("a KV keys listing")?, meta))
    }

    /// Writes `value` to `key` and returns Consul's answer: `false` when a `cas`, `acquire` or
    /// `release` condition did not hold (nothing was written).
    ///
    /// Refused before sending: an invalid key, a value over 512 KiB, exclusive options
    /// combined, a malformed session id.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for what is refused before sending (above); otherwise
    /// [`Error::Transport`](crate::Error::Transport), [`Error::Certificate`](crate::Error::Certificate), the error statuses
    /// ([`Error::PermissionDenied`](crate::Error::PermissionDenied), [`Error::AclNotFound`](crate::Error::AclNotFound), [`Error::RateLimited`](crate::Error::RateLimited),
    /// [`Error::Server`](crate::Error::Server)), [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge), and [`Error::Decode`](crate::Error::Decode) for an answer that is
    /// not Consul's JSON. A condition that did not hold is `Ok(false)`, not an error; an `acquire`
    /// with an unknown session is [`Error::InvalidSession`](crate::Error::InvalidSession).
    pub async fn put(&self, key: &str, value: &[u8], opts: &PutOptions) -> Result<bool> {
        self.put_retried(key, value, opts, Retry::Write).await
    }

    /// [`Kv::put`] with the given retry rule: [`Retry::Idempotent`] for a write that may be
    /// applied twice, such as an `acquire` by the session that may already hold the key.
    pub(crate) async fn put_retried(
        &self,
        key: &str,
        value: &[u8],
        opts: &PutOptions,
        retry: Retry,
    ) -> Result<bool> {
        validate::key(key, Empty::Refuse)?;
        validate::value(value)?;
        opts.validate()?;
        let mut req =
            Request::new(Method::PUT, format!("kv/{}", key_path(key)), retry).body(value.to_vec());
        if let Some(flags) = opts.flags {
            req = req.param("flags", flags.to_string());
        }
        if let Some(cas) = opts.cas {
            req = req.param("cas", cas.to_string());
        }
        if let Some(session) = &opts.acquire {
            req = req.param("acquire", session.clone());
        }
        if let Some(session) = &opts.release {
            req = req.param("release", session.clone());
        }
        self.client.send(&req).await?.json("a KV write")
    }

    /// Deletes `key` (or, with [`DeleteOptions::recurse`], every key under it). Returns
    /// Consul's answer: `true` also when the key did not exist, `false` when a `cas` did not
    /// hold.
    ///
    /// Refused before sending: an invalid or empty key (a recursive delete of `""` would wipe
    /// the whole store), `recurse` with `cas` (Consul refuses the pair).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for what is refused before sending (above); otherwise
    /// [`Error::Transport`](crate::Error::Transport), [`Error::Certificate`](crate::Error::Certificate), the error statuses
    /// ([`Error::PermissionDenied`](crate::Error::PermissionDenied), [`Error::AclNotFound`](crate::Error::AclNotFound), [`Error::RateLimited`](crate::Error::RateLimited),
    /// [`Error::Server`](crate::Error::Server)), [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge), and [`Error::Decode`](crate::Error::Decode) for an answer that is
    /// not Consul's JSON.
    pub async fn delete(&self, key: &str, opts: &DeleteOptions) -> Result<bool> {
        validate::key(key, Empty::Refuse)?;
        if opts.recurse && opts.cas.is_some() {
            return Err(InvalidInput::Options("recurse and cas cannot be combined").into());
        }
        let mut req = Request::new(
            Method::DELETE,
            format!("kv/{}", key_path(key)),
            Retry::Write,
        );
        if opts.recurse {
            req = req.flag("recurse");
        }
        if let Some(cas) = opts.cas {
            req = req.param("cas", cas.to_string());
        }
        self.client.send(&req).await?.json("a KV delete")
    }

    /// Watches one key: a stream that yields the key's state now, then again each time its
    /// index changes, using blocking queries with `opts.wait` per round (Consul's default 5
    /// minutes when unset). See [`watch::watch`] for the rules it follows.
    ///
    /// # Cancel safety
    ///
    /// Dropping the stream stops the watch at once and leaves nothing behind; see
    /// [`watch::watch`].
    pub fn watch(
        &self,
        key: &str,
        opts: QueryOptions,
    ) -> impl Stream<Item = Result<(Option<KvPair>, QueryMeta)>> + Send + 'static {
        let client = self.client.clone();
        let key = key.to_owned();
        watch::watch(opts, move |o| {
            let client = client.clone();
            let key = key.clone();
            async move { client.kv().get(&key, &o).await }
        })
    }

    /// Watches every entry under `prefix`, like [`Kv::watch`] for one key.
    pub fn watch_prefix(
        &self,
        prefix: &str,
        opts: QueryOptions,
    ) -> impl Stream<Item = Result<(Vec<KvPair>, QueryMeta)>> + Send + 'static {
        let client = self.client.clone();
        let prefix = prefix.to_owned();
        watch::watch(opts, move |o| {
            let client = client.clone();
            let prefix = prefix.clone();
            async move { client.kv().list(&prefix, &o).await }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_consul_kv_entry() {
        let json = r#"[{"LockIndex":1,"Key":"zip","Flags":42,"Value":"dGVzdA==",
            "Session":"adf4238a-882b-9ddc-4a9d-5b6758e4159e","CreateIndex":100,"ModifyIndex":200}]"#;
        let pairs: Vec<KvPair> = serde_json::from_str(json).expect("decodes");
        let p = &pairs[0];
        assert_eq!(p.key, "zip");
        assert_eq!(p.value_str(), Some("test"));
        assert_eq!(p.flags, 42);
        assert_eq!(
            p.session.as_deref(),
            Some("adf4238a-882b-9ddc-4a9d-5b6758e4159e")
        );
        assert_eq!(
            (p.lock_index, p.create_index, p.modify_index),
            (1, 100, 200)
        );
    }

    #[test]
    fn null_value_and_missing_session_decode_as_empty() {
        let json =
            r#"{"LockIndex":0,"Key":"k","Flags":0,"Value":null,"CreateIndex":5,"ModifyIndex":5}"#;
        let p: KvPair = serde_json::from_str(json).expect("decodes");
        assert!(p.value.is_empty());
        assert_eq!(p.session, None);
    }

    #[test]
    fn value_that_is_not_base64_is_a_decode_error() {
        let json = r#"{"Key":"k","Value":"***"}"#;
        assert!(serde_json::from_str::<KvPair>(json).is_err());
    }

    #[test]
    fn exclusive_put_options_are_refused() {
        let sid = "adf4238a-882b-9ddc-4a9d-5b6758e4159e";
        assert!(PutOptions::new().cas(1).acquire(sid).validate().is_err());
        assert!(
            PutOptions::new()
                .acquire(sid)
                .release(sid)
                .validate()
                .is_err()
        );
        assert!(PutOptions::new().acquire(sid).flags(3).validate().is_ok());
    }
}
