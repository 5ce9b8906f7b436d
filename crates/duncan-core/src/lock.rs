//! The deploy lock: one holder per app/env at a time, on `deploys/{app}/{env}/lock`.
//!
//! Built on consul-client's [`Lock`]: a Consul session (TTL 30 s, behaviour `release`,
//! lock-delay 15 s, named `duncan deploy {app}/{env} by {user}@{host}`) renewed every TTL/2 in
//! the background, an `acquire` of the key with a JSON [`LockHolder`] as its value, blocking
//! queries while waiting, and a monitor that reports the loss of the lock as soon as it is seen.
//!
//! Release paths: [`DeployLock::release`] releases the key and destroys the session;
//! [`DeployLock::finish_unlocked`] only destroys it, after a transaction unlocked the key. Dropping a
//! `DeployLock` without releasing it (an error path, a cancelled future, a panic unwinding) stops
//! the renewal and, when a Tokio runtime is running, spawns the same release + destroy in the
//! background; if the process dies instead, the session expires after 2×TTL at most and the lock
//! is free again after its lock-delay.
//!
//! The key is written with flags 0, the value the Go tool's plain lock key had. The Go tool's
//! lock is that key without a session, its value `user-YYYY-MM-DD-HH:MM:SS`, deleted when its
//! deploy succeeds (a failed deploy left it behind for good). During a migration both tools run,
//! so such a value younger than [`Settings::stale_lock_after`] (default 1 hour) is honoured as
//! held ([`HolderInfo::GoTool`]: "held by the Go tool: root since …", waited for with `--wait`);
//! an older one is probably left over by a failed deploy and is taken over, and `lock status`
//! calls it probably stale. The stamp is read as UTC (the Go tool wrote its host's local time).
//! The Go tool checks nothing before writing its key, so a Go deploy that starts in the round
//! trip between duncan's read and its acquire is not seen: honouring it is best effort.

use std::fmt;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use consul_client::{
    AcquireMode, Client, HeldLock, KvPair, Lock, LockAttempt, LockLost, LockOptions, PutOptions,
    QueryOptions, TxnOp,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::watch;

use crate::audit::{self, Event, EventKind};
use crate::names::{AppEnv, Deployer, Tag};
use crate::settings::Settings;

/// The TTL of the lock's session.
pub const SESSION_TTL: Duration = Duration::from_secs(30);

/// The lock-delay of the lock's session: after the session is lost, nobody can take the lock for
/// this long, so a deployer that lost its lock has time to notice before someone else starts.
pub const LOCK_DELAY: Duration = Duration::from_secs(15);

/// The flags on the lock key (0, as the Go tool's plain key).
pub(crate) const LOCK_FLAGS: u64 = 0;

/// Who holds the lock, stored as JSON on the lock key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// The user name.
    pub user: String,
    /// The host name.
    pub host: String,
    /// The duncan process id.
    pub pid: u32,
    /// The tag being deployed (`None` for operations without one, e.g. a scale).
    pub tag: Option<Tag>,
    /// When the lock was taken (UTC, RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// The holder's duncan version.
    pub duncan_version: String,
}

/// What the lock key says about who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HolderInfo {
    /// A duncan holder, from its JSON.
    Duncan(LockHolder),
    /// A value that is not duncan's JSON (e.g. the Go tool's `user-YYYY-MM-DD-HH:MM:SS`).
    Other {
        /// The value, shortened.
        raw: String,
    },
    /// The Go tool's plain lock (no session): `user-YYYY-MM-DD-HH:MM:SS`.
    GoTool {
        /// The user the Go tool recorded.
        user: String,
        /// When the Go tool took it (its stamp, read as UTC).
        since: OffsetDateTime,
    },
    /// Nobody holds the key, but a lost session's lock-delay is still running.
    LockDelay,
}

/// The Go tool's lock value `user-YYYY-MM-DD-HH:MM:SS`, parsed (`None`: not one).
pub fn parse_go_lock(value: &[u8]) -> Option<(String, OffsetDateTime)> {
    let text = std::str::from_utf8(value).ok()?.trim();
    // The stamp is the last 19 characters, after a '-'; the user may contain '-' itself.
    let split = text.len().checked_sub(20)?;
    let (user, stamp) = (text.get(..split)?, text.get(split..)?);
    let stamp = stamp.strip_prefix('-')?;
    let format = time::macros::format_description!("[year]-[month]-[day]-[hour]:[minute]:[second]");
    let at = time::PrimitiveDateTime::parse(stamp, format).ok()?;
    (!user.is_empty()).then(|| (user.to_owned(), at.assume_utc()))
}

/// A lock held by someone else: who, deploying what, since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHeld {
    /// The app/env.
    pub target: AppEnv,
    /// What the key says about the holder.
    pub holder: HolderInfo,
    /// The holder's session, when one holds the key.
    pub session: Option<String>,
    /// How long ago the holder took the lock, by this machine's clock, when known.
    pub age: Option<Duration>,
}

impl LockHeld {
    /// True when the lock has been held for longer than `limit` (a Go-tool lock that old is
    /// not honoured; a duncan one is only said to be probably stale).
    pub fn is_probably_stale(&self, limit: Duration) -> bool {
        self.age.is_some_and(|age| age > limit)
    }

    /// A Go-tool lock on the key (no session), whatever its age.
    pub(crate) fn go_tool(target: &AppEnv, pair: &KvPair) -> Option<LockHeld> {
        if pair.session.is_some() || pair.flags != LOCK_FLAGS {
            return None;
        }
        let (user, since) = parse_go_lock(&pair.value)?;
        Some(LockHeld {
            target: target.clone(),
            age: Duration::try_from(OffsetDateTime::now_utc() - since).ok(),
            holder: HolderInfo::GoTool { user, since },
            session: None,
        })
    }

    /// A Go-tool lock on the key younger than `limit`: honoured as held.
    pub(crate) fn fresh_go_tool(target: &AppEnv, pair: &KvPair, limit: Duration) -> Option<Self> {
        Self::go_tool(target, pair).filter(|held| !held.is_probably_stale(limit))
    }

    /// Reads a lock key held by a session.
    pub(crate) fn busy(target: &AppEnv, pair: &KvPair) -> LockHeld {
        Self::from_pair(target, Some(pair))
    }

    /// Reads a busy lock key.
    fn from_pair(target: &AppEnv, pair: Option<&KvPair>) -> LockHeld {
        if let Some(go) = pair.and_then(|p| Self::go_tool(target, p)) {
            return go;
        }
        let session = pair.and_then(|p| p.session.clone());
        let holder = match pair {
            Some(p) if session.is_some() => match serde_json::from_slice::<LockHolder>(&p.value) {
                Ok(h) => HolderInfo::Duncan(h),
                Err(_) => HolderInfo::Other {
                    raw: String::from_utf8_lossy(&p.value)
                        .chars()
                        .take(120)
                        .collect(),
                },
            },
            _ => HolderInfo::LockDelay,
        };
        let age = match &holder {
            HolderInfo::Duncan(h) => {
                let elapsed = OffsetDateTime::now_utc() - h.started_at;
                Duration::try_from(elapsed).ok()
            }
            _ => None,
        };
        LockHeld {
            target: target.clone(),
            holder,
            session,
            age,
        }
    }
}

use crate::hold::human;

impl fmt::Display for LockHeld {
    /// `alice@laptop (pid 42) deploying v2 since 2026-01-02T03:04:05Z (5m 3s ago)`, or a
    /// description of a foreign value or a running lock-delay.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.holder {
            HolderInfo::Duncan(h) => {
                write!(f, "{}@{} (pid {})", h.user, h.host, h.pid)?;
                match &h.tag {
                    Some(tag) => write!(f, " deploying {tag}")?,
                    None => f.write_str(" holding it")?,
                }
                let since = h
                    .started_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_else(|_| h.started_at.to_string());
                write!(f, " since {since}")?;
                if let Some(age) = self.age {
                    write!(f, " ({} ago)", human(age))?;
                }
                Ok(())
            }
            HolderInfo::GoTool { user, since } => {
                write!(
                    f,
                    "the Go tool: {user} since {}",
                    crate::hold::rfc3339(*since)
                )?;
                if let Some(age) = self.age {
                    write!(f, " ({} ago)", human(age))?;
                }
                Ok(())
            }
            HolderInfo::Other { raw } => write!(f, "a lock value not written by duncan ({raw:?})"),
            HolderInfo::LockDelay => f.write_str(
                "nobody (a lost holder's lock-delay is still running; try again in a few seconds)",
            ),
        }
    }
}

/// Errors of the deploy lock.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Someone else holds the lock (and it was not freed within the wait, if any).
    #[error("the deploy lock of {} is held by {}", .0.target, .0)]
    Held(Box<LockHeld>),
    /// The token may not write the lock key or create sessions.
    #[error("permission denied: the Consul token may not take the deploy lock of {target}")]
    PermissionDenied {
        /// The app/env.
        target: AppEnv,
        /// Consul's error.
        #[source]
        source: consul_client::Error,
    },
    /// Consul could not be reached or failed.
    #[error("Consul request for the deploy lock of {target} failed")]
    Consul {
        /// The app/env.
        target: AppEnv,
        /// Consul's error.
        #[source]
        source: consul_client::Error,
    },
    /// The holder record could not be encoded.
    #[error("could not encode the lock holder")]
    Encode {
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// Taking the lock was given up on [`LockRequest::cancel`]; the lock was not taken.
    #[error(
        "gave up taking the deploy lock of {target}{}",
        if *cleaned_up { "" } else { " (its session could not be destroyed: it expires by itself)" }
    )]
    Interrupted {
        /// The app/env.
        target: AppEnv,
        /// Whether the session created to take the lock is known to be destroyed.
        cleaned_up: bool,
    },
    /// The lock was forced free, but the audit event recording it could not be written.
    #[error(
        "the deploy lock of {target} was forced free, but the audit event could not be written"
    )]
    Audit {
        /// The app/env.
        target: AppEnv,
        /// The audit error.
        #[source]
        source: audit::AuditError,
    },
}

impl LockError {
    fn from_consul(target: &AppEnv, source: consul_client::Error) -> Self {
        if source.is_permission_denied() || matches!(source, consul_client::Error::AclNotFound) {
            LockError::PermissionDenied {
                target: target.clone(),
                source,
            }
        } else {
            LockError::Consul {
                target: target.clone(),
                source,
            }
        }
    }
}

/// What to lock and how.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LockRequest {
    /// The app/env.
    pub target: AppEnv,
    /// Who takes the lock.
    pub deployer: Deployer,
    /// The tag being deployed, recorded in the holder.
    pub tag: Option<Tag>,
    /// duncan's version, recorded in the holder.
    pub duncan_version: String,
    /// `None`: fail at once when the lock is held. `Some(d)`: wait up to `d` for it, with
    /// blocking queries (the holder's release hands the lock over at once).
    pub wait: Option<Duration>,
    /// The session TTL (default [`SESSION_TTL`]).
    pub session_ttl: Duration,
    /// The session lock-delay (default [`LOCK_DELAY`]).
    pub lock_delay: Duration,
    /// The lock key's `ModifyIndex` when it was last read free (0: missing), as in
    /// [`crate::release::ReleaseTags::lock_free_at`]: the lock is then taken in one guarded
    /// transaction, without reading the key first.
    pub seen_free_at: Option<u64>,
    /// KV reads sent in the transaction that takes the lock (see consul-client's
    /// `LockOptions::reads`); their results are [`DeployLock::acquired_reads`].
    pub reads: Vec<TxnOp>,
    /// Cancelled to give up taking the lock: the session created for it is destroyed and
    /// [`LockError::Interrupted`] returned.
    pub cancel: CancellationToken,
    /// A Go-tool lock younger than this is honoured as held (default
    /// [`Settings::stale_lock_after`]).
    pub stale_after: Duration,
}

impl LockRequest {
    /// A request by `settings.deployer` for `target`, to deploy `tag`, not waiting.
    pub fn new(target: AppEnv, settings: &Settings, tag: Option<Tag>) -> Self {
        LockRequest {
            target,
            deployer: settings.deployer.clone(),
            tag,
            duncan_version: settings.duncan_version.clone(),
            wait: None,
            session_ttl: SESSION_TTL,
            lock_delay: LOCK_DELAY,
            seen_free_at: None,
            reads: Vec::new(),
            cancel: CancellationToken::new(),
            stale_after: settings.stale_lock_after,
        }
    }

    /// Gives up taking the lock when `cancel` is cancelled (see [`LockRequest::cancel`]).
    #[must_use]
    pub fn cancel(mut self, cancel: CancellationToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// Reads `ops` in the transaction that takes the lock (see [`LockRequest::reads`]).
    #[must_use]
    pub fn reads(mut self, ops: Vec<TxnOp>) -> Self {
        self.reads = ops;
        self
    }

    /// Notes the lock key's `ModifyIndex` when it was last read free, so the first attempt is
    /// one guarded transaction (see consul-client's `LockOptions::seen_free_at`).
    #[must_use]
    pub fn seen_free_at(mut self, modify_index: Option<u64>) -> Self {
        self.seen_free_at = modify_index;
        self
    }

    /// Waits up to `wait` for a held lock (`None`: fail at once).
    #[must_use]
    pub fn wait(mut self, wait: Option<Duration>) -> Self {
        self.wait = wait;
        self
    }

    /// The session name: `duncan deploy {app}/{env} by {user}@{host}`.
    pub fn session_name(&self) -> String {
        format!("duncan deploy {} by {}", self.target, self.deployer)
    }
}

/// The deploy lock of one app/env, held. See the module documentation for its release paths.
#[derive(Debug)]
pub struct DeployLock {
    target: AppEnv,
    holder: LockHolder,
    held: HeldLock,
    took_over: Option<LockHeld>,
}

impl DeployLock {
    /// Takes the lock now, or within `request.wait`.
    ///
    /// # Errors
    ///
    /// [`LockError::Held`] naming the holder, its tag and since when; permission or Consul
    /// errors.
    pub async fn acquire(consul: &Client, request: &LockRequest) -> Result<DeployLock, LockError> {
        Self::acquire_reporting(consul, request, |_| {}).await
    }

    /// Like [`DeployLock::acquire`], and when the lock is held and the request waits, calls
    /// `on_wait` once with the current holder before waiting (to show "waiting for …").
    ///
    /// # Errors
    ///
    /// As [`DeployLock::acquire`].
    pub async fn acquire_reporting(
        consul: &Client,
        request: &LockRequest,
        on_wait: impl FnOnce(&LockHeld),
    ) -> Result<DeployLock, LockError> {
        let target = &request.target;
        let holder = LockHolder {
            user: request.deployer.user().to_owned(),
            host: request.deployer.host().to_owned(),
            pid: std::process::id(),
            tag: request.tag.clone(),
            started_at: OffsetDateTime::now_utc(),
            duncan_version: request.duncan_version.clone(),
        };
        let value = serde_json::to_vec(&holder).map_err(|source| LockError::Encode { source })?;
        // Without an earlier read, look for the Go tool's lock first (one read) and wait it out.
        let mut on_wait = Some(on_wait);
        let mut took_over = None;
        let mut seen_free_at = request.seen_free_at;
        if seen_free_at.is_none() {
            match wait_out_go_lock(consul, request, &mut on_wait).await? {
                GoLockSeen::None => {}
                GoLockSeen::Stale { held, modify_index } => {
                    took_over = Some(*held);
                    seen_free_at = Some(modify_index);
                }
            }
        }
        let opts = LockOptions::new(target.lock_key(), value)
            .flags(LOCK_FLAGS)
            .session_name(request.session_name())
            .session_ttl(request.session_ttl)
            .lock_delay(request.lock_delay)
            .renew_interval(request.session_ttl / 2)
            .reads(request.reads.clone());
        // Only the first attempt may rely on the earlier read; a wait starts from a fresh one.
        let waiting = Lock::new(consul.clone(), opts.clone())
            .map_err(|e| LockError::from_consul(target, e))?;
        let first = match seen_free_at {
            Some(index) => Lock::new(consul.clone(), opts.seen_free_at(index))
                .map_err(|e| LockError::from_consul(target, e))?,
            None => waiting.clone(),
        };
        let interrupted = |cleaned_up| LockError::Interrupted {
            target: target.clone(),
            cleaned_up,
        };
        let first = first
            .acquire_cancellable(AcquireMode::TryOnce, &request.cancel)
            .await
            .map_err(|e| LockError::from_consul(target, e))?;
        let busy = match first {
            LockAttempt::Acquired(held) => {
                return Ok(DeployLock::new(target, holder, held).took_over(took_over));
            }
            LockAttempt::Cancelled { cleaned_up } => return Err(interrupted(cleaned_up)),
            LockAttempt::Busy { holder } => LockHeld::from_pair(target, holder.as_ref()),
            other => return Err(unexpected_attempt(target, &other)),
        };
        let Some(wait) = request.wait else {
            return Err(LockError::Held(Box::new(busy)));
        };
        if let Some(on_wait) = on_wait.take() {
            on_wait(&busy);
        }
        match waiting
            .acquire_cancellable(AcquireMode::WaitUpTo(wait), &request.cancel)
            .await
            .map_err(|e| LockError::from_consul(target, e))?
        {
            LockAttempt::Acquired(held) => Ok(DeployLock::new(target, holder, held)),
            LockAttempt::Cancelled { cleaned_up } => Err(interrupted(cleaned_up)),
            LockAttempt::Busy { holder } => Err(LockError::Held(Box::new(LockHeld::from_pair(
                target,
                holder.as_ref(),
            )))),
            other => Err(unexpected_attempt(target, &other)),
        }
    }

    fn new(target: &AppEnv, holder: LockHolder, held: HeldLock) -> Self {
        DeployLock {
            target: target.clone(),
            holder,
            held,
            took_over: None,
        }
    }

    fn took_over(mut self, took_over: Option<LockHeld>) -> Self {
        self.took_over = took_over;
        self
    }

    /// The stale Go-tool lock this lock replaced, when it replaced one (worth a warning).
    pub fn replaced_go_lock(&self) -> Option<&LockHeld> {
        self.took_over.as_ref()
    }

    /// The app/env locked.
    pub fn target(&self) -> &AppEnv {
        &self.target
    }

    /// The holder record written on the key.
    pub fn holder(&self) -> &LockHolder {
        &self.holder
    }

    /// The id of the session holding the lock: the fenced success transaction checks it
    /// (`check-session`).
    pub fn session_id(&self) -> &str {
        self.held.session_id()
    }

    /// The results of [`LockRequest::reads`], read in the transaction that took the lock.
    pub fn acquired_reads(&self) -> &[KvPair] {
        self.held.acquired_reads()
    }

    /// Why the lock was lost, if it was.
    pub fn loss(&self) -> Option<LockLost> {
        self.held.loss()
    }

    /// A receiver that changes to `Some` when the lock is lost; select on it during a deploy.
    pub fn subscribe(&self) -> watch::Receiver<Option<LockLost>> {
        self.held.subscribe()
    }

    /// Resolves when the lock is lost (the session expired or was invalidated, the key was
    /// released or taken, or Consul could not be read for several attempts).
    pub async fn lost(&mut self) -> LockLost {
        self.held.lost().await
    }

    /// Releases the lock and destroys its session. Succeeds also when the lock was already
    /// lost or released by the success transaction's `unlock`.
    ///
    /// # Errors
    ///
    /// [`LockError::Consul`] when Consul could not be told; the session then expires after its
    /// TTL and the lock is free after the lock-delay.
    pub async fn release(self) -> Result<(), LockError> {
        let target = self.target;
        self.held
            .release()
            .await
            .map_err(|e| LockError::from_consul(&target, e))
    }

    /// Ends a lock whose key a committed transaction already unlocked with this lock's session
    /// (the success transaction's `unlock`): destroys the session only, without a release
    /// write that would change nothing.
    ///
    /// # Errors
    ///
    /// [`LockError::Consul`] when the session could not be destroyed; it then expires after its
    /// TTL (the key is free already).
    pub async fn finish_unlocked(self) -> Result<(), LockError> {
        let target = self.target;
        self.held
            .finish_unlocked()
            .await
            .map_err(|e| LockError::from_consul(&target, e))
    }
}

/// What [`wait_out_go_lock`] found on the key once no fresh Go-tool lock was left.
enum GoLockSeen {
    /// No Go-tool lock (free, or a session holds it: the usual acquire handles both).
    None,
    /// A Go-tool lock past the limit, to be taken over.
    Stale {
        /// It.
        held: Box<LockHeld>,
        /// The key's `ModifyIndex`, for the guarded acquire.
        modify_index: u64,
    },
}

/// Reads the lock key; while it holds a Go-tool lock younger than the request's limit, waits
/// for it to change (blocking queries, up to the request's wait) and fails with
/// [`LockError::Held`] when it does not go away in time (at once without a wait).
async fn wait_out_go_lock(
    consul: &Client,
    request: &LockRequest,
    on_wait: &mut Option<impl FnOnce(&LockHeld)>,
) -> Result<GoLockSeen, LockError> {
    let target = &request.target;
    let deadline = request.wait.map(|w| tokio::time::Instant::now() + w);
    let mut index = 0;
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(tokio::time::Instant::now()));
        let opts = match left {
            Some(left) if index > 0 => QueryOptions::new().blocking(index, left),
            _ => QueryOptions::consistent(),
        };
        let kv = consul.kv();
        let key = target.lock_key();
        let (pair, meta) = tokio::select! {
            read = kv.get(&key, &opts) => read.map_err(|e| LockError::from_consul(target, e))?,
            () = request.cancel.cancelled() => {
                return Err(LockError::Interrupted { target: target.clone(), cleaned_up: true });
            }
        };
        let Some(pair) = pair else {
            return Ok(GoLockSeen::None);
        };
        if let Some(held) = LockHeld::fresh_go_tool(target, &pair, request.stale_after) {
            match left {
                Some(left) if !left.is_zero() => {
                    if let Some(on_wait) = on_wait.take() {
                        on_wait(&held);
                    }
                    index = meta.index.max(1);
                    continue;
                }
                _ => return Err(LockError::Held(Box::new(held))),
            }
        }
        return Ok(match LockHeld::go_tool(target, &pair) {
            Some(held) => GoLockSeen::Stale {
                held: Box::new(held),
                modify_index: pair.modify_index,
            },
            None => GoLockSeen::None,
        });
    }
}

fn unexpected_attempt(target: &AppEnv, attempt: &LockAttempt) -> LockError {
    LockError::Consul {
        target: target.clone(),
        source: consul_client::Error::UnexpectedResponse {
            message: format!("unexpected lock attempt outcome: {attempt:?}"),
        },
    }
}

/// Whether the lock of an app/env is held.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LockStatus {
    /// Nobody holds it.
    Free,
    /// Someone holds it.
    Held(Box<LockHeld>),
}

/// Reads the lock key (consistently) and says who holds it.
///
/// # Errors
///
/// Permission or Consul errors.
pub async fn lock_status(consul: &Client, target: &AppEnv) -> Result<LockStatus, LockError> {
    let (pair, _) = consul
        .kv()
        .get(&target.lock_key(), &QueryOptions::consistent())
        .await
        .map_err(|e| LockError::from_consul(target, e))?;
    Ok(lock_status_of(target, pair.as_ref()))
}

/// What the lock key's pair (as read, `None` when it does not exist) says about the lock.
pub(crate) fn lock_status_of(target: &AppEnv, pair: Option<&KvPair>) -> LockStatus {
    match pair {
        Some(p) if p.session.is_some() => {
            LockStatus::Held(Box::new(LockHeld::from_pair(target, Some(p))))
        }
        // A Go-tool lock, fresh or not: the caller says whether it is probably stale.
        Some(p) => match LockHeld::go_tool(target, p) {
            Some(held) => LockStatus::Held(Box::new(held)),
            None => LockStatus::Free,
        },
        None => LockStatus::Free,
    }
}

/// For operators: frees the lock of `target` held by someone else, and records a
/// [`EventKind::LockForced`] audit event by `by`. Returns who held it (`None` when it was free and
/// nothing was done).
///
/// The key is released with the holder's session (so no lock-delay applies) and the holder's
/// session is destroyed, so its renewals fail and its fenced success transaction is refused: a
/// deployer still running notices the loss and cannot record tags.
///
/// # Errors
///
/// Permission or Consul errors; [`LockError::Audit`] when the lock was freed but the event could
/// not be written.
pub async fn force_release(
    consul: &Client,
    target: &AppEnv,
    by: &Deployer,
    audit_retention: usize,
) -> Result<Option<LockHeld>, LockError> {
    let (pair, _) = consul
        .kv()
        .get(&target.lock_key(), &QueryOptions::consistent())
        .await
        .map_err(|e| LockError::from_consul(target, e))?;
    let Some(pair) = pair else { return Ok(None) };
    let Some(session) = pair.session.clone() else {
        // The Go tool's lock has no session: delete it, unless it changed since the read.
        let Some(held) = LockHeld::go_tool(target, &pair) else {
            return Ok(None);
        };
        let deleted = consul
            .kv()
            .delete(
                &pair.key,
                &consul_client::DeleteOptions::new().cas(pair.modify_index),
            )
            .await
            .map_err(|e| LockError::from_consul(target, e))?;
        if !deleted {
            return Ok(None);
        }
        audit_forced(consul, target, by, &held, audit_retention).await?;
        return Ok(Some(held));
    };
    let held = LockHeld::from_pair(target, Some(&pair));
    let release = PutOptions::new().release(session.clone()).flags(pair.flags);
    consul
        .kv()
        .put(&pair.key, &pair.value, &release)
        .await
        .map_err(|e| LockError::from_consul(target, e))?;
    consul
        .session()
        .destroy(&session)
        .await
        .map_err(|e| LockError::from_consul(target, e))?;
    audit_forced(consul, target, by, &held, audit_retention).await?;
    Ok(Some(held))
}

/// Records that `by` forced the lock `held` free.
async fn audit_forced(
    consul: &Client,
    target: &AppEnv,
    by: &Deployer,
    held: &LockHeld,
    audit_retention: usize,
) -> Result<(), LockError> {
    let mut event = Event::new(target, by.clone(), EventKind::LockForced)
        .with_message(format!("the lock was held by {held}"));
    if let HolderInfo::Duncan(h) = &held.holder {
        event.tag = h.tag.clone();
    }
    audit::append(consul, &event, audit_retention)
        .await
        .map_err(|source| LockError::Audit {
            target: target.clone(),
            source,
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_durations_read_naturally() {
        assert_eq!(human(Duration::from_secs(5)), "5s");
        assert_eq!(human(Duration::from_secs(125)), "2m 5s");
        assert_eq!(human(Duration::from_secs(3725)), "1h 2m 5s");
    }

    #[test]
    fn go_tool_lock_values_are_parsed_with_dashes_in_the_user() {
        let (user, since) = parse_go_lock(b"ops-team-2017-01-02-03:04:05").unwrap();
        assert_eq!(user, "ops-team");
        assert_eq!(since, time::macros::datetime!(2017-01-02 03:04:05 UTC));
        assert_eq!(parse_go_lock(b"2017-01-02-03:04:05"), None);
        assert_eq!(parse_go_lock(b"bob-2017-13-02-03:04:05"), None);
        assert_eq!(parse_go_lock(br#"{"user":"bob"}"#), None);
    }

    #[test]
    fn a_go_tool_lock_is_fresh_until_the_limit_then_probably_stale() {
        let target = AppEnv::parse("web", "stage").unwrap();
        let stamp = |ago: time::Duration| {
            let at = OffsetDateTime::now_utc() - ago;
            let format =
                time::macros::format_description!("[year]-[month]-[day]-[hour]:[minute]:[second]");
            format!("root-{}", at.format(format).unwrap())
        };
        let pair = |value: String| {
            let mut pair: KvPair = serde_json::from_str(
                r#"{"Key":"deploys/web/stage/lock","Value":null,"Flags":0,"LockIndex":0,
                    "CreateIndex":1,"ModifyIndex":1}"#,
            )
            .unwrap();
            pair.value = value.into_bytes();
            pair
        };
        let limit = Duration::from_secs(3600);
        let fresh = pair(stamp(time::Duration::minutes(5)));
        let held = LockHeld::fresh_go_tool(&target, &fresh, limit).unwrap();
        assert!(
            held.to_string().starts_with("the Go tool: root since "),
            "{held}"
        );
        assert!(held.to_string().ends_with("(5m 0s ago)"), "{held}");
        let old = pair(stamp(time::Duration::hours(2)));
        assert_eq!(LockHeld::fresh_go_tool(&target, &old, limit), None);
        assert!(
            LockHeld::go_tool(&target, &old)
                .unwrap()
                .is_probably_stale(limit)
        );
    }

    #[test]
    fn foreign_lock_values_are_shown_not_parsed() {
        let target = AppEnv::parse("web", "stage").unwrap();
        let pair: KvPair = serde_json::from_str(
            r#"{"Key":"deploys/web/stage/lock","Value":"Ym9iLTIwMTctMDEtMDItMDM6MDQ6MDU=",
                "Session":"adf4238a-882b-9ddc-4a9d-5b6758e4159e","Flags":0,"LockIndex":1,
                "CreateIndex":1,"ModifyIndex":1}"#,
        )
        .unwrap();
        let held = LockHeld::from_pair(&target, Some(&pair));
        assert_eq!(
            held.to_string(),
            "a lock value not written by duncan (\"bob-2017-01-02-03:04:05\")"
        );
    }
}
