//! Misbehaving servers: every failure must come back as a clear, typed error.

use std::time::Duration;

use futures_util::StreamExt;
use marathon_client::{
    Config, Error, Event, EventStreamOptions, Group, GroupUpdateOptions, ReconnectPolicy,
    StreamItem,
};

use crate::util::{RawServer, Reply, client, response, sse_head};

const ATTACHED: &[u8] = b"event: event_stream_attached\r\ndata: {\"remoteAddress\":\"127.0.0.1\",\"eventType\":\"event_stream_attached\",\"timestamp\":\"2017-02-18T19:12:00.102Z\"}\r\n\r\n";

#[tokio::test]
async fn html_body_where_json_is_expected_is_a_decode_error() {
    let server = RawServer::start(|_, _| {
        Reply::Close(response("200 OK", "text/html", b"<html>login</html>"))
    })
    .await;
    let err = client(&server.url).info().await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("/v2/info"), "{err}");
    assert!(
        err.to_string().starts_with(&format!(
            "could not decode the GET /v2/info response from {}, which does not look like \
             Marathon (check MARATHON_URL): ",
            server.url
        )),
        "{err}"
    );
}

#[tokio::test]
async fn group_json_of_the_wrong_shape_says_the_server_does_not_look_like_marathon() {
    let server = RawServer::start(|_, _| {
        Reply::Close(response(
            "200 OK",
            "application/json",
            br#"{"status":"ok"}"#,
        ))
    })
    .await;
    let err = client(&server.url).group("/shop", &[]).await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("GET /v2/groups/shop response"), "{text}");
    assert!(
        text.contains(&format!(
            "from {}, which does not look like Marathon",
            server.url
        )),
        "{text}"
    );
}

#[tokio::test]
async fn html_404_for_a_group_is_not_marathon_rather_than_a_missing_group() {
    let server = RawServer::start(|_, _| {
        Reply::Close(response(
            "404 Not Found",
            "text/html",
            b"<html><body><h1>404 Not Found</h1>nginx</body></html>",
        ))
    })
    .await;
    let err = client(&server.url).group("/shop", &[]).await.unwrap_err();
    match &err {
        Error::NotMarathon { address, .. } => assert_eq!(address, &server.url),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        format!(
            "{} does not look like Marathon (404 with an HTML page, where Marathon answers \
             JSON): check MARATHON_URL",
            server.url
        )
    );
}

#[tokio::test]
async fn empty_404_for_an_app_is_not_marathon() {
    let server =
        RawServer::start(|_, _| Reply::Close(response("404 Not Found", "text/plain", b""))).await;
    let err = client(&server.url).app("/shop/web", &[]).await.unwrap_err();
    assert!(matches!(err, Error::NotMarathon { .. }), "{err:?}");
}

#[tokio::test]
async fn truncated_json_is_a_decode_error() {
    let server = RawServer::start(|_, _| {
        Reply::Close(response(
            "200 OK",
            "application/json",
            b"{\"id\":\"/a\",\"apps\":[{\"id\"",
        ))
    })
    .await;
    let err = client(&server.url).group("/a", &[]).await.unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
}

#[tokio::test]
async fn body_cut_short_of_its_content_length_is_a_transport_error() {
    let server = RawServer::start(|_, _| {
        Reply::Close(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"apps\":[".to_vec(),
        )
    })
    .await;
    let err = client(&server.url).apps(&[]).await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
}

#[tokio::test]
async fn unreachable_address_is_a_transport_error_without_the_token() {
    // Bind, note the port, close: nothing listens there any more.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = marathon_client::Client::new(
        Config::new(&format!("http://127.0.0.1:{port}"))
            .unwrap()
            .with_token("very-secret-token")
            .with_retry(crate::util::quick_retry()),
    )
    .unwrap();
    let err = client.ping().await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(matches!(err, Error::Transport { .. }));
    assert!(!format!("{err} {err:?}").contains("very-secret-token"));
}

#[tokio::test]
async fn reads_retry_on_503_until_marathon_answers() {
    let server = RawServer::start(|_, n| {
        if n < 2 {
            Reply::Close(response(
                "503 Service Unavailable",
                "application/json",
                br#"{"message":"Could not determine the current leader"}"#,
            ))
        } else {
            Reply::Close(response(
                "200 OK",
                "application/json",
                br#"{"name":"marathon","leader":"m1:8080"}"#,
            ))
        }
    })
    .await;
    let info = client(&server.url).info().await.unwrap();
    assert_eq!(info.leader.as_deref(), Some("m1:8080"));
    assert_eq!(server.requests().len(), 3);
}

fn shop() -> Group {
    Group {
        id: "/shop".into(),
        ..Group::default()
    }
}

const DEPLOYMENT: &[u8] = br#"{"version":"2026-01-01T00:00:00.000Z","deploymentId":"d1"}"#;

#[tokio::test]
async fn group_update_is_retried_on_503_until_marathon_answers() {
    let server = RawServer::start(|_, n| {
        if n < 2 {
            Reply::Close(response(
                "503 Service Unavailable",
                "application/json",
                br#"{"message":"Could not determine the current leader"}"#,
            ))
        } else {
            Reply::Close(response("200 OK", "application/json", DEPLOYMENT))
        }
    })
    .await;
    let deployment = client(&server.url)
        .update_group(&shop(), GroupUpdateOptions::default())
        .await
        .unwrap();
    assert_eq!(deployment.deployment_id, "d1");
    let bodies = server.bodies();
    assert_eq!(bodies.len(), 3, "two 503s, then the answer");
    assert!(bodies.iter().all(|b| b == &bodies[0] && !b.is_empty()));
}

#[tokio::test]
async fn group_update_without_an_answer_is_outcome_unknown_and_sent_once() {
    let server = RawServer::start(|_, _| Reply::Hold(Vec::new())).await;
    let client = marathon_client::Client::new(
        Config::new(&server.url)
            .unwrap()
            .with_retry(crate::util::quick_retry())
            .with_request_timeout(Duration::from_millis(300)),
    )
    .unwrap();
    let err = client
        .update_group(&shop(), GroupUpdateOptions::default())
        .await
        .unwrap_err();
    match &err {
        Error::OutcomeUnknown { reason, .. } => assert_eq!(reason, "no answer came in time"),
        other => panic!("unexpected {other:?}"),
    }
    assert!(!err.is_transient());
    assert!(
        err.to_string()
            .contains(&format!("PUT {}/v2/groups/shop", server.url)),
        "{err}"
    );
    assert!(err.to_string().contains("read the current state"), "{err}");
    assert_eq!(server.requests().len(), 1, "a change is never resent");
}

#[tokio::test]
async fn connection_closed_before_the_answer_to_a_change_is_outcome_unknown() {
    let server = RawServer::start(|_, _| Reply::Close(Vec::new())).await;
    let err = client(&server.url)
        .delete_app("/shop/web", false)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::OutcomeUnknown {
                source: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn proxy_504_to_a_change_is_outcome_unknown_and_sent_once() {
    let server = RawServer::start(|_, _| {
        Reply::Close(response(
            "504 Gateway Timeout",
            "text/html",
            b"<html>504</html>",
        ))
    })
    .await;
    let err = client(&server.url)
        .update_group(&shop(), GroupUpdateOptions::default())
        .await
        .unwrap_err();
    match &err {
        Error::OutcomeUnknown { reason, source, .. } => {
            assert!(reason.contains("a proxy answered 504"), "{reason}");
            assert!(source.is_none());
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn invalid_id_is_refused_before_any_request() {
    let server =
        RawServer::start(|_, _| Reply::Close(response("200 OK", "application/json", b"{}"))).await;
    let err = client(&server.url)
        .app("/shop/../admin", &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn html_reply_to_the_event_stream_is_not_an_event_stream() {
    let server = RawServer::start(|_, _| {
        Reply::Close(response("200 OK", "text/html", b"<html>sign in</html>"))
    })
    .await;
    let err = client(&server.url)
        .events(&EventStreamOptions::new())
        .await
        .unwrap_err();
    match err {
        Error::NotAnEventStream {
            status,
            content_type,
        } => {
            assert_eq!(status, 200);
            assert_eq!(content_type.as_deref(), Some("text/html"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn stream_request_sends_exact_accept_filters_and_light_plans() {
    let server =
        RawServer::start(|_, _| Reply::Hold([sse_head(), ATTACHED.to_vec()].concat())).await;
    let options =
        EventStreamOptions::new().with_event_types(["deployment_success", "deployment_failed"]);
    let mut events = client(&server.url).events(&options).await.unwrap();
    assert!(matches!(
        events.next().await,
        Some(Ok(Event::EventStreamAttached(_)))
    ));
    let head = &server.requests()[0];
    assert!(
        head.starts_with("GET /v2/events?event_type=deployment_success&event_type=deployment_failed&plan-format=light HTTP/1.1"),
        "{head}"
    );
    assert!(head.contains("\r\naccept: text/event-stream\r\n"), "{head}");
}

#[tokio::test]
async fn silent_event_stream_trips_the_idle_watchdog() {
    let server = RawServer::start(|_, _| {
        Reply::Hold([sse_head(), ATTACHED.to_vec(), b"\r\n".to_vec()].concat())
    })
    .await;
    let options = EventStreamOptions::new().with_idle_timeout(Duration::from_millis(300));
    let mut events = client(&server.url).events(&options).await.unwrap();
    assert!(matches!(
        events.next().await,
        Some(Ok(Event::EventStreamAttached(_)))
    ));
    let err = events.next().await.unwrap().unwrap_err();
    assert!(matches!(err, Error::StreamIdle { .. }), "{err:?}");
    assert!(events.next().await.is_none(), "an idle stream ends");
}

#[tokio::test]
async fn redirect_loop_is_a_redirect_error() {
    let server = RawServer::start(|_, _| {
        Reply::Close(
            b"HTTP/1.1 302 Found\r\nLocation: /v2/events\r\nContent-Length: 0\r\n\r\n".to_vec(),
        )
    })
    .await;
    let err = client(&server.url)
        .events(&EventStreamOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Redirect { .. }), "{err:?}");
}

#[tokio::test]
async fn multi_megabyte_crlf_event_arrives_whole() {
    let big = "x".repeat(3 * 1024 * 1024);
    let event = format!(
        "event: deployment_info\r\ndata: {{\"plan\":{{\"id\":\"d1\",\"steps\":[],\"note\":\"{big}\"}},\"eventType\":\"deployment_info\"}}\r\n\r\n"
    );
    let server = RawServer::start(move |_, _| {
        Reply::Hold([sse_head(), ATTACHED.to_vec(), event.clone().into_bytes()].concat())
    })
    .await;
    let mut events = client(&server.url)
        .events(&EventStreamOptions::new())
        .await
        .unwrap();
    events.next().await.unwrap().unwrap();
    match events.next().await.unwrap().unwrap() {
        Event::DeploymentInfo(info) => {
            assert_eq!(info.plan.id, "d1");
            assert_eq!(
                info.plan.extra["note"].as_str().map(str::len),
                Some(big.len())
            );
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn event_over_the_size_limit_ends_the_stream_with_an_error() {
    let event = format!(
        "event: deployment_info\r\ndata: {}\r\n\r\n",
        "x".repeat(64 * 1024)
    );
    let server = RawServer::start(move |_, _| {
        Reply::Hold([sse_head(), event.clone().into_bytes()].concat())
    })
    .await;
    let options = EventStreamOptions::new().with_max_event_bytes(16 * 1024);
    let mut events = client(&server.url).events(&options).await.unwrap();
    let err = events.next().await.unwrap().unwrap_err();
    assert!(
        matches!(err, Error::EventTooLarge { limit: 16384 }),
        "{err:?}"
    );
}

#[tokio::test]
async fn malformed_event_is_reported_and_the_stream_goes_on() {
    let server = RawServer::start(|_, _| {
        Reply::Hold(
            [
                sse_head(),
                b"event: deployment_success\r\ndata: {not json\r\n\r\n".to_vec(),
                ATTACHED.to_vec(),
            ]
            .concat(),
        )
    })
    .await;
    let mut events = client(&server.url)
        .events(&EventStreamOptions::new())
        .await
        .unwrap();
    let err = events.next().await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(matches!(
        events.next().await,
        Some(Ok(Event::EventStreamAttached(_)))
    ));
}

#[tokio::test]
async fn reconnecting_stream_reports_the_drop_and_the_reconnect() {
    let server = RawServer::start(|_, n| {
        let events = [sse_head(), ATTACHED.to_vec()].concat();
        // The first connection closes after its first event; later ones stay open.
        if n == 0 {
            Reply::Close(events)
        } else {
            Reply::Hold(events)
        }
    })
    .await;
    let policy = ReconnectPolicy {
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_attempts: Some(5),
    };
    let mut stream = client(&server.url)
        .reconnecting_events(EventStreamOptions::new(), policy)
        .await
        .unwrap();
    let mut kinds = Vec::new();
    for _ in 0..4 {
        kinds.push(match stream.next().await.unwrap().unwrap() {
            StreamItem::Event(e) => e.event_type().to_owned(),
            StreamItem::Disconnected(_) => "disconnected".to_owned(),
            StreamItem::Reconnected => "reconnected".to_owned(),
            other => panic!("unexpected {other:?}"),
        });
    }
    assert_eq!(
        kinds,
        [
            "event_stream_attached",
            "disconnected",
            "reconnected",
            "event_stream_attached"
        ]
    );
}

#[tokio::test]
async fn reconnecting_stream_gives_up_at_once_on_bad_credentials() {
    let server = RawServer::start(|_, n| {
        if n == 0 {
            Reply::Close([sse_head(), ATTACHED.to_vec()].concat())
        } else {
            Reply::Close(response(
                "401 Unauthorized",
                "application/json",
                br#"{"message":"invalid token"}"#,
            ))
        }
    })
    .await;
    let policy = ReconnectPolicy {
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_attempts: None,
    };
    let mut stream = client(&server.url)
        .reconnecting_events(EventStreamOptions::new(), policy)
        .await
        .unwrap();
    assert!(matches!(
        stream.next().await,
        Some(Ok(StreamItem::Event(_)))
    ));
    assert!(matches!(
        stream.next().await,
        Some(Ok(StreamItem::Disconnected(_)))
    ));
    let err = stream.next().await.unwrap().unwrap_err();
    assert!(
        matches!(err, Error::Unauthorized { ref message } if message == "invalid token"),
        "{err:?}"
    );
    assert!(stream.next().await.is_none());
}

#[test]
fn ca_certificate_that_is_not_pem_is_invalid_input() {
    let config = Config::new("https://marathon.example.com")
        .unwrap()
        .with_ca_certificate_pem(b"not a certificate".to_vec());
    let err = marathon_client::Client::new(config).unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
}

#[tokio::test]
async fn reconnecting_stream_gives_up_after_its_attempts_when_marathon_is_gone() {
    let server = RawServer::start(|_, n| {
        if n == 0 {
            Reply::Close([sse_head(), ATTACHED.to_vec()].concat())
        } else {
            Reply::Close(response(
                "503 Service Unavailable",
                "text/plain",
                b"no leader",
            ))
        }
    })
    .await;
    let policy = ReconnectPolicy {
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_attempts: Some(3),
    };
    let mut stream = client(&server.url)
        .reconnecting_events(EventStreamOptions::new(), policy)
        .await
        .unwrap();
    assert!(matches!(
        stream.next().await,
        Some(Ok(StreamItem::Event(_)))
    ));
    assert!(matches!(
        stream.next().await,
        Some(Ok(StreamItem::Disconnected(_)))
    ));
    let err = stream.next().await.unwrap().unwrap_err();
    assert!(
        matches!(err, Error::Unavailable { status: 503, .. }),
        "{err:?}"
    );
    assert!(stream.next().await.is_none());
    assert_eq!(
        server.requests().len(),
        4,
        "one connection and three attempts"
    );
}

#[tokio::test]
async fn password_in_the_base_url_is_in_no_error_which_still_names_the_address() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = marathon_client::Client::new(
        Config::new(&format!("http://admin:PW-s3cr3t@127.0.0.1:{port}"))
            .unwrap()
            .with_retry(crate::util::quick_retry()),
    )
    .unwrap();
    let group = Group {
        id: "/shop".into(),
        ..Group::default()
    };
    let errors = [
        client.ping().await.unwrap_err(),
        client.group("/shop", &[]).await.unwrap_err(),
        client
            .update_group(&group, GroupUpdateOptions::default())
            .await
            .unwrap_err(),
        client.events(&EventStreamOptions::new()).await.unwrap_err(),
    ];
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode("admin:PW-s3cr3t");
    for err in errors {
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("PW-s3cr3t"), "{shown}");
        assert!(!shown.contains("admin:"), "{shown}");
        assert!(!shown.contains(&encoded), "{shown}");
        assert!(
            err.to_string()
                .contains(&format!("http://127.0.0.1:{port}/")),
            "{err}"
        );
    }
    assert!(!format!("{client:?}").contains("PW-s3cr3t"));
}

#[tokio::test]
async fn stream_closed_at_once_after_subscribing_reconnects_with_growing_delays() {
    // Every subscription succeeds, greets, and is closed at once.
    let server =
        RawServer::start(|_, _| Reply::Close([sse_head(), ATTACHED.to_vec()].concat())).await;
    let policy = ReconnectPolicy {
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_secs(60),
        max_attempts: None,
    };
    let mut stream = client(&server.url)
        .reconnecting_events(EventStreamOptions::new(), policy)
        .await
        .unwrap();
    let mut reconnects = 0;
    // Consume for a window of one second. Delays of at least 10, 20, 40, … 640 ms (half of
    // 20 ms doubling, the jitter's floor) fit at most 7 reconnects into it; a delay reset by
    // every subscription would fit dozens.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(item) = stream.next().await {
            if matches!(item, Ok(StreamItem::Reconnected)) {
                reconnects += 1;
            }
        }
    })
    .await;
    let connections = server.requests().len();
    assert!(connections <= 8, "{connections} connections in one second");
    assert!(reconnects >= 1, "it does reconnect");
}

#[tokio::test]
async fn connections_that_deliver_events_reconnect_at_the_shortest_delay() {
    const SUCCESS: &[u8] = b"event: deployment_success\r\ndata: {\"id\":\"d1\",\"plan\":{\"id\":\"d1\",\"steps\":[]},\"eventType\":\"deployment_success\",\"timestamp\":\"2017-02-18T19:12:00.102Z\"}\r\n\r\n";
    let server = RawServer::start(|_, _| {
        Reply::Close([sse_head(), ATTACHED.to_vec(), SUCCESS.to_vec()].concat())
    })
    .await;
    // Without the reset, the 12th delay alone would be at least 20 ms × 2¹¹ / 2 ≈ 20 s.
    let policy = ReconnectPolicy {
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_secs(3600),
        max_attempts: None,
    };
    let mut stream = client(&server.url)
        .reconnecting_events(EventStreamOptions::new(), policy)
        .await
        .unwrap();
    let mut successes = 0;
    let mut reconnects = 0;
    let guard = tokio::time::timeout(Duration::from_secs(30), async {
        while reconnects < 12 {
            match stream.next().await.unwrap().unwrap() {
                StreamItem::Reconnected => reconnects += 1,
                StreamItem::Event(Event::DeploymentSuccess(_)) => successes += 1,
                _ => {}
            }
        }
    })
    .await;
    assert!(guard.is_ok(), "only {reconnects} reconnects");
    assert!(successes >= 12, "{successes}");
}

/// A port nothing listens on: bound, noted, closed.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn refused_connection_fails_at_once_naming_the_address() {
    let port = closed_port();
    // Were a refused connection retried, the first retry alone would wait half an hour.
    let client = marathon_client::Client::new(
        Config::new(&format!("http://127.0.0.1:{port}"))
            .unwrap()
            .with_retry(marathon_client::RetryPolicy {
                max_retries: 4,
                min_delay: Duration::from_secs(3600),
                max_delay: Duration::from_secs(3600),
            }),
    )
    .unwrap();
    let group = shop();
    let calls = async {
        [
            client.group("/shop", &[]).await.unwrap_err(),
            client
                .update_group(&group, GroupUpdateOptions::default())
                .await
                .unwrap_err(),
            client.events(&EventStreamOptions::new()).await.unwrap_err(),
        ]
    };
    let errors = tokio::time::timeout(Duration::from_secs(60), calls)
        .await
        .expect("no retry waits");
    for err in errors {
        assert!(matches!(err, Error::Transport { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(&format!("http://127.0.0.1:{port}/")),
            "{text}"
        );
        assert!(text.to_lowercase().contains("connection refused"), "{text}");
    }
}

#[tokio::test]
async fn unanswered_stream_subscription_fails_after_the_request_timeout_once() {
    let server = RawServer::start(|_, _| Reply::Hold(Vec::new())).await;
    let client = marathon_client::Client::new(
        Config::new(&server.url)
            .unwrap()
            .with_retry(crate::util::quick_retry())
            .with_request_timeout(Duration::from_millis(200)),
    )
    .unwrap();
    let err = client.events(&EventStreamOptions::new()).await.unwrap_err();
    assert!(matches!(err, Error::StreamIdle { .. }), "{err:?}");
    assert_eq!(server.requests().len(), 1);
}

fn client_with_limit(url: &str, limit: usize) -> marathon_client::Client {
    marathon_client::Client::new(
        Config::new(url)
            .unwrap()
            .with_retry(crate::util::quick_retry())
            .with_max_response_bytes(limit),
    )
    .unwrap()
}

#[tokio::test]
async fn response_over_the_size_limit_is_refused_by_its_length_and_not_retried() {
    let big = format!(
        r#"{{"id":"/shop","apps":[],"labels":{{"x":"{}"}}}}"#,
        "x".repeat(10_000)
    );
    let server = RawServer::start(move |_, _| {
        Reply::Close(response("200 OK", "application/json", big.as_bytes()))
    })
    .await;
    let err = client_with_limit(&server.url, 4096)
        .group("/shop", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::ResponseTooLarge { limit: 4096, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&format!("GET {}/v2/groups/shop", server.url)),
        "{err}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn streamed_response_without_a_length_stops_at_the_size_limit() {
    // No Content-Length: the body runs until the server closes, 8 MiB later.
    let server = RawServer::start(|_, _| {
        let mut reply =
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n["
                .to_vec();
        reply.extend(std::iter::repeat_n(b' ', 8 * 1024 * 1024));
        Reply::Close(reply)
    })
    .await;
    let err = client_with_limit(&server.url, 64 * 1024)
        .apps(&[])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::ResponseTooLarge { limit: 65536, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn response_at_the_size_limit_is_read() {
    let body = br#"{"name":"marathon","leader":"m1:8080"}"#;
    let server =
        RawServer::start(|_, _| Reply::Close(response("200 OK", "application/json", body))).await;
    let info = client_with_limit(&server.url, body.len())
        .info()
        .await
        .unwrap();
    assert_eq!(info.leader.as_deref(), Some("m1:8080"));
}

#[test]
fn default_response_limit_is_64_mib() {
    let config = Config::new("http://m").unwrap();
    assert_eq!(config.max_response_bytes(), 64 * 1024 * 1024);
    assert_eq!(
        marathon_client::DEFAULT_MAX_RESPONSE_BYTES,
        64 * 1024 * 1024
    );
}
