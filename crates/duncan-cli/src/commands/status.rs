//! `duncan status` (alias `list`): what Marathon runs for each app/env, against Consul's record.

use duncan_core::names::{AppEnv, Tag};
use duncan_core::status::{
    Activity, AppStatus, DEFAULT_STATUS_CONCURRENCY, Drift, GroupStatus, StatusError, status_many,
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
    let targets = super::targets::targets(config, args.app.as_deref(), args.env.as_deref())?;
    let ctx = context::context(config)?;
    let runtime = super::runtime()?;
    // A refusal of the lock's read (which every status makes) is the app/env's error, so a
    // `current` hidden by the token's rules never reads as "not recorded".
    let results =
        runtime.block_on(async { status_many(&ctx, &targets, DEFAULT_STATUS_CONCURRENCY).await });
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

    warn_consul_unknown(out, &results);
    if out.json {
        let items: Vec<_> = results
            .iter()
            .map(|(target, result)| match result {
                Ok(status) => serde_json::to_value(status).unwrap_or_default(),
                Err(e) => json!({"app_env": target.to_string(), "error": error_chain(e)}),
            })
            .collect();
        out.json(&items)?;
        return Ok(exit_status(&results));
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
    for (target, result) in &results {
        if let Ok(status) = result {
            for line in notes(target, status) {
                out.line(line)?;
            }
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
    Ok(exit_status(&results))
}

/// 1 when Consul's side of some app/env is unknown (Consul could not be read): the table shows
/// Marathon's side only, which is not the whole status. 0 otherwise.
fn exit_status(results: &[(AppEnv, Result<GroupStatus, StatusError>)]) -> ExitStatus {
    if results
        .iter()
        .any(|(_, r)| r.as_ref().is_ok_and(GroupStatus::consul_unknown))
    {
        ExitStatus::Error
    } else {
        ExitStatus::Ok
    }
}

/// Says on stderr (kept with `--json` and `-q`) which app/envs' Consul side is unknown.
fn warn_consul_unknown(out: Output, results: &[(AppEnv, Result<GroupStatus, StatusError>)]) {
    for (target, result) in results {
        if let Ok(GroupStatus {
            drift: Drift::ConsulUnknown { reason, .. },
            ..
        }) = result
        {
            out.warn(format!(
                "{target}: Consul could not be read ({reason}); Marathon's side is shown, \
                 Consul's (current tag, lock) is unknown"
            ));
        }
    }
}

/// The lines under the table for one app/env: what is going on, and the way out of a drift
/// (only when nothing is going on: advice to deploy while a deploy runs would fail).
fn notes(target: &AppEnv, status: &GroupStatus) -> Vec<String> {
    let (app, env) = (target.app.as_str(), target.env.as_str());
    let mut lines = Vec::new();
    match &status.activity {
        Activity::InProgress {
            holder,
            tag,
            age_secs,
            ..
        } => {
            let what = tag
                .as_ref()
                .map_or_else(|| "a change".to_owned(), |t| format!("deploy of {t}"));
            let since = age_secs.map_or_else(String::new, |a| format!(", started {} ago", ago(a)));
            lines.push(format!("{target}: {what} in progress by {holder}{since}"));
        }
        Activity::Orphaned { deployments } => {
            for id in deployments {
                lines.push(format!(
                    "{target}: Marathon deployment {id} is running but no duncan holds the lock \
                     (a duncan that was killed, or another tool); to follow it: duncan watch {id}; \
                     to go back: duncan rollback -a {app} -e {env}"
                ));
            }
        }
        Activity::Idle => {
            if let Drift::Drifted { marathon, consul } = &status.drift {
                lines.push(repair_hint(target, marathon, consul));
            }
        }
        _ => {}
    }
    lines
}

/// `11 s`, `4 min`, `2 h`.
fn ago(secs: u64) -> String {
    match secs {
        0..120 => format!("{secs} s"),
        120..7200 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    }
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
fn short_error(error: &StatusError) -> String {
    match error {
        StatusError::GroupNotFound { group } => format!("no group {group} in Marathon"),
        other => error_chain(other),
    }
}

fn rows_of(status: &GroupStatus) -> Vec<Vec<Cell>> {
    let current = match &status.current {
        Some(tag) => tag.to_string(),
        None if status.consul_unknown() => "?".to_owned(),
        None => "-".to_owned(),
    };
    let state = match &status.drift {
        Drift::InSync => Cell::styled("in sync", GREEN),
        Drift::Drifted { .. } => Cell::styled("drift: Marathon differs from Consul", YELLOW),
        Drift::NotRecorded { .. } => Cell::styled("not recorded in Consul", YELLOW),
        Drift::NoDeployedApps => Cell::styled("no app runs this app's image", DIM),
        Drift::ConsulUnknown { .. } => Cell::styled("Consul unknown", YELLOW),
        _ => Cell::plain("-"),
    };
    // In a drifted group, an app that runs the recorded tag is in sync.
    let state_of = |app: &AppStatus| match &status.drift {
        Drift::Drifted { .. } if !app.drifted => Cell::styled("in sync", GREEN),
        _ => state.clone(),
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
            let mut app_state = state_of(app);
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
