//! `/v1/session/…`: create, renew, destroy, info, list, node.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::Response;
use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::Value;

use crate::http::{
    Ctx, Reject, duration_from_nanos, index_passed, json, method_not_allowed, parse_go_duration,
    permission_denied, reject, text, uuid, with_meta,
};
use crate::shared::Shared;
use crate::state::{Behavior, Session};

const SESSION_TTL_MIN: Duration = Duration::from_secs(10);
const SESSION_TTL_MAX: Duration = Duration::from_secs(86_400);
const DEFAULT_LOCK_DELAY: Duration = Duration::from_secs(15);
/// The check every node has; sessions are tied to it unless told otherwise.
const SERF_HEALTH: &str = "serfHealth";
/// Below this, a numeric LockDelay is taken as seconds rather than nanoseconds (Consul's rule).
const LOCK_DELAY_SECONDS_THRESHOLD: i128 = 1000;

/// A session as Consul serializes it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SessionJson<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    name: &'a str,
    node: &'a str,
    /// Nanoseconds, as Go's `time.Duration` marshals.
    lock_delay: u128,
    behavior: &'static str,
    #[serde(rename = "TTL")]
    ttl: &'a str,
    node_checks: &'a [String],
    service_checks: Option<Vec<ServiceCheckJson<'a>>>,
    create_index: u64,
    modify_index: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct ServiceCheckJson<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    namespace: &'a str,
}

impl<'a> SessionJson<'a> {
    fn new(id: &'a str, s: &'a Session) -> Self {
        SessionJson {
            id,
            name: &s.name,
            node: &s.node,
            lock_delay: s.lock_delay.as_nanos(),
            behavior: s.behavior.as_str(),
            ttl: &s.ttl,
            node_checks: &s.node_checks,
            service_checks: (!s.service_checks.is_empty()).then(|| {
                s.service_checks
                    .iter()
                    .map(|(id, ns)| ServiceCheckJson { id, namespace: ns })
                    .collect()
            }),
            create_index: s.create_index,
            modify_index: s.modify_index,
        }
    }
}

/// The handler of every `/v1/session/…` request.
pub(crate) async fn endpoint(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let ctx = match Ctx::new(shared, req.uri(), req.headers()) {
        Ok(ctx) => ctx,
        Err(resp) => return resp.into(),
    };
    let path = crate::http::decode_path(req.uri().path());
    let rest = path.strip_prefix("/v1/session/").unwrap_or("");
    let (action, arg) = rest.split_once('/').unwrap_or((rest, ""));
    let method = req.method().clone();
    match (action, &method) {
        ("create", &Method::PUT) => {
            let body = match axum::body::to_bytes(req.into_body(), 1 << 20).await {
                Ok(b) => b,
                Err(e) => return decode_failed(e).into(),
            };
            create(&ctx, &body)
        }
        ("renew", &Method::PUT) => renew(&ctx, arg),
        ("destroy", &Method::PUT) => destroy(&ctx, arg),
        ("info", &Method::GET) => info(&ctx, arg).await,
        ("list", &Method::GET) => list(&ctx, None).await,
        ("node", &Method::GET) => {
            if arg.is_empty() {
                return text(StatusCode::BAD_REQUEST, "Missing node name");
            }
            list(&ctx, Some(arg)).await
        }
        ("create" | "renew" | "destroy" | "info" | "list" | "node", other) => {
            method_not_allowed(other)
        }
        _ => text(StatusCode::NOT_FOUND, "404 page not found\n"),
    }
}

/// Looks a field up ignoring case, as Go's JSON decoder does.
fn field<'a>(obj: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn decode_failed(why: impl std::fmt::Display) -> Reject {
    reject(
        StatusCode::BAD_REQUEST,
        format!("Request decode failed: {why}"),
    )
}

fn string_field(
    obj: &serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<String>, Reject> {
    match field(obj, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(decode_failed(format!(
            "json: cannot unmarshal {} into Go struct field Session.{name} of type string",
            json_kind(other)
        ))),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Check ids from `Checks` / `NodeChecks` (strings).
fn check_list(v: &Value, name: &str) -> Result<Vec<String>, Reject> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                other => Err(decode_failed(format!(
                    "json: cannot unmarshal {} into Go struct field Session.{name} of type string",
                    json_kind(other)
                ))),
            })
            .collect(),
        other => Err(decode_failed(format!(
            "json: cannot unmarshal {} into Go struct field Session.{name} of type []string",
            json_kind(other)
        ))),
    }
}

fn create(ctx: &Ctx, body: &[u8]) -> Response {
    if !ctx.authz.non_key_write() {
        return permission_denied();
    }
    let mut name = String::new();
    let mut node = ctx.shared.node.clone();
    let mut lock_delay = DEFAULT_LOCK_DELAY;
    let mut behavior_raw = String::new();
    let mut ttl = String::new();
    let mut node_checks = vec![SERF_HEALTH.to_owned()];
    let mut service_checks: Vec<(String, String)> = Vec::new();

    if !body.is_empty() {
        let value: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return decode_failed(e).into(),
        };
        let obj = match value {
            Value::Object(obj) => obj,
            Value::Null => serde_json::Map::new(),
            other => {
                return decode_failed(format!(
                    "json: cannot unmarshal {} into Go value of type structs.Session",
                    json_kind(&other)
                ))
                .into();
            }
        };
        let strings = (|| -> Result<(), Reject> {
            if let Some(v) = string_field(&obj, "Name")? {
                name = v;
            }
            if let Some(v) = string_field(&obj, "Node")? {
                node = v;
            }
            if let Some(v) = string_field(&obj, "Behavior")? {
                behavior_raw = v;
            }
            if let Some(v) = string_field(&obj, "TTL")? {
                ttl = v;
            }
            Ok(())
        })();
        if let Err(resp) = strings {
            return resp.into();
        }
        match field(&obj, "LockDelay") {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => match parse_go_duration(s) {
                Some(n) if n < LOCK_DELAY_SECONDS_THRESHOLD => {
                    lock_delay = duration_from_nanos(n.saturating_mul(1_000_000_000));
                }
                Some(n) => lock_delay = duration_from_nanos(n),
                None => return decode_failed(format!("time: invalid duration {s:?}")).into(),
            },
            Some(Value::Number(n)) => {
                let n = n.as_f64().unwrap_or(0.0) as i128;
                lock_delay = if n < LOCK_DELAY_SECONDS_THRESHOLD {
                    duration_from_nanos(n.saturating_mul(1_000_000_000))
                } else {
                    duration_from_nanos(n)
                };
            }
            Some(other) => {
                return decode_failed(format!(
                    "json: cannot unmarshal {} into Go struct field Session.LockDelay of type time.Duration",
                    json_kind(other)
                ))
                .into();
            }
        }
        // `Checks` (deprecated) and `NodeChecks` replace the default serfHealth check.
        let mut explicit: Option<Vec<String>> = None;
        for name in ["Checks", "NodeChecks"] {
            if let Some(v) = field(&obj, name) {
                match check_list(v, name) {
                    Ok(list) => explicit.get_or_insert_with(Vec::new).extend(list),
                    Err(resp) => return resp.into(),
                }
            }
        }
        if let Some(list) = explicit {
            node_checks = list;
        }
        if let Some(Value::Array(items)) = field(&obj, "ServiceChecks") {
            for item in items {
                if let Value::Object(sc) = item {
                    let id = field(sc, "ID").and_then(Value::as_str).unwrap_or("");
                    let ns = field(sc, "Namespace").and_then(Value::as_str).unwrap_or("");
                    service_checks.push((id.to_owned(), ns.to_owned()));
                }
            }
        }
    }

    let behavior = match behavior_raw.as_str() {
        "" | "release" => Behavior::Release,
        "delete" => Behavior::Delete,
        other => {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Invalid Behavior setting '{other}'"),
            );
        }
    };
    let ttl_duration = if ttl.is_empty() {
        None
    } else {
        let Some(nanos) = parse_go_duration(&ttl) else {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Session TTL '{ttl}' invalid: time: invalid duration {ttl:?}"),
            );
        };
        let too_short = nanos < SESSION_TTL_MIN.as_nanos() as i128;
        let too_long = nanos > SESSION_TTL_MAX.as_nanos() as i128;
        if nanos != 0 && (too_short || too_long) {
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Invalid Session TTL '{nanos}', must be between [10s=24h0m0s]"),
            );
        }
        (nanos != 0).then(|| duration_from_nanos(nanos))
    };
    if node.is_empty() {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "Must provide Node");
    }
    if node != ctx.shared.node {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Missing node registration",
        );
    }
    if let Some(unknown) = node_checks.iter().find(|c| *c != SERF_HEALTH) {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Missing check '{unknown}' registration"),
        );
    }
    if let Some((unknown, _)) = service_checks.first() {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Missing check '{unknown}' registration"),
        );
    }

    let id = uuid();
    ctx.shared.write(|state, now| {
        let idx = state.next_index();
        state.sessions.insert(
            id.clone(),
            Session {
                name,
                node,
                lock_delay,
                behavior,
                ttl,
                ttl_duration,
                node_checks,
                service_checks,
                create_index: idx,
                modify_index: idx,
                expires_at: ttl_duration.map(|ttl| now + ttl * 2),
            },
        );
        state.session_table_index = idx;
        state.index = idx;
    });
    #[derive(Serialize)]
    struct Created<'a> {
        #[serde(rename = "ID")]
        id: &'a str,
    }
    json(StatusCode::OK, &Created { id: &id }, &ctx.query)
}

fn renew(ctx: &Ctx, id: &str) -> Response {
    if id.is_empty() {
        return text(StatusCode::BAD_REQUEST, "Missing session");
    }
    if !ctx.authz.non_key_write() {
        return permission_denied();
    }
    // Renewal is not a Raft write in Consul: it resets the timer and leaves the index alone.
    let renewed = ctx.shared.write(|state, now| {
        let index = state.session_table_index;
        state.sessions.get_mut(id).map(|s| {
            s.expires_at = s.ttl_duration.map(|ttl| now + ttl * 2);
            (index, s.clone())
        })
    });
    match renewed {
        // Consul sends no index headers on a renewal.
        Some((_, session)) => json(
            StatusCode::OK,
            &[SessionJson::new(id, &session)],
            &ctx.query,
        ),
        None => text(
            StatusCode::NOT_FOUND,
            format!("Session id '{id}' not found"),
        ),
    }
}

fn destroy(ctx: &Ctx, id: &str) -> Response {
    if id.is_empty() {
        return text(StatusCode::BAD_REQUEST, "Missing session");
    }
    if !ctx.authz.non_key_write() {
        return permission_denied();
    }
    ctx.shared
        .write(|state, now| state.invalidate_session(id, now));
    json(StatusCode::OK, &true, &ctx.query)
}

async fn info(ctx: &Ctx, id: &str) -> Response {
    if id.is_empty() {
        return text(StatusCode::BAD_REQUEST, "Missing session");
    }
    let result = ctx
        .blocking(
            |s, authz| {
                let visible = s.sessions.get(id).filter(|_| authz.non_key_write());
                (s.session_table_index, visible.cloned())
            },
            index_passed,
        )
        .await;
    match result {
        Ok((index, session)) => {
            let body: Vec<SessionJson<'_>> = session
                .as_ref()
                .map(|s| SessionJson::new(id, s))
                .into_iter()
                .collect();
            with_meta(json(StatusCode::OK, &body, &ctx.query), index)
        }
        Err(resp) => resp.into(),
    }
}

async fn list(ctx: &Ctx, node: Option<&str>) -> Response {
    let result = ctx
        .blocking(
            |s, authz| {
                // Reads are filtered, not refused: the anonymous token simply sees nothing.
                let sessions: Vec<(String, Session)> = s
                    .sessions
                    .iter()
                    .filter(|_| authz.non_key_write())
                    .filter(|(_, sess)| node.is_none_or(|n| sess.node == n))
                    .map(|(id, sess)| (id.clone(), sess.clone()))
                    .collect();
                (s.session_table_index, sessions)
            },
            index_passed,
        )
        .await;
    match result {
        Ok((index, sessions)) => {
            let body: Vec<SessionJson<'_>> = sessions
                .iter()
                .map(|(id, s)| SessionJson::new(id, s))
                .collect();
            with_meta(json(StatusCode::OK, &body, &ctx.query), index)
        }
        Err(resp) => resp.into(),
    }
}
