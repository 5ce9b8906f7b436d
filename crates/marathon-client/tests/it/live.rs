//! Read-only checks that run against a real Marathon when `MARATHON_URL` (or `DCOS_URL`)
//! points at one, and against a seeded marathon-sim otherwise. They change nothing, so they
//! are safe to point at any cluster.

use std::time::Duration;

use futures_util::StreamExt;
use marathon_client::{AppEmbed, Client, Event, EventStreamOptions, GroupEmbed};
use marathon_sim::MarathonSim;

use crate::sim::{seed, start};

/// A client of the real Marathon named by the environment, or of a seeded simulator.
async fn target() -> (Option<MarathonSim>, Client) {
    let real = ["MARATHON_URL", "DCOS_URL"]
        .iter()
        .any(|name| std::env::var(name).is_ok_and(|v| !v.trim().is_empty()));
    if real {
        (
            None,
            Client::from_env().expect("client from the environment"),
        )
    } else {
        let (sim, client) = start().await;
        seed(&client, "1.0").await;
        (Some(sim), client)
    }
}

#[tokio::test]
async fn every_read_decodes() {
    let (_sim, client) = target().await;
    client.ping().await.unwrap();
    let info = client.info().await.unwrap();
    assert!(info.version.is_some(), "{info:?}");
    let root = client
        .root_group(&[GroupEmbed::Groups, GroupEmbed::Apps])
        .await
        .unwrap();
    assert_eq!(root.id, "/");
    let apps = client
        .apps(&[AppEmbed::Counts, AppEmbed::Deployments])
        .await
        .unwrap();
    assert_eq!(apps.len(), root.all_apps().len());
    if let Some(first) = apps.first() {
        let one = client.app(&first.id, &[AppEmbed::Tasks]).await.unwrap();
        assert_eq!(one.id, first.id);
        assert!(one.tasks.is_some());
    }
    client.deployments().await.unwrap();
}

#[tokio::test]
async fn event_stream_opens_with_event_stream_attached() {
    let (_sim, client) = target().await;
    let mut events = client.events(&EventStreamOptions::new()).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event within 10 s")
        .expect("stream open")
        .expect("event decodes");
    assert!(matches!(first, Event::EventStreamAttached(_)), "{first:?}");
}
