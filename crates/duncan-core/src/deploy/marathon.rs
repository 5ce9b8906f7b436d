//! The Marathon half of a deploy: reading the group, opening the event stream, the group update
//! with its 409 handling, and the rollback of a failed deployment.

use marathon_client::{Client, Error, GroupEmbed, GroupUpdateOptions};
use serde_json::Value;

use crate::names::GroupId;
use crate::progress::{Progress, ProgressSink};
use crate::watch::{
    ExpectedApp, WatchOptions, WatchOutcome, WatchReport, WatchTarget, open_signals,
    watch_deployment,
};
use tokio_util::sync::CancellationToken;

/// Reads the group `/{app}-{env}` (only that group) with its nested groups and apps, and no
/// task data: exactly what a lossless update needs, plus each app's `deployments` (the Marathon
/// deployments holding it, removed again from the update body), so that a plan with nothing to
/// change knows whether something is still changing it.
pub(crate) async fn fetch_group(client: &Client, group: &GroupId) -> Result<Value, Error> {
    let group = client
        .group(
            group.as_str(),
            &[
                GroupEmbed::Groups,
                GroupEmbed::Apps,
                GroupEmbed::AppDeployments,
            ],
        )
        .await?;
    serde_json::to_value(&group).map_err(|source| Error::Decode {
        context: "group".to_owned(),
        source,
    })
}

/// Sends the group update; on 409 with `force`, says which deployments are cancelled and forces.
pub(crate) async fn put_group(
    client: &Client,
    body: &Value,
    force: bool,
    progress: &ProgressSink,
) -> Result<marathon_client::DeploymentRef, Error> {
    let group: marathon_client::Group =
        serde_json::from_value(body.clone()).map_err(|source| Error::Decode {
            context: "group to send".to_owned(),
            source,
        })?;
    match client.update_group(&group, GroupUpdateOptions::new()).await {
        Err(Error::AppLocked { deployment_ids, .. }) if force => {
            progress.emit(Progress::ForcingMarathon {
                deployments: deployment_ids,
            });
            client
                .update_group(&group, GroupUpdateOptions::new().with_force(true))
                .await
        }
        other => other,
    }
}

/// What Marathon shows after an update whose answer was lost.
pub(crate) enum UpdateSeen {
    /// The update was applied and this deployment applies it.
    Started(marathon_client::DeploymentRef),
    /// The group does not run what was sent: the update was not applied.
    NotApplied,
    /// The group runs what was sent and no deployment holds it: applied, and already ended.
    AppliedAndEnded,
}

/// Looks at the group after an update whose answer was lost: whether every app runs the image
/// and instances the update sent, and which deployment holds them.
pub(crate) async fn look_for_update(
    client: &Client,
    group: &GroupId,
    sent: &Value,
) -> Result<UpdateSeen, Error> {
    let now = fetch_group(client, group).await?;
    let shape = |app: &Value| {
        (
            app.get("id").cloned(),
            crate::plan::app_image(app).map(str::to_owned),
            app.get("instances").cloned(),
        )
    };
    let running: Vec<_> = crate::plan::group_apps(&now)
        .into_iter()
        .map(shape)
        .collect();
    let applied = crate::plan::group_apps(sent)
        .into_iter()
        .all(|app| running.contains(&shape(app)));
    if !applied {
        return Ok(UpdateSeen::NotApplied);
    }
    let holders: Vec<&str> = crate::plan::group_apps(&now)
        .into_iter()
        .filter_map(|app| app.get("deployments")?.as_array())
        .flatten()
        .filter_map(|d| d.get("id")?.as_str())
        .collect();
    let deployments = client.deployments().await?;
    match deployments
        .iter()
        .find(|d| holders.contains(&d.id.as_str()))
    {
        Some(d) => Ok(UpdateSeen::Started(marathon_client::DeploymentRef {
            version: d.version.clone().unwrap_or_default(),
            deployment_id: d.id.clone(),
        })),
        None => Ok(UpdateSeen::AppliedAndEnded),
    }
}

/// Marathon's dry-run steps of an update, as JSON.
pub(crate) async fn dry_run_steps(client: &Client, body: &Value) -> Result<Value, Error> {
    let group: marathon_client::Group =
        serde_json::from_value(body.clone()).map_err(|source| Error::Decode {
            context: "group to send".to_owned(),
            source,
        })?;
    let steps = client
        .dry_run_group_update(&group, GroupUpdateOptions::new())
        .await?;
    serde_json::to_value(&steps).map_err(|source| Error::Decode {
        context: "dry-run steps".to_owned(),
        source,
    })
}

/// How the rollback of a failed deployment went.
#[derive(Debug)]
pub(crate) enum RollbackResult {
    /// Marathon's rollback deployment finished with every app back on its old image.
    Finished {
        /// The rollback deployment id.
        id: String,
    },
    /// The rollback was started, and its watch interrupted before its end.
    Interrupted {
        /// The rollback deployment id.
        id: String,
    },
    /// The rollback could not be started or did not finish.
    Failed {
        /// The rollback deployment id, when one was started.
        id: Option<String>,
        /// What went wrong.
        reason: String,
    },
}

/// How long the cancel that starts a rollback keeps trying while Marathon answers 503 (no
/// leader): an ordinary leader election takes a few seconds.
const CANCEL_UNAVAILABLE_FOR: std::time::Duration = std::time::Duration::from_secs(15);

/// Cancels `deployment_id` without force, retrying while Marathon is unavailable (503 and the
/// like mean the request was not processed, so sending it again cannot cancel twice).
async fn cancel_through_leader_election(
    client: &Client,
    deployment_id: &str,
) -> Result<marathon_client::DeploymentRef, marathon_client::Error> {
    let started = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(200);
    loop {
        match client.cancel_deployment(deployment_id).await {
            Err(marathon_client::Error::Unavailable { .. })
                if started.elapsed() + pause < CANCEL_UNAVAILABLE_FOR =>
            {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(2));
            }
            result => return result,
        }
    }
}

/// Cancels our deployment without force, so that Marathon starts a rollback deployment to the
/// previous app versions, and watches that rollback to its end (protocol step 7).
pub(crate) async fn roll_back(
    client: &Client,
    deployment_id: &str,
    restored: &[ExpectedApp],
    options: &WatchOptions,
    cancel: &CancellationToken,
    progress: &ProgressSink,
) -> RollbackResult {
    // Subscribe before the cancel, as for the deploy itself.
    let signals = open_signals(client, progress).await;
    let rollback = match cancel_through_leader_election(client, deployment_id).await {
        Ok(rollback) => rollback,
        Err(error) => {
            return RollbackResult::Failed {
                id: None,
                reason: format!("the cancel of deployment {deployment_id} failed: {error}"),
            };
        }
    };
    progress.emit(Progress::RollbackStarted {
        id: rollback.deployment_id.clone(),
    });
    let target = WatchTarget {
        deployment_id: rollback.deployment_id.clone(),
        // Marathon gives the reverted apps back their old definitions (and versions), so only
        // the images are checked.
        version: None,
        apps: restored.to_vec(),
    };
    // The rollback gets a fresh deadline and stall window (the old ones were spent).
    let report: WatchReport =
        watch_deployment(client, signals, &target, options, cancel, progress).await;
    if report.outcome == WatchOutcome::Interrupted {
        return RollbackResult::Interrupted {
            id: rollback.deployment_id,
        };
    }
    if report.outcome.is_success() {
        progress.emit(Progress::RollbackFinished);
        RollbackResult::Finished {
            id: rollback.deployment_id,
        }
    } else {
        RollbackResult::Failed {
            id: Some(rollback.deployment_id),
            reason: format!("the rollback deployment {}", report.outcome),
        }
    }
}

/// Whether every app of `app_ids` in `group` has settled: no deployment holds it, as many
/// running tasks as instances, and all of them healthy when it has health checks. One read of
/// the group with its apps' counts and deployments.
pub(crate) async fn apps_settled(
    client: &Client,
    group: &GroupId,
    app_ids: &[String],
) -> Result<bool, Error> {
    let group = client
        .group(
            group.as_str(),
            &[
                GroupEmbed::Groups,
                GroupEmbed::Apps,
                GroupEmbed::AppCounts,
                GroupEmbed::AppDeployments,
            ],
        )
        .await?;
    let group = serde_json::to_value(&group).map_err(|source| Error::Decode {
        context: "group".to_owned(),
        source,
    })?;
    let mut apps = Vec::new();
    collect_apps(&group, &mut apps);
    let settled = |app: &&Value| {
        let count = |field: &str| app.get(field).and_then(Value::as_u64).unwrap_or(0);
        let instances = count("instances");
        let checked = app
            .get("healthChecks")
            .and_then(Value::as_array)
            .is_some_and(|checks| !checks.is_empty());
        let held = app
            .get("deployments")
            .and_then(Value::as_array)
            .is_some_and(|d| !d.is_empty());
        !held
            && count("tasksRunning") >= instances
            && (!checked || count("tasksHealthy") >= instances)
    };
    let selected: Vec<&Value> = apps
        .into_iter()
        .filter(|app| {
            app.get("id")
                .and_then(Value::as_str)
                .is_some_and(|id| app_ids.iter().any(|want| want == id))
        })
        .collect();
    Ok(selected.len() == app_ids.len() && selected.iter().all(settled))
}

/// Every app of a group JSON and its nested groups.
fn collect_apps<'a>(group: &'a Value, into: &mut Vec<&'a Value>) {
    if let Some(apps) = group.get("apps").and_then(Value::as_array) {
        into.extend(apps);
    }
    if let Some(groups) = group.get("groups").and_then(Value::as_array) {
        for nested in groups {
            collect_apps(nested, into);
        }
    }
}
