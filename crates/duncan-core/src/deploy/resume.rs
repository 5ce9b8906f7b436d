//! `duncan watch ID` on a deployment duncan started: finding its history record, and finishing
//! it as the deploy would have.
//!
//! A deploy opens its record (`in_progress`, with the deployment id) when Marathon accepts the
//! update; an interruption finishes it as `interrupted`, a SIGKILL leaves it open. [`resume`]
//! takes the lock (refused when someone else holds it), follows the deployment when Marathon
//! still runs it, or judges from the group when it ended (every app at the tag, settled), and
//! finishes the same record: success moves `current`/`previous` in the fenced success
//! transaction, a failure is recorded with the tags untouched. A watch that times out, stalls
//! or is interrupted leaves the record as it was, to be finished later.

use consul_client::QueryOptions;
use futures_util::future::join_all;
use time::OffsetDateTime;

use super::{Context, DeployError, consul, interrupt, marathon};
use crate::audit::{Event, EventKind};
use crate::lock::HolderInfo;
use crate::names::{AppEnv, Tag};
use crate::progress::ProgressSink;
use crate::release::{
    HistoryEntry, HistoryRecord, OpenRecord, Outcome, ReleaseKind, Slot, SuccessCommit,
    commit_success_into, finish_failure, history, tags_read_ops,
};
use crate::watch::{WatchError, WatchOptions, WatchOutcome, watch_running};

/// How many of the newest history records of each app/env are searched for a deployment id.
pub const FIND_LOOKBACK: usize = 20;

/// A history record naming a deployment, and its app/env.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedDeploy {
    /// The app/env whose history holds it.
    pub app_env: AppEnv,
    /// The record.
    pub entry: HistoryEntry,
}

/// Finds the history record that names `deployment_id` among the newest records of each of
/// `candidates` (read together). App/envs that cannot be read (no permission, nothing there)
/// are passed over; `Err` only when none could be read at all.
///
/// # Errors
///
/// [`DeployError::Consul`] when no candidate's history could be read.
pub async fn find_started(
    ctx: &Context,
    candidates: &[AppEnv],
    deployment_id: &str,
) -> Result<Option<StartedDeploy>, DeployError> {
    let reads = candidates
        .iter()
        .map(|app_env| history(&ctx.consul, app_env, Some(FIND_LOOKBACK)));
    let results = join_all(reads).await;
    let mut last_error = None;
    let mut read_any = candidates.is_empty();
    for (app_env, result) in candidates.iter().zip(results) {
        match result {
            Ok(entries) => {
                read_any = true;
                if let Some(entry) = entries
                    .into_iter()
                    .find(|e| e.record.deployment_id.as_deref() == Some(deployment_id))
                {
                    return Ok(Some(StartedDeploy {
                        app_env: app_env.clone(),
                        entry,
                    }));
                }
            }
            Err(error) => last_error = Some(error),
        }
    }
    match last_error {
        Some(source) if !read_any => Err(DeployError::Consul {
            during: "searching the release history",
            source: Box::new(source),
        }),
        _ => Ok(None),
    }
}

/// What [`resume`] found and recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resumed {
    /// The app/env.
    pub app_env: AppEnv,
    /// The tag the deployment installs.
    pub tag: Tag,
    /// How it ended, as now recorded (`None`: not recorded; see `detail`).
    pub recorded: Option<Outcome>,
    /// Whether the deployment still ran and was followed (else it had ended and was judged
    /// from the group).
    pub followed: bool,
    /// What was seen, in words.
    pub detail: String,
    /// The outcome someone else recorded meanwhile (the record was found finished under the
    /// lock; nothing was written).
    pub already: Option<Outcome>,
}

/// How long finishing a record waits for a free key's lock-delay (Consul's default is 15 s):
/// the deploy being finished was often killed a moment ago, its session invalidated.
const LOCK_DELAY_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Finishes the record of a deploy duncan started (see the module documentation). A lock held
/// by someone is refused; a free key still under a lost session's lock-delay is waited for (at
/// most 20 s).
///
/// # Errors
///
/// [`DeployError::LockHeld`] when someone else holds the lock (exit 3),
/// [`DeployError::Interrupted`] on a signal (the record is left as it was), or a Consul or
/// Marathon error; a record that could not be written is [`DeployError::ReleaseNotRecorded`].
pub async fn resume(
    ctx: &Context,
    started: &StartedDeploy,
    options: &WatchOptions,
    progress: &ProgressSink,
) -> Result<Resumed, DeployError> {
    let app_env = &started.app_env;
    let tag = started.entry.record.tag.clone();
    let acquire = |wait| {
        consul::acquire_lock(
            ctx,
            app_env,
            Some(tag.clone()),
            wait,
            None,
            tags_read_ops(app_env),
            progress,
        )
    };
    let lock = match acquire(None).await {
        // The deploy being finished was killed: its session's lock-delay may still keep the
        // free key. That ends by itself within Consul's lock-delay; wait for it, bounded.
        Err(DeployError::LockHeld { held }) if matches!(held.holder, HolderInfo::LockDelay) => {
            acquire(Some(LOCK_DELAY_WAIT)).await?
        }
        other => other?,
    };
    let result = resume_locked(ctx, started, options, &lock, progress).await;
    let released = consul::release_lock(lock, progress).await;
    result.map_err(|error| super::with_lock_end(error, released))
}

async fn resume_locked(
    ctx: &Context,
    started: &StartedDeploy,
    options: &WatchOptions,
    lock: &consul::WatchedLock,
    progress: &ProgressSink,
) -> Result<Resumed, DeployError> {
    let app_env = &started.app_env;
    let seq = started.entry.seq;
    let tags = match lock.tags(app_env) {
        Some(tags) => tags?,
        None => consul::tags(ctx, app_env).await?,
    };
    // Read again under the lock: someone may have finished it meanwhile.
    let (record, index) = read_record(ctx, app_env, seq).await?;
    let id = record.deployment_id.clone().unwrap_or_default();
    let mut resumed = Resumed {
        app_env: app_env.clone(),
        tag: record.tag.clone(),
        recorded: None,
        followed: false,
        detail: String::new(),
        already: None,
    };
    if !record.outcome.is_unfinished() {
        resumed.detail = format!("its history record already says {}", record.outcome);
        resumed.already = Some(record.outcome);
        return Ok(resumed);
    }
    let running = ctx
        .marathon
        .deployments()
        .await
        .map_err(|source| DeployError::Marathon {
            during: "listing the deployments",
            source,
        })?
        .iter()
        .any(|d| d.id == id);
    let (outcome, detail) = if running {
        resumed.followed = true;
        match watch_running(&ctx.marathon, &id, options, &ctx.cancel, progress).await {
            Ok(report) => match report.outcome {
                WatchOutcome::Succeeded => (Outcome::Succeeded, "followed to its end".to_owned()),
                WatchOutcome::Interrupted => {
                    return Err(interrupt::interrupted(
                        super::LockEnd::Released,
                        super::MarathonEnd::Running { deployment_id: id },
                    ));
                }
                WatchOutcome::TimedOut { .. } | WatchOutcome::Stalled { .. } => {
                    resumed.detail = format!(
                        "{}; it may still run in Marathon, so its record was left as it was",
                        report.outcome
                    );
                    return Ok(resumed);
                }
                WatchOutcome::Superseded { .. } => {
                    (Outcome::Superseded, report.outcome.to_string())
                }
                other => (Outcome::Failed, other.to_string()),
            },
            // It ended between the listing and the watch.
            Err(WatchError::NotRunning { .. }) => judge(ctx, app_env, &record.tag).await?,
            Err(WatchError::Marathon { source }) => {
                match source.downcast::<marathon_client::Error>() {
                    Ok(source) => {
                        return Err(DeployError::Marathon {
                            during: "following the deployment",
                            source: *source,
                        });
                    }
                    // Not a request's failure: what the group shows decides.
                    Err(_) => judge(ctx, app_env, &record.tag).await?,
                }
            }
        }
    } else {
        judge(ctx, app_env, &record.tag).await?
    };
    let open = Some(OpenRecord { seq, index });
    let mut done = record.clone();
    done.outcome = outcome;
    done.finished_at = OffsetDateTime::now_utc();
    done.message = Some(format!(
        "{} by `duncan watch` ({}): {detail}",
        if outcome.is_success() {
            "finished"
        } else {
            "ended"
        },
        ctx.settings.deployer
    ));
    let event = event_of(ctx, app_env, &done, &tags.current);
    if outcome.is_success() {
        let commit = SuccessCommit {
            target: app_env.clone(),
            session: lock.session_id().to_owned(),
            tags: tags.clone(),
            record: done,
            event,
            audit_retention: ctx.settings.audit_retention,
        };
        lock.stop_loss_reports();
        commit_success_into(&ctx.consul, &commit, open, &Default::default())
            .await
            .map_err(|error| DeployError::ReleaseNotRecorded(Box::new(error)))?;
        lock.mark_unlocked();
    } else {
        finish_failure(
            &ctx.consul,
            app_env,
            &done,
            &event,
            ctx.settings.audit_retention,
            Slot {
                counters: tags.counters,
                open,
            },
            &Default::default(),
        )
        .await
        .map_err(|error| DeployError::ReleaseNotRecorded(Box::new(error)))?;
    }
    resumed.recorded = Some(outcome);
    resumed.detail = detail;
    Ok(resumed)
}

/// History record `seq` with its key's `ModifyIndex`.
async fn read_record(
    ctx: &Context,
    app_env: &AppEnv,
    seq: u64,
) -> Result<(HistoryRecord, u64), DeployError> {
    let consul_error = |source: Box<dyn std::error::Error + Send + Sync>| DeployError::Consul {
        during: "reading the history record",
        source,
    };
    let (pair, _) = ctx
        .consul
        .kv()
        .get(&app_env.history_key(seq), &QueryOptions::consistent())
        .await
        .map_err(|e| consul_error(Box::new(e)))?;
    let pair = pair
        .ok_or_else(|| consul_error(format!("history record {seq} of {app_env} is gone").into()))?;
    let record: HistoryRecord =
        serde_json::from_slice(&pair.value).map_err(|e| consul_error(Box::new(e)))?;
    Ok((record, pair.modify_index))
}

/// How a deployment that ended unwatched came out, from the group: every app of the
/// application at the tag and settled (tasks running, healthy, no deployment) is a success.
async fn judge(
    ctx: &Context,
    app_env: &AppEnv,
    tag: &Tag,
) -> Result<(Outcome, String), DeployError> {
    let group = super::fetch_group_json(ctx, app_env).await?;
    let planned = crate::plan::build_plan(&group, &ctx.settings.docker_repo_prefix, app_env, tag)?;
    let plan = planned.plan;
    if plan.is_noop()
        && marathon::apps_settled(&ctx.marathon, &plan.group_id, &plan.unchanged)
            .await
            .map_err(|source| DeployError::Marathon {
                during: "reading the group",
                source,
            })?
    {
        return Ok((
            Outcome::Succeeded,
            format!("it had ended: every app runs {tag}, healthy"),
        ));
    }
    let detail = if plan.is_noop() {
        format!("it had ended: the apps run {tag} but are not all running and healthy")
    } else {
        format!(
            "it had ended without installing {tag}: {} run {}",
            plan.changes
                .iter()
                .map(|c| c.app_id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            plan.old_tags().join(", ")
        )
    };
    Ok((Outcome::Failed, detail))
}

/// The audit event of the finished record.
fn event_of(
    ctx: &Context,
    app_env: &AppEnv,
    record: &HistoryRecord,
    current: &Option<Tag>,
) -> Event {
    let kind = match (record.outcome, record.kind) {
        (Outcome::Succeeded, ReleaseKind::Rollback) => EventKind::Rollback,
        (outcome, _) => outcome.event_kind(),
    };
    let mut event = Event::new(app_env, ctx.settings.deployer.clone(), kind)
        .with_tag(record.tag.clone())
        .with_previous_tag(current.clone());
    if let Some(id) = &record.deployment_id {
        event = event.with_deployment_id(id.clone());
    }
    if let Some(message) = &record.message {
        event = event.with_message(message.clone());
    }
    event
}
