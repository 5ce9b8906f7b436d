//! The watch over [`marathon_client`]: REST reads as its typed models, and events reduced to
//! [`Signal`]s.

use std::pin::Pin;

use futures_util::{Stream, StreamExt};
use marathon_client::{
    App, AppEmbed, Client, Deployment, DeploymentPlan, DeploymentStep, Error, Event,
    EventStreamOptions, ReconnectPolicy, StreamItem,
};

use super::{MarathonRead, Signal, WatchError, WatchOptions, WatchReport};
use crate::progress::ProgressSink;

/// A boxed stream of watch signals, as [`open_signals`] returns.
pub type SignalStream = Pin<Box<dyn Stream<Item = Signal> + Send>>;

/// Subscribes to Marathon's event stream (only the event types the watch acts on, light plan
/// format), reconnecting by itself with jittered backoff and saying so with
/// [`Signal::Disconnected`] and [`Signal::Reconnected`]; keep-alives come through as
/// [`Signal::KeepAlive`], so the watch can tell a quiet stream from a stalled one. `None`, with
/// a warning, when it cannot be had: the watch then polls.
///
/// Open it **before** the update that starts the deployment to watch, so no event is missed.
pub async fn open_signals(client: &Client, progress: &ProgressSink) -> Option<SignalStream> {
    let options = EventStreamOptions::new().with_event_types(watch_event_types());
    match client
        .reconnecting_events(options, ReconnectPolicy::default())
        .await
    {
        Ok(stream) => Some(Box::pin(stream.filter_map(|item| async move {
            match item {
                Ok(StreamItem::Event(event)) => Some(signal_of(&event)),
                Ok(StreamItem::Reconnected) => Some(Signal::Reconnected),
                Ok(StreamItem::Disconnected(_)) => Some(Signal::Disconnected),
                Ok(StreamItem::KeepAlive) => Some(Signal::KeepAlive),
                // One malformed event, or an item this version does not know: the stream is
                // alive, and nothing else is known.
                Ok(_) | Err(_) => Some(Signal::Other),
            }
        }))),
        Err(error) => {
            progress.warn(format!("Marathon's event stream is unavailable: {error}"));
            None
        }
    }
}

fn watch_event_types() -> Vec<&'static str> {
    use marathon_client::event_types as t;
    vec![
        t::DEPLOYMENT_INFO,
        t::DEPLOYMENT_STEP_SUCCESS,
        t::DEPLOYMENT_STEP_FAILURE,
        t::DEPLOYMENT_SUCCESS,
        t::DEPLOYMENT_FAILED,
        t::STATUS_UPDATE,
        t::HEALTH_STATUS_CHANGED,
    ]
}

/// `duncan watch DEPLOYMENT_ID`: subscribes to the event stream, then learns the running
/// deployment's apps from `/v2/deployments` and what it installs from the apps (see
/// [`super::target_of_running`]), and watches it to its end.
///
/// # Errors
///
/// [`WatchError::NotRunning`] when Marathon does not list the id (finished or unknown);
/// [`WatchError::Marathon`] when the deployments cannot be read.
pub async fn watch_running(
    client: &Client,
    deployment_id: &str,
    options: &WatchOptions,
    cancel: &tokio_util::sync::CancellationToken,
    progress: &ProgressSink,
) -> Result<WatchReport, WatchError> {
    let signals = open_signals(client, progress).await;
    let target = super::target_of_running(client, deployment_id).await?;
    Ok(super::watch_deployment(client, signals, &target, options, cancel, progress).await)
}

impl MarathonRead for Client {
    type Error = Error;

    async fn deployments(&self) -> Result<Vec<Deployment>, Error> {
        Client::deployments(self).await
    }

    async fn app(&self, app_id: &str) -> Result<Option<App>, Error> {
        match Client::app(
            self,
            app_id,
            &[
                AppEmbed::Tasks,
                AppEmbed::Deployments,
                AppEmbed::LastTaskFailure,
            ],
        )
        .await
        {
            Ok(app) => Ok(Some(app)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }
}

fn owned(apps: Vec<&str>) -> Vec<String> {
    apps.into_iter().map(str::to_owned).collect()
}

/// A step event: the plan's apps, and which step of how many (by the step's place in the plan).
fn step_signal(plan: &DeploymentPlan, current: Option<&DeploymentStep>) -> Signal {
    let total = u32::try_from(plan.steps.len()).unwrap_or(u32::MAX);
    let step = current
        .and_then(|s| plan.step_number(s))
        .and_then(|k| u32::try_from(k).ok())
        .map(|k| (k, total));
    Signal::DeploymentStep {
        id: plan.id.clone(),
        affected_apps: owned(plan.affected_apps()),
        step,
    }
}

/// Reduces one Marathon event to what the watch acts on.
pub fn signal_of(event: &Event) -> Signal {
    match event {
        Event::DeploymentSuccess(e) => Signal::DeploymentSuccess { id: e.id.clone() },
        Event::DeploymentFailed(e) => Signal::DeploymentFailed { id: e.id.clone() },
        Event::DeploymentInfo(e) => step_signal(&e.plan, e.current_step.as_ref()),
        Event::DeploymentStepSuccess(e) | Event::DeploymentStepFailure(e) => {
            step_signal(&e.plan, e.current_step.as_ref())
        }
        Event::StatusUpdate(e) => match &e.app_id {
            Some(app_id) => Signal::AppActivity {
                app_id: app_id.clone(),
            },
            None => Signal::Other,
        },
        Event::HealthStatusChanged(e) => match &e.app_id {
            Some(app_id) => Signal::AppActivity {
                app_id: app_id.clone(),
            },
            None => Signal::Other,
        },
        _ => Signal::Other,
    }
}
