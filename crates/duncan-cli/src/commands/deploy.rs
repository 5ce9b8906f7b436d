//! `duncan deploy` and `duncan rollback`: the plan, the prompt, the deploy protocol with its
//! progress line, Ctrl-C, and the outcome with the right exit code.

use std::future::Future;
use std::io::IsTerminal;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use duncan_core::deploy::{
    self, Confirm, Context, DeployError, DeployKind, DeployOptions as CoreOptions, DeployOutcome,
    DeployReport, DeployRequest, RollbackTarget,
};
use duncan_core::names::{AppEnv, Tag};
use duncan_core::plan::Plan;
use duncan_core::progress::{Progress, ProgressSink};

use super::context;
use super::plan_view::plan_lines;
use crate::cli::{DeployArgs, DeployOptions, RollbackArgs, Target};
use crate::config::Config;
use crate::explain::explain;
use crate::failure::{CommandResult, ExitStatus, Failure, error_chain};
use crate::interrupt::run_to_end;
use crate::output::{GREEN, Output, paint};
use crate::progress::ProgressView;
use crate::prompt::{Answer, confirm_expecting};

/// Parses and checks the app and environment of a command.
pub fn target(config: &Config, target: &Target) -> Result<AppEnv, Failure> {
    config.check_environment(&target.env)?;
    AppEnv::parse(&target.app, &target.env).map_err(|e| {
        Failure::usage(e.to_string())
            .hint("app and environment names are lowercase letters, digits and '-'")
    })
}

/// Parses an image tag given on the command line.
pub fn tag(text: &str) -> Result<Tag, Failure> {
    text.parse::<Tag>().map_err(|e| {
        Failure::usage(e.to_string())
            .hint("tags are Docker tags: letters, digits, '_', '.' and '-'")
    })
}

/// Runs `duncan deploy`.
pub fn deploy(config: &Config, out: Output, args: DeployArgs) -> CommandResult {
    let app_env = target(config, &args.target)?;
    let tag = tag(&args.tag)?;
    run(
        config,
        out,
        &app_env.clone(),
        &args.options,
        "deploy",
        move |ctx, options, sink| {
            let request = DeployRequest {
                app_env,
                tag,
                kind: DeployKind::Deploy,
                options,
            };
            Box::pin(async move { deploy::deploy(&ctx, request, &sink).await })
        },
    )
}

/// Runs `duncan rollback`.
pub fn rollback(config: &Config, out: Output, args: RollbackArgs) -> CommandResult {
    let app_env = target(config, &args.target)?;
    let to = match &args.to {
        Some(text) => RollbackTarget::Tag(tag(text)?),
        None => RollbackTarget::Previous,
    };
    run(
        config,
        out,
        &app_env.clone(),
        &args.options,
        "roll back",
        move |ctx, options, sink| {
            Box::pin(async move { deploy::rollback(&ctx, &app_env, to, options, &sink).await })
        },
    )
}

/// A deploy or rollback started by [`run`], run to its end (a signal cancels its context).
type DeployFuture = Pin<Box<dyn Future<Output = Result<DeployReport, DeployError>> + Send>>;

/// The part deploy and rollback share: the prompt rules, the plan, the progress line, Ctrl-C and
/// the outcome.
fn run(
    config: &Config,
    out: Output,
    app_env: &AppEnv,
    args: &DeployOptions,
    verb: &'static str,
    operation: impl FnOnce(Arc<Context>, CoreOptions, ProgressSink) -> DeployFuture,
) -> CommandResult {
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !args.skip_prompt() && !args.dry_run && !interactive {
        return Err(Failure::usage(format!(
            "a {verb} needs confirmation, but there is no terminal to ask on"
        ))
        .hint("pass --yes (or -f) to go ahead without the prompt, or --dry-run to see the plan"));
    }
    if args.force_marathon {
        out.warn("--force-marathon cancels Marathon deployments that hold the apps");
    }
    let ctx = Arc::new(context::context(config)?);
    // A dry run exists to show the plan, so it is shown even with -q.
    let quiet_plan = out.quiet && args.skip_prompt() && !args.dry_run;
    let prompts = !args.skip_prompt() && !args.dry_run;
    let view = ProgressView::new(out, false, "planning");

    // The sink prints the plan (again when it changed under the lock) and draws progress.
    let sink = {
        let view = view.clone();
        let inner = view.sink();
        let shown: Arc<Mutex<Option<Plan>>> = Arc::new(Mutex::new(None));
        ProgressSink::new(move |p| {
            match &p {
                // With -q and no prompt, the plan is not needed to decide anything.
                // With --json the plan goes to stderr, and only when it is asked about.
                Progress::PlanReady(plan) if (!out.json || prompts) && !quiet_plan => {
                    let mut last = shown.lock().unwrap_or_else(PoisonError::into_inner);
                    if last
                        .as_ref()
                        .is_none_or(|seen| seen.changes != plan.changes)
                    {
                        if last.is_some() {
                            view.suspend(|| {
                                out.note("the plan changed while waiting for the lock:");
                            });
                        }
                        *last = Some((**plan).clone());
                        view.suspend(|| print_plan(out, plan, verb));
                    }
                }
                _ => {}
            }
            log_step(&p);
            inner.emit(p);
        })
    };

    let mut options = CoreOptions {
        dry_run: args.dry_run,
        wait_for_lock: args.wait.or_else(|| {
            let wait = config.lock_wait.value;
            (!wait.is_zero()).then_some(wait)
        }),
        force_marathon: args.force_marathon,
        no_rollback: args.no_rollback,
        skip_image_check: args.skip_image_check,
        ..CoreOptions::default()
    };
    options.watch.deadline = args.timeout.or(config.deploy_timeout.value);
    if !args.skip_prompt() {
        let view = view.clone();
        let expect = config.confirmation(app_env.env.as_str());
        let confirm_hook: Confirm = Arc::new(move |_plan: Plan| {
            let view = view.clone();
            let expect = expect.clone();
            Box::pin(async move {
                view.pause(true);
                let answer =
                    tokio::task::spawn_blocking(move || confirm_expecting(&expect, "--yes")).await;
                view.pause(false);
                matches!(answer, Ok(Ok(Answer::Yes)))
            })
        });
        options.confirm = Some(confirm_hook);
    }

    let runtime = super::runtime()?;
    let result = runtime.block_on(async {
        let spinner = view.spin();
        let work = operation(Arc::clone(&ctx), options, sink);
        let result = run_to_end(&ctx.cancel, work, || interrupting(&view)).await;
        if let Some(spinner) = spinner {
            spinner.abort();
        }
        view.clear();
        result
    });
    // A prompt interrupted by a signal still blocks a thread on stdin: do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(Ok(report)) => finished(out, &report, verb),
        Ok(Err(error)) => Err(failed(config, &error)),
        Err(failure) => Err(failure),
    }
}

/// With `-v`, each of duncan's own steps as a log line (plan read, lock taken, deployment
/// started, events seen, confirmation, release recorded); warnings are printed as such already.
pub fn log_step(progress: &Progress) {
    if !matches!(progress, Progress::Warning { .. }) {
        tracing::info!(target: "duncan", "{progress}");
    }
}

/// A sink that logs each step (see [`log_step`]) and hands it to `inner`.
pub fn logging(inner: ProgressSink) -> ProgressSink {
    ProgressSink::new(move |p| {
        log_step(&p);
        inner.emit(p);
    })
}

/// Says, once, that a signal was received and the operation is cleaning up.
pub fn interrupting(view: &ProgressView) {
    view.suspend(|| {
        // ^C leaves the cursor after the prompt or the progress line.
        if std::io::stderr().is_terminal() {
            eprintln!();
        }
        eprintln!("interrupting: cleaning up (send the signal again to stop at once)");
    });
}

fn print_plan(out: Output, plan: &Plan, verb: &str) {
    // stdout holds the JSON document alone.
    if out.json {
        super::plan_view::eprint_plan(plan, verb);
        return;
    }
    for line in plan_lines(plan, verb) {
        if out.line(line).is_err() {
            return;
        }
    }
    let _ = out.line("");
}

fn finished(out: Output, report: &DeployReport, verb: &str) -> CommandResult {
    for warning in &report.warnings {
        out.warn(warning);
    }
    if out.json {
        out.json(report)?;
        return Ok(ExitStatus::Ok);
    }
    let plan = &report.plan;
    let what = format!("{} to {}", plan.tag, plan.app_env);
    match &report.outcome {
        DeployOutcome::NoOp => {
            out.line(format!(
                "nothing to do: {} already runs {}",
                plan.group_id, plan.tag
            ))?;
        }
        DeployOutcome::DryRun => {
            out.line(format!("dry run: would {verb} {what}; nothing was changed"))?
        }
        DeployOutcome::Declined => out.line("aborted: nothing was changed")?,
        DeployOutcome::Deployed { deployment_id, .. } => {
            let done = if verb == "deploy" {
                "deployed"
            } else {
                "rolled back:"
            };
            out.line(format!(
                "{} {what} (Marathon deployment {deployment_id})",
                paint(GREEN, done)
            ))?;
            if let Some(link) = &plan.diff_link {
                out.line(format!("diff: {link}"))?;
            }
        }
        DeployOutcome::Adopted { previous } => {
            let previous = previous
                .as_ref()
                .map_or_else(|| "none".to_owned(), ToString::to_string);
            out.line(format!(
                "{} {what}: Marathon already ran {} on every app, healthy; Consul now records it                  as current (previous: {previous}); nothing was sent to Marathon",
                paint(GREEN, "adopted"),
                plan.tag
            ))?;
        }
        other => out.line(format!("{other:?}"))?,
    }
    Ok(ExitStatus::Ok)
}

/// The failure of a deploy, rollback or `watch` that finishes a record: one line, its exit
/// code, and a hint.
pub fn failed(config: &Config, error: &DeployError) -> Failure {
    if let DeployError::NotAllowed { app_env } = error {
        return crate::explain::write_refused(
            config,
            app_env,
            context::consul(config).ok().as_ref(),
        );
    }
    let status = ExitStatus::from_code(error.exit_code());
    if let DeployError::OnHold { app_env, .. } = error {
        return Failure::new(status, error_chain(error)).hint(super::lock::on_hold_hint(app_env));
    }
    if let DeployError::LockHeld { held } = error
        && let Some(stale) = super::lock::stale_lock_hint(held, config)
    {
        return Failure::new(status, error_chain(error)).hint(stale);
    }
    let hint = match error {
        DeployError::LockHeld { .. } => {
            Some("wait for that deploy to end, or pass --wait 5m to wait for the lock")
        }
        DeployError::FailedRolledBack { .. } => {
            Some("look at the new version's tasks (logs, Marathon's lastTaskFailure) to see why")
        }
        DeployError::FailedNotRolledBack { .. } => {
            Some("check the apps with `duncan status`; roll back with `duncan rollback` if needed")
        }
        DeployError::NotAllowed { .. } => {
            Some("ask for a Consul token that may write this app and environment")
        }
        DeployError::GroupNotFound { .. } => {
            Some("check the app and environment; `duncan status` lists what runs")
        }
        DeployError::NoRollbackTarget { .. } => {
            Some("name a tag with --to TAG; `duncan history` lists the releases")
        }
        DeployError::ImageMissing { .. } => Some("push the image first, or check the tag"),
        _ => None,
    };
    match (status, hint) {
        (ExitStatus::Error, None) => explain(error, config),
        (status, hint) => {
            let failure = Failure::new(status, error_chain(error)).why(error.why());
            match hint {
                Some(hint) => failure.hint(hint),
                None => failure,
            }
        }
    }
}
