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

/// The Marathon version the simulator answers as (see the crate docs).
pub(crate) const MARATHON_VERSION: &str = "1.6.322";

/// `GET /v2/info` as Marathon 1.5/1.6 answers it (`fixtures/marathon/examples/info.json`,
/// `marathon/api/v2/InfoResource.scala`): the HTTP port only under `http_config`, Marathon's
/// `marathon_config` keys, a complete `zookeeper_config`, and `event_subscriber` null when no
/// HTTP callback subscriber is configured.
pub(super) fn info(shared: &Shared) -> Response {
    let leader = shared.addr.to_string();
    let url = format!("http://{leader}");
    let marathon_config = marathon_config(&url);
    json_response(
        StatusCode::OK,
        &json!({
            "name": "marathon",
            "version": MARATHON_VERSION,
            "buildref": "marathon-sim",
            "elected": true,
            "leader": leader,
            "frameworkId": "marathon-sim-0000",
            "marathon_config": marathon_config,
            "zookeeper_config": {
                "zk": "zk://127.0.0.1:2181/marathon",
                "zk_compression": true,
                "zk_compression_threshold": 65_536,
                "zk_connection_timeout": 10_000,
                "zk_max_node_size": 1_024_000,
                "zk_max_versions": 50,
                "zk_session_timeout": 10_000,
                "zk_timeout": 10_000,
            },
            "http_config": {"http_port": shared.addr.port(), "https_port": 8443},
            "event_subscriber": null,
        }),
    )
}

/// `marathon_config` of `/v2/info`: Marathon's command-line settings, at their defaults.
fn marathon_config(url: &str) -> Value {
    json!({
            "access_control_allow_origin": null,
            "checkpoint": true,
            "decline_offer_duration": 120_000,
            "default_network_name": null,
            "env_vars_prefix": null,
            "executor": "//cmd",
            "failover_timeout": 604_800,
            "features": [],
            "framework_name": "marathon",
            "ha": true,
            "hostname": "127.0.0.1",
            "launch_token": 100,
            "launch_token_refresh_interval": 30_000,
            "leader_proxy_connection_timeout_ms": 5000,
            "leader_proxy_read_timeout_ms": 10_000,
            "local_port_max": 20_000,
            "local_port_min": 10_000,
            "master": "zk://127.0.0.1:2181/mesos",
            "max_instances_per_offer": 5,
            "mesos_bridge_name": "mesos-bridge",
            "mesos_heartbeat_failure_threshold": 5,
            "mesos_heartbeat_interval": 15_000,
            "mesos_leader_ui_url": "http://127.0.0.1:5050/",
            "mesos_role": null,
            "mesos_user": "root",
            "min_revive_offers_interval": 5000,
            "offer_matching_timeout": 3000,
            "on_elected_prepare_timeout": 180_000,
            "reconciliation_initial_delay": 15_000,
            "reconciliation_interval": 600_000,
            "scale_apps_initial_delay": 15_000,
            "scale_apps_interval": 300_000,
            "store_cache": true,
            "task_launch_confirm_timeout": 300_000,
            "task_launch_timeout": 300_000,
            "task_lost_expunge_initial_delay": 300_000,
            "task_lost_expunge_interval": 30_000,
            "task_reservation_timeout": 20_000,
            "webui_url": url,
    })
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
pub(super) fn path_id(segments: &[&str]) -> Result<String, Box<Response>> {
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

/// `/v2/groups…`: one handler per method.
pub(super) fn groups(
    shared: &Shared,
    method: &Method,
    segments: &[&str],
    q: &[(String, String)],
    body: &Bytes,
) -> Response {
    match *method {
        Method::GET if segments.last() == Some(&"versions") => group_versions(shared, segments),
        Method::GET => show_group(shared, segments, q),
        Method::PUT | Method::POST => match GroupChange::decode(method, segments, q, body) {
            Ok(change) => change_group(shared, &change),
            Err(res) => *res,
        },
        Method::DELETE => match path_id(segments) {
            Ok(id) => {
                let force = flag(q, "force", false);
                applied(shared.mutate(|st| st.delete_group(&id, force)))
            }
            Err(res) => *res,
        },
        _ => message(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
    }
}

fn group_not_found(id: &str) -> Response {
    message(
        StatusCode::NOT_FOUND,
        &format!("Group '{id}' does not exist"),
    )
}

/// `GET /v2/groups/{id}/versions`.
fn group_versions(shared: &Shared, segments: &[&str]) -> Response {
    let parent = segments
        .split_last()
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let gid = path_id(parent).unwrap_or_default();
    match shared.with_state(|st| st.group_version_list(&gid)) {
        Some(list) => json_response(StatusCode::OK, &json!(list)),
        None => group_not_found(&gid),
    }
}

/// `GET /v2/groups/{id}` with its `embed`s.
fn show_group(shared: &Shared, segments: &[&str], q: &[(String, String)]) -> Response {
    let Ok(id) = path_id(segments) else {
        return group_not_found(&format!("/{}", segments.join("/")));
    };
    let embed = group_embed(q);
    match shared.with_state(|st| st.render_group(&id, embed)) {
        Some(group) => json_response(StatusCode::OK, &group),
        None => group_not_found(&id),
    }
}

/// A `PUT` or `POST` of a group, decoded: the id (from the path, else the body's `id`, else
/// the root), the body, `force` and `dryRun`.
struct GroupChange {
    create: bool,
    id: String,
    body: serde_json::Map<String, Value>,
    force: bool,
    dry_run: bool,
}

impl GroupChange {
    fn decode(
        method: &Method,
        segments: &[&str],
        q: &[(String, String)],
        body: &Bytes,
    ) -> Result<Self, Box<Response>> {
        let body = object_body(body)?;
        let id = if segments.is_empty() {
            match body.get("id").and_then(Value::as_str) {
                Some(raw) => model::resolve_id("/", raw).ok_or_else(|| {
                    Box::new(rejection(Rejection::Invalid(vec![(
                        "/id".to_owned(),
                        id_error(),
                    )])))
                })?,
                None => "/".to_owned(),
            }
        } else {
            path_id(segments)?
        };
        Ok(GroupChange {
            create: *method == Method::POST,
            id,
            body,
            force: flag(q, "force", false),
            dry_run: flag(q, "dryRun", false),
        })
    }
}

/// Applies a decoded group change: `POST` refuses an existing group and answers 201.
fn change_group(shared: &Shared, change: &GroupChange) -> Response {
    let id = &change.id;
    if change.create && shared.with_state(|st| st.groups.contains_key(id)) {
        return message(
            StatusCode::CONFLICT,
            &format!("Group {id} is already created. Use PUT to change this group."),
        );
    }
    let result =
        shared.mutate(|st| st.update_group(id, &change.body, change.force, change.dry_run));
    match result {
        Ok(Applied::Started {
            version,
            deployment_id,
        }) if change.create => started(StatusCode::CREATED, &version, &deployment_id),
        result => applied(result),
    }
}
