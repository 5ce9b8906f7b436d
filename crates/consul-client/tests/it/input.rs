//! Bad input is refused with a clear error before anything is sent.

use consul_client::{
    DeleteOptions, Error, InvalidInput, Lock, LockOptions, MAX_VALUE_SIZE, PutOptions,
    QueryOptions, SessionRequest, TxnOp,
};

use crate::util::Env;

fn assert_invalid_key(result: Result<impl std::fmt::Debug, Error>, key: &str) {
    match result {
        Err(Error::InvalidInput(InvalidInput::Key { key: k, .. })) => assert_eq!(k, key),
        other => panic!("expected an invalid-key error for {key:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn keys_with_dot_dot_segments_or_surrounding_spaces_are_refused_unsent() {
    let env = Env::sim(Default::default()).await;
    let kv = env.client.kv();
    for key in [
        "a/../b",
        "../etc/passwd",
        "a/..",
        " a",
        "a ",
        "a\t",
        "a//b",
        "/a",
    ] {
        assert_invalid_key(kv.get(key, &QueryOptions::new()).await, key);
        assert_invalid_key(kv.put(key, b"v", &PutOptions::new()).await, key);
        assert_invalid_key(kv.delete(key, &DeleteOptions::new()).await, key);
        assert_invalid_key(env.client.txn(&[TxnOp::set(key, b"v".to_vec())]).await, key);
    }
    let err = kv
        .put("a/../b", b"v", &PutOptions::new())
        .await
        .expect_err("refused");
    assert_eq!(err.to_string(), "invalid key \"a/../b\": a '..' segment");
    assert_eq!(env.control().request_count(), 0, "nothing was sent");
}

#[tokio::test]
async fn empty_keys_are_refused_where_consul_would_misbehave() {
    let env = Env::sim(Default::default()).await;
    let kv = env.client.kv();
    assert_invalid_key(kv.get("", &QueryOptions::new()).await, "");
    assert_invalid_key(kv.put("", b"v", &PutOptions::new()).await, "");
    // A recursive delete of "" would wipe the whole store.
    assert_invalid_key(kv.delete("", &DeleteOptions::recurse()).await, "");
    assert_invalid_key(env.client.txn(&[TxnOp::delete_tree("")]).await, "");
    assert_eq!(env.control().request_count(), 0);
}

#[tokio::test]
async fn values_over_512_kib_are_refused_unsent() {
    let env = Env::sim(Default::default()).await;
    let big = vec![b'x'; MAX_VALUE_SIZE + 1];
    let err = env
        .client
        .kv()
        .put("k", &big, &PutOptions::new())
        .await
        .expect_err("too big");
    assert!(
        matches!(err, Error::InvalidInput(InvalidInput::ValueTooLarge { size, limit: 524_288 }) if size == big.len()),
        "{err:?}"
    );
    let err = env
        .client
        .txn(&[TxnOp::set("k", big.clone())])
        .await
        .expect_err("too big");
    assert!(
        matches!(err, Error::InvalidInput(InvalidInput::ValueTooLarge { .. })),
        "{err:?}"
    );
    assert!(Lock::new(env.client.clone(), LockOptions::new("l", big)).is_err());
    assert_eq!(env.control().request_count(), 0);
    // Exactly the limit is fine.
    let max = vec![b'y'; MAX_VALUE_SIZE];
    assert!(
        env.client
            .kv()
            .put("k", &max, &PutOptions::new())
            .await
            .expect("at the limit")
    );
}

#[tokio::test]
async fn transactions_over_128_ops_or_512_kib_are_refused_unsent() {
    let env = Env::sim(Default::default()).await;
    let ops: Vec<TxnOp> = (0..129)
        .map(|i| TxnOp::set(format!("k/{i}"), b"v".to_vec()))
        .collect();
    let err = env.client.txn(&ops).await.expect_err("too many");
    assert_eq!(
        err.to_string(),
        "transaction has 129 operations; Consul accepts at most 128"
    );
    let fat: Vec<TxnOp> = (0..4)
        .map(|i| TxnOp::set(format!("k/{i}"), vec![0u8; 200 * 1024]))
        .collect();
    let err = env.client.txn(&fat).await.expect_err("too large");
    assert!(
        matches!(err, Error::InvalidInput(InvalidInput::TxnTooLarge { .. })),
        "{err:?}"
    );
    assert_eq!(env.control().request_count(), 0);
    assert!(
        env.client.txn(&ops[..128]).await.is_ok(),
        "128 ops are accepted"
    );
    assert_eq!(env.control().kv_snapshot().len(), 128);
}

#[tokio::test]
async fn conflicting_or_malformed_options_are_refused_unsent() {
    let env = Env::sim(Default::default()).await;
    let sid = "adf4238a-882b-9ddc-4a9d-5b6758e4159e";
    let kv = env.client.kv();
    let err = kv
        .put("k", b"v", &PutOptions::new().cas(0).acquire(sid))
        .await
        .expect_err("conflict");
    assert!(
        matches!(err, Error::InvalidInput(InvalidInput::Options(_))),
        "{err:?}"
    );
    let err = kv
        .put("k", b"v", &PutOptions::new().acquire("../../x"))
        .await
        .expect_err("bad id");
    assert!(
        matches!(err, Error::InvalidInput(InvalidInput::Name { .. })),
        "{err:?}"
    );
    let err = env
        .client
        .session()
        .renew("not a uuid")
        .await
        .expect_err("bad id");
    assert!(
        matches!(err, Error::InvalidInput(InvalidInput::Name { .. })),
        "{err:?}"
    );
    let err = env
        .client
        .session()
        .create(&SessionRequest::new("x").ttl(std::time::Duration::from_secs(1)))
        .await
        .expect_err("ttl");
    assert!(
        matches!(err, Error::InvalidInput(InvalidInput::Duration { .. })),
        "{err:?}"
    );
    let err = env
        .client
        .event()
        .fire("a/b", b"", &Default::default())
        .await
        .expect_err("name");
    assert!(
        matches!(err, Error::InvalidInput(InvalidInput::Name { .. })),
        "{err:?}"
    );
    assert_eq!(env.control().request_count(), 0);
}

#[tokio::test]
async fn recursive_delete_with_cas_is_refused_unsent() {
    let env = Env::sim(Default::default()).await;
    let err = env
        .client
        .kv()
        .delete("dir/", &DeleteOptions::recurse().cas(3))
        .await
        .expect_err("conflict");
    assert!(
        matches!(err, Error::InvalidInput(InvalidInput::Options(_))),
        "{err:?}"
    );
    assert_eq!(env.control().request_count(), 0);
}

#[test]
fn unreadable_token_file_or_ca_certificate_is_a_config_error() {
    use consul_client::{Client, Config, ConfigError};
    let missing = std::env::temp_dir().join(format!("no-such-file-{:x}", fastrand::u64(..)));
    let err = Client::new(Config::default().with_token_file(&missing)).expect_err("missing");
    assert!(
        matches!(err, Error::Config(ConfigError::TokenFile { .. })),
        "{err:?}"
    );
    let err = Client::new(Config::default().with_ca_cert(&missing)).expect_err("missing");
    assert!(
        matches!(err, Error::Config(ConfigError::CaCertFile { .. })),
        "{err:?}"
    );

    let not_pem = std::env::temp_dir().join(format!("not-pem-{:x}", fastrand::u64(..)));
    std::fs::write(&not_pem, "this is no certificate").expect("write");
    let err = Client::new(Config::default().with_ca_cert(&not_pem)).expect_err("not PEM");
    let _ = std::fs::remove_file(&not_pem);
    assert!(
        matches!(
            err,
            Error::Config(ConfigError::CaCertEmpty { .. } | ConfigError::CaCert { .. })
        ),
        "{err:?}"
    );
}
