//! Redirects: followed only within the configured origin, never carrying the token or a
//! request body anywhere else.

use futures_util::StreamExt;
use marathon_client::{
    Client, Config, Error, Event, EventStreamOptions, Group, GroupUpdateOptions,
};

use crate::util::{RawServer, Reply, quick_retry, response, sse_head};

const ATTACHED: &[u8] = b"event: event_stream_attached\r\ndata: {\"remoteAddress\":\"127.0.0.1\",\"eventType\":\"event_stream_attached\",\"timestamp\":\"2017-02-18T19:12:00.102Z\"}\r\n\r\n";

const DEPLOYMENT: &[u8] = br#"{"version":"2026-01-01T00:00:00.000Z","deploymentId":"d1"}"#;

/// A server that records what reaches it and answers every request with `reply`.
async fn target(reply: Vec<u8>) -> RawServer {
    RawServer::start(move |_, _| Reply::Close(reply.clone())).await
}

/// A server answering every request with `status` and `Location: location`.
async fn redirecting(status: &'static str, location: String) -> RawServer {
    RawServer::start(move |_, _| {
        Reply::Close(
            format!("HTTP/1.1 {status}\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n")
                .into_bytes(),
        )
    })
    .await
}

fn client_with_token(url: &str) -> Client {
    Client::new(
        Config::new(url)
            .unwrap()
            .with_token("dcos-token")
            .with_retry(quick_retry()),
    )
    .unwrap()
}

fn group_with_a_secret() -> Group {
    serde_json::from_value(serde_json::json!({
        "id": "/shop",
        "apps": [{"id": "/shop/web", "env": {"DB_PASSWORD": "hunter2"}}]
    }))
    .unwrap()
}

#[tokio::test]
async fn group_update_redirected_to_another_origin_sends_it_neither_token_nor_body() {
    let other = target(response("200 OK", "application/json", DEPLOYMENT)).await;
    // User info and query in the Location must not show up in the error either.
    let location = format!(
        "http://user:location-pw@127.0.0.1:{}/v2/groups/shop?sig=location-query",
        other.port
    );
    let origin = redirecting("307 Temporary Redirect", location).await;
    let err = client_with_token(&origin.url)
        .update_group(&group_with_a_secret(), GroupUpdateOptions::default())
        .await
        .unwrap_err();
    match &err {
        Error::CrossOriginRedirect { status, from, to } => {
            assert_eq!(*status, 307);
            assert_eq!(from, &origin.url);
            assert_eq!(to, &other.url);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(other.requests().is_empty(), "{:?}", other.requests());
    let shown = format!("{err} {err:?}");
    assert!(
        shown.contains(&format!("127.0.0.1:{}", other.port)),
        "{shown}"
    );
    assert!(shown.contains("another origin"), "{shown}");
    for secret in ["location-pw", "location-query", "dcos-token", "hunter2"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert_eq!(
        origin.requests().len(),
        1,
        "a refused redirect is not retried"
    );
}

#[tokio::test]
async fn read_redirected_to_another_origin_is_refused_before_reaching_it() {
    let other = target(response(
        "200 OK",
        "application/json",
        br#"{"name":"marathon"}"#,
    ))
    .await;
    let origin = redirecting("302 Found", format!("{}/v2/info", other.url)).await;
    let err = client_with_token(&origin.url).info().await.unwrap_err();
    assert!(
        matches!(err, Error::CrossOriginRedirect { status: 302, .. }),
        "{err:?}"
    );
    assert!(other.requests().is_empty(), "{:?}", other.requests());
}

#[tokio::test]
async fn redirect_to_localhost_from_127_0_0_1_is_another_origin() {
    let other = target(response(
        "200 OK",
        "application/json",
        br#"{"name":"marathon"}"#,
    ))
    .await;
    let origin = redirecting(
        "302 Found",
        format!("http://localhost:{}/v2/info", other.port),
    )
    .await;
    let err = client_with_token(&origin.url).info().await.unwrap_err();
    assert!(matches!(err, Error::CrossOriginRedirect { .. }), "{err:?}");
    assert!(other.requests().is_empty());
}

#[tokio::test]
async fn same_origin_redirect_of_a_read_is_followed_with_the_token() {
    let server = RawServer::start(|head, _| {
        if head.starts_with("GET /v2/info ") {
            Reply::Close(
                b"HTTP/1.1 302 Found\r\nLocation: /moved/v2/info\r\nContent-Length: 0\r\n\r\n"
                    .to_vec(),
            )
        } else {
            Reply::Close(response(
                "200 OK",
                "application/json",
                br#"{"name":"marathon","leader":"m1:8080"}"#,
            ))
        }
    })
    .await;
    let info = client_with_token(&server.url).info().await.unwrap();
    assert_eq!(info.leader.as_deref(), Some("m1:8080"));
    let heads = server.requests();
    assert_eq!(heads.len(), 2);
    assert!(heads[1].starts_with("GET /moved/v2/info "), "{}", heads[1]);
    assert!(
        heads[1].contains("\r\nauthorization: token=dcos-token\r\n"),
        "{}",
        heads[1]
    );
    assert!(!heads[1].contains("\r\nreferer:"), "{}", heads[1]);
}

#[tokio::test]
async fn event_stream_redirected_to_another_origin_is_refused_without_the_token_leaving() {
    let other =
        RawServer::start(|_, _| Reply::Hold([sse_head(), ATTACHED.to_vec()].concat())).await;
    let origin = redirecting(
        "302 Found",
        format!(
            "http://localhost:{}/v2/events?plan-format=light",
            other.port
        ),
    )
    .await;
    let err = client_with_token(&origin.url)
        .events(&EventStreamOptions::new())
        .await
        .unwrap_err();
    match &err {
        Error::CrossOriginRedirect { status, to, .. } => {
            assert_eq!(*status, 302);
            assert_eq!(to, &format!("http://localhost:{}", other.port));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(other.requests().is_empty(), "{:?}", other.requests());
}

#[tokio::test]
async fn same_origin_event_stream_redirect_keeps_the_token() {
    let server = RawServer::start(|head, _| {
        if head.starts_with("GET /v2/events") {
            Reply::Close(
                b"HTTP/1.1 302 Found\r\nLocation: /service/marathon/v2/events?plan-format=light\r\nContent-Length: 0\r\n\r\n"
                    .to_vec(),
            )
        } else {
            Reply::Hold([sse_head(), ATTACHED.to_vec()].concat())
        }
    })
    .await;
    let mut events = client_with_token(&server.url)
        .events(&EventStreamOptions::new())
        .await
        .unwrap();
    assert!(matches!(
        events.next().await,
        Some(Ok(Event::EventStreamAttached(_)))
    ));
    let head = &server.requests()[1];
    assert!(
        head.starts_with("GET /service/marathon/v2/events"),
        "{head}"
    );
    assert!(
        head.contains("\r\nauthorization: token=dcos-token\r\n"),
        "{head}"
    );
}
