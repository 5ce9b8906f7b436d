//! Transactions: results, rollback, Consul's error wording, limits.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::util::{Answer, Harness, start};

fn b64(s: &str) -> String {
    BASE64.encode(s)
}

async fn txn(h: &Harness, ops: &Value) -> Answer {
    h.put("/v1/txn", &ops.to_string()).await
}

#[tokio::test]
async fn successful_txn_answers_results_without_values_for_writes() {
    let h = start().await;
    let a = txn(
        &h,
        &json!([
            {"KV": {"Verb": "set", "Key": "t/a", "Value": b64("1"), "Flags": 7}},
            {"KV": {"Verb": "get", "Key": "t/a"}},
        ]),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let body = a.json();
    assert_eq!(body["Errors"], Value::Null);
    let results = body["Results"].as_array().cloned().unwrap_or_default();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["KV"]["Value"], Value::Null);
    assert_eq!(results[0]["KV"]["Flags"], json!(7));
    assert_eq!(results[1]["KV"]["Value"], json!(b64("1")));
    // Both ops ran at the same index.
    assert_eq!(
        results[0]["KV"]["ModifyIndex"],
        results[1]["KV"]["ModifyIndex"]
    );
}

#[tokio::test]
async fn failed_check_rolls_back_everything_and_names_the_op() {
    let h = start().await;
    h.put("/v1/kv/cur", "v1").await;
    let index = h.entry("cur").await["ModifyIndex"].as_u64().unwrap_or(0);
    let a = txn(
        &h,
        &json!([
            {"KV": {"Verb": "set", "Key": "prev", "Value": b64("v1")}},
            {"KV": {"Verb": "check-index", "Key": "cur", "Index": index + 100}},
            {"KV": {"Verb": "set", "Key": "cur", "Value": b64("v2")}},
        ]),
    )
    .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
    assert_eq!(
        a.json(),
        json!({"Results": null, "Errors": [{"OpIndex": 1, "What": format!("current modify index {index} != {}", index + 100)}]})
    );
    let snap = h.control.kv_snapshot();
    assert_eq!(snap.keys().collect::<Vec<_>>(), vec!["cur"]);
    assert_eq!(snap.get("cur").map(Vec::as_slice), Some(&b"v1"[..]));
}

#[tokio::test]
async fn error_wording_matches_consul_for_each_verb() {
    let h = start().await;
    let s1 = h.session("").await;
    let s2 = h.session("").await;
    h.put("/v1/kv/exists", "x").await;
    h.put(&format!("/v1/kv/locked?acquire={s1}"), "x").await;
    let cases = [
        (
            json!({"Verb": "get", "Key": "nope"}),
            r#"key "nope" doesn't exist"#.to_owned(),
        ),
        (
            json!({"Verb": "check-not-exists", "Key": "exists"}),
            r#"key "exists" exists"#.to_owned(),
        ),
        (
            json!({"Verb": "cas", "Key": "exists", "Index": 0}),
            r#"failed to set key "exists", index is stale"#.to_owned(),
        ),
        (
            json!({"Verb": "delete-cas", "Key": "exists", "Index": 1}),
            r#"failed to delete key "exists", index is stale"#.to_owned(),
        ),
        (
            json!({"Verb": "lock", "Key": "locked", "Session": s2}),
            r#"failed to lock key "locked", lock is already held"#.to_owned(),
        ),
        (
            json!({"Verb": "unlock", "Key": "locked", "Session": s2}),
            r#"failed to unlock key "locked", lock isn't held, or is held by another session"#
                .to_owned(),
        ),
        (
            json!({"Verb": "lock", "Key": "other", "Session": "ghost"}),
            r#"invalid session "ghost""#.to_owned(),
        ),
        (
            json!({"Verb": "check-session", "Key": "locked", "Session": s2}),
            format!(r#"current session "{s1}" != "{s2}""#),
        ),
        (
            json!({"Verb": "frobnicate", "Key": "exists"}),
            r#"unknown KV verb "frobnicate""#.to_owned(),
        ),
    ];
    for (op, want) in cases {
        let a = txn(&h, &json!([{"KV": op}])).await;
        assert_eq!(a.status, StatusCode::CONFLICT, "{op}");
        assert_eq!(a.json()["Errors"][0]["What"], json!(want), "{op}");
    }
}

#[tokio::test]
async fn fenced_release_txn_checks_session_sets_and_unlocks() {
    let h = start().await;
    let s = h.session("").await;
    h.put(&format!("/v1/kv/d/lock?acquire={s}"), "holder").await;
    h.put("/v1/kv/d/current", "v1").await;
    let cur = h.entry("d/current").await["ModifyIndex"]
        .as_u64()
        .unwrap_or(0);
    let a = txn(
        &h,
        &json!([
            {"KV": {"Verb": "check-session", "Key": "d/lock", "Session": s}},
            {"KV": {"Verb": "check-index", "Key": "d/current", "Index": cur}},
            {"KV": {"Verb": "set", "Key": "d/current", "Value": b64("v2")}},
            {"KV": {"Verb": "set", "Key": "d/previous", "Value": b64("v1")}},
            {"KV": {"Verb": "unlock", "Key": "d/lock", "Session": s}},
        ]),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let lock = h.entry("d/lock").await;
    assert!(lock.get("Session").is_none());
    assert_eq!(
        h.control.kv_snapshot().get("d/current").map(Vec::as_slice),
        Some(&b"v2"[..])
    );
}

#[tokio::test]
async fn more_than_128_ops_is_413() {
    let h = start().await;
    let ops: Vec<Value> = (0..129)
        .map(|i| json!({"KV": {"Verb": "set", "Key": format!("k{i}"), "Value": b64("x")}}))
        .collect();
    let a = txn(&h, &Value::Array(ops.clone())).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        a.body,
        "Transaction contains too many operations (129 > 128)"
    );
    assert!(h.control.kv_snapshot().is_empty());
    let a = txn(&h, &Value::Array(ops[..128].to_vec())).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(h.control.kv_snapshot().len(), 128);
}

#[tokio::test]
async fn oversized_txn_body_is_413() {
    let h = start().await;
    let big = BASE64.encode(vec![b'x'; 512 * 1024]);
    let a = txn(
        &h,
        &json!([{"KV": {"Verb": "set", "Key": "big", "Value": big}}]),
    )
    .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(a.body.starts_with("Request body("), "{}", a.body);
}

#[tokio::test]
async fn txn_lock_during_lock_delay_fails_with_consul_wording() {
    let h = start().await;
    let a = h.session("").await;
    let b = h.session("").await;
    h.put(&format!("/v1/kv/l?acquire={a}"), "a").await;
    h.control.invalidate_session(&a);
    let ans = txn(
        &h,
        &json!([{"KV": {"Verb": "lock", "Key": "l", "Session": b}}]),
    )
    .await;
    assert_eq!(ans.status, StatusCode::CONFLICT);
    assert_eq!(
        ans.json()["Errors"][0]["What"],
        json!(r#"failed to lock key "l" due to lock delay"#)
    );
}

#[tokio::test]
async fn read_only_txn_carries_leader_headers() {
    let h = start().await;
    h.put("/v1/kv/r/a", "1").await;
    h.put("/v1/kv/r/b", "2").await;
    let a = txn(&h, &json!([{"KV": {"Verb": "get-tree", "Key": "r/"}}])).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("x-consul-knownleader"), Some("true"));
    let keys: Vec<Value> = a.json()["Results"]
        .as_array()
        .map(|r| r.iter().map(|x| x["KV"]["Key"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(keys, vec![json!("r/a"), json!("r/b")]);
}

#[tokio::test]
async fn malformed_txn_body_is_400() {
    let h = start().await;
    let a = h.put("/v1/txn", "{nope").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.starts_with("Failed to parse body: "), "{}", a.body);
    let a = txn(
        &h,
        &json!([{"KV": {"Verb": "set", "Key": "k", "Value": "!!not base64"}}]),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}
