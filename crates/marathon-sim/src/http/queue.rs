//! `/v2/queue`: apps with tasks waiting to launch, and resetting an app's launch delay.

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::{Method, StatusCode};
use serde_json::json;

use super::reply::{json_response, message};
use super::resources::path_id;
use crate::Shared;
use crate::state::AppEmbed;

/// `GET /v2/queue` and `DELETE /v2/queue/{appId}/delay` (Marathon 1.6 `QueueResource`).
pub(super) fn queue(shared: &Shared, method: &Method, segments: &[&str], full: &str) -> Response {
    match (method, segments) {
        (&Method::GET, []) => list(shared),
        (&Method::DELETE, [id @ .., "delay"]) if !id.is_empty() => reset_delay(shared, id),
        (_, []) => message(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
        _ => super::reply::not_served(full),
    }
}

/// One entry per app with fewer tasks than instances: `count` waiting, the launch `delay`
/// (`timeLeftSeconds` until the backoff ends, `overdue` once it has) and the `app`.
fn list(shared: &Shared) -> Response {
    let entries = shared.with_state(|st| {
        st.apps
            .values()
            .filter_map(|app| {
                let alive = st.tasks.get(app.id()).map_or(0, Vec::len);
                let count = app.instances().checked_sub(alive).filter(|n| *n > 0)?;
                let left = st
                    .backoff
                    .get(app.id())
                    .map_or(Duration::ZERO, |b| b.not_before.0.saturating_sub(st.now.0));
                // Whole seconds, rounded up: a delay with 0.2 s left is not overdue yet.
                let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                Some(json!({
                    "count": count,
                    "delay": {"timeLeftSeconds": secs, "overdue": left.is_zero()},
                    "app": st.render_app(app, AppEmbed::default()),
                }))
            })
            .collect::<Vec<_>>()
    });
    json_response(StatusCode::OK, &json!({ "queue": entries }))
}

/// 204 once the app's backoff is gone, so its waiting tasks launch now; 404 for an unknown app.
fn reset_delay(shared: &Shared, segments: &[&str]) -> Response {
    let id = path_id(segments).unwrap_or_else(|_| format!("/{}", segments.join("/")));
    let found = shared.mutate(|st| {
        if !st.apps.contains_key(&id) {
            return false;
        }
        if let Some(b) = st.backoff.get_mut(&id) {
            b.failures = 0;
            b.not_before = st.now;
        }
        true
    });
    if found {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::NO_CONTENT;
        res
    } else {
        message(
            StatusCode::NOT_FOUND,
            &format!("Application {id} not found in tasks queue."),
        )
    }
}
