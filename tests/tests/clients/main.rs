//! Other people's clients against the simulators: node-consul 2.x (npm `consul`) against
//! consul-sim and marathon-python 0.13 (PyPI `marathon`) against marathon-sim. Each script next
//! to this file fails when the simulator answers what the real service would not.
//!
//! `cargo xtask test` installs both under `<target>/clients/` and passes their paths in
//! `DUNCAN_NODE_CLIENTS` / `DUNCAN_PYTHON_CLIENTS`; without them the tests look there and fail
//! with the command that installs them — they never skip.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Where `cargo xtask test` installs the clients: `$CARGO_TARGET_DIR/clients` or
/// `<workspace>/target/clients`.
fn clients_dir(var: &str, sub: &str, probe: &str) -> PathBuf {
    let dir = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
            .join("clients")
            .join(sub)
    });
    assert!(
        dir.join(probe).exists(),
        "{} is not installed in {}: run `cargo xtask test`, which installs it (or set {var})",
        probe,
        dir.display()
    );
    dir
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
}

/// Runs the command off the runtime (the sims keep serving on it) and asserts it succeeded.
async fn run(mut cmd: Command, what: &str) {
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::task::spawn_blocking(move || cmd.output()),
    )
    .await
    .unwrap_or_else(|_| panic!("{what} did not finish within 120 s"))
    .expect("the client runs")
    .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    assert!(stdout.contains("all checks passed"), "{stdout}\n{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_consul_kv_sessions_txn_events_and_blocking_queries_work_against_consul_sim() {
    let modules = clients_dir(
        "DUNCAN_NODE_CLIENTS",
        "node",
        "node_modules/consul/package.json",
    );
    let sim = consul_sim::ConsulSim::start(consul_sim::SimOptions::default().node_name("node1"))
        .await
        .expect("consul-sim starts");
    let mut cmd = Command::new("node");
    cmd.arg(script("consul_node.js"))
        .env("NODE_PATH", modules.join("node_modules"))
        .env("CONSUL_SIM_URL", sim.url());
    run(cmd, "node consul_node.js").await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_python_groups_apps_deployments_events_info_and_lock_work_against_marathon_sim() {
    let site = clients_dir("DUNCAN_PYTHON_CLIENTS", "python", "marathon/__init__.py");
    let sim = marathon_sim::MarathonSim::start(
        marathon_sim::SimOptions::default()
            .task_start(Duration::from_millis(20))
            .rule("*:hangs", marathon_sim::TaskOutcome::NeverHealthy),
    )
    .await
    .expect("marathon-sim starts");
    let mut cmd = Command::new("python3");
    cmd.arg(script("marathon_python.py"))
        .env("PYTHONPATH", site)
        .env("MARATHON_SIM_URL", sim.url());
    run(cmd, "python3 marathon_python.py").await;
    sim.shutdown().await;
}
