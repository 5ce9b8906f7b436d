//! KV: every read and write, consistency modes, blocking queries and watches.

use std::time::Duration;

use consul_client::{Consistency, DeleteOptions, PutOptions, QueryOptions};
use futures_util::StreamExt;

use crate::util::{Env, wait_until};

#[tokio::test]
async fn put_then_get_returns_value_flags_and_indexes() {
    let env = Env::any().await;
    let kv = env.client.kv();
    let key = env.key("greeting");
    assert!(
        kv.put(&key, b"hello", &PutOptions::new().flags(42))
            .await
            .expect("put")
    );
    let (pair, meta) = kv.get(&key, &QueryOptions::new()).await.expect("get");
    let pair = pair.expect("the key exists");
    assert_eq!(pair.key, key);
    assert_eq!(pair.value_str(), Some("hello"));
    assert_eq!(pair.flags, 42);
    assert_eq!(pair.session, None);
    assert!(pair.create_index > 0 && pair.modify_index >= pair.create_index);
    assert!(meta.index >= pair.modify_index);
    assert!(meta.known_leader);
}

#[tokio::test]
async fn missing_key_is_none_with_an_index() {
    let env = Env::any().await;
    let (pair, meta) = env
        .client
        .kv()
        .get(&env.key("nothing-here"), &QueryOptions::new())
        .await
        .expect("get");
    assert_eq!(pair, None);
    assert!(meta.index > 0, "a 404 still carries X-Consul-Index");
    let (raw, _) = env
        .client
        .kv()
        .get_raw(&env.key("nothing-here"), &QueryOptions::new())
        .await
        .expect("raw");
    assert_eq!(raw, None);
}

#[tokio::test]
async fn get_raw_returns_the_bytes_as_stored() {
    let env = Env::any().await;
    let key = env.key("blob");
    let bytes: Vec<u8> = (0u8..=255).collect();
    env.client
        .kv()
        .put(&key, &bytes, &PutOptions::new())
        .await
        .expect("put");
    let (raw, _) = env
        .client
        .kv()
        .get_raw(&key, &QueryOptions::new())
        .await
        .expect("raw");
    assert_eq!(raw, Some(bytes));
}

#[tokio::test]
async fn list_is_recursive_and_sorted_and_empty_when_nothing_matches() {
    let env = Env::any().await;
    let kv = env.client.kv();
    for name in ["b/2", "a", "b/1", "c/d/e"] {
        kv.put(&env.key(name), name.as_bytes(), &PutOptions::new())
            .await
            .expect("put");
    }
    let (pairs, _) = kv
        .list(&env.prefix, &QueryOptions::new())
        .await
        .expect("list");
    let keys: Vec<String> = pairs.iter().map(|p| p.key.clone()).collect();
    assert_eq!(keys, ["a", "b/1", "b/2", "c/d/e"].map(|k| env.key(k)));
    assert_eq!(pairs[1].value_str(), Some("b/1"));
    let (none, _) = kv
        .list(&env.key("zzz/"), &QueryOptions::new())
        .await
        .expect("list");
    assert!(none.is_empty());
}

#[tokio::test]
async fn keys_with_separator_lists_one_level() {
    let env = Env::any().await;
    let kv = env.client.kv();
    for name in ["a", "b/1", "b/2", "c/d/e"] {
        kv.put(&env.key(name), b"", &PutOptions::new())
            .await
            .expect("put");
    }
    let (keys, _) = kv
        .keys(&env.prefix, Some("/"), &QueryOptions::new())
        .await
        .expect("keys");
    assert_eq!(keys, ["a", "b/", "c/"].map(|k| env.key(k)));
    let (all, _) = kv
        .keys(&env.prefix, None, &QueryOptions::new())
        .await
        .expect("keys");
    assert_eq!(all.len(), 4);
    let (none, _) = kv
        .keys(&env.key("zzz/"), None, &QueryOptions::new())
        .await
        .expect("keys");
    assert!(none.is_empty());
}

#[tokio::test]
async fn cas_zero_creates_only_once_and_cas_index_must_match() {
    let env = Env::any().await;
    let kv = env.client.kv();
    let key = env.key("cas");
    assert!(
        kv.put(&key, b"1", &PutOptions::new().cas(0))
            .await
            .expect("put")
    );
    assert!(
        !kv.put(&key, b"2", &PutOptions::new().cas(0))
            .await
            .expect("put")
    );
    let (pair, _) = kv.get(&key, &QueryOptions::new()).await.expect("get");
    let index = pair.expect("exists").modify_index;
    assert!(
        !kv.put(&key, b"3", &PutOptions::new().cas(index + 1000))
            .await
            .expect("put")
    );
    assert!(
        kv.put(&key, b"4", &PutOptions::new().cas(index))
            .await
            .expect("put")
    );
    let (raw, _) = kv.get_raw(&key, &QueryOptions::new()).await.expect("raw");
    assert_eq!(raw.as_deref(), Some(&b"4"[..]));
}

#[tokio::test]
async fn delete_answers_true_for_missing_keys_and_false_on_cas_mismatch() {
    let env = Env::any().await;
    let kv = env.client.kv();
    let key = env.key("doomed");
    assert!(
        kv.delete(&env.key("never-was"), &DeleteOptions::new())
            .await
            .expect("delete")
    );
    kv.put(&key, b"x", &PutOptions::new()).await.expect("put");
    let (pair, _) = kv.get(&key, &QueryOptions::new()).await.expect("get");
    let index = pair.expect("exists").modify_index;
    assert!(
        !kv.delete(&key, &DeleteOptions::new().cas(index + 1000))
            .await
            .expect("delete")
    );
    assert!(
        kv.get(&key, &QueryOptions::new())
            .await
            .expect("get")
            .0
            .is_some()
    );
    assert!(
        kv.delete(&key, &DeleteOptions::new().cas(index))
            .await
            .expect("delete")
    );
    assert!(
        kv.get(&key, &QueryOptions::new())
            .await
            .expect("get")
            .0
            .is_none()
    );
}

#[tokio::test]
async fn recursive_delete_removes_the_whole_tree_only() {
    let env = Env::any().await;
    let kv = env.client.kv();
    for name in ["tree/a", "tree/b/c", "treehouse"] {
        kv.put(&env.key(name), b"", &PutOptions::new())
            .await
            .expect("put");
    }
    assert!(
        kv.delete(&env.key("tree/"), &DeleteOptions::recurse())
            .await
            .expect("delete")
    );
    let (keys, _) = kv
        .keys(&env.prefix, None, &QueryOptions::new())
        .await
        .expect("keys");
    assert_eq!(keys, vec![env.key("treehouse")]);
}

#[tokio::test]
async fn consistency_modes_are_sent_as_consul_flags() {
    let env = Env::sim(Default::default()).await;
    let kv = env.client.kv();
    let key = env.key("c");
    kv.put(&key, b"1", &PutOptions::new()).await.expect("put");
    for mode in [
        Consistency::Consistent,
        Consistency::Stale,
        Consistency::Default,
    ] {
        let (pair, _) = kv
            .get(&key, &QueryOptions::new().consistency(mode))
            .await
            .expect("get");
        assert!(pair.is_some());
    }
    let paths: Vec<String> = env
        .control()
        .requests()
        .into_iter()
        .map(|r| r.path_and_query)
        .collect();
    assert!(
        paths.iter().any(|p| p.ends_with("?consistent")),
        "{paths:?}"
    );
    assert!(paths.iter().any(|p| p.ends_with("?stale")), "{paths:?}");
}

#[tokio::test]
async fn blocking_get_returns_after_a_write_and_not_before() {
    let env = Env::any().await;
    let key = env.key("watched");
    let kv = env.client.kv();
    kv.put(&key, b"before", &PutOptions::new())
        .await
        .expect("put");
    let (_, meta) = kv.get(&key, &QueryOptions::new()).await.expect("get");

    let client = env.client.clone();
    let k = key.clone();
    let waiter = tokio::spawn(async move {
        let opts = QueryOptions::new().blocking(meta.index, Duration::from_secs(60));
        client.kv().get(&k, &opts).await
    });
    // While nothing is written, the query must still be waiting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiter.is_finished(),
        "the blocking query returned before any write"
    );

    kv.put(&key, b"after", &PutOptions::new())
        .await
        .expect("put");
    // Far less than the 60 s wait: the write, not the timeout, ended the query.
    let (pair, new_meta) = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the blocking query returned after the write")
        .expect("task")
        .expect("get");
    assert_eq!(pair.expect("exists").value_str(), Some("after"));
    assert!(new_meta.index > meta.index);
}

#[tokio::test]
async fn blocking_get_that_times_out_returns_the_same_index() {
    let env = Env::any().await;
    let key = env.key("quiet");
    env.client
        .kv()
        .put(&key, b"x", &PutOptions::new())
        .await
        .expect("put");
    let (_, meta) = env
        .client
        .kv()
        .get(&key, &QueryOptions::new())
        .await
        .expect("get");
    let opts = QueryOptions::new().blocking(meta.index, Duration::from_millis(200));
    let (pair, again) = env.client.kv().get(&key, &opts).await.expect("get");
    assert_eq!(again.index, meta.index);
    assert_eq!(pair.expect("exists").value_str(), Some("x"));
}

#[tokio::test]
async fn watch_yields_current_state_then_each_change() {
    let env = Env::any().await;
    let key = env.key("feature");
    let kv = env.client.kv();
    kv.put(&key, b"off", &PutOptions::new()).await.expect("put");
    let mut changes = Box::pin(kv.watch(&key, QueryOptions::new().wait(Duration::from_secs(30))));
    let (first, _) = next_change(&mut changes).await.expect("item").expect("ok");
    assert_eq!(first.expect("exists").value_str(), Some("off"));
    kv.put(&key, b"on", &PutOptions::new()).await.expect("put");
    let (second, _) = next_change(&mut changes).await.expect("item").expect("ok");
    assert_eq!(second.expect("exists").value_str(), Some("on"));
    kv.delete(&key, &DeleteOptions::new())
        .await
        .expect("delete");
    let (third, _) = next_change(&mut changes).await.expect("item").expect("ok");
    assert_eq!(third, None);
}

#[tokio::test]
async fn watch_starts_over_when_the_index_goes_backwards() {
    let env = Env::sim(Default::default()).await;
    let key = env.key("restored");
    let kv = env.client.kv();
    for i in 0..5 {
        kv.put(&key, format!("v{i}").as_bytes(), &PutOptions::new())
            .await
            .expect("put");
    }
    let changes = kv.watch(&key, QueryOptions::new().wait(Duration::from_secs(30)));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let watcher = tokio::spawn(async move {
        let mut changes = std::pin::pin!(changes);
        while let Some(change) = changes.next().await {
            if tx.send(change).is_err() {
                break;
            }
        }
    });
    let (_, first) = rx.recv().await.expect("item").expect("ok");
    // Wait until the watch's blocking query is waiting in the server.
    let control = env.control();
    wait_until(|| {
        control
            .requests()
            .iter()
            .any(|r| r.path_and_query.contains("index=") && r.status == 0)
    })
    .await;
    // A leader change that lost history: the index goes back below what the watch holds.
    control.reset_index(2);
    let (pair, meta) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("the watch noticed the reset")
        .expect("item")
        .expect("ok");
    assert!(
        meta.index < first.index,
        "{} then {}",
        first.index,
        meta.index
    );
    assert_eq!(pair.expect("exists").value_str(), Some("v4"));
    // After the reset it blocks again from the new index, and sees the next write.
    kv.put(&key, b"v5", &PutOptions::new()).await.expect("put");
    let (pair, _) = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a change after the reset")
        .expect("item")
        .expect("ok");
    assert_eq!(pair.expect("exists").value_str(), Some("v5"));
    watcher.abort();
}

#[tokio::test]
async fn watch_prefix_sees_new_keys() {
    let env = Env::any().await;
    let kv = env.client.kv();
    // Consul's index is never 0; consul-sim's is 0 until its first write, so make one.
    kv.put(&env.key("elsewhere"), b"", &PutOptions::new())
        .await
        .expect("put");
    let mut changes = Box::pin(kv.watch_prefix(
        &env.key("dir/"),
        QueryOptions::new().wait(Duration::from_secs(30)),
    ));
    let (first, _) = changes.next().await.expect("item").expect("ok");
    assert!(first.is_empty());
    kv.put(&env.key("dir/new"), b"1", &PutOptions::new())
        .await
        .expect("put");
    let (second, _) = tokio::time::timeout(Duration::from_secs(3), changes.next())
        .await
        .expect("a change")
        .expect("item")
        .expect("ok");
    assert_eq!(second.len(), 1);
}

/// The stream's next item, failing the test if none comes within a generous bound.
async fn next_change<S: futures_util::Stream + Unpin>(stream: &mut S) -> Option<S::Item> {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("a change")
}
