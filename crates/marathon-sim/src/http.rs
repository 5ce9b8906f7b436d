//! The HTTP surface: routing, auth, leader checks, request recording and Marathon's answers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use base64::Engine as _;
use futures_util::StreamExt as _;
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Map, Value, json};

use crate::deploy::{Applied, Rejection, id_error};
use crate::events::Subscription;
use crate::model;
use crate::state::{AppEmbed, GroupEmbed};
use crate::{RequestEntry, Shared, lock};

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

fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut res = Response::new(Body::from(value.to_string()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

fn message(status: StatusCode, text: &str) -> Response {
    json_response(status, &json!({ "message": text }))
}

fn details(pairs: &[(String, String)]) -> Value {
    Value::Array(
        pairs
            .iter()
            .map(|(path, error)| json!({"path": path, "errors": [error]}))
            .collect(),
    )
}

/// 400 as Marathon answers a body that is not the JSON it expects.
fn invalid_json(pairs: &[(String, String)]) -> Response {
    json_response(
        StatusCode::BAD_REQUEST,
        &json!({"message": "Invalid JSON", "details": details(pairs)}),
    )
}

fn rejection(r: Rejection) -> Response {
    match r {
        Rejection::Invalid(pairs) => json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &json!({"message": "Object is not valid", "details": details(&pairs)}),
        ),
        Rejection::Locked(ids) => json_response(
            StatusCode::CONFLICT,
            &json!({
                "message": "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.",
                "deployments": ids.iter().map(|id| json!({"id": id})).collect::<Vec<_>>(),
            }),
        ),
        Rejection::NotFound(text) => message(StatusCode::NOT_FOUND, &text),
        Rejection::Conflict(text) => message(StatusCode::CONFLICT, &text),
    }
}

fn started(status: StatusCode, version: &str, deployment_id: &str) -> Response {
    let mut res = json_response(
        status,
        &json!({"version": version, "deploymentId": deployment_id}),
    );
    if let Ok(v) = HeaderValue::from_str(deployment_id) {
        res.headers_mut().insert("Marathon-Deployment-Id", v);
    }
    res
}

fn applied(result: Result<Applied, Rejection>) -> Response {
    match result {
        Ok(Applied::Started {
            version,
            deployment_id,
        }) => started(StatusCode::OK, &version, &deployment_id),
        Ok(Applied::DryRun(steps)) => json_response(StatusCode::OK, &steps),
        Err(r) => rejection(r),
    }
}

/// Query parameters, percent-decoded, in order (names may repeat).
fn query(parts: &http::request::Parts) -> Vec<(String, String)> {
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

fn flag(q: &[(String, String)], name: &str, default: bool) -> bool {
    q.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map_or(default, |(_, v)| {
            v.is_empty() || v.eq_ignore_ascii_case("true")
        })
}

fn values<'a>(q: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    q.iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Parses a JSON object body, or answers Marathon's 400.
fn object_body(body: &Bytes) -> Result<Map<String, Value>, Box<Response>> {
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
    let token_ok = shared
        .auth
        .token
        .as_ref()
        .is_some_and(|t| given.strip_prefix("token=") == Some(t.as_str()));
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
        (Some("events"), &Method::GET) => events(shared, parts, &q),
        (Some("deployments"), _) => deployments(shared, method, segments.get(1).copied(), &q),
        (Some("groups"), _) => groups(shared, method, &segments[1..], &q, &body),
        (Some("apps"), _) => apps(shared, method, &segments[1..], &q, &body),
        (Some("info" | "leader" | "events"), _) => method_not_allowed(full),
        _ => message(StatusCode::NOT_FOUND, &format!("URI not found: {full}")),
    }
}

fn method_not_allowed(path: &str) -> Response {
    // What Jetty answers for a method a resource does not implement.
    let html = format!(
        "<html>\n<head>\n<meta http-equiv=\"Content-Type\" content=\"text/html;charset=ISO-8859-1\"/>\n<title>Error 405 HTTP method GET is not supported by this URL</title>\n</head>\n<body><h2>HTTP ERROR 405</h2>\n<p>Problem accessing {path}. Reason:\n<pre>    HTTP method GET is not supported by this URL</pre></p>\n</body>\n</html>\n"
    );
    let mut res = Response::new(Body::from(html));
    *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html;charset=ISO-8859-1"),
    );
    res
}

fn info(shared: &Shared) -> Response {
    let leader = shared.addr.to_string();
    json_response(
        StatusCode::OK,
        &json!({
            "name": "marathon",
            "version": "1.4.5",
            "buildref": "marathon-sim",
            "elected": true,
            "leader": leader,
            "frameworkId": "marathon-sim-0000",
            "marathon_config": {"hostname": "127.0.0.1", "http_port": shared.addr.port(), "mesos_user": "root", "framework_name": "marathon"},
            "zookeeper_config": {"zk": "zk://127.0.0.1:2181/marathon"},
            "http_config": {"http_port": shared.addr.port(), "https_port": 8443},
            "event_subscriber": {"type": "http_callback", "http_endpoints": []},
        }),
    )
}

fn events(shared: &Shared, parts: &http::request::Parts, q: &[(String, String)]) -> Response {
    // Jetty's EventSource servlet opens a stream only for this exact Accept value.
    let wants_stream = parts
        .headers
        .get_all(header::ACCEPT)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.trim() == "text/event-stream"));
    if !wants_stream {
        return method_not_allowed(parts.uri.path());
    }
    let filter: Vec<String> = values(q, "event_type")
        .into_iter()
        .map(str::to_owned)
        .collect();
    let remote = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "127.0.0.1".to_owned(), |c| c.0.ip().to_string());
    let timestamp = shared.with_state(|st| st.ts(st.now));
    let body = shared.bus.subscribe(
        Subscription {
            filter: if filter.is_empty() {
                None
            } else {
                Some(filter)
            },
            light: values(q, "plan-format").contains(&"light"),
            remote_address: remote,
            timestamp,
        },
        shared.keepalive,
    );
    let mut res = Response::new(body);
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream;charset=UTF-8"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(header::EXPIRES, HeaderValue::from_static("0"));
    res
}

fn deployments(
    shared: &Shared,
    method: &Method,
    id: Option<&str>,
    q: &[(String, String)],
) -> Response {
    match (method, id) {
        (&Method::GET, None) => json_response(
            StatusCode::OK,
            &shared.with_state(|st| st.render_deployments()),
        ),
        (&Method::DELETE, Some(id)) => {
            let force = flag(q, "force", false);
            match shared.mutate(|st| st.cancel(id, force)) {
                Ok(Some((version, new_id))) => started(StatusCode::OK, &version, &new_id),
                Ok(None) => {
                    let mut res = Response::new(Body::empty());
                    *res.status_mut() = StatusCode::ACCEPTED;
                    res.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                    res
                }
                Err(r) => rejection(r),
            }
        }
        _ => message(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
    }
}

/// The absolute id named by URL segments, or Marathon's 422 for an invalid one.
fn path_id(segments: &[&str]) -> Result<String, Box<Response>> {
    let raw = format!("/{}", segments.join("/"));
    model::resolve_id("/", &raw).ok_or_else(|| {
        Box::new(rejection(Rejection::Invalid(vec![(
            "/id".to_owned(),
            id_error(),
        )])))
    })
}

fn group_embed(q: &[(String, String)]) -> GroupEmbed {
    let embeds = values(q, "embed");
    if embeds.is_empty() {
        return GroupEmbed {
            groups: true,
            apps: true,
            app: AppEmbed::default(),
        };
    }
    let has = |e: &str| embeds.contains(&e);
    GroupEmbed {
        groups: has("group.groups"),
        apps: embeds
            .iter()
            .any(|e| *e == "group.apps" || e.starts_with("group.apps.")),
        app: AppEmbed {
            counts: has("group.apps.counts"),
            tasks: has("group.apps.tasks"),
            deployments: has("group.apps.deployments"),
            last_task_failure: has("group.apps.lastTaskFailure"),
        },
    }
}

fn groups(
    shared: &Shared,
    method: &Method,
    segments: &[&str],
    q: &[(String, String)],
    body: &Bytes,
) -> Response {
    match *method {
        Method::GET => {
            let id = match path_id(segments) {
                Ok(id) => id,
                Err(_) => {
                    return message(
                        StatusCode::NOT_FOUND,
                        &format!("Group '/{}' does not exist", segments.join("/")),
                    );
                }
            };
            let embed = group_embed(q);
            match shared.with_state(|st| st.render_group(&id, embed)) {
                Some(group) => json_response(StatusCode::OK, &group),
                None => message(
                    StatusCode::NOT_FOUND,
                    &format!("Group '{id}' does not exist"),
                ),
            }
        }
        Method::PUT | Method::POST => {
            let map = match object_body(body) {
                Ok(m) => m,
                Err(res) => return *res,
            };
            let id = if segments.is_empty() {
                match map.get("id").and_then(Value::as_str) {
                    Some(raw) => match model::resolve_id("/", raw) {
                        Some(id) => id,
                        None => {
                            return rejection(Rejection::Invalid(vec![(
                                "/id".to_owned(),
                                id_error(),
                            )]));
                        }
                    },
                    None => "/".to_owned(),
                }
            } else {
                match path_id(segments) {
                    Ok(id) => id,
                    Err(res) => return *res,
                }
            };
            let force = flag(q, "force", false);
            let dry_run = flag(q, "dryRun", false);
            if *method == Method::POST && shared.with_state(|st| st.groups.contains_key(&id)) {
                return message(
                    StatusCode::CONFLICT,
                    &format!("Group {id} is already created. Use PUT to change this group."),
                );
            }
            let result = shared.mutate(|st| st.update_group(&id, &map, force, dry_run));
            match (result, method) {
                (
                    Ok(Applied::Started {
                        version,
                        deployment_id,
                    }),
                    &Method::POST,
                ) => started(StatusCode::CREATED, &version, &deployment_id),
                (result, _) => applied(result),
            }
        }
        Method::DELETE => {
            let id = match path_id(segments) {
                Ok(id) => id,
                Err(res) => return *res,
            };
            let force = flag(q, "force", false);
            applied(shared.mutate(|st| st.delete_group(&id, force)))
        }
        _ => message(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
    }
}

fn app_embed(q: &[(String, String)], single: bool) -> AppEmbed {
    let embeds = values(q, "embed");
    let has = |name: &str| {
        embeds
            .iter()
            .any(|e| *e == format!("apps.{name}") || *e == format!("app.{name}"))
    };
    // Marathon 1.4 still sends counts and deployments always; one app also gets its tasks.
    AppEmbed {
        counts: true,
        deployments: true,
        tasks: single || has("tasks"),
        last_task_failure: single || has("lastTaskFailure"),
    }
}

fn apps(
    shared: &Shared,
    method: &Method,
    segments: &[&str],
    q: &[(String, String)],
    body: &Bytes,
) -> Response {
    let tasks_view = segments.last() == Some(&"tasks") && segments.len() > 1;
    let id_segments = if tasks_view {
        &segments[..segments.len() - 1]
    } else {
        segments
    };
    match (method, id_segments.is_empty()) {
        (&Method::GET, true) => {
            let embed = app_embed(q, false);
            let id_filter = q.iter().find(|(k, _)| k == "id").map(|(_, v)| v.clone());
            let list = shared.with_state(|st| {
                st.apps
                    .values()
                    .filter(|a| {
                        id_filter
                            .as_ref()
                            .is_none_or(|f| a.id().contains(f.as_str()))
                    })
                    .map(|a| st.render_app(a, embed))
                    .collect::<Vec<_>>()
            });
            json_response(StatusCode::OK, &json!({ "apps": list }))
        }
        (&Method::POST, true) => {
            let map = match object_body(body) {
                Ok(m) => m,
                Err(res) => return *res,
            };
            let Some(id) = map
                .get("id")
                .and_then(Value::as_str)
                .map(|raw| model::resolve_id("/", raw))
            else {
                return rejection(Rejection::Invalid(vec![(
                    "/id".to_owned(),
                    "error.path.missing".to_owned(),
                )]));
            };
            let Some(id) = id else {
                return rejection(Rejection::Invalid(vec![("/id".to_owned(), id_error())]));
            };
            let force = flag(q, "force", false);
            match shared.mutate(|st| st.update_app(&id, &map, false, force, true)) {
                Ok((_, Applied::Started { deployment_id, .. })) => {
                    let app = shared.with_state(|st| {
                        st.apps
                            .get(&id)
                            .map(|a| st.render_app(a, app_embed(&[], false)))
                    });
                    let mut res = json_response(StatusCode::CREATED, &app.unwrap_or(Value::Null));
                    if let Ok(v) = HeaderValue::from_str(&deployment_id) {
                        res.headers_mut().insert("Marathon-Deployment-Id", v);
                    }
                    if let Ok(v) =
                        HeaderValue::from_str(&format!("http://{}/v2/apps{id}", shared.addr))
                    {
                        res.headers_mut().insert(header::LOCATION, v);
                    }
                    res
                }
                Ok((_, Applied::DryRun(v))) => json_response(StatusCode::OK, &v),
                Err(r) => rejection(r),
            }
        }
        (&Method::GET, false) => {
            let id = match path_id(id_segments) {
                Ok(id) => id,
                Err(_) => {
                    return message(
                        StatusCode::NOT_FOUND,
                        &format!("App '/{}' does not exist", id_segments.join("/")),
                    );
                }
            };
            let embed = app_embed(q, true);
            let found = shared.with_state(|st| {
                st.apps.get(&id).map(|a| {
                    if tasks_view {
                        let checked = a.health().is_some();
                        let tasks: Vec<Value> = st
                            .tasks
                            .get(&id)
                            .into_iter()
                            .flatten()
                            .map(|t| st.render_task(t, checked))
                            .collect();
                        json!({ "tasks": tasks })
                    } else {
                        json!({ "app": st.render_app(a, embed) })
                    }
                })
            });
            match found {
                Some(v) => json_response(StatusCode::OK, &v),
                None => message(StatusCode::NOT_FOUND, &format!("App '{id}' does not exist")),
            }
        }
        (&Method::PUT, false) if !tasks_view => {
            let id = match path_id(id_segments) {
                Ok(id) => id,
                Err(res) => return *res,
            };
            let map = match object_body(body) {
                Ok(m) => m,
                Err(res) => return *res,
            };
            let force = flag(q, "force", false);
            let partial = flag(q, "partialUpdate", true);
            match shared.mutate(|st| st.update_app(&id, &map, partial, force, false)) {
                Ok((
                    created,
                    Applied::Started {
                        version,
                        deployment_id,
                    },
                )) => {
                    let status = if created {
                        StatusCode::CREATED
                    } else {
                        StatusCode::OK
                    };
                    let mut res = started(status, &version, &deployment_id);
                    if created
                        && let Ok(v) =
                            HeaderValue::from_str(&format!("http://{}/v2/apps{id}", shared.addr))
                    {
                        res.headers_mut().insert(header::LOCATION, v);
                    }
                    res
                }
                Ok((_, Applied::DryRun(v))) => json_response(StatusCode::OK, &v),
                Err(r) => rejection(r),
            }
        }
        (&Method::DELETE, false) if !tasks_view => {
            let id = match path_id(id_segments) {
                Ok(id) => id,
                Err(_) => {
                    return message(
                        StatusCode::NOT_FOUND,
                        &format!("App '/{}' does not exist", id_segments.join("/")),
                    );
                }
            };
            let force = flag(q, "force", false);
            applied(shared.mutate(|st| st.delete_app(&id, force)))
        }
        _ => message(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
    }
}
