//! Ctrl-C during a deploy, and the prompt on a real terminal.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::sims::{Sims, marathon_options};
use crate::util::Home;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_deploy_releases_lock_and_says_what_marathon_does() {
    let sims = Sims::start_with(
        consul_sim::SimOptions::default(),
        marathon_options().rule(
            "quay.io/myorg/dogfood:slow",
            marathon_sim::TaskOutcome::Slow(Duration::from_secs(600)),
        ),
    )
    .await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&sims.config());
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("duncan"));
    cmd.env_clear()
        .env("HOME", home.path())
        .env("USER", "tester")
        .args([
            "deploy",
            "-a",
            "dogfood",
            "-e",
            "stage",
            "-t",
            "slow",
            "-y",
            "--skip-image-check",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().expect("spawn duncan");
    let pid = child.id().to_string();

    // Wait until the deployment runs, then interrupt as a terminal's Ctrl-C would.
    let mut started = false;
    for _ in 0..250 {
        if !sims.deployments().await.is_empty() {
            started = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(started, "the deployment never started");
    let status = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .expect("join")
        .expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("the lock was released"), "{stderr}");
    assert!(
        stderr.contains("Marathon is still running deployment"),
        "{stderr}"
    );
    assert!(stderr.contains("duncan watch"), "{stderr}");
    // The lock key keeps no session, and the release tags were not touched.
    let mut cmd = home.duncan();
    cmd.args(["lock", "status", "-a", "dogfood", "-e", "stage"]);
    let out = crate::util::run_async(cmd).await;
    assert_eq!(out.stdout, "dogfood/stage is free\n", "{}", out.stderr);
    assert!(sims.key("deploys/dogfood/stage/current").is_none());
}

/// Runs `duncan` under a pseudo-terminal (util-linux `script`), typing `answer` at the prompt.
pub(crate) fn on_terminal(home: &Home, args: &str, answer: &str) -> (Option<i32>, String) {
    let bin = assert_cmd::cargo::cargo_bin("duncan");
    let mut child = Command::new("script")
        .env_clear()
        .env("HOME", home.path())
        .env("USER", "tester")
        .env("PATH", "/usr/bin:/bin")
        .env("TERM", "dumb")
        .env("NO_COLOR", "1")
        .args(["-qec", &format!("{} {args}", bin.display()), "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script");
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        // The answer is read once the prompt is up; the terminal buffers it until then.
        let _ = stdin.write_all(answer.as_bytes());
    }
    let output = child.wait_with_output().expect("wait");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_answer_other_than_yes_aborts_with_nothing_changed() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&sims.config());
    let args = "deploy -a dogfood -e stage -t v2 --skip-image-check";
    let home_ref = &home;
    let (code, screen) = tokio::task::block_in_place(|| on_terminal(home_ref, args, "y\n"));
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        screen.contains("are you sure? type yes to go ahead, anything else aborts:"),
        "{screen}"
    );
    assert!(screen.contains("aborted: nothing was changed"), "{screen}");
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v1")
    );

    let (code, screen) = tokio::task::block_in_place(|| on_terminal(home_ref, args, "yes\n"));
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("deployed v2"), "{screen}");
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v2")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_set_on_a_terminal_shows_the_change_and_asks_first() {
    let sims = Sims::start().await;
    let home = Home::with_config(&sims.config());
    let home_ref = &home;
    let args = "env set MODE=new -a dogfood -e production";
    let (code, screen) = tokio::task::block_in_place(|| on_terminal(home_ref, args, "no\n"));
    assert_eq!(code, Some(0), "{screen}");
    assert!(
        screen.contains("You are about to modify the following environment"),
        "{screen}"
    );
    assert!(screen.contains("MODE=new"), "{screen}");
    assert!(screen.contains("NOT encrypted"), "{screen}");
    assert!(screen.contains("aborted: nothing was changed"), "{screen}");
    assert!(sims.key("env/dogfood/production/MODE").is_none());
}
