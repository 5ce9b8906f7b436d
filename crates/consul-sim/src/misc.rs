//! The small endpoints: `status/leader`, `status/peers`, `agent/self`, `acl/token/self`, and
//! the answer to paths Consul does not serve.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use http::StatusCode;
use serde_json::json as json_value;

use crate::acl::Authz;
use crate::http::{
    Ctx, DATACENTER, Query, json, permission_denied, request_token, text, with_meta,
};
use crate::shared::{Shared, lock};

/// The address the sim reports as the Raft leader (Consul's server RPC port).
const LEADER: &str = "127.0.0.1:8300";
/// The version the sim reports in `agent/self`.
const VERSION: &str = "1.21.0";
/// Consul's well-known anonymous token.
const ANONYMOUS_ACCESSOR: &str = "00000000-0000-0000-0000-000000000002";

/// `GET /v1/status/leader`. Consul resolves no token here, so neither does the sim.
pub(crate) async fn leader(req: Request) -> Response {
    json(StatusCode::OK, &LEADER, &Query::parse(req.uri().query()))
}

/// `GET /v1/status/peers`.
pub(crate) async fn peers(req: Request) -> Response {
    json(StatusCode::OK, &[LEADER], &Query::parse(req.uri().query()))
}

/// `GET /v1/agent/self`: needs `agent:read`, which only a management token has here.
pub(crate) async fn agent_self(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let ctx = match Ctx::new(shared, req.uri(), req.headers()) {
        Ok(ctx) => ctx,
        Err(resp) => return resp.into(),
    };
    if !ctx.authz.is_management() {
        return permission_denied();
    }
    let node = &ctx.shared.node;
    let body = json_value!({
        "Config": {
            "Datacenter": DATACENTER,
            "PrimaryDatacenter": DATACENTER,
            "NodeName": node,
            "NodeID": "",
            "Revision": "consul-sim",
            "Server": true,
            "Version": VERSION,
        },
        "DebugConfig": {},
        "Coord": null,
        "Member": {
            "Name": node,
            "Addr": "127.0.0.1",
            "Port": 8301,
            "Tags": {"dc": DATACENTER, "role": "consul", "build": VERSION},
            "Status": 1,
        },
        "Stats": stats(&ctx.shared, node),
        "Meta": {},
    });
    json(StatusCode::OK, &body, &ctx.query)
}

/// `Stats` of `agent/self` as a single bootstrapped server reports them (Consul's
/// `agent/agent.go` `Stats`: every value a string): `agent`, `consul` (with `leader_addr`),
/// `raft`, `serf_lan`, `serf_wan` and `runtime`.
fn stats(shared: &Shared, node: &str) -> serde_json::Value {
    let index = shared.read(|s| s.index).to_string();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .to_string();
    let serf = json_value!({
        "coordinate_resets": "0", "encrypted": "false", "event_queue": "0", "event_time": "1",
        "failed": "0", "health_score": "0", "intent_queue": "0", "left": "0",
        "member_time": "1", "members": "1", "query_queue": "0", "query_time": "1",
    });
    json_value!({
        "agent": {"check_monitors": "0", "check_ttls": "0", "checks": "0", "services": "0"},
        "build": {"prerelease": "", "revision": "consul-sim", "version": VERSION, "version_metadata": ""},
        "consul": {
            "acl": if lock(&shared.acl).enabled { "enabled" } else { "disabled" },
            "bootstrap": "true",
            "known_datacenters": "1",
            "leader": "true",
            "leader_addr": LEADER,
            "server": "true",
        },
        "raft": {
            "applied_index": index,
            "commit_index": index,
            "fsm_pending": "0",
            "last_contact": "0",
            "last_log_index": index,
            "last_log_term": "2",
            "last_snapshot_index": "0",
            "last_snapshot_term": "0",
            "latest_configuration": format!("[{{Suffrage:Voter ID:{node} Address:{LEADER}}}]"),
            "latest_configuration_index": "0",
            "num_peers": "0",
            "protocol_version": "3",
            "protocol_version_max": "3",
            "protocol_version_min": "0",
            "snapshot_version_max": "1",
            "snapshot_version_min": "0",
            "state": "Leader",
            "term": "2",
        },
        "runtime": {
            "arch": std::env::consts::ARCH,
            "cpu_count": cpus,
            "goroutines": "100",
            "max_procs": cpus,
            "os": std::env::consts::OS,
            "version": "go1.22.12",
        },
        "serf_lan": serf,
        "serf_wan": serf,
    })
}

/// Removed legacy ACL endpoints (Consul ≥ 1.11, `agent/acl_endpoint_legacy.go`).
const LEGACY_ACL: [&str; 6] = ["create", "update", "destroy", "info", "clone", "list"];

/// Every other `/v1/acl/…` path: the removed legacy endpoints answer 410 with Consul's
/// message, ACL endpoints with ACLs off Consul's 401 `ACL support disabled`; the ACL endpoints
/// the sim does not implement answer 404.
pub(crate) async fn acl_other(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let path = req.uri().path();
    let first = path
        .strip_prefix("/v1/acl/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default();
    if LEGACY_ACL.contains(&first) {
        return text(
            StatusCode::GONE,
            format!("Endpoint {path} for the legacy ACL system was removed in Consul 1.11."),
        );
    }
    if !lock(&shared.acl).enabled {
        return text(StatusCode::UNAUTHORIZED, "ACL support disabled");
    }
    not_found().await
}

/// `GET /v1/acl/token/self`.
pub(crate) async fn token_self(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let query = Query::parse(req.uri().query());
    if !lock(&shared.acl).enabled {
        return text(StatusCode::UNAUTHORIZED, "ACL support disabled");
    }
    let ctx = match Ctx::new(shared, req.uri(), req.headers()) {
        Ok(ctx) => ctx,
        Err(resp) => return resp.into(),
    };
    let secret = request_token(&query, req.headers()).unwrap_or_default();
    let acl = lock(&ctx.shared.acl);
    let body = match (acl.tokens.get(&secret), &ctx.authz) {
        (Some(entry), _) => {
            let policy = if entry.management {
                json_value!([{"ID": "00000000-0000-0000-0000-000000000001", "Name": "global-management"}])
            } else {
                json_value!([{"ID": entry.accessor_id, "Name": format!("sim-policy-{}", entry.accessor_id)}])
            };
            json_value!({
                "AccessorID": entry.accessor_id,
                "SecretID": secret,
                "Description": if entry.management { "Initial Management Token" } else { "consul-sim token" },
                "Policies": policy,
                "Local": false,
                "CreateTime": entry.create_time,
                "Hash": "",
                "CreateIndex": entry.create_index,
                "ModifyIndex": entry.create_index,
            })
        }
        (
            None,
            Authz::Rules {
                anonymous: true, ..
            },
        ) => json_value!({
            "AccessorID": ANONYMOUS_ACCESSOR,
            "SecretID": "anonymous",
            "Description": "Anonymous Token",
            "Policies": null,
            "Local": false,
            "CreateTime": "",
            "Hash": "",
            "CreateIndex": 1,
            "ModifyIndex": 1,
        }),
        // A secret that resolved but is not in the table cannot happen; treat it as unknown.
        (None, _) => return crate::http::acl_not_found(),
    };
    drop(acl);
    with_meta(json(StatusCode::OK, &body, &ctx.query), 1)
}

/// Anything else: Go's `http.NotFound`.
pub(crate) async fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "404 page not found\n")
}
