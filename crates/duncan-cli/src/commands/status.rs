//! `duncan status` (alias `list`): what Marathon runs for each app/env, against Consul's record.

use duncan_core::lock::lock_status;
use duncan_core::names::{AppEnv, Tag};
use duncan_core::status::{
    DEFAULT_STATUS_CONCURRENCY, Drift, GroupStatus, StatusError, status_many,
};
use serde_json::json;

use super::context;
use crate::cli::StatusArgs;
use crate::config::Config;
use crate::explain::{Intent, explain_for};
use crate::failure::{CommandResult, ExitStatus, Failure, error_chain};
use crate::output::{Cell, DIM, GREEN, Output, RED, YELLOW, paint, render_table, table_width};

/// Runs `duncan status`.
pub fn run(config: &Config, out: Output, args: &StatusArgs) -> CommandResult {
    let targets = targets(config, args)?;
    let ctx = context::context(config)?;
    let runtime = super::runtime()?;
    let results = runtime.block_on(async {
        let results = status_many(&ctx, &targets, DEFAULT_STATUS_CONCURRENCY).await;
        unhide_refusals(&ctx.consul, results).await
    });
    let single = targets.len() == 1;

    // One target asked for by name: its error is the command's error.
    if single && let Some((target, Err(error))) = results.first() {
        return Err(match error {
            StatusError::GroupNotFound { .. } => Failure::error(error.to_string())
                .hint("check the app and environment names; `duncan status` with no --app lists the configured apps"),
            _ => explain_for(error, config, &Intent::read_deploys(target)),
        });
    }
    // Nothing could be read (Marathon or Consul down, or not what they should be): say why
    // once, rather than a table of errors that exits 0. Missing groups alone are a table.
    if results.iter().all(|(_, r)| r.is_err())
        && let Some((target, Err(error))) = results.iter().find(|(_, r)| {
            matches!(
                r,
                Err(StatusError::Marathon { .. } | StatusError::Consul { .. })
            )
        })
    {
        return Err(explain_for(error, config, &Intent::read_deploys(target)));
    }

    if out.json {
        let items: Vec<_> = results
            .iter()
            .map(|(target, result)| match result {
                Ok(status) => serde_json::to_value(status).unwrap_or_default(),
                Err(e) => json!({"app_env": target.to_string(), "error": error_chain(e)}),
            })
            .collect();
        out.json(&items)?;
        return Ok(ExitStatus::Ok);
    }
    let mut rows = Vec::new();
    for (target, result) in &results {
        match result {
            Ok(status) => rows.extend(rows_of(status)),
            Err(e) => rows.push(vec![
                Cell::plain(target.app.as_str()),
                Cell::env(target.env.as_str()),
                Cell::styled("-", DIM),
                Cell::styled("-", DIM),
                Cell::styled("-", DIM),
                Cell::styled("-", DIM),
                Cell::styled(short_error(e), RED),
            ]),
        }
    }
    for line in render_table(
        &["APP", "ENV", "TYPE", "TAG", "CURRENT", "TASKS", "STATE"],
        &rows,
        table_width(),
    ) {
        out.line(line)?;
    }
    // A drift is only useful with the way out of it.
    for (target, result) in &results {
        if let Ok(status) = result
            && let Drift::Drifted { marathon, consul } = &status.drift
        {
            out.line(repair_hint(target, marathon, consul))?;
        }
    }
    for (target, result) in &results {
        if let Ok(GroupStatus {
            hold: Some(hold), ..
        }) = result
        {
            out.line(format!("{target}: {} {hold}", paint(YELLOW, "on hold:")))?;
        }
    }
    Ok(ExitStatus::Ok)
}

/// Consul leaves out of a read what the token may not see, so "no `current` recorded" may hide
/// a refusal: for each app/env without one, a plain read of one of its keys (the lock) tells.
/// A refusal (or any failure of that read) becomes the app/env's error, never "not recorded".
async fn unhide_refusals(
    consul: &consul_client::Client,
    results: Vec<(AppEnv, Result<GroupStatus, StatusError>)>,
) -> Vec<(AppEnv, Result<GroupStatus, StatusError>)> {
    let mut probes = tokio::task::JoinSet::new();
    for (i, (target, result)) in results.iter().enumerate() {
        if let Ok(status) = result
            && status.current.is_none()
        {
            let (consul, target) = (consul.clone(), target.clone());
            probes.spawn(async move { (i, lock_status(&consul, &target).await.err()) });
        }
    }
    let mut results = results;
    while let Some(joined) = probes.join_next().await {
        if let Ok((i, Some(error))) = joined
            && let Some((target, result)) = results.get_mut(i)
        {
            *result = Err(StatusError::Consul {
                app_env: target.clone(),
                source: Box::new(error),
            });
        }
    }
    results
}

/// How to end a drift: deploy the recorded tag again, or record the one that runs.
fn repair_hint(target: &AppEnv, marathon: &[String], consul: &Tag) -> String {
    let (app, env) = (target.app.as_str(), target.env.as_str());
    let mut hint = format!(
        "{target}: Marathon runs {} but Consul records {consul}; to go back to {consul}: \
         duncan deploy -a {app} -e {env} -t {consul}",
        marathon.join(", ")
    );
    if let [running] = marathon {
        hint.push_str(&format!(
            "; to keep {running}: consul kv put deploys/{app}/{env}/current {running} && \
             consul kv put deploys/{app}/{env}/previous {consul}"
        ));
    }
    hint
}

/// The app/envs to show: those named, else every configured app × every allowed environment.
fn targets(config: &Config, args: &StatusArgs) -> Result<Vec<AppEnv>, Failure> {
    let apps: Vec<String> = match &args.app {
        Some(app) => vec![app.clone()],
        None if config.apps.value.is_empty() => {
            return Err(Failure::usage("no app given and none configured")
                .hint("pass --app APP, or list your apps under `apps` in ~/.duncan.yml"));
        }
        None => config.apps.value.clone(),
    };
    let envs: Vec<String> = match &args.env {
        Some(env) => {
            config.check_environment(env)?;
            vec![env.clone()]
        }
        None => config.environments.value.clone(),
    };
    let mut targets = Vec::new();
    for app in &apps {
        for env in &envs {
            targets.push(AppEnv::parse(app, env).map_err(|e| {
                Failure::usage(e.to_string())
                    .hint("app and environment names are lowercase letters, digits and '-'")
            })?);
        }
    }
    Ok(targets)
}

fn short_error(error: &StatusError) -> String {
    match error {
        StatusError::GroupNotFound { group } => format!("no group {group} in Marathon"),
        other => error_chain(other),
    }
}

fn rows_of(status: &GroupStatus) -> Vec<Vec<Cell>> {
    let current = status
        .current
        .as_ref()
        .map_or_else(|| "-".to_owned(), ToString::to_string);
    let state = match &status.drift {
        Drift::InSync => Cell::styled("in sync", GREEN),
        Drift::Drifted { .. } => Cell::styled("drift: Marathon differs from Consul", YELLOW),
        Drift::NotRecorded { .. } => Cell::styled("not recorded in Consul", YELLOW),
        Drift::NoDeployedApps => Cell::styled("no app runs this app's image", DIM),
        _ => Cell::plain("-"),
    };
    if status.apps.is_empty() {
        return vec![vec![
            Cell::plain(status.app_env.app.as_str()),
            Cell::env(status.app_env.env.as_str()),
            Cell::styled("-", DIM),
            Cell::styled("-", DIM),
            Cell::plain(current),
            Cell::styled("-", DIM),
            state,
        ]];
    }
    status
        .apps
        .iter()
        .map(|app| {
            // Marathon counts healthy tasks only for apps with health checks.
            let tasks = if app.healthy > 0 {
                format!(
                    "{}/{} ({} healthy)",
                    app.running, app.instances, app.healthy
                )
            } else {
                format!("{}/{}", app.running, app.instances)
            };
            let tasks_style = if app.running >= app.instances {
                GREEN
            } else {
                YELLOW
            };
            let mut app_state = state.clone();
            if !app.deployments.is_empty() {
                app_state = Cell::styled(
                    format!("deploying ({})", app.deployments.join(", ")),
                    YELLOW,
                );
            } else if !app.deployed_by_duncan {
                app_state = Cell::styled("not deployed by duncan", DIM);
            }
            vec![
                Cell::plain(status.app_env.app.as_str()),
                Cell::env(status.app_env.env.as_str()),
                Cell::plain(app.app_type.clone()),
                Cell::plain(app.tag.clone().unwrap_or_else(|| "-".to_owned())),
                Cell::plain(current.clone()),
                Cell::styled(tasks, tasks_style),
                app_state,
            ]
        })
        .collect()
}
