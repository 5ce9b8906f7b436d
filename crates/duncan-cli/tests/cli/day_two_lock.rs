//! Day two (issue 17): deploy holds, the Go tool's lock during a migration, `duncan log`, and
//! the blockers a plan shows before its prompt — through the real binary against both sims.

use consul_sim::{Access, Rule, SimOptions};
use serde_json::Value;
use time::OffsetDateTime;

use crate::interrupt::on_terminal;
use crate::sims::{Sims, marathon_options};
use crate::util::{Home, Run, deploy_args, run_async};

async fn seeded() -> (Sims, Home) {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    sims.put_key("deploys/dogfood/stage/current", "v1").await;
    sims.put_key("deploys/dogfood/stage/previous", "v0").await;
    let home = Home::with_config(&sims.config());
    (sims, home)
}

async fn duncan(home: &Home, args: &[&str]) -> Run {
    let mut cmd = home.duncan();
    cmd.args(args);
    run_async(cmd).await
}

/// A Go-tool lock value `user-YYYY-MM-DD-HH:MM:SS` stamped `ago` before now (UTC).
fn go_lock(user: &str, ago: time::Duration) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]-[hour]:[minute]:[second]");
    format!(
        "{user}-{}",
        (OffsetDateTime::now_utc() - ago).format(format).unwrap()
    )
}

const WEB: &str = "/dogfood-stage/web";
const V1: &str = "quay.io/myorg/dogfood:v1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_refuses_deploy_rollback_and_scale_with_reason_who_and_since_until_released() {
    let (sims, home) = seeded().await;
    let held = duncan(
        &home,
        &[
            "lock",
            "hold",
            "-a",
            "dogfood",
            "-e",
            "stage",
            "--reason",
            "incident 4711",
        ],
    )
    .await;
    assert_eq!(held.code, 0, "{}", held.stderr);
    let stored: Value =
        serde_json::from_str(&sims.key("deploys/dogfood/stage/hold").expect("hold key")).unwrap();
    assert_eq!(stored["reason"], "incident 4711");
    assert_eq!(stored["by"], "tester@testhost");
    assert!(stored["since"].as_str().is_some_and(|s| s.ends_with('Z')));

    let refused = [
        duncan(&home, &deploy_args("v2")).await,
        duncan(
            &home,
            &[
                "rollback",
                "-a",
                "dogfood",
                "-e",
                "stage",
                "-y",
                "--skip-image-check",
            ],
        )
        .await,
        duncan(
            &home,
            &["scale", "web=3", "-a", "dogfood", "-e", "stage", "-y"],
        )
        .await,
    ];
    for out in &refused {
        assert_eq!(out.code, 3, "{}", out.stderr);
        assert!(
            out.stderr.contains("deploys of dogfood/stage are on hold: \"incident 4711\", set by tester@testhost since "),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains("duncan lock release -a dogfood -e stage"),
            "{}",
            out.stderr
        );
    }
    assert_eq!(sims.image(WEB).as_deref(), Some(V1));
    assert_eq!(sims.instances(WEB).await, 2);
    assert_eq!(
        sims.key("deploys/dogfood/stage/current").as_deref(),
        Some("v1")
    );
    assert!(sims.sessions().await.is_empty(), "no lock was taken");

    // `lock status` and `status` show it.
    let status = duncan(&home, &["lock", "status", "-a", "dogfood", "-e", "stage"]).await;
    assert!(status.stdout.contains("is free"), "{}", status.stdout);
    assert!(
        status
            .stdout
            .contains("is on hold: \"incident 4711\", set by tester@testhost"),
        "{}",
        status.stdout
    );
    let status = duncan(&home, &["status", "-a", "dogfood", "-e", "stage"]).await;
    assert!(
        status
            .stdout
            .contains("dogfood/stage: on hold: \"incident 4711\""),
        "{}",
        status.stdout
    );

    // A second hold is refused naming the first.
    let again = duncan(
        &home,
        &[
            "lock", "hold", "-a", "dogfood", "-e", "stage", "--reason", "other",
        ],
    )
    .await;
    assert_eq!(again.code, 3, "{}", again.stderr);
    assert!(
        again.stderr.contains("on hold already: \"incident 4711\""),
        "{}",
        again.stderr
    );

    // Released: it says which it released, and deploys go ahead again.
    let released = duncan(
        &home,
        &["lock", "release", "-a", "dogfood", "-e", "stage", "--yes"],
    )
    .await;
    assert_eq!(released.code, 0, "{}", released.stderr);
    assert!(
        released
            .stdout
            .contains("ended the hold on dogfood/stage (was \"incident 4711\""),
        "{}",
        released.stdout
    );
    assert!(
        !released.stdout.contains("released the lock"),
        "{}",
        released.stdout
    );
    assert_eq!(sims.key("deploys/dogfood/stage/hold"), None);
    let deployed = duncan(&home, &deploy_args("v2")).await;
    assert_eq!(deployed.code, 0, "{}", deployed.stderr);

    // The audit log records both ends.
    let log = duncan(&home, &["log", "-a", "dogfood", "-e", "stage", "--json"]).await;
    assert_eq!(log.code, 0, "{}", log.stderr);
    let events: Vec<Value> = serde_json::from_str(&log.stdout).unwrap();
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "deploy_succeeded",
            "deploy_started",
            "hold_released",
            "hold_set"
        ],
        "{}",
        log.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_set_while_a_deploy_waited_for_the_lock_is_honoured() {
    let (sims, home) = seeded().await;
    let other = sims.hold_lock("dogfood", "stage", "alice").await;
    let mut cmd = home.duncan();
    cmd.args(deploy_args("v2")).args(["--wait", "30s"]);
    let waiting = tokio::spawn(run_async(cmd));
    // The waiting deploy has its own session once it waits.
    for _ in 0..500 {
        if sims.sessions().await.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        sims.sessions().await.len(),
        2,
        "the deploy waits for the lock"
    );
    let held = duncan(
        &home,
        &[
            "lock",
            "hold",
            "-a",
            "dogfood",
            "-e",
            "stage",
            "--reason",
            "freeze for the audit",
        ],
    )
    .await;
    assert_eq!(held.code, 0, "{}", held.stderr);
    sims.release_lock("dogfood", "stage", &other).await;
    let out = waiting.await.unwrap();
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("on hold: \"freeze for the audit\""),
        "{}",
        out.stderr
    );
    assert_eq!(sims.image(WEB).as_deref(), Some(V1));
    assert_eq!(
        sims.lock_session("dogfood", "stage").await,
        None,
        "the lock was released"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_go_tool_lock_is_honoured_and_an_old_one_is_probably_stale_and_taken_over() {
    let (sims, home) = seeded().await;
    let lock_key = "deploys/dogfood/stage/lock";
    sims.put_key(lock_key, &go_lock("root", time::Duration::minutes(5)))
        .await;
    let out = duncan(&home, &deploy_args("v2")).await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("is held by the Go tool: root since "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("ago)"), "{}", out.stderr);
    assert_eq!(sims.image(WEB).as_deref(), Some(V1));
    let status = duncan(&home, &["lock", "status", "-a", "dogfood", "-e", "stage"]).await;
    assert!(
        status
            .stdout
            .contains("is locked by the Go tool: root since"),
        "{}",
        status.stdout
    );
    assert!(
        !status.stdout.contains("probably stale"),
        "{}",
        status.stdout
    );
    let scaled = duncan(
        &home,
        &["scale", "web=3", "-a", "dogfood", "-e", "stage", "-y"],
    )
    .await;
    assert_eq!(scaled.code, 3, "{}", scaled.stderr);
    assert!(
        scaled.stderr.contains("held by the Go tool: root"),
        "{}",
        scaled.stderr
    );
    assert_eq!(sims.instances(WEB).await, 2);

    // Older than the limit (default 1h): called probably stale, with the way to free it.
    sims.put_key(lock_key, &go_lock("root", time::Duration::hours(3)))
        .await;
    let status = duncan(&home, &["lock", "status", "-a", "dogfood", "-e", "stage"]).await;
    assert!(
        status.stdout.contains("probably stale"),
        "{}",
        status.stdout
    );
    assert!(
        status
            .stdout
            .contains("`duncan lock release -a dogfood -e stage`"),
        "{}",
        status.stdout
    );
    // A lower limit makes a younger one stale too; a deploy then takes it over, warning.
    sims.put_key(lock_key, &go_lock("root", time::Duration::minutes(20)))
        .await;
    home.write_config(
        &format!("{}timeouts:\n  stale_lock: 10m\n", sims.config()),
        0o600,
    );
    let out = duncan(&home, &deploy_args("v2")).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "taking over the lock of dogfood/stage: it is held by the Go tool: root since "
        ),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "older than 10m 0s (timeouts.stale_lock), so probably left behind by a failed \
             Go-tool deploy"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(
        sims.key("deploys/dogfood/stage/current").as_deref(),
        Some("v2")
    );
    assert_eq!(
        sims.lock_session("dogfood", "stage").await,
        None,
        "the lock is free again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_release_deletes_a_go_tool_lock_and_says_so() {
    let (sims, home) = seeded().await;
    let lock_key = "deploys/dogfood/stage/lock";
    sims.put_key(lock_key, &go_lock("root", time::Duration::minutes(5)))
        .await;
    let out = duncan(
        &home,
        &["lock", "release", "-a", "dogfood", "-e", "stage", "--yes"],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("released the lock of dogfood/stage (was held by the Go tool: root"),
        "{}",
        out.stdout
    );
    assert_eq!(sims.key(lock_key), None);
    let deployed = duncan(&home, &deploy_args("v2")).await;
    assert_eq!(deployed.code, 0, "{}", deployed.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_shows_events_of_every_configured_app_newest_first_with_since_and_limit() {
    let (sims, home) = seeded().await;
    // An old event, as an earlier release would have left it.
    sims.put_key(
        "deploys/dogfood/stage/events/00000000000000000001",
        r#"{"app":"dogfood","env":"stage","deployer":"carol@old","kind":"scale",
            "message":"web 1 => 2","timestamp":"2020-01-02T03:04:05Z"}"#,
    )
    .await;
    sims.put_key("deploys/dogfood/stage/seq/events", "1").await;
    assert_eq!(duncan(&home, &deploy_args("v2")).await.code, 0);
    let held = duncan(
        &home,
        &[
            "lock",
            "hold",
            "-a",
            "skulls",
            "-e",
            "production",
            "--reason",
            "launch day",
        ],
    )
    .await;
    assert_eq!(held.code, 0, "{}", held.stderr);

    sims.consul.control().clear_requests();
    let all = duncan(&home, &["log"]).await;
    assert_eq!(all.code, 0, "{}", all.stderr);
    // One read per app/env: 2 apps x 2 environments, each a recurse on its events/; the ones
    // with no events read one more key to tell "empty" from "not allowed".
    let reads: Vec<String> = sims
        .consul
        .control()
        .requests()
        .iter()
        .map(|r| r.path_and_query.clone())
        .collect();
    let recurses = reads
        .iter()
        .filter(|p| p.contains("/events/") && p.contains("recurse"))
        .count();
    assert_eq!(recurses, 4, "{reads:#?}");
    assert_eq!(reads.len(), 4 + 2, "{reads:#?}");
    let lines: Vec<&str> = all.stdout.lines().collect();
    assert!(lines[0].starts_with("WHEN"), "{}", all.stdout);
    assert!(
        lines[1].contains("skulls") && lines[1].contains("hold_set"),
        "{}",
        all.stdout
    );
    assert!(lines[1].contains("launch day"), "{}", all.stdout);
    assert!(
        lines[2].contains("deploy_succeeded") && lines[2].contains("v2 (was v1)"),
        "{}",
        all.stdout
    );
    assert!(
        lines.last().unwrap().contains("carol@old"),
        "{}",
        all.stdout
    );

    let recent = duncan(
        &home,
        &[
            "log", "-a", "dogfood", "-e", "stage", "--since", "24h", "--json",
        ],
    )
    .await;
    let events: Vec<Value> = serde_json::from_str(&recent.stdout).unwrap();
    assert_eq!(events.len(), 2, "{}", recent.stdout);
    assert!(events.iter().all(|e| e["deployer"] == "tester@testhost"));
    let one = duncan(&home, &["log", "--limit", "1", "--json"]).await;
    let events: Vec<Value> = serde_json::from_str(&one.stdout).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["kind"], "hold_set");
    assert_eq!(events[0]["app"], "skulls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_log_the_token_may_not_read_is_a_refusal_not_no_events() {
    let sims = Sims::start_with(
        SimOptions::default().acl_master_token("root").token(
            "other-secret",
            vec![Rule::new("deploys/skulls/", Access::Read)],
        ),
        marathon_options(),
    )
    .await;
    let home = Home::with_config(&format!("{}consul_token: other-secret\n", sims.config()));
    let out = duncan(&home, &["log", "-a", "dogfood", "-e", "stage"]).await;
    assert_eq!(out.code, 7, "{}\n{}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("no audit events"), "{}", out.stdout);
    let allowed = duncan(&home, &["log", "-a", "skulls", "-e", "stage"]).await;
    assert_eq!(allowed.code, 0, "{}", allowed.stderr);
    assert!(
        allowed
            .stdout
            .contains("no audit events recorded for skulls/stage"),
        "{}",
        allowed.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lock_is_in_the_plan_and_refuses_before_the_prompt_unless_waited_for() {
    let (sims, home) = seeded().await;
    sims.hold_lock("dogfood", "stage", "alice").await;
    let home_ref = &home;
    let (code, screen) = tokio::task::block_in_place(|| {
        on_terminal(
            home_ref,
            "deploy -a dogfood -e stage -t v2 --skip-image-check",
            "yes\n",
        )
    });
    assert_eq!(code, Some(3), "{screen}");
    assert!(screen.contains("You are about to deploy:"), "{screen}");
    assert!(
        screen.contains(
            "blocked:  the deploy lock is held by alice@otherhost (pid 4242) deploying v9"
        ),
        "{screen}"
    );
    assert!(
        !screen.contains("are you sure?"),
        "refused before the prompt: {screen}"
    );
    // A scale too.
    let (code, screen) = tokio::task::block_in_place(|| {
        on_terminal(home_ref, "scale web=3 -a dogfood -e stage", "yes\n")
    });
    assert_eq!(code, Some(3), "{screen}");
    assert!(screen.contains("is held by alice@otherhost"), "{screen}");
    assert!(
        !screen.contains("are you sure?"),
        "refused before the prompt: {screen}"
    );
    assert_eq!(sims.instances(WEB).await, 2);

    // Without the plan (-q), the error itself says the lock is probably stale and how to free it.
    let quiet = duncan(
        &home,
        &[
            "-q",
            "deploy",
            "-a",
            "dogfood",
            "-e",
            "stage",
            "-t",
            "v2",
            "-y",
            "--skip-image-check",
        ],
    )
    .await;
    assert_eq!(quiet.code, 3, "{}", quiet.stderr);
    assert!(
        quiet
            .stderr
            .contains("probably stale: held for longer than 1h"),
        "{}",
        quiet.stderr
    );
    assert!(
        quiet
            .stderr
            .contains("`duncan lock release -a dogfood -e stage`"),
        "{}",
        quiet.stderr
    );

    // With --wait, the plan says what it waits for, and asks.
    let (code, screen) = tokio::task::block_in_place(|| {
        on_terminal(
            home_ref,
            "deploy -a dogfood -e stage -t v2 --skip-image-check --wait 5s",
            "no\n",
        )
    });
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        screen.contains("note:     the deploy lock is held by alice@otherhost"),
        "{screen}"
    );
    assert!(
        screen.contains("probably stale"),
        "held since 2026-01-02: {screen}"
    );
    assert!(screen.contains("waiting for it up to 5s"), "{screen}");
    assert!(screen.contains("aborted: nothing was changed"), "{screen}");
    assert_eq!(sims.image(WEB).as_deref(), Some(V1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_and_a_marathon_deployment_are_shown_in_a_dry_run_plan() {
    let sims = Sims::start_with(
        SimOptions::default(),
        marathon_options().rule(
            "quay.io/myorg/dogfood:stuck",
            marathon_sim::TaskOutcome::NeverHealthy,
        ),
    )
    .await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&sims.config());
    let stuck = sims
        .start_image_change("/dogfood-stage", "quay.io/myorg/dogfood:stuck")
        .await;
    let out = duncan(
        &home,
        &[
            "deploy",
            "-a",
            "dogfood",
            "-e",
            "stage",
            "-t",
            "v2",
            "--dry-run",
            "--skip-image-check",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "note:     Marathon deployment(s) {stuck} hold the apps"
        )),
        "{}",
        out.stdout
    );
    let held = duncan(
        &home,
        &[
            "lock",
            "hold",
            "-a",
            "dogfood",
            "-e",
            "stage",
            "--reason",
            "incident 4711",
        ],
    )
    .await;
    assert_eq!(held.code, 0, "{}", held.stderr);
    let out = duncan(
        &home,
        &[
            "deploy",
            "-a",
            "dogfood",
            "-e",
            "stage",
            "-t",
            "v2",
            "--dry-run",
            "--skip-image-check",
        ],
    )
    .await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("blocked:  deploys are on hold: \"incident 4711\", set by tester@testhost"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_that_changed_while_waiting_for_the_lock_is_shown_and_asked_again() {
    let (sims, home) = seeded().await;
    let alice = sims.hold_lock("dogfood", "stage", "alice").await;
    let deploying = tokio::task::spawn_blocking(move || {
        on_terminal(
            &home,
            "deploy -a dogfood -e stage -t v2 --skip-image-check --wait 30s",
            "yes\nyes\n",
        )
    });
    // Confirmed once: the deploy waits for the lock with its own session.
    for _ in 0..1000 {
        if sims.sessions().await.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        sims.sessions().await.len(),
        2,
        "the deploy waits for the lock"
    );
    // Alice's deploy changes the group meanwhile, then ends.
    sims.start_image_change("/dogfood-stage", "quay.io/myorg/dogfood:v3")
        .await;
    sims.wait_idle().await;
    sims.release_lock("dogfood", "stage", &alice).await;
    let (code, screen) = deploying.await.unwrap();
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        screen.contains("the plan changed while waiting for the lock:"),
        "{screen}"
    );
    assert!(
        screen.contains("quay.io/myorg/dogfood:v3 => quay.io/myorg/dogfood:v2"),
        "{screen}"
    );
    assert_eq!(
        screen.matches("are you sure?").count(),
        2,
        "asked again: {screen}"
    );
    assert_eq!(sims.image(WEB).as_deref(), Some("quay.io/myorg/dogfood:v2"));
}
