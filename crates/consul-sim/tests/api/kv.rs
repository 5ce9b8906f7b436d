//! KV: PUT answers, cas, reads, headers, recurse, keys, raw, limits, blocking queries.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::util::start;

#[tokio::test]
async fn put_answers_true_and_get_returns_consul_entry_shape() {
    let h = start().await;
    let a = h.put("/v1/kv/app/config?flags=42", "hello").await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "true"));
    assert_eq!(a.header("content-type"), Some("application/json"));

    let a = h.get("/v1/kv/app/config").await;
    assert_eq!(a.status, StatusCode::OK);
    let index = a.index();
    assert!(index > 0);
    assert_eq!(
        a.json(),
        json!([{"LockIndex": 0, "Key": "app/config", "Flags": 42, "Value": "aGVsbG8=",
                "CreateIndex": index, "ModifyIndex": index}])
    );
    // Field order as Consul writes it, and no Session field when no session holds the key.
    assert!(a.body.starts_with(
        r#"[{"LockIndex":0,"Key":"app/config","Flags":42,"Value":"aGVsbG8=","CreateIndex""#
    ));
}

#[tokio::test]
async fn empty_value_is_null() {
    let h = start().await;
    h.put("/v1/kv/empty", "").await;
    assert_eq!(h.entry("empty").await["Value"], serde_json::Value::Null);
}

#[tokio::test]
async fn missing_key_is_404_with_index_headers() {
    let h = start().await;
    h.put("/v1/kv/other", "x").await;
    let a = h.get("/v1/kv/missing").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(a.body, "");
    assert!(a.index() >= 1);
    assert_eq!(a.header("x-consul-knownleader"), Some("true"));
    assert_eq!(a.header("x-consul-lastcontact"), Some("0"));
}

#[tokio::test]
async fn cas_zero_creates_only_and_cas_n_must_match_modify_index() {
    let h = start().await;
    assert_eq!(h.put("/v1/kv/k?cas=0", "a").await.body, "true");
    assert_eq!(h.put("/v1/kv/k?cas=0", "b").await.body, "false");
    let index = h.entry("k").await["ModifyIndex"].as_u64().unwrap_or(0);
    assert_eq!(
        h.put(&format!("/v1/kv/k?cas={}", index + 7), "c")
            .await
            .body,
        "false"
    );
    assert_eq!(
        h.put(&format!("/v1/kv/k?cas={index}"), "d").await.body,
        "true"
    );
    assert_eq!(
        h.control.kv_snapshot().get("k").map(Vec::as_slice),
        Some(&b"d"[..])
    );
}

#[tokio::test]
async fn combined_cas_and_acquire_is_400() {
    let h = start().await;
    let a = h.put("/v1/kv/k?cas=0&acquire=abc", "x").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.starts_with("Conflicting flags: "), "{}", a.body);
    assert!(h.control.kv_snapshot().is_empty());
}

#[tokio::test]
async fn bad_flags_value_is_rejected_with_go_wording() {
    let h = start().await;
    let a = h.put("/v1/kv/k?flags=abc", "x").await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        a.body,
        r#"strconv.ParseUint: parsing "abc": invalid syntax"#
    );
}

#[tokio::test]
async fn value_over_512_kib_is_413_and_exactly_512_kib_is_stored() {
    let h = start().await;
    let limit = 512 * 1024;
    let big = vec![b'x'; limit + 1];
    let a = h.send(Method::PUT, "/v1/kv/big", Some(big), &[]).await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        a.body
            .starts_with("Request body(524289 bytes) too large, max size: 524288 bytes."),
        "{}",
        a.body
    );
    assert!(h.control.kv_snapshot().is_empty());
    let fits = vec![b'y'; limit];
    let a = h.send(Method::PUT, "/v1/kv/fits", Some(fits), &[]).await;
    assert_eq!(a.body, "true");
}

#[tokio::test]
async fn recurse_is_sorted_by_key_and_flags_count_by_presence() {
    let h = start().await;
    for key in ["p/c", "p/a", "p/b/x", "q"] {
        h.put(&format!("/v1/kv/{key}"), key).await;
    }
    for flag in ["recurse", "recurse=1", "recurse=true", "recurse=false"] {
        let a = h.get(&format!("/v1/kv/p/?{flag}")).await;
        let keys: Vec<String> = a
            .json()
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|e| e["Key"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(keys, vec!["p/a", "p/b/x", "p/c"], "with ?{flag}");
    }
    let a = h.get("/v1/kv/nothing/?recurse").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.index() >= 1);
}

#[tokio::test]
async fn keys_with_separator_roll_up_folders() {
    let h = start().await;
    for key in ["d/a/1", "d/a/2", "d/b", "e"] {
        h.put(&format!("/v1/kv/{key}"), "x").await;
    }
    assert_eq!(
        h.get("/v1/kv/d/?keys&separator=/").await.json(),
        json!(["d/a/", "d/b"])
    );
    assert_eq!(
        h.get("/v1/kv/?keys&separator=/").await.json(),
        json!(["d/", "e"])
    );
    assert_eq!(
        h.get("/v1/kv/d?keys").await.json(),
        json!(["d/a/1", "d/a/2", "d/b"])
    );
    assert_eq!(h.get("/v1/kv/zz?keys").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn raw_returns_the_bare_value() {
    let h = start().await;
    h.put("/v1/kv/tag", "v1.2.3").await;
    let a = h.get("/v1/kv/tag?raw").await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "v1.2.3"));
    assert_eq!(a.header("content-type"), Some("text/plain"));
    assert!(a.index() > 0);
}

#[tokio::test]
async fn delete_answers_true_even_for_missing_key_and_advances_prefix_index() {
    let h = start().await;
    h.put("/v1/kv/pre/a", "1").await;
    h.put("/v1/kv/pre/b", "1").await;
    let before = h.get("/v1/kv/pre/?recurse").await.index();
    assert_eq!(h.delete("/v1/kv/pre/a").await.body, "true");
    assert_eq!(h.delete("/v1/kv/never").await.body, "true");
    let after = h.get("/v1/kv/pre/?recurse").await.index();
    assert!(after > before, "{after} > {before}");
}

#[tokio::test]
async fn delete_with_cas_mismatch_answers_false_and_keeps_key() {
    let h = start().await;
    h.put("/v1/kv/k", "1").await;
    let index = h.entry("k").await["ModifyIndex"].as_u64().unwrap_or(0);
    assert_eq!(
        h.delete(&format!("/v1/kv/k?cas={}", index + 1)).await.body,
        "false"
    );
    assert!(h.control.kv_snapshot().contains_key("k"));
    assert_eq!(
        h.delete(&format!("/v1/kv/k?cas={index}")).await.body,
        "true"
    );
    assert!(h.control.kv_snapshot().is_empty());
}

#[tokio::test]
async fn delete_recurse_removes_the_tree_only() {
    let h = start().await;
    for key in ["t/a", "t/b/c", "tx"] {
        h.put(&format!("/v1/kv/{key}"), "x").await;
    }
    assert_eq!(h.delete("/v1/kv/t/?recurse").await.body, "true");
    assert_eq!(
        h.control.kv_snapshot().keys().collect::<Vec<_>>(),
        vec!["tx"]
    );
}

#[tokio::test]
async fn missing_key_name_and_bad_keys_are_400() {
    let h = start().await;
    let a = h.put("/v1/kv/", "x").await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (StatusCode::BAD_REQUEST, "Missing key name")
    );
    let a = h.put("/v1/kv/a%20b", "x").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        a.body.starts_with("key contains invalid characters"),
        "{}",
        a.body
    );
    let a = h.put("/v1/kv/a/..%2Fb", "x").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(h.control.kv_snapshot().is_empty());
}

#[tokio::test]
async fn blocking_query_wakes_on_write_to_its_key_and_not_before() {
    let h = start().await;
    h.put("/v1/kv/watched", "1").await;
    let index = h.get("/v1/kv/watched").await.index();
    let url = format!("{}/v1/kv/watched?index={index}&wait=30s", h.sim.url());
    let http = h.http.clone();
    let waiter = tokio::spawn(async move {
        let resp = http.get(url).send().await.expect("answered");
        let idx = resp
            .headers()
            .get("x-consul-index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        (idx, resp.text().await.unwrap_or_default())
    });
    // A write elsewhere does not wake a query on an existing key.
    h.put("/v1/kv/unrelated", "x").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiter.is_finished(), "woke before its key changed");
    h.put("/v1/kv/watched", "2").await;
    let (idx, body) = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("woke after the write")
        .expect("task ran");
    assert!(idx.is_some_and(|i| i > index));
    assert!(body.contains(r#""Value":"Mg==""#), "{body}");
}

#[tokio::test]
async fn blocking_query_on_an_empty_store_wakes_on_the_first_write() {
    let h = start().await;
    let missing = h.get("/v1/kv/first").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let index = missing.index();
    let url = format!("{}/v1/kv/first?index={index}&wait=30s", h.sim.url());
    let http = h.http.clone();
    let waiter = tokio::spawn(async move {
        let resp = http.get(url).send().await.expect("answered");
        let idx = resp
            .headers()
            .get("x-consul-index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        (resp.status(), idx)
    });
    h.put("/v1/kv/first", "1").await;
    let (status, idx) = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the first write wakes a query on the index an empty store answered")
        .expect("task ran");
    assert_eq!(status, StatusCode::OK);
    assert!(idx.is_some_and(|i| i > index), "{idx:?} > {index}");
}

#[tokio::test]
async fn blocking_query_times_out_with_same_index() {
    let h = start().await;
    h.put("/v1/kv/quiet", "1").await;
    let index = h.get("/v1/kv/quiet").await.index();
    let a = h
        .get(&format!("/v1/kv/quiet?index={index}&wait=50ms"))
        .await;
    assert_eq!((a.status, a.index()), (StatusCode::OK, index));
}

#[tokio::test]
async fn blocking_query_returns_when_index_is_reset() {
    let h = start().await;
    for i in 0..5 {
        h.put("/v1/kv/r", &i.to_string()).await;
    }
    let index = h.get("/v1/kv/r").await.index();
    let url = format!("{}/v1/kv/r?index={index}&wait=30s", h.sim.url());
    let http = h.http.clone();
    let waiter = tokio::spawn(async move {
        http.get(url).send().await.map(|r| {
            r.headers()
                .get("x-consul-index")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
        })
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    h.control.reset_index(2);
    let idx = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("woke on reset")
        .expect("task ran")
        .expect("answered");
    assert_eq!(idx, Some(2));
}

#[tokio::test]
async fn invalid_wait_and_index_are_400() {
    let h = start().await;
    let a = h.get("/v1/kv/x?index=1&wait=soon").await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (StatusCode::BAD_REQUEST, "Invalid wait time")
    );
    let a = h.get("/v1/kv/x?index=abc").await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (StatusCode::BAD_REQUEST, "Invalid index")
    );
}

#[tokio::test]
async fn stale_and_consistent_together_are_400() {
    let h = start().await;
    let a = h.get("/v1/kv/x?stale&consistent").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_datacenter_is_500_no_path() {
    let h = start().await;
    let a = h.get("/v1/kv/x?dc=elsewhere").await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (StatusCode::INTERNAL_SERVER_ERROR, "No path to datacenter")
    );
    assert_eq!(h.get("/v1/kv/x?dc=dc1").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn enterprise_namespace_is_refused_like_open_source_consul() {
    let h = start().await;
    let a = h.get("/v1/kv/x?ns=team").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        a.body
            .contains("Namespaces are a Consul Enterprise feature"),
        "{}",
        a.body
    );
    assert_eq!(
        h.get("/v1/kv/x?ns=default").await.status,
        StatusCode::NOT_FOUND
    );
}
