//! What the client sends: request lines, headers and bodies, pinned with snapshots.

use marathon_client::{App, AppUpdateOptions, Config, Group, GroupUpdateOptions};
use serde_json::Value;

use crate::util::{RawServer, Reply, client, data, response};

const DEPLOYMENT: &[u8] =
    br#"{"version":"2026-01-01T00:00:00.000Z","deploymentId":"5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43"}"#;

/// The request line and the pretty-printed JSON body of request `n` (field order kept).
fn sent(server: &RawServer, n: usize) -> String {
    let head = server.requests()[n].clone();
    let line = head.lines().next().unwrap_or_default().to_owned();
    let body: Value = serde_json::from_slice(&server.bodies()[n]).expect("JSON body");
    format!(
        "{line}\n{}",
        serde_json::to_string_pretty(&body).expect("prints")
    )
}

#[tokio::test]
async fn group_update_sends_the_group_as_read_with_only_the_image_changed() {
    let server =
        RawServer::start(|_, _| Reply::Close(response("200 OK", "application/json", DEPLOYMENT)))
            .await;
    let mut group: Group =
        serde_json::from_slice(&data("depcon/groups_get_group_response.json")).unwrap();
    for app in group.all_apps_mut() {
        if app.image_repository() == Some("wordpress") {
            app.set_image_tag("4.5.0").unwrap();
        }
    }
    let deployment = client(&server.url)
        .update_group(&group, GroupUpdateOptions::new().with_force(true))
        .await
        .unwrap();
    assert_eq!(
        deployment.deployment_id,
        "5ed4c0c5-9ff8-4a6f-a0cd-f57f59a34b43"
    );
    let body: Value = serde_json::from_slice(&server.bodies()[0]).unwrap();
    assert!(body.get("version").is_none());
    assert!(
        body["groups"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g.get("version").is_none())
    );
    assert_eq!(
        body["groups"][0]["apps"][0]["version"],
        "2016-04-05T16:54:12.256Z"
    );
    insta::assert_snapshot!("group_update_request", sent(&server, 0));
}

#[tokio::test]
async fn group_update_headers_carry_json_and_the_token() {
    let server =
        RawServer::start(|_, _| Reply::Close(response("200 OK", "application/json", DEPLOYMENT)))
            .await;
    let client = marathon_client::Client::new(
        Config::new(&format!("{}/service/marathon", server.url))
            .unwrap()
            .with_token("t0ken"),
    )
    .unwrap();
    let group = Group {
        id: "/shop-prod".into(),
        version: Some("2026-01-01T00:00:00.000Z".into()),
        apps: Some(Vec::new()),
        ..Group::default()
    };
    client
        .update_group(&group, GroupUpdateOptions::default())
        .await
        .unwrap();
    let head = &server.requests()[0];
    assert!(
        head.starts_with("PUT /service/marathon/v2/groups/shop-prod HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.contains("\r\nauthorization: token=t0ken\r\n"),
        "{head}"
    );
    assert!(
        head.contains("\r\ncontent-type: application/json\r\n"),
        "{head}"
    );
    assert_eq!(server.bodies()[0], br#"{"id":"/shop-prod","apps":[]}"#);
}

#[tokio::test]
async fn app_update_sends_explicit_partial_update_and_no_version() {
    let server =
        RawServer::start(|_, _| Reply::Close(response("200 OK", "application/json", DEPLOYMENT)))
            .await;
    let mut app: App = serde_json::from_slice(&data("examples/app.json")).unwrap();
    app.version = Some("2015-09-25T15:13:48.343Z".into());
    app.set_docker_image("registry.example.com/marathon:1.9")
        .unwrap();
    client(&server.url)
        .update_app(&app, AppUpdateOptions::new())
        .await
        .unwrap();
    let text = sent(&server, 0);
    assert!(!text.contains("2015-09-25T15:13:48.343Z"), "version sent");
    insta::assert_snapshot!("app_update_request", text);
}

#[tokio::test]
async fn basic_auth_is_sent_as_a_basic_header() {
    let server =
        RawServer::start(|_, _| Reply::Close(response("200 OK", "text/plain", b"pong"))).await;
    let url = server.url.replace("http://", "http://ops:p%40ss@");
    let client = marathon_client::Client::new(Config::new(&url).unwrap()).unwrap();
    client.ping().await.unwrap();
    let head = &server.requests()[0];
    // base64("ops:p@ss")
    assert!(
        head.contains("\r\nauthorization: basic b3bzonbac3m=\r\n"),
        "{head}"
    );
    assert!(head.starts_with("GET /ping HTTP/1.1"), "{head}");
}

#[tokio::test]
async fn cancel_and_force_cancel_send_the_right_deletes() {
    let server = RawServer::start(|head, _| {
        if head.contains("force=true") {
            Reply::Close(response("202 Accepted", "application/json", b""))
        } else {
            Reply::Close(response("200 OK", "application/json", DEPLOYMENT))
        }
    })
    .await;
    let client = client(&server.url);
    let rollback = client.cancel_deployment("d-1").await.unwrap();
    assert_eq!(rollback.version, "2026-01-01T00:00:00.000Z");
    client.force_cancel_deployment("d-1").await.unwrap();
    let lines: Vec<String> = server
        .requests()
        .iter()
        .map(|h| h.lines().next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        lines,
        [
            "DELETE /v2/deployments/d-1 HTTP/1.1",
            "DELETE /v2/deployments/d-1?force=true HTTP/1.1"
        ]
    );
}

#[tokio::test]
async fn deployment_id_is_taken_from_the_header_or_a_created_app() {
    let server = RawServer::start(|head, _| {
        if head.starts_with("PUT /v2/groups/") {
            let body = br#"{"version":"2026-01-02T00:00:00.000Z"}"#;
            let mut reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nMarathon-Deployment-Id: from-header\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            reply.extend_from_slice(body);
            Reply::Close(reply)
        } else {
            // Marathon answers the creation of an app with 201 and the app itself.
            Reply::Close(response(
                "201 Created",
                "application/json",
                br#"{"id":"/new","version":"2026-01-03T00:00:00.000Z","deployments":[{"id":"from-app"}]}"#,
            ))
        }
    })
    .await;
    let client = client(&server.url);
    let group = Group {
        id: "/g".into(),
        ..Group::default()
    };
    let from_header = client
        .update_group(&group, GroupUpdateOptions::default())
        .await
        .unwrap();
    assert_eq!(from_header.deployment_id, "from-header");
    let app = App {
        id: "/new".into(),
        ..App::default()
    };
    let created = client
        .update_app(&app, AppUpdateOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (created.deployment_id.as_str(), created.version.as_str()),
        ("from-app", "2026-01-03T00:00:00.000Z")
    );
}

#[tokio::test]
async fn change_answer_without_a_deployment_id_is_a_decode_error() {
    // Marathon before 1.0 answered a group update with a version only.
    let server = RawServer::start(|_, _| {
        Reply::Close(response(
            "200 OK",
            "application/json",
            br#"{"version":"2014-07-01T10:20:50.196Z"}"#,
        ))
    })
    .await;
    let group = Group {
        id: "/g".into(),
        ..Group::default()
    };
    let err = client(&server.url)
        .update_group(&group, GroupUpdateOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, marathon_client::Error::Decode { .. }),
        "{err:?}"
    );
}
