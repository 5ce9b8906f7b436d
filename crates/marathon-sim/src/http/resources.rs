//! The resources: info, events, deployments, groups and apps.

use std::net::SocketAddr;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::response::Response;
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

use super::reply::{applied, json_response, message, method_not_allowed, rejection, started};
use super::{flag, object_body, values};
use crate::Shared;
use crate::deploy::{Applied, Rejection, id_error};
use crate::events::Subscription;
use crate::model;
use crate::state::{AppEmbed, GroupEmbed};

pub(super) fn info(shared: &Shared) -> Response {
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

pub(super) fn events(
    shared: &Shared,
    parts: &http::request::Parts,
    q: &[(String, String)],
) -> Response {
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

pub(super) fn deployments(
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

pub(super) fn groups(
    shared: &Shared,
    method: &Method,
    segments: &[&str],
    q: &[(String, String)],
    body: &Bytes,
) -> Response {
    match *method {
        Method::GET if segments.last() == Some(&"versions") => {
            let parent = segments
                .split_last()
                .map(|(_, rest)| rest)
                .unwrap_or_default();
            let gid = path_id(parent).unwrap_or_default();
            match shared.with_state(|st| st.group_version_list(&gid)) {
                Some(list) => json_response(StatusCode::OK, &json!(list)),
                None => message(
                    StatusCode::NOT_FOUND,
                    &format!("Group '{gid}' does not exist"),
                ),
            }
        }
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

pub(super) fn apps(
    shared: &Shared,
    method: &Method,
    segments: &[&str],
    q: &[(String, String)],
    body: &Bytes,
) -> Response {
    // `/v2/apps/{id}/tasks`: "tasks" is a reserved word, never the last segment of an app id.
    let (tasks_view, id_segments) = match segments.split_last() {
        Some((&"tasks", rest)) if !rest.is_empty() => (true, rest),
        _ => (false, segments),
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
        (&Method::PUT | &Method::PATCH, false) if !tasks_view => {
            let id = match path_id(id_segments) {
                Ok(id) => id,
                Err(res) => return *res,
            };
            let map = match object_body(body) {
                Ok(m) => m,
                Err(res) => return *res,
            };
            let force = flag(q, "force", false);
            // PATCH (Marathon 1.6) always merges; PUT merges unless partialUpdate=false.
            let partial = *method == Method::PATCH || flag(q, "partialUpdate", true);
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
