//! `duncan log`: the audit events of one app/env, or of every configured app and environment,
//! newest first, as a table or JSON.
//!
//! One Consul read per app/env (a `recurse` on `deploys/{app}/{env}/events/`), all of them
//! asked at once.

use duncan_core::audit::{AuditEntry, EventKind, log::read_log};
use time::OffsetDateTime;
use time::macros::format_description;

use super::context;
use crate::cli::LogArgs;
use crate::config::Config;
use crate::explain::{Intent, explain_for};
use crate::failure::{CommandResult, ExitStatus, Failure, error_chain};
use crate::output::{Cell, DIM, GREEN, Output, RED, YELLOW, render_table, table_width};

/// Runs `duncan log`.
pub fn run(config: &Config, out: Output, args: &LogArgs) -> CommandResult {
    let targets = super::targets::targets(config, args.app.as_deref(), args.env.as_deref())?;
    let consul = context::consul(config)?;
    let since = match args.since {
        Some(d) => Some(
            OffsetDateTime::now_utc()
                - time::Duration::try_from(d)
                    .map_err(|_| Failure::usage("--since is too long").hint("try --since 720h"))?,
        ),
        None => None,
    };
    let runtime = super::runtime()?;
    let results = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, target) in targets.iter().enumerate() {
            let (consul, target) = (consul.clone(), target.clone());
            tasks.spawn(async move { (i, read_log(&consul, &target, since).await) });
        }
        let mut results: Vec<Option<_>> = targets.iter().map(|_| None).collect();
        while let Some(done) = tasks.join_next().await {
            if let Ok((i, result)) = done
                && let Some(slot) = results.get_mut(i)
            {
                *slot = Some(result);
            }
        }
        results
    });
    let mut entries: Vec<AuditEntry> = Vec::new();
    let mut failed = false;
    for (target, result) in targets.iter().zip(results) {
        match result {
            Some(Ok(found)) => entries.extend(found),
            Some(Err(error)) if targets.len() == 1 => {
                return Err(explain_for(&error, config, &Intent::read_deploys(target)));
            }
            Some(Err(error)) => {
                failed = true;
                out.warn(format!(
                    "could not read the audit log of {target}: {}",
                    error_chain(&error)
                ));
            }
            None => {
                failed = true;
                out.warn(format!("could not read the audit log of {target}"));
            }
        }
    }
    // Newest first across app/envs; within one, the sequence number breaks ties of a second.
    entries.sort_by_key(|e| std::cmp::Reverse((e.event.timestamp, e.seq)));
    entries.truncate(args.limit);
    let status = if failed {
        ExitStatus::Error
    } else {
        ExitStatus::Ok
    };
    if out.json {
        out.json(&entries)?;
        return Ok(status);
    }
    if entries.is_empty() {
        let scope = match targets.as_slice() {
            [one] => one.to_string(),
            _ => "the configured apps and environments".to_owned(),
        };
        let window = args
            .since
            .map(|d| format!(" in the last {}", crate::duration::format_duration(d)))
            .unwrap_or_default();
        out.line(format!("no audit events recorded for {scope}{window}"))?;
        return Ok(status);
    }
    let rows: Vec<Vec<Cell>> = entries.iter().map(row).collect();
    for line in render_table(
        &["WHEN", "APP", "ENV", "EVENT", "BY", "TAG", "DETAIL"],
        &rows,
        table_width(),
    ) {
        out.line(line)?;
    }
    Ok(status)
}

fn row(entry: &AuditEntry) -> Vec<Cell> {
    let e = &entry.event;
    let when = e
        .timestamp
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .unwrap_or_else(|_| e.timestamp.to_string());
    let style = match e.kind {
        EventKind::DeploySucceeded | EventKind::HoldReleased => GREEN,
        EventKind::DeployFailed => RED,
        EventKind::DeployRolledBack
        | EventKind::Rollback
        | EventKind::LockForced
        | EventKind::HoldSet => YELLOW,
        _ => DIM,
    };
    let tag = match (&e.tag, &e.previous_tag) {
        (Some(tag), Some(previous)) => format!("{tag} (was {previous})"),
        (Some(tag), None) => tag.to_string(),
        (None, _) => "-".to_owned(),
    };
    let detail = match (&e.message, &e.deployment_id) {
        (Some(message), _) => message.clone(),
        (None, Some(id)) => format!("deployment {id}"),
        (None, None) => "-".to_owned(),
    };
    vec![
        Cell::plain(when),
        Cell::plain(e.app.as_str()),
        Cell::env(e.env.as_str()),
        Cell::styled(e.kind.as_str(), style),
        Cell::plain(e.deployer.to_string()),
        Cell::plain(tag),
        Cell::plain(detail),
    ]
}
