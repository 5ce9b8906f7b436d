//! The HTTP surface: routing, auth, leader checks, request recording and Marathon's answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::response::Response;
use base64::Engine as _;
use futures_util::StreamExt as _;
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Map, Value, json};

use crate::{RequestEntry, Shared, lock};

mod apps;
pub(crate) mod login;
mod queue;
mod reply;
mod resources;

use apps::{all_tasks, apps};
use queue::queue;
use reply::{invalid_json, json_response, message};
use resources::{deployments, events, groups, info};

/// Largest request body accepted (the 1000-app real group is 1.8 MB).
const MAX_BODY: usize = 64 * 1024 * 1024;
const DCOS_PREFIX: &str = "/service/marathon";

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(move |req: Request| {
        let shared = Arc::clone(&shared);
        async move { record(shared, req).await }
    })
}

/// Answers the request and records it, counting response bytes as they are sent.
async fn record(shared: Arc<Shared>, req: Request) -> Response {
    let method = req.method().to_string();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), ToString::to_string);
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => Bytes::new(),
    };
    let bytes_in = body.len() as u64;
    // Before handling, like consul-sim: the whole round trip lies before the state is read or
    // changed, so a delayed `PUT` starts its deployment only when it is answered. An event
    // stream subscribes only then too, and its events are not held back after that.
    let latency = *lock(&shared.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let response = handle(&shared, &parts, body).await;
    let counter = Arc::new(AtomicU64::new(0));
    let (mut rparts, rbody) = response.into_parts();
    let rbody = match rbody.size_hint().exact() {
        Some(n) => {
            counter.store(n, Ordering::Relaxed);
            rbody
        }
        None => {
            let counter = Arc::clone(&counter);
            Body::from_stream(rbody.into_data_stream().map(move |chunk| {
                if let Ok(c) = &chunk {
                    counter.fetch_add(c.len() as u64, Ordering::Relaxed);
                }
                chunk
            }))
        }
    };
    rparts
        .headers
        .insert(header::SERVER, HeaderValue::from_static("marathon-sim"));
    if let Ok(leader) = HeaderValue::from_str(&format!("http://{}", shared.addr)) {
        rparts.headers.insert("X-Marathon-Leader", leader);
    }
    lock(&shared.requests).push(RequestEntry {
        method,
        path_and_query,
        headers,
        status: rparts.status.as_u16(),
        bytes_in,
        bytes_out: counter,
    });
    Response::from_parts(rparts, rbody)
}

/// Query parameters, percent-decoded, in order (names may repeat).
pub(super) fn query(parts: &http::request::Parts) -> Vec<(String, String)> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    parts
        .uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

pub(super) fn flag(q: &[(String, String)], name: &str, default: bool) -> bool {
    q.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map_or(default, |(_, v)| {
            v.is_empty() || v.eq_ignore_ascii_case("true")
        })
}

pub(super) fn values<'a>(q: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    q.iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Parses a JSON object body, or answers Marathon's 400.
pub(super) fn object_body(body: &Bytes) -> Result<Map<String, Value>, Box<Response>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Box::new(invalid_json(&[(
            "/".to_owned(),
            "error.expected.jsobject".to_owned(),
        )]))),
        Err(e) => Err(Box::new(invalid_json(&[("/".to_owned(), e.to_string())]))),
    }
}

enum AuthResult {
    Ok,
    Unauthenticated,
    Forbidden,
}

fn check_auth(shared: &Shared, parts: &http::request::Parts) -> AuthResult {
    if !shared.auth.enabled() {
        return AuthResult::Ok;
    }
    let given = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let token = given.strip_prefix("token=");
    let token_ok = shared
        .auth
        .token
        .as_ref()
        .is_some_and(|t| token == Some(t.as_str()))
        || shared
            .auth
            .login
            .as_ref()
            .zip(token)
            .is_some_and(|(login, token)| login.accept(token));
    let basic_ok = shared.auth.basic.as_ref().is_some_and(|(user, password)| {
        given
            .strip_prefix("Basic ")
            .and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b.trim())
                    .ok()
            })
            .and_then(|raw| String::from_utf8(raw).ok())
            .is_some_and(|pair| pair == format!("{user}:{password}"))
    });
    if !(token_ok || basic_ok) {
        AuthResult::Unauthenticated
    } else if shared.forbidden.load(Ordering::SeqCst) {
        AuthResult::Forbidden
    } else {
        AuthResult::Ok
    }
}

async fn handle(shared: &Arc<Shared>, parts: &http::request::Parts, body: Bytes) -> Response {
    let full = parts.uri.path();
    let path = match full.strip_prefix(DCOS_PREFIX) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => full,
    };
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    if path == "/ping" {
        let mut res = Response::new(Body::from("pong"));
        res.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        return res;
    }
    if full == login::LOGIN_PATH
        && parts.method == Method::POST
        && let Some(login) = &shared.auth.login
    {
        return login.login(&body);
    }
    if !(path == "/v2" || path.starts_with("/v2/")) {
        return message(StatusCode::NOT_FOUND, &format!("URI not found: {full}"));
    }
    match check_auth(shared, parts) {
        AuthResult::Ok => {}
        AuthResult::Unauthenticated => {
            let mut res = message(StatusCode::UNAUTHORIZED, "Invalid username or password.");
            let challenge = if shared.auth.basic.is_some() {
                "Basic realm=\"Mesosphere Marathon\""
            } else {
                "acsjwt"
            };
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
            return res;
        }
        AuthResult::Forbidden => {
            return message(
                StatusCode::FORBIDDEN,
                "Not Authorized to perform this action!",
            );
        }
    }
    if path == "/v2/events" && path == full && shared.redirect_events.load(Ordering::SeqCst) {
        // A Marathon that is not the leader redirects the event stream to the leader.
        let query = parts
            .uri
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        let location = format!("http://{}{DCOS_PREFIX}/v2/events{query}", shared.addr);
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::FOUND;
        if let Ok(v) = HeaderValue::from_str(&location) {
            res.headers_mut().insert(header::LOCATION, v);
        }
        return res;
    }
    if !shared.leader.load(Ordering::SeqCst) {
        return message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Could not determine the current leader",
        );
    }
    let q = query(parts);
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).skip(1).collect();
    let method = &parts.method;
    match (segments.first().copied(), method) {
        (Some("info"), &Method::GET) => info(shared),
        (Some("leader"), &Method::GET) => {
            json_response(StatusCode::OK, &json!({"leader": shared.addr.to_string()}))
        }
        // `LeaderResource.delete`: this single node abdicates and is elected again at once.
        (Some("leader"), &Method::DELETE) => {
            json_response(StatusCode::OK, &json!({"message": "Leadership abdicated"}))
        }
        (Some("tasks"), &Method::GET) if segments.len() == 1 => all_tasks(shared, &q),
        (Some("queue"), _) => queue(shared, method, segments.get(1..).unwrap_or_default(), full),
        (Some("events"), &Method::GET) => events(shared, parts, &q),
        (Some("deployments"), _) => deployments(shared, method, segments.get(1).copied(), &q),
        (Some("groups"), _) => groups(
            shared,
            method,
            segments.get(1..).unwrap_or_default(),
            &q,
            &body,
        ),
        (Some("apps"), _) => apps(
            shared,
            method,
            segments.get(1..).unwrap_or_default(),
            &q,
            &body,
            full,
        ),
        (Some("info" | "leader" | "events"), _) => reply::method_not_allowed(full),
        _ => message(StatusCode::NOT_FOUND, &format!("URI not found: {full}")),
    }
}
