use time::macros::datetime;

use super::*;
use crate::names::{Deployer, Tag};
use crate::release::HistoryRecord;

fn tag(t: &str) -> Tag {
    t.parse().unwrap()
}

/// A record that started at `start` and took `secs` seconds.
fn entry(
    seq: u64,
    kind: ReleaseKind,
    (t, previous): (&str, Option<&str>),
    outcome: Outcome,
    start: OffsetDateTime,
    secs: i64,
    user: &str,
) -> HistoryEntry {
    let mut record = HistoryRecord::new(
        tag(t),
        previous.map(tag),
        Deployer::new(user, "vm").unwrap(),
        start,
        outcome,
    );
    record.kind = kind;
    record.finished_at = start + time::Duration::seconds(secs);
    HistoryEntry { seq, record }
}

const D: ReleaseKind = ReleaseKind::Deploy;
const R: ReleaseKind = ReleaseKind::Rollback;

fn window() -> Window {
    Window {
        since: datetime!(2026-11-01 00:00 UTC),
        until: datetime!(2026-11-08 00:00 UTC),
    }
}

#[test]
fn a_change_rolled_back_from_counts_as_failed_and_is_restored_by_the_rollback() {
    let history = [
        entry(
            1,
            D,
            ("v1", None),
            Outcome::Succeeded,
            datetime!(2026-11-02 10:00 UTC),
            60,
            "alex",
        ),
        entry(
            2,
            D,
            ("v2", Some("v1")),
            Outcome::Succeeded,
            datetime!(2026-11-02 11:00 UTC),
            120,
            "sam",
        ),
        // Noticed bad 30 minutes after it finished: rolled back to v1.
        entry(
            3,
            R,
            ("v1", Some("v2")),
            Outcome::Succeeded,
            datetime!(2026-11-02 11:31 UTC),
            60,
            "sam",
        ),
    ];
    let releases = Releases::classify(&history);
    assert_eq!(releases.changes.len(), 2, "a rollback is not a change");
    assert!(!releases.changes[0].failed);
    assert!(releases.changes[1].failed && releases.changes[1].rolled_back_from);
    // v2 finished at 11:02; the rollback finished at 11:32.
    assert_eq!(
        releases.changes[1].restored_after,
        Some(Duration::from_secs(30 * 60))
    );

    let figures = Figures::of([&releases], &window());
    assert_eq!(
        (figures.deploys, figures.succeeded, figures.failed),
        (2, 1, 1)
    );
    assert_eq!(figures.rolled_back_from, 1);
    assert_eq!(figures.rollbacks, 1);
    assert_eq!(figures.change_failure_rate, Some(0.5));
    assert_eq!(figures.median_restore_seconds, Some(1800.0));
    assert_eq!(
        figures.median_deploy_seconds,
        Some(60.0),
        "only successful changes"
    );
    assert_eq!(figures.unrestored, 0);
}

#[test]
fn a_failed_deploy_is_restored_by_the_next_successful_release_and_unrestored_until_then() {
    let history = [
        entry(
            1,
            D,
            ("v1", None),
            Outcome::Succeeded,
            datetime!(2026-11-03 09:00 UTC),
            30,
            "alex",
        ),
        entry(
            2,
            D,
            ("v2", Some("v1")),
            Outcome::RolledBack,
            datetime!(2026-11-03 10:00 UTC),
            100,
            "alex",
        ),
        entry(
            3,
            D,
            ("v3", Some("v1")),
            Outcome::TimedOut,
            datetime!(2026-11-03 12:00 UTC),
            50,
            "alex",
        ),
    ];
    let figures = Figures::of([&Releases::classify(&history)], &window());
    assert_eq!((figures.deploys, figures.failed), (3, 2));
    assert_eq!(
        figures.unrestored, 2,
        "no successful release after either failure"
    );
    assert_eq!(figures.median_restore_seconds, None);

    let mut later = history.to_vec();
    later.push(entry(
        4,
        D,
        ("v4", Some("v1")),
        Outcome::Succeeded,
        datetime!(2026-11-03 13:00 UTC),
        40,
        "sam",
    ));
    let figures = Figures::of([&Releases::classify(&later)], &window());
    assert_eq!(figures.unrestored, 0);
    // v2 ended 10:01:40, v3 ended 12:00:50; v4 ended 13:00:40.
    let restores = [3.0 * 3600.0 - 60.0, 3600.0 - 10.0];
    assert_eq!(
        figures.median_restore_seconds,
        Some(f64::midpoint(restores[0], restores[1]))
    );
    assert_eq!(
        figures.median_deploy_seconds,
        Some(f64::midpoint(30.0, 40.0))
    );
}

#[test]
fn cancelled_and_superseded_deploys_are_not_changes() {
    let history = [
        entry(
            1,
            D,
            ("v1", None),
            Outcome::Cancelled,
            datetime!(2026-11-04 09:00 UTC),
            5,
            "alex",
        ),
        entry(
            2,
            D,
            ("v1", None),
            Outcome::Superseded,
            datetime!(2026-11-04 09:10 UTC),
            5,
            "alex",
        ),
        entry(
            3,
            D,
            ("v1", None),
            Outcome::Succeeded,
            datetime!(2026-11-04 09:20 UTC),
            5,
            "alex",
        ),
    ];
    let figures = Figures::of([&Releases::classify(&history)], &window());
    assert_eq!(figures.deploys, 1);
    assert_eq!(figures.not_finished, 2);
    assert_eq!(figures.change_failure_rate, Some(0.0));
}

#[test]
fn only_changes_that_started_in_the_window_count_but_restores_may_end_after_it() {
    let history = [
        entry(
            1,
            D,
            ("v0", None),
            Outcome::Succeeded,
            datetime!(2026-10-20 09:00 UTC),
            5,
            "old",
        ),
        entry(
            2,
            D,
            ("v1", Some("v0")),
            Outcome::Failed,
            datetime!(2026-11-07 23:00 UTC),
            60,
            "alex",
        ),
        entry(
            3,
            D,
            ("v2", Some("v0")),
            Outcome::Succeeded,
            datetime!(2026-11-09 08:00 UTC),
            60,
            "alex",
        ),
    ];
    let figures = Figures::of([&Releases::classify(&history)], &window());
    assert_eq!(figures.deploys, 1, "v0 before, v2 after the window");
    assert_eq!(figures.failed, 1);
    assert_eq!(
        figures.unrestored, 0,
        "v2 restored it after the window ended"
    );
    assert!(figures.deployers.iter().all(|d| d.user != "old"));
}

#[test]
fn figures_over_several_app_envs_sum_counts_and_take_medians_over_all_samples() {
    let stage = [
        entry(
            1,
            D,
            ("v1", None),
            Outcome::Succeeded,
            datetime!(2026-11-01 14:00 UTC),
            10,
            "alex",
        ),
        entry(
            2,
            D,
            ("v2", Some("v1")),
            Outcome::Succeeded,
            datetime!(2026-11-02 14:30 UTC),
            20,
            "sam",
        ),
    ];
    let production = [entry(
        1,
        D,
        ("v1", None),
        Outcome::Succeeded,
        datetime!(2026-11-02 15:00 UTC),
        90,
        "sam",
    )];
    let figures = Figures::of(
        [
            &Releases::classify(&stage),
            &Releases::classify(&production),
        ],
        &window(),
    );
    assert_eq!(figures.deploys, 3);
    assert_eq!(figures.median_deploy_seconds, Some(20.0));
    assert_eq!(
        figures.deployers,
        vec![
            DeployerCount {
                user: "sam".into(),
                deploys: 2
            },
            DeployerCount {
                user: "alex".into(),
                deploys: 1
            },
        ]
    );
    assert_eq!(figures.busiest_hours(2), vec![(14, 2), (15, 1)]);
    assert_eq!(
        figures.per_day.len(),
        8,
        "1 Nov to 8 Nov (the end day is touched)"
    );
    assert_eq!(
        (figures.per_day[1].deploys, figures.per_day[1].failed),
        (2, 0)
    );
    // 3 successful changes in 7 days.
    assert!((figures.deploys_per_week - 3.0).abs() < 1e-9);
}

#[test]
fn an_empty_history_has_no_rates_and_no_medians() {
    let figures = Figures::of([&Releases::default()], &window());
    assert_eq!(figures.deploys, 0);
    assert_eq!(figures.change_failure_rate, None);
    assert_eq!(figures.median_deploy_seconds, None);
    assert_eq!(figures.median_restore_seconds, None);
    assert!(figures.per_day.iter().all(|d| d.deploys == 0));
}

#[test]
fn records_are_ordered_by_sequence_not_by_how_they_were_listed() {
    let mut history = vec![
        entry(
            1,
            D,
            ("v1", None),
            Outcome::Succeeded,
            datetime!(2026-11-02 10:00 UTC),
            60,
            "alex",
        ),
        entry(
            2,
            D,
            ("v2", Some("v1")),
            Outcome::Succeeded,
            datetime!(2026-11-02 11:00 UTC),
            60,
            "alex",
        ),
        entry(
            3,
            R,
            ("v1", Some("v2")),
            Outcome::Succeeded,
            datetime!(2026-11-02 12:00 UTC),
            60,
            "alex",
        ),
    ];
    history.reverse(); // as `release::history` returns them: newest first
    let releases = Releases::classify(&history);
    assert!(releases.changes[1].rolled_back_from);
}
