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
        ("create", &Method::PUT) => create(&ctx, req.into_body()).await,
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

/// What a `PUT /v1/session/create` body asks for, decoded as Consul's Go decoder reads it, not
/// yet checked against the agent.
struct CreateRequest {
    name: String,
    node: String,
    lock_delay: Duration,
    behavior: String,
    ttl: String,
    node_checks: Vec<String>,
    service_checks: Vec<(String, String)>,
}

impl CreateRequest {
    /// The defaults of an empty body: the agent's node, its serfHealth check, 15 s lock delay.
    fn defaults(node: &str) -> Self {
        CreateRequest {
            name: String::new(),
            node: node.to_owned(),
            lock_delay: DEFAULT_LOCK_DELAY,
            behavior: String::new(),
            ttl: String::new(),
            node_checks: vec![SERF_HEALTH.to_owned()],
            service_checks: Vec::new(),
        }
    }

    /// Decodes `body` (empty or `null`: the defaults). Errors are the 400s Consul answers.
    fn decode(body: &[u8], node: &str) -> Result<Self, Reject> {
        let mut request = CreateRequest::defaults(node);
        if body.is_empty() {
            return Ok(request);
        }
        let value: Value = serde_json::from_slice(body).map_err(decode_failed)?;
        let obj = match value {
            Value::Object(obj) => obj,
            Value::Null => serde_json::Map::new(),
            other => {
                return Err(decode_failed(format!(
                    "json: cannot unmarshal {} into Go value of type structs.Session",
                    json_kind(&other)
                )));
            }
        };
        if let Some(v) = string_field(&obj, "Name")? {
            request.name = v;
        }
        if let Some(v) = string_field(&obj, "Node")? {
            request.node = v;
        }
        if let Some(v) = string_field(&obj, "Behavior")? {
            request.behavior = v;
        }
        if let Some(v) = string_field(&obj, "TTL")? {
            request.ttl = v;
        }
        if let Some(delay) = lock_delay_field(field(&obj, "LockDelay"))? {
            request.lock_delay = delay;
        }
        // `Checks` (deprecated) and `NodeChecks` replace the default serfHealth check.
        let mut explicit: Option<Vec<String>> = None;
        for name in ["Checks", "NodeChecks"] {
            if let Some(v) = field(&obj, name) {
                explicit
                    .get_or_insert_with(Vec::new)
                    .extend(check_list(v, name)?);
            }
        }
        if let Some(list) = explicit {
            request.node_checks = list;
        }
        if let Some(Value::Array(items)) = field(&obj, "ServiceChecks") {
            for item in items {
                if let Value::Object(sc) = item {
                    let id = field(sc, "ID").and_then(Value::as_str).unwrap_or("");
                    let ns = field(sc, "Namespace").and_then(Value::as_str).unwrap_or("");
                    request.service_checks.push((id.to_owned(), ns.to_owned()));
                }
            }
        }
        Ok(request)
    }

    /// Checks the request against the agent `agent_node`, as Consul does after decoding (its
    /// answers are 500s), and gives the behaviour and the parsed TTL.
    fn validate(&self, agent_node: &str) -> Result<(Behavior, Option<Duration>), Reject> {
        let behavior = match self.behavior.as_str() {
            "" | "release" => Behavior::Release,
            "delete" => Behavior::Delete,
            other => {
                return Err(reject(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Invalid Behavior setting '{other}'"),
                ));
            }
        };
        let ttl_duration = session_ttl(&self.ttl)?;
        if self.node.is_empty() {
            return Err(reject(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Must provide Node",
            ));
        }
        if self.node != agent_node {
            return Err(reject(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Missing node registration",
            ));
        }
        let unknown = self.node_checks.iter().find(|c| *c != SERF_HEALTH);
        if let Some(unknown) = unknown.or(self.service_checks.first().map(|(id, _)| id)) {
            return Err(reject(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("Missing check '{unknown}' registration"),
            ));
        }
        Ok((behavior, ttl_duration))
    }
}

/// `LockDelay` as a Go duration string or a number; below 1000 it counts seconds.
fn lock_delay_field(value: Option<&Value>) -> Result<Option<Duration>, Reject> {
    let from = |n: i128| {
        if n < LOCK_DELAY_SECONDS_THRESHOLD {
            duration_from_nanos(n.saturating_mul(1_000_000_000))
        } else {
            duration_from_nanos(n)
        }
    };
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match parse_go_duration(s) {
            Some(n) => Ok(Some(from(n))),
            None => Err(decode_failed(format!("time: invalid duration {s:?}"))),
        },
        Some(Value::Number(n)) => Ok(Some(from(n.as_f64().unwrap_or(0.0) as i128))),
        Some(other) => Err(decode_failed(format!(
            "json: cannot unmarshal {} into Go struct field Session.LockDelay of type time.Duration",
            json_kind(other)
        ))),
    }
}

/// A session `TTL`: empty or zero is none; otherwise between 10 s and 24 h.
fn session_ttl(ttl: &str) -> Result<Option<Duration>, Reject> {
    if ttl.is_empty() {
        return Ok(None);
    }
    let Some(nanos) = parse_go_duration(ttl) else {
        return Err(reject(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Session TTL '{ttl}' invalid: time: invalid duration {ttl:?}"),
        ));
    };
    let too_short = nanos < SESSION_TTL_MIN.as_nanos() as i128;
    let too_long = nanos > SESSION_TTL_MAX.as_nanos() as i128;
    if nanos != 0 && (too_short || too_long) {
        return Err(reject(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Invalid Session TTL '{nanos}', must be between [10s=24h0m0s]"),
        ));
    }
    Ok((nanos != 0).then(|| duration_from_nanos(nanos)))
}

/// `PUT /v1/session/create`: decode, check, then store the session.
async fn create(ctx: &Ctx, body: axum::body::Body) -> Response {
    let body = match axum::body::to_bytes(body, 1 << 20).await {
        Ok(b) => b,
        Err(e) => return decode_failed(e).into(),
    };
    if !ctx.authz.non_key_write() {
        return permission_denied();
    }
    let request = match CreateRequest::decode(&body, &ctx.shared.node) {
        Ok(request) => request,
        Err(reject) => return reject.into(),
    };
    let (behavior, ttl_duration) = match request.validate(&ctx.shared.node) {
        Ok(checked) => checked,
        Err(reject) => return reject.into(),
    };
    let id = store(ctx, request, behavior, ttl_duration);
    #[derive(Serialize)]
    struct Created<'a> {
        #[serde(rename = "ID")]
        id: &'a str,
    }
    json(StatusCode::OK, &Created { id: &id }, &ctx.query)
}

/// Stores a checked session; returns its new id.
fn store(
    ctx: &Ctx,
    request: CreateRequest,
    behavior: Behavior,
    ttl_duration: Option<Duration>,
) -> String {
    let id = uuid();
    ctx.shared.write(|state, now| {
        let idx = state.next_index();
        state.sessions.insert(
            id.clone(),
            Session {
                name: request.name,
                node: request.node,
                lock_delay: request.lock_delay,
                behavior,
                ttl: request.ttl,
                ttl_duration,
                node_checks: request.node_checks,
                service_checks: request.service_checks,
                create_index: idx,
                modify_index: idx,
                expires_at: ttl_duration.map(|ttl| now + ttl * 2),
            },
        );
        state.session_table_index = idx;
        state.index = idx;
    });
    id
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
