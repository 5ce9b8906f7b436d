//! Sessions: create, info, list, renew, destroy, and the renewal task.

use std::time::Duration;

use consul_client::{
    Client, Config, Error, QueryOptions, RetryPolicy, SessionBehavior, SessionLost, SessionRenewer,
    SessionRequest,
};

use crate::util::{Env, wait_until};

#[tokio::test]
async fn created_session_is_described_by_info_and_list() {
    let env = Env::any().await;
    let req = SessionRequest::new("described")
        .ttl(Duration::from_secs(30))
        .lock_delay(Duration::from_secs(5))
        .behavior(SessionBehavior::Delete);
    let id = env.client.session().create(&req).await.expect("create");
    let (info, meta) = env
        .client
        .session()
        .info(&id, &QueryOptions::new())
        .await
        .expect("info");
    let info = info.expect("the session exists");
    assert_eq!(info.id, id);
    assert_eq!(info.name, "described");
    assert_eq!(info.ttl, Some(Duration::from_secs(30)));
    assert_eq!(info.lock_delay, Duration::from_secs(5));
    assert_eq!(info.behavior, SessionBehavior::Delete);
    assert!(meta.index > 0);
    let (all, _) = env
        .client
        .session()
        .list(&QueryOptions::new())
        .await
        .expect("list");
    assert!(all.iter().any(|s| s.id == id));
    env.client.session().destroy(&id).await.expect("destroy");
}

#[tokio::test]
async fn renew_returns_the_session_and_unknown_sessions_are_not_found() {
    let env = Env::any().await;
    let req = SessionRequest::new("renewed").ttl(Duration::from_secs(10));
    let id = env.client.session().create(&req).await.expect("create");
    let renewed = env.client.session().renew(&id).await.expect("renew");
    assert_eq!(renewed.id, id);
    assert!(env.client.session().destroy(&id).await.expect("destroy"));
    let err = env
        .client
        .session()
        .renew(&id)
        .await
        .expect_err("destroyed");
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let (info, _) = env
        .client
        .session()
        .info(&id, &QueryOptions::new())
        .await
        .expect("info");
    assert_eq!(info, None);
}

#[tokio::test]
async fn ttl_session_expires_on_the_consul_clock_without_renewal() {
    let env = Env::sim(Default::default()).await;
    let req = SessionRequest::new("short").ttl(Duration::from_secs(10));
    let id = env.client.session().create(&req).await.expect("create");
    // Consul allows up to twice the TTL before expiring a session.
    env.control().advance_clock(Duration::from_secs(15));
    assert!(
        env.client
            .session()
            .info(&id, &QueryOptions::new())
            .await
            .expect("info")
            .0
            .is_some()
    );
    env.control().advance_clock(Duration::from_secs(10));
    assert!(
        env.client
            .session()
            .info(&id, &QueryOptions::new())
            .await
            .expect("info")
            .0
            .is_none()
    );
}

#[tokio::test]
async fn renewer_keeps_the_session_alive_across_ttls() {
    let env = Env::sim(Default::default()).await;
    let ttl = Duration::from_secs(10);
    let id = env
        .client
        .session()
        .create(&SessionRequest::new("kept").ttl(ttl))
        .await
        .expect("create");
    let renewer = SessionRenewer::start_with_interval(
        env.client.clone(),
        id.clone(),
        ttl,
        Duration::from_millis(20),
    );
    // Advance the Consul clock by less than 2×TTL at a time, letting a renewal land in between.
    for _ in 0..4 {
        let before = renew_count(&env);
        wait_until(|| renew_count(&env) > before).await;
        env.control().advance_clock(Duration::from_secs(15));
    }
    assert!(
        env.client
            .session()
            .info(&id, &QueryOptions::new())
            .await
            .expect("info")
            .0
            .is_some()
    );
    assert_eq!(renewer.loss(), None);
}

#[tokio::test]
async fn renewer_reports_an_invalidated_session() {
    let env = Env::sim(Default::default()).await;
    let ttl = Duration::from_secs(10);
    let id = env
        .client
        .session()
        .create(&SessionRequest::new("doomed").ttl(ttl))
        .await
        .expect("create");
    let mut renewer = SessionRenewer::start_with_interval(
        env.client.clone(),
        id.clone(),
        ttl,
        Duration::from_millis(20),
    );
    assert!(env.control().invalidate_session(&id));
    let lost = tokio::time::timeout(Duration::from_secs(5), renewer.lost())
        .await
        .expect("loss reported");
    assert_eq!(lost, SessionLost::Invalidated);
    assert_eq!(renewer.loss(), Some(SessionLost::Invalidated));
}

#[tokio::test]
async fn renewer_survives_brief_failures() {
    let env = Env::sim(Default::default()).await;
    let sim = env.sim.as_ref().expect("sim");
    let client = Client::new(
        Config::new(&sim.url())
            .expect("url")
            .with_retry(RetryPolicy::none()),
    )
    .expect("client");
    let ttl = Duration::from_secs(10);
    let id = client
        .session()
        .create(&SessionRequest::new("flaky").ttl(ttl))
        .await
        .expect("create");
    env.control().fail_next(2, 500);
    let renewer =
        SessionRenewer::start_with_interval(client, id.clone(), ttl, Duration::from_millis(20));
    // Two renewals fail, then one succeeds: the session is not reported lost.
    wait_until(|| renew_statuses(&env).contains(&200)).await;
    assert_eq!(renew_statuses(&env)[..2], [500, 500]);
    assert_eq!(renewer.loss(), None);
}

#[tokio::test]
async fn renewer_gives_up_after_a_full_ttl_of_failures() {
    let env = Env::sim(Default::default()).await;
    let sim = env.sim.as_ref().expect("sim");
    let client = Client::new(
        Config::new(&sim.url())
            .expect("url")
            .with_retry(RetryPolicy::none()),
    )
    .expect("client");
    let id = client
        .session()
        .create(&SessionRequest::new("unreachable").ttl(Duration::from_secs(10)))
        .await
        .expect("create");
    env.control().fail_next(10_000, 503);
    // The renewer's own notion of the TTL decides when it gives up; a short one keeps the test
    // quick, with renewals every 20 ms and retries in between.
    let mut renewer = SessionRenewer::start_with_interval(
        client,
        id,
        Duration::from_millis(300),
        Duration::from_millis(20),
    );
    let lost = tokio::time::timeout(Duration::from_secs(5), renewer.lost())
        .await
        .expect("loss reported");
    match lost {
        SessionLost::Unreachable { last_error } => {
            assert!(last_error.contains("503"), "{last_error}")
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(
        renew_statuses(&env).len() >= 2,
        "it retried before giving up"
    );
}

#[tokio::test]
async fn dropping_the_renewer_stops_renewals() {
    let env = Env::sim(Default::default()).await;
    let ttl = Duration::from_secs(10);
    let id = env
        .client
        .session()
        .create(&SessionRequest::new("dropped").ttl(ttl))
        .await
        .expect("create");
    let renewer =
        SessionRenewer::start_with_interval(env.client.clone(), id, ttl, Duration::from_millis(10));
    wait_until(|| renew_count(&env) >= 2).await;
    drop(renewer);
    // Let any request already on the wire land, then check that no new one follows.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after_drop = renew_count(&env);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(renew_count(&env), after_drop);
}

fn renew_statuses(env: &Env) -> Vec<u16> {
    env.control()
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query.starts_with("/v1/session/renew/"))
        .map(|r| r.status)
        .filter(|s| *s != 0)
        .collect()
}

fn renew_count(env: &Env) -> usize {
    renew_statuses(env).len()
}
