//! `PUT /v1/txn`: KV transactions, all-or-nothing, with Consul's limits and error wording.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::{Method, StatusCode, header};
use serde::Serialize;
use serde_json::Value;

use crate::acl::Authz;
use crate::http::{Ctx, Reject, json, method_not_allowed, reject, text, with_leader_meta};
use crate::kv::{EntryJson, MAX_VALUE_SIZE};
use crate::shared::Shared;
use crate::state::{Entry, KvStore, Session, State as SimState, Write};

/// Consul's `maxTxnOps`.
pub(crate) const MAX_TXN_OPS: usize = 128;
/// Consul's default `txn_max_req_len` (it is never below `kv_max_value_size`).
const MAX_TXN_LEN: usize = 512 * 1024;
const TXN_LEN_DOC: &str = "https://www.consul.io/docs/agent/config/config-files#txn_max_req_len";

/// One KV operation of a transaction.
#[derive(Debug, Clone)]
struct KvOp {
    verb: String,
    key: String,
    value: Option<Vec<u8>>,
    flags: u64,
    index: u64,
    session: String,
}

impl KvOp {
    fn is_write(&self) -> bool {
        matches!(
            self.verb.as_str(),
            "set" | "delete" | "delete-cas" | "delete-tree" | "cas" | "lock" | "unlock"
        )
    }

    fn write(&self) -> Write {
        Write {
            value: self.value.clone(),
            flags: self.flags,
        }
    }
}

#[derive(Debug, Serialize)]
struct TxnError {
    #[serde(rename = "OpIndex")]
    op_index: usize,
    #[serde(rename = "What")]
    what: String,
}

#[derive(Debug, Serialize)]
struct KvResult<'a> {
    #[serde(rename = "KV")]
    kv: EntryJson<'a>,
}

#[derive(Debug, Serialize)]
struct TxnResponse<'a> {
    #[serde(rename = "Results")]
    results: Option<Vec<KvResult<'a>>>,
    #[serde(rename = "Errors")]
    errors: Option<Vec<TxnError>>,
}

fn parse_failed(why: impl std::fmt::Display) -> Reject {
    reject(
        StatusCode::BAD_REQUEST,
        format!("Failed to parse body: {why}"),
    )
}

fn field<'a>(obj: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn wrong_type(field_name: &str, want: &str, got: &Value) -> Reject {
    let kind = match got {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    parse_failed(format!(
        "json: cannot unmarshal {kind} into Go struct field KVTxnOp.KV.{field_name} of type {want}"
    ))
}

fn parse_op(op: &Value) -> Result<KvOp, Reject> {
    let Value::Object(op) = op else {
        return Err(parse_failed(
            "json: cannot unmarshal into Go value of type api.TxnOp",
        ));
    };
    let Some(kv) = field(op, "KV") else {
        return Err(parse_failed(
            "consul-sim supports only KV operations in transactions",
        ));
    };
    let Value::Object(kv) = kv else {
        return Err(wrong_type("KV", "api.KVTxnOp", kv));
    };
    let string = |name: &str| -> Result<String, Reject> {
        match field(kv, name) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(wrong_type(name, "string", other)),
        }
    };
    let number = |name: &str| -> Result<u64, Reject> {
        match field(kv, name) {
            None | Some(Value::Null) => Ok(0),
            Some(Value::Number(n)) => n
                .as_u64()
                .ok_or_else(|| wrong_type(name, "uint64", &Value::Number(n.clone()))),
            Some(other) => Err(wrong_type(name, "uint64", other)),
        }
    };
    let value = match field(kv, "Value") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let decoded = BASE64
                .decode(s)
                .map_err(|e| parse_failed(format!("failed to decode value: {e}")))?;
            (!decoded.is_empty()).then_some(decoded)
        }
        Some(other) => {
            return Err(parse_failed(format!(
                "unexpected value type: {}",
                if other.is_number() {
                    "float64"
                } else {
                    "other"
                }
            )));
        }
    };
    Ok(KvOp {
        verb: string("Verb")?,
        key: string("Key")?,
        value,
        flags: number("Flags")?,
        index: number("Index")?,
        session: string("Session")?,
    })
}

/// Consul's `kvsPreApply`: key presence, ACL and lock-delay, checked for every op first.
fn pre_check(ops: &[KvOp], authz: &Authz, state: &SimState, now: Instant) -> Vec<TxnError> {
    let mut errors = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let fail = |what: String| TxnError { op_index: i, what };
        if op.key.is_empty() && op.verb != "delete-tree" {
            errors.push(fail("Must provide key".to_owned()));
            continue;
        }
        let allowed = match op.verb.as_str() {
            "delete-tree" => authz.key_write_prefix(&op.key),
            // Reads are filtered on the way out instead.
            "get" | "get-tree" => true,
            "check-session" | "check-index" => authz.key_read(&op.key),
            _ => authz.key_write(&op.key),
        };
        if !allowed {
            errors.push(fail("Permission denied".to_owned()));
            continue;
        }
        if op.verb == "lock" && state.in_lock_delay(&op.key, now) {
            errors.push(fail(format!(
                "failed to lock key {:?} due to lock delay",
                op.key
            )));
        }
    }
    errors
}

/// What an op returns: an entry, with or without its value.
type Produced = Vec<(String, Entry, bool)>;

/// Applies one op to the scratch KV store; Consul's `txnKVS`.
fn apply_op(
    kv: &mut KvStore,
    sessions: &BTreeMap<String, Session>,
    op: &KvOp,
    idx: u64,
) -> Result<Produced, String> {
    let key = op.key.as_str();
    let entry_of = |kv: &KvStore, with_value: bool| -> Produced {
        kv.entries
            .get(key)
            .map(|e| vec![(key.to_owned(), e.clone(), with_value)])
            .unwrap_or_default()
    };
    match op.verb.as_str() {
        "set" => {
            kv.set(key, op.write(), idx);
            Ok(entry_of(kv, false))
        }
        "cas" => {
            if kv.cas(key, op.write(), op.index, idx) {
                Ok(entry_of(kv, false))
            } else {
                Err(format!("failed to set key {key:?}, index is stale"))
            }
        }
        "lock" => {
            if op.session.is_empty() {
                return Err("missing session".to_owned());
            }
            if !sessions.contains_key(&op.session) {
                return Err(format!("invalid session {:?}", op.session));
            }
            if kv.lock(key, op.write(), &op.session, idx) {
                Ok(entry_of(kv, false))
            } else {
                Err(format!("failed to lock key {key:?}, lock is already held"))
            }
        }
        "unlock" => {
            if op.session.is_empty() {
                return Err("missing session".to_owned());
            }
            if kv.unlock(key, op.write(), &op.session, idx) {
                Ok(entry_of(kv, false))
            } else {
                Err(format!(
                    "failed to unlock key {key:?}, lock isn't held, or is held by another session"
                ))
            }
        }
        "get" => match kv.entries.contains_key(key) {
            true => Ok(entry_of(kv, true)),
            false => Err(format!("key {key:?} doesn't exist")),
        },
        "get-tree" => Ok(kv
            .under(key)
            .map(|(k, e)| (k.clone(), e.clone(), true))
            .collect()),
        "check-index" => match kv.entries.get(key) {
            None => Err(format!("key {key:?} doesn't exist")),
            Some(e) if e.modify_index != op.index => Err(format!(
                "current modify index {} != {}",
                e.modify_index, op.index
            )),
            Some(_) => Ok(entry_of(kv, false)),
        },
        "check-session" => match kv.entries.get(key) {
            None => Err(format!("key {key:?} doesn't exist")),
            Some(e) if e.session.as_deref().unwrap_or("") != op.session => Err(format!(
                "current session {:?} != {:?}",
                e.session.as_deref().unwrap_or(""),
                op.session
            )),
            Some(_) => Ok(entry_of(kv, false)),
        },
        "check-not-exists" => match kv.entries.contains_key(key) {
            true => Err(format!("key {key:?} exists")),
            false => Ok(Vec::new()),
        },
        "delete" => {
            kv.delete(key, idx);
            Ok(Vec::new())
        }
        "delete-tree" => {
            kv.delete_tree(key, idx);
            Ok(Vec::new())
        }
        "delete-cas" => match kv.delete_cas(key, op.index, idx) {
            (true, _) => Ok(Vec::new()),
            (false, _) => Err(format!("failed to delete key {key:?}, index is stale")),
        },
        other => Err(format!("unknown KV verb {other:?}")),
    }
}

/// The handler of `/v1/txn`.
pub(crate) async fn endpoint(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let ctx = match Ctx::new(shared, req.uri(), req.headers()) {
        Ok(ctx) => ctx,
        Err(resp) => return resp.into(),
    };
    if req.method() != Method::PUT {
        return method_not_allowed(req.method());
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(len) = declared.filter(|len| *len > MAX_TXN_LEN) {
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "Request body({len} bytes) too large, max size: {MAX_TXN_LEN} bytes. See {TXN_LEN_DOC}."
            ),
        );
    }
    let body = match axum::body::to_bytes(req.into_body(), MAX_TXN_LEN).await {
        Ok(b) => b,
        Err(_) => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "Request body too large, max size: {MAX_TXN_LEN} bytes. See {TXN_LEN_DOC}."
                ),
            );
        }
    };
    let raw: Vec<Value> = match serde_json::from_slice(&body) {
        Ok(Value::Array(items)) => items,
        Ok(Value::Null) => Vec::new(),
        Ok(_) => {
            return parse_failed("json: cannot unmarshal object into Go value of type api.TxnOps")
                .into();
        }
        Err(e) => return parse_failed(e).into(),
    };
    if raw.len() > MAX_TXN_OPS {
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "Transaction contains too many operations ({} > {MAX_TXN_OPS})",
                raw.len()
            ),
        );
    }
    let mut ops = Vec::with_capacity(raw.len());
    for op in &raw {
        match parse_op(op) {
            Ok(op) => ops.push(op),
            Err(resp) => return resp.into(),
        }
    }
    if let Some(op) = ops
        .iter()
        .find(|op| op.value.as_ref().is_some_and(|v| v.len() > MAX_VALUE_SIZE))
    {
        let size = op.value.as_ref().map_or(0, Vec::len);
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "Value for key {:?} is too large ({size} > {MAX_VALUE_SIZE} bytes)",
                op.key
            ),
        );
    }
    let read_only = !ops.iter().any(KvOp::is_write);
    if read_only && let Err(resp) = ctx.check_consistency() {
        return resp.into();
    }

    let outcome = ctx.shared.write(|state, now| {
        let errors = pre_check(&ops, &ctx.authz, state, now);
        if !errors.is_empty() {
            return Err(errors);
        }
        let idx = state.next_index();
        let mut scratch = state.kv.clone();
        let mut produced = Vec::new();
        let mut errors = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            match apply_op(&mut scratch, &state.sessions, op, idx) {
                Ok(out) => produced.extend(out),
                Err(what) => errors.push(TxnError { op_index: i, what }),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        if scratch.table_index != state.kv.table_index {
            state.kv = scratch;
            state.index = idx;
        }
        Ok(produced)
    });

    let resp = match outcome {
        Ok(produced) => {
            let results: Vec<KvResult<'_>> = produced
                .iter()
                .filter(|(k, _, _)| ctx.authz.key_read(k))
                .map(|(k, e, with_value)| KvResult {
                    kv: EntryJson::new(k, e, *with_value),
                })
                .collect();
            let body = TxnResponse {
                results: Some(results),
                errors: None,
            };
            json(StatusCode::OK, &body, &ctx.query)
        }
        Err(errors) => {
            let body = TxnResponse {
                results: None,
                errors: Some(errors),
            };
            json(StatusCode::CONFLICT, &body, &ctx.query)
        }
    };
    if read_only {
        with_leader_meta(resp)
    } else {
        resp
    }
}
