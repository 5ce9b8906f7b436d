//! Durations out of their range are refused when they are read, before anything is sent: a
//! huge `--timeout` once overflowed a clock after the group was already updated.

use crate::sims::Sims;
use crate::util::{Home, Run, deploy_args, run_async};

const HUGE: &str = "18446744073709551615s";

/// Runs `args` against seeded sims and checks that neither sim saw a request.
async fn refused_before_any_request(sims: &Sims, home: &Home, args: &[&str]) -> Run {
    sims.marathon.control().clear_requests();
    sims.consul.control().clear_requests();
    let mut cmd = home.duncan();
    cmd.args(args);
    let out = run_async(cmd).await;
    assert!(
        sims.marathon.control().requests().is_empty(),
        "{args:?}: nothing is sent to Marathon"
    );
    assert_eq!(
        sims.consul.control().request_count(),
        0,
        "{args:?}: nothing is sent to Consul"
    );
    assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_timeout_or_wait_flag_is_a_usage_error_naming_flag_and_limit() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&sims.config());
    let deploy = deploy_args("v2");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        ([&deploy[..], &["--timeout", HUGE]].concat(), "--timeout"),
        ([&deploy[..], &["--wait", HUGE]].concat(), "--wait"),
        ([&deploy[..], &["--timeout", "0"]].concat(), "--timeout"),
        (
            vec![
                "rollback",
                "-a",
                "dogfood",
                "-e",
                "stage",
                "-y",
                "--timeout",
                HUGE,
            ],
            "--timeout",
        ),
        (
            vec![
                "scale", "web=3", "-a", "dogfood", "-e", "stage", "-y", "--wait", HUGE,
            ],
            "--wait",
        ),
        (vec!["watch", "some-id", "--timeout", HUGE], "--timeout"),
    ];
    for (args, flag) in cases {
        let out = refused_before_any_request(&sims, &home, &args).await;
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(flag), "{args:?}: {}", out.stderr);
        let limit = if args.contains(&"0") {
            "must be more than 0"
        } else {
            "the most is 7 days (168h)"
        };
        assert!(out.stderr.contains(limit), "{args:?}: {}", out.stderr);
    }
    assert_eq!(
        sims.image("/dogfood-stage/web").as_deref(),
        Some("quay.io/myorg/dogfood:v1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_timeouts_in_the_file_are_refused_at_their_line() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let base = sims.config();
    let line = base.lines().count() + 2;
    let cases = [
        (format!("deploy: {HUGE}"), "the most is 7 days (168h)"),
        ("lock_wait: 200h".to_owned(), "the most is 7 days (168h)"),
        ("request: 1h".to_owned(), "the most is 10 minutes (10m)"),
        ("request: 0".to_owned(), "every request needs a timeout"),
        ("request: 0s".to_owned(), "every request needs a timeout"),
    ];
    for (entry, limit) in cases {
        let home = Home::with_config(&format!("{base}timeouts:\n  {entry}\n"));
        let out = refused_before_any_request(&sims, &home, &deploy_args("v2")).await;
        assert_eq!(out.code, 2, "{entry}: {}", out.stderr);
        let expected = format!(
            "error: configuration file {} is malformed: line {line}, column ",
            home.config_path().display()
        );
        assert!(out.stderr.starts_with(&expected), "{entry}: {}", out.stderr);
        assert!(out.stderr.contains("timeouts."), "{entry}: {}", out.stderr);
        assert!(out.stderr.contains(limit), "{entry}: {}", out.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_timeouts_in_the_environment_name_the_variable() {
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&sims.config());
    for (variable, value) in [
        ("DUNCAN_DEPLOY_TIMEOUT", HUGE),
        ("DUNCAN_REQUEST_TIMEOUT", "0s"),
    ] {
        sims.marathon.control().clear_requests();
        sims.consul.control().clear_requests();
        let mut cmd = home.duncan();
        cmd.args(deploy_args("v2")).env(variable, value);
        let out = run_async(cmd).await;
        assert_eq!(out.code, 2, "{variable}: {}", out.stderr);
        assert!(
            out.stderr
                .starts_with(&format!("error: environment variable {variable}: ")),
            "{}",
            out.stderr
        );
        assert!(sims.marathon.control().requests().is_empty());
        assert_eq!(sims.consul.control().request_count(), 0);
    }
}
