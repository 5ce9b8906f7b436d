//! ACLs: typed errors for denied reads, writes and txns, token self, and where the token goes.

use consul_client::{
    AcquireMode, Error, EventFilter, Lock, LockAttempt, PutOptions, QueryOptions, SessionRequest,
    TxnOp,
};
use consul_sim::{Access, Rule, SimOptions};

use crate::util::{Env, client_for};

const MASTER: &str = "master-secret-0000";
const DEPLOYER: &str = "deployer-secret-1111";

async fn acl_env() -> Env {
    Env::sim(SimOptions::default().acl_master_token(MASTER).token(
        DEPLOYER,
        vec![
            Rule::new("apps/web/", Access::Write),
            Rule::new("apps/", Access::Read),
        ],
    ))
    .await
}

#[tokio::test]
async fn denied_read_is_permission_denied() {
    let env = acl_env().await;
    let client = client_for(env.sim.as_ref().expect("sim"), Some(DEPLOYER));
    let err = client
        .kv()
        .get("secrets/db", &QueryOptions::new())
        .await
        .expect_err("denied");
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err:?}");
    assert!(err.is_permission_denied());
}

#[tokio::test]
async fn denied_write_is_permission_denied_and_changes_nothing() {
    let env = acl_env().await;
    let client = client_for(env.sim.as_ref().expect("sim"), Some(DEPLOYER));
    let err = client
        .kv()
        .put("apps/api/current", b"v2", &PutOptions::new())
        .await
        .expect_err("denied");
    assert!(matches!(err, Error::PermissionDenied { .. }), "{err:?}");
    assert!(env.control().kv_snapshot().is_empty());
    // Allowed where the rules allow it.
    assert!(
        client
            .kv()
            .put("apps/web/current", b"v2", &PutOptions::new())
            .await
            .expect("allowed")
    );
    let (pair, _) = client
        .kv()
        .get("apps/web/current", &QueryOptions::new())
        .await
        .expect("read");
    assert_eq!(pair.expect("exists").value_str(), Some("v2"));
}

#[tokio::test]
async fn denied_op_in_a_txn_rolls_back_with_permission_denied() {
    let env = acl_env().await;
    let client = client_for(env.sim.as_ref().expect("sim"), Some(DEPLOYER));
    let err = client
        .txn(&[
            TxnOp::set("apps/web/current", b"v2".to_vec()),
            TxnOp::set("apps/api/current", b"v2".to_vec()),
        ])
        .await
        .expect_err("denied");
    match &err {
        Error::TxnRolledBack { errors } => {
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].op_index, 1);
            assert!(errors[0].is_permission_denied(), "{:?}", errors[0]);
        }
        other => panic!("expected a rollback, got {other:?}"),
    }
    assert!(err.is_permission_denied());
    assert!(
        env.control().kv_snapshot().is_empty(),
        "the allowed op was rolled back too"
    );
}

#[tokio::test]
async fn unknown_token_is_acl_not_found() {
    let env = acl_env().await;
    let client = client_for(env.sim.as_ref().expect("sim"), Some("no-such-token"));
    let err = client
        .kv()
        .get("apps/web/current", &QueryOptions::new())
        .await
        .expect_err("unknown");
    assert!(matches!(err, Error::AclNotFound), "{err:?}");
    let err = client.acl().token_self().await.expect_err("unknown");
    assert!(matches!(err, Error::AclNotFound), "{err:?}");
    assert!(!err.to_string().contains("no-such-token"));
}

#[tokio::test]
async fn the_three_token_cases_of_a_403_are_told_apart() {
    let env = acl_env().await;
    let sim = env.sim.as_ref().expect("sim");
    let read = |client: consul_client::Client| async move {
        client
            .kv()
            .get("secrets/db", &QueryOptions::new())
            .await
            .expect_err("denied")
    };
    // No token: the anonymous token (deny by default) lacks the rights.
    let anonymous = read(client_for(sim, None)).await;
    assert!(
        matches!(
            anonymous,
            Error::PermissionDenied {
                token_sent: false,
                ..
            }
        ),
        "{anonymous:?}"
    );
    assert!(
        anonymous.to_string().contains("no token was sent"),
        "{anonymous}"
    );
    // A known token without the rights.
    let lacking = read(client_for(sim, Some(DEPLOYER))).await;
    assert!(
        matches!(
            lacking,
            Error::PermissionDenied {
                token_sent: true,
                ..
            }
        ),
        "{lacking:?}"
    );
    assert!(
        lacking.to_string().contains("the token sent lacks"),
        "{lacking}"
    );
    // A token Consul does not know.
    let unknown = read(client_for(sim, Some("no-such-token-2222"))).await;
    assert!(matches!(unknown, Error::AclNotFound), "{unknown:?}");
    assert!(client_for(sim, Some(DEPLOYER)).sends_token());
    assert!(!client_for(sim, None).sends_token());
}

#[tokio::test]
async fn token_self_describes_the_token_without_its_secret() {
    let env = acl_env().await;
    let client = client_for(env.sim.as_ref().expect("sim"), Some(DEPLOYER));
    let token = client.acl().token_self().await.expect("token self");
    assert!(!token.accessor_id.is_empty());
    assert_ne!(token.accessor_id, DEPLOYER);
    assert!(!format!("{token:?}").contains(DEPLOYER));
}

#[tokio::test]
async fn token_travels_only_in_the_header_never_in_a_url() {
    let env = acl_env().await;
    let client = client_for(env.sim.as_ref().expect("sim"), Some(MASTER));
    // A bit of everything, including failures.
    client
        .kv()
        .put("apps/web/a", b"1", &PutOptions::new())
        .await
        .expect("put");
    client
        .kv()
        .get("apps/web/a", &QueryOptions::consistent())
        .await
        .expect("get");
    client
        .kv()
        .list("apps/", &QueryOptions::new())
        .await
        .expect("list");
    client
        .kv()
        .keys("apps/", Some("/"), &QueryOptions::new())
        .await
        .expect("keys");
    client.txn(&[TxnOp::get("apps/web/a")]).await.expect("txn");
    let _ = client.txn(&[TxnOp::get("apps/web/missing")]).await;
    let sid = client
        .session()
        .create(&SessionRequest::new("t"))
        .await
        .expect("session");
    client.session().renew(&sid).await.expect("renew");
    client.session().destroy(&sid).await.expect("destroy");
    let lock = Lock::new(
        client.clone(),
        consul_client::LockOptions::new("apps/web/lock", b"x".to_vec()),
    )
    .expect("lock");
    if let LockAttempt::Acquired(held) = lock.acquire(AcquireMode::TryOnce).await.expect("attempt")
    {
        held.release().await.expect("release");
    }
    client
        .event()
        .fire("deploy", b"p", &EventFilter::new())
        .await
        .expect("fire");
    client
        .event()
        .list(Some("deploy"), &QueryOptions::new())
        .await
        .expect("list");
    client.status().leader().await.expect("leader");
    client.acl().token_self().await.expect("self");

    let requests = env.control().requests();
    assert!(requests.len() >= 15, "{}", requests.len());
    for r in &requests {
        assert!(
            !r.path_and_query.contains(MASTER),
            "token in URL: {}",
            r.method
        );
        assert!(
            !r.path_and_query.contains("token="),
            "token parameter in {}",
            r.path_and_query
        );
        assert_eq!(
            r.header("x-consul-token"),
            Some(MASTER),
            "{} {}",
            r.method,
            r.path_and_query
        );
        assert_eq!(r.header("authorization"), None);
    }
}

#[tokio::test]
async fn token_file_wins_over_token_and_is_trimmed() {
    let env = acl_env().await;
    let dir = std::env::temp_dir().join(format!("consul-client-test-{:x}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("token");
    std::fs::write(&file, format!("  {DEPLOYER}\n")).expect("write");
    let config = consul_client::Config::new(&env.sim.as_ref().expect("sim").url())
        .expect("url")
        .with_token("wrong-token")
        .with_token_file(&file);
    let client = consul_client::Client::new(config).expect("client");
    client
        .kv()
        .get("apps/web/x", &QueryOptions::new())
        .await
        .expect("the file's token is used");
    let _ = std::fs::remove_dir_all(&dir);
    let last = env.control().requests().pop().expect("a request");
    assert_eq!(last.header("x-consul-token"), Some(DEPLOYER));
}
