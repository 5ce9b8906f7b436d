//! Transactions: every verb, typed results, rollback.

use consul_client::{Error, PutOptions, QueryOptions, SessionRequest, TxnOp};

use crate::util::Env;

#[tokio::test]
async fn every_kv_verb_commits_with_typed_results() {
    let env = Env::any().await;
    let (kv, k) = (env.client.kv(), |n: &str| env.key(n));
    kv.put(&k("old"), b"o", &PutOptions::new())
        .await
        .expect("put");
    kv.put(&k("tree/1"), b"t1", &PutOptions::new())
        .await
        .expect("put");
    kv.put(&k("tree/2"), b"t2", &PutOptions::new())
        .await
        .expect("put");
    kv.put(&k("gone/1"), b"", &PutOptions::new())
        .await
        .expect("put");
    kv.put(&k("casdel"), b"", &PutOptions::new())
        .await
        .expect("put");
    let (old, _) = kv.get(&k("old"), &QueryOptions::new()).await.expect("get");
    let old_index = old.expect("exists").modify_index;
    let (casdel, _) = kv
        .get(&k("casdel"), &QueryOptions::new())
        .await
        .expect("get");
    let casdel_index = casdel.expect("exists").modify_index;
    let session = env
        .client
        .session()
        .create(&SessionRequest::new("txn test"))
        .await
        .expect("session");

    let done = env
        .client
        .txn(&[
            TxnOp::check_index(k("old"), old_index),
            TxnOp::check_not_exists(k("new")),
            TxnOp::set(k("new"), b"n".to_vec()).with_flags(5),
            TxnOp::cas(k("old"), b"o2".to_vec(), old_index),
            TxnOp::lock(k("lock"), b"me".to_vec(), session.clone()),
            TxnOp::check_session(k("lock"), session.clone()),
            TxnOp::unlock(k("lock"), b"free".to_vec(), session.clone()),
            TxnOp::get(k("new")),
            TxnOp::get_tree(k("tree/")),
            TxnOp::delete(k("new")),
            TxnOp::delete_tree(k("gone/")),
            TxnOp::delete_cas(k("casdel"), casdel_index),
        ])
        .await
        .expect("the transaction commits");

    let got: Vec<(&str, &[u8])> = done
        .results
        .iter()
        .map(|p| (p.key.as_str(), p.value.as_slice()))
        .collect();
    // check-index, set, cas, lock, check-session, unlock, get, get-tree ×2 return entries;
    // check-not-exists and the deletes return none.
    assert_eq!(done.results.len(), 9, "{got:?}");
    let get = &done.results[6];
    assert_eq!(
        (get.key.as_str(), get.value.as_slice(), get.flags),
        (k("new").as_str(), &b"n"[..], 5)
    );
    assert_eq!(done.results[7].value, b"t1");
    assert_eq!(done.results[8].value, b"t2");

    let (keys, _) = kv
        .keys(&env.prefix, None, &QueryOptions::new())
        .await
        .expect("keys");
    assert_eq!(keys, ["lock", "old", "tree/1", "tree/2"].map(k));
    let (lock, _) = kv.get(&k("lock"), &QueryOptions::new()).await.expect("get");
    let lock = lock.expect("exists");
    assert_eq!(
        (lock.value_str(), lock.session.as_deref()),
        (Some("free"), None)
    );
    env.client
        .session()
        .destroy(&session)
        .await
        .expect("destroy");
}

#[tokio::test]
async fn one_failing_check_changes_nothing_and_names_that_op() {
    let env = Env::sim(Default::default()).await;
    let kv = env.client.kv();
    kv.put(&env.key("a"), b"1", &PutOptions::new())
        .await
        .expect("put");
    let before = env.control().kv_snapshot();
    let index_before = env.control().index();

    let err = env
        .client
        .txn(&[
            TxnOp::set(env.key("a"), b"2".to_vec()),
            TxnOp::set(env.key("b"), b"new".to_vec()),
            TxnOp::check_index(env.key("a"), 999_999),
            TxnOp::delete(env.key("a")),
        ])
        .await
        .expect_err("the check fails");
    match &err {
        Error::TxnRolledBack { errors } => {
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].op_index, 2);
            // Consul's wording: "current modify index 2 != 999999".
            assert!(errors[0].what.contains("999999"), "{}", errors[0].what);
        }
        other => panic!("expected a rollback, got {other:?}"),
    }
    assert!(err.to_string().contains("op 2"));
    assert_eq!(env.control().kv_snapshot(), before, "nothing was applied");
    assert_eq!(env.control().index(), index_before);
}

#[tokio::test]
async fn check_session_fails_when_the_lock_is_not_held() {
    let env = Env::any().await;
    let session = env
        .client
        .session()
        .create(&SessionRequest::new("fence"))
        .await
        .expect("session");
    let err = env
        .client
        .txn(&[
            TxnOp::check_session(env.key("lock"), session.clone()),
            TxnOp::set(env.key("current"), b"v2".to_vec()),
        ])
        .await
        .expect_err("not held");
    assert!(
        matches!(&err, Error::TxnRolledBack { errors } if errors[0].op_index == 0),
        "{err:?}"
    );
    let (current, _) = env
        .client
        .kv()
        .get(&env.key("current"), &QueryOptions::new())
        .await
        .expect("get");
    assert_eq!(current, None);
    env.client
        .session()
        .destroy(&session)
        .await
        .expect("destroy");
}

#[tokio::test]
async fn get_of_a_missing_key_rolls_back() {
    let env = Env::any().await;
    let err = env
        .client
        .txn(&[TxnOp::get(env.key("missing"))])
        .await
        .expect_err("missing key");
    assert!(matches!(err, Error::TxnRolledBack { .. }), "{err:?}");
}

#[tokio::test]
async fn read_txn_reads_present_and_missing_keys_in_one_request() {
    let env = Env::any().await;
    let kv = env.client.kv();
    kv.put(&env.key("here"), b"h", &PutOptions::new())
        .await
        .expect("put");
    let read = env
        .client
        .read_txn(
            &[
                TxnOp::get_tree(env.key("here")),
                TxnOp::get_tree(env.key("missing")),
            ],
            &QueryOptions::consistent(),
        )
        .await
        .expect("a missing key read with get-tree does not fail the read");
    let keys: Vec<&str> = read.results.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, [env.key("here")]);
    assert_eq!(
        read.results.first().map(|p| p.value.as_slice()),
        Some(&b"h"[..])
    );
}
