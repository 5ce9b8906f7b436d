//! Secrets never leak, loose files are warned about, token files are trimmed and never echoed,
//! and forcing someone else's lock free needs confirmation and is audited with who did it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use duncan_core::audit::{Event, EventKind};
use duncan_core::names::AppEnv;
use marathon_sim::TaskOutcome;

use crate::support::{Home, Run, Sims, app_env, hold_foreign_lock, marathon_options, report};

const CONSUL_TOKEN: &str = "consul-S3CRET-4b1d9e";
const DCOS_TOKEN: &str = "dcos-S3CRET-77aa0c";
const WEBHOOK_SECRET: &str = "hook-S3CRET-9c21f0";
const DEAD_WEBHOOK_SECRET: &str = "slack-S3CRET-5e7d33";

/// A webhook receiver on a loopback port that keeps every body it gets.
async fn webhook_receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&bodies);
    let app = axum::Router::new().fallback(move |body: String| {
        let kept = Arc::clone(&kept);
        async move {
            kept.lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(body);
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind webhook receiver");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hooks/{WEBHOOK_SECRET}"), bodies)
}

/// Both sims with auth on (Consul ACLs with the token as management token, DC/OS token auth),
/// `shop/stage` seeded, and a home whose config names two webhooks (one live, one dead).
async fn secured() -> (Sims, AppEnv, Home, Arc<Mutex<Vec<String>>>) {
    let sims = Sims::start_with(
        consul_sim::SimOptions::default().acl_master_token(CONSUL_TOKEN),
        marathon_options()
            .token(DCOS_TOKEN)
            .rule("*:broken", TaskOutcome::NeverHealthy),
    )
    .await;
    let target = app_env("shop", "stage");
    seed_with_tokens(&sims, &target).await;
    let (hook, bodies) = webhook_receiver().await;
    let config = format!(
        "{}slack_webhook_url: http://127.0.0.1:1/services/{DEAD_WEBHOOK_SECRET}\n\
         webhooks:\n  - url: {hook}\n    format: json\n",
        sims.config(&["shop"])
    );
    (sims, target, Home::with_config(&config), bodies)
}

async fn seed_with_tokens(sims: &Sims, target: &AppEnv) {
    let http = reqwest::Client::new();
    http.put(format!("{}/v2/groups/shop-stage", sims.marathon.url()))
        .header("Authorization", format!("token={DCOS_TOKEN}"))
        .json(&crate::support::seed_group(
            target,
            "v0",
            &["web", "worker"],
        ))
        .send()
        .await
        .expect("marathon-sim answers")
        .error_for_status()
        .expect("seed group");
    http.put(format!(
        "{}/v1/kv/{}",
        sims.consul.url(),
        target.current_key()
    ))
    .header("X-Consul-Token", CONSUL_TOKEN)
    .body("v0")
    .send()
    .await
    .expect("consul-sim answers")
    .error_for_status()
    .expect("seed current");
    for _ in 0..500 {
        let list: Vec<serde_json::Value> = http
            .get(format!("{}/v2/deployments", sims.marathon.url()))
            .header("Authorization", format!("token={DCOS_TOKEN}"))
            .send()
            .await
            .expect("marathon-sim answers")
            .json()
            .await
            .expect("deployments");
        if list.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the seed deployment never ended");
}

fn leaks(text: &str) -> Vec<&'static str> {
    [
        CONSUL_TOKEN,
        DCOS_TOKEN,
        WEBHOOK_SECRET,
        DEAD_WEBHOOK_SECRET,
    ]
    .into_iter()
    .filter(|secret| text.contains(secret))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_any_output_at_trace_level_nor_in_any_url() {
    let (sims, _target, home, bodies) = secured().await;
    let env = [
        ("CONSUL_HTTP_TOKEN", CONSUL_TOKEN),
        ("DCOS_ACS_TOKEN", DCOS_TOKEN),
    ];
    let t = ["-a", "shop", "-e", "stage"];
    let commands: Vec<Vec<&str>> = vec![
        vec!["deploy", "-t", "v1", "-y", "--skip-image-check"],
        vec!["deploy", "-t", "v2", "-y", "--skip-image-check", "--json"],
        vec![
            "deploy",
            "-t",
            "broken",
            "-y",
            "--skip-image-check",
            "--timeout",
            "1s",
        ],
        vec!["deploy", "-t", "v3", "--dry-run", "--skip-image-check"],
        vec!["rollback", "-y", "--skip-image-check"],
        vec!["status"],
        vec!["status", "--json"],
        vec!["history"],
        vec!["history", "--json"],
        vec!["lock", "status"],
        vec!["lock", "release", "-y"],
        vec!["env", "set", "DB_URL=postgres://db", "-y"],
        vec!["env", "list"],
        vec!["env", "get", "DB_URL", "--json"],
        vec!["env", "unset", "DB_URL", "-y"],
        vec!["scale", "web=2", "-y"],
        vec!["config", "show"],
        vec!["config", "show", "--json"],
        vec!["config", "search", "DB"],
        vec!["watch", "no-such-deployment", "--timeout", "1s"],
    ];
    let mut runs = 0;
    let mut leaked = Vec::new();
    for command in &commands {
        let mut args: Vec<&str> = vec!["-vvv"];
        args.extend(command);
        // Commands about one app/env take it; config and watch do not.
        if !matches!(command.first(), Some(&"config" | &"watch")) {
            args.extend(t);
        }
        let run = home.run(&args, &env).await;
        run.assert_no_panic();
        // Only the broken deploy and the unknown deployment fail: the others really ran.
        let expected_to_fail = command.contains(&"broken") || command.first() == Some(&"watch");
        assert_eq!(run.code != 0, expected_to_fail, "{command:?}: {run:?}");
        runs += 1;
        for secret in leaks(&run.all()) {
            leaked.push(format!("{secret} in the output of {command:?}"));
        }
    }
    // RUST_LOG=trace turns on every crate's logging (HTTP and TLS libraries included).
    for command in [
        vec!["deploy", "-t", "v4", "-y", "--skip-image-check"],
        vec!["status"],
    ] {
        let mut args = command.clone();
        args.extend(t);
        let mut trace_env = env.to_vec();
        trace_env.push(("RUST_LOG", "trace"));
        let run = home.run(&args, &trace_env).await;
        run.assert_no_panic();
        assert_eq!(run.code, 0, "{run:?}");
        runs += 1;
        for secret in leaks(&run.all()) {
            leaked.push(format!(
                "{secret} in the RUST_LOG=trace output of {command:?}"
            ));
        }
    }
    // Failing commands print errors: with Consul and Marathon unreachable, nothing leaks either.
    for command in [vec!["status"], vec!["lock", "status"], vec!["env", "list"]] {
        let mut args = vec!["-vvv", "--consul-url", "http://127.0.0.1:1"];
        args.extend(&command);
        args.extend(t);
        let run = home.run(&args, &env).await;
        run.assert_no_panic();
        assert_ne!(run.code, 0, "{run:?}");
        runs += 1;
        for secret in leaks(&run.all()) {
            leaked.push(format!("{secret} in the error of {command:?}"));
        }
    }
    // The sims saw the tokens in headers only.
    let consul_requests = sims.consul.control().requests();
    assert!(
        consul_requests
            .iter()
            .any(|r| r.header("x-consul-token") == Some(CONSUL_TOKEN)),
        "the Consul token travels in its header"
    );
    for request in &consul_requests {
        for secret in leaks(&request.path_and_query) {
            leaked.push(format!("{secret} in Consul URL {}", request.method));
        }
    }
    let marathon_requests = sims.marathon.control().requests();
    assert!(
        marathon_requests
            .iter()
            .any(|r| r.header("authorization") == Some(&format!("token={DCOS_TOKEN}"))),
        "the DC/OS token travels in its header"
    );
    for request in &marathon_requests {
        for secret in leaks(&request.path_and_query) {
            leaked.push(format!("{secret} in Marathon URL {}", request.method));
        }
    }
    // What duncan stored in Consul (history, audit events, holder records) holds none either.
    for (key, value) in sims.consul.control().kv_snapshot() {
        for secret in leaks(&String::from_utf8_lossy(&value)) {
            leaked.push(format!("{secret} in Consul key {key}"));
        }
    }
    // Notifications went out, and carry no secret either.
    let bodies = bodies
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    assert!(!bodies.is_empty(), "the live webhook was called");
    for body in &bodies {
        for secret in leaks(body) {
            leaked.push(format!("{secret} in a webhook body"));
        }
    }
    let figure = format!(
        "{runs} command runs at -vvv or RUST_LOG=trace, {} Consul and {} Marathon requests, {} webhook bodies: \
         {} leaks",
        consul_requests.len(),
        marathon_requests.len(),
        bodies.len(),
        leaked.len()
    );
    report(
        "secrets absent from output, --json, config show, errors and URLs",
        runs,
        if leaked.is_empty() { "pass" } else { "FAIL" },
        &figure,
    );
    assert!(leaked.is_empty(), "{figure}: {leaked:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_readable_by_others_is_warned_about() {
    let sims = Sims::start().await;
    let home = Home::with_config(&format!(
        "{}consul_token: {CONSUL_TOKEN}\n",
        sims.config(&["shop"])
    ));
    let private = home.run(&["config", "show"], &[]).await;
    private.assert_no_panic();
    assert!(!private.stderr.contains("chmod 600"), "{private:?}");
    home.write_config(
        &format!("{}consul_token: {CONSUL_TOKEN}\n", sims.config(&["shop"])),
        0o644,
    );
    let loose = home.run(&["config", "show"], &[]).await;
    loose.assert_no_panic();
    assert!(
        loose.stderr.contains("chmod 600"),
        "a config readable by others is warned about: {loose:?}"
    );
    assert!(leaks(&loose.all()).is_empty(), "{loose:?}");
    report(
        "config file readable by others",
        2,
        "pass",
        "0644 with a token: warning naming chmod 600; 0600: no warning; token never shown",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_file_is_read_trimmed_and_never_echoed() {
    let sims = Sims::start_with(
        consul_sim::SimOptions::default().acl_master_token(CONSUL_TOKEN),
        marathon_options(),
    )
    .await;
    let home = Home::with_config(&sims.config(&["shop"]));
    let file = home.path().join("consul.token");
    std::fs::write(&file, format!("  {CONSUL_TOKEN}\n\n")).expect("write token file");
    let file_env = file.display().to_string();
    let env = [("CONSUL_HTTP_TOKEN_FILE", file_env.as_str())];
    let status = home
        .run(
            &["-vvv", "lock", "status", "-a", "shop", "-e", "stage"],
            &env,
        )
        .await;
    status.assert_no_panic();
    assert_eq!(status.code, 0, "the trimmed token is accepted: {status:?}");
    let show = home.run(&["config", "show"], &env).await;
    let show_json = home.run(&["config", "show", "--json"], &env).await;
    let mut outputs = vec![status, show, show_json];
    // A token file that cannot be read is an error that names the variable, not the token.
    outputs.push(
        home.run(
            &["lock", "status", "-a", "shop", "-e", "stage"],
            &[("CONSUL_HTTP_TOKEN_FILE", "/nonexistent/token")],
        )
        .await,
    );
    let missing = outputs.last().map(|r: &Run| r.code);
    assert_eq!(missing, Some(2), "{outputs:?}");
    for run in &outputs {
        run.assert_no_panic();
        assert!(leaks(&run.all()).is_empty(), "{run:?}");
    }
    assert!(
        sims.consul
            .control()
            .requests()
            .iter()
            .all(|r| r.header("x-consul-token") == Some(CONSUL_TOKEN)),
        "every request carried the trimmed token"
    );
    report(
        "token file read, trimmed, never echoed",
        outputs.len(),
        "pass",
        "padded token accepted by an ACL Consul; absent from -vvv, config show and --json; \
         unreadable file: exit 2 naming the variable",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releasing_someone_elses_lock_needs_confirmation_and_is_audited() {
    let sims = Sims::start().await;
    let target = app_env("shop", "stage");
    sims.seed(&target, "v0", &["web"]).await;
    let home = Home::with_config(&sims.config(&["shop"]));
    let foreign = hold_foreign_lock(&sims, &target).await;
    let args = ["lock", "release", "-a", "shop", "-e", "stage"];

    // No terminal to ask on and no --yes: refused, the lock stays.
    let refused = home.run(&args, &[]).await;
    refused.assert_no_panic();
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("--yes"), "{refused:?}");
    assert_eq!(sims.lock_session(&target).await, Some(foreign.clone()));
    assert!(sims.events(&target).is_empty(), "nothing audited");

    // With --yes: released, and the audit log says who forced it and whose lock it was.
    let mut forced = args.to_vec();
    forced.push("--yes");
    let released = home.run(&forced, &[]).await;
    released.assert_no_panic();
    assert_eq!(released.code, 0, "{released:?}");
    assert!(released.stdout.contains("alice"), "{released:?}");
    assert_eq!(sims.lock_session(&target).await, None);
    let events: Vec<Event> = sims
        .events(&target)
        .into_iter()
        .map(|e| serde_json::from_value(e).expect("audit event"))
        .collect();
    let [event] = events.as_slice() else {
        panic!("one audit event expected: {events:?}");
    };
    assert_eq!(event.kind, EventKind::LockForced);
    assert_eq!(event.deployer.user(), "tester", "who forced it");
    assert!(
        event
            .message
            .as_deref()
            .is_some_and(|m| m.contains("alice")),
        "whose lock it was: {event:?}"
    );
    report(
        "lock release of someone else's lock",
        2,
        "pass",
        "without --yes and no terminal: exit 2, lock kept, nothing audited; with --yes: \
         released, LockForced audited with the forcing user and the former holder",
    );
}
