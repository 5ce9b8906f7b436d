//! User events, status and the leader.

use consul_client::{EventFilter, QueryOptions};

use crate::util::Env;

#[tokio::test]
async fn fired_event_is_listed_with_payload_and_filters() {
    let env = Env::any().await;
    let name = format!("cc-test-{:x}", fastrand::u32(..));
    let filter = EventFilter::new().service("web").tag("blue");
    let fired = env
        .client
        .event()
        .fire(&name, b"{\"tag\":\"v2\"}", &filter)
        .await
        .expect("fire");
    assert_eq!(fired.name, name);
    assert_eq!(fired.service_filter, "web");
    assert_eq!(fired.tag_filter, "blue");
    assert!(!fired.id.is_empty());

    let (events, meta) = env
        .client
        .event()
        .list(Some(&name), &QueryOptions::new())
        .await
        .expect("list");
    let listed = events.iter().find(|e| e.id == fired.id).expect("listed");
    assert_eq!(listed.payload, b"{\"tag\":\"v2\"}");
    assert!(meta.index > 0);
}

#[tokio::test]
async fn event_list_filters_by_name() {
    let env = Env::any().await;
    let a = format!("cc-a-{:x}", fastrand::u32(..));
    let b = format!("cc-b-{:x}", fastrand::u32(..));
    env.client
        .event()
        .fire(&a, b"", &EventFilter::new())
        .await
        .expect("fire");
    env.client
        .event()
        .fire(&b, b"", &EventFilter::new().node("node-1"))
        .await
        .expect("fire");
    let (only_a, _) = env
        .client
        .event()
        .list(Some(&a), &QueryOptions::new())
        .await
        .expect("list");
    assert!(!only_a.is_empty() && only_a.iter().all(|e| e.name == a));
    let (all, _) = env
        .client
        .event()
        .list(None, &QueryOptions::new())
        .await
        .expect("list");
    assert!(
        all.iter().any(|e| e.name == a)
            && all.iter().any(|e| e.name == b && e.node_filter == "node-1")
    );
}

#[tokio::test]
async fn status_names_the_leader() {
    let env = Env::any().await;
    let leader = env
        .client
        .status()
        .leader()
        .await
        .expect("leader")
        .expect("a leader");
    assert!(leader.contains(':'), "{leader}");
    let peers = env.client.status().peers().await.expect("peers");
    assert!(peers.contains(&leader));
}
