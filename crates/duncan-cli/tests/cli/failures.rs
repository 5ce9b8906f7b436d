//! Failure paths shared by many commands: an unreachable service, a refused token, a held lock
//! that frees up while waiting.

use duncan_testkit::wait;

use crate::sims::{Sims, marathon_options};
use crate::util::{Home, deploy_args, run_async};

/// Every command that reads Consul, with Consul unreachable: one line, a hint, exit 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_consul_is_one_clear_line_for_every_command() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&format!(
        "consul_url: http://127.0.0.1:9\nmarathon_url: {}\ndocker_repo_prefix: quay.io/myorg\napps: [dogfood]\n",
        sims.marathon_url()
    ));
    let commands: &[&[&str]] = &[
        &["history", "-a", "dogfood", "-e", "stage"],
        &["lock", "status", "-a", "dogfood", "-e", "stage"],
        &["lock", "release", "-a", "dogfood", "-e", "stage", "-y"],
        &["env", "get", "-a", "dogfood", "-e", "stage"],
        &["env", "set", "A=1", "-a", "dogfood", "-e", "stage", "-y"],
        &["env", "del", "A", "-a", "dogfood", "-e", "stage", "-y"],
        &["config", "search", "A"],
        // `status` still shows Marathon's side: day_two_status.rs pins it.
        &["rollback", "-a", "dogfood", "-e", "stage", "-y"],
        &["scale", "web=3", "-a", "dogfood", "-e", "stage", "-y"],
    ];
    // Each command retries a refused connection for about a second: run them side by side.
    let mut runs = tokio::task::JoinSet::new();
    for args in commands {
        let mut cmd = home.duncan();
        cmd.args(*args);
        let args = args.join(" ");
        runs.spawn(async move { (args, run_async(cmd).await) });
    }
    while let Some(joined) = runs.join_next().await {
        let (args, out) = joined.expect("join");
        assert_eq!(out.code, 1, "{args}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args}: {}", out.stdout);
        assert!(out.stderr.contains("127.0.0.1:9"), "{args}: {}", out.stderr);
        assert!(out.stderr.lines().count() <= 2, "{args}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{args}: {}", out.stderr);
    }
    assert_eq!(
        sims.marathon
            .control()
            .app_image("/dogfood-stage/web")
            .as_deref(),
        Some("quay.io/myorg/dogfood:v1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_change_with_a_token_without_rights_is_not_allowed() {
    let sims = Sims::start_with(
        consul_sim::SimOptions::default()
            .acl_master_token("root")
            .token(
                "reader",
                vec![consul_sim::Rule::new(
                    "env/dogfood/",
                    consul_sim::Access::Read,
                )],
            ),
        marathon_options(),
    )
    .await;
    sims.put_key("env/dogfood/stage/A", "1").await;
    let home = Home::with_config(&format!("{}consul_token: reader\n", sims.config()));
    let mut cmd = home.duncan();
    cmd.args(["env", "get", "-a", "dogfood", "-e", "stage"]);
    assert_eq!(run_async(cmd).await.stdout, "A=1\n");
    let mut cmd = home.duncan();
    cmd.args(["env", "set", "A=2", "-a", "dogfood", "-e", "stage", "-y"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(
        !out.stderr.contains("reader"),
        "the token must never be printed: {}",
        out.stderr
    );
    assert_eq!(sims.key("env/dogfood/stage/A").as_deref(), Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_token_is_not_allowed() {
    let sims = Sims::start_with(
        consul_sim::SimOptions::default().acl_master_token("root"),
        marathon_options(),
    )
    .await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&format!("{}consul_token: no-such-token\n", sims.config()));
    let mut cmd = home.duncan();
    cmd.args(deploy_args("v2"));
    let out = run_async(cmd).await;
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(!out.stderr.contains("no-such-token"), "{}", out.stderr);
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_takes_the_lock_once_its_holder_lets_go() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let session = sims.hold_lock("dogfood", "stage", "alice").await;
    let home = Home::with_config(&sims.config());
    let mut cmd = home.duncan();
    cmd.args(deploy_args("v2")).args(["--wait", "30s"]);
    let deploy = tokio::spawn(run_async(cmd));
    // Waiting shows in Consul's request log as a blocking query on the held lock key.
    let waiting = wait::until_sync(|| {
        sims.consul.control().requests().iter().any(|r| {
            r.method == "GET"
                && r.path_and_query
                    .starts_with("/v1/kv/deploys/dogfood/stage/lock?")
                && r.path_and_query.contains("index=")
        })
    })
    .await;
    assert!(waiting, "the deploy never waited on the lock");
    sims.release_lock("dogfood", "stage", &session).await;
    let out = deploy.await.expect("join");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("waiting for the lock held by alice@otherhost"),
        "{}",
        out.stderr
    );
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v2")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_config_or_bad_flag_contacts_nothing() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    sims.marathon.control().clear_requests();
    sims.consul.control().clear_requests();
    let home = Home::with_config(&format!("{}apps: [dogfood\n", sims.config()));
    let mut cmd = home.duncan();
    cmd.args(deploy_args("v2"));
    let out = run_async(cmd).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("line "), "{}", out.stderr);
    let home = Home::with_config(&sims.config());
    let mut cmd = home.duncan();
    cmd.args([
        "deploy",
        "-a",
        "dogfood",
        "-e",
        "stage",
        "-t",
        "v2",
        "--yes-please",
    ]);
    assert_eq!(run_async(cmd).await.code, 2);
    assert!(sims.marathon.control().requests().is_empty());
    assert_eq!(sims.consul.control().request_count(), 0);
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v1")
    );
}
