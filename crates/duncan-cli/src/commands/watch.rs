//! `duncan watch ID`: follows a running Marathon deployment until it ends. On a deployment
//! duncan started whose record is unfinished (`in_progress`, `interrupted`), it finishes that
//! record as the deploy would have (see `duncan_core::deploy::resume`).

use duncan_core::deploy::resume::{Resumed, StartedDeploy, find_started, resume};
use duncan_core::names::AppEnv;
use duncan_core::release::Outcome;
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

/// The app/envs whose history may name a deployment: every configured app in every
/// configured environment.
fn candidates(config: &Config) -> Vec<AppEnv> {
    let mut all = Vec::new();
    for app in &config.apps.value {
        for env in &config.environments.value {
            if let Ok(app_env) = AppEnv::parse(app, env) {
                all.push(app_env);
            }
        }
    }
    all
}

/// The history record naming deployment `id`, when Consul can tell (a problem reading it is a
/// warning: the deployment is then only followed).
fn find_record(config: &Config, out: Output, id: &str) -> Option<StartedDeploy> {
    let candidates = candidates(config);
    if candidates.is_empty() {
        return None;
    }
    let ctx = context::context(config).ok()?;
    let runtime = super::runtime().ok()?;
    match runtime.block_on(find_started(&ctx, &candidates, id)) {
        Ok(found) => found,
        Err(error) => {
            out.warn(format!(
                "could not search the release history ({}); following the deployment only",
                crate::failure::error_chain(&error)
            ));
            None
        }
    }
}

/// Runs `duncan watch`.
pub fn run(config: &Config, out: Output, args: &WatchArgs) -> CommandResult {
    let found = find_record(config, out, &args.id);
    if let Some(started) = &found
        && started.entry.record.outcome.is_unfinished()
    {
        return finish_record(config, out, args, started);
    }
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
            return match &found {
                Some(started) => {
                    let r = &started.entry.record;
                    let line = format!(
                        "deployment {id} ({} of {} to {}) has ended; its history record says {}",
                        r.kind_name(),
                        r.tag,
                        started.app_env,
                        r.outcome
                    );
                    if r.outcome.is_success() {
                        out.line(line)?;
                        Ok(ExitStatus::Ok)
                    } else {
                        Err(Failure::error(line)
                            .hint("`duncan history` lists the releases; `duncan status` what runs"))
                    }
                }
                None => Err(Failure::error(format!(
                    "Marathon lists no deployment {id}, and no history record of the configured \
                     apps names it: duncan knows nothing of it (it has finished, or never existed)"
                ))
                .hint("see what runs with `duncan status`")),
            };
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

/// `watch` of a deployment duncan started whose record is unfinished: takes the lock, follows
/// or judges it, and finishes its record.
fn finish_record(
    config: &Config,
    out: Output,
    args: &WatchArgs,
    started: &StartedDeploy,
) -> CommandResult {
    let ctx = context::context(config)?;
    let runtime = super::runtime()?;
    let view = ProgressView::new(out, true, "watching");
    let record = &started.entry.record;
    out.note(format!(
        "deployment {} is the {} of {} to {} by {} (history #{}, {}): finishing its record",
        args.id,
        record.kind_name(),
        record.tag,
        started.app_env,
        record.deployer,
        started.entry.seq,
        record.outcome
    ));
    let result = runtime.block_on(async {
        let options = WatchOptions {
            deadline: args.timeout,
            ..WatchOptions::default()
        };
        let sink = super::deploy::logging(view.sink());
        let spinner = view.spin();
        let work = resume(&ctx, started, &options, &sink);
        let result = run_to_end(&ctx.cancel, work, || {}).await;
        if let Some(spinner) = spinner {
            spinner.abort();
        }
        view.clear();
        result
    })?;
    let resumed = result.map_err(|error| super::deploy::failed(config, &error))?;
    report(out, &args.id, &resumed)
}

/// Says how the finished record came out; the exit code follows it.
fn report(out: Output, id: &str, resumed: &Resumed) -> CommandResult {
    let Resumed {
        app_env,
        tag,
        recorded,
        followed,
        detail,
        already,
    } = resumed;
    if out.json {
        out.json_line(&json!({
            "result": recorded.map_or("unchanged", Outcome::as_str),
            "deployment_id": id,
            "app_env": app_env.to_string(),
            "tag": tag.as_str(),
            "followed": followed,
            "detail": detail,
        }))?;
    }
    match recorded {
        Some(Outcome::Succeeded) => {
            if !out.json {
                out.line(format!(
                    "{} deployment {id}: {app_env} runs {tag} ({detail}); recorded as current",
                    paint(GREEN, "finished")
                ))?;
            }
            Ok(ExitStatus::Ok)
        }
        Some(outcome) => Err(Failure::error(format!(
            "deployment {id} of {tag} to {app_env} did not succeed ({detail}); recorded as {outcome}"
        ))
        .hint("see `duncan status` for what the apps run now; `duncan rollback` goes back")),
        None if already.is_some() => {
            if !out.json {
                out.line(format!(
                    "deployment {id} of {tag} to {app_env}: {detail}; nothing to record"
                ))?;
            }
            Ok(ExitStatus::Ok)
        }
        None => Err(Failure::error(format!(
            "deployment {id} of {tag} to {app_env}: {detail}"
        ))
        .hint("run `duncan watch` again later to finish its record")),
    }
}
