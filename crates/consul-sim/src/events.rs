//! `/v1/event/fire/{name}` and `/v1/event/list`: Consul's user events.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{Method, StatusCode};
use serde::Serialize;

use crate::http::{
    Ctx, decode_path, json, method_not_allowed, permission_denied, text, uuid, with_meta,
};
use crate::shared::Shared;

/// Consul's agent keeps this many recent events.
const MAX_EVENTS: usize = 256;
/// Serf's default user-event size limit, which Consul does not raise.
const USER_EVENT_SIZE_LIMIT: usize = 512;
/// Serf event names Consul uses are this prefix plus the user's name.
const SERF_PREFIX: &str = "consul:event:";

/// A fired user event.
#[derive(Debug, Clone)]
pub(crate) struct UserEvent {
    pub id: String,
    pub name: String,
    pub payload: Option<Vec<u8>>,
    pub node_filter: String,
    pub service_filter: String,
    pub tag_filter: String,
    pub ltime: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct EventJson<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    name: &'a str,
    payload: Option<String>,
    node_filter: &'a str,
    service_filter: &'a str,
    tag_filter: &'a str,
    version: u8,
    #[serde(rename = "LTime")]
    ltime: u64,
}

impl<'a> EventJson<'a> {
    fn new(e: &'a UserEvent, ltime: u64) -> Self {
        EventJson {
            id: &e.id,
            name: &e.name,
            payload: e.payload.as_ref().map(|p| BASE64.encode(p)),
            node_filter: &e.node_filter,
            service_filter: &e.service_filter,
            tag_filter: &e.tag_filter,
            version: 1,
            ltime,
        }
    }
}

/// Size of a msgpack string/binary header for a value of `len` bytes.
fn msgpack_header(len: usize, binary: bool) -> usize {
    match (len, binary) {
        (0..=31, false) => 1,
        (0..=255, _) => 2,
        (256..=65_535, _) => 3,
        _ => 5,
    }
}

/// The size Serf checks: the Serf event name plus Consul's msgpack encoding of the event.
fn wire_size(e: &UserEvent) -> usize {
    let string_field =
        |key: usize, value: &str| 1 + key + msgpack_header(value.len(), false) + value.len();
    let mut encoded = 1 + string_field(2, &e.id) + string_field(1, &e.name) + 3;
    if let Some(p) = &e.payload {
        encoded += 2 + msgpack_header(p.len(), true) + p.len();
    }
    for filter in [&e.node_filter, &e.service_filter, &e.tag_filter] {
        if !filter.is_empty() {
            encoded += string_field(2, filter);
        }
    }
    SERF_PREFIX.len() + e.name.len() + encoded
}

/// Consul's event index: the event id's two halves folded together.
fn uuid_to_u64(id: &str) -> u64 {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    let low = hex.get(0..16).and_then(|h| u64::from_str_radix(h, 16).ok());
    let high = hex
        .get(16..32)
        .and_then(|h| u64::from_str_radix(h, 16).ok());
    low.unwrap_or(0) ^ high.unwrap_or(0)
}

/// The handler of every `/v1/event/…` request.
pub(crate) async fn endpoint(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let ctx = match Ctx::new(shared, req.uri(), req.headers()) {
        Ok(ctx) => ctx,
        Err(resp) => return resp.into(),
    };
    let path = decode_path(req.uri().path());
    if let Some(name) = path.strip_prefix("/v1/event/fire/") {
        if req.method() != Method::PUT {
            return method_not_allowed(req.method());
        }
        let name = name.to_owned();
        let body = match axum::body::to_bytes(req.into_body(), 1 << 20).await {
            Ok(b) => b,
            Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
        };
        return fire(&ctx, name, &body);
    }
    if path == "/v1/event/list" {
        if req.method() != Method::GET {
            return method_not_allowed(req.method());
        }
        return list(&ctx).await;
    }
    if path == "/v1/event/fire" || path == "/v1/event/fire/" {
        return text(StatusCode::BAD_REQUEST, "Missing name");
    }
    text(StatusCode::NOT_FOUND, "404 page not found\n")
}

fn fire(ctx: &Ctx, name: String, body: &[u8]) -> Response {
    if name.is_empty() {
        return text(StatusCode::BAD_REQUEST, "Missing name");
    }
    if !ctx.authz.non_key_write() {
        return permission_denied();
    }
    let q = |k: &str| ctx.query.get(k).unwrap_or("").to_owned();
    let mut event = UserEvent {
        id: uuid(),
        name,
        payload: (!body.is_empty()).then(|| body.to_vec()),
        node_filter: q("node"),
        service_filter: q("service"),
        tag_filter: q("tag"),
        ltime: 0,
    };
    if !event.tag_filter.is_empty() && event.service_filter.is_empty() {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Cannot provide tag filter without service filter",
        );
    }
    if wire_size(&event) > USER_EVENT_SIZE_LIMIT {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "user event exceeds configured limit of {USER_EVENT_SIZE_LIMIT} bytes before encoding"
            ),
        );
    }
    let answer = json(StatusCode::OK, &EventJson::new(&event, 0), &ctx.query);
    ctx.shared.write(|state, _| {
        state.event_ltime += 1;
        event.ltime = state.event_ltime;
        state.events.push_back(event);
        while state.events.len() > MAX_EVENTS {
            state.events.pop_front();
        }
    });
    answer
}

async fn list(ctx: &Ctx) -> Response {
    let name = ctx.query.get("name").unwrap_or("").to_owned();
    let result = ctx
        .blocking(
            |s, authz| {
                let events: Vec<UserEvent> = s
                    .events
                    .iter()
                    .filter(|e| name.is_empty() || e.name == name)
                    .filter(|_| authz.non_key_write())
                    .cloned()
                    .collect();
                let index = events.last().map_or(1, |e| uuid_to_u64(&e.id));
                (index, events)
            },
            // Event indexes are not monotonic: any change of the last event id is news.
            |index, min| index != min,
        )
        .await;
    match result {
        Ok((index, events)) => {
            let body: Vec<EventJson<'_>> =
                events.iter().map(|e| EventJson::new(e, e.ltime)).collect();
            with_meta(json(StatusCode::OK, &body, &ctx.query), index)
        }
        Err(resp) => resp.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_index_folds_halves() {
        assert_eq!(uuid_to_u64("00000000-0000-0001-0000-000000000003"), 1 ^ 3);
        assert_eq!(uuid_to_u64("nonsense"), 0);
    }

    #[test]
    fn large_payload_exceeds_serf_limit() {
        let mut e = UserEvent {
            id: uuid(),
            name: "duncan-deploy".into(),
            payload: Some(vec![b'x'; 400]),
            node_filter: String::new(),
            service_filter: String::new(),
            tag_filter: String::new(),
            ltime: 0,
        };
        assert!(wire_size(&e) <= USER_EVENT_SIZE_LIMIT);
        e.payload = Some(vec![b'x'; 450]);
        assert!(wire_size(&e) > USER_EVENT_SIZE_LIMIT);
    }
}
