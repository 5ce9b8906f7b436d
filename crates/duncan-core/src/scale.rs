//! `scale`: change the instances of app types in the group `/{app}-{env}`, in one Marathon
//! deployment, watched like a deploy, under the deploy lock, with an audit event.
//!
//! The app type is the last segment of a Marathon app id (`/shop-stage/web` ⇒ `web`), as in the
//! Go tool's `duncan scale web=3 worker=2`.

use serde::Serialize;
use serde_json::Value;

use crate::audit::{Event, EventKind};
use crate::deploy::interrupt::{self, unless_interrupted};
use crate::deploy::{Context, DeployError};
use crate::names::AppEnv;
use crate::plan::{app_type, for_each_app_mut, group_apps, strip_for_update};
use crate::progress::{Progress, ProgressSink};
use crate::watch::{ExpectedApp, WatchOptions, WatchTarget, watch_deployment};

/// A scale of one app/env.
#[derive(Debug, Clone)]
pub struct ScaleRequest {
    /// The application and environment.
    pub app_env: AppEnv,
    /// `(app type, instances)` pairs.
    pub instances: Vec<(String, u32)>,
    /// Wait up to this long for the deploy lock when someone holds it.
    pub wait_for_lock: Option<std::time::Duration>,
    /// Cancel Marathon deployments that hold the apps.
    pub force_marathon: bool,
    /// Leave a failed scale as it is instead of letting Marathon revert it.
    pub no_rollback: bool,
    /// Deadline and stall window of the watch.
    pub watch: WatchOptions,
}

impl ScaleRequest {
    /// A scale of `app_env` to `instances` with default options.
    pub fn new(app_env: AppEnv, instances: Vec<(String, u32)>) -> Self {
        ScaleRequest {
            app_env,
            instances,
            wait_for_lock: None,
            force_marathon: false,
            no_rollback: false,
            watch: WatchOptions::default(),
        }
    }
}

/// One app whose instances change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScaleChange {
    /// The Marathon app id.
    pub app_id: String,
    /// Its type.
    pub app_type: String,
    /// Instances before.
    pub from: u64,
    /// Instances after.
    pub to: u32,
}

/// What a scale did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScaleReport {
    /// The apps whose instances changed (empty when every app already had its count).
    pub changes: Vec<ScaleChange>,
    /// The Marathon deployment, when one was needed.
    pub deployment_id: Option<String>,
    /// Problems that did not fail the scale (the audit event…).
    pub warnings: Vec<String>,
}

/// Why a `TYPE=N` argument is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{arg:?} is not TYPE=INSTANCES (for example web=3): {problem}")]
pub struct ScaleArgError {
    /// The argument.
    pub arg: String,
    /// What is wrong.
    pub problem: &'static str,
}

/// Parses the Go tool's `TYPE=N` argument.
///
/// ```
/// use duncan_core::scale::parse_scale_arg;
/// assert_eq!(parse_scale_arg("web=3").unwrap(), ("web".to_string(), 3));
/// assert!(parse_scale_arg("web").is_err());
/// assert!(parse_scale_arg("web=-1").is_err());
/// ```
///
/// # Errors
///
/// [`ScaleArgError`] when there is no `=`, the type is empty or the count is not a number.
pub fn parse_scale_arg(arg: &str) -> Result<(String, u32), ScaleArgError> {
    let error = |problem| ScaleArgError {
        arg: arg.to_owned(),
        problem,
    };
    let (kind, count) = arg.split_once('=').ok_or_else(|| error("no '='"))?;
    if kind.is_empty() || kind.contains('/') {
        return Err(error("the app type is empty or contains '/'"));
    }
    let count = count
        .parse::<u32>()
        .map_err(|_| error("the instance count is not a non-negative number"))?;
    Ok((kind.to_owned(), count))
}

/// Works out which apps change and the group body that changes them.
///
/// # Errors
///
/// [`DeployError::UnknownAppType`] naming the types the group has.
pub fn plan_scale(
    app_env: &AppEnv,
    group: &Value,
    instances: &[(String, u32)],
) -> Result<(Vec<ScaleChange>, Value), DeployError> {
    let apps = group_apps(group);
    let mut types: Vec<String> = Vec::new();
    for app in &apps {
        if let Some(id) = app.get("id").and_then(Value::as_str) {
            let t = app_type(id).to_owned();
            if !types.contains(&t) {
                types.push(t);
            }
        }
    }
    types.sort_unstable();
    let mut changes = Vec::new();
    for (wanted, to) in instances {
        if !types.contains(wanted) {
            return Err(DeployError::UnknownAppType {
                group: app_env.group_id(),
                app_type: wanted.clone(),
                types,
            });
        }
        for app in &apps {
            let Some(id) = app.get("id").and_then(Value::as_str) else {
                continue;
            };
            let from = app.get("instances").and_then(Value::as_u64).unwrap_or(0);
            if app_type(id) == wanted && from != u64::from(*to) {
                changes.push(ScaleChange {
                    app_id: id.to_owned(),
                    app_type: wanted.clone(),
                    from,
                    to: *to,
                });
            }
        }
    }
    let mut body = group.clone();
    strip_for_update(&mut body);
    for_each_app_mut(&mut body, &mut |app| {
        let id = app.get("id").and_then(Value::as_str).map(str::to_owned);
        if let Some(change) = changes.iter().find(|c| Some(&c.app_id) == id.as_ref())
            && let Some(object) = app.as_object_mut()
        {
            object.insert("instances".to_owned(), Value::from(change.to));
        }
    });
    Ok((changes, body))
}

/// Scales app types of `request.app_env` in one deployment, watched to its end.
///
/// # Errors
///
/// [`DeployError`]: unknown type, not allowed, lock held, Marathon failures, or the deployment
/// failing (rolled back or not, as for a deploy).
pub async fn scale(
    ctx: &Context,
    request: &ScaleRequest,
    progress: &ProgressSink,
) -> Result<ScaleReport, DeployError> {
    let app_env = &request.app_env;
    ctx.settings.check_environment(&app_env.env)?;
    let group = unless_interrupted(
        ctx,
        crate::deploy::fetch_group_json(ctx, app_env),
        interrupt::before_lock,
    )
    .await??;
    let (changes, _) = plan_scale(app_env, &group, &request.instances)?;
    if changes.is_empty() {
        progress.emit(Progress::Done);
        return Ok(ScaleReport {
            changes,
            deployment_id: None,
            warnings: Vec::new(),
        });
    }
    unless_interrupted(
        ctx,
        crate::deploy::check_access_for(ctx, app_env),
        interrupt::before_lock,
    )
    .await??;
    progress.emit(Progress::AccessChecked);
    let lock = crate::deploy::lock_for(ctx, app_env, request.wait_for_lock, progress).await?;
    progress.emit(Progress::LockAcquired);
    let result = scale_locked(ctx, request, progress).await;
    let released = crate::deploy::unlock(lock, progress).await;
    progress.emit(Progress::Done);
    result.map_err(|error| crate::deploy::with_lock_end(error, released))
}

async fn scale_locked(
    ctx: &Context,
    request: &ScaleRequest,
    progress: &ProgressSink,
) -> Result<ScaleReport, DeployError> {
    let app_env = &request.app_env;
    // Read again under the lock: the body must not undo a deploy that finished meanwhile.
    let locked_unchanged = crate::deploy::locked_unchanged;
    let group = unless_interrupted(
        ctx,
        crate::deploy::fetch_group_json(ctx, app_env),
        locked_unchanged,
    )
    .await??;
    let (changes, body) = plan_scale(app_env, &group, &request.instances)?;
    if changes.is_empty() {
        return Ok(ScaleReport {
            changes,
            deployment_id: None,
            warnings: Vec::new(),
        });
    }
    let started =
        crate::deploy::start_update(ctx, app_env, &body, request.force_marathon, progress).await?;
    // An interruption that came during the update is handled by the watch: it ends at once and
    // says what Marathon is doing.
    let (signals, started) = started;
    let target = WatchTarget {
        deployment_id: started.deployment_id.clone(),
        version: Some(started.version.clone()),
        apps: changes
            .iter()
            .map(|c| ExpectedApp {
                app_id: c.app_id.clone(),
                image: None,
            })
            .collect(),
    };
    let report = watch_deployment(
        &ctx.marathon,
        signals,
        &target,
        &request.watch,
        &ctx.cancel,
        progress,
    )
    .await;
    let summary = changes
        .iter()
        .map(|c| format!("{} {} => {}", c.app_type, c.from, c.to))
        .collect::<Vec<_>>()
        .join(", ");
    let mut event = Event::new(app_env, ctx.settings.deployer.clone(), EventKind::Scale)
        .with_deployment_id(started.deployment_id.clone());
    let mut warnings = Vec::new();
    let result = if report.outcome.is_success() {
        event = event.with_message(format!("scaled {summary}"));
        Ok(())
    } else {
        // Like a deploy: Marathon reverts the instance counts unless asked not to.
        let undo = crate::deploy::Undo {
            no_rollback: request.no_rollback,
            restored: changes
                .iter()
                .map(|c| ExpectedApp {
                    app_id: c.app_id.clone(),
                    image: None,
                })
                .collect(),
            watch: &request.watch,
        };
        let error =
            crate::deploy::failed(ctx, undo, &started.deployment_id, report, progress).await;
        event = event.with_message(format!("scale {summary} failed: {error}"));
        Err(error)
    };
    if let Err(error) =
        crate::audit::append(&ctx.consul, &event, ctx.settings.audit_retention).await
    {
        let warning = format!("the scale could not be recorded in the audit log: {error}");
        progress.warn(warning.clone());
        warnings.push(warning);
    }
    result.map(|()| ScaleReport {
        changes,
        deployment_id: Some(started.deployment_id),
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn group() -> Value {
        json!({"id": "/shop-stage", "version": "v", "apps": [
            {"id": "/shop-stage/web", "instances": 2, "x": 1},
            {"id": "/shop-stage/worker", "instances": 1}
        ]})
    }

    #[test]
    fn scale_changes_only_instances_of_named_types() {
        let app_env = AppEnv::parse("shop", "stage").unwrap();
        let (changes, body) = plan_scale(&app_env, &group(), &[("web".into(), 5)]).unwrap();
        assert_eq!(
            changes,
            [ScaleChange {
                app_id: "/shop-stage/web".into(),
                app_type: "web".into(),
                from: 2,
                to: 5
            }]
        );
        assert_eq!(
            body,
            json!({"id": "/shop-stage", "apps": [
                {"id": "/shop-stage/web", "instances": 5, "x": 1},
                {"id": "/shop-stage/worker", "instances": 1}
            ]})
        );
    }

    #[test]
    fn unknown_type_names_the_types_that_exist() {
        let app_env = AppEnv::parse("shop", "stage").unwrap();
        let err = plan_scale(&app_env, &group(), &[("cron".into(), 1)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "group /shop-stage has no app type cron (types: web, worker)"
        );
    }

    #[test]
    fn same_count_is_no_change() {
        let app_env = AppEnv::parse("shop", "stage").unwrap();
        let (changes, _) = plan_scale(&app_env, &group(), &[("worker".into(), 1)]).unwrap();
        assert!(changes.is_empty());
    }

    #[test]
    fn scale_args_parse_like_the_go_tool() {
        assert_eq!(parse_scale_arg("worker=0").unwrap(), ("worker".into(), 0));
        assert!(parse_scale_arg("=3").is_err());
        assert!(parse_scale_arg("web=x").is_err());
    }
}
