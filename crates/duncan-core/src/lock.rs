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
//! The key is written with flags 0, the value the Go tool's plain lock key had, so that a
//! leftover Go-tool lock key (which has no session) counts as free and is simply taken over.

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
    /// Nobody holds the key, but a lost session's lock-delay is still running.
    LockDelay,
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
    /// Reads a busy lock key.
    fn from_pair(target: &AppEnv, pair: Option<&KvPair>) -> LockHeld {
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

/// Formats a duration as `1h 2m 3s`, `4m 5s` or `6s`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, m, s) => format!("{h}h {m}m {s}s"),
    }
}

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
        let first = match request.seen_free_at {
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
            LockAttempt::Acquired(held) => return Ok(DeployLock::new(target, holder, held)),
            LockAttempt::Cancelled { cleaned_up } => return Err(interrupted(cleaned_up)),
            LockAttempt::Busy { holder } => LockHeld::from_pair(target, holder.as_ref()),
            other => return Err(unexpected_attempt(target, &other)),
        };
        let Some(wait) = request.wait else {
            return Err(LockError::Held(Box::new(busy)));
        };
        on_wait(&busy);
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
        }
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
    Ok(match pair {
        Some(p) if p.session.is_some() => {
            LockStatus::Held(Box::new(LockHeld::from_pair(target, Some(&p))))
        }
        _ => LockStatus::Free,
    })
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
        return Ok(None);
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
    Ok(Some(held))
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
