//! The Consul half of a deploy: the current tag, the ACL probe, the lock, and the records of
//! the outcome (steps 2, 3, 7, 8 and 9).

use std::sync::atomic::{AtomicBool, Ordering};

use time::OffsetDateTime;

use super::{Context, DeployError, DeployKind, DeployRequest, RollbackTarget};
use crate::access::{Access, probe_access, probe_ops, refusal};
use crate::audit::{Event, EventKind, notify_all};
use crate::github::{DiffLink, github_diff_link, github_rollback_link};
use crate::lock::{DeployLock, LockError, LockRequest};
use crate::names::{AppEnv, Tag};
use crate::plan::Plan;
use crate::progress::{Progress, ProgressSink};
use crate::release::{
    HistoryRecord, Opened, Outcome, ReleaseError, ReleaseKind, ReleaseTags, Slot, SuccessCommit,
    commit_success_into, finish_failure, read_tags, record_started, rollback_target,
    rollback_target_over, tags_from_pairs, tags_read_ops,
};
use crate::sequence::SeqCounters;

/// Reads Consul's `current` tag of `app_env` (consistent read).
///
/// # Errors
///
/// The read error, boxed (Consul unreachable, permission denied, an invalid stored tag).
pub async fn read_current(
    ctx: &Context,
    app_env: &AppEnv,
) -> Result<Option<Tag>, Box<dyn std::error::Error + Send + Sync>> {
    Ok(read_tags(&ctx.consul, app_env).await?.current)
}

/// Reads the release tags (with the index that fences the success transaction).
pub(crate) async fn tags(ctx: &Context, app_env: &AppEnv) -> Result<ReleaseTags, DeployError> {
    read_tags(&ctx.consul, app_env)
        .await
        .map_err(|source| tags_error(app_env, source))
}

/// The deploy's error for a failed read of the release tags.
fn tags_error(app_env: &AppEnv, source: ReleaseError) -> DeployError {
    match source {
        // A token that may not even read the app/env's keys may not manage it.
        ReleaseError::PermissionDenied { .. } => DeployError::NotAllowed {
            app_env: app_env.clone(),
        },
        source => DeployError::Consul {
            during: "reading the release tags",
            source: Box::new(source),
        },
    }
}

/// What the plan's read found that stops, or may stop, the deploy (see [`crate::hold`]).
#[derive(Debug, Default)]
pub(crate) struct KnownBlockers {
    /// The hold on the app/env.
    pub(crate) hold: Option<crate::hold::HoldState>,
    /// The lock's holder, when held (by a session, or by a Go-tool lock younger than the limit).
    pub(crate) lock: Option<crate::lock::LockHeld>,
    /// A Go-tool lock past the limit, which the deploy takes over.
    pub(crate) stale_go_lock: Option<crate::lock::LockHeld>,
}

impl KnownBlockers {
    /// The blockers to show in the plan.
    pub(crate) fn shown(
        &self,
        wait: Option<std::time::Duration>,
        stale_after: std::time::Duration,
        in_deployments: &[String],
    ) -> Vec<crate::hold::Blocker> {
        use crate::hold::Blocker;
        let mut out = Vec::new();
        if let Some(hold) = &self.hold {
            out.push(Blocker::Hold { hold: hold.clone() });
        }
        if let Some(held) = &self.lock {
            out.push(Blocker::Lock {
                holder: held.to_string(),
                probably_stale: held.is_probably_stale(stale_after),
                waits_up_to: wait,
            });
        }
        if !in_deployments.is_empty() {
            out.push(Blocker::MarathonDeployments {
                ids: in_deployments.to_vec(),
            });
        }
        out
    }

    /// The refusal before the prompt: a hold, or a lock held that the deploy does not wait for.
    pub(crate) fn refusal(
        &self,
        app_env: &AppEnv,
        wait: Option<std::time::Duration>,
    ) -> Option<DeployError> {
        if let Some(hold) = &self.hold {
            return Some(DeployError::OnHold {
                app_env: app_env.clone(),
                hold: Box::new(hold.clone()),
            });
        }
        match (&self.lock, wait) {
            (Some(held), None) => Some(DeployError::LockHeld {
                held: Box::new(held.clone()),
            }),
            _ => None,
        }
    }
}

/// Step 2's Consul reads in one round trip: the release tags (with the sequence counters) and the
/// ACL probe, in one transaction. A token that may not manage the app/env is refused here,
/// before any prompt; the probe leaves nothing behind.
/// The hold key is read in the same transaction, and what was found of it and of the lock are
/// the blockers known before the prompt.
pub(crate) async fn plan_read(
    ctx: &Context,
    app_env: &AppEnv,
) -> Result<(ReleaseTags, KnownBlockers), DeployError> {
    let mut ops = probe_ops(app_env).to_vec();
    ops.extend(tags_read_ops(app_env));
    ops.push(crate::hold::read_op(app_env));
    // The probe leaves nothing behind and the rest reads: safe to retry like a read.
    let results = match ctx.consul.idempotent_txn(&ops).await {
        Ok(done) => done.results,
        Err(error) if refusal(&error).is_some() => {
            return Err(DeployError::NotAllowed {
                app_env: app_env.clone(),
            });
        }
        Err(source) => {
            return Err(DeployError::Consul {
                during: "reading the release tags",
                source: Box::new(source),
            });
        }
    };
    let mut tags =
        tags_from_pairs(app_env, &results).map_err(|source| tags_error(app_env, source))?;
    let known = known_blockers(ctx, app_env, &results);
    if known.lock.is_some() {
        // Held (a fresh Go-tool lock counts): the lock is taken only once it is free, and the
        // plan is then built again (the holder may have changed the group meanwhile).
        tags.lock_free_at = None;
    }
    Ok((tags, known))
}

/// The blockers among the results of a transaction that read the lock and the hold keys.
fn known_blockers(
    ctx: &Context,
    app_env: &AppEnv,
    results: &[consul_client::KvPair],
) -> KnownBlockers {
    let lock_key = app_env.lock_key();
    let mut known = KnownBlockers {
        hold: crate::hold::hold_from_pairs(app_env, results),
        ..KnownBlockers::default()
    };
    if let Some(pair) = results.iter().rev().find(|p| p.key == lock_key) {
        if pair.session.is_some() {
            known.lock = Some(crate::lock::LockHeld::busy(app_env, pair));
        } else if let Some(go) = crate::lock::LockHeld::go_tool(app_env, pair) {
            if go.is_probably_stale(ctx.settings.stale_lock_after) {
                known.stale_go_lock = Some(go);
            } else {
                known.lock = Some(go);
            }
        }
    }
    known
}

/// Reads the lock and the hold (one transaction) and returns what refuses an operation before
/// its prompt: a hold, or a lock held that it does not `wait` for.
pub(crate) async fn refusal_before_prompt(
    ctx: &Context,
    app_env: &AppEnv,
    wait: Option<std::time::Duration>,
) -> Result<Option<DeployError>, DeployError> {
    let ops = [
        consul_client::TxnOp::get_tree(app_env.lock_key()),
        crate::hold::read_op(app_env),
    ];
    match ctx.consul.idempotent_txn(&ops).await {
        Ok(done) => Ok(known_blockers(ctx, app_env, &done.results).refusal(app_env, wait)),
        Err(error) if refusal(&error).is_some() => Err(DeployError::NotAllowed {
            app_env: app_env.clone(),
        }),
        Err(source) => Err(DeployError::Consul {
            during: "reading the deploy lock and the hold",
            source: Box::new(source),
        }),
    }
}

/// The ACL probe of step 2: refuses before any prompt when the token may not manage the app/env.
pub(crate) async fn check_access(ctx: &Context, app_env: &AppEnv) -> Result<(), DeployError> {
    match probe_access(&ctx.consul, app_env).await {
        Ok(Access::Allowed) => Ok(()),
        Ok(_) => Err(DeployError::NotAllowed {
            app_env: app_env.clone(),
        }),
        Err(source) => Err(DeployError::Consul {
            during: "checking access rights",
            source: Box::new(source),
        }),
    }
}

/// What a rollback deploys: resolved over `tags` when given (read under the lock), else over
/// a fresh read.
pub(crate) async fn resolve_rollback(
    ctx: &Context,
    app_env: &AppEnv,
    tags: Option<&ReleaseTags>,
    to: &RollbackTarget,
) -> Result<crate::release::RollbackTarget, DeployError> {
    let to = match to {
        RollbackTarget::Previous => None,
        RollbackTarget::Tag(tag) => Some(tag),
    };
    let resolved = match tags {
        Some(tags) => rollback_target_over(&ctx.consul, app_env, tags.clone(), to).await,
        None => rollback_target(&ctx.consul, app_env, to).await,
    };
    match resolved {
        Ok(target) => Ok(target),
        Err(error @ (ReleaseError::NoPrevious { .. } | ReleaseError::TagNotInHistory { .. })) => {
            Err(DeployError::NoRollbackTarget {
                app_env: app_env.clone(),
                detail: error.to_string(),
            })
        }
        Err(ReleaseError::PermissionDenied { .. }) => Err(DeployError::NotAllowed {
            app_env: app_env.clone(),
        }),
        Err(source) => Err(DeployError::Consul {
            during: "finding the rollback target",
            source: Box::new(source),
        }),
    }
}

/// Takes the deploy lock (step 3), waiting up to `wait` when asked to, and reports its loss as
/// a warning as soon as it is noticed.
pub(crate) async fn acquire_lock(
    ctx: &Context,
    app_env: &AppEnv,
    tag: Option<Tag>,
    wait: Option<std::time::Duration>,
    seen_free_at: Option<u64>,
    reads: Vec<consul_client::TxnOp>,
    progress: &ProgressSink,
) -> Result<WatchedLock, DeployError> {
    let request = LockRequest::new(app_env.clone(), &ctx.settings, tag)
        .wait(wait)
        .seen_free_at(seen_free_at)
        .reads(reads);
    let request = request.cancel(ctx.cancel.clone());
    let lock = DeployLock::acquire_reporting(&ctx.consul, &request, |held| {
        progress.emit(Progress::WaitingForLock {
            holder: held.to_string(),
        });
    })
    .await
    .map_err(|error| match error {
        LockError::Held(held) => DeployError::LockHeld { held },
        LockError::Interrupted { cleaned_up, .. } => super::interrupt::interrupted(
            if cleaned_up {
                super::LockEnd::NotTaken
            } else {
                super::LockEnd::NotReleased {
                    problem: "the session created to take it could not be destroyed".to_owned(),
                }
            },
            super::MarathonEnd::Unchanged,
        ),
        LockError::PermissionDenied { .. } => DeployError::NotAllowed {
            app_env: app_env.clone(),
        },
        other => DeployError::Consul {
            during: "taking the deploy lock",
            source: Box::new(other),
        },
    })?;
    if let Some(go) = lock.replaced_go_lock() {
        progress.warn(stale_go_lock_warning(go, ctx.settings.stale_lock_after));
    }
    // A hold set while this operation waited for the lock is honoured (the lock's transaction
    // read the hold key, when asked to).
    if let Some(hold) = crate::hold::hold_from_pairs(app_env, lock.acquired_reads()) {
        let _ = lock.release().await;
        return Err(DeployError::OnHold {
            app_env: app_env.clone(),
            hold: Box::new(hold),
        });
    }
    let mut loss = lock.subscribe();
    let sink = progress.clone();
    // Ends when the lock is lost (after saying so), released (its sender is dropped), or told
    // to stop because our own success transaction is about to unlock the key.
    let monitor = tokio::spawn(async move {
        while loss.changed().await.is_ok() {
            let lost = loss.borrow().clone();
            if let Some(lost) = lost {
                sink.emit(Progress::LockLost {
                    reason: lost.to_string(),
                });
                break;
            }
        }
    })
    .abort_handle();
    Ok(WatchedLock {
        lock,
        monitor,
        unlocked: AtomicBool::new(false),
    })
}

/// The warning when a Go-tool lock past the limit is taken over.
pub(crate) fn stale_go_lock_warning(
    go: &crate::lock::LockHeld,
    limit: std::time::Duration,
) -> String {
    format!(
        "taking over the lock of {}: it is held by {go}, older than {} (timeouts.stale_lock), \
         so probably left behind by a failed Go-tool deploy",
        go.target,
        crate::hold::human(limit)
    )
}

/// The deploy lock while an operation holds it, with the task that reports its loss.
pub(crate) struct WatchedLock {
    lock: DeployLock,
    monitor: tokio::task::AbortHandle,
    /// Set once our success transaction committed, which unlocked the key: releasing it again
    /// would be a wasted write, so only the session is destroyed then.
    unlocked: AtomicBool,
}

impl WatchedLock {
    /// The session holding the lock, for the fenced success transaction.
    pub(crate) fn session_id(&self) -> &str {
        self.lock.session_id()
    }

    /// The release tags as read in the transaction that took the lock, when the lock was taken
    /// with [`tags_read_ops`] among its reads.
    pub(crate) fn tags(&self, app_env: &AppEnv) -> Option<Result<ReleaseTags, DeployError>> {
        let reads = self.lock.acquired_reads();
        if reads.is_empty() {
            return None;
        }
        Some(tags_from_pairs(app_env, reads).map_err(|source| tags_error(app_env, source)))
    }

    /// Stops reporting loss. Called just before our own transaction unlocks the key, which the
    /// lock's monitor would otherwise see, and report, as the lock being lost.
    pub(crate) fn stop_loss_reports(&self) {
        self.monitor.abort();
    }

    /// Whether a committed transaction unlocked the key (the lock is free already).
    pub(crate) fn is_unlocked(&self) -> bool {
        self.unlocked.load(Ordering::Acquire)
    }

    /// Notes that a committed transaction unlocked the key with this lock's session.
    pub(crate) fn mark_unlocked(&self) {
        self.unlocked.store(true, Ordering::Release);
    }
}

/// Releases the lock and destroys its session; a failure is a warning (the session then
/// expires on its own), and returned for an interruption's report.
pub(crate) async fn release_lock(lock: WatchedLock, progress: &ProgressSink) -> Result<(), String> {
    lock.stop_loss_reports();
    let done = if lock.unlocked.load(Ordering::Acquire) {
        lock.lock.finish_unlocked().await
    } else {
        lock.lock.release().await
    };
    done.map_err(|error| {
        progress.warn(format!(
            "could not release the deploy lock ({error}); it frees itself when its session expires"
        ));
        error.to_string()
    })
}

/// Records the outcome of a deploy whose Marathon deployment ran.
pub(crate) struct Finish<'a> {
    pub(crate) ctx: &'a Context,
    pub(crate) request: &'a DeployRequest,
    pub(crate) plan: &'a Plan,
    pub(crate) tags: &'a ReleaseTags,
    pub(crate) deployment_id: &'a str,
    /// When the group update was sent.
    pub(crate) started_at: OffsetDateTime,
    /// How long the deploy waited for the lock, when it waited.
    pub(crate) lock_wait: Option<std::time::Duration>,
    /// The message of the success record and event (an adoption says so).
    pub(crate) note: Option<String>,
    pub(crate) progress: &'a ProgressSink,
}

impl Finish<'_> {
    fn record(&self, outcome: Outcome) -> HistoryRecord {
        let mut record = HistoryRecord::new(
            self.request.tag.clone(),
            self.tags.current.clone(),
            self.ctx.settings.deployer.clone(),
            self.started_at,
            outcome,
        );
        record.kind = match self.request.kind {
            DeployKind::Rollback => ReleaseKind::Rollback,
            _ => ReleaseKind::Deploy,
        };
        record.deployment_id =
            (!self.deployment_id.is_empty()).then(|| self.deployment_id.to_owned());
        record.message.clone_from(&self.note);
        if let Some(digest) = &self.plan.digest {
            record
                .image_digests
                .insert(self.plan.new_image(), digest.clone());
        }
        record.image_check_skipped = self.plan.image_check_skipped;
        record.lock_wait_ms = self
            .lock_wait
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        record
    }

    fn event(&self, kind: EventKind, message: Option<String>) -> Event {
        let mut event = Event::new(
            &self.request.app_env,
            self.ctx.settings.deployer.clone(),
            kind,
        )
        .with_tag(self.request.tag.clone())
        .with_previous_tag(self.tags.current.clone());
        if !self.deployment_id.is_empty() {
            event = event.with_deployment_id(self.deployment_id);
        }
        let mut notes: Vec<String> = message.into_iter().collect();
        if self.plan.image_check_skipped {
            notes.push("the registry check of the image was skipped (--skip-image-check)".into());
        }
        if !notes.is_empty() {
            event = event.with_message(notes.join("; "));
        }
        event
    }

    /// Records that the deploy started (Marathon accepted the update): the history record with
    /// outcome `in_progress` and the deployment id, and the start event, in one transaction, so
    /// an interrupted or killed deploy still leaves its trail. Best-effort: a failure is a
    /// warning, and the end of the deploy then appends its record. Returns where the end's
    /// records go.
    pub(crate) async fn started(&self) -> Opened {
        let note = match self.request.kind {
            DeployKind::Rollback => Some("rollback".to_owned()),
            _ => None,
        };
        let event = self.event(EventKind::DeployStarted, note);
        let mut record = self.record(Outcome::InProgress);
        record.message = Some(format!(
            "deployment {} started; not yet finished",
            self.deployment_id
        ));
        match record_started(
            &self.ctx.consul,
            &self.request.app_env,
            &record,
            &event,
            self.ctx.settings.audit_retention,
            self.tags.counters,
            &self.request.options.commit_retry,
        )
        .await
        {
            Ok(opened) => opened,
            Err(error) => {
                self.progress.warn(format!(
                    "the start of the deploy could not be recorded: {error}"
                ));
                Opened {
                    record: None,
                    events: Default::default(),
                }
            }
        }
    }

    /// Where the final record goes: the open record, else a new one numbered from the history's
    /// counter as read under the lock and the audit log's as left by the start's append.
    fn slot(&self, opened: &Opened) -> Slot {
        // A counter made stale by a start record whose answer was lost costs a lost race and a
        // listing, never an overwrite.
        Slot {
            counters: SeqCounters {
                history: self.tags.counters.history,
                events: opened.events,
            },
            open: opened.record,
        }
    }

    /// Step 8: the fenced success transaction. Returns the notification to send (step 9) once
    /// the lock is released.
    pub(crate) async fn succeeded(
        &self,
        lock: &WatchedLock,
        opened: &Opened,
    ) -> Result<Notice, DeployError> {
        self.progress.emit(Progress::RecordingRelease);
        let kind = match self.request.kind {
            DeployKind::Rollback => EventKind::Rollback,
            _ => EventKind::DeploySucceeded,
        };
        let event = self.event(kind, self.note.clone());
        let mut tags = self.tags.clone();
        let slot = self.slot(opened);
        tags.counters = slot.counters;
        let commit = SuccessCommit {
            target: self.request.app_env.clone(),
            session: lock.session_id().to_owned(),
            tags,
            record: self.record(Outcome::Succeeded),
            event: event.clone(),
            audit_retention: self.ctx.settings.audit_retention,
        };
        // The transaction unlocks the key: that is ours, not a loss to report. If the lock was
        // really lost, the transaction's check-session fails and says so.
        lock.stop_loss_reports();
        match commit_success_into(
            &self.ctx.consul,
            &commit,
            slot.open,
            &self.request.options.commit_retry,
        )
        .await
        {
            Ok(_) => {
                lock.mark_unlocked();
                Ok(self.notice(event))
            }
            Err(error) => Err(DeployError::ReleaseNotRecorded(Box::new(error))),
        }
    }

    /// Step 7's records: history and audit of the failure, tags untouched. A problem recording
    /// is a warning: the error stays the deploy's. Returns the notification to send.
    pub(crate) async fn failed(&self, error: &DeployError, opened: &Opened) -> Notice {
        let outcome = match error {
            DeployError::FailedRolledBack { .. } => Outcome::RolledBack,
            DeployError::FailedNotRolledBack { outcome, .. } => *outcome,
            _ => Outcome::Failed,
        };
        let event = self.event(outcome.event_kind(), Some(error.to_string()));
        self.finish(outcome, error.to_string(), event.clone(), opened)
            .await;
        self.notice(event)
    }

    /// Records an interruption after the update: outcome `interrupted`, with what Marathon was
    /// doing, in the record the start opened. Not interruptible itself (bounded by its retries).
    pub(crate) async fn interrupted(&self, marathon: &super::MarathonEnd, opened: &Opened) {
        let message = format!(
            "interrupted while deployment {} ran{}",
            self.deployment_id,
            super::interrupt::Interruption {
                lock: super::LockEnd::Released,
                marathon: marathon.clone(),
            }
            .marathon_part()
        );
        let event = self.event(Outcome::Interrupted.event_kind(), Some(message.clone()));
        self.finish(Outcome::Interrupted, message, event, opened)
            .await;
    }

    /// Finishes the deploy's record with `outcome` and appends `event`, tags untouched.
    async fn finish(&self, outcome: Outcome, message: String, event: Event, opened: &Opened) {
        let mut record = self.record(outcome);
        record.message = Some(message);
        if let Err(problem) = finish_failure(
            &self.ctx.consul,
            &self.request.app_env,
            &record,
            &event,
            self.ctx.settings.audit_retention,
            self.slot(opened),
            &self.request.options.commit_retry,
        )
        .await
        {
            self.progress.warn(format!(
                "the end of the deploy could not be recorded: {problem}"
            ));
        }
    }

    fn notice(&self, event: Event) -> Notice {
        let (settings, app) = (&self.ctx.settings, &self.request.app_env.app);
        let current = self.tags.current.as_ref();
        let link = match self.request.kind {
            DeployKind::Rollback => github_rollback_link(settings, app, current, &self.request.tag),
            _ => github_diff_link(settings, app, current, &self.request.tag),
        };
        Notice { event, link }
    }
}

/// An announcement to send once the lock is free (step 9).
pub(crate) struct Notice {
    event: Event,
    link: DiffLink,
}

impl Notice {
    /// Sends it everywhere configured; returns the failures as warnings.
    pub(crate) async fn send(&self, ctx: &Context) -> Vec<String> {
        notify_all(&ctx.settings, Some(&ctx.consul), &self.event, &self.link)
            .await
            .into_iter()
            .map(|w| w.to_string())
            .collect()
    }
}
