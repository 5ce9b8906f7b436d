//! Delivery figures from the release history: how often a team ships, how often a change fails,
//! how long it takes to get back to a good release — the DORA measures — per app/env and over
//! many.
//!
//! The figures are computed from the history duncan already keeps (one `recurse` read per
//! app/env, see [`crate::release::history`]); nothing else is stored. The rules:
//!
//! - A **change** is a deploy record (not a rollback) that ran to an end of its own:
//!   `succeeded`, `failed`, `rolled_back`, `rollback_failed` or `timed_out`. A deploy that was
//!   cancelled, interrupted, superseded by someone else's deployment or is still in progress is
//!   not a change (it says nothing about the change's quality) and is counted apart as
//!   `not_finished`.
//! - A change **failed** when it did not succeed, or when it succeeded and the next successful
//!   release of the app/env was a rollback away from it (its `previous` is the change's tag):
//!   it was *rolled back from*.
//! - The **time to restore** of a failed change runs from its end (`finished_at`) to the end of
//!   the next successful release (deploy or rollback) of the same app/env. A failed change with
//!   no successful release after it is `unrestored`.
//! - The **deploy duration** is `finished_at - started_at` of a successful change.
//! - A change belongs to the window when it started in it (`since <= started_at < until`); its
//!   restore may end after the window.
//! - Deploy frequency counts successful changes per day of the window.
//!
//! [`Releases::classify`] turns one app/env's history into facts, [`Figures::of`] sums any
//! number of them. Times are UTC.

use std::collections::BTreeMap;
use std::time::Duration;

use consul_client::{Client, QueryOptions};
use futures_util::StreamExt;
use serde::Serialize;
use time::{Date, OffsetDateTime};

use crate::names::AppEnv;
use crate::release::{self, HistoryEntry, Outcome, ReleaseError, ReleaseKind};

/// How many app/envs [`read_many`] reads at once by default.
pub const DEFAULT_REPORT_CONCURRENCY: usize = 16;

/// The whole release history of `target`, classified: one `recurse` read of its history
/// prefix. An empty history is checked with a read of one key (`current`), since Consul leaves
/// out of a listing what the token may not read: a refusal is an error, not "no releases".
///
/// # Errors
///
/// [`ReleaseError`] when Consul cannot be read or refuses the token.
pub async fn read(consul: &Client, target: &AppEnv) -> Result<Releases, ReleaseError> {
    let history = release::history(consul, target, None).await?;
    if history.is_empty() {
        consul
            .kv()
            .get(&target.current_key(), &QueryOptions::consistent())
            .await
            .map_err(|e| ReleaseError::from_consul(target, e))?;
    }
    Ok(Releases::classify(&history))
}

/// [`read`] for each of `targets`, `concurrency` at a time, in the order given.
pub async fn read_many(
    consul: &Client,
    targets: &[AppEnv],
    concurrency: usize,
) -> Vec<(AppEnv, Result<Releases, ReleaseError>)> {
    futures_util::stream::iter(targets.iter().cloned())
        .map(|target| async move {
            let result = read(consul, &target).await;
            (target, result)
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// The period a report covers: `since <= t < until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The start (inclusive).
    pub since: OffsetDateTime,
    /// The end (exclusive), usually now.
    pub until: OffsetDateTime,
}

impl Window {
    /// The window of `length` that ends at `until`.
    pub fn ending(until: OffsetDateTime, length: Duration) -> Self {
        let length = time::Duration::try_from(length).unwrap_or(time::Duration::MAX);
        Window {
            since: until
                .checked_sub(length)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            until,
        }
    }

    fn contains(&self, at: OffsetDateTime) -> bool {
        self.since <= at && at < self.until
    }

    /// The calendar days (UTC) the window touches, oldest first.
    pub fn days(&self) -> Vec<Date> {
        let mut days = Vec::new();
        let last = self.until.date();
        let mut day = self.since.date();
        while day <= last {
            days.push(day);
            match day.next_day() {
                Some(next) => day = next,
                None => break,
            }
        }
        days
    }

    /// The window's length in days (fractional; at least one second's worth).
    fn length_days(&self) -> f64 {
        let secs = (self.until - self.since).as_seconds_f64().max(1.0);
        secs / 86_400.0
    }
}

/// What one change (a deploy record that ran to an end of its own) tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// When it started.
    pub started_at: OffsetDateTime,
    /// Whether it failed (did not succeed, or was rolled back from).
    pub failed: bool,
    /// Whether it succeeded and was later rolled back from.
    pub rolled_back_from: bool,
    /// How long it took, for a successful change.
    pub duration: Option<Duration>,
    /// For a failed change: how long until the next successful release, if there was one.
    pub restored_after: Option<Duration>,
    /// Who ran it (the user part of `user@host`).
    pub user: String,
}

/// The facts of one app/env's history that the figures are made of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Releases {
    /// The changes, oldest first.
    pub changes: Vec<Change>,
    /// When each rollback record started (any outcome), oldest first.
    pub rollbacks: Vec<OffsetDateTime>,
    /// When each deploy that did not run to an end of its own (cancelled, interrupted,
    /// superseded, in progress) started.
    pub not_finished: Vec<OffsetDateTime>,
}

/// Whether a deploy that ended this way is a change (see the module docs).
fn is_change(outcome: Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Succeeded
            | Outcome::Failed
            | Outcome::RolledBack
            | Outcome::RollbackFailed
            | Outcome::TimedOut
    )
}

fn positive(d: time::Duration) -> Duration {
    Duration::try_from(d).unwrap_or(Duration::ZERO)
}

impl Releases {
    /// Classifies one app/env's history (in any order; records are ordered by sequence number).
    pub fn classify(history: &[HistoryEntry]) -> Self {
        let mut records: Vec<&HistoryEntry> = history.iter().collect();
        records.sort_by_key(|e| e.seq);
        let mut out = Releases::default();
        for (i, entry) in records.iter().enumerate() {
            let r = &entry.record;
            if r.kind == ReleaseKind::Rollback {
                out.rollbacks.push(r.started_at);
                continue;
            }
            if !is_change(r.outcome) {
                out.not_finished.push(r.started_at);
                continue;
            }
            let next_success = records[i + 1..]
                .iter()
                .map(|e| &e.record)
                .find(|n| n.outcome.is_success());
            let succeeded = r.outcome.is_success();
            let rolled_back_from = succeeded
                && next_success.is_some_and(|n| {
                    n.kind == ReleaseKind::Rollback && n.previous.as_ref() == Some(&r.tag)
                });
            let failed = !succeeded || rolled_back_from;
            out.changes.push(Change {
                started_at: r.started_at,
                failed,
                rolled_back_from,
                duration: succeeded.then(|| positive(r.finished_at - r.started_at)),
                restored_after: if failed {
                    next_success.map(|n| positive(n.finished_at - r.finished_at))
                } else {
                    None
                },
                user: r.deployer.user().to_owned(),
            });
        }
        out
    }
}

/// Changes on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCount {
    /// The day (UTC), `YYYY-MM-DD`.
    #[serde(serialize_with = "serialize_date")]
    pub date: Date,
    /// Changes that started that day.
    pub deploys: u32,
    /// Of those, the ones that failed.
    pub failed: u32,
}

fn serialize_date<S: serde::Serializer>(date: &Date, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    ))
}

/// How many changes one person ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeployerCount {
    /// The user name.
    pub user: String,
    /// Their changes in the window.
    pub deploys: u32,
}

/// The delivery figures of one or more app/envs over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// Changes that started in the window.
    pub deploys: u32,
    /// Of those, the ones that succeeded and were not rolled back from.
    pub succeeded: u32,
    /// Of those, the ones that failed or were rolled back from.
    pub failed: u32,
    /// Of the failed ones, those that succeeded and were later rolled back from.
    pub rolled_back_from: u32,
    /// `failed / deploys`, from 0 to 1; `None` without changes.
    pub change_failure_rate: Option<f64>,
    /// Rollback records that started in the window.
    pub rollbacks: u32,
    /// Deploys that did not run to an end of their own (cancelled, interrupted, superseded, in
    /// progress) in the window.
    pub not_finished: u32,
    /// Successful changes per day of the window.
    pub deploys_per_day: f64,
    /// Successful changes per week (7 days) of the window.
    pub deploys_per_week: f64,
    /// The median duration of the successful changes, in seconds.
    pub median_deploy_seconds: Option<f64>,
    /// The median time to restore of the failed changes that were restored, in seconds.
    pub median_restore_seconds: Option<f64>,
    /// Failed changes with no successful release after them yet.
    pub unrestored: u32,
    /// Changes (and failures) per day of the window, oldest first.
    pub per_day: Vec<DayCount>,
    /// Who ran the changes, most first (then by name).
    pub deployers: Vec<DeployerCount>,
    /// Changes by the hour (UTC, 0–23) they started at.
    pub by_hour: [u32; 24],
}

/// The median of `values` (sorted in place); `None` when empty.
fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        f64::midpoint(values[mid - 1], values[mid])
    } else {
        values[mid]
    })
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Figures {
    /// The figures of `releases` (one per app/env) over `window`.
    pub fn of<'a>(releases: impl IntoIterator<Item = &'a Releases>, window: &Window) -> Self {
        let releases: Vec<&Releases> = releases.into_iter().collect();
        let changes: Vec<&Change> = releases
            .iter()
            .flat_map(|r| r.changes.iter())
            .filter(|c| window.contains(c.started_at))
            .collect();
        let failed: Vec<&&Change> = changes.iter().filter(|c| c.failed).collect();
        let succeeded = changes.len() - failed.len();
        let mut durations: Vec<f64> = changes
            .iter()
            .filter(|c| !c.failed)
            .filter_map(|c| c.duration.map(|d| d.as_secs_f64()))
            .collect();
        let mut restores: Vec<f64> = failed
            .iter()
            .filter_map(|c| c.restored_after.map(|d| d.as_secs_f64()))
            .collect();
        let unrestored = failed.iter().filter(|c| c.restored_after.is_none()).count();

        let mut per_day: BTreeMap<Date, DayCount> = window
            .days()
            .into_iter()
            .map(|date| {
                (
                    date,
                    DayCount {
                        date,
                        deploys: 0,
                        failed: 0,
                    },
                )
            })
            .collect();
        let mut users: BTreeMap<&str, u32> = BTreeMap::new();
        let mut by_hour = [0u32; 24];
        for change in &changes {
            if let Some(day) = per_day.get_mut(&change.started_at.date()) {
                day.deploys += 1;
                day.failed += u32::from(change.failed);
            }
            *users.entry(change.user.as_str()).or_default() += 1;
            by_hour[usize::from(change.started_at.hour())] += 1;
        }
        let mut deployers: Vec<DeployerCount> = users
            .into_iter()
            .map(|(user, deploys)| DeployerCount {
                user: user.to_owned(),
                deploys,
            })
            .collect();
        deployers.sort_by(|a, b| b.deploys.cmp(&a.deploys).then(a.user.cmp(&b.user)));

        let in_window = |times: &Vec<OffsetDateTime>| {
            count(times.iter().filter(|t| window.contains(**t)).count())
        };
        let days = window.length_days();
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        let per_day_rate = succeeded as f64 / days;
        Figures {
            deploys: count(changes.len()),
            succeeded: count(succeeded),
            failed: count(failed.len()),
            rolled_back_from: count(failed.iter().filter(|c| c.rolled_back_from).count()),
            #[allow(clippy::cast_precision_loss)]
            change_failure_rate: (!changes.is_empty())
                .then(|| failed.len() as f64 / changes.len() as f64),
            rollbacks: releases.iter().map(|r| in_window(&r.rollbacks)).sum(),
            not_finished: releases.iter().map(|r| in_window(&r.not_finished)).sum(),
            deploys_per_day: per_day_rate,
            deploys_per_week: per_day_rate * 7.0,
            median_deploy_seconds: median(&mut durations),
            median_restore_seconds: median(&mut restores),
            unrestored: count(unrestored),
            per_day: per_day.into_values().collect(),
            deployers,
            by_hour,
        }
    }

    /// The busiest hours (UTC) with their change counts, most first, at most `n`, leaving out
    /// hours without changes.
    pub fn busiest_hours(&self, n: usize) -> Vec<(u8, u32)> {
        let mut hours: Vec<(u8, u32)> = (0u8..24)
            .zip(self.by_hour)
            .filter(|(_, c)| *c > 0)
            .collect();
        hours.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        hours.truncate(n);
        hours
    }
}

#[cfg(test)]
mod tests;
