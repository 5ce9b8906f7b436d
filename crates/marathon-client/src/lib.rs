//! Async client for Mesos Marathon's REST API v2 and its event stream.
//!
//! - [`Client`]: groups (get, list, update, dry run, delete), apps (get, list, update,
//!   delete), deployments (list, cancel with rollback, force-cancel), `/v2/info` and
//!   `/ping`, with timeouts on every request, retries of reads while Marathon is
//!   unavailable, and retries of changes only when Marathon certainly did not process them
//!   (a 503, a failed connect); a change whose answer is lost is [`Error::OutcomeUnknown`].
//! - Lossless [`App`] and [`Group`] models: fields the model does not name are kept and sent
//!   back unchanged, so a read-modify-write never drops constraints, volumes or secrets.
//! - The event stream ([`Client::events`]) with an incremental SSE parser and an idle
//!   watchdog, and a stream that reconnects by itself and says so
//!   ([`Client::reconnecting_events`]).
//! - [`Config`]: base URL (with a path prefix such as DC/OS's `/service/marathon`), DC/OS
//!   token, a DC/OS service account ([`ServiceAccount`]: an RS256 login, renewed once when
//!   Marathon refuses an expired token) or basic auth, CA certificate, timeouts; [`Config::from_env`] reads
//!   `MARATHON_URL` / `DCOS_URL` and `DCOS_ACS_TOKEN` / `MARATHON_TOKEN`. Credentials travel
//!   only in the `Authorization` header and are redacted from `Debug`.
//!
//! # Redirects
//!
//! A redirect is followed only within the configured origin (scheme, host and port), keeping
//! the credentials, for REST calls and the event stream alike. A redirect to another origin
//! is never followed, neither for reads nor for writes: the call fails with
//! [`Error::CrossOriginRedirect`], which names the origin it pointed at (never its path, query
//! or user info), and nothing — no credential, no request body — reaches that origin.
//! Marathon proxies requests to its leader itself, so it never needs such a redirect; one
//! points at something other than Marathon, and following it would hand the token and an
//! app's `env` to whoever controls the target. No `Referer` header is sent either.
//!
//! # Example
//!
//! Change the image tag of every app in a group, watching the deployment it starts:
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use marathon_client::{Client, Config, Event, EventStreamOptions, GroupEmbed, GroupUpdateOptions};
//!
//! # async fn run() -> Result<(), marathon_client::Error> {
//! let client = Client::new(Config::new("http://marathon.example.com:8080")?)?;
//! // Subscribe first, so the deployment's events cannot be missed.
//! let mut events = client.events(&EventStreamOptions::new()).await?;
//!
//! let mut group = client.group("/shop-prod", &[GroupEmbed::Apps, GroupEmbed::Groups]).await?;
//! for app in group.all_apps_mut() {
//!     if app.docker_image().is_some() {
//!         app.set_image_tag("2.0.1")?;
//!     }
//! }
//! let deployment = client.update_group(&group, GroupUpdateOptions::default()).await?;
//!
//! while let Some(event) = events.next().await {
//!     match event? {
//!         Event::DeploymentSuccess(e) if e.id == deployment.deployment_id => break,
//!         Event::DeploymentFailed(e) if e.id == deployment.deployment_id => {
//!             eprintln!("deployment failed");
//!             break;
//!         }
//!         _ => {}
//!     }
//! }
//! # Ok(())
//! # }
//! ```

mod auth;
mod client;
mod config;
mod error;
mod event;
mod login;
mod model;
mod params;
pub mod sse;
mod stream;

pub use client::Client;
pub use config::{Auth, Config, DEFAULT_MAX_RESPONSE_BYTES, RetryPolicy};
pub use error::{CertificateProblem, Error, InvalidDetail};
pub use event::{
    DeploymentInfo, DeploymentOutcome, DeploymentPlan, DeploymentStepEvent, Event, GroupChange,
    HealthStatusChanged, StatusUpdate, StreamAttached, event_types,
};
pub use login::ServiceAccount;
pub use model::{
    App, Container, Deployment, DeploymentAction, DeploymentRef, DeploymentRefId, DeploymentStep,
    DockerSpec, Group, HealthCheck, HealthCheckResult, ImageRef, Info, Task, TaskFailure,
    UpgradeStrategy, VersionInfo,
};
pub use params::{AppEmbed, AppUpdateOptions, GroupEmbed, GroupUpdateOptions};
pub use stream::{
    EventStream, EventStreamOptions, ReconnectPolicy, ReconnectingEventStream, StreamItem,
};
