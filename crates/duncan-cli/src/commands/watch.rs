//! `duncan watch ID`: follows a running Marathon deployment until it ends.

use duncan_core::watch::{WatchError, WatchOptions, WatchOutcome, watch_running};
use serde_json::json;

use super::context;
use crate::cli::WatchArgs;
use crate::config::Config;
use crate::explain::explain;
use crate::failure::{CommandResult, ExitStatus, Failure};
use crate::interrupt::run_to_end;
use crate::output::{GREEN, Output, paint};
use crate::progress::ProgressView;

/// Runs `duncan watch`.
pub fn run(config: &Config, out: Output, args: &WatchArgs) -> CommandResult {
    let marathon = context::marathon(config)?;
    let runtime = super::runtime()?;
    let view = ProgressView::new(out, true, "watching");
    let report = runtime.block_on(async {
        let options = WatchOptions {
            deadline: args.timeout,
            ..WatchOptions::default()
        };
        let sink = super::deploy::logging(view.sink());
        out.note(format!("watching deployment {}", args.id));
        let spinner = view.spin();
        let cancel = tokio_util::sync::CancellationToken::new();
        let watch = watch_running(&marathon, &args.id, &options, &cancel, &sink);
        let result = run_to_end(&cancel, watch, || {}).await;
        if let Some(spinner) = spinner {
            spinner.abort();
        }
        view.clear();
        result
    })?;
    let report = match report {
        Ok(report) if report.outcome == WatchOutcome::Interrupted => {
            return Err(Failure::new(
                ExitStatus::Interrupted,
                format!(
                    "stopped watching; deployment {} goes on in Marathon",
                    args.id
                ),
            ));
        }
        Ok(report) => report,
        Err(WatchError::NotRunning { id }) => {
            return Err(Failure::error(format!(
                "Marathon lists no running deployment {id}: it has finished or never existed"
            ))
            .hint("see what runs with `duncan status`"));
        }
        Err(e) => return Err(explain(&e, config)),
    };
    let succeeded = report.outcome.is_success();
    if out.json {
        out.json_line(&json!({
            "result": if succeeded { "succeeded" } else { "failed" },
            "deployment_id": args.id,
            "outcome": report.outcome.to_string(),
            "marathon_unreachable": report.marathon_unreachable,
        }))?;
    } else if succeeded {
        out.line(format!(
            "{} deployment {}",
            paint(GREEN, "finished"),
            args.id
        ))?;
    }
    if succeeded {
        return Ok(ExitStatus::Ok);
    }
    let message = format!("deployment {} {}", args.id, report.outcome);
    let hint = match report.outcome {
        WatchOutcome::TimedOut { .. } | WatchOutcome::Stalled { .. } => {
            "it may still be running in Marathon; nothing was rolled back"
        }
        _ => "see `duncan status` for what the apps run now",
    };
    let message = if report.marathon_unreachable {
        format!("{message} (Marathon could not be read at the end)")
    } else {
        message
    };
    Err(Failure::error(message).hint(hint))
}
