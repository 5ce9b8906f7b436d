//! `agent/self` and the ACL endpoints' answers as a Consul server gives them; each test names
//! its source in Consul's code.

use consul_sim::SimOptions;
use reqwest::{Method, StatusCode};

use crate::util::{start, start_with};

/// Source: `agent/agent.go` `Stats` (a server adds `consul`, `raft`, `serf_lan`, `serf_wan`;
/// every value is a string). python-consul's and node-consul's own tests read
/// `Stats.consul.leader_addr` and expect the node to be called `node1`.
#[tokio::test]
async fn agent_self_has_a_servers_stats_and_the_configured_node_name() {
    let h = start_with(SimOptions::default().node_name("node1")).await;
    h.put("/v1/kv/a", "1").await;
    let a = h.get("/v1/agent/self").await;
    assert_eq!(a.status, StatusCode::OK);
    let body = a.json();
    let stats = &body["Stats"];
    assert_eq!(stats["consul"]["leader_addr"], "127.0.0.1:8300");
    assert_eq!(stats["consul"]["server"], "true");
    assert_eq!(stats["raft"]["state"], "Leader");
    assert!(
        stats["raft"]["applied_index"]
            .as_str()
            .is_some_and(|i| i.parse::<u64>().is_ok_and(|i| i >= 1))
    );
    assert_eq!(stats["serf_lan"]["members"], "1");
    assert!(stats["runtime"]["os"].is_string() && stats["runtime"]["version"].is_string());
    assert_eq!(body["Config"]["NodeName"], "node1");
    assert_eq!(body["Member"]["Name"], "node1");
    let session = h.session("{}").await;
    let info = h.get(&format!("/v1/session/info/{session}")).await;
    assert_eq!(info.json()[0]["Node"], "node1");
}

/// Source: `agent/acl_endpoint_legacy.go` (Consul 1.11+): every legacy endpoint answers 410
/// with `Endpoint <path> for the legacy ACL system was removed in Consul 1.11.`, ACLs on or off.
#[tokio::test]
async fn legacy_acl_endpoints_are_gone_with_consuls_message() {
    for h in [
        start().await,
        start_with(SimOptions::default().acl_master_token("root")).await,
    ] {
        for path in [
            "/v1/acl/list",
            "/v1/acl/create",
            "/v1/acl/info/abc",
            "/v1/acl/destroy/abc",
        ] {
            let method = if path.contains("create") || path.contains("destroy") {
                Method::PUT
            } else {
                Method::GET
            };
            let a = h
                .send(method, path, None, &[("X-Consul-Token", "root")])
                .await;
            assert_eq!(a.status, StatusCode::GONE, "{path}");
            assert_eq!(
                a.body,
                format!("Endpoint {path} for the legacy ACL system was removed in Consul 1.11.")
            );
        }
    }
}

/// Source: `agent/acl_endpoint.go` `checkACLDisabled`: with ACLs off every ACL endpoint answers
/// 401 `ACL support disabled`.
#[tokio::test]
async fn acl_endpoints_with_acls_off_answer_401_acl_support_disabled() {
    let h = start().await;
    for path in [
        "/v1/acl/tokens",
        "/v1/acl/policies",
        "/v1/acl/token/self",
        "/v1/acl/bootstrap",
    ] {
        let method = if path.ends_with("bootstrap") {
            Method::PUT
        } else {
            Method::GET
        };
        let a = h.send(method, path, None, &[]).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(a.body, "ACL support disabled", "{path}");
    }
}
