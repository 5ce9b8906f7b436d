//! `duncan scale web=3 worker=2` (the Go tool's form) and `duncan scale --type web --instances 3`.

use std::sync::Arc;

use duncan_core::access::{Access, probe_access};
use duncan_core::deploy::DeployError;
use duncan_core::scale::{ScaleChange, ScaleRequest, parse_scale_arg, plan_scale, scale};

use super::{context, deploy::target};
use crate::cli::ScaleArgs;
use crate::config::Config;
use crate::explain::explain;
use crate::failure::{CommandResult, ExitStatus, Failure, error_chain};
use crate::interrupt::run_to_end;
use crate::output::{BOLD, CYAN, GREEN, Output, YELLOW, env_name, paint};
use crate::progress::ProgressView;
use crate::prompt::{Answer, confirm};

/// Runs `duncan scale`.
pub fn run(config: &Config, out: Output, args: &ScaleArgs) -> CommandResult {
    let app_env = target(config, &args.target)?;
    let instances: Vec<(String, u32)> = match (&args.kind, args.instances) {
        (Some(kind), Some(n)) => vec![(kind.clone(), n)],
        _ if args.rules.is_empty() => {
            return Err(Failure::usage("nothing to scale").hint(
                "give TYPE=N pairs (duncan scale web=3 worker=2 -a APP -e ENV) or --type TYPE --instances N",
            ));
        }
        _ => args
            .rules
            .iter()
            .map(|rule| parse_scale_arg(rule))
            .collect::<Result<_, _>>()
            .map_err(|e| {
                Failure::usage(e.to_string()).hint("write each as TYPE=N, for example web=3")
            })?,
    };
    let ctx = Arc::new(context::context(config)?);
    let runtime = super::runtime()?;

    // Show what changes and ask before taking the lock, as the Go tool did.
    let group = runtime
        .block_on(ctx.marathon.group(app_env.group_id().as_str(), &[]))
        .map_err(|e| match e {
            marathon_client::Error::NotFound { .. } => {
                Failure::error(format!("Marathon has no group {}", app_env.group_id()))
                    .hint("check the app and environment; `duncan status` lists what runs")
            }
            e => explain(&e, config),
        })?;
    let group = serde_json::to_value(&group)
        .map_err(|e| Failure::error(format!("cannot read the group: {e}")))?;
    let (changes, _) =
        plan_scale(&app_env, &group, &instances).map_err(|e| scale_failure(config, &e))?;
    if changes.is_empty() {
        if out.json {
            out.json(&serde_json::json!({"changes": [], "deployment_id": null, "warnings": []}))?;
        } else {
            out.line(format!(
                "nothing to do: {} already has those instance counts",
                app_env.group_id()
            ))?;
        }
        return Ok(ExitStatus::Ok);
    }
    // Tell a user without rights before asking anything, as a deploy does.
    match runtime.block_on(probe_access(&ctx.consul, &app_env)) {
        Ok(Access::Allowed) => {}
        Ok(_) => {
            return Err(Failure::new(
                ExitStatus::NotAllowed,
                format!("you are not allowed to manage {app_env}: the Consul token may not write deploys/{}/{}/", app_env.app, app_env.env),
            )
            .hint("ask for a Consul token that may write this app and environment"));
        }
        Err(e) => return Err(explain(&e, config)),
    }
    // A hold, or a lock held and not waited for, refuses before the prompt (the hold is read
    // again under the lock).
    let wait = args.wait.or_else(|| {
        let wait = config.lock_wait.value;
        (!wait.is_zero()).then_some(wait)
    });
    if let Err(error) = runtime.block_on(duncan_core::deploy::check_blockers(&ctx, &app_env, wait))
    {
        return Err(scale_failure(config, &error));
    }
    if !out.json {
        out.line("You are about to scale:")?;
        out.line("")?;
        out.line(format!(
            "  {} {}",
            paint(BOLD, "app:"),
            paint(YELLOW, app_env.app.as_str())
        ))?;
        out.line(format!(
            "  {} {}",
            paint(BOLD, "env:"),
            env_name(app_env.env.as_str())
        ))?;
        for change in &changes {
            out.line(change_line(change))?;
        }
        out.line("")?;
    }
    if confirm(args.yes, "--yes")? == Answer::No {
        out.line("phew... that was close: nothing was changed")?;
        return Ok(ExitStatus::Ok);
    }

    let mut request = ScaleRequest::new(app_env.clone(), instances);
    request.force_marathon = args.force_marathon;
    request.no_rollback = args.no_rollback;
    request.wait_for_lock = wait;
    request.watch.deadline = args.timeout.or(config.deploy_timeout.value);
    let view = ProgressView::new(out, false, "scaling");
    let result = runtime.block_on(async {
        let spinner = view.spin();
        let sink = super::deploy::logging(view.sink());
        let result = run_to_end(&ctx.cancel, scale(&ctx, &request, &sink), || {
            super::deploy::interrupting(&view)
        })
        .await;
        if let Some(spinner) = spinner {
            spinner.abort();
        }
        view.clear();
        result
    });
    let report = match result? {
        Ok(report) => report,
        Err(e) => return Err(scale_failure(config, &e)),
    };
    for warning in &report.warnings {
        out.warn(warning);
    }
    if out.json {
        out.json(&report)?;
    } else {
        let id = report.deployment_id.as_deref().unwrap_or("-");
        out.line(format!(
            "{} {} (Marathon deployment {id})",
            paint(GREEN, "scaled"),
            app_env
        ))?;
    }
    Ok(ExitStatus::Ok)
}

fn change_line(change: &ScaleChange) -> String {
    format!(
        "  {}: {} => {} instances",
        paint(BOLD, &change.app_type),
        paint(CYAN, change.from),
        paint(YELLOW, change.to)
    )
}

fn scale_failure(config: &Config, error: &DeployError) -> Failure {
    let status = ExitStatus::from_code(error.exit_code());
    match error {
        DeployError::UnknownAppType { .. } => {
            Failure::usage(error.to_string()).hint("use one of the types listed")
        }
        DeployError::LockHeld { held } => Failure::new(status, error_chain(error)).hint(
            super::lock::stale_lock_hint(held, config)
                .unwrap_or_else(|| "wait for that deploy to end, then scale again".to_owned()),
        ),
        DeployError::OnHold { app_env, .. } => {
            Failure::new(status, error_chain(error)).hint(super::lock::on_hold_hint(app_env))
        }
        _ if status == ExitStatus::Error => explain(error, config),
        _ => Failure::new(status, error_chain(error)),
    }
}
