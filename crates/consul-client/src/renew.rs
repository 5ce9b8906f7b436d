//! A background task that keeps a TTL session alive and tells its owner when it is lost.

use std::fmt;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::Client;
use crate::error::Error;

/// Longest pause between renewal attempts after a failure.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Why a session kept by a [`SessionRenewer`] was lost.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionLost {
    /// Consul no longer knows the session: it expired, was destroyed, or was invalidated by
    /// a failing health check.
    Invalidated,
    /// Renewals kept failing for a full TTL, so the session must be assumed expired.
    Unreachable {
        /// The last renewal error.
        last_error: String,
    },
}

impl fmt::Display for SessionLost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalidated => f.write_str("Consul invalidated the session"),
            Self::Unreachable { last_error } => {
                write!(
                    f,
                    "the session could not be renewed for a full TTL: {last_error}"
                )
            }
        }
    }
}

/// Renews a TTL session in the background, every TTL/2 by default.
///
/// When a renewal fails it retries (about every second) until a full TTL has passed since
/// the last success; then, or as soon as Consul says the session is gone, it stops and
/// reports [`SessionLost`] to its owner. Dropping the renewer stops the task (the session is
/// then left to expire; destroy it first when done).
///
/// ```no_run
/// # async fn demo(client: consul_client::Client) -> Result<(), consul_client::Error> {
/// use std::time::Duration;
/// use consul_client::{SessionRenewer, SessionRequest};
///
/// let ttl = Duration::from_secs(30);
/// let id = client.session().create(&SessionRequest::new("worker").ttl(ttl)).await?;
/// let mut renewer = SessionRenewer::start(client.clone(), id.clone(), ttl);
/// tokio::select! {
///     lost = renewer.lost() => eprintln!("session lost: {lost}"),
///     _ = tokio::time::sleep(Duration::from_secs(60)) => {}
/// }
/// drop(renewer);
/// client.session().destroy(&id).await?;
/// # Ok(()) }
/// ```
pub struct SessionRenewer {
    session_id: String,
    lost: watch::Receiver<Option<SessionLost>>,
    task: JoinHandle<()>,
}

impl fmt::Debug for SessionRenewer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRenewer")
            .field("session_id", &self.session_id)
            .field("lost", &*self.lost.borrow())
            .finish()
    }
}

impl SessionRenewer {
    /// Starts renewing session `session_id`, whose TTL is `ttl`, every `ttl / 2`. Must be
    /// called within a Tokio runtime.
    pub fn start(client: Client, session_id: String, ttl: Duration) -> Self {
        Self::start_with_interval(client, session_id, ttl, ttl / 2)
    }

    /// Like [`SessionRenewer::start`], renewing every `interval` instead of `ttl / 2`
    /// (useful in tests, or to renew more often on a slow network).
    pub fn start_with_interval(
        client: Client,
        session_id: String,
        ttl: Duration,
        interval: Duration,
    ) -> Self {
        let (tx, rx) = watch::channel(None);
        let id = session_id.clone();
        let task = tokio::spawn(async move {
            let lost =
                renew_until_lost(&client, &id, ttl, interval.max(Duration::from_millis(1))).await;
            tracing::debug!(session = %id, reason = %lost, "session lost");
            // The owner may have dropped its receiver; then nobody needs to know.
            let _ = tx.send(Some(lost));
        });
        Self {
            session_id,
            lost: rx,
            task,
        }
    }

    /// The session being renewed.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// Why the session was lost, if it was.
    pub fn loss(&self) -> Option<SessionLost> {
        self.lost.borrow().clone()
    }

    /// A receiver that changes to `Some` when the session is lost, for use in `select!`
    /// loops or by other tasks.
    pub fn subscribe(&self) -> watch::Receiver<Option<SessionLost>> {
        self.lost.clone()
    }

    /// Waits until the session is lost.
    pub async fn lost(&mut self) -> SessionLost {
        match self.lost.wait_for(Option::is_some).await {
            Ok(v) => v.clone().unwrap_or(SessionLost::Invalidated),
            // The task ended without reporting (it panicked): treat it as lost.
            Err(_) => SessionLost::Unreachable {
                last_error: "the renewal task stopped".to_owned(),
            },
        }
    }
}

impl Drop for SessionRenewer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn renew_until_lost(
    client: &Client,
    id: &str,
    ttl: Duration,
    interval: Duration,
) -> SessionLost {
    let mut last_ok = Instant::now();
    let mut pause = interval;
    loop {
        tokio::time::sleep(pause).await;
        match client.session().renew(id).await {
            Ok(_) => {
                last_ok = Instant::now();
                pause = interval;
            }
            Err(Error::NotFound { .. }) => return SessionLost::Invalidated,
            Err(e) => {
                let since = last_ok.elapsed();
                if since >= ttl {
                    return SessionLost::Unreachable {
                        last_error: e.to_string(),
                    };
                }
                tracing::debug!(session = %id, error = %e, "session renewal failed; retrying");
                pause = RETRY_PAUSE.min(interval).min(ttl - since);
            }
        }
    }
}
