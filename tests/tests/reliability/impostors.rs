//! Servers that are not what they claim, and input that is not what it seems: a Consul URL
//! that points at Marathon or at a server answering 404 to everything, a Consul whose
//! transactions answer `{}`, an absurd `--timeout`, a password inside `MARATHON_URL`. duncan
//! must never read "free" or "no releases" into an answer that is not Consul's, never say
//! "deployed" without the fenced transaction's answer, refuse the duration before sending
//! anything, and never show the password.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};

use crate::support::{Home, PREFIX, Sims, app_env, deploy_args, report};

/// Serves `app` on loopback; returns its URL.
async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// A server answering 404 with an empty body to every request.
async fn not_found_server() -> String {
    serve(axum::Router::new().fallback(|| async { StatusCode::NOT_FOUND })).await
}

/// A Consul stand-in in front of consul-sim: every request is passed on, except a `/v1/txn`
/// whose body contains `needle`, answered 200 `{}` (neither results nor errors); returns its
/// URL and how many it answered so.
async fn empty_txn_consul(upstream: String, needle: String) -> (String, Arc<AtomicUsize>) {
    let emptied = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&emptied);
    let http = reqwest::Client::new();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let http = http.clone();
            let upstream = upstream.clone();
            let counted = Arc::clone(&counted);
            let needle = needle.clone();
            async move {
                let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
                if path.starts_with("/v1/txn")
                    && String::from_utf8_lossy(&body).contains(needle.as_str())
                {
                    counted.fetch_add(1, Ordering::Relaxed);
                    return (
                        StatusCode::OK,
                        [
                            ("content-type", "application/json".to_owned()),
                            ("x-consul-index", "7".to_owned()),
                        ],
                        Bytes::from_static(b"{}"),
                    );
                }
                let mut request = http.request(method, format!("{upstream}{path}")).body(body);
                for (name, value) in &headers {
                    if name != "host" {
                        request = request.header(name, value);
                    }
                }
                let Ok(answer) = request.send().await else {
                    return (
                        StatusCode::BAD_GATEWAY,
                        [
                            ("content-type", "text/plain".to_owned()),
                            ("x-consul-index", "0".to_owned()),
                        ],
                        Bytes::new(),
                    );
                };
                let status = answer.status();
                let header = |name: &str| {
                    answer
                        .headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let content_type = header("content-type");
                let index = header("x-consul-index");
                let bytes = answer.bytes().await.unwrap_or_default();
                (
                    status,
                    [("content-type", content_type), ("x-consul-index", index)],
                    bytes,
                )
            }
        },
    );
    (serve(app).await, emptied)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consul_url_that_is_not_consul_is_never_read_as_free_or_empty() {
    let sims = Sims::start().await;
    let not_found = not_found_server().await;
    let impostors = [
        ("marathon-sim", sims.marathon.url()),
        ("a 404 server", not_found),
    ];
    let commands: [&[&str]; 3] = [
        &["lock", "status", "-a", "shop", "-e", "stage"],
        &["history", "-a", "shop", "-e", "stage"],
        &["env", "get", "-a", "shop", "-e", "stage"],
    ];
    let mut runs = 0;
    let mut codes = std::collections::BTreeSet::new();
    for (name, url) in &impostors {
        let config = format!(
            "consul_url: {url}\nmarathon_url: {}\ndocker_repo_prefix: {PREFIX}\napps:\n  - shop\n",
            sims.marathon.url()
        );
        let home = Home::with_config(&config);
        for args in commands {
            let run = home.run(args, &[]).await;
            run.assert_no_panic();
            assert_ne!(run.code, 0, "{name}, {args:?}: {run:?}");
            let all = run.all().to_lowercase();
            assert!(!all.contains("free"), "{name}, {args:?}: {run:?}");
            assert!(!all.contains("no releases"), "{name}, {args:?}: {run:?}");
            codes.insert(run.code);
            runs += 1;
        }
    }
    report(
        "Consul URL pointing at Marathon or a 404 server (lock status, history, env get)",
        runs,
        "pass",
        &format!(
            "{runs} runs: every one exit {}, none said \"free\" or \"no releases\", 0 panics",
            codes
                .iter()
                .map(i32::to_string)
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_txn_answered_with_an_empty_object_never_yields_deployed() {
    let mut figures = Vec::new();
    // Every transaction, then only the one that records the release (after the deployment).
    for every in [true, false] {
        let sims = Sims::start().await;
        let target = app_env("shop", "stage");
        sims.seed(&target, "v0", &["web", "worker"]).await;
        let needle = if every {
            String::new()
        } else {
            target.history_prefix()
        };
        let (consul_url, emptied) = empty_txn_consul(sims.consul.url(), needle).await;
        let config = sims
            .config(&["shop"])
            .replace(&sims.consul.url(), &consul_url);
        let home = Home::with_config(&config);
        let run = home.run(&deploy_args("shop", "stage", "v1"), &[]).await;
        run.assert_no_panic();
        assert_ne!(run.code, 0, "{run:?}");
        assert!(
            !run.all().to_lowercase().contains("deployed shop"),
            "{run:?}"
        );
        assert!(
            sims.history(&target).is_empty(),
            "nothing recorded: {run:?}"
        );
        assert_eq!(
            sims.kv(&target.current_key()).as_deref(),
            Some("v0"),
            "current untouched"
        );
        let answered = emptied.load(Ordering::Relaxed);
        assert!(answered > 0, "the deploy sent such a transaction: {run:?}");
        let said = run
            .stderr
            .lines()
            .rfind(|l| l.starts_with("error"))
            .unwrap_or_default()
            .replace('|', "/");
        figures.push(format!(
            "{}: exit {}, {answered} answered {{}}, said: {said}",
            if every {
                "every txn"
            } else {
                "only the txn recording the release"
            },
            run.code
        ));
    }
    report(
        "Consul answering /v1/txn with 200 {}",
        figures.len(),
        "pass",
        &format!(
            "never \"deployed\", nothing recorded, current untouched; {}",
            figures.join("; ")
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_timeout_is_refused_before_anything_is_sent() {
    let sims = Sims::start().await;
    let target = app_env("shop", "stage");
    sims.seed(&target, "v0", &["web", "worker"]).await;
    sims.consul.control().clear_requests();
    sims.marathon.control().clear_requests();
    let home = Home::with_config(&sims.config(&["shop"]));
    let mut cases = 0;
    for flag in ["--timeout", "--wait"] {
        let mut args = deploy_args("shop", "stage", "v1");
        args.extend([flag, "18446744073709551615s"]);
        let run = home.run(&args, &[]).await;
        run.assert_no_panic();
        assert_eq!(run.code, 2, "{flag}: {run:?}");
        assert!(run.stderr.contains(flag), "{flag} named: {run:?}");
        cases += 1;
    }
    assert_eq!(
        sims.consul.control().request_count(),
        0,
        "nothing sent to Consul"
    );
    assert!(
        sims.marathon.control().requests().is_empty(),
        "nothing sent to Marathon"
    );
    report(
        "absurd durations (--timeout / --wait 18446744073709551615s)",
        cases,
        "pass",
        "refused with exit 2 naming the flag; 0 requests to Consul or Marathon",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_in_marathon_url_never_appears_in_any_output() {
    const PASSWORD: &str = "pw-7Qx9-not-for-eyes";
    let sims = Sims::start_with(
        consul_sim::SimOptions::default(),
        crate::support::marathon_options().basic_auth("deployer", PASSWORD),
    )
    .await;
    let marathon = sims
        .marathon
        .url()
        .replace("http://", &format!("http://deployer:{PASSWORD}@"));
    let config = format!(
        "consul_url: {}\ndocker_repo_prefix: {PREFIX}\napps:\n  - shop\n",
        sims.consul.url()
    );
    let home = Home::with_config(&config);
    let env = [("MARATHON_URL", marathon.as_str())];
    // The group was never created: the deploy fails after talking to Marathon.
    let mut deploy = vec!["-vvv"];
    deploy.extend(deploy_args("shop", "stage", "v1"));
    let runs: [(&str, Vec<&str>); 3] = [
        ("config show", vec!["config", "show"]),
        ("config show --json", vec!["config", "show", "--json"]),
        ("a failing deploy at -vvv", deploy),
    ];
    for (what, args) in &runs {
        let run = home.run(args, &env).await;
        run.assert_no_panic();
        assert!(!run.all().contains(PASSWORD), "{what}: {run:?}");
        if what.starts_with("a failing") {
            assert_ne!(run.code, 0, "{what}: {run:?}");
        } else {
            assert_eq!(run.code, 0, "{what}: {run:?}");
            assert!(
                run.stdout.contains("deployer"),
                "{what} shows the URL: {run:?}"
            );
        }
    }
    assert!(
        !sims.marathon.control().requests().is_empty(),
        "the deploy reached Marathon"
    );
    report(
        "password in MARATHON_URL",
        runs.len(),
        "pass",
        "absent from config show, config show --json and a failing deploy at -vvv (stdout and \
         stderr); the URL is shown with the user only",
    );
}
