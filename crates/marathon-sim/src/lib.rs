//! A server that answers Marathon's REST API and simulates deployments over time, for tests.
//!
//! `marathon-sim` answers as **Marathon 1.6.322** (`/v2/info` says so): its REST API v2 —
//! groups, apps, deployments and the server-sent event stream — at `/` and under DC/OS's
//! `/service/marathon`. Apps are written as a real 1.5+ writes them
//! (`fixtures/marathon/real-groups/`): every field of `AppDefinition` with its default
//! (`labels`, `constraints`, `portDefinitions`, `requirePorts`, `networks`, `executor`, `gpus`,
//! `killSelection`, `unreachableStrategy`, `upgradeStrategy`, backoff, …), container and
//! health-check defaults filled in, empty optional fields (`env`, `cmd`, `args`, `uris`,
//! `fetch`, `dependencies`, `healthChecks`, …) left out, whole numbers as integers. Service
//! ports `0` are assigned from 10000 up (an app keeps the ports it had), an app without ports
//! on the host network gets Marathon's default port definition, and tasks carry `servicePorts`. Deployments are built
//! from the change a `PUT` makes and advance over *simulated* time as tasks start and pass or
//! fail health checks, with the events Marathon emits, in its order and wire format. How tasks of
//! an image behave is set by rules on the image (see [`TaskOutcome`]).
//!
//! # What it answers
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /ping` | `pong` (no auth, also while there is no leader) |
//! | `GET /v2/info`, `GET /v2/leader` | Marathon 1.6's info (`http_config`, `marathon_config`, `zookeeper_config`, `event_subscriber: null`); this server as leader |
//! | `DELETE /v2/leader` | `{"message": "Leadership abdicated"}`; the one node leads again at once |
//! | `GET /v2/queue`, `DELETE /v2/queue/{appId}/delay` | `{"queue": […]}`: an entry per app with fewer tasks than instances (`count`, `delay: {timeLeftSeconds, overdue}` from its launch backoff, `app`; no `since` or offer summaries); resetting the delay launches its tasks now (204; unknown app: 404) |
//! | `GET /v2/groups[/{id}]` | the group; no `embed` means `group.groups` + `group.apps`, any `embed` replaces that set (`group.apps.counts`, `.tasks`, `.deployments`, `.lastTaskFailure`) |
//! | `GET /v2/groups/{id}/versions` | stored versions, newest first |
//! | `PUT /v2/groups/{id}` with `{"scaleBy": f}` | every app of the group at `ceil(instances × f)` |
//! | `PUT /v2/groups[/{id}]` (`force`, `dryRun`), `POST /v2/groups` | `{"version","deploymentId"}` + `Marathon-Deployment-Id`; `apps` (and `groups`) are the complete set, unchanged apps keep their version, unknown fields are kept; a `version` in the body rolls the group back to that version and ignores the rest, as Marathon does; `dryRun` answers `{"steps":[…]}` |
//! | `DELETE /v2/groups/{id}` | stops its apps |
//! | `GET /v2/apps` (`embed=apps.tasks`, …; `id` case-insensitive substring, `cmd` substring, `label` selector), `GET /v2/apps/{id}`, `GET /v2/apps/{id}/tasks` | counts and deployments always; one app also has its tasks (with `healthCheckResults`) and `lastTaskFailure` |
//! | `GET /v2/tasks` (`status=running`, `staging`, repeatable) | `{"tasks": […]}`, every app's tasks, each with its `appId` |
//! | `POST /v2/apps/{id}/restart` (`force`) | `{"version","deploymentId"}` + `Marathon-Deployment-Id`: the same definition at a new version, every task replaced by a rolling restart; unknown app: 404 |
//! | `PUT /v2/apps/{id}` (`force`, `partialUpdate`, default `true`), `PATCH /v2/apps/{id}`, `POST /v2/apps`, `DELETE /v2/apps/{id}` | PUT: 201 when created, else 200 with the deployment; PATCH never creates (404); POST: 201 with zero counts, `tasks: []` and its deployment |
//! | `GET /v2/apps/{id}/versions`, `GET /v2/apps/{id}/versions/{version}` | `{"versions": […]}` newest first (every PUT, scale and rollback that changed the app; dropped with the app); the app as stored at that version, no counts or tasks; 404 otherwise |
//! | `GET /v2/deployments` | `id, version, affectedApps, steps, currentActions, currentStep, totalSteps` |
//! | `DELETE /v2/deployments/{id}` | 200 with the rollback deployment; `force=true`: 202, no rollback; unknown: 404 |
//! | `GET /v2/events` | only with exactly `Accept: text/event-stream` (else Jetty's 405); `event_type` (repeatable), `plan-format=light` |
//! | `POST /acs/api/v1/auth/login` (DC/OS's IAM, at the root only; with [`SimOptions::login_public_key`]) | `{"uid","token"}` whose RS256 login token (`{"uid","exp"}`) verifies against the public key and has not expired: `{"token": …}`, then accepted as `Authorization: token=…` (for [`SimOptions::login_token_uses`] requests, or until [`Control::expire_login_tokens`]); otherwise 401 `{"title","description","code"}` |
//!
//! **Not served** (404 `URI not found: …`, or 405 for a method a served path lacks): the
//! `text/plain` form of `GET /v2/tasks` (JSON is always answered), `POST /v2/tasks/delete`, `DELETE /v2/apps/{id}/tasks[/{taskId}]`,
//! pods, `/v2/eventSubscriptions`, `/v2/plugins`, `/metrics`. A legacy Docker `network` is moved to
//! `networks` as 1.5 does, but nothing else is validated beyond ids, `instances` and
//! `upgradeStrategy`.
//!
//! Errors have Marathon's shapes: 400 `{"message":"Invalid JSON","details":[…]}`, 422
//! `{"message":"Object is not valid","details":[{"path","errors"}]}`, 404 `{"message":"Group '/x'
//! does not exist"}`, 409 with the locking deployments, 401 `{"message":"Invalid username or
//! password."}`, 403 `{"message":"Not Authorized to perform this action!"}`, 503 while the leader
//! is unavailable. Everything is served at `/` and under `/service/marathon`.
//!
//! # How deployments run
//!
//! A change becomes steps as in Marathon: stops, then starts, then scales and rolling restarts.
//! A restart honours `upgradeStrategy` (`minimumHealthCapacity`, `maximumOverCapacity`) the way
//! Marathon's task-replace actor does, killing one old task for every new task that is up.
//! A task is up when running and, if the app has health checks, healthy; apps without health
//! checks report `tasksHealthy: 0`, as Marathon does. New tasks that never get healthy never fail a
//! deployment: after `gracePeriodSeconds` and `maxConsecutiveFailures` failed checks they are
//! killed (`unhealthy_instance_kill_event`, `TASK_KILLED`) and relaunched with Marathon's backoff,
//! forever. Events go out the moment the simulation reaches them: `group_change_success`, then
//! per step `deployment_info`, `add_health_check_event` for a started version, the tasks'
//! `status_update_event` (each followed by `instance_changed_event`) and
//! `health_status_changed_event` (with `instance_health_changed_event`),
//! `remove_health_check_event` and `app_terminated_event` for stopped apps,
//! `deployment_step_success`, and finally `deployment_success` — or `deployment_step_failure` and
//! `deployment_failed` when a forced change or a cancel ends it.
//!
//! [`Control::set_latency`] holds every answer back by a fixed real delay, as a network round
//! trip would (an event stream's head only: its events go out as they happen).
//!
//! Simulated time is real monotonic time × speed plus every [`Control::advance_clock`] jump; a
//! jump runs every transition on the way in order, so a test can pass a 300 s grace period at once.
//!
//! ```no_run
//! use std::time::Duration;
//! use marathon_sim::{MarathonSim, SimOptions, TaskOutcome};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let sim = MarathonSim::start(
//!     SimOptions::default()
//!         .task_start(Duration::from_millis(50))
//!         .rule("registry.example/shop:bad-*", TaskOutcome::NeverHealthy),
//! )
//! .await?;
//! println!("Marathon at {}", sim.url());
//! sim.control().advance_clock(Duration::from_secs(600)); // jump past every grace period
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod clock;
mod control;
mod deploy;
mod events;
mod groups;
mod http;
mod model;
mod progress;
mod render;
mod state;

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use crate::control::Control;

use crate::clock::SimClock;
use crate::events::EventBus;
use crate::state::{State, TaskConfig};

/// How the tasks of an image behave once launched.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskOutcome {
    /// Tasks start after the task-start delay and pass their health checks at once (the default).
    Healthy,
    /// Tasks run but never pass a health check: after the grace period and
    /// `maxConsecutiveFailures` failed checks they are killed and relaunched, forever.
    NeverHealthy,
    /// Tasks start, fail a second later (`TASK_FAILED`) and are relaunched with Marathon's backoff.
    CrashLoop,
    /// Tasks pass their first health check only this long after they start running (apps
    /// without health checks: they start running this much later).
    Slow(Duration),
}

/// The error of parsing a [`TaskOutcome`] from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown task outcome {0:?}: expected healthy, never-healthy, crash-loop or slow:<ms>")]
pub struct ParseOutcomeError(String);

impl FromStr for TaskOutcome {
    type Err = ParseOutcomeError;

    /// Parses `healthy`, `never-healthy`, `crash-loop` or `slow:<ms>` (e.g. `slow:250`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "healthy" => Ok(TaskOutcome::Healthy),
            "never-healthy" => Ok(TaskOutcome::NeverHealthy),
            "crash-loop" => Ok(TaskOutcome::CrashLoop),
            other => other
                .strip_prefix("slow:")
                .and_then(|ms| ms.parse::<u64>().ok())
                .map(|ms| TaskOutcome::Slow(Duration::from_millis(ms)))
                .ok_or_else(|| ParseOutcomeError(s.to_owned())),
        }
    }
}

impl fmt::Display for TaskOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskOutcome::Healthy => f.write_str("healthy"),
            TaskOutcome::NeverHealthy => f.write_str("never-healthy"),
            TaskOutcome::CrashLoop => f.write_str("crash-loop"),
            TaskOutcome::Slow(d) => write!(f, "slow:{}", d.as_millis()),
        }
    }
}

/// Credentials the simulator demands when auth is on.
#[derive(Clone, Default)]
pub(crate) struct Auth {
    pub(crate) token: Option<String>,
    pub(crate) basic: Option<(String, String)>,
    /// The service accounts' public key (PEM).
    login_key: Option<String>,
    /// How many requests an issued login token serves; `None`: without end.
    login_token_uses: Option<u64>,
    pub(crate) login: Option<Arc<http::login::LoginAuthority>>,
}

impl Auth {
    fn enabled(&self) -> bool {
        self.token.is_some() || self.basic.is_some() || self.login.is_some()
    }
}

/// How to start a [`MarathonSim`].
///
/// The default listens on `127.0.0.1:0`, starts tasks after 300 ms, sends a keep-alive every 10 s,
/// needs no auth and runs simulated time at real speed.
#[derive(Clone)]
pub struct SimOptions {
    listen: SocketAddr,
    task_start: Duration,
    keepalive: Duration,
    auth: Auth,
    rules: Vec<(String, TaskOutcome)>,
    speed: f64,
    event_buffer: usize,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            task_start: Duration::from_millis(300),
            keepalive: Duration::from_secs(10),
            auth: Auth::default(),
            rules: Vec::new(),
            speed: 1.0,
            event_buffer: 4096,
        }
    }
}

impl fmt::Debug for SimOptions {
    // Credentials never appear in Debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimOptions")
            .field("listen", &self.listen)
            .field("task_start", &self.task_start)
            .field("keepalive", &self.keepalive)
            .field("token", &self.auth.token.as_ref().map(|_| "<redacted>"))
            .field(
                "basic_auth",
                &self
                    .auth
                    .basic
                    .as_ref()
                    .map(|(user, _)| (user, "<redacted>")),
            )
            .field("rules", &self.rules)
            .field("speed", &self.speed)
            .field("event_buffer", &self.event_buffer)
            .finish()
    }
}

impl SimOptions {
    /// Listens on this address (port 0 picks a free port).
    #[must_use]
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Tasks run this long (simulated time) after being staged.
    #[must_use]
    pub fn task_start(mut self, d: Duration) -> Self {
        self.task_start = d;
        self
    }

    /// Event streams get a bare `\r\n` keep-alive this often (real time).
    #[must_use]
    pub fn keepalive(mut self, d: Duration) -> Self {
        self.keepalive = d;
        self
    }

    /// Turns DC/OS token auth on: requests need `Authorization: token=<token>`.
    #[must_use]
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.auth.token = Some(token.into());
        self
    }

    /// Serves DC/OS's service-account login, `POST /acs/api/v1/auth/login`, and requires its
    /// tokens: a login token (RS256 JWT `{"uid","exp"}`) verified against this RSA public key
    /// (PEM, `BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`) is answered with an authentication
    /// token, accepted as `Authorization: token=…`. A key that does not parse makes
    /// [`MarathonSim::start`] fail.
    #[must_use]
    pub fn login_public_key(mut self, pem: impl Into<String>) -> Self {
        self.auth.login_key = Some(pem.into());
        self
    }

    /// Issued login tokens authorise this many requests, then are refused with 401 as an
    /// expired token is (so that a client's renewal can be tested). Without it they do not
    /// expire. Only with [`SimOptions::login_public_key`].
    #[must_use]
    pub fn login_token_uses(mut self, uses: u64) -> Self {
        self.auth.login_token_uses = Some(uses);
        self
    }

    /// Turns HTTP basic auth on with this user and password.
    #[must_use]
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.auth.basic = Some((user.into(), password.into()));
        self
    }

    /// Tasks of images matching `image_glob` (`*`, `?`) behave as `outcome`; later rules win.
    #[must_use]
    pub fn rule(mut self, image_glob: impl Into<String>, outcome: TaskOutcome) -> Self {
        self.rules.push((image_glob.into(), outcome));
        self
    }

    /// Simulated time runs `factor`× real time (0 stops it; only `advance_clock` moves it then).
    #[must_use]
    pub fn speed(mut self, factor: f64) -> Self {
        self.speed = factor;
        self
    }

    /// How many events an event-stream subscriber may have unsent before it is dropped as a
    /// slow consumer (default 4096; Marathon's own `event_stream_max_outstanding_messages` is 50,
    /// but its bursts are spread over real time where the simulator's may arrive at one instant).
    #[must_use]
    pub fn event_buffer(mut self, events: usize) -> Self {
        self.event_buffer = events;
        self
    }
}

/// How a deployment ended, or that it has not.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentOutcome {
    /// Still running.
    Running,
    /// Finished: `deployment_success`.
    Succeeded,
    /// Overridden by a forced deployment: `deployment_failed`.
    Failed,
    /// Stopped by `DELETE /v2/deployments/{id}?force=true`: `deployment_failed`, no rollback.
    Cancelled,
    /// Cancelled by `DELETE /v2/deployments/{id}`: `deployment_failed`, and a rollback started.
    RolledBack,
}

/// One deployment the simulator ran or runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRecord {
    /// The deployment id.
    pub id: String,
    /// Its version (the group version it deploys).
    pub version: String,
    /// The apps it changes.
    pub affected_apps: Vec<String>,
    /// When it started, in simulated time since the simulator started.
    pub started: Duration,
    /// When it ended, in simulated time, if it has.
    pub ended: Option<Duration>,
    /// How it ended.
    pub outcome: DeploymentOutcome,
}

/// One request the simulator answered.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The HTTP method.
    pub method: String,
    /// Path and query as sent, prefix included.
    pub path_and_query: String,
    /// Request headers (names lowercase). `Debug` redacts `authorization`.
    pub headers: Vec<(String, String)>,
    /// The response status.
    pub status: u16,
    /// Bytes of the request body.
    pub bytes_in: u64,
    /// Bytes of the response body sent so far (streams keep growing).
    pub bytes_out: u64,
}

impl RecordedRequest {
    /// The first value of a header, by lowercase name.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str(),
                    if n.eq_ignore_ascii_case("authorization") {
                        "<redacted>"
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        f.debug_struct("RecordedRequest")
            .field("method", &self.method)
            .field("path_and_query", &self.path_and_query)
            .field("headers", &headers)
            .field("status", &self.status)
            .field("bytes_in", &self.bytes_in)
            .field("bytes_out", &self.bytes_out)
            .finish()
    }
}

/// Totals over every recorded request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// Number of requests.
    pub count: u64,
    /// Request body bytes.
    pub bytes_in: u64,
    /// Response body bytes.
    pub bytes_out: u64,
}

pub(crate) struct RequestEntry {
    pub(crate) method: String,
    pub(crate) path_and_query: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) status: u16,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: Arc<AtomicU64>,
}

pub(crate) struct Shared {
    pub(crate) clock: Arc<SimClock>,
    state: Mutex<State>,
    pub(crate) bus: EventBus,
    pub(crate) leader: AtomicBool,
    pub(crate) forbidden: AtomicBool,
    pub(crate) redirect_events: AtomicBool,
    pub(crate) auth: Auth,
    pub(crate) keepalive: Duration,
    pub(crate) requests: Mutex<Vec<RequestEntry>>,
    /// Real delay before each request is handled ([`Control::set_latency`]).
    pub(crate) latency: Mutex<Duration>,
    wake: Notify,
    pub(crate) addr: SocketAddr,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Brings the simulation up to now, runs `f`, and publishes the events it caused, in order.
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut st = lock(&self.state);
        st.full_plans_wanted = self.bus.wants_full_plans();
        st.advance_to(self.clock.now());
        let result = f(&mut st);
        let events = std::mem::take(&mut st.pending);
        self.bus.publish(&events);
        result
    }

    /// As [`Shared::with_state`], then wakes the ticker: the change may have made work due.
    pub(crate) fn mutate<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let result = self.with_state(f);
        self.wake.notify_one();
        result
    }
}

/// A running simulator. Dropping it stops the server; [`MarathonSim::shutdown`] waits for that.
pub struct MarathonSim {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl fmt::Debug for MarathonSim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MarathonSim")
            .field("addr", &self.shared.addr)
            .finish_non_exhaustive()
    }
}

/// The longest real time between two simulation ticks.
const MAX_TICK: Duration = Duration::from_millis(20);

impl MarathonSim {
    /// Binds the listener and starts serving, with its tasks on the current Tokio runtime
    /// (it must be called from within one).
    ///
    /// # Errors
    ///
    /// Returns the error of binding the listen address, or `InvalidInput` for a login public
    /// key ([`SimOptions::login_public_key`]) that does not parse.
    pub async fn start(mut options: SimOptions) -> std::io::Result<MarathonSim> {
        if let Some(pem) = &options.auth.login_key {
            let uses = options.auth.login_token_uses;
            let authority = http::login::LoginAuthority::from_pem(pem, uses).map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("login key: {e}"))
            })?;
            options.auth.login = Some(Arc::new(authority));
        }
        let listener = tokio::net::TcpListener::bind(options.listen).await?;
        let addr = listener.local_addr()?;
        let clock = Arc::new(SimClock::new(options.speed));
        let config = TaskConfig {
            rules: options.rules,
            task_start: options.task_start,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(Arc::clone(&clock), config)),
            clock,
            bus: EventBus::new(options.event_buffer),
            leader: AtomicBool::new(true),
            forbidden: AtomicBool::new(false),
            redirect_events: AtomicBool::new(false),
            auth: options.auth,
            keepalive: options.keepalive,
            requests: Mutex::new(Vec::new()),
            latency: Mutex::new(Duration::ZERO),
            wake: Notify::new(),
            addr,
        });
        let (stop, stopped) = watch::channel(false);
        let app = http::router(Arc::clone(&shared));
        let mut server_stop = stopped.clone();
        let server = tokio::spawn(async move {
            let service = app.into_make_service_with_connect_info::<SocketAddr>();
            let _ = axum::serve(listener, service)
                .with_graceful_shutdown(async move {
                    let _ = server_stop.wait_for(|s| *s).await;
                })
                .await;
        });
        let ticker = tokio::spawn(tick(Arc::clone(&shared), stopped));
        Ok(MarathonSim {
            shared,
            stop,
            tasks: vec![server, ticker],
        })
    }

    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.shared.addr)
    }

    /// A handle to steer it.
    #[must_use]
    pub fn control(&self) -> Control {
        Control::new(Arc::clone(&self.shared))
    }

    /// Closes event streams, stops serving and waits (briefly) for open requests to finish.
    pub async fn shutdown(mut self) {
        self.shared.bus.drop_all();
        self.stop.send_replace(true);
        for task in std::mem::take(&mut self.tasks) {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for MarathonSim {
    fn drop(&mut self) {
        self.shared.bus.drop_all();
        self.stop.send_replace(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Drives simulated time: wakes when the next transition is due, on changes, or every tick.
async fn tick(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    loop {
        let next = shared.with_state(|st| st.next_due());
        let wait = next
            .and_then(|at| shared.clock.real_until(at))
            .unwrap_or(MAX_TICK)
            .clamp(Duration::from_millis(1), MAX_TICK);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shared.wake.notified() => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_parse_from_their_rule_spelling() {
        assert_eq!("healthy".parse(), Ok(TaskOutcome::Healthy));
        assert_eq!("never-healthy".parse(), Ok(TaskOutcome::NeverHealthy));
        assert_eq!("crash-loop".parse(), Ok(TaskOutcome::CrashLoop));
        assert_eq!(
            "slow:250".parse(),
            Ok(TaskOutcome::Slow(Duration::from_millis(250)))
        );
        assert!("slow:soon".parse::<TaskOutcome>().is_err());
        assert!("sick".parse::<TaskOutcome>().is_err());
    }

    #[test]
    fn options_debug_redacts_credentials() {
        let options = SimOptions::default()
            .token("s3cret-token")
            .basic_auth("ops", "hunter2");
        let text = format!("{options:?}");
        assert!(
            !text.contains("s3cret-token") && !text.contains("hunter2"),
            "{text}"
        );
        assert!(text.contains("ops"));
    }
}
