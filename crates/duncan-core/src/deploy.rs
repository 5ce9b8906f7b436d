//! The deploy protocol, steps 1–9 of DESIGN.md, and `rollback` (the same protocol with an older
//! tag).
//!
//! [`deploy`] validates, plans, checks the image, reads `current`, probes the ACL, asks for
//! confirmation (or stops for a dry run), takes the lock, subscribes to Marathon's events, sends
//! the group update, watches the deployment, and then either records the release in one fenced
//! Consul transaction or rolls the deployment back and records the failure. The lock is released
//! and its session destroyed on every path, including when the future is dropped half-way (the
//! CLI does that on Ctrl-C).
//!
//! Failures are [`DeployError`]s whose [`DeployError::exit_code`] is the CLI's documented code:
//! 3 lock held or deploys on hold, 4 failed and rolled back, 5 failed and not rolled back, 7 not
//! allowed, 1 for the rest.

mod consul;
mod error;
pub mod image;
pub(crate) mod interrupt;
mod marathon;
mod request;
pub mod resume;

use std::time::Duration;

use time::OffsetDateTime;

pub use crate::watch::SignalStream;
pub use consul::read_current;
pub use error::DeployError;
pub use image::{ImageCheck, ImageCheckError, ImageFound, RegistryImageCheck, StaticImageCheck};
pub use interrupt::{Interruption, LockEnd, MarathonEnd};
pub use request::{
    Confirm, Context, DeployKind, DeployOptions, DeployOutcome, DeployReport, DeployRequest,
    RollbackTarget,
};

use crate::github::{github_diff_link, github_rollback_link};
use crate::names::{AppEnv, Tag};
use crate::plan::{Plan, PlannedUpdate, build_plan};
use crate::progress::{Progress, ProgressSink};
use crate::release::{Outcome, ReleaseTags};
use crate::watch::{ExpectedApp, WatchOutcome, WatchTarget, watch_deployment};
use interrupt::unless_interrupted;

/// Runs the deploy protocol (DESIGN.md steps 1–9) for `request`, reporting to `progress`.
///
/// # Cancel safety
///
/// Interrupt it with [`Context::cancel`], not by dropping the future: it then stops at its
/// next safe point, releases the lock it holds and returns [`DeployError::Interrupted`] saying
/// what it left behind. The group update and the success transaction are never abandoned
/// half-way. Dropping the future still releases the lock in the background (best effort).
///
/// # Errors
///
/// A [`DeployError`]; see its variants and [`DeployError::exit_code`].
pub async fn deploy(
    ctx: &Context,
    request: DeployRequest,
    progress: &ProgressSink,
) -> Result<DeployReport, DeployError> {
    deploy_to(ctx, request, None, progress).await
}

/// A rollback's target as resolved, and the tags it was resolved over: a rollback without a
/// tag whose tags moved is resolved again (before the lock, and under it).
#[derive(Debug, Clone)]
struct Resolved {
    /// What was asked for.
    to: RollbackTarget,
    /// `current` and `previous` at the resolution.
    over: (Option<Tag>, Option<Tag>),
    /// The history entry restored, for the plan.
    source: crate::release::RollbackSource,
}

impl Resolved {
    fn of(to: RollbackTarget, target: &crate::release::RollbackTarget) -> Self {
        Resolved {
            to,
            over: (target.tags.current.clone(), target.tags.previous.clone()),
            source: target.source.clone(),
        }
    }

    /// Resolves again over `tags` when they moved since, for a rollback without a tag: the new
    /// tag, or `None` when it stands.
    async fn again(
        &mut self,
        ctx: &Context,
        app_env: &AppEnv,
        tags: &ReleaseTags,
    ) -> Result<Option<Tag>, DeployError> {
        let now = (tags.current.clone(), tags.previous.clone());
        if self.to != RollbackTarget::Previous || now == self.over {
            return Ok(None);
        }
        let target = consul::resolve_rollback(ctx, app_env, Some(tags), &self.to).await?;
        *self = Resolved::of(self.to.clone(), &target);
        Ok(Some(target.tag))
    }
}

/// [`deploy`], where a rollback without a tag is resolved again when the tags moved.
async fn deploy_to(
    ctx: &Context,
    mut request: DeployRequest,
    mut rollback_to: Option<Resolved>,
    progress: &ProgressSink,
) -> Result<DeployReport, DeployError> {
    let app_env = request.app_env.clone();

    // Step 1: validate and plan. Names and tag are typed (validated when parsed). The group and
    // step 2's Consul reads (tags, counters, ACL probe: one transaction) are independent: one
    // round trip for both.
    ctx.settings.check_environment(&app_env.env)?;
    let (planned, planned_tags) = unless_interrupted(
        ctx,
        async {
            tokio::join!(
                plan_update(ctx, &app_env, &request.tag),
                consul::plan_read(ctx, &app_env)
            )
        },
        interrupt::before_lock,
    )
    .await?;
    let mut planned = planned?;
    let (planned_tags, blockers) = planned_tags?;
    progress.emit(Progress::AccessChecked);
    // The tags may have moved between the rollback's first read and this one.
    if let Some(resolved) = &mut rollback_to
        && let Some(tag) = unless_interrupted(
            ctx,
            resolved.again(ctx, &app_env, &planned_tags),
            interrupt::before_lock,
        )
        .await??
        && tag != request.tag
    {
        request.tag = tag;
        planned = unless_interrupted(
            ctx,
            plan_update(ctx, &app_env, &request.tag),
            interrupt::before_lock,
        )
        .await??;
    }
    if let Some(resolved) = &rollback_to {
        planned.plan.rollback = Some(resolved.source.clone());
    }
    // Nothing to change is only a no-op when nobody is changing it: a deployment of the same
    // tag that runs (ours or anyone's) may still fail and be rolled back.
    let waits_for_others = planned_tags.lock_free_at.is_none();
    // A group that runs the tag while Consul records another (or none) is adopted under the
    // lock: only that one goes on.
    let recorded = planned_tags.current.as_ref() == Some(&request.tag);
    // The plan shows what Consul records, a no-op's too.
    planned.plan.current.clone_from(&planned_tags.current);
    if planned.plan.is_noop()
        && !waits_for_others
        && (recorded || !adoptable(ctx, &planned.plan).await)
    {
        let mut report = no_op(planned.plan, progress);
        if !recorded && let Ok(report) = &mut report {
            let warning = format!(
                "Marathon runs {} but its apps are not all running and healthy: Consul's current \
                 was left as it is",
                request.tag
            );
            progress.warn(warning.clone());
            report.warnings.push(warning);
        }
        return report;
    }

    // Step 2: current tag and ACL (read above), image, diff link, plan shown.
    unless_interrupted(
        ctx,
        check_image(ctx, &request, &mut planned.plan, progress),
        interrupt::before_lock,
    )
    .await??;
    let plan = &mut planned.plan;
    let current = planned_tags.current.clone();
    plan.diff_link = Some(diff_link(ctx, &request, current.as_ref()));
    plan.current = current;
    if request.options.marathon_steps && !plan.is_noop() {
        match marathon::dry_run_steps(&ctx.marathon, &planned.update_body).await {
            Ok(steps) => planned.plan.marathon_steps = Some(steps),
            Err(error) => progress.warn(format!("Marathon's dry run failed: {error}")),
        }
    }
    // Known blockers go into the plan; a hold, or a lock held that is not waited for, refuses
    // here, before any prompt (a dry run shows them, and is refused the same way).
    let wait = request.options.wait_for_lock;
    planned.plan.blockers = blockers.shown(
        wait,
        ctx.settings.stale_lock_after,
        &planned.plan.in_deployments,
    );
    if let Some(go) = &blockers.stale_go_lock {
        progress.warn(consul::stale_go_lock_warning(
            go,
            ctx.settings.stale_lock_after,
        ));
    }
    progress.emit(Progress::PlanReady(Box::new(planned.plan.clone())));
    if let Some(refusal) = blockers.refusal(&app_env, wait) {
        progress.emit(Progress::Done);
        return Err(refusal);
    }
    if request.options.dry_run {
        progress.emit(Progress::Done);
        return Ok(DeployReport {
            plan: planned.plan,
            outcome: DeployOutcome::DryRun,
            warnings: Vec::new(),
        });
    }
    // A plan with nothing to change is not asked about: it is built again under the lock, and
    // asked about then if it changes something.
    let confirmed = if planned.plan.is_noop() {
        None
    } else {
        if !confirm(ctx, &request.options, &planned.plan).await? {
            progress.emit(Progress::Done);
            return Ok(declined(planned.plan));
        }
        Some(planned.plan.changes.clone())
    };

    // Step 3: the lock, taken in one transaction with a fresh read of the tags. It is released
    // and its session destroyed however this function ends.
    let lock = consul::acquire_lock(
        ctx,
        &app_env,
        Some(request.tag.clone()),
        request.options.wait_for_lock,
        planned_tags.lock_free_at,
        lock_reads(&app_env),
        progress,
    );
    // Step 4 beside it when the lock was free at the plan's read (it is then ours within a
    // round trip or two): the stream must be open before the update, not before the lock. A
    // lock that must be waited for gets its stream afterwards, so no events pile up meanwhile.
    let lock_asked = std::time::Instant::now();
    let (lock, early_signals) = if waits_for_others {
        (lock.await, None)
    } else {
        let (lock, signals) =
            tokio::join!(lock, crate::watch::open_signals(&ctx.marathon, progress));
        (lock, Some(signals))
    };
    let lock = lock?;
    progress.emit(Progress::LockAcquired);
    let before = Before {
        planned,
        tags: &planned_tags,
        confirmed,
        rollback_to,
        signals: early_signals,
        // Only a lock held by another at the plan's read was waited for.
        lock_wait: waits_for_others.then(|| lock_asked.elapsed()),
    };
    let result = under_lock(ctx, &request, before, &lock, progress).await;
    let (report, notice) = match result {
        Ok(done) => done,
        Err(error) => {
            let released = consul::release_lock(lock, progress).await;
            progress.emit(Progress::Done);
            return Err(with_lock_end(error, released));
        }
    };
    // Step 9: notify, best-effort, once the lock is free: at once when the success transaction
    // unlocked it (the session is destroyed meanwhile), else once it is released. An
    // interruption cuts the notification short; what was recorded stays recorded.
    let send = |notice: consul::Notice| async move {
        match unless_interrupted(ctx, notice.send(ctx), interrupt::before_lock).await {
            Ok(warnings) => warnings,
            Err(_) => {
                vec!["interrupted while notifying: the notifications were not all sent".to_owned()]
            }
        }
    };
    let (released, warnings) = match notice {
        Some(notice) if lock.is_unlocked() => {
            tokio::join!(consul::release_lock(lock, progress), send(notice))
        }
        Some(notice) => {
            let released = consul::release_lock(lock, progress).await;
            (released, send(notice).await)
        }
        None => (consul::release_lock(lock, progress).await, Vec::new()),
    };
    let mut report = report.map_err(|error| with_lock_end(error, released));
    for warning in &warnings {
        progress.warn(warning.clone());
    }
    if let Ok(report) = &mut report {
        report.warnings.extend(warnings);
    }
    progress.emit(Progress::Done);
    report
}

/// What the transaction that takes the lock reads: the tags, and the hold (honoured if it was
/// set while the lock was waited for).
fn lock_reads(app_env: &AppEnv) -> Vec<consul_client::TxnOp> {
    let mut reads = crate::release::tags_read_ops(app_env);
    reads.push(crate::hold::read_op(app_env));
    reads
}

/// An interruption says what became of the lock once it was released.
pub(crate) fn with_lock_end(error: DeployError, released: Result<(), String>) -> DeployError {
    match error {
        DeployError::Interrupted(mut interruption) => {
            interruption.lock = match released {
                Ok(()) => LockEnd::Released,
                Err(problem) => LockEnd::NotReleased { problem },
            };
            DeployError::Interrupted(interruption)
        }
        other => other,
    }
}

/// The report of a plan with nothing to change, once nobody else is changing it either.
fn no_op(plan: Plan, progress: &ProgressSink) -> Result<DeployReport, DeployError> {
    // Marathon deployments (not duncan's) may still be installing what the group shows.
    if !plan.in_deployments.is_empty() {
        progress.emit(Progress::Done);
        return Err(DeployError::AppsLocked {
            group: plan.group_id,
            deployments: plan.in_deployments,
        });
    }
    progress.emit(Progress::PlanReady(Box::new(plan.clone())));
    progress.emit(Progress::Done);
    Ok(DeployReport {
        plan,
        outcome: DeployOutcome::NoOp,
        warnings: Vec::new(),
    })
}

fn declined(plan: Plan) -> DeployReport {
    DeployReport {
        plan,
        outcome: DeployOutcome::Declined,
        warnings: Vec::new(),
    }
}

/// Asks the confirmation hook, when there is one (an interruption while asking is one before
/// the lock: nothing was changed).
async fn confirm(ctx: &Context, options: &DeployOptions, plan: &Plan) -> Result<bool, DeployError> {
    match &options.confirm {
        Some(confirm) => {
            unless_interrupted(ctx, confirm(plan.clone()), interrupt::before_lock).await
        }
        None => Ok(true),
    }
}

/// The compare link from `current` to the request's tag.
fn diff_link(ctx: &Context, request: &DeployRequest, current: Option<&Tag>) -> String {
    let app = &request.app_env.app;
    match request.kind {
        DeployKind::Rollback => {
            github_rollback_link(&ctx.settings, app, current, &request.tag).to_string()
        }
        _ => github_diff_link(&ctx.settings, app, current, &request.tag).to_string(),
    }
}

/// What the deploy knew before it took the lock.
struct Before<'a> {
    /// The plan and update body built from the group read before the lock.
    planned: PlannedUpdate,
    /// The release tags read with the ACL probe.
    tags: &'a ReleaseTags,
    /// The changes the user confirmed (`None`: nobody was asked, or the plan had none).
    confirmed: Option<Vec<crate::plan::AppChange>>,
    /// For a rollback, what it goes back to: resolved again over the tags read under the lock
    /// when they moved.
    rollback_to: Option<Resolved>,
    /// The event stream, when it was opened beside the lock (`Some(None)`: unavailable).
    signals: Option<Option<SignalStream>>,
    /// How long the lock was waited for, when it was held by another at the plan's read.
    lock_wait: Option<Duration>,
}

/// The interruption of a step under the lock before anything changed in Marathon.
pub(crate) fn locked_unchanged() -> DeployError {
    interrupt::interrupted(LockEnd::Released, MarathonEnd::Unchanged)
}

/// Steps 3 (after the lock is taken) to 8. Returns the deploy's result and the notification to
/// send once the lock is released; an `Err` is a failure before anything changed in Marathon,
/// or an interruption.
async fn under_lock(
    ctx: &Context,
    request: &DeployRequest,
    before: Before<'_>,
    lock: &consul::WatchedLock,
    progress: &ProgressSink,
) -> Result<(Result<DeployReport, DeployError>, Option<consul::Notice>), DeployError> {
    let app_env = &request.app_env;
    if ctx.cancel.is_cancelled() {
        return Err(locked_unchanged());
    }
    let Before {
        planned: PlannedUpdate {
            mut plan,
            update_body,
        },
        tags: planned_tags,
        confirmed,
        rollback_to,
        signals,
        lock_wait,
    } = before;
    // Under the lock, what the plan was built from may be stale: another deployer may have
    // changed the group or the tags while we waited, and a stale body would undo their work.
    // The tags were read again in the transaction that took the lock. Only when the lock was
    // free at the plan's read and acquired exactly once since (by us), and no prompt made that
    // read old, did no other duncan operation run in between; otherwise the group is read
    // again (beside the tags, when the lock could not read them).
    let locked_tags = lock.tags(app_env).transpose()?;
    let prompted = confirmed.is_some() && request.options.confirm.is_some();
    let unchanged = plan_still_current(prompted, planned_tags, locked_tags.as_ref());
    let (plan, update_body, tags, request) = match locked_tags {
        Some(tags) if unchanged => (plan, update_body, tags, request.clone()),
        locked_tags => {
            let tags = match locked_tags {
                Some(tags) => tags,
                None => {
                    unless_interrupted(ctx, consul::tags(ctx, app_env), locked_unchanged).await??
                }
            };
            // A rollback without a tag goes back from what is current now.
            let mut request = request.clone();
            let mut rollback_to = rollback_to;
            if let Some(resolved) = &mut rollback_to
                && let Some(tag) =
                    unless_interrupted(ctx, resolved.again(ctx, app_env, &tags), locked_unchanged)
                        .await??
            {
                request.tag = tag;
            }
            let replanned = unless_interrupted(
                ctx,
                plan_update(ctx, app_env, &request.tag),
                locked_unchanged,
            )
            .await??;
            let PlannedUpdate {
                plan: mut locked_plan,
                update_body,
            } = replanned;
            locked_plan.rollback = rollback_to.map(|r| r.source);
            if request.tag == plan.tag {
                locked_plan.digest = plan.digest.take();
                locked_plan.image_check_skipped = plan.image_check_skipped;
                locked_plan.marathon_steps = plan.marathon_steps.take();
            } else {
                unless_interrupted(
                    ctx,
                    check_image(ctx, &request, &mut locked_plan, progress),
                    locked_unchanged,
                )
                .await??;
            }
            (locked_plan, update_body, tags, request)
        }
    };
    let request = &request;
    let mut plan = plan;
    // The diff link is from the tag `current` holds now, which may have moved while we waited.
    plan.diff_link = Some(diff_link(ctx, request, tags.current.as_ref()));
    plan.current.clone_from(&tags.current);
    if plan.is_noop() {
        if tags.current.as_ref() != Some(&plan.tag) && adoptable(ctx, &plan).await {
            return adopt(ctx, request, plan, &tags, lock, lock_wait, progress).await;
        }
        return Ok((no_op(plan, progress), None));
    }
    // A plan that changed while we waited is shown, and asked about, again.
    if request.options.confirm.is_some() && confirmed.as_ref() != Some(&plan.changes) {
        progress.emit(Progress::PlanReady(Box::new(plan.clone())));
        let asked = confirm(ctx, &request.options, &plan).await;
        match asked {
            Ok(true) => {}
            Ok(false) => return Ok((Ok(declined(plan)), None)),
            Err(_) => return Err(locked_unchanged()),
        }
    }

    // Steps 4 (unless done beside the lock) and 5: subscribe, then update. The update is never
    // abandoned half-way: an interruption is looked at once Marathon has answered.
    let signals = match signals {
        Some(signals) => signals,
        None => crate::watch::open_signals(&ctx.marathon, progress).await,
    };
    if ctx.cancel.is_cancelled() {
        return Err(locked_unchanged());
    }
    // The change begins here: the history's duration is the deployment's, without the prompt
    // or the wait for the lock.
    let started_at = OffsetDateTime::now_utc();
    let (signals, started) = send_update(
        ctx,
        app_env,
        &update_body,
        request.options.force_marathon,
        signals,
        progress,
    )
    .await?;

    // Step 6: watch.
    let target = WatchTarget {
        deployment_id: started.deployment_id.clone(),
        version: Some(started.version.clone()),
        apps: plan
            .changes
            .iter()
            .map(|c| ExpectedApp {
                app_id: c.app_id.clone(),
                image: Some(c.new_image.clone()),
            })
            .collect(),
    };
    let finish = consul::Finish {
        ctx,
        request,
        plan: &plan,
        tags: &tags,
        deployment_id: &started.deployment_id,
        started_at,
        lock_wait,
        note: None,
        progress,
    };
    // The record of the start (history `in_progress` and the audit event, one transaction) runs
    // alongside the watch, so it adds nothing to the deploy's time.
    let (opened, report) = tokio::join!(
        finish.started(),
        watch_deployment(
            &ctx.marathon,
            signals,
            &target,
            &request.options.watch,
            &ctx.cancel,
            progress,
        )
    );

    if report.outcome.is_success() {
        // Step 8: never interrupted; what it did is reported as done.
        return Ok(match finish.succeeded(lock, &opened).await {
            Ok(notice) => (
                Ok(DeployReport {
                    outcome: DeployOutcome::Deployed {
                        deployment_id: started.deployment_id.clone(),
                        previous: tags.current.clone(),
                    },
                    plan: plan.clone(),
                    warnings: Vec::new(),
                }),
                Some(notice),
            ),
            Err(error) => (Err(error), None),
        });
    }
    if report.outcome == WatchOutcome::Interrupted {
        progress.emit(Progress::Interrupting);
        let marathon = interrupt::deployment_state(ctx, &started.deployment_id).await;
        finish.interrupted(&marathon, &opened).await;
        return Err(interrupt::interrupted(LockEnd::Released, marathon));
    }

    // Step 7.
    let undo = Undo {
        no_rollback: request.options.no_rollback,
        restored: plan
            .changes
            .iter()
            .map(|c| ExpectedApp {
                app_id: c.app_id.clone(),
                image: Some(c.old_image.clone()),
            })
            .collect(),
        watch: &request.options.watch,
    };
    let error = failed(ctx, undo, &started.deployment_id, report, progress).await;
    if let DeployError::Interrupted(interruption) = &error {
        finish.interrupted(&interruption.marathon, &opened).await;
        return Err(error);
    }
    let notice = finish.failed(&error, &opened).await;
    Ok((Err(error), Some(notice)))
}

/// Whether Marathon's group runs a plan with nothing to change settled: no deployment holds
/// its apps and their tasks run, healthy (one more read of the group, with counts). A plan with
/// changes, or a group that cannot be read, is not adoptable.
async fn adoptable(ctx: &Context, plan: &Plan) -> bool {
    plan.is_noop()
        && plan.in_deployments.is_empty()
        && !plan.unchanged.is_empty()
        && marathon::apps_settled(&ctx.marathon, &plan.group_id, &plan.unchanged)
            .await
            .unwrap_or(false)
}

/// Adopts what Marathon runs: records the plan's tag as `current` (previous = what Consul
/// had) in the fenced success transaction, with a history record saying so. Nothing is sent
/// to Marathon.
async fn adopt(
    ctx: &Context,
    request: &DeployRequest,
    plan: Plan,
    tags: &ReleaseTags,
    lock: &consul::WatchedLock,
    lock_wait: Option<Duration>,
    progress: &ProgressSink,
) -> Result<(Result<DeployReport, DeployError>, Option<consul::Notice>), DeployError> {
    progress.emit(Progress::PlanReady(Box::new(plan.clone())));
    let finish = consul::Finish {
        ctx,
        request,
        plan: &plan,
        tags,
        deployment_id: "",
        started_at: OffsetDateTime::now_utc(),
        lock_wait,
        note: Some(format!("adopted: Marathon already ran {}", plan.tag)),
        progress,
    };
    let opened = crate::release::Opened {
        record: None,
        events: tags.counters.events,
    };
    Ok(match finish.succeeded(lock, &opened).await {
        Ok(notice) => (
            Ok(DeployReport {
                outcome: DeployOutcome::Adopted {
                    previous: tags.current.clone(),
                },
                plan,
                warnings: Vec::new(),
            }),
            Some(notice),
        ),
        Err(error) => (Err(error), None),
    })
}

/// Whether a plan built before the lock still holds under it: no prompt made its read old, the
/// lock was free at that read, and it was acquired exactly once since (by us), so no other
/// duncan operation ran in between. A lock held by another at the plan's read means the plan
/// may carry their deployment's state (a failed image, scaled instances) that has since been
/// rolled back.
fn plan_still_current(prompted: bool, planned: &ReleaseTags, locked: Option<&ReleaseTags>) -> bool {
    !prompted
        && planned.lock_free_at.is_some()
        && locked
            .is_some_and(|t| Some(t.lock_acquisitions) == planned.lock_acquisitions.checked_add(1))
}

/// How a failed deployment may be undone.
pub(crate) struct Undo<'a> {
    /// Leave it as it is.
    pub(crate) no_rollback: bool,
    /// The apps as they must be once Marathon's rollback has run.
    pub(crate) restored: Vec<ExpectedApp>,
    /// Windows of the rollback's watch.
    pub(crate) watch: &'a crate::watch::WatchOptions,
}

/// Step 7: decides whether to roll back, does it, and returns the error to report.
pub(crate) async fn failed(
    ctx: &Context,
    undo: Undo<'_>,
    deployment_id: &str,
    report: crate::watch::WatchReport,
    progress: &ProgressSink,
) -> DeployError {
    let why = report.troubles();
    let outcome = report.outcome;
    let reason = outcome.to_string();
    // Marathon not answering at the end: a rollback is tried (bounded), and if Marathon still
    // cannot be reached the deployment's state is unknown, which is said as such.
    let unreachable_since = report
        .unreachable_for
        .map(|d| time::OffsetDateTime::now_utc() - d);
    let not_rolled_back =
        |outcome, superseded_by, rollback_problem| DeployError::FailedNotRolledBack {
            deployment_id: deployment_id.to_owned(),
            reason: reason.clone(),
            why: why.clone(),
            outcome,
            superseded_by,
            rollback_problem,
        };
    match outcome {
        // Nothing is decided on a deployment whose end was not seen.
        WatchOutcome::Interrupted => {
            progress.emit(Progress::Interrupting);
            let marathon = interrupt::deployment_state(ctx, deployment_id).await;
            interrupt::interrupted(LockEnd::Released, marathon)
        }
        // Someone else's deployment holds the apps now: cancelling would undo their work.
        WatchOutcome::Superseded { by } => not_rolled_back(Outcome::Superseded, by, None),
        // Our deployment is gone: there is nothing left to cancel.
        WatchOutcome::Cancelled => not_rolled_back(Outcome::Failed, Vec::new(), None),
        _ if undo.no_rollback => not_rolled_back(
            Outcome::TimedOut,
            Vec::new(),
            Some("not rolled back on request (--no-rollback)".to_owned()),
        ),
        // The rollback gets its own deadline and stall window.
        _ => match marathon::roll_back(
            &ctx.marathon,
            deployment_id,
            &undo.restored,
            undo.watch,
            &ctx.cancel,
            progress,
        )
        .await
        {
            marathon::RollbackResult::Interrupted { id } => interrupt::interrupted(
                LockEnd::Released,
                MarathonEnd::RollingBack {
                    deployment_id: deployment_id.to_owned(),
                    rollback_id: id,
                },
            ),
            marathon::RollbackResult::Finished { id } => DeployError::FailedRolledBack {
                deployment_id: deployment_id.to_owned(),
                rollback_id: id,
                reason,
                why,
            },
            marathon::RollbackResult::Failed {
                id: None,
                reason: problem,
            } if unreachable_since.is_some() => DeployError::StateUnknown {
                deployment_id: deployment_id.to_owned(),
                reason: reason.clone(),
                since: unreachable_since.unwrap_or_else(time::OffsetDateTime::now_utc),
                problem,
            },
            marathon::RollbackResult::Failed {
                id,
                reason: problem,
            } => not_rolled_back(
                Outcome::RollbackFailed,
                Vec::new(),
                Some(match id {
                    Some(id) => format!("rollback {id} failed: {problem}"),
                    None => problem,
                }),
            ),
        },
    }
}

/// Reads the group `/{app}-{env}` as JSON.
pub(crate) async fn fetch_group_json(
    ctx: &Context,
    app_env: &AppEnv,
) -> Result<serde_json::Value, DeployError> {
    let group_id = app_env.group_id();
    marathon::fetch_group(&ctx.marathon, &group_id)
        .await
        .map_err(|source| match source {
            marathon_client::Error::NotFound { .. } => DeployError::GroupNotFound {
                group: group_id.clone(),
            },
            source => DeployError::Marathon {
                during: "reading the group",
                source,
            },
        })
}

/// Refuses, as a deploy does before its prompt, when `app_env` is on hold or its lock is held
/// (by duncan, or by the Go tool within the stale limit) and the operation does not `wait` for
/// it. For operations that ask before they call into duncan-core (`scale`).
///
/// # Errors
///
/// [`DeployError::OnHold`], [`DeployError::LockHeld`], or the read's error.
pub async fn check_blockers(
    ctx: &Context,
    app_env: &AppEnv,
    wait: Option<Duration>,
) -> Result<(), DeployError> {
    match consul::refusal_before_prompt(ctx, app_env, wait).await? {
        Some(refusal) => Err(refusal),
        None => Ok(()),
    }
}

/// Takes the deploy lock for an operation other than a deploy (no tag in the holder) that
/// changes the app/env (a scale): the transaction that takes it reads the hold too, and a hold
/// found there refuses with [`DeployError::OnHold`] (the lock released again).
pub(crate) async fn lock_for(
    ctx: &Context,
    app_env: &AppEnv,
    wait: Option<Duration>,
    progress: &ProgressSink,
) -> Result<consul::WatchedLock, DeployError> {
    let reads = vec![crate::hold::read_op(app_env)];
    consul::acquire_lock(ctx, app_env, None, wait, None, reads, progress).await
}

/// Releases a lock taken with [`lock_for`]; an interruption's report says whether it was.
pub(crate) async fn unlock(
    lock: consul::WatchedLock,
    progress: &ProgressSink,
) -> Result<(), String> {
    consul::release_lock(lock, progress).await
}

/// The ACL probe, for operations other than deploy.
pub(crate) async fn check_access_for(ctx: &Context, app_env: &AppEnv) -> Result<(), DeployError> {
    consul::check_access(ctx, app_env).await
}

/// Steps 4 and 5: opens the event stream, then sends the group update (forcing past other
/// deployments when asked). Returns the stream for the watch and Marathon's deployment.
pub(crate) async fn start_update(
    ctx: &Context,
    app_env: &AppEnv,
    body: &serde_json::Value,
    force_marathon: bool,
    progress: &ProgressSink,
) -> Result<(Option<SignalStream>, marathon_client::DeploymentRef), DeployError> {
    let signals = crate::watch::open_signals(&ctx.marathon, progress).await;
    if ctx.cancel.is_cancelled() {
        return Err(locked_unchanged());
    }
    send_update(ctx, app_env, body, force_marathon, signals, progress).await
}

/// Step 5 with the event stream already opened (or found unavailable: `None`).
async fn send_update(
    ctx: &Context,
    app_env: &AppEnv,
    body: &serde_json::Value,
    force_marathon: bool,
    signals: Option<SignalStream>,
    progress: &ProgressSink,
) -> Result<(Option<SignalStream>, marathon_client::DeploymentRef), DeployError> {
    let mut sent = marathon::put_group(&ctx.marathon, body, force_marathon, progress).await;
    if let Err(marathon_client::Error::OutcomeUnknown { reason, .. }) = &sent {
        // The update may or may not have been applied: look before saying anything, follow a
        // deployment it started, and send it again (once) only when it is not there.
        progress.warn(format!(
            "Marathon's answer to the group update was lost ({reason}); looking at what it did"
        ));
        sent = match marathon::look_for_update(&ctx.marathon, &app_env.group_id(), body).await {
            Ok(marathon::UpdateSeen::Started(started)) => Ok(started),
            Ok(marathon::UpdateSeen::NotApplied) => {
                marathon::put_group(&ctx.marathon, body, force_marathon, progress).await
            }
            Ok(marathon::UpdateSeen::AppliedAndEnded) => {
                return Err(DeployError::UpdateUnconfirmed {
                    group: app_env.group_id(),
                    detail: "the group runs what was sent and no deployment holds it: the update was applied \
                             and its deployment has ended unwatched"
                        .to_owned(),
                });
            }
            Err(error) => {
                return Err(DeployError::UpdateUnconfirmed {
                    group: app_env.group_id(),
                    detail: format!("Marathon could not be read to find out: {error}"),
                });
            }
        };
    }
    match sent {
        Ok(started) => {
            progress.emit(Progress::DeploymentStarted {
                id: started.deployment_id.clone(),
            });
            Ok((signals, started))
        }
        Err(marathon_client::Error::AppLocked { deployment_ids, .. }) => {
            Err(DeployError::AppsLocked {
                group: app_env.group_id(),
                deployments: deployment_ids,
            })
        }
        Err(marathon_client::Error::OutcomeUnknown { reason, .. }) => {
            Err(DeployError::UpdateUnconfirmed {
                group: app_env.group_id(),
                detail: format!("the answer to the update was lost twice ({reason})"),
            })
        }
        Err(source) => Err(DeployError::Marathon {
            during: "updating the group",
            source,
        }),
    }
}

/// Reads the group and builds the plan (step 1).
async fn plan_update(
    ctx: &Context,
    app_env: &AppEnv,
    tag: &Tag,
) -> Result<PlannedUpdate, DeployError> {
    let group = fetch_group_json(ctx, app_env).await?;
    Ok(build_plan(
        &group,
        &ctx.settings.docker_repo_prefix,
        app_env,
        tag,
    )?)
}

/// The registry check of step 2.
async fn check_image(
    ctx: &Context,
    request: &DeployRequest,
    plan: &mut Plan,
    progress: &ProgressSink,
) -> Result<(), DeployError> {
    let image = plan.new_image();
    if request.options.skip_image_check {
        plan.image_check_skipped = true;
        progress.emit(Progress::ImageCheckSkipped { image });
        return Ok(());
    }
    match ctx.images.check(&image).await {
        Ok(found) => {
            progress.emit(Progress::ImageChecked {
                image,
                digest: found.digest.clone(),
            });
            plan.digest = Some(found.digest);
            Ok(())
        }
        Err(ImageCheckError::Missing { image, detail }) => {
            Err(DeployError::ImageMissing { image, detail })
        }
        Err(source) => Err(DeployError::ImageUnverifiable { image, source }),
    }
}

/// Rolls `request.app_env` back: resolves the target tag (`previous`, or a tag from history)
/// and runs the deploy protocol with it, recorded as a rollback. `previous` is read again under
/// the lock: a rollback that waited for the lock while another release was recorded goes back
/// from that release, not two releases back.
///
/// # Errors
///
/// [`DeployError::NoRollbackTarget`] when there is no previous tag or the tag is not in
/// history; otherwise as [`deploy`].
pub async fn rollback(
    ctx: &Context,
    app_env: &AppEnv,
    to: RollbackTarget,
    options: DeployOptions,
    progress: &ProgressSink,
) -> Result<DeployReport, DeployError> {
    let target = unless_interrupted(
        ctx,
        consul::resolve_rollback(ctx, app_env, None, &to),
        interrupt::before_lock,
    )
    .await??;
    let request = DeployRequest {
        app_env: app_env.clone(),
        tag: target.tag.clone(),
        kind: DeployKind::Rollback,
        options,
    };
    deploy_to(ctx, request, Some(Resolved::of(to, &target)), progress).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(lock_acquisitions: u64) -> ReleaseTags {
        ReleaseTags {
            current: None,
            current_index: 0,
            previous: None,
            lock_free_at: Some(7),
            lock_acquisitions,
            counters: Default::default(),
        }
    }

    fn held_at_read(lock_acquisitions: u64) -> ReleaseTags {
        ReleaseTags {
            lock_free_at: None,
            ..tags(lock_acquisitions)
        }
    }

    #[test]
    fn plan_holds_only_when_the_lock_was_free_at_its_read_and_ours_was_the_one_acquisition_since() {
        assert!(plan_still_current(false, &tags(4), Some(&tags(5))));
        // Someone held the lock in between (we waited, or they were quicker).
        assert!(!plan_still_current(false, &tags(4), Some(&tags(6))));
        // The key was deleted and created again since: its count restarted.
        assert!(!plan_still_current(false, &tags(4), Some(&tags(1))));
        // A prompt may have stood open for minutes.
        assert!(!plan_still_current(true, &tags(4), Some(&tags(5))));
        // The lock did not read the tags.
        assert!(!plan_still_current(false, &tags(4), None));
        // Held by another at the plan's read: their release and our acquisition count one, but
        // the plan saw their deployment's state, which may since have been rolled back.
        assert!(!plan_still_current(false, &held_at_read(4), Some(&tags(5))));
    }
}
