//! The watch over [`marathon_client`]: REST reads as JSON, and events reduced to [`Signal`]s.

use marathon_client::{AppEmbed, Client, Error, Event};
use serde_json::Value;

use super::{MarathonRead, Signal};

impl MarathonRead for Client {
    type Error = Error;

    async fn deployments(&self) -> Result<Vec<Value>, Error> {
        let deployments = Client::deployments(self).await?;
        deployments
            .iter()
            .map(|d| serde_json::to_value(d).map_err(|e| decode("deployment", e)))
            .collect()
    }

    async fn app(&self, app_id: &str) -> Result<Option<Value>, Error> {
        match Client::app(self, app_id, &[AppEmbed::Tasks]).await {
            Ok(app) => serde_json::to_value(&app)
                .map(Some)
                .map_err(|e| decode("app", e)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }
}

fn decode(context: &str, source: serde_json::Error) -> Error {
    Error::Decode {
        context: context.to_owned(),
        source,
    }
}

/// Reduces one Marathon event to what the watch acts on.
pub fn signal_of(event: &Event) -> Signal {
    match event {
        Event::DeploymentSuccess(e) => Signal::DeploymentSuccess { id: e.id.clone() },
        Event::DeploymentFailed(e) => Signal::DeploymentFailed { id: e.id.clone() },
        Event::DeploymentInfo(e) => Signal::DeploymentStep {
            id: e.plan.id.clone(),
        },
        Event::DeploymentStepSuccess(e) | Event::DeploymentStepFailure(e) => {
            Signal::DeploymentStep {
                id: e.plan.id.clone(),
            }
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
