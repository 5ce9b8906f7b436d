//! Day two (issue #17): `duncan status` tells the truth when reality is messy — one app changed
//! by hand, a deploy under way, a Marathon deployment nobody holds the lock for, Consul down.

use serde_json::{Value, json};

use crate::sims::Sims;
use crate::util::{Home, run_async};

/// `/dogfood-stage` seeded at `tag`, recorded in Consul as `current`.
async fn recorded(tag: &str) -> (Sims, Home) {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", tag).await;
    sims.put_key("deploys/dogfood/stage/current", tag).await;
    let home = Home::with_config(&sims.config());
    (sims, home)
}

/// Changes one app's image by hand (as `curl` against Marathon would) and waits for the end of
/// the deployment it starts.
async fn change_one_app(sims: &Sims, app_id: &str, image: &str) {
    let url = format!("{}/v2/apps{app_id}", sims.marathon_url());
    let response = reqwest::Client::new()
        .put(url)
        .json(&json!({"container": {"type": "DOCKER", "docker": {"image": image}}}))
        .send()
        .await
        .expect("PUT app");
    assert!(response.status().is_success(), "{}", response.status());
    sims.wait_idle().await;
}

async fn status(home: &Home, json: bool) -> (i32, String, String) {
    let mut cmd = home.duncan();
    cmd.args(["status", "-a", "dogfood", "-e", "stage"]);
    if json {
        cmd.arg("--json");
    }
    let out = run_async(cmd).await;
    (out.code, out.stdout, out.stderr)
}

fn row<'a>(stdout: &'a str, app_type: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().nth(2) == Some(app_type))
        .unwrap_or_else(|| panic!("no row for {app_type} in:\n{stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_marks_only_the_app_that_differs_from_the_recorded_tag() {
    let (sims, home) = recorded("v2").await;
    change_one_app(&sims, "/dogfood-stage/web", "quay.io/myorg/dogfood:v1").await;

    let (code, stdout, stderr) = status(&home, false).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(row(&stdout, "web").contains("drift"), "{stdout}");
    assert!(row(&stdout, "worker").contains("in sync"), "{stdout}");
    assert!(
        stdout.contains("duncan deploy -a dogfood -e stage -t v2"),
        "the way back is offered: {stdout}"
    );

    let (code, stdout, _) = status(&home, true).await;
    assert_eq!(code, 0);
    let json: Value = serde_json::from_str(&stdout).expect("JSON");
    let drifted: Vec<(&str, bool)> = json[0]["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .map(|a| (a["app_type"].as_str().unwrap(), a["drifted"] == true))
        .collect();
    assert_eq!(drifted, [("web", true), ("worker", false)]);
    assert_eq!(json[0]["activity"]["state"], "idle");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_during_a_deploy_names_the_holder_and_gives_no_drift_advice() {
    let (sims, home) = recorded("v2").await;
    change_one_app(&sims, "/dogfood-stage/web", "quay.io/myorg/dogfood:v1").await;
    let _session = sims.hold_lock("dogfood", "stage", "alex").await;

    let (code, stdout, stderr) = status(&home, false).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("dogfood/stage: deploy of v9 in progress by alex@otherhost, started "),
        "{stdout}"
    );
    assert!(
        !stdout.contains("duncan deploy"),
        "no advice that would fail on the held lock: {stdout}"
    );

    let (_, stdout, _) = status(&home, true).await;
    let json: Value = serde_json::from_str(&stdout).expect("JSON");
    let activity = &json[0]["activity"];
    assert_eq!(activity["state"], "in_progress", "{activity}");
    assert_eq!(activity["holder"], "alex@otherhost");
    assert_eq!(activity["tag"], "v9");
    assert!(activity["age_secs"].is_u64(), "{activity}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_an_orphaned_deployment_and_the_commands_that_follow_or_undo_it() {
    let sims = Sims::start_with(
        consul_sim::SimOptions::default(),
        crate::sims::marathon_options().rule(
            "quay.io/myorg/dogfood:bad",
            marathon_sim::TaskOutcome::NeverHealthy,
        ),
    )
    .await;
    sims.seed_group("dogfood", "stage", "v1").await;
    sims.put_key("deploys/dogfood/stage/current", "v1").await;
    let home = Home::with_config(&sims.config());
    // A deployment no duncan holds the lock for: a killed duncan's, or another tool's.
    let id = sims
        .start_image_change("/dogfood-stage", "quay.io/myorg/dogfood:bad")
        .await;

    let (code, stdout, stderr) = status(&home, false).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!(
            "Marathon deployment {id} is running but no duncan holds the lock"
        )),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("duncan watch {id}")), "{stdout}");
    assert!(
        stdout.contains("duncan rollback -a dogfood -e stage"),
        "{stdout}"
    );
    assert!(!stdout.contains("duncan deploy"), "{stdout}");

    let (_, stdout, _) = status(&home, true).await;
    let json: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        json[0]["activity"],
        json!({"state": "orphaned", "deployments": [id]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_with_consul_down_shows_marathon_and_says_consul_is_unknown() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    // A port nothing listens on: Consul is down.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let config = sims.config().replace(
        &format!("consul_url: {}", sims.consul_url()),
        &format!("consul_url: http://{closed}"),
    );
    let home = Home::with_config(&config);

    let (code, stdout, stderr) = status(&home, false).await;
    assert_eq!(
        code, 1,
        "Marathon's side alone is not the whole status: {stderr}"
    );
    let web = row(&stdout, "web");
    assert!(web.contains(" v1 "), "Marathon's tag is shown: {web}");
    assert!(web.contains("Consul unknown"), "{web}");
    assert!(
        stderr.contains("dogfood/stage: Consul could not be read")
            && stderr.contains(&closed.to_string()),
        "{stderr}"
    );
    assert!(
        stderr.contains("Consul's (current tag, lock) is unknown"),
        "{stderr}"
    );

    let (code, stdout, _) = status(&home, true).await;
    assert_eq!(code, 1);
    let json: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(json[0]["drift"]["state"], "consul_unknown");
    assert_eq!(json[0]["drift"]["marathon"], json!(["v1"]));
    assert_eq!(json[0]["activity"]["state"], "unknown");
    assert_eq!(json[0]["apps"][0]["tag"], "v1");
}

/// Sims whose `dogfood:{tag}` tasks behave as `outcome`, with `/dogfood-stage` at v1 recorded.
async fn failing(tag: &str, outcome: marathon_sim::TaskOutcome) -> (Sims, Home) {
    let sims = Sims::start_with(
        consul_sim::SimOptions::default(),
        crate::sims::marathon_options().rule(format!("quay.io/myorg/dogfood:{tag}"), outcome),
    )
    .await;
    sims.seed_group("dogfood", "stage", "v1").await;
    sims.put_key("deploys/dogfood/stage/current", "v1").await;
    let home = Home::with_config(&sims.config());
    (sims, home)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deploy_says_why_with_the_new_tasks_last_failure() {
    let (_sims, home) = failing("crash", marathon_sim::TaskOutcome::CrashLoop).await;
    let mut cmd = home.duncan();
    cmd.args(crate::util::deploy_args("crash"))
        .args(["--timeout", "3s", "--json"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("last task TASK_FAILED at ")
            && out.stderr.contains("(Command exited with status 1)"),
        "{}",
        out.stderr
    );
    let json: Value = serde_json::from_str(&out.stdout).expect("JSON");
    let why = &json["error"]["why"];
    assert_eq!(why[0]["app_id"], "/dogfood-stage/web", "{json}");
    let failure = &why[0]["last_task_failure"];
    assert_eq!(failure["state"], "TASK_FAILED", "{json}");
    assert_eq!(failure["message"], "Command exited with status 1");
    assert!(failure["timestamp"].is_string(), "{json}");
}

/// `/dogfood-stage` with one `web` app at v1 whose health checks count from the start (no
/// grace period, one check a second, killed after 2 failures), recorded in Consul.
async fn checked_at_once(sims: &Sims) {
    let group = json!({"id": "/dogfood-stage", "apps": [{
        "id": "/dogfood-stage/web", "instances": 1, "cpus": 0.1, "mem": 64,
        "container": {"type": "DOCKER", "docker": {"image": "quay.io/myorg/dogfood:v1"}},
        "healthChecks": [{"protocol": "HTTP", "path": "/health", "gracePeriodSeconds": 0,
                          "intervalSeconds": 1, "maxConsecutiveFailures": 2}]}]});
    let url = format!("{}/v2/groups/dogfood-stage", sims.marathon_url());
    let response = reqwest::Client::new()
        .put(url)
        .json(&group)
        .send()
        .await
        .expect("PUT group");
    assert!(response.status().is_success(), "{}", response.status());
    sims.wait_idle().await;
    sims.put_key("deploys/dogfood/stage/current", "v1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_healthy_deploy_names_the_failing_health_checks() {
    let sims = Sims::start_with(
        consul_sim::SimOptions::default(),
        crate::sims::marathon_options().rule(
            "quay.io/myorg/dogfood:sick",
            marathon_sim::TaskOutcome::NeverHealthy,
        ),
    )
    .await;
    checked_at_once(&sims).await;
    let home = Home::with_config(&sims.config());
    let mut cmd = home.duncan();
    cmd.args(crate::util::deploy_args("sick"))
        .args(["--timeout", "3s", "--json"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 4, "{}", out.stderr);
    let json: Value = serde_json::from_str(&out.stdout).expect("JSON");
    let why = &json["error"]["why"][0];
    assert_eq!(why["app_id"], "/dogfood-stage/web", "{json}");
    let killed = why["last_task_failure"]["state"] == "TASK_KILLED";
    let unhealthy = why["unhealthy_tasks"][0]["last_failure_cause"] == "health check failed";
    assert!(killed || unhealthy, "{json}");
    assert!(out.stderr.contains("health check"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_automatic_rollback_is_shown_as_rolling_back_never_as_confirming() {
    let (_sims, home) = failing("bad", marathon_sim::TaskOutcome::NeverHealthy).await;
    let mut cmd = home.duncan();
    cmd.args(crate::util::deploy_args("bad"))
        .args(["--timeout", "1s"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 4, "{}", out.stderr);
    // Not a terminal: plain timed lines, one per phase change.
    let lines: Vec<&str> = out.stderr.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains("rolling back") || l.contains("rollback"))
        .unwrap_or_else(|| panic!("the rollback is said:\n{}", out.stderr));
    let during: Vec<&str> = lines[start..]
        .iter()
        .copied()
        .filter(|l| l.starts_with('['))
        .collect();
    assert!(
        during.iter().all(|l| !l.contains("confirming")),
        "the rollback's end never reads like the new version's success:\n{}",
        out.stderr
    );
    assert!(
        during.iter().any(|l| l.contains("] rolling back")),
        "{}",
        out.stderr
    );
}
