//! SIGINT, SIGTERM and SIGHUP: one orderly interruption for every command that changes
//! something.
//!
//! The first signal cancels the operation's token; the operation then stops at its next safe
//! point, releases what it holds (the lock, its session) and reports what it left behind (see
//! `duncan_core::deploy::Interruption`). It is given [`CLEANUP_LIMIT`] for that. A second
//! signal, or the limit passing, stops at once with a message that says what may be left.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::failure::{ExitStatus, Failure};

/// How long an interrupted operation may take to clean up: a lock release and a session
/// destroy (a few requests, each with its timeout), a bounded look at Marathon, or the
/// retries of a success transaction that was already on its way.
pub const CLEANUP_LIMIT: Duration = Duration::from_secs(30);

/// Runs `work` to its end, cancelling `cancel` on the first SIGINT, SIGTERM or SIGHUP (and
/// calling `on_signal` then, to say so). `Err` when a second signal or [`CLEANUP_LIMIT`] cut
/// the clean-up short.
pub async fn run_to_end<T>(
    cancel: &CancellationToken,
    work: impl Future<Output = T>,
    on_signal: impl Fn(),
) -> Result<T, Failure> {
    let mut signals = Signals::new()?;
    tokio::pin!(work);
    tokio::select! {
        done = &mut work => return Ok(done),
        () = signals.next() => {}
    }
    cancel.cancel();
    on_signal();
    tokio::select! {
        done = &mut work => Ok(done),
        () = signals.next() => Err(cut_short("interrupted again")),
        () = tokio::time::sleep(CLEANUP_LIMIT) => Err(cut_short(&format!(
            "the clean-up took longer than {}s",
            CLEANUP_LIMIT.as_secs()
        ))),
    }
}

fn cut_short(why: &str) -> Failure {
    Failure::new(
        ExitStatus::Interrupted,
        format!(
            "{why}: stopped before cleaning up; a deploy lock this command held frees itself \
             when its session expires (within about a minute), and a Marathon deployment it \
             started goes on"
        ),
    )
    .hint("check with `duncan lock status` and `duncan status`")
}

/// The three signals that interrupt a command, as one stream.
struct Signals {
    #[cfg(unix)]
    streams: [tokio::signal::unix::Signal; 3],
}

impl Signals {
    #[cfg(unix)]
    fn new() -> Result<Signals, Failure> {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind: SignalKind| {
            signal(kind).map_err(|e| Failure::error(format!("cannot listen for signals: {e}")))
        };
        Ok(Signals {
            streams: [
                listen(SignalKind::interrupt())?,
                listen(SignalKind::terminate())?,
                listen(SignalKind::hangup())?,
            ],
        })
    }

    #[cfg(not(unix))]
    fn new() -> Result<Signals, Failure> {
        Ok(Signals {})
    }

    /// Resolves at the next signal.
    #[cfg(unix)]
    async fn next(&mut self) {
        let [interrupt, terminate, hangup] = &mut self.streams;
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
            _ = hangup.recv() => {}
        }
    }

    #[cfg(not(unix))]
    async fn next(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
