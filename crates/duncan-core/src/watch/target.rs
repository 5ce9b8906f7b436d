//! The target of `duncan watch ID`: what a running deployment, known only by its id, installs.

use futures_util::future::try_join_all;
use marathon_client::App;

use super::{
    DeploymentSummary, ExpectedApp, MarathonRead, WatchError, WatchTarget, deployments_of,
    summarize_deployment,
};

/// Builds the target of `duncan watch ID`: the deployment's affected apps from
/// `/v2/deployments`, then each app (read together) for the definition the deployment installs.
///
/// A running deployment holds its apps, so an app that lists this deployment, and only it, in
/// its `deployments` runs the definition the deployment installs: its version and image are
/// the target. That is what makes a rollback's target right: Marathon's rollback restores each
/// app's old definition, old version included, so the deployment's own version is not the
/// apps'. When every app can be read that way, the target version is their common version
/// (`None`, with each app's image, when they differ: the watch then holds each app to the
/// version it first reads). Otherwise (an app held by another deployment too, not holding this
/// one any more, or an answer without `deployments`) the target falls back to the
/// deployment's version without images, which can only err towards failure.
///
/// # Errors
///
/// [`WatchError::NotRunning`] when Marathon does not list the id; [`WatchError::Marathon`] when
/// it cannot be read.
pub async fn target_of_running<M: MarathonRead>(
    marathon: &M,
    deployment_id: &str,
) -> Result<WatchTarget, WatchError> {
    let unreadable = |e: M::Error| WatchError::Marathon {
        source: Box::new(e),
    };
    let deployments = marathon.deployments().await.map_err(unreadable)?;
    let summary = deployments
        .iter()
        .find(|d| d.id == deployment_id)
        .map(summarize_deployment)
        .ok_or_else(|| WatchError::NotRunning {
            id: deployment_id.to_owned(),
        })?;
    let apps = try_join_all(summary.affected_apps.iter().map(|id| marathon.app(id)))
        .await
        .map_err(unreadable)?;
    Ok(target_of_deployment(summary, &apps))
}

/// The rule of [`target_of_running`], given the deployment and its apps as read.
pub(super) fn target_of_deployment(
    summary: DeploymentSummary,
    apps: &[Option<App>],
) -> WatchTarget {
    let installed: Option<Vec<(String, Option<String>)>> = apps
        .iter()
        .map(|app| {
            let app = app.as_ref()?;
            let held_by_ours_only = deployments_of(app)
                .is_some_and(|ids| matches!(ids.as_slice(), [only] if *only == summary.id));
            let version = app.version.as_deref()?;
            held_by_ours_only.then(|| {
                let image = app.docker_image().map(str::to_owned);
                (version.to_owned(), image)
            })
        })
        .collect();
    match installed {
        Some(installed) if !installed.is_empty() => {
            let first = installed.first().map(|(v, _)| v.clone());
            let common = installed.iter().all(|(v, _)| Some(v) == first.as_ref());
            WatchTarget {
                deployment_id: summary.id,
                version: if common { first } else { None },
                apps: summary
                    .affected_apps
                    .into_iter()
                    .zip(installed)
                    .map(|(app_id, (_, image))| ExpectedApp { app_id, image })
                    .collect(),
            }
        }
        _ => WatchTarget {
            deployment_id: summary.id,
            version: summary.version,
            apps: summary
                .affected_apps
                .into_iter()
                .map(|app_id| ExpectedApp {
                    app_id,
                    image: None,
                })
                .collect(),
        },
    }
}
