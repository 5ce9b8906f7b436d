//! HTTP conventions shared by every endpoint: query flags by presence, tokens, Consul's
//! response headers and plain-text errors, blocking queries, Go durations.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use percent_encoding::percent_decode_str;
use serde::Serialize;

use crate::acl::Authz;
use crate::shared::{Shared, lock};
use crate::state::State;

/// The datacenter the sim claims to be.
pub(crate) const DATACENTER: &str = "dc1";
/// Default and maximum `wait` of a blocking query.
const DEFAULT_WAIT: Duration = Duration::from_secs(300);
const MAX_WAIT: Duration = Duration::from_secs(600);

/// Decoded query parameters, in order; a flag counts by presence, as Go's `url.Values` does.
#[derive(Debug, Default, Clone)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

fn decode_component(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (decode_component(k), decode_component(v)),
                None => (decode_component(p), String::new()),
            })
            .collect();
        Query { pairs }
    }

    /// Whether the parameter is present at all (`?recurse`, `?recurse=1`, `?recurse=false`).
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// The first value of the parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The parameters encoded again, sorted by key as Go's `Values.Encode` does.
    pub fn encode(&self) -> String {
        let mut pairs = self.pairs.clone();
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Decodes a request path (Consul reads keys from the decoded path).
pub(crate) fn decode_path(path: &str) -> String {
    percent_decode_str(path).decode_utf8_lossy().into_owned()
}

/// The request's token: `?token=` first, then `X-Consul-Token`, then `Authorization: Bearer`.
pub(crate) fn request_token(query: &Query, headers: &HeaderMap) -> Option<String> {
    if let Some(t) = query.get("token").filter(|t| !t.is_empty()) {
        return Some(t.to_owned());
    }
    if let Some(t) = headers
        .get("x-consul-token")
        .and_then(|v| v.to_str().ok())
        .filter(|t| !t.is_empty())
    {
        return Some(t.to_owned());
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = auth.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// A plain-text error answer, small enough to travel in a `Result`.
#[derive(Debug)]
pub(crate) struct Reject {
    status: StatusCode,
    body: String,
}

/// A plain-text error answer to send instead of the normal one.
pub(crate) fn reject(status: StatusCode, body: impl Into<String>) -> Reject {
    Reject {
        status,
        body: body.into(),
    }
}

impl From<Reject> for Response {
    fn from(r: Reject) -> Response {
        text(r.status, r.body)
    }
}

/// A plain-text answer, as Consul writes its errors.
pub(crate) fn text(status: StatusCode, body: impl Into<String>) -> Response {
    let mut resp = Response::new(Body::from(body.into()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// A JSON answer; `?pretty` indents it as Consul does.
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T, query: &Query) -> Response {
    let body = if query.has("pretty") {
        serde_json::to_string_pretty(value).map(|s| s + "\n")
    } else {
        serde_json::to_string(value)
    };
    match body {
        Ok(body) => {
            let mut resp = Response::new(Body::from(body));
            *resp.status_mut() = status;
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// An empty answer with a status (Consul's bare 404 of a missing key).
pub(crate) fn empty(status: StatusCode) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    resp
}

/// Adds the query metadata headers every read carries.
pub(crate) fn with_meta(mut resp: Response, index: u64) -> Response {
    let h = resp.headers_mut();
    h.insert("x-consul-index", HeaderValue::from(index.max(1)));
    h.insert("x-consul-knownleader", HeaderValue::from_static("true"));
    h.insert("x-consul-lastcontact", HeaderValue::from_static("0"));
    resp
}

/// Only the leader-related headers (read-only transactions carry these, not the index).
pub(crate) fn with_leader_meta(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert("x-consul-knownleader", HeaderValue::from_static("true"));
    h.insert("x-consul-lastcontact", HeaderValue::from_static("0"));
    resp
}

pub(crate) fn permission_denied() -> Response {
    text(StatusCode::FORBIDDEN, "Permission denied")
}

pub(crate) fn acl_not_found() -> Response {
    text(StatusCode::FORBIDDEN, "ACL not found")
}

pub(crate) fn method_not_allowed(method: &http::Method) -> Response {
    text(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} not allowed"),
    )
}

/// What every endpoint needs from a request.
pub(crate) struct Ctx {
    pub shared: Arc<Shared>,
    pub query: Query,
    pub authz: Authz,
}

impl Ctx {
    /// Parses the query, checks `dc`, resolves the token. `Err` is the answer to send.
    pub fn new(shared: Arc<Shared>, uri: &http::Uri, headers: &HeaderMap) -> Result<Self, Reject> {
        // Requests are also a chance to run TTL expiry, so reads never see a dead session.
        shared.expire_sessions();
        let query = Query::parse(uri.query());
        if let Some(dc) = query.get("dc").filter(|dc| !dc.is_empty())
            && dc != DATACENTER
        {
            return Err(reject(
                StatusCode::INTERNAL_SERVER_ERROR,
                "No path to datacenter",
            ));
        }
        // Open-source Consul refuses namespaces and admin partitions other than the default.
        for (param, feature) in [("ns", "Namespaces"), ("partition", "Partitions")] {
            if query
                .get(param)
                .is_some_and(|v| !v.is_empty() && v != "default")
            {
                return Err(reject(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "Invalid query parameter: \"{param}\" - {feature} are a Consul Enterprise feature"
                    ),
                ));
            }
        }
        let token = request_token(&query, headers);
        let authz = lock(&shared.acl)
            .resolve(token.as_deref())
            .map_err(|_| reject(StatusCode::FORBIDDEN, "ACL not found"))?;
        Ok(Ctx {
            shared,
            query,
            authz,
        })
    }

    /// Checks the consistency flags of a read.
    pub fn check_consistency(&self) -> Result<(), Reject> {
        if self.query.has("stale") && self.query.has("consistent") {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "Cannot specify ?stale with ?consistent, conflicting semantics.",
            ));
        }
        Ok(())
    }

    /// Runs a read as a blocking query: `compute` is re-run after each change until the index
    /// it reports passes `?index`, the wait runs out, or the index is reset.
    pub async fn blocking<T>(
        &self,
        compute: impl Fn(&State, &Authz) -> (u64, T),
        wake_when: impl Fn(u64, u64) -> bool,
    ) -> Result<(u64, T), Reject> {
        self.check_consistency()?;
        let wait = match self.query.get("wait").filter(|w| !w.is_empty()) {
            Some(w) => match parse_go_duration(w) {
                Some(nanos) if nanos >= 0 => duration_from_nanos(nanos),
                _ => return Err(reject(StatusCode::BAD_REQUEST, "Invalid wait time")),
            },
            None => DEFAULT_WAIT,
        };
        let min_index = match self.query.get("index").filter(|i| !i.is_empty()) {
            Some(i) => match i.parse::<u64>() {
                Ok(i) => i,
                Err(_) => return Err(reject(StatusCode::BAD_REQUEST, "Invalid index")),
            },
            None => 0,
        };
        let wait = if wait.is_zero() {
            DEFAULT_WAIT
        } else {
            wait.min(MAX_WAIT)
        };
        // Consul adds up to wait/16 of jitter so that many watchers do not return together.
        let jitter_cap = u64::try_from((wait / 16).as_millis()).unwrap_or(u64::MAX);
        let jitter = Duration::from_millis(fastrand::u64(0..=jitter_cap));
        let deadline = tokio::time::Instant::now() + wait + jitter;
        let start_epoch = self.shared.read(|s| s.epoch);
        loop {
            let mut changes = self.shared.changes.subscribe();
            let (index, value, epoch) = self.shared.read(|s| {
                let (i, v) = compute(s, &self.authz);
                (i.max(1), v, s.epoch)
            });
            if min_index == 0 || wake_when(index, min_index) || epoch != start_epoch {
                return Ok((index, value));
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => continue,
                // Timed out (or the server is going away): answer with what we have.
                _ => return Ok((index, value)),
            }
        }
    }
}

/// The usual blocking rule: wake once the index passes the one the client saw.
pub(crate) fn index_passed(index: u64, min: u64) -> bool {
    index > min
}

/// Parses a Go duration (`"15s"`, `"1m30s"`, `"1.5h"`, `"100ms"`, `"0"`) into nanoseconds.
pub(crate) fn parse_go_duration(s: &str) -> Option<i128> {
    let (negative, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        if num.is_empty() || num == "." {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let scale: f64 = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * scale;
        rest = next;
    }
    let nanos = total.round() as i128;
    Some(if negative { -nanos } else { nanos })
}

pub(crate) fn duration_from_nanos(nanos: i128) -> Duration {
    Duration::from_nanos(u64::try_from(nanos.max(0)).unwrap_or(u64::MAX))
}

/// A random version-4 UUID in Consul's textual form.
pub(crate) fn uuid() -> String {
    // 32 ASCII hex digits, so the slices below are always in bounds.
    let s = format!("{:032x}", fastrand::u128(..));
    // Set the version and variant nibbles so the value looks like any other v4 UUID.
    let variant = ['8', '9', 'a', 'b'][fastrand::usize(0..4)];
    format!(
        "{}-{}-4{}-{}{}-{}",
        &s[0..8],
        &s[8..12],
        &s[13..16],
        variant,
        &s[17..20],
        &s[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_like_go() {
        assert_eq!(parse_go_duration("15s"), Some(15_000_000_000));
        assert_eq!(parse_go_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_go_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_go_duration("100ms"), Some(100_000_000));
        assert_eq!(parse_go_duration("0"), Some(0));
        assert_eq!(parse_go_duration("-2s"), Some(-2_000_000_000));
        assert_eq!(parse_go_duration("15"), None);
        assert_eq!(parse_go_duration("abc"), None);
        assert_eq!(parse_go_duration(""), None);
    }

    #[test]
    fn query_flags_count_by_presence() {
        let q = Query::parse(Some("recurse&keys=&separator=%2F&x=a+b"));
        assert!(q.has("recurse") && q.has("keys"));
        assert_eq!(q.get("separator"), Some("/"));
        assert_eq!(q.get("x"), Some("a b"));
        assert!(!q.has("raw"));
    }

    #[test]
    fn uuid_has_consul_shape() {
        let id = uuid();
        let parts: Vec<usize> = id.split('-').map(str::len).collect();
        assert_eq!(parts, vec![8, 4, 4, 4, 12]);
        assert!(id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }
}
