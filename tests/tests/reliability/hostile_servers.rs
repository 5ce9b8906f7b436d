//! Hostile server responses: a Consul or Marathon stand-in that answers deeply nested,
//! truncated, wrongly typed, empty, huge or HTML bodies, and an enormous SSE event. Zero
//! panics, short errors, nothing written.

use std::sync::{Arc, Mutex};

use futures_util::StreamExt;

use crate::hostile::{assert_clear_error, ten_mb};
use crate::support::{Home, Sims, app_env, report};

/// A stand-in server that answers every request with `status` and `body`, and counts writes.
async fn hostile_server(
    status: u16,
    content_type: &'static str,
    body: Arc<String>,
) -> (String, Arc<Mutex<usize>>) {
    let writes = Arc::new(Mutex::new(0));
    let counted = Arc::clone(&writes);
    let app = axum::Router::new().fallback(move |method: axum::http::Method| {
        let body = Arc::clone(&body);
        let counted = Arc::clone(&counted);
        async move {
            if method != axum::http::Method::GET {
                *counted
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) += 1;
            }
            (
                axum::http::StatusCode::from_u16(status)
                    .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR),
                [("content-type", content_type), ("x-consul-index", "7")],
                body.as_str().to_owned(),
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), writes)
}

/// Bodies a broken or hostile server might send.
fn hostile_bodies() -> Vec<(&'static str, String)> {
    vec![
        ("deeply nested JSON", "[".repeat(200_000)),
        (
            "truncated JSON",
            r#"{"id":"/shop-stage","apps":[{"id":"/shop-stage/web","instances":"#.to_owned(),
        ),
        (
            "wrong types",
            r#"{"id":5,"apps":"web","Key":7,"Value":[1]}"#.to_owned(),
        ),
        (
            "wrong types in a list",
            r#"[{"Key":5,"Value":"!!not base64!!","Session":1}]"#.to_owned(),
        ),
        ("empty body", String::new()),
        (
            "HTML error page",
            "<html><body>502 Bad Gateway</body></html>".to_owned(),
        ),
        ("null", "null".to_owned()),
        (
            "10 MB string",
            format!(r#"{{"id":"/shop-stage","apps":[],"junk":"{}"}}"#, ten_mb()),
        ),
        ("control characters", "\u{0}\u{1b}[2J\u{7}".to_owned()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_server_responses_never_panic_and_change_nothing() {
    let sims = Sims::start().await;
    let target = app_env("shop", "stage");
    sims.seed(&target, "v0", &["web"]).await;
    let home = Home::with_config(&sims.config(&["shop"]));
    let before = sims.consul.control().kv_snapshot();
    let mut runs = 0;
    for (case, body) in hostile_bodies() {
        let body = Arc::new(body);
        // As Marathon: deploy and status read the group from it.
        let (marathon, marathon_writes) =
            hostile_server(200, "application/json", Arc::clone(&body)).await;
        for args in [
            vec![
                "--marathon-url",
                &marathon,
                "status",
                "-a",
                "shop",
                "-e",
                "stage",
            ],
            vec![
                "--marathon-url",
                &marathon,
                "deploy",
                "-a",
                "shop",
                "-e",
                "stage",
                "-t",
                "v1",
                "-y",
                "--skip-image-check",
            ],
        ] {
            let run = home.run(&args, &[]).await;
            run.assert_no_panic();
            assert!(
                run.stderr.len() < 4096,
                "Marathon {case}: {} bytes",
                run.stderr.len()
            );
            if args.contains(&"deploy") {
                assert_clear_error(&format!("Marathon {case}"), &run);
            }
            runs += 1;
        }
        assert_eq!(
            *marathon_writes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            0,
            "Marathon {case}: nothing was sent to a server that answers garbage"
        );
        // As Consul: history, lock status and env list read from it.
        let (consul, consul_writes) =
            hostile_server(200, "application/json", Arc::clone(&body)).await;
        for args in [
            vec![
                "--consul-url",
                &consul,
                "history",
                "-a",
                "shop",
                "-e",
                "stage",
            ],
            vec![
                "--consul-url",
                &consul,
                "lock",
                "status",
                "-a",
                "shop",
                "-e",
                "stage",
            ],
            vec![
                "--consul-url",
                &consul,
                "env",
                "list",
                "-a",
                "shop",
                "-e",
                "stage",
            ],
        ] {
            let run = home.run(&args, &[]).await;
            run.assert_no_panic();
            assert!(
                run.stderr.len() < 4096,
                "Consul {case}: {} bytes",
                run.stderr.len()
            );
            runs += 1;
        }
        assert_eq!(
            *consul_writes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            0,
            "Consul {case}: reads only"
        );
    }
    assert_eq!(
        sims.consul.control().kv_snapshot(),
        before,
        "the real Consul is untouched"
    );
    report(
        "hostile server responses (nested, truncated, wrong types, 10 MB, empty, HTML)",
        runs,
        "pass",
        &format!("{runs} runs: 0 panics, errors under 4 KiB, 0 writes"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enormous_sse_event_is_refused_not_buffered() {
    let event = format!("event: deployment_info\r\ndata: {}\r\n\r\n", ten_mb());
    let (url, _) = hostile_server(200, "text/event-stream", Arc::new(event)).await;
    let client = marathon_client::Client::new(marathon_client::Config::new(&url).expect("url"))
        .expect("client");
    let mut stream = client
        .events(&marathon_client::EventStreamOptions::new())
        .await
        .expect("the stream opens");
    let first = tokio::time::timeout(std::time::Duration::from_secs(20), stream.next())
        .await
        .expect("the stream answers");
    assert!(
        matches!(first, Some(Err(_))),
        "a 10 MB event is an error, not an event: {:?}",
        first.map(|r| r.map(|_| "an event"))
    );
    report(
        "enormous SSE event (10 MB)",
        1,
        "pass",
        "refused with an error by marathon-client's event size limit",
    );
}
