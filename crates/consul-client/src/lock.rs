//! A distributed lock on one KV key, in the pattern of the `Lock` of Consul's Go `api`
//! package: a session, an `acquire` write, blocking queries while waiting, and a monitor
//! that reports loss.

use std::fmt;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Client;
use crate::client::Retry;
use crate::error::{Error, Result};
use crate::kv::{KvPair, PutOptions};
use crate::query::{QueryOptions, next_index};
use crate::renew::{SessionLost, SessionRenewer};
use crate::session::{SessionBehavior, SessionRequest};
use crate::txn::TxnOp;
use crate::validate::{self, Empty};

/// The flags Consul's Go `api` Lock (and `consul lock`) store on lock keys. Using the same
/// value lets this lock and theirs recognise each other's keys.
pub const GO_API_LOCK_FLAGS: u64 = 0x2ddc_cbc0_58a5_0c18;

/// How long the monitor's blocking queries wait per round.
const MONITOR_WAIT: Duration = Duration::from_secs(60);

/// Options of a [`Lock`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct LockOptions {
    /// The key to lock.
    pub key: String,
    /// The value stored on the key while the lock is held (who holds it, since when…);
    /// readable by others with [`Lock::holder`].
    pub value: Vec<u8>,
    /// The flags stored on the key. A key that exists with other flags is not a lock of
    /// this kind and is refused with [`Error::LockConflict`](crate::Error::LockConflict). Default:
    /// [`GO_API_LOCK_FLAGS`].
    pub flags: u64,
    /// An existing session to lock with. When unset, each acquisition creates a session
    /// (and renews it, and destroys it on release).
    pub session: Option<String>,
    /// Name of the session created for the lock.
    pub session_name: String,
    /// TTL of the session created for the lock (10 s – 24 h).
    pub session_ttl: Duration,
    /// Lock-delay of the session created for the lock: after the session is lost, nobody
    /// can take the lock for this long.
    pub lock_delay: Duration,
    /// How often the created session is renewed (default: TTL / 2).
    pub renew_interval: Option<Duration>,
    /// How many consecutive failed reads the monitor tolerates before reporting the lock
    /// as lost.
    pub monitor_retries: u32,
    /// While waiting, how often to try again when the lock is free but still in its
    /// lock-delay (no write will end that, so a blocking query cannot be used).
    pub lock_delay_retry: Duration,
    /// The key's `ModifyIndex` when the caller last read it free (no session) with
    /// [`LockOptions::flags`], 0 when it did not exist. When set, the first attempt is one
    /// transaction that takes the lock only if the key is unchanged since (`check-index` or
    /// `check-not-exists`, then `lock`), so no read precedes it; when the key changed, the
    /// attempt goes on as without it.
    pub seen_free_at: Option<u64>,
    /// KV reads (`get`, `get-tree`, `check-*` operations) sent in the same transaction that
    /// takes the lock, so they show the state at the moment the lock became ours, without a
    /// round trip of their own. Their results are [`HeldLock::acquired_reads`]. When set, every
    /// acquisition is a transaction (`lock` followed by these) rather than a `PUT ?acquire=`.
    pub reads: Vec<TxnOp>,
}

impl LockOptions {
    /// Options to lock `key`, storing `value` on it while held.
    pub fn new(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
            flags: GO_API_LOCK_FLAGS,
            session: None,
            session_name: "consul-client lock".to_owned(),
            session_ttl: Duration::from_secs(15),
            lock_delay: Duration::from_secs(15),
            renew_interval: None,
            monitor_retries: 3,
            lock_delay_retry: Duration::from_secs(1),
            seen_free_at: None,
            reads: Vec::new(),
        }
    }

    /// Reads `ops` in the transaction that takes the lock. See [`LockOptions::reads`].
    pub fn reads(mut self, ops: Vec<TxnOp>) -> Self {
        self.reads = ops;
        self
    }

    /// Notes that the key was read free (no session) with these options' flags at
    /// `modify_index` (0: it did not exist), so the first attempt needs no read. See
    /// [`LockOptions::seen_free_at`].
    pub fn seen_free_at(mut self, modify_index: u64) -> Self {
        self.seen_free_at = Some(modify_index);
        self
    }

    /// Sets the flags stored on the key.
    pub fn flags(mut self, flags: u64) -> Self {
        self.flags = flags;
        self
    }

    /// Locks with an existing session instead of creating one per acquisition.
    pub fn session(mut self, session: impl Into<String>) -> Self {
        self.session = Some(session.into());
        self
    }

    /// Sets the name of the session created for the lock.
    pub fn session_name(mut self, name: impl Into<String>) -> Self {
        self.session_name = name.into();
        self
    }

    /// Sets the TTL of the session created for the lock.
    pub fn session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// Sets the lock-delay of the session created for the lock.
    pub fn lock_delay(mut self, delay: Duration) -> Self {
        self.lock_delay = delay;
        self
    }

    /// Sets how often the created session is renewed.
    pub fn renew_interval(mut self, interval: Duration) -> Self {
        self.renew_interval = Some(interval);
        self
    }

    /// Sets how often to retry while the lock is in its lock-delay.
    pub fn lock_delay_retry(mut self, interval: Duration) -> Self {
        self.lock_delay_retry = interval;
        self
    }
}

/// How long [`Lock::acquire`] may wait for a lock held by someone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcquireMode {
    /// One attempt: if the lock is held, report who holds it at once.
    TryOnce,
    /// Wait up to this long for the holder to let go, using blocking queries.
    WaitUpTo(Duration),
}

/// The outcome of [`Lock::acquire`].
#[derive(Debug)]
#[non_exhaustive]
pub enum LockAttempt {
    /// The lock is ours.
    Acquired(HeldLock),
    /// Someone else holds the lock (or it is free but still in its lock-delay).
    Busy {
        /// The lock key as it is now: its value names the holder, its `session` is the
        /// holder's session (`None` when the lock is free but in its lock-delay). `None`
        /// when the key does not exist.
        holder: Option<KvPair>,
    },
    /// The attempt was cancelled through its token ([`Lock::acquire_cancellable`]) before the
    /// lock was handed over: it is not ours.
    Cancelled {
        /// Whether Consul confirmed the clean-up: the session the attempt created was destroyed
        /// (which also releases the key, should an acquire still in flight have taken it), or,
        /// with the caller's own session ([`LockOptions::session`]), the key was released.
        /// When `false`, the created session is left to expire after its TTL.
        cleaned_up: bool,
    },
}

/// The outcome of one acquisition loop.
enum Try {
    /// Ours; with the key's `ModifyIndex` after the acquire when known (0 otherwise), where the
    /// monitor's first blocking query can start, and the results of [`LockOptions::reads`].
    Acquired(u64, Vec<KvPair>),
    Busy(Option<KvPair>),
}

/// Why a held lock was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockLost {
    /// The lock's session was lost.
    Session(SessionLost),
    /// The key is no longer held by our session: it was released, deleted, or taken by the
    /// session named here.
    KeyLost {
        /// The session holding the key now, if any.
        holder_session: Option<String>,
    },
    /// The monitor could not read the key for several attempts in a row; the lock may be
    /// held still, but nobody can tell.
    MonitorFailed {
        /// The last error.
        last_error: String,
    },
}

impl fmt::Display for LockLost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Session(lost) => write!(f, "lock lost: {lost}"),
            Self::KeyLost {
                holder_session: Some(s),
            } => {
                write!(f, "lock lost: the key is now held by session {s}")
            }
            Self::KeyLost {
                holder_session: None,
            } => f.write_str("lock lost: the key was released or deleted"),
            Self::MonitorFailed { last_error } => {
                write!(
                    f,
                    "lock state unknown: the key could not be read: {last_error}"
                )
            }
        }
    }
}

/// A lock on one KV key.
///
/// ```no_run
/// # async fn demo(client: consul_client::Client) -> Result<(), consul_client::Error> {
/// use std::time::Duration;
/// use consul_client::{AcquireMode, Lock, LockAttempt, LockOptions};
///
/// let lock = Lock::new(client, LockOptions::new("jobs/nightly/lock", b"worker-1".to_vec()))?;
/// match lock.acquire(AcquireMode::WaitUpTo(Duration::from_secs(30))).await? {
///     LockAttempt::Acquired(mut held) => {
///         tokio::select! {
///             lost = held.lost() => eprintln!("{lost}"),
///             _ = tokio::time::sleep(Duration::from_secs(5)) => {} // the guarded work
///         }
///         held.release().await?;
///     }
///     LockAttempt::Busy { holder } => {
///         let who = holder.as_ref().and_then(|p| p.value_str()).unwrap_or("nobody");
///         eprintln!("held by {who}");
///     }
///     _ => {}
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Lock {
    client: Client,
    opts: LockOptions,
}

impl Lock {
    /// A lock described by `opts`. The key and value are checked here; nothing is sent.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for an invalid key, a value over 512 KiB or a malformed session id.
    pub fn new(client: Client, opts: LockOptions) -> Result<Self> {
        validate::key(&opts.key, Empty::Refuse)?;
        validate::value(&opts.value)?;
        if let Some(session) = &opts.session {
            validate::uuid("session id", session)?;
        }
        Ok(Self { client, opts })
    }

    /// The lock's options.
    pub fn options(&self) -> &LockOptions {
        &self.opts
    }

    /// The key as it is now when a session holds it (its value names the holder), `None`
    /// when the lock is free.
    ///
    /// # Errors
    ///
    /// As [`Kv::get`](crate::Kv::get).
    pub async fn holder(&self) -> Result<Option<KvPair>> {
        let (pair, _) = self
            .client
            .kv()
            .get(&self.opts.key, &QueryOptions::consistent())
            .await?;
        Ok(pair.filter(|p| p.session.is_some()))
    }

    /// Tries to take the lock, once or waiting up to a bound.
    ///
    /// Without [`LockOptions::session`], a session is created first (TTL, lock-delay and
    /// behaviour `release`) and renewed while the lock is held; it is destroyed again when
    /// the lock is not obtained. While the lock is held by another session, the wait uses
    /// blocking queries, so it ends as soon as the holder lets go.
    ///
    /// The request that takes the lock (`PUT ?acquire=`, or the transaction with
    /// [`LockOptions::reads`]) is retried like a read on transport errors, 429 and 5xx: taking
    /// a lock again with the session that holds it changes nothing but the value, so a retry
    /// of one that was applied after all is harmless. Consul's `invalid session` answer is
    /// not retried.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping this future while it runs can leave the session it created
    /// behind (it expires only after its TTL, and until then may even hold the lock, when the
    /// acquiring request was in flight). To stop a wait, use [`Lock::acquire_cancellable`],
    /// which cleans up before it returns.
    ///
    /// # Errors
    ///
    /// Any error of the requests it sends: creating the session, reading the key, taking it
    /// ([`Error::InvalidSession`](crate::Error::InvalidSession) when [`LockOptions::session`] is not valid); and
    /// [`Error::LockConflict`](crate::Error::LockConflict) when the key exists with other flags than
    /// [`LockOptions::flags`].
    pub async fn acquire(&self, mode: AcquireMode) -> Result<LockAttempt> {
        self.acquire_cancellable(mode, &CancellationToken::new())
            .await
    }

    /// Like [`Lock::acquire`], but stops as soon as `cancel` is cancelled, at any point of the
    /// attempt, and then answers [`LockAttempt::Cancelled`] after cleaning up.
    ///
    /// # Cancel safety
    ///
    /// Cancellation is cooperative: cancel the token, then await this future to its end; the
    /// clean-up is part of it. On cancellation:
    ///
    /// - before anything was sent: nothing is sent;
    /// - while the session is being created: the create request is awaited (bounded by the
    ///   request timeout; abandoning it could leave a session nobody knows of), then the
    ///   session is destroyed;
    /// - while waiting in a blocking query, or while the acquiring request is in flight: the
    ///   request is abandoned and the session the attempt created is destroyed. Destroying it
    ///   also releases the key if the abandoned acquire was applied after all, and an acquire
    ///   applied after the destroy fails (Consul refuses an invalid session), so the key is
    ///   never left held;
    /// - with the caller's own [`LockOptions::session`], which the lock must not destroy, the
    ///   key is released with that session instead (`PUT ?release=`). An acquire still in
    ///   flight may land after that release: a caller that cancels should destroy its session
    ///   or release the key again when it is done with it.
    ///
    /// The clean-up request waits at most the client's request timeout; whether Consul
    /// confirmed it is in [`LockAttempt::Cancelled::cleaned_up`]. A lock already handed over
    /// (the future returned [`LockAttempt::Acquired`]) is the caller's to release.
    ///
    /// Dropping this future instead of cancelling the token is as unsafe as dropping
    /// [`Lock::acquire`].
    ///
    /// ```no_run
    /// # async fn demo(client: consul_client::Client) -> Result<(), consul_client::Error> {
    /// use std::time::Duration;
    /// use consul_client::{AcquireMode, Lock, LockAttempt, LockOptions};
    /// use tokio_util::sync::CancellationToken;
    ///
    /// let lock = Lock::new(client, LockOptions::new("jobs/nightly/lock", b"worker-1".to_vec()))?;
    /// let cancel = CancellationToken::new();
    /// let on_ctrl_c = cancel.clone();
    /// tokio::spawn(async move {
    ///     let _ = tokio::signal::ctrl_c().await;
    ///     on_ctrl_c.cancel();
    /// });
    /// match lock.acquire_cancellable(AcquireMode::WaitUpTo(Duration::from_secs(600)), &cancel).await? {
    ///     LockAttempt::Acquired(held) => held.release().await?,
    ///     LockAttempt::Cancelled { cleaned_up } => eprintln!("cancelled (cleaned up: {cleaned_up})"),
    ///     _ => eprintln!("busy"),
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Lock::acquire`]. A cancellation is not an error.
    pub async fn acquire_cancellable(
        &self,
        mode: AcquireMode,
        cancel: &CancellationToken,
    ) -> Result<LockAttempt> {
        if cancel.is_cancelled() {
            return Ok(LockAttempt::Cancelled { cleaned_up: true });
        }
        let (session, renewer) = match &self.opts.session {
            Some(s) => (s.clone(), None),
            None => {
                // Not raced with `cancel`: an abandoned create may still make a session, whose
                // id nobody would know. The request timeout bounds it.
                let id = self.create_session().await?;
                if cancel.is_cancelled() {
                    let cleaned_up = self.destroy_bounded(&id).await;
                    return Ok(LockAttempt::Cancelled { cleaned_up });
                }
                // Renew from the start: a long wait must not let the session expire.
                let interval = self
                    .opts
                    .renew_interval
                    .unwrap_or(self.opts.session_ttl / 2);
                let renewer = SessionRenewer::start_with_interval(
                    self.client.clone(),
                    id.clone(),
                    self.opts.session_ttl,
                    interval,
                );
                (id, Some(renewer))
            }
        };
        let attempt = tokio::select! {
            // A cancellation seen together with an outcome wins: the caller asked to stop.
            biased;
            () = cancel.cancelled() => None,
            attempt = self.try_acquire(&session, mode) => Some(attempt),
        };
        let outcome = match attempt {
            Some(Ok(Try::Acquired(index, reads))) => {
                return Ok(LockAttempt::Acquired(
                    self.hold(session, renewer, index, reads),
                ));
            }
            Some(Ok(Try::Busy(holder))) => Ok(LockAttempt::Busy { holder }),
            Some(Err(e)) => Err(e),
            None => Ok(LockAttempt::Cancelled { cleaned_up: false }),
        };
        let cancelled = matches!(outcome, Ok(LockAttempt::Cancelled { .. }));
        // Not obtained: the session created for this attempt has no further use.
        let cleaned_up = if let Some(renewer) = renewer {
            drop(renewer);
            self.destroy_bounded(&session).await
        } else if cancelled {
            // The caller's session: an abandoned acquire may have taken the key with it.
            self.release_bounded(&session).await
        } else {
            true
        };
        match outcome {
            Ok(LockAttempt::Cancelled { .. }) => Ok(LockAttempt::Cancelled { cleaned_up }),
            other => other,
        }
    }

    async fn create_session(&self) -> Result<String> {
        let req = SessionRequest::new(self.opts.session_name.clone())
            .ttl(self.opts.session_ttl)
            .lock_delay(self.opts.lock_delay)
            .behavior(SessionBehavior::Release);
        self.client.session().create(&req).await
    }

    /// Destroys a session the lock created, waiting at most the request timeout. Returns
    /// whether Consul confirmed it.
    async fn destroy_bounded(&self, session: &str) -> bool {
        let sessions = self.client.session();
        let destroy = sessions.destroy(session);
        match tokio::time::timeout(self.client.request_timeout(), destroy).await {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => {
                tracing::debug!(session, error = %e, "could not destroy the lock's session");
                false
            }
            Err(_) => {
                tracing::debug!(session, "destroying the lock's session timed out");
                false
            }
        }
    }

    /// Releases the key with the caller's session, waiting at most the request timeout.
    /// Returns whether Consul answered (a `false` answer means the key was not held by it).
    async fn release_bounded(&self, session: &str) -> bool {
        let put = PutOptions::new().release(session).flags(self.opts.flags);
        let kv = self.client.kv();
        let release = kv.put(&self.opts.key, &self.opts.value, &put);
        match tokio::time::timeout(self.client.request_timeout(), release).await {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => {
                tracing::debug!(session, error = %e, "could not release the lock key");
                false
            }
            Err(_) => false,
        }
    }

    async fn try_acquire(&self, session: &str, mode: AcquireMode) -> Result<Try> {
        let kv = self.client.kv();
        let key = &self.opts.key;
        let deadline = match mode {
            AcquireMode::TryOnce => None,
            // A wait too long to represent is, for all purposes, a wait without end.
            AcquireMode::WaitUpTo(d) => Some(
                Instant::now()
                    .checked_add(d)
                    .unwrap_or_else(|| Instant::now() + Duration::from_secs(30 * 365 * 86_400)),
            ),
        };
        let remaining = || {
            deadline
                .map(|d| d.saturating_duration_since(Instant::now()))
                .unwrap_or_default()
        };
        // Below this, a blocking query is pointless; report the holder instead.
        let out_of_time = |left: Duration| left < Duration::from_millis(10);
        if let Some(seen) = self.opts.seen_free_at
            && let Some((index, reads)) = self.acquire_if_unchanged(session, seen).await?
        {
            return Ok(Try::Acquired(index, reads));
        }
        let mut index = 0;
        let mut refused_while_free = false;
        loop {
            let opts = if index > 0 {
                QueryOptions::new().blocking(index, remaining())
            } else {
                QueryOptions::new()
            };
            let (pair, meta) = kv.get(key, &opts).await?;
            if let Some(p) = &pair
                && p.flags != self.opts.flags
            {
                return Err(Error::LockConflict {
                    key: key.clone(),
                    flags: p.flags,
                });
            }
            let held_by_other = pair
                .as_ref()
                .and_then(|p| p.session.as_deref())
                .is_some_and(|s| s != session);
            if held_by_other {
                if out_of_time(remaining()) {
                    return Ok(Try::Busy(pair));
                }
                // Block until the key changes (or the wait ends).
                index = next_index(index, meta.index);
                continue;
            }
            if let Some(acquired) = self.acquire_now(session).await? {
                return Ok(acquired);
            }
            // Refused although it looked free: someone was faster, or the lock-delay of a
            // lost session is running.
            let (pair, meta) = kv.get(key, &QueryOptions::new()).await?;
            if out_of_time(remaining()) {
                return Ok(Try::Busy(pair));
            }
            if pair.as_ref().is_some_and(|p| p.session.is_some()) {
                refused_while_free = false;
                index = next_index(0, meta.index);
            } else if !refused_while_free {
                // Free now: whoever beat us may have let go already. Try again at once; only a
                // second refusal of a free key means a lock-delay.
                refused_while_free = true;
                index = 0;
            } else {
                // Lock-delay: no write will signal its end, so pause instead of blocking.
                tokio::time::sleep(self.opts.lock_delay_retry.min(remaining())).await;
                index = 0;
            }
        }
    }

    /// Takes the lock if it is free: `PUT ?acquire=`, or, with [`LockOptions::reads`], one
    /// transaction of `lock` and the reads. `None` when Consul refused (held, or lock-delay).
    async fn acquire_now(&self, session: &str) -> Result<Option<Try>> {
        let key = &self.opts.key;
        if self.opts.reads.is_empty() {
            let put = PutOptions::new().acquire(session).flags(self.opts.flags);
            // Retried like a read: an acquire by the session that holds the key already only
            // sets the value again (LockIndex kept). Consul's `invalid session` is not retried.
            let taken = self
                .client
                .kv()
                .put_retried(key, &self.opts.value, &put, Retry::Idempotent)
                .await?;
            return Ok(taken.then(|| Try::Acquired(0, Vec::new())));
        }
        let mut ops = vec![
            TxnOp::lock(key.clone(), self.opts.value.clone(), session).with_flags(self.opts.flags),
        ];
        ops.extend(self.opts.reads.iter().cloned());
        // Retried like a read, as the `PUT ?acquire=` above: `lock` by the holding session and
        // the reads after it have the same effect however often they are applied.
        match self.client.idempotent_txn(&ops).await {
            Ok(done) => {
                let (index, reads) = split_acquired(done.results, 0);
                Ok(Some(Try::Acquired(index, reads)))
            }
            // Our session is gone: no retry or wait can change that.
            Err(Error::TxnRolledBack { errors })
                if errors.iter().any(|e| e.what.contains("invalid session")) =>
            {
                let message = errors
                    .into_iter()
                    .find(|e| e.what.contains("invalid session"))
                    .map(|e| e.what)
                    .unwrap_or_default();
                Err(Error::InvalidSession { message })
            }
            // Only the `lock` failed: refused, as a `PUT ?acquire=` answering `false`.
            Err(Error::TxnRolledBack { errors })
                if !errors.is_empty()
                    && errors
                        .iter()
                        .all(|e| e.op_index == 0 && !e.is_permission_denied()) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// One transaction: take the lock only if the key is as the caller last saw it (free, with
    /// our flags, at `seen`), with [`LockOptions::reads`]. Returns the key's new `ModifyIndex`
    /// and the reads' results when the lock is ours. Any failure (the key changed, lock-delay,
    /// an error other than [`Error::NotConsul`](crate::Error::NotConsul)) returns `None`: the caller then reads and acquires as usual, which also covers
    /// a transaction applied although its answer was lost (our own session holding the key may
    /// acquire it again).
    async fn acquire_if_unchanged(
        &self,
        session: &str,
        seen: u64,
    ) -> Result<Option<(u64, Vec<KvPair>)>> {
        let key = &self.opts.key;
        // `check-index` answers with the entry it checked; `check-not-exists` with nothing.
        let (guard, lock_result) = if seen == 0 {
            (TxnOp::check_not_exists(key.clone()), 0)
        } else {
            (TxnOp::check_index(key.clone(), seen), 1)
        };
        let mut ops = vec![
            guard,
            TxnOp::lock(key.clone(), self.opts.value.clone(), session).with_flags(self.opts.flags),
        ];
        ops.extend(self.opts.reads.iter().cloned());
        match self.client.txn(&ops).await {
            Ok(done) => Ok(Some(split_acquired(done.results, lock_result))),
            // Not Consul: reading and acquiring as usual would only be misled further.
            Err(e @ Error::NotConsul { .. }) => Err(e),
            Err(e) => {
                tracing::debug!(key, error = %e, "guarded acquire refused; reading the key");
                Ok(None)
            }
        }
    }

    fn hold(
        &self,
        session: String,
        renewer: Option<SessionRenewer>,
        start: u64,
        reads: Vec<KvPair>,
    ) -> HeldLock {
        let owned = renewer.is_some();
        let (tx, rx) = watch::channel(None);
        let monitor = tokio::spawn(monitor(
            self.client.clone(),
            self.opts.key.clone(),
            start,
            session.clone(),
            renewer.as_ref().map(SessionRenewer::subscribe),
            self.opts.monitor_retries,
            tx,
        ));
        HeldLock {
            client: self.client.clone(),
            key: self.opts.key.clone(),
            value: self.opts.value.clone(),
            flags: self.opts.flags,
            session,
            owns_session: owned,
            renewer,
            monitor: Some(monitor),
            lost: rx,
            reads,
        }
    }
}

/// Watches the lock key (and the session renewer) until the lock is lost.
async fn monitor(
    client: Client,
    key: String,
    start: u64,
    session: String,
    mut renewer: Option<watch::Receiver<Option<SessionLost>>>,
    retries: u32,
    tx: watch::Sender<Option<LockLost>>,
) {
    // Blocking from the acquire's index when known: the key is ours at that index.
    let mut index = start;
    let mut failures = 0u32;
    let lost = loop {
        let opts = if index > 0 {
            QueryOptions::new().blocking(index, MONITOR_WAIT)
        } else {
            QueryOptions::new()
        };
        let kv = client.kv();
        let read = kv.get(&key, &opts);
        let session_lost = async {
            match renewer.as_mut() {
                Some(rx) => {
                    let seen = rx.wait_for(Option::is_some).await.map(|v| v.clone());
                    match seen {
                        Ok(v) => v,
                        // The renewer is gone (the lock is being released): nothing to report.
                        Err(_) => std::future::pending().await,
                    }
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            lost = session_lost => {
                if let Some(lost) = lost {
                    break LockLost::Session(lost);
                }
            }
            read = read => match read {
                Ok((Some(p), meta)) if p.session.as_deref() == Some(session.as_str()) => {
                    failures = 0;
                    index = next_index(index, meta.index);
                }
                Ok((pair, _)) => {
                    break LockLost::KeyLost { holder_session: pair.and_then(|p| p.session) };
                }
                Err(e) => {
                    failures += 1;
                    if failures > retries {
                        break LockLost::MonitorFailed { last_error: e.to_string() };
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    };
    tracing::debug!(key, reason = %lost, "lock lost");
    // The owner may be gone already; then nobody needs to know.
    let _ = tx.send(Some(lost));
}

/// A lock that is held. Release it with [`HeldLock::release`].
///
/// While held, its session is renewed (when the lock created it) and its key is monitored;
/// [`HeldLock::lost`] resolves as soon as either reports a loss. Dropping a held lock without
/// releasing it stops the renewal and, inside a Tokio runtime, releases the key and destroys
/// the session in a background task (best effort; the session's TTL is the backstop).
///
/// # Cancel safety
///
/// Dropping a `HeldLock` only starts a best-effort release in the background: nobody learns
/// whether it worked, and it never runs when the runtime is shutting down (or outside one).
/// Call [`HeldLock::release`] and await it; dropping *that* future part-way starts no clean-up
/// at all (the key may then stay held until the session's TTL ends).
/// [`HeldLock::lost`] is cancel safe: dropping it loses nothing.
pub struct HeldLock {
    client: Client,
    key: String,
    value: Vec<u8>,
    flags: u64,
    session: String,
    owns_session: bool,
    renewer: Option<SessionRenewer>,
    monitor: Option<JoinHandle<()>>,
    lost: watch::Receiver<Option<LockLost>>,
    reads: Vec<KvPair>,
}

/// Splits the results of an acquiring transaction: the entry at `lock_result` is the `lock`'s
/// (its `ModifyIndex` is where the monitor starts), everything after it the reads'.
fn split_acquired(mut results: Vec<KvPair>, lock_result: usize) -> (u64, Vec<KvPair>) {
    if lock_result >= results.len() {
        // Consul always answers a committed `lock` with its entry; without one, start the
        // monitor from a fresh read.
        return (0, Vec::new());
    }
    let reads = results.split_off(lock_result + 1);
    let index = results.last().map_or(0, |p| p.modify_index);
    (index, reads)
}

impl fmt::Debug for HeldLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeldLock")
            .field("key", &self.key)
            .field("session", &self.session)
            .field("owns_session", &self.owns_session)
            .field("lost", &*self.lost.borrow())
            .finish_non_exhaustive()
    }
}

impl HeldLock {
    /// The locked key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The session holding the lock; use it to fence writes (`TxnOp::check_session`).
    pub fn session_id(&self) -> &str {
        &self.session
    }

    /// The results of [`LockOptions::reads`], read in the transaction that took the lock (in
    /// operation order, as [`TxnResponse::results`](crate::TxnResponse::results)); empty when no
    /// reads were asked for.
    pub fn acquired_reads(&self) -> &[KvPair] {
        &self.reads
    }

    /// Why the lock was lost, if it was.
    pub fn loss(&self) -> Option<LockLost> {
        self.lost.borrow().clone()
    }

    /// A receiver that changes to `Some` when the lock is lost.
    pub fn subscribe(&self) -> watch::Receiver<Option<LockLost>> {
        self.lost.clone()
    }

    /// Waits until the lock is lost.
    pub async fn lost(&mut self) -> LockLost {
        match self.lost.wait_for(Option::is_some).await {
            Ok(v) => v.clone().unwrap_or(LockLost::KeyLost {
                holder_session: None,
            }),
            Err(_) => LockLost::MonitorFailed {
                last_error: "the lock monitor stopped".to_owned(),
            },
        }
    }

    /// Releases the lock (the key keeps its value, without a session) and destroys the
    /// session when the lock created it. Succeeds also when the lock was already lost.
    ///
    /// # Errors
    ///
    /// The error of the release write or of the session destroy (the destroy is attempted even when
    /// the release failed, and releases the key too).
    pub async fn release(mut self) -> Result<()> {
        self.stop_background();
        let (client, key, value, flags, session, owns) = self.take_parts();
        release_parts(&client, &key, &value, flags, &session, owns).await
    }

    /// Finishes with a lock whose key a transaction already unlocked (a `TxnOp::unlock` with
    /// this session committed): only destroys the session when the lock created it, saving the
    /// release write that would change nothing.
    ///
    /// Use [`HeldLock::release`] when unsure: if the key is still held, destroying the session
    /// releases it too, but the session's lock-delay then applies to the next holder.
    ///
    /// # Errors
    ///
    /// The error of the session destroy; the session then expires after its TTL.
    pub async fn finish_unlocked(mut self) -> Result<()> {
        self.stop_background();
        let (client, _key, _value, _flags, session, owns) = self.take_parts();
        if owns {
            client.session().destroy(&session).await?;
        }
        Ok(())
    }

    fn stop_background(&mut self) {
        if let Some(monitor) = self.monitor.take() {
            monitor.abort();
        }
        self.renewer = None;
    }

    fn take_parts(&mut self) -> (Client, String, Vec<u8>, u64, String, bool) {
        let owns = std::mem::replace(&mut self.owns_session, false);
        let session = std::mem::take(&mut self.session);
        (
            self.client.clone(),
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.value),
            self.flags,
            session,
            owns,
        )
    }
}

async fn release_parts(
    client: &Client,
    key: &str,
    value: &[u8],
    flags: u64,
    session: &str,
    owns: bool,
) -> Result<()> {
    let put = PutOptions::new().release(session).flags(flags);
    let released = client.kv().put(key, value, &put).await;
    if owns {
        // Destroying the session releases the key too, so do it even if the release failed.
        let destroyed = client.session().destroy(session).await;
        released?;
        destroyed?;
        return Ok(());
    }
    released.map(|_| ())
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        self.stop_background();
        if self.session.is_empty() {
            return; // Released already.
        }
        let (client, key, value, flags, session, owns) = self.take_parts();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Err(e) = release_parts(&client, &key, &value, flags, &session, owns).await {
                    tracing::debug!(key, error = %e, "could not release a dropped lock");
                }
            });
        }
    }
}
