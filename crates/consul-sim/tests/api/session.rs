//! Sessions, locks, LockIndex, lock-delay, TTL expiry on the sim clock.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::util::start;

#[tokio::test]
async fn session_info_has_consul_fields_and_defaults() {
    let h = start().await;
    let id = h.session(r#"{"Name":"deploy","TTL":"30s"}"#).await;
    let a = h.get(&format!("/v1/session/info/{id}")).await;
    assert_eq!(a.status, StatusCode::OK);
    let s = &a.json()[0];
    assert_eq!(s["ID"], json!(id));
    assert_eq!(s["Name"], "deploy");
    assert_eq!(s["Node"], "consul-sim");
    assert_eq!(s["LockDelay"], json!(15_000_000_000u64));
    assert_eq!(s["Behavior"], "release");
    assert_eq!(s["TTL"], "30s");
    assert_eq!(s["NodeChecks"], json!(["serfHealth"]));
    assert_eq!(s["ServiceChecks"], serde_json::Value::Null);
    assert!(s["CreateIndex"].as_u64().is_some_and(|i| i > 0));
    assert!(a.index() > 0);
}

#[tokio::test]
async fn session_fields_are_case_insensitive() {
    let h = start().await;
    let id = h
        .session(r#"{"name":"x","ttl":"15s","lockdelay":"2s","behavior":"delete"}"#)
        .await;
    let s = h.get(&format!("/v1/session/info/{id}")).await.json()[0].clone();
    assert_eq!(
        (s["Name"].clone(), s["TTL"].clone()),
        (json!("x"), json!("15s"))
    );
    assert_eq!(s["LockDelay"], json!(2_000_000_000u64));
    assert_eq!(s["Behavior"], "delete");
}

#[tokio::test]
async fn numeric_lock_delay_below_1000_is_seconds() {
    let h = start().await;
    let id = h.session(r#"{"LockDelay":5}"#).await;
    let s = h.get(&format!("/v1/session/info/{id}")).await.json()[0].clone();
    assert_eq!(s["LockDelay"], json!(5_000_000_000u64));
}

#[tokio::test]
async fn ttl_outside_bounds_and_bad_behavior_are_refused() {
    let h = start().await;
    let a = h.put("/v1/session/create", r#"{"TTL":"5s"}"#).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        a.body,
        "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]"
    );
    let a = h
        .put("/v1/session/create", r#"{"Behavior":"explode"}"#)
        .await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Invalid Behavior setting 'explode'"
        )
    );
    let a = h.put("/v1/session/create", "{not json").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.starts_with("Request decode failed: "));
}

#[tokio::test]
async fn unknown_session_info_is_empty_list_and_renew_is_404() {
    let h = start().await;
    let a = h
        .get("/v1/session/info/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "[]"));
    assert!(a.index() >= 1);
    let a = h.put("/v1/session/renew/nope", "").await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (StatusCode::NOT_FOUND, "Session id 'nope' not found")
    );
}

#[tokio::test]
async fn acquire_free_key_sets_lock_index_and_session() {
    let h = start().await;
    let id = h.session("").await;
    assert_eq!(
        h.put(&format!("/v1/kv/lock?acquire={id}"), "holder")
            .await
            .body,
        "true"
    );
    let e = h.entry("lock").await;
    assert_eq!(
        (e["LockIndex"].clone(), e["Session"].clone()),
        (json!(1), json!(id))
    );
}

#[tokio::test]
async fn acquire_by_same_session_updates_value_and_keeps_lock_index() {
    let h = start().await;
    let id = h.session("").await;
    h.put(&format!("/v1/kv/lock?acquire={id}"), "one").await;
    assert_eq!(
        h.put(&format!("/v1/kv/lock?acquire={id}"), "two")
            .await
            .body,
        "true"
    );
    let e = h.entry("lock").await;
    assert_eq!(
        (e["LockIndex"].clone(), e["Value"].clone()),
        (json!(1), json!("dHdv"))
    );
}

#[tokio::test]
async fn acquire_held_by_other_answers_false() {
    let h = start().await;
    let a = h.session("").await;
    let b = h.session("").await;
    h.put(&format!("/v1/kv/lock?acquire={a}"), "a").await;
    assert_eq!(
        h.put(&format!("/v1/kv/lock?acquire={b}"), "b").await.body,
        "false"
    );
    assert_eq!(h.entry("lock").await["Session"], json!(a));
}

#[tokio::test]
async fn acquire_with_unknown_session_is_500_invalid_session() {
    let h = start().await;
    let a = h.put("/v1/kv/lock?acquire=ghost", "x").await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"invalid session "ghost""#
        )
    );
}

#[tokio::test]
async fn release_by_non_holder_is_false_and_by_holder_frees_the_key() {
    let h = start().await;
    let a = h.session("").await;
    let b = h.session("").await;
    h.put(&format!("/v1/kv/lock?acquire={a}"), "a").await;
    assert_eq!(
        h.put(&format!("/v1/kv/lock?release={b}"), "b").await.body,
        "false"
    );
    assert_eq!(
        h.put(&format!("/v1/kv/lock?release={a}"), "done")
            .await
            .body,
        "true"
    );
    let e = h.entry("lock").await;
    assert!(e.get("Session").is_none());
    assert_eq!(e["LockIndex"], json!(1));
    // Release sets no lock-delay: the other session may take it at once, and LockIndex grows.
    assert_eq!(
        h.put(&format!("/v1/kv/lock?acquire={b}"), "b").await.body,
        "true"
    );
    assert_eq!(h.entry("lock").await["LockIndex"], json!(2));
}

#[tokio::test]
async fn destroyed_session_releases_lock_and_acquire_during_lock_delay_is_false() {
    let h = start().await;
    let a = h.session(r#"{"LockDelay":"15s"}"#).await;
    let b = h.session("").await;
    h.put(&format!("/v1/kv/lock?acquire={a}"), "a").await;
    assert_eq!(
        h.put(&format!("/v1/session/destroy/{a}"), "").await.body,
        "true"
    );
    assert!(h.entry("lock").await.get("Session").is_none());
    assert_eq!(
        h.put(&format!("/v1/kv/lock?acquire={b}"), "b").await.body,
        "false"
    );
    h.control.advance_clock(Duration::from_secs(16));
    assert_eq!(
        h.put(&format!("/v1/kv/lock?acquire={b}"), "b").await.body,
        "true"
    );
}

#[tokio::test]
async fn ttl_session_expires_after_twice_its_ttl_on_the_sim_clock() {
    let h = start().await;
    let id = h.session(r#"{"TTL":"10s","LockDelay":"0s"}"#).await;
    h.put(&format!("/v1/kv/lock?acquire={id}"), "x").await;
    h.control.advance_clock(Duration::from_secs(15));
    assert_ne!(
        h.get(&format!("/v1/session/info/{id}")).await.body,
        "[]",
        "alive after 1.5×TTL"
    );
    h.control.advance_clock(Duration::from_secs(6));
    assert_eq!(h.get(&format!("/v1/session/info/{id}")).await.body, "[]");
    assert!(h.entry("lock").await.get("Session").is_none());
}

#[tokio::test]
async fn renewal_pushes_expiry_back() {
    let h = start().await;
    let id = h.session(r#"{"TTL":"10s"}"#).await;
    h.control.advance_clock(Duration::from_secs(15));
    let a = h.put(&format!("/v1/session/renew/{id}"), "").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json()[0]["ID"], json!(id));
    h.control.advance_clock(Duration::from_secs(15));
    assert_ne!(h.get(&format!("/v1/session/info/{id}")).await.body, "[]");
    h.control.advance_clock(Duration::from_secs(6));
    assert_eq!(h.get(&format!("/v1/session/info/{id}")).await.body, "[]");
}

#[tokio::test]
async fn expired_session_frees_lock_only_after_lock_delay() {
    let h = start().await;
    let a = h.session(r#"{"TTL":"10s","LockDelay":"15s"}"#).await;
    let b = h.session("").await;
    h.put(&format!("/v1/kv/lock?acquire={a}"), "a").await;
    h.control.advance_clock(Duration::from_secs(21));
    assert_eq!(
        h.put(&format!("/v1/kv/lock?acquire={b}"), "b").await.body,
        "false"
    );
    h.control.advance_clock(Duration::from_secs(14));
    assert_eq!(
        h.put(&format!("/v1/kv/lock?acquire={b}"), "b").await.body,
        "false"
    );
    h.control.advance_clock(Duration::from_secs(2));
    assert_eq!(
        h.put(&format!("/v1/kv/lock?acquire={b}"), "b").await.body,
        "true"
    );
}

#[tokio::test]
async fn behavior_delete_removes_held_keys_on_invalidation() {
    let h = start().await;
    let id = h.session(r#"{"Behavior":"delete"}"#).await;
    h.put(&format!("/v1/kv/eph?acquire={id}"), "x").await;
    h.put("/v1/kv/keep", "y").await;
    assert!(h.control.invalidate_session(&id));
    assert!(!h.control.invalidate_session(&id));
    assert_eq!(
        h.control.kv_snapshot().keys().collect::<Vec<_>>(),
        vec!["keep"]
    );
}

#[tokio::test]
async fn session_list_shows_live_sessions() {
    let h = start().await;
    let a = h.session(r#"{"Name":"a"}"#).await;
    let b = h.session(r#"{"Name":"b"}"#).await;
    h.put(&format!("/v1/session/destroy/{a}"), "").await;
    let list = h.get("/v1/session/list").await;
    let ids: Vec<_> = list
        .json()
        .as_array()
        .map(|v| v.iter().map(|s| s["ID"].clone()).collect())
        .unwrap_or_default();
    assert_eq!(ids, vec![json!(b)]);
    assert!(list.index() > 0);
}

#[tokio::test]
async fn concurrent_acquire_by_twenty_sessions_has_one_winner() {
    let h = start().await;
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(h.session("").await);
    }
    let mut tasks = Vec::new();
    for id in ids {
        let http = h.http.clone();
        let url = format!("{}/v1/kv/race?acquire={id}", h.sim.url());
        tasks.push(tokio::spawn(async move {
            http.put(url)
                .body(id)
                .send()
                .await
                .expect("answered")
                .text()
                .await
                .unwrap_or_default()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.expect("task ran") == "true" {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(h.entry("race").await["LockIndex"], json!(1));
}

#[tokio::test]
async fn unknown_node_or_check_is_refused() {
    let h = start().await;
    let a = h.put("/v1/session/create", r#"{"Node":"elsewhere"}"#).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Missing node registration"
        )
    );
    let a = h
        .put("/v1/session/create", r#"{"NodeChecks":["disk"]}"#)
        .await;
    assert_eq!(a.body, "Missing check 'disk' registration");
    // An explicit empty check list ties the session to no check at all, as Consul allows.
    let id = h.session(r#"{"Checks":[]}"#).await;
    let s = h.get(&format!("/v1/session/info/{id}")).await.json()[0].clone();
    assert_eq!(s["NodeChecks"], json!([]));
}
