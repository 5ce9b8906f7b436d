//! Failures: retries of reads, no blind retries of writes, timeouts, unreachable and
//! misbehaving servers.

use std::time::Duration;

use consul_client::{Client, Config, Error, PutOptions, QueryOptions, RetryPolicy, TxnOp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::util::{Env, quick};

#[tokio::test]
async fn reads_are_retried_after_server_errors() {
    let env = Env::sim(Default::default()).await;
    env.client
        .kv()
        .put("k", b"v", &PutOptions::new())
        .await
        .expect("put");
    env.control().clear_requests();
    env.control().fail_next(2, 503);
    let (pair, _) = env
        .client
        .kv()
        .get("k", &QueryOptions::new())
        .await
        .expect("get after retries");
    assert_eq!(pair.expect("exists").value_str(), Some("v"));
    let statuses: Vec<u16> = env.control().requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 200]);
}

#[tokio::test]
async fn reads_are_retried_after_rate_limiting_then_give_up_typed() {
    let env = Env::sim(Default::default()).await;
    env.control().fail_next(1, 429);
    env.client
        .kv()
        .get("k", &QueryOptions::new())
        .await
        .expect("one 429 is retried");
    env.control().clear_requests();
    env.control().fail_next(100, 429);
    let err = env
        .client
        .kv()
        .get("k", &QueryOptions::new())
        .await
        .expect_err("keeps failing");
    assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");
    assert_eq!(
        env.control().request_count(),
        4,
        "one try and three retries"
    );
}

#[tokio::test]
async fn reads_are_retried_after_a_dropped_connection() {
    let env = Env::sim(Default::default()).await;
    env.control().drop_next(1);
    env.client
        .status()
        .leader()
        .await
        .expect("leader after a retry");
    assert_eq!(env.control().request_count(), 2);
}

#[tokio::test]
async fn writes_are_not_retried_after_a_server_error() {
    let env = Env::sim(Default::default()).await;
    env.control().fail_next(1, 503);
    let err = env
        .client
        .kv()
        .put("k", b"v", &PutOptions::new())
        .await
        .expect_err("503");
    assert!(matches!(err, Error::Server { status: 503, .. }), "{err:?}");
    assert_eq!(env.control().request_count(), 1);
    assert!(env.control().kv_snapshot().is_empty());

    env.control().fail_next(1, 500);
    let err = env
        .client
        .txn(&[TxnOp::set("k", b"v".to_vec())])
        .await
        .expect_err("500");
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(env.control().request_count(), 2);
}

#[tokio::test]
async fn writes_are_not_retried_after_a_dropped_connection() {
    let env = Env::sim(Default::default()).await;
    env.control().drop_next(1);
    let err = env
        .client
        .kv()
        .put("k", b"v", &PutOptions::new())
        .await
        .expect_err("dropped");
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert_eq!(env.control().request_count(), 1);
}

#[tokio::test]
async fn a_stalled_server_hits_the_request_timeout() {
    let env = Env::sim(Default::default()).await;
    let sim = env.sim.as_ref().expect("sim");
    let config = Config::new(&sim.url())
        .expect("url")
        .with_request_timeout(Duration::from_millis(200))
        .with_retry(RetryPolicy::none());
    let client = Client::new(config).expect("client");
    env.control().pause();
    let err = client
        .kv()
        .get("k", &QueryOptions::new())
        .await
        .expect_err("timed out");
    env.control().resume();
    match err {
        Error::Transport { source } => assert!(source.is_timeout(), "{source:?}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_address_is_a_transport_error() {
    // A port that was free a moment ago: nothing listens there now.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let client =
        Client::new(quick(Config::new(&format!("http://{addr}")).expect("url"))).expect("client");
    let err = client
        .kv()
        .get("k", &QueryOptions::new())
        .await
        .expect_err("nobody listens");
    assert!(
        matches!(&err, Error::Transport { source } if source.is_connect()),
        "{err:?}"
    );
    assert!(err.to_string().contains("could not reach Consul"));
}

/// A one-shot server that answers every connection with `reply` and closes it.
async fn garbage_server(reply: &'static [u8]) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let _ = socket.write_all(reply).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_server_answering_non_json_gives_a_decode_error() {
    let url = garbage_server(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 15\r\nconnection: close\r\n\r\n<html>hi</html>",
    )
    .await;
    let client = Client::new(quick(Config::new(&url).expect("url"))).expect("client");
    let err = client.status().leader().await.expect_err("garbage");
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("could not decode"), "{err}");
    // A KV read without Consul's index header is not Consul's at all.
    let err = client
        .kv()
        .get("k", &QueryOptions::new())
        .await
        .expect_err("garbage");
    assert!(matches!(err, Error::NotConsul { .. }), "{err:?}");
    let err = client
        .kv()
        .put("k", b"v", &PutOptions::new())
        .await
        .expect_err("garbage");
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
}

#[tokio::test]
async fn a_server_answering_non_http_gives_a_transport_error() {
    let url = garbage_server(b"\x00\x01\x02 this is not HTTP at all\r\n\r\n").await;
    let client = Client::new(quick(Config::new(&url).expect("url"))).expect("client");
    let err = client.status().leader().await.expect_err("garbage");
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
}

#[tokio::test]
async fn a_garbage_index_header_is_an_unexpected_response() {
    let url = garbage_server(
        b"HTTP/1.1 404 Not Found\r\nx-consul-index: banana\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    )
    .await;
    let client = Client::new(quick(Config::new(&url).expect("url"))).expect("client");
    let err = client
        .kv()
        .get("k", &QueryOptions::new())
        .await
        .expect_err("garbage");
    assert!(matches!(err, Error::UnexpectedResponse { .. }), "{err:?}");
}

#[tokio::test]
async fn path_prefix_of_the_address_is_kept() {
    // A proxy in front of Consul that serves it only under /consul/.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = vec![0u8; 4096];
            let n = socket.read(&mut buf).await.unwrap_or(0);
            let head = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
            let reply: &[u8] = if head.starts_with("GET /consul/v1/status/leader HTTP/1.1") {
                b"HTTP/1.1 200 OK\r\ncontent-length: 15\r\nconnection: close\r\n\r\n\"10.0.0.1:8300\""
            } else {
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            };
            let _ = socket.write_all(reply).await;
            let _ = socket.shutdown().await;
        }
    });
    let config = Config::new(&format!("http://{addr}/consul/")).expect("url");
    let client = Client::new(quick(config)).expect("client");
    assert_eq!(
        client.status().leader().await.expect("leader").as_deref(),
        Some("10.0.0.1:8300")
    );
}

#[tokio::test]
async fn datacenter_and_namespace_go_with_every_request() {
    let env = Env::sim(Default::default()).await;
    let sim = env.sim.as_ref().expect("sim");
    let config = Config::new(&sim.url())
        .expect("url")
        .with_datacenter("dc1")
        .with_namespace("team-a");
    let client = Client::new(quick(config)).expect("client");
    // Whatever the sim makes of them, the parameters must be on the wire.
    let _ = client.kv().put("k", b"v", &PutOptions::new()).await;
    let _ = client.kv().get("k", &QueryOptions::consistent()).await;
    let requests = env.control().requests();
    assert_eq!(requests.len(), 2);
    for r in requests {
        assert!(r.path_and_query.contains("dc=dc1"), "{}", r.path_and_query);
        assert!(
            r.path_and_query.contains("ns=team-a"),
            "{}",
            r.path_and_query
        );
    }
}

#[tokio::test]
async fn idempotent_transactions_are_retried_like_reads_and_plain_ones_are_not() {
    let env = Env::sim(Default::default()).await;
    let ops = [
        TxnOp::set("probe", b"p".to_vec()),
        TxnOp::delete("probe"),
        TxnOp::get_tree("probe"),
    ];
    env.control().clear_requests();
    env.control().fail_next(2, 500);
    let done = env
        .client
        .idempotent_txn(&ops)
        .await
        .expect("retried through two 500s");
    // The `set` answers with its entry; the `get-tree` finds the key deleted.
    assert_eq!(done.results.len(), 1, "{:?}", done.results);
    let (left, _) = env
        .client
        .kv()
        .get("probe", &QueryOptions::new())
        .await
        .expect("get");
    assert!(left.is_none());
    let statuses: Vec<u16> = env.control().requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [500, 500, 200, 404],
        "three tries, then the check's read"
    );

    env.control().clear_requests();
    env.control().fail_next(1, 500);
    let err = env
        .client
        .txn(&ops)
        .await
        .expect_err("a write is sent once");
    assert!(matches!(err, Error::Server { status: 500, .. }), "{err:?}");
    assert_eq!(env.control().request_count(), 1);
}

#[tokio::test]
async fn no_credentials_or_query_in_shown_addresses() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    // Credentials in the address are refused, and the refusal does not repeat them.
    let err = Config::new(&format!("http://user:PW@{addr}")).expect_err("refused");
    assert!(!format!("{err} {err:?}").contains("PW"), "{err:?}");
    // reqwest's errors carry the request URL: it is shown without its query.
    let client =
        Client::new(quick(Config::new(&format!("http://{addr}")).expect("url"))).expect("client");
    let sid = "adf4238a-882b-9ddc-4a9d-5b6758e4159e";
    let err = client
        .kv()
        .put("k", b"v", &PutOptions::new().acquire(sid))
        .await
        .expect_err("nobody listens");
    let (shown, debug) = (err.to_string(), format!("{err:?}"));
    assert!(shown.contains("/v1/kv/k"), "{shown}");
    assert!(
        !shown.contains(sid) && !debug.contains(sid),
        "{shown} / {debug}"
    );
    assert!(!format!("{client:?}").contains('@'));
}

fn statuses_of(env: &Env, needle: &str) -> Vec<u16> {
    env.control()
        .requests()
        .iter()
        .filter(|r| r.path_and_query.contains(needle))
        .map(|r| r.status)
        .collect()
}

async fn try_lock(env: &Env, opts: consul_client::LockOptions) -> consul_client::LockAttempt {
    consul_client::Lock::new(env.client.clone(), opts)
        .expect("lock")
        .acquire(consul_client::AcquireMode::TryOnce)
        .await
        .expect("acquire")
}

#[tokio::test]
async fn a_transient_500_on_the_acquire_is_retried_and_the_lock_taken() {
    let env = Env::sim(Default::default()).await;
    let key = env.key("retried-acquire");
    env.control().fail_next_matching(1, 500, "acquire=");
    let opts = consul_client::LockOptions::new(key.clone(), b"me".to_vec());
    let consul_client::LockAttempt::Acquired(held) = try_lock(&env, opts).await else {
        panic!("the lock is taken after one retry");
    };
    assert_eq!(statuses_of(&env, "acquire="), [500, 200]);
    held.release().await.expect("release");
}

#[tokio::test]
async fn a_transient_500_on_the_lock_transaction_is_retried_and_the_lock_taken() {
    let env = Env::sim(Default::default()).await;
    let key = env.key("retried-lock-txn");
    env.control().fail_next_matching(1, 500, "/v1/txn");
    let opts = consul_client::LockOptions::new(key.clone(), b"me".to_vec())
        .reads(vec![TxnOp::get_tree(env.key("data/"))]);
    let consul_client::LockAttempt::Acquired(held) = try_lock(&env, opts).await else {
        panic!("the lock is taken after one retry");
    };
    assert_eq!(statuses_of(&env, "/v1/txn"), [500, 200]);
    held.release().await.expect("release");
}

#[tokio::test]
async fn invalid_session_on_the_acquire_is_not_retried() {
    let env = Env::sim(Default::default()).await;
    let sid = env
        .client
        .session()
        .create(&consul_client::SessionRequest::new("gone"))
        .await
        .expect("session");
    env.client.session().destroy(&sid).await.expect("destroy");
    for reads in [Vec::new(), vec![TxnOp::get_tree(env.key("data/"))]] {
        env.control().clear_requests();
        let with_reads = !reads.is_empty();
        let opts = consul_client::LockOptions::new(env.key("gone-session"), b"me".to_vec())
            .session(sid.clone())
            .reads(reads);
        let err = consul_client::Lock::new(env.client.clone(), opts)
            .expect("lock")
            .acquire(consul_client::AcquireMode::WaitUpTo(Duration::from_secs(
                30,
            )))
            .await
            .expect_err("the session is gone");
        assert!(matches!(err, Error::InvalidSession { .. }), "{err:?}");
        let needle = if with_reads { "/v1/txn" } else { "acquire=" };
        assert_eq!(statuses_of(&env, needle).len(), 1, "sent once: {needle}");
    }
}

/// A server that answers one request with a close-delimited body of `total` bytes (with a
/// `Content-Length` when `declare` is set) and reports how many bytes it managed to write. It
/// answers no second connection: a retry would end in a transport error, not in the refusal.
async fn flood_server(total: usize, declare: bool) -> (String, tokio::task::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut buf = [0u8; 4096];
        let _ = socket.read(&mut buf).await;
        let head = if declare {
            format!("HTTP/1.1 200 OK\r\ncontent-length: {total}\r\nconnection: close\r\n\r\n")
        } else {
            "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_owned()
        };
        let mut written = 0;
        if socket.write_all(head.as_bytes()).await.is_ok() {
            let chunk = vec![b'x'; 16 * 1024];
            while written < total {
                match socket.write(&chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => written += n,
                }
            }
        }
        written
    });
    (url, task)
}

#[tokio::test]
async fn a_body_over_the_size_limit_is_refused_early_and_not_retried() {
    const LIMIT: usize = 64 * 1024;
    // Far more than any socket buffer can hold, so the server can only finish if read.
    const TOTAL: usize = 64 * 1024 * 1024;
    for declare in [false, true] {
        let (url, server) = flood_server(TOTAL, declare).await;
        let config = quick(Config::new(&url).expect("url")).with_max_response_size(LIMIT);
        let client = Client::new(config).expect("client");
        let err = client
            .kv()
            .list("", &QueryOptions::new())
            .await
            .expect_err("too large");
        assert!(
            matches!(err, Error::ResponseTooLarge { limit: LIMIT, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(&url), "{err}");
        drop(client);
        let written = server.await.expect("server");
        assert!(written < TOTAL, "the client read it all: {written} bytes");
    }
}
