//! `duncan history`: the release history, newest first, as a table or JSON.

use duncan_core::lock::lock_status;
use duncan_core::release::{self, HistoryEntry, Outcome, RollbackSource};
use time::macros::format_description;

use super::{context, deploy::target};
use crate::cli::HistoryArgs;
use crate::config::Config;
use crate::explain::{Intent, explain_for};
use crate::failure::{CommandResult, ExitStatus};
use crate::output::{
    BOLD, Cell, DIM, GREEN, Output, RED, YELLOW, paint, render_table, table_width,
};

/// Runs `duncan history`.
pub fn run(config: &Config, out: Output, args: &HistoryArgs) -> CommandResult {
    let app_env = target(config, &args.target)?;
    let consul = context::consul(config)?;
    let runtime = super::runtime()?;
    let entries = runtime
        .block_on(async {
            let entries = release::history(&consul, &app_env, Some(args.limit)).await?;
            // Consul filters a listing down to what the token may read: an empty one may hide
            // a refusal, which a plain read of one key under the prefix (the lock) tells.
            if entries.is_empty() {
                lock_status(&consul, &app_env).await?;
            }
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(entries)
        })
        .map_err(|e| explain_for(&*e, config, &Intent::read_deploys(&app_env)))?;
    if out.json {
        out.json(&entries)?;
        return Ok(ExitStatus::Ok);
    }
    if entries.is_empty() {
        out.line(format!("no releases recorded for {app_env}"))?;
        return Ok(ExitStatus::Ok);
    }
    let rows: Vec<Vec<Cell>> = entries.iter().map(row).collect();
    for line in render_table(
        &[
            "STARTED",
            "KIND",
            "TAG",
            "PREVIOUS",
            "OUTCOME",
            "BY",
            "DURATION",
            "DEPLOYMENT",
        ],
        &rows,
        table_width(),
    ) {
        out.line(line)?;
    }
    for entry in entries.iter().filter(|e| e.record.outcome.is_unfinished()) {
        let r = &entry.record;
        if let Some(id) = &r.deployment_id {
            let what = if r.outcome == Outcome::InProgress {
                "is in progress, or its duncan was killed before recording the end"
            } else {
                "was interrupted before its end was seen"
            };
            out.note(format!(
                "the {} of {} (deployment {id}) {what}: `duncan watch {id}` follows it and records                  how it ended",
                r.kind_name(),
                r.tag
            ));
        }
    }
    Ok(ExitStatus::Ok)
}

fn row(entry: &HistoryEntry) -> Vec<Cell> {
    let r = &entry.record;
    let started = r
        .started_at
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .unwrap_or_else(|_| r.started_at.to_string());
    // An unfinished deploy has no duration yet: its record was written when it began.
    let took = if r.outcome == Outcome::InProgress {
        "-".to_owned()
    } else {
        format!("{}s", (r.finished_at - r.started_at).whole_seconds().max(0))
    };
    let outcome_style = match r.outcome {
        Outcome::Succeeded => GREEN,
        Outcome::RolledBack | Outcome::InProgress | Outcome::Interrupted => YELLOW,
        _ => RED,
    };
    let kind = r.kind_name();
    vec![
        Cell::plain(started),
        Cell::plain(kind),
        Cell::plain(r.tag.as_str()),
        r.previous
            .as_ref()
            .map_or_else(|| Cell::styled("-", DIM), |p| Cell::plain(p.as_str())),
        Cell::styled(r.outcome.as_str(), outcome_style),
        Cell::plain(r.deployer.to_string()),
        Cell::plain(took),
        Cell::plain(r.deployment_id.clone().unwrap_or_else(|| "-".to_owned())),
    ]
}

/// How long ago `at` was, roughly, for people: `40s`, `12 min`, `5 h`, `3 days`.
fn ago(at: time::OffsetDateTime) -> String {
    let secs = (time::OffsetDateTime::now_utc() - at)
        .whole_seconds()
        .max(0);
    match secs {
        0..60 => format!("{secs}s ago"),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        _ if secs < 2 * 86_400 => "1 day ago".to_owned(),
        _ => format!("{} days ago", secs / 86_400),
    }
}

/// The plan's lines saying which release a rollback restores, and a warning when that release
/// was itself rolled back from.
pub fn rollback_lines(source: &RollbackSource, tag: &duncan_core::names::Tag) -> Vec<String> {
    let mut lines = Vec::new();
    let restores = match &source.entry {
        Some(entry) => format!(
            "{tag}, deployed by {} {} (history #{})",
            entry.record.deployer,
            ago(entry.record.finished_at),
            entry.seq
        ),
        None => format!("{tag}, Consul's previous tag (no history record of it)"),
    };
    lines.push(format!("  {} {restores}", paint(BOLD, "restores:")));
    if let Some(by) = &source.rolled_back_by {
        lines.push(format!(
            "  {} {tag} was rolled back from by {} {} (rollback to {}, history #{}): it is the \
             release that was undone",
            paint(YELLOW, "warning:"),
            by.record.deployer,
            ago(by.record.finished_at),
            by.record.tag,
            by.seq
        ));
    }
    lines
}
