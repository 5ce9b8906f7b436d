//! The registry check of `duncan deploy`, end to end: the real `duncan` binary against
//! consul-sim, marathon-sim and a real registry (Debian's `docker-registry`).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use duncan_tests::example::{APP, ExampleCluster};

fn duncan() -> PathBuf {
    duncan_tests::binary::duncan_bin()
}

/// Runs `duncan args…` with a home holding the example's `~/.duncan.yml` and nothing from the
/// caller's environment that could point it elsewhere.
fn run(cluster: &ExampleCluster, home: &tempfile::TempDir, args: &[&str]) -> Output {
    std::fs::write(home.path().join(".duncan.yml"), cluster.duncan_config()).expect("config");
    let mut command = Command::new(duncan());
    for (key, _) in std::env::vars() {
        if ["CONSUL_", "MARATHON_", "DCOS_", "DUNCAN_"]
            .iter()
            .any(|prefix| key.starts_with(prefix))
        {
            command.env_remove(key);
        }
    }
    command
        .args(args)
        .env("HOME", home.path())
        .env("USER", "tester")
        .output()
        .expect("duncan runs")
}

#[test]
fn a_tag_missing_from_the_registry_is_refused_before_any_lock_or_marathon_change() {
    let cluster = ExampleCluster::start(Duration::from_millis(20)).expect("example cluster");
    let home = tempfile::tempdir().expect("home");
    let consul = cluster.consul_control();
    let marathon = cluster.marathon_control();
    let kv_before = consul.kv_snapshot();
    let deployments_before = marathon.deployment_history().len();
    consul.clear_requests();
    marathon.clear_requests();

    let out = run(
        &cluster,
        &home,
        &["deploy", "-a", APP, "-e", "stage", "-t", "v9-typo", "--yes"],
    );

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("does not exist in its registry"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    // Marathon was only read (the group, to build the plan), never written.
    let writes: Vec<String> = marathon
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect();
    assert!(writes.is_empty(), "Marathon was changed: {writes:?}");
    assert_eq!(marathon.deployment_history().len(), deployments_before);
    // No session was created and no lock taken; Consul holds exactly what it held.
    let sessions: Vec<String> = consul
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query.starts_with("/v1/session/create"))
        .map(|r| r.path_and_query)
        .collect();
    assert!(sessions.is_empty(), "a session was created: {sessions:?}");
    assert_eq!(consul.kv_snapshot(), kv_before);
}

#[test]
fn an_existing_tag_shows_its_digest_in_the_plan_and_in_the_history() {
    let cluster = ExampleCluster::start(Duration::from_millis(20)).expect("example cluster");
    let home = tempfile::tempdir().expect("home");
    let digest = cluster.digest("v2").expect("v2 was pushed").to_owned();

    let out = run(
        &cluster,
        &home,
        &["deploy", "-a", APP, "-e", "stage", "-t", "v2", "--yes"],
    );

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&digest),
        "the plan does not show {digest}:\n{stdout}"
    );
    let history: Vec<serde_json::Value> = cluster
        .consul_control()
        .kv_snapshot()
        .into_iter()
        .filter(|(key, _)| key.starts_with(&format!("deploys/{APP}/stage/history/")))
        .map(|(_, value)| serde_json::from_slice(&value).expect("history record is JSON"))
        .collect();
    assert_eq!(history.len(), 1, "{history:?}");
    let recorded = history[0]["image_digests"].to_string();
    assert!(
        recorded.contains(&digest),
        "history records {recorded}, not {digest}"
    );
    assert_eq!(history[0]["tag"], "v2");
}
