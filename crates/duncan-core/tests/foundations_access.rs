//! The ACL probe: allowed, denied, unknown token, Consul down, and nothing left behind.

mod common;

use common::{Backend, client, unique_target};
use consul_sim::{Access as SimAccess, Rule, SimOptions};
use duncan_core::access::{Access, allowed_to_manage, probe_access};
use duncan_core::names::AppEnv;

const MASTER: &str = "master-secret";
const DEPLOYER: &str = "deployer-secret";
const READER: &str = "reader-secret";

async fn acl_sim(target: &AppEnv) -> Backend {
    let options = SimOptions::default()
        .acl_master_token(MASTER)
        .token(DEPLOYER, vec![Rule::new(target.prefix(), SimAccess::Write)])
        .token(READER, vec![Rule::new("deploys/", SimAccess::Read)]);
    Backend::sim(options).await
}

#[tokio::test]
async fn token_with_write_on_the_prefix_is_allowed_and_leaves_nothing_behind() {
    let target = AppEnv::parse("web", "stage").unwrap();
    let backend = acl_sim(&target).await;
    let consul = backend.client_with_token(DEPLOYER);
    assert_eq!(
        probe_access(&consul, &target).await.unwrap(),
        Access::Allowed
    );
    assert!(allowed_to_manage(&consul, &target).await.unwrap());
    let snapshot = backend.control().kv_snapshot();
    assert!(
        !snapshot.contains_key(&target.acl_check_key()),
        "{snapshot:?}"
    );
    assert!(snapshot.is_empty(), "the probe wrote {snapshot:?}");
}

#[tokio::test]
async fn token_without_write_is_denied_not_an_error() {
    let target = AppEnv::parse("web", "stage").unwrap();
    let backend = acl_sim(&target).await;
    let reader = backend.client_with_token(READER);
    assert_eq!(
        probe_access(&reader, &target).await.unwrap(),
        Access::Denied
    );
    assert!(!allowed_to_manage(&reader, &target).await.unwrap());
    // The deployer's rule is for web/stage only.
    let other = AppEnv::parse("web", "production").unwrap();
    let deployer = backend.client_with_token(DEPLOYER);
    assert_eq!(
        probe_access(&deployer, &other).await.unwrap(),
        Access::Denied
    );
    assert!(backend.control().kv_snapshot().is_empty());
}

#[tokio::test]
async fn unknown_token_is_reported_as_such() {
    let target = AppEnv::parse("web", "stage").unwrap();
    let backend = acl_sim(&target).await;
    let stranger = backend.client_with_token("no-such-token");
    assert_eq!(
        probe_access(&stranger, &target).await.unwrap(),
        Access::TokenUnknown
    );
    assert!(!allowed_to_manage(&stranger, &target).await.unwrap());
}

#[tokio::test]
async fn consul_down_is_an_error_not_a_denial() {
    // Bind a port, then free it: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let consul = client(&url, None);
    let target = AppEnv::parse("web", "stage").unwrap();
    let err = allowed_to_manage(&consul, &target).await.unwrap_err();
    assert!(err.to_string().contains("web/stage"), "{err}");
    assert!(err.source.is_transient(), "{:?}", err.source);
}

#[tokio::test]
async fn consul_failing_with_5xx_is_retried_then_an_error() {
    let backend = Backend::sim(SimOptions::default()).await;
    let target = unique_target("stage");
    // The probe leaves nothing behind, so it is retried like a read through a brief failure…
    backend.control().fail_next(1, 500);
    assert_eq!(
        probe_access(&backend.client, &target).await.unwrap(),
        Access::Allowed
    );
    // …and a persistent one is an error, not a verdict.
    backend.control().fail_next(100, 500);
    assert!(probe_access(&backend.client, &target).await.is_err());
    backend.control().fail_next(0, 500);
    // Once Consul recovers, the probe answers again and still leaves nothing behind.
    assert_eq!(
        probe_access(&backend.client, &target).await.unwrap(),
        Access::Allowed
    );
    assert!(backend.control().kv_snapshot().is_empty());
}

#[tokio::test]
async fn probe_succeeds_without_acls() {
    let backend = Backend::start().await;
    let target = unique_target("stage");
    assert!(allowed_to_manage(&backend.client, &target).await.unwrap());
    let (left, _) = backend
        .client
        .kv()
        .get(
            &target.acl_check_key(),
            &consul_client::QueryOptions::consistent(),
        )
        .await
        .unwrap();
    assert_eq!(left, None);
}
