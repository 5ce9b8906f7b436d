//! `duncan report`: delivery figures (the DORA measures) from the release history of one or
//! many app/envs, as a table with a bar per day, JSON or CSV.

use std::fmt::Write as _;

use duncan_core::names::AppEnv;
use duncan_core::release::ReleaseError;
use duncan_core::report::{DEFAULT_REPORT_CONCURRENCY, Figures, Releases, Window, read_many};
use serde::Serialize;
use time::OffsetDateTime;
use time::macros::format_description;

use super::context;
use crate::cli::ReportArgs;
use crate::config::Config;
use crate::explain::{Intent, explain_for};
use crate::failure::{CommandResult, ExitStatus, error_chain};
use crate::output::{Cell, DIM, GREEN, Output, RED, YELLOW, paint, render_table, table_width};

/// The widest bar of the per-day chart, in characters.
const BAR_WIDTH: u32 = 40;

/// Runs `duncan report`.
pub fn run(config: &Config, out: Output, args: &ReportArgs) -> CommandResult {
    let targets = super::targets::targets(config, args.app.as_deref(), args.env.as_deref())?;
    let consul = context::consul(config)?;
    let runtime = super::runtime()?;
    let window = Window::ending(OffsetDateTime::now_utc(), args.since);
    let results = runtime.block_on(read_many(&consul, &targets, DEFAULT_REPORT_CONCURRENCY));

    let (read, skipped): (Vec<_>, Vec<_>) = results.into_iter().partition(|(_, r)| r.is_ok());
    let read: Vec<(AppEnv, Releases)> = read
        .into_iter()
        .filter_map(|(t, r)| r.ok().map(|r| (t, r)))
        .collect();
    let skipped: Vec<(AppEnv, ReleaseError)> = skipped
        .into_iter()
        .filter_map(|(t, r)| r.err().map(|e| (t, e)))
        .collect();
    // Nothing could be read: that is the answer, with why, not an empty report.
    if read.is_empty()
        && let Some((target, error)) = skipped.first()
    {
        return Err(explain_for(error, config, &Intent::read_deploys(target)));
    }

    let report = Report::new(&window, &read, &skipped);
    if out.json {
        out.json(&report)?;
    } else if args.csv {
        for line in csv_lines(&report) {
            out.line(line)?;
        }
    } else {
        for line in human_lines(&report, &window) {
            out.line(line)?;
        }
    }
    for (target, error) in &skipped {
        out.warn(format!(
            "{target} is not in the report: {}",
            error_chain(error)
        ));
    }
    Ok(ExitStatus::Ok)
}

/// The figures of one app/env.
#[derive(Debug, Serialize)]
struct AppEnvFigures {
    app: String,
    env: String,
    #[serde(flatten)]
    figures: Figures,
}

/// An app/env that could not be read.
#[derive(Debug, Serialize)]
struct Skipped {
    app: String,
    env: String,
    error: String,
}

/// The whole report, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Report {
    #[serde(with = "time::serde::rfc3339")]
    since: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    until: OffsetDateTime,
    /// The figures of every app/env read, together.
    all: Figures,
    app_envs: Vec<AppEnvFigures>,
    skipped: Vec<Skipped>,
}

impl Report {
    fn new(
        window: &Window,
        read: &[(AppEnv, Releases)],
        skipped: &[(AppEnv, ReleaseError)],
    ) -> Self {
        Report {
            since: window.since,
            until: window.until,
            all: Figures::of(read.iter().map(|(_, r)| r), window),
            app_envs: read
                .iter()
                .map(|(target, releases)| AppEnvFigures {
                    app: target.app.to_string(),
                    env: target.env.to_string(),
                    figures: Figures::of([releases], window),
                })
                .collect(),
            skipped: skipped
                .iter()
                .map(|(target, error)| Skipped {
                    app: target.app.to_string(),
                    env: target.env.to_string(),
                    error: error_chain(error),
                })
                .collect(),
        }
    }
}

/// A duration as people read it: `12s`, `4m 13s`, `2h 5m`, `3d 4h`.
fn human_duration(secs: f64) -> String {
    // Whole seconds are enough for figures made of minutes and hours.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let secs = secs.max(0.0).round() as u64;
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".to_owned(), |r| format!("{:.0}%", r * 100.0))
}

fn seconds(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), human_duration)
}

fn table_row(name: String, f: &Figures) -> Vec<Cell> {
    let failure_style = if f.failed > 0 { RED } else { GREEN };
    vec![
        Cell::plain(name),
        Cell::plain(f.deploys.to_string()),
        Cell::styled(f.failed.to_string(), failure_style),
        Cell::plain(percent(f.change_failure_rate)),
        Cell::plain(format!("{:.1}", f.deploys_per_week)),
        Cell::plain(seconds(f.median_deploy_seconds)),
        Cell::plain(seconds(f.median_restore_seconds)),
        Cell::plain(f.rollbacks.to_string()),
    ]
}

fn human_lines(report: &Report, window: &Window) -> Vec<String> {
    let when = window
        .since
        .format(format_description!("[year]-[month]-[day] [hour]:[minute]"))
        .unwrap_or_else(|_| window.since.to_string());
    let days = window.days().len().saturating_sub(1).max(1);
    let mut lines = vec![format!(
        "Delivery since {when} UTC ({days} days), {} app/env{}",
        report.app_envs.len(),
        if report.app_envs.len() == 1 { "" } else { "s" }
    )];
    lines.push(String::new());
    let mut rows: Vec<Vec<Cell>> = report
        .app_envs
        .iter()
        .map(|a| table_row(format!("{}/{}", a.app, a.env), &a.figures))
        .collect();
    if report.app_envs.len() > 1 {
        let name = if report.skipped.is_empty() {
            "all".to_owned()
        } else {
            format!(
                "all read ({} of {})",
                report.app_envs.len(),
                report.app_envs.len() + report.skipped.len()
            )
        };
        rows.push(table_row(name, &report.all));
    }
    lines.extend(render_table(
        &[
            "APP/ENV",
            "DEPLOYS",
            "FAILED",
            "FAILURE RATE",
            "PER WEEK",
            "MEDIAN DEPLOY",
            "MEDIAN RESTORE",
            "ROLLBACKS",
        ],
        &rows,
        table_width(),
    ));
    let all = &report.all;
    lines.push(String::new());
    lines.push(format!(
        "Changes per day ({} succeeded, {} failed):",
        paint(GREEN, "█"),
        paint(RED, "✗")
    ));
    let most = all.per_day.iter().map(|d| d.deploys).max().unwrap_or(0);
    // One character a change, or a share of one when a day has more than fit.
    let per_char = most.div_ceil(BAR_WIDTH).max(1);
    for day in &all.per_day {
        let good = (day.deploys - day.failed).div_ceil(per_char);
        let bad = day.failed.div_ceil(per_char);
        let date = day
            .date
            .format(format_description!("[year]-[month]-[day]"))
            .unwrap_or_else(|_| day.date.to_string());
        let mut line = format!("{date}  ");
        line.push_str(&paint(GREEN, "█".repeat(good as usize)));
        line.push_str(&paint(RED, "✗".repeat(bad as usize)));
        if day.deploys > 0 {
            let _ = write!(line, " {}", day.deploys);
            if day.failed > 0 {
                let _ = write!(line, " ({} failed)", day.failed);
            }
        } else {
            line.push_str(&paint(DIM, "·"));
        }
        lines.push(line);
    }
    if per_char > 1 {
        lines.push(paint(
            DIM,
            format!("(one mark is up to {per_char} changes)"),
        ));
    }
    lines.push(String::new());
    if all.deployers.is_empty() {
        lines.push("No changes in this period.".to_owned());
    } else {
        let who: Vec<String> = all
            .deployers
            .iter()
            .map(|d| format!("{} {}", d.user, d.deploys))
            .collect();
        lines.push(format!("Who deploys: {}", who.join(", ")));
        let hours: Vec<String> = all
            .busiest_hours(3)
            .iter()
            .map(|(h, n)| format!("{h:02}:00 ({n})"))
            .collect();
        lines.push(format!("Busiest hours (UTC): {}", hours.join(", ")));
    }
    if all.unrestored > 0 {
        let names: Vec<String> = report
            .app_envs
            .iter()
            .filter(|a| a.figures.unrestored > 0)
            .map(|a| format!("{}/{}", a.app, a.env))
            .collect();
        lines.push(paint(
            YELLOW,
            format!(
                "{} failed change{} not followed by a good release yet: {}",
                all.unrestored,
                if all.unrestored == 1 { "" } else { "s" },
                names.join(", ")
            ),
        ));
    }
    if all.not_finished > 0 {
        lines.push(paint(
            DIM,
            format!(
                "{} deploy{} cancelled, interrupted or superseded (not counted as changes)",
                all.not_finished,
                if all.not_finished == 1 { "" } else { "s" }
            ),
        ));
    }
    lines
}

/// The CSV header and rows (one per app/env, then `all`), RFC 4180: names are plain, so only
/// a skipped app/env's error needs quoting, and skipped app/envs are not rows.
fn csv_lines(report: &Report) -> Vec<String> {
    let mut lines = vec![
        "app,env,deploys,succeeded,failed,rolled_back_from,change_failure_rate,rollbacks,\
         deploys_per_week,median_deploy_seconds,median_restore_seconds,unrestored"
            .to_owned(),
    ];
    let number = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.1}"));
    let row = |app: &str, env: &str, f: &Figures| {
        format!(
            "{app},{env},{},{},{},{},{},{},{:.2},{},{},{}",
            f.deploys,
            f.succeeded,
            f.failed,
            f.rolled_back_from,
            f.change_failure_rate
                .map_or_else(String::new, |r| format!("{r:.3}")),
            f.rollbacks,
            f.deploys_per_week,
            number(f.median_deploy_seconds),
            number(f.median_restore_seconds),
            f.unrestored,
        )
    };
    for a in &report.app_envs {
        lines.push(row(&a.app, &a.env, &a.figures));
    }
    lines.push(row("all", "", &report.all));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human_duration(12.4), "12s");
        assert_eq!(human_duration(253.0), "4m 13s");
        assert_eq!(human_duration(7500.0), "2h 5m");
        assert_eq!(human_duration(3.0 * 86_400.0 + 4.0 * 3600.0), "3d 4h");
        assert_eq!(human_duration(-1.0), "0s");
    }
}
