//! `/v1/kv/…`: reads (single, `recurse`, `keys`, `raw`, blocking), PUT (`cas`, `flags`,
//! `acquire`, `release`) and DELETE (`recurse`, `cas`).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{HeaderValue, Method, StatusCode, header};
use serde::Serialize;

use crate::http::{
    Ctx, Reject, decode_path, empty, index_passed, json, method_not_allowed, permission_denied,
    reject, text, with_meta,
};
use crate::shared::Shared;
use crate::state::{Entry, Write};

/// Consul's default `kv_max_value_size`: 512 KiB.
pub(crate) const MAX_VALUE_SIZE: usize = 512 * 1024;

/// A KV entry as Consul serializes it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct EntryJson<'a> {
    pub lock_index: u64,
    pub key: &'a str,
    pub flags: u64,
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<&'a str>,
    pub create_index: u64,
    pub modify_index: u64,
}

impl<'a> EntryJson<'a> {
    pub fn new(key: &'a str, e: &'a Entry, with_value: bool) -> Self {
        EntryJson {
            lock_index: e.lock_index,
            key,
            flags: e.flags,
            value: e
                .value
                .as_ref()
                .filter(|_| with_value)
                .map(|v| BASE64.encode(v)),
            session: e.session.as_deref(),
            create_index: e.create_index,
            modify_index: e.modify_index,
        }
    }
}

/// Consul's raw-path check against traversal, done before the key is even looked at.
fn has_traversal(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    path.contains("../")
        || path.contains("..\\")
        || [
            "%2e%2e%2f",
            "%2e%2e%5c",
            "%2e%2e/",
            "..%2f",
            "..%5c",
            "%252e%252e%252f",
        ]
        .iter()
        .any(|p| lower.contains(p))
}

const SUSPICIOUS_EXTENSIONS: &[&str] = &[
    "js", "css", "htm", "html", "xml", "json", "txt", "log", "php", "asp", "jsp", "cgi", "pl",
    "py", "rb", "sh", "exe", "dll", "bat", "cmd", "com", "scr", "vbs", "pdf", "doc", "docx", "xls",
    "xlsx", "ppt", "pptx", "zip", "rar", "tar", "gz", "7z", "bz2", "jpg", "jpeg", "png", "gif",
    "svg", "ico", "bmp", "mp3", "mp4", "avi", "mov", "wmv", "flv", "swf", "woff", "woff2", "ttf",
    "eot", "otf",
];

/// The key validation of current Consul releases (same checks, same wording).
pub(crate) fn validate_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() {
        return Err("key cannot be empty");
    }
    if key.starts_with('/') {
        return Err("key must not begin with a '/'");
    }
    if !key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ",-_./".contains(c))
    {
        return Err(
            "key contains invalid characters. Only alphanumeric characters and ,-_./ are allowed",
        );
    }
    if key.contains("../") || key.contains("..\\") || key.starts_with("..") || key.ends_with("..") {
        return Err("key contains path traversal sequence");
    }
    if let Some((_, ext)) = key.rsplit_once('.')
        && SUSPICIOUS_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str())
    {
        return Err(
            "key contains suspicious file extension that may be cached by proxies or exploited",
        );
    }
    Ok(())
}

/// The handler of every `/v1/kv/…` request.
pub(crate) async fn endpoint(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let ctx = match Ctx::new(shared, req.uri(), req.headers()) {
        Ok(ctx) => ctx,
        Err(resp) => return resp.into(),
    };
    let path = decode_path(req.uri().path());
    if has_traversal(&path) || has_traversal(req.uri().path()) {
        return text(
            StatusCode::BAD_REQUEST,
            "URL path contains invalid or encoded traversal sequence",
        );
    }
    let key = path.strip_prefix("/v1/kv/").unwrap_or("").to_owned();
    if !key.is_empty()
        && let Err(why) = validate_key(&key)
    {
        return text(StatusCode::BAD_REQUEST, why);
    }
    match *req.method() {
        Method::GET if ctx.query.has("keys") => get_keys(&ctx, &key).await,
        Method::GET => get(&ctx, &key).await,
        Method::PUT => put(&ctx, &key, req).await,
        Method::DELETE => delete(&ctx, &key),
        ref other => method_not_allowed(other),
    }
}

async fn get(ctx: &Ctx, key: &str) -> Response {
    if ctx.query.has("recurse") {
        let result = ctx
            .blocking(
                |s, authz| {
                    let entries: Vec<(String, Entry)> =
                        s.kv.under(key)
                            .filter(|(k, _)| authz.key_read(k))
                            .map(|(k, e)| (k.clone(), e.clone()))
                            .collect();
                    (s.kv.prefix_index(key), entries)
                },
                index_passed,
            )
            .await;
        let (index, entries) = match result {
            Ok(r) => r,
            Err(resp) => return resp.into(),
        };
        if entries.is_empty() {
            return with_meta(empty(StatusCode::NOT_FOUND), index);
        }
        let body: Vec<EntryJson<'_>> = entries
            .iter()
            .map(|(k, e)| EntryJson::new(k, e, true))
            .collect();
        return with_meta(json(StatusCode::OK, &body, &ctx.query), index);
    }
    if key.is_empty() {
        return text(StatusCode::BAD_REQUEST, "Missing key name");
    }
    if !ctx.authz.key_read(key) {
        return permission_denied();
    }
    let result = ctx
        .blocking(
            |s, _| (s.kv.key_index(key), s.kv.entries.get(key).cloned()),
            index_passed,
        )
        .await;
    let (index, entry) = match result {
        Ok(r) => r,
        Err(resp) => return resp.into(),
    };
    let Some(entry) = entry else {
        return with_meta(empty(StatusCode::NOT_FOUND), index);
    };
    if ctx.query.has("raw") {
        let body = entry.value.unwrap_or_default();
        let mut resp = Response::new(Body::from(body));
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        h.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            "content-security-policy",
            HeaderValue::from_static("sandbox"),
        );
        return with_meta(resp, index);
    }
    let body = [EntryJson::new(key, &entry, true)];
    with_meta(json(StatusCode::OK, &body, &ctx.query), index)
}

async fn get_keys(ctx: &Ctx, prefix: &str) -> Response {
    // Consul still honours its historic misspelling; the right spelling wins when both are sent.
    let separator = ctx
        .query
        .get("separator")
        .or_else(|| ctx.query.get("seperator"))
        .unwrap_or("")
        .to_owned();
    let result = ctx
        .blocking(
            |s, authz| {
                let keys: Vec<String> =
                    s.kv.keys(prefix, &separator)
                        .into_iter()
                        .filter(|k| authz.key_read(k))
                        .collect();
                (s.kv.prefix_index(prefix), keys)
            },
            index_passed,
        )
        .await;
    let (index, keys) = match result {
        Ok(r) => r,
        Err(resp) => return resp.into(),
    };
    if keys.is_empty() && !prefix.is_empty() {
        return with_meta(empty(StatusCode::NOT_FOUND), index);
    }
    with_meta(json(StatusCode::OK, &keys, &ctx.query), index)
}

/// Answers `400 Conflicting flags` when more than one of `flags` is present.
fn conflicting(ctx: &Ctx, flags: &[&str]) -> Option<Response> {
    let present = flags.iter().filter(|f| ctx.query.has(f)).count();
    (present > 1).then(|| {
        text(
            StatusCode::BAD_REQUEST,
            format!("Conflicting flags: {}\n", ctx.query.encode()),
        )
    })
}

/// Parses an unsigned query value with Go's `strconv.ParseUint` error wording.
fn parse_uint(ctx: &Ctx, name: &str) -> Result<Option<u64>, Reject> {
    if !ctx.query.has(name) {
        return Ok(None);
    }
    let raw = ctx.query.get(name).unwrap_or("");
    raw.parse::<u64>().map(Some).map_err(|_| {
        reject(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("strconv.ParseUint: parsing {raw:?}: invalid syntax"),
        )
    })
}

fn too_large(len: usize) -> Response {
    text(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "Request body({len} bytes) too large, max size: {MAX_VALUE_SIZE} bytes. See \
             https://developer.hashicorp.com/docs/agent/config/config-files#kv_max_value_size."
        ),
    )
}

fn bool_json(ctx: &Ctx, value: bool) -> Response {
    json(StatusCode::OK, &value, &ctx.query)
}

enum PutOp {
    Set,
    Cas(u64),
    Acquire(String),
    Release(String),
}

async fn put(ctx: &Ctx, key: &str, req: Request) -> Response {
    if key.is_empty() {
        return text(StatusCode::BAD_REQUEST, "Missing key name");
    }
    if let Some(resp) = conflicting(ctx, &["cas", "acquire", "release"]) {
        return resp;
    }
    let flags = match parse_uint(ctx, "flags") {
        Ok(f) => f.unwrap_or(0),
        Err(resp) => return resp.into(),
    };
    let op = match parse_uint(ctx, "cas") {
        Err(resp) => return resp.into(),
        Ok(Some(cas)) => PutOp::Cas(cas),
        Ok(None) if ctx.query.has("acquire") => {
            PutOp::Acquire(ctx.query.get("acquire").unwrap_or("").to_owned())
        }
        Ok(None) if ctx.query.has("release") => {
            PutOp::Release(ctx.query.get("release").unwrap_or("").to_owned())
        }
        Ok(None) => PutOp::Set,
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(len) = declared.filter(|len| *len > MAX_VALUE_SIZE) {
        return too_large(len);
    }
    let body = match axum::body::to_bytes(req.into_body(), MAX_VALUE_SIZE + 1).await {
        Ok(b) if b.len() > MAX_VALUE_SIZE => return too_large(b.len()),
        Ok(b) => b,
        Err(_) => return too_large(MAX_VALUE_SIZE + 1),
    };
    if !ctx.authz.key_write(key) {
        return permission_denied();
    }
    let write = Write {
        value: (!body.is_empty()).then(|| body.to_vec()),
        flags,
    };
    let outcome = ctx.shared.write(|state, now| {
        let idx = state.next_index();
        let before = state.kv.table_index;
        let result = match op {
            PutOp::Set => {
                state.kv.set(key, write, idx);
                Ok(true)
            }
            PutOp::Cas(cas) => Ok(state.kv.cas(key, write, cas, idx)),
            PutOp::Acquire(session) => {
                if state.in_lock_delay(key, now) {
                    Ok(false)
                } else if session.is_empty() {
                    Err("missing session".to_owned())
                } else if !state.sessions.contains_key(&session) {
                    Err(format!("invalid session {session:?}"))
                } else {
                    Ok(state.kv.lock(key, write, &session, idx))
                }
            }
            PutOp::Release(session) => {
                if session.is_empty() {
                    Err("missing session".to_owned())
                } else {
                    Ok(state.kv.unlock(key, write, &session, idx))
                }
            }
        };
        if state.kv.table_index != before {
            state.index = idx;
        }
        result
    });
    match outcome {
        Ok(done) => bool_json(ctx, done),
        Err(why) => text(StatusCode::INTERNAL_SERVER_ERROR, why),
    }
}

fn delete(ctx: &Ctx, key: &str) -> Response {
    if let Some(resp) = conflicting(ctx, &["recurse", "cas"]) {
        return resp;
    }
    let recurse = ctx.query.has("recurse");
    if !recurse && key.is_empty() {
        return text(StatusCode::BAD_REQUEST, "Missing key name");
    }
    let cas = match parse_uint(ctx, "cas") {
        Ok(c) => c,
        Err(resp) => return resp.into(),
    };
    let allowed = if recurse {
        ctx.authz.key_write_prefix(key)
    } else {
        ctx.authz.key_write(key)
    };
    if !allowed {
        return permission_denied();
    }
    let result = ctx.shared.write(|state, _| {
        let idx = state.next_index();
        let (answer, changed) = match cas {
            Some(cas) => state.kv.delete_cas(key, cas, idx),
            None if recurse => (true, state.kv.delete_tree(key, idx)),
            None => (true, state.kv.delete(key, idx)),
        };
        if changed {
            state.index = idx;
        }
        answer
    });
    bool_json(ctx, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_validation_matches_consul_wording() {
        assert!(validate_key("deploys/app/prod/history/00000000000000000001").is_ok());
        assert_eq!(
            validate_key("a b"),
            Err(
                "key contains invalid characters. Only alphanumeric characters and ,-_./ are allowed"
            )
        );
        assert_eq!(
            validate_key("a/../b"),
            Err("key contains path traversal sequence")
        );
        assert!(validate_key("/a").is_err());
        assert!(validate_key("cfg/app.json").is_err());
        assert!(validate_key("v1.2").is_ok());
    }
}
