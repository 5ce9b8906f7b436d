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
        "Stats": {},
        "Meta": {},
    });
    json(StatusCode::OK, &body, &ctx.query)
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
