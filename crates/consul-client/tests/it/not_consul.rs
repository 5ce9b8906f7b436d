//! A server that is not Consul (a stub answering `200 {}`, a proxy's 404 page) is reported as
//! such: never taken for "nothing there" or for a committed transaction or a taken lock.

use consul_client::{AcquireMode, Error, Lock, LockOptions, QueryOptions, TxnOp};

use crate::util::{Reply, Stub};

const SID: &str = "adf4238a-882b-9ddc-4a9d-5b6758e4159e";

fn is_not_consul(err: &Error) -> bool {
    matches!(err, Error::NotConsul { .. }) && err.to_string().contains("does not look like Consul")
}

#[tokio::test]
async fn a_txn_answered_200_without_results_is_not_taken_as_committed() {
    for body in [
        "{}",
        r#"{"Results":[]}"#,
        r#"{"Results":null,"Errors":null}"#,
    ] {
        let stub = Stub::start(move |_, _| Reply::new(200, body)).await;
        let err = stub
            .client()
            .txn(&[TxnOp::lock("jobs/lock", b"me".to_vec(), SID)])
            .await
            .expect_err(body);
        assert!(is_not_consul(&err), "{body}: {err:?}");
        assert!(err.to_string().starts_with(&stub.url), "{err}");
    }
}

#[tokio::test]
async fn a_txn_result_for_another_key_is_not_consul() {
    let stub = Stub::start(|_, _| {
        Reply::new(
            200,
            r#"{"Results":[{"KV":{"Key":"other","Flags":0,"Value":null,"LockIndex":1,"CreateIndex":3,"ModifyIndex":3}}],"Errors":null}"#,
        )
    })
    .await;
    let err = stub
        .client()
        .txn(&[TxnOp::lock("jobs/lock", b"me".to_vec(), SID)])
        .await
        .expect_err("wrong key");
    assert!(is_not_consul(&err), "{err:?}");
    assert!(err.to_string().contains("\"jobs/lock\""), "{err}");
}

/// A stub that hands out a session and says the lock key is missing, as Consul would, but
/// answers the acquiring transaction with `body`.
async fn lock_stub(body: &'static str) -> Stub {
    Stub::start(move |method, path| match (method, path) {
        ("PUT", "/v1/session/create") => Reply::new(200, format!(r#"{{"ID":"{SID}"}}"#)),
        ("GET", p) if p.starts_with("/v1/kv/") => Reply::new(404, "").with_index(7),
        ("PUT", "/v1/txn") => Reply::new(200, body),
        ("PUT", p) if p.starts_with("/v1/session/destroy/") => Reply::new(200, "true"),
        _ => Reply::new(404, ""),
    })
    .await
}

#[tokio::test]
async fn lock_acquire_with_reads_answered_200_without_results_is_an_error_not_a_lock() {
    for body in ["{}", r#"{"Results":[]}"#] {
        let stub = lock_stub(body).await;
        let opts = LockOptions::new("jobs/lock", b"me".to_vec())
            .reads(vec![TxnOp::get_tree("jobs/current")]);
        let lock = Lock::new(stub.client(), opts).expect("lock");
        let err = lock
            .acquire(AcquireMode::TryOnce)
            .await
            .expect_err("no lock from a stub");
        assert!(is_not_consul(&err), "{body}: {err:?}");
        // The session made for the attempt is not left behind.
        assert!(
            stub.requests()
                .iter()
                .any(|r| r.starts_with(&format!("PUT /v1/session/destroy/{SID}"))),
            "{:?}",
            stub.requests()
        );
    }
}

#[tokio::test]
async fn lock_seen_free_answered_200_without_results_is_an_error_not_a_lock() {
    let stub = lock_stub("{}").await;
    let opts = LockOptions::new("jobs/lock", b"me".to_vec()).seen_free_at(0);
    let lock = Lock::new(stub.client(), opts).expect("lock");
    let err = lock
        .acquire(AcquireMode::TryOnce)
        .await
        .expect_err("no lock from a stub");
    assert!(is_not_consul(&err), "{err:?}");
}

#[tokio::test]
async fn kv_reads_without_an_index_header_are_not_consul_not_missing_keys() {
    for status in [404, 200] {
        let stub = Stub::start(move |_, _| Reply::new(status, "[]")).await;
        let client = stub.client();
        let kv = client.kv();
        let opts = QueryOptions::new();
        let mut errors = vec![
            kv.get("k", &opts).await.map(|_| ()).expect_err("get"),
            kv.get_raw("k", &opts).await.map(|_| ()).expect_err("raw"),
            kv.list("k/", &opts).await.map(|_| ()).expect_err("list"),
            kv.keys("k/", Some("/"), &opts)
                .await
                .map(|_| ())
                .expect_err("keys"),
        ];
        if status == 200 {
            // Consul answers these 200 (`[]` for an unknown session), never 404.
            let session = client.session();
            errors.push(
                session
                    .info(SID, &opts)
                    .await
                    .map(|_| ())
                    .expect_err("info"),
            );
            errors.push(session.list(&opts).await.map(|_| ()).expect_err("list"));
            let events = client.event().list(None, &opts).await.map(|_| ());
            errors.push(events.expect_err("event list"));
        }
        for err in errors {
            assert!(is_not_consul(&err), "{status}: {err:?}");
            assert_eq!(
                err.to_string(),
                format!(
                    "{} does not look like Consul (no X-Consul-Index header)",
                    stub.url
                )
            );
        }
    }
}

#[tokio::test]
async fn a_404_with_consul_headers_is_still_a_missing_key() {
    let stub = Stub::start(|_, _| Reply::new(404, "").with_index(12)).await;
    let (pair, meta) = stub
        .client()
        .kv()
        .get("k", &QueryOptions::new())
        .await
        .expect("a missing key");
    assert!(pair.is_none());
    assert_eq!(meta.index, 12);
}

#[tokio::test]
async fn the_default_client_follows_no_redirect_so_the_token_stays_home() {
    let elsewhere = Stub::start(|_, _| Reply::new(200, "[]").with_index(1)).await;
    let target = format!("{}/v1/kv/k", elsewhere.url);
    let redirecting = Stub::start(move |_, _| {
        let mut reply = Reply::new(307, "");
        reply.headers.push(("Location", target.clone()));
        reply
    })
    .await;
    let config = crate::util::quick(
        consul_client::Config::new(&redirecting.url)
            .expect("url")
            .with_token("redirect-secret"),
    );
    let client = consul_client::Client::new(config).expect("client");
    let err = client
        .kv()
        .get("k", &QueryOptions::new())
        .await
        .expect_err("a redirect is not followed");
    assert!(matches!(err, Error::Server { status: 307, .. }), "{err:?}");
    assert_eq!(redirecting.requests().len(), 1);
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
}
