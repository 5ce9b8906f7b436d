//! ACL mode: tokens by header, Bearer and query; 403 wording; filtering; txn denials.

use consul_sim::{Access, Rule, SimOptions};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::util::{Harness, start_with};

async fn acl_sim() -> Harness {
    start_with(SimOptions::default().acl_master_token("root").token(
        "deployer",
        vec![
            Rule::new("deploys/a/", Access::Write),
            Rule::new("deploys/", Access::Read),
            Rule::new("deploys/a/secret", Access::Deny),
        ],
    ))
    .await
}

#[tokio::test]
async fn token_accepted_from_header_bearer_and_query() {
    let h = acl_sim().await;
    let via_header = h
        .send(
            Method::PUT,
            "/v1/kv/deploys/a/x",
            Some(b"1".to_vec()),
            &[("X-Consul-Token", "deployer")],
        )
        .await;
    assert_eq!(via_header.body, "true");
    let via_bearer = h
        .send(
            Method::PUT,
            "/v1/kv/deploys/a/y",
            Some(b"1".to_vec()),
            &[("Authorization", "Bearer deployer")],
        )
        .await;
    assert_eq!(via_bearer.body, "true");
    let via_query = h.put("/v1/kv/deploys/a/z?token=deployer", "1").await;
    assert_eq!(via_query.body, "true");
}

#[tokio::test]
async fn denied_write_is_403_permission_denied_and_changes_nothing() {
    let h = acl_sim().await;
    let a = h
        .send(
            Method::PUT,
            "/v1/kv/deploys/b/x",
            Some(b"1".to_vec()),
            &[("X-Consul-Token", "deployer")],
        )
        .await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (StatusCode::FORBIDDEN, "Permission denied")
    );
    assert!(h.control.kv_snapshot().is_empty());
}

#[tokio::test]
async fn unknown_token_is_403_acl_not_found() {
    let h = acl_sim().await;
    let a = h
        .send(
            Method::GET,
            "/v1/kv/deploys/a/x",
            None,
            &[("X-Consul-Token", "who")],
        )
        .await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (StatusCode::FORBIDDEN, "ACL not found")
    );
    // Status endpoints resolve no token at all.
    let a = h
        .send(
            Method::GET,
            "/v1/status/leader",
            None,
            &[("X-Consul-Token", "who")],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn anonymous_is_denied_by_default_policy() {
    let h = acl_sim().await;
    let a = h.get("/v1/kv/deploys/a/x").await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (StatusCode::FORBIDDEN, "Permission denied")
    );
}

#[tokio::test]
async fn longest_prefix_rule_decides_reads() {
    let h = acl_sim().await;
    h.put("/v1/kv/deploys/b/current?token=root", "v").await;
    h.put("/v1/kv/deploys/a/secret?token=root", "s").await;
    let tok = [("X-Consul-Token", "deployer")];
    assert_eq!(
        h.send(Method::GET, "/v1/kv/deploys/b/current", None, &tok)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        h.send(Method::GET, "/v1/kv/deploys/a/secret", None, &tok)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // Recursive reads filter rather than fail.
    let a = h
        .send(Method::GET, "/v1/kv/deploys/?recurse", None, &tok)
        .await;
    let keys: Vec<_> = a
        .json()
        .as_array()
        .map(|v| v.iter().map(|e| e["Key"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(keys, vec![json!("deploys/b/current")]);
}

#[tokio::test]
async fn denied_txn_op_is_409_with_permission_denied() {
    let h = acl_sim().await;
    let body = json!([
        {"KV": {"Verb": "set", "Key": "deploys/a/acl_check", "Value": "eA=="}},
        {"KV": {"Verb": "set", "Key": "deploys/b/acl_check", "Value": "eA=="}},
    ]);
    let a = h
        .send(
            Method::PUT,
            "/v1/txn",
            Some(body.to_string().into_bytes()),
            &[("X-Consul-Token", "deployer")],
        )
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(
        a.json(),
        json!({"Results": null, "Errors": [{"OpIndex": 1, "What": "Permission denied"}]})
    );
    assert!(h.control.kv_snapshot().is_empty());
}

#[tokio::test]
async fn master_token_may_do_anything() {
    let h = acl_sim().await;
    assert_eq!(h.put("/v1/kv/anything?token=root", "1").await.body, "true");
    let a = h
        .send(
            Method::GET,
            "/v1/agent/self",
            None,
            &[("X-Consul-Token", "root")],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["Config"]["Datacenter"], "dc1");
}

#[tokio::test]
async fn token_added_at_runtime_takes_effect() {
    let h = acl_sim().await;
    h.control
        .add_token("late", vec![Rule::new("x/", Access::Write)]);
    let a = h
        .send(
            Method::PUT,
            "/v1/kv/x/1",
            Some(b"1".to_vec()),
            &[("X-Consul-Token", "late")],
        )
        .await;
    assert_eq!(a.body, "true");
}

#[tokio::test]
async fn token_self_describes_the_token_and_is_401_without_acls() {
    let h = acl_sim().await;
    let a = h
        .send(
            Method::GET,
            "/v1/acl/token/self",
            None,
            &[("X-Consul-Token", "deployer")],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()["SecretID"], "deployer");
    assert!(
        a.json()["AccessorID"]
            .as_str()
            .is_some_and(|s| s.len() == 36)
    );
    let a = h
        .send(
            Method::GET,
            "/v1/acl/token/self",
            None,
            &[("X-Consul-Token", "nobody")],
        )
        .await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (StatusCode::FORBIDDEN, "ACL not found")
    );

    let open = crate::util::start().await;
    let a = open.get("/v1/acl/token/self").await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (StatusCode::UNAUTHORIZED, "ACL support disabled")
    );
}

#[tokio::test]
async fn known_tokens_may_use_sessions_but_anonymous_may_not() {
    let h = acl_sim().await;
    let a = h
        .send(
            Method::PUT,
            "/v1/session/create",
            Some(b"{}".to_vec()),
            &[("X-Consul-Token", "deployer")],
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let a = h.put("/v1/session/create", "{}").await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(
        h.get("/v1/session/list").await.body,
        "[]",
        "anonymous sees no sessions"
    );
    let listed = h
        .send(
            Method::GET,
            "/v1/session/list",
            None,
            &[("X-Consul-Token", "deployer")],
        )
        .await;
    assert_eq!(listed.json().as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn policy_file_format_loads_tokens() {
    let file = consul_sim::PolicyFile::from_json(
        r#"{"tokens":[{"secret":"p","rules":[{"prefix":"deploys/a/","access":"write"}]}]}"#,
    )
    .expect("documented format parses");
    let h = start_with(SimOptions::default().policy(file)).await;
    let ok = h.put("/v1/kv/deploys/a/k?token=p", "1").await;
    let denied = h.put("/v1/kv/deploys/b/k?token=p", "1").await;
    assert_eq!(
        (ok.body.as_str(), denied.status),
        ("true", StatusCode::FORBIDDEN)
    );
}

#[tokio::test]
async fn keys_listing_hides_what_the_token_may_not_read() {
    let h = acl_sim().await;
    for key in ["deploys/a/current", "deploys/a/secret", "other/x"] {
        h.put(&format!("/v1/kv/{key}?token=root"), "v").await;
    }
    let a = h
        .send(
            Method::GET,
            "/v1/kv/?keys",
            None,
            &[("X-Consul-Token", "deployer")],
        )
        .await;
    assert_eq!(a.json(), json!(["deploys/a/current"]));
}

#[tokio::test]
async fn recursive_delete_needs_write_on_the_whole_prefix() {
    let h = acl_sim().await;
    h.put("/v1/kv/deploys/a/x?token=root", "v").await;
    let tok = [("X-Consul-Token", "deployer")];
    let a = h
        .send(Method::DELETE, "/v1/kv/deploys/a/?recurse", None, &tok)
        .await;
    assert_eq!(
        a.status,
        StatusCode::FORBIDDEN,
        "deploys/a/secret is denied inside the prefix"
    );
    assert_eq!(h.control.kv_snapshot().len(), 1);
}
