//! Mistyped names answered with "did you mean …?" before anything is sent: environments, apps,
//! commands, flags and configuration keys.

use crate::sims::Sims;
use crate::util::{Home, Run, run, run_async};

async fn refused_before_any_request(sims: &Sims, home: &Home, args: &[&str]) -> Run {
    sims.marathon.control().clear_requests();
    sims.consul.control().clear_requests();
    let mut cmd = home.duncan();
    cmd.args(args);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
    assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
    assert!(
        sims.marathon.control().requests().is_empty(),
        "{args:?}: nothing is asked of Marathon"
    );
    assert_eq!(
        sims.consul.control().request_count(),
        0,
        "{args:?}: nothing is asked of Consul"
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistyped_app_is_not_configured_and_the_near_one_is_suggested() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&sims.config());
    let commands: [&[&str]; 4] = [
        &[
            "deploy",
            "-a",
            "dogfod",
            "-e",
            "stage",
            "-t",
            "v2",
            "-y",
            "--skip-image-check",
        ],
        &["status", "-a", "dogfod"],
        &["history", "-a", "dogfod", "-e", "stage"],
        &["env", "get", "-a", "dogfod", "-e", "stage"],
    ];
    for args in commands {
        let out = refused_before_any_request(&sims, &home, args).await;
        assert_eq!(
            out.stderr,
            "error: app `dogfod` is not configured (configured: dogfood, skulls)\n  did you \
             mean `dogfood`? (or add `dogfod` to `apps` in the configuration file)\n",
            "{args:?}"
        );
    }
    // A name near nothing configured is still refused, without a guess.
    let out =
        refused_before_any_request(&sims, &home, &["history", "-a", "zzz", "-e", "stage"]).await;
    assert!(
        out.stderr
            .contains("check the name, or add `zzz` to `apps`"),
        "{}",
        out.stderr
    );
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mistyped_environment_suggests_the_allowed_one() {
    let sims = Sims::start().await;
    let home = Home::with_config(&sims.config());
    let out = refused_before_any_request(
        &sims,
        &home,
        &["history", "-a", "dogfood", "-e", "prodution"],
    )
    .await;
    assert_eq!(
        out.stderr,
        "error: environment `prodution` is not allowed (allowed: stage, production)\n  did you \
         mean `production`? (or add the name to `environments` in the configuration file)\n"
    );
}

#[test]
fn mistyped_command_and_flag_get_a_tip() {
    let home = Home::new();
    let mut cmd = home.duncan();
    cmd.args(["deplyo", "-a", "dogfood"]);
    let out = run(cmd);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("a similar subcommand exists: 'deploy'"),
        "{}",
        out.stderr
    );
    let mut cmd = home.duncan();
    cmd.args([
        "deploy",
        "-a",
        "x",
        "-e",
        "stage",
        "-t",
        "v1",
        "--tiemout",
        "5m",
    ]);
    let out = run(cmd);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("a similar argument exists: '--timeout'"),
        "{}",
        out.stderr
    );
}

#[test]
fn mistyped_config_key_is_warned_with_the_near_key() {
    let home = Home::with_config("marathon_ulr: http://marathon.example\nfavourite_colour: blue\n");
    let mut cmd = home.duncan();
    cmd.args(["config", "show"]);
    let out = run(cmd);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let path = home.config_path().display().to_string();
    assert!(
        out.stderr.contains(&format!(
            "warning: unknown key `marathon_ulr` in {path} (ignored); did you mean `marathon_url`?\n"
        )),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!(
            "warning: unknown key `favourite_colour` in {path} (ignored)\n"
        )),
        "no guess when nothing is near: {}",
        out.stderr
    );
}
