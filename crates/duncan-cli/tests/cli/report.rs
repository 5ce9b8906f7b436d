//! `duncan report`: delivery figures from the release history, through the real binary, as a
//! table with a bar per day, JSON and CSV; app/envs the token may not read are named, never
//! counted as empty.

use consul_sim::{Access, Rule, SimOptions};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::sims::{Sims, marathon_options};
use crate::util::{Home, run_async};

/// A history record of `kind` (`deploy`/`rollback`) that started `hours_ago` and took `secs`.
fn record(
    kind: &str,
    tag: &str,
    previous: Option<&str>,
    outcome: &str,
    hours_ago: i64,
    secs: i64,
    user: &str,
) -> String {
    let started = OffsetDateTime::now_utc() - time::Duration::hours(hours_ago);
    let finished = started + time::Duration::seconds(secs);
    json!({
        "tag": tag,
        "previous": previous,
        "deployer": format!("{user}@vm"),
        "kind": kind,
        "started_at": started.format(&Rfc3339).unwrap(),
        "finished_at": finished.format(&Rfc3339).unwrap(),
        "outcome": outcome,
    })
    .to_string()
}

/// dogfood/stage: v1 ok, v2 ok then rolled back from (rollback to v1 an hour later), v3 failed
/// and rolled back, v4 ok; plus one cancelled deploy and one from 40 days ago.
async fn seed_history(sims: &Sims) {
    let records = [
        record("deploy", "v0", None, "succeeded", 40 * 24, 30, "old"),
        record("deploy", "v1", Some("v0"), "succeeded", 50, 60, "alex"),
        record("deploy", "v2", Some("v1"), "succeeded", 30, 120, "sam"),
        record("rollback", "v1", Some("v2"), "succeeded", 29, 60, "sam"),
        record("deploy", "v3", Some("v1"), "rolled_back", 20, 90, "alex"),
        record("deploy", "v3", Some("v1"), "cancelled", 19, 5, "alex"),
        record("deploy", "v4", Some("v1"), "succeeded", 10, 180, "alex"),
    ];
    for (i, value) in records.iter().enumerate() {
        sims.put_key(
            &format!("deploys/dogfood/stage/history/{:020}", i + 1),
            value,
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn report_counts_changes_failures_and_restores_from_the_history() {
    let sims = Sims::start().await;
    seed_history(&sims).await;
    let home = Home::with_config(&sims.config());
    let args = ["report", "-a", "dogfood", "-e", "stage", "--since", "30d"];

    let mut cmd = home.duncan();
    cmd.args(args).arg("--json");
    let run = run_async(cmd).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    let all = &report["all"];
    // v1, v2, v3, v4 are changes (v0 is older than 30 days; the cancelled one is no change).
    assert_eq!(all["deploys"], 4);
    // v2 was rolled back from, v3 failed.
    assert_eq!(all["failed"], 2);
    assert_eq!(all["rolled_back_from"], 1);
    assert_eq!(all["change_failure_rate"], 0.5);
    assert_eq!(all["rollbacks"], 1);
    assert_eq!(all["not_finished"], 1);
    assert_eq!(all["unrestored"], 0);
    // Successful changes took 60 s (v1) and 180 s (v4).
    assert_eq!(all["median_deploy_seconds"], 120.0);
    assert_eq!(all["deployers"][0], json!({"user": "alex", "deploys": 3}));
    assert_eq!(report["app_envs"][0]["app"], "dogfood");
    assert_eq!(report["skipped"], json!([]));

    let mut cmd = home.duncan();
    cmd.args(args);
    let run = run_async(cmd).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let table = run
        .stdout
        .lines()
        .find(|l| l.starts_with("dogfood/stage"))
        .unwrap_or_else(|| panic!("a row for dogfood/stage in:\n{}", run.stdout));
    assert!(table.contains("50%"), "{table}");
    assert!(
        run.stdout.contains("(1 failed)"),
        "a day with a failure is marked:\n{}",
        run.stdout
    );
    assert!(run.stdout.contains('✗'), "{}", run.stdout);
    assert!(
        run.stdout.contains("Who deploys: alex 3, sam 1"),
        "{}",
        run.stdout
    );

    let mut cmd = home.duncan();
    cmd.args(args).arg("--csv");
    let run = run_async(cmd).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("app,env,deploys,succeeded,failed,"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with("dogfood,stage,4,2,2,1,0.500,1,"),
        "{}",
        lines[1]
    );
    assert!(lines[2].starts_with("all,,4,2,2,"), "{}", lines[2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn report_names_the_app_envs_the_token_may_not_read_instead_of_counting_them_empty() {
    let sims = Sims::start_with(
        SimOptions::default().acl_master_token("root").token(
            "reader-secret",
            vec![Rule::new("deploys/dogfood/", Access::Read)],
        ),
        marathon_options(),
    )
    .await;
    seed_history(&sims).await;
    let home = Home::with_config(&format!("{}consul_token: reader-secret\n", sims.config()));

    let mut cmd = home.duncan();
    cmd.args(["report", "-e", "stage", "--json"]);
    let run = run_async(cmd).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(report["app_envs"].as_array().map(Vec::len), Some(1));
    assert_eq!(report["skipped"][0]["app"], "skulls");
    assert!(
        run.stderr.contains("skulls/stage is not in the report"),
        "{}",
        run.stderr
    );

    // Nothing readable at all: the refusal is the answer (exit 7), not an empty report.
    let mut cmd = home.duncan();
    cmd.args(["report", "-a", "skulls", "-e", "stage"]);
    let run = run_async(cmd).await;
    assert_eq!(run.code, 7, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn report_refuses_a_period_of_nothing_and_csv_with_json() {
    let home = Home::new();
    for args in [
        &["report", "-a", "dogfood", "--since", "0"][..],
        &["report", "-a", "dogfood", "--since", "3651d"][..],
        &["report", "-a", "dogfood", "--csv", "--json"][..],
    ] {
        let mut cmd = home.duncan();
        cmd.args(args);
        let run = run_async(cmd).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    }
}
