//! The test controls of a running simulator.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::{DeploymentRecord, RecordedRequest, RequestStats, Shared, TaskOutcome, lock, model};

/// Handle for steering a running simulator from a test. Cheap to clone.
#[derive(Clone)]
pub struct Control {
    shared: Arc<Shared>,
}

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Control")
            .field("addr", &self.shared.addr)
            .finish_non_exhaustive()
    }
}

impl Control {
    pub(crate) fn new(shared: Arc<Shared>) -> Control {
        Control { shared }
    }

    /// Tasks of images matching `image_glob` launched from now on behave as `outcome`.
    pub fn set_rule(&self, image_glob: &str, outcome: TaskOutcome) {
        self.shared
            .mutate(|st| st.config.rules.push((image_glob.to_owned(), outcome)));
    }

    /// Tasks staged from now on run after `d`.
    pub fn set_task_start(&self, d: Duration) {
        self.shared.mutate(|st| st.config.task_start = d);
    }

    /// Simulated time runs `factor`× real time from now on (0 stops it).
    pub fn set_speed(&self, factor: f64) {
        self.shared.with_state(|_| ());
        self.shared.clock.set_speed(factor);
        self.shared.wake.notify_one();
    }

    /// Jumps simulated time forward by `d` now, running every transition on the way in order.
    pub fn advance_clock(&self, d: Duration) {
        self.shared.clock.advance(d);
        self.shared.mutate(|_| ());
    }

    /// The current simulated time since start.
    #[must_use]
    pub fn sim_time(&self) -> Duration {
        self.shared.clock.now().0
    }

    /// `false` makes every API call answer 503 and closes event streams, as during a leader
    /// election; `true` ends that.
    pub fn set_leader_available(&self, up: bool) {
        self.shared.leader.store(up, Ordering::SeqCst);
        if !up {
            self.shared.bus.drop_all();
        }
    }

    /// Makes every login token issued so far invalid, as when they expire: the next request
    /// with one is answered 401. Nothing happens without [`crate::SimOptions::login_public_key`].
    pub fn expire_login_tokens(&self) {
        if let Some(login) = &self.shared.auth.login {
            login.expire_tokens();
        }
    }

    /// Successful service-account logins so far.
    pub fn logins(&self) -> u64 {
        self.shared.auth.login.as_ref().map_or(0, |l| l.logins())
    }

    /// `true` makes every authenticated request answer 403 (an identity without rights).
    pub fn set_forbidden(&self, forbidden: bool) {
        self.shared.forbidden.store(forbidden, Ordering::SeqCst);
    }

    /// While `true`, `GET /v2/events` (without the DC/OS prefix) answers `302 Found` to the same
    /// stream under `/service/marathon`, as a Marathon that is not the leader redirects to it.
    pub fn redirect_event_stream(&self, redirect: bool) {
        self.shared
            .redirect_events
            .store(redirect, Ordering::SeqCst);
    }

    /// Delays every request by `d` of real time from now on (zero, the default, turns it off),
    /// as a network round trip of `d` would: a request is handled, and answered, `d` after it
    /// arrived. Every answer waits, `/ping` and errors included. An event stream waits `d`
    /// before it subscribes and sends its response head; its events then go out as they
    /// happen, undelayed. Requests already waiting keep the delay they started with.
    ///
    /// ```no_run
    /// # async fn demo(sim: &marathon_sim::MarathonSim) {
    /// use std::time::Duration;
    /// sim.control().set_latency(Duration::from_millis(20)); // each round trip 20 ms longer
    /// # }
    /// ```
    pub fn set_latency(&self, d: Duration) {
        *lock(&self.shared.latency) = d;
    }

    /// The delay [`Control::set_latency`] set.
    #[must_use]
    pub fn latency(&self) -> Duration {
        *lock(&self.shared.latency)
    }

    /// Closes every open event stream now.
    pub fn drop_event_streams(&self) {
        self.shared.bus.drop_all();
    }

    /// While `true`, event streams send nothing, not even keep-alives.
    pub fn stall_event_streams(&self, stalled: bool) {
        self.shared.bus.set_stalled(stalled);
    }

    /// How many event streams are open.
    #[must_use]
    pub fn event_stream_count(&self) -> usize {
        self.shared.bus.subscriber_count()
    }

    /// Every request answered since start (or the last [`Control::clear_requests`]).
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests)
            .iter()
            .map(|e| RecordedRequest {
                method: e.method.clone(),
                path_and_query: e.path_and_query.clone(),
                headers: e.headers.clone(),
                status: e.status,
                bytes_in: e.bytes_in,
                bytes_out: e.bytes_out.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Totals over [`Control::requests`].
    #[must_use]
    pub fn request_stats(&self) -> RequestStats {
        lock(&self.shared.requests)
            .iter()
            .fold(RequestStats::default(), |mut s, e| {
                s.count += 1;
                s.bytes_in += e.bytes_in;
                s.bytes_out += e.bytes_out.load(Ordering::Relaxed);
                s
            })
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    /// Every deployment started so far, oldest first.
    #[must_use]
    pub fn deployment_history(&self) -> Vec<DeploymentRecord> {
        self.shared.with_state(|st| st.history.clone())
    }

    /// Finishes a running deployment at once (its events go out now) when its tasks could
    /// become healthy; `false` when it is unknown, already over, or its images never get healthy.
    pub fn complete_deployment_now(&self, id: &str) -> bool {
        self.shared.mutate(|st| st.complete_now(id))
    }

    /// The Docker image an app runs now (its definition), if the app exists.
    #[must_use]
    pub fn app_image(&self, id: &str) -> Option<String> {
        self.shared
            .with_state(|st| st.apps.get(id).map(model::App::image))
    }
}
