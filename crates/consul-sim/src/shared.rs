//! What the server tasks and the test's [`Control`](crate::Control) handle share.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::RecordedRequest;
use crate::acl::AclTable;
use crate::state::State;

/// Sim clock: real monotonic time plus an offset tests advance.
#[derive(Debug)]
pub(crate) struct SimClock {
    offset: Mutex<Duration>,
}

impl SimClock {
    fn new() -> Self {
        SimClock {
            offset: Mutex::new(Duration::ZERO),
        }
    }

    /// The current sim time.
    pub fn now(&self) -> Instant {
        Instant::now() + *lock(&self.offset)
    }

    fn advance(&self, d: Duration) {
        *lock(&self.offset) += d;
    }
}

/// Faults queued by the test.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    pub fail: Option<(usize, u16)>,
    /// `n`, status, and the text the path and query must contain.
    pub fail_matching: Option<(usize, u16, String)>,
    pub drop: usize,
    pub latency: Duration,
}

/// Locks a mutex, carrying on after a panic elsewhere: the sim's state stays usable for the
/// assertions of the test that is failing.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The server's shared state.
#[derive(Debug)]
pub(crate) struct Shared {
    pub state: Mutex<State>,
    /// Bumped after every change, so that blocking queries wake without polling.
    pub changes: watch::Sender<u64>,
    pub clock: SimClock,
    pub acl: Mutex<AclTable>,
    pub faults: Mutex<Faults>,
    pub paused: watch::Sender<bool>,
    pub log: Mutex<Vec<RecordedRequest>>,
    pub received: Mutex<usize>,
    /// Node name sessions default to.
    pub node: String,
}

impl Shared {
    pub fn new(acl: AclTable, node: String) -> Self {
        Shared {
            state: Mutex::new(State::booted()),
            changes: watch::channel(0).0,
            clock: SimClock::new(),
            acl: Mutex::new(acl),
            faults: Mutex::new(Faults::default()),
            paused: watch::channel(false).0,
            log: Mutex::new(Vec::new()),
            received: Mutex::new(0),
            node,
        }
    }

    /// Runs `f` on the state, then wakes every waiting query.
    pub fn write<R>(&self, f: impl FnOnce(&mut State, Instant) -> R) -> R {
        let now = self.clock.now();
        let out = {
            let mut state = lock(&self.state);
            f(&mut state, now)
        };
        self.notify();
        out
    }

    /// Runs `f` on the state without waking anyone.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&lock(&self.state))
    }

    pub fn notify(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Invalidates sessions whose TTL has run out on the sim clock.
    pub fn expire_sessions(&self) {
        let now = self.clock.now();
        let expired = lock(&self.state).expire_sessions(now);
        if expired > 0 {
            tracing::debug!(expired, "sessions expired");
            self.notify();
        }
    }

    pub fn advance_clock(&self, d: Duration) {
        self.clock.advance(d);
        self.expire_sessions();
    }
}
