//! The suite's own safety: it refuses a prefix that is not unique, and its cleanup removes
//! exactly what its scope created.

use std::time::Duration;

use anyhow::{Result, bail, ensure};
use consul_client::{PutOptions, QueryOptions, SessionRequest};
use duncan_tests::it_scope::{Scope, ScopeError, Target};
use marathon_client::{Group, GroupUpdateOptions};
use serde_json::json;

#[test]
fn refuses_to_run_without_a_unique_prefix() {
    for prefix in [
        "",
        "duncan-it",
        "duncan-it-",
        "deploys",
        "duncan-it-1234",
        "duncan-it-0000000000000000",
        "duncan-it-DEADBEEFDEADBEEF",
    ] {
        match Scope::parse(prefix) {
            Err(e @ ScopeError::NotUnique { .. }) => {
                assert!(e.to_string().starts_with("refusing to run"), "{e}");
            }
            other => panic!("prefix {prefix:?} was not refused: {other:?}"),
        }
    }
}

#[test]
fn scoped_names_cannot_leave_the_prefix() {
    let scope = Scope::generate();
    assert!(scope.key("../deploys/shop/production/current").is_err());
    assert!(scope.key("/deploys").is_err());
    assert!(scope.group_id("../shop-production").is_err());
    assert!(scope.group_id("Shop").is_err());
}

fn group(id: &str) -> Result<Group> {
    Ok(serde_json::from_value(json!({
        "id": id,
        "apps": [{"id": format!("{id}/app"), "instances": 0, "cpus": 0.01, "mem": 16,
                  "container": {"type": "DOCKER", "docker": {"image": "busybox:1.36"}}}]
    }))?)
}

async fn key_exists(consul: &consul_client::Client, key: &str) -> Result<bool> {
    Ok(consul
        .kv()
        .get(key, &QueryOptions::consistent())
        .await?
        .0
        .is_some())
}

async fn group_exists(marathon: &marathon_client::Client, id: &str) -> Result<bool> {
    match marathon.group(id, &[]).await {
        Ok(_) => Ok(true),
        Err(marathon_client::Error::NotFound { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[tokio::test]
async fn refuses_to_adopt_a_group_it_did_not_create() -> Result<()> {
    let target = Target::from_env().await?;
    let marathon = target.marathon_client()?;
    let consul = target.consul_client()?;
    let ours = Scope::generate();
    let other = Scope::generate();
    let foreign = group(&other.group_id("web")?)?;
    match ours.create_group(&marathon, &foreign).await {
        Err(ScopeError::NotOurs { .. }) => {}
        other => bail!("another run's group id was accepted: {other:?}"),
    }
    ensure!(ours.created_groups().is_empty(), "nothing recorded");
    ours.cleanup(&consul, &marathon).await?;
    Ok(())
}

#[tokio::test]
async fn cleanup_removes_only_its_own_keys_groups_and_sessions() -> Result<()> {
    let target = Target::from_env().await?;
    eprintln!("integration target: {}", target.describe());
    let consul = target.consul_client()?;
    let marathon = target.marathon_client()?;
    let ours = Scope::generate();
    // Another run's scope stands for everything that is not ours; it is safe to create
    // against real services because it is cleaned up at the end.
    let other = Scope::generate();
    let put = async |key: &str| consul.kv().put(key, b"x", &PutOptions::new()).await;

    let mut foreign_keys = vec![other.key("kv/a")?];
    let mut foreign_groups = vec![other.group_id("web")?];
    other
        .create_group(&marathon, &group(&foreign_groups[0])?)
        .await?;
    let simulated = target.consul_sim().is_some() && target.marathon_sim().is_some();
    if simulated {
        // Only the sims get keys and groups outside any scope, and look-alikes of ours: a
        // real cluster must never see a write the suite cannot take back.
        foreign_keys.extend([
            "deploys/shop/production/current".to_owned(),
            ours.prefix().to_owned(),
            format!("{}0/a", ours.prefix()),
            format!("{}-x/a", ours.prefix()),
        ]);
        for id in [
            "/shop-production".to_owned(),
            format!("/{}-unrecorded", ours.prefix()),
        ] {
            marathon
                .update_group(&group(&id)?, GroupUpdateOptions::default())
                .await?;
            foreign_groups.push(id);
        }
    }
    for key in &foreign_keys {
        put(key).await?;
    }

    let our_keys = [ours.key("a")?, ours.key("b/c")?];
    for key in &our_keys {
        put(key).await?;
    }
    let our_group = ours.group_id("web")?;
    ours.create_group(&marathon, &group(&our_group)?).await?;
    let session = consul
        .session()
        .create(
            &SessionRequest::new(format!("{} cleanup test", ours.prefix()))
                .ttl(Duration::from_secs(30)),
        )
        .await?;
    ours.record_session(&session);

    let done = ours.cleanup(&consul, &marathon).await?;
    ensure!(
        done.groups_deleted == [our_group.clone()],
        "deleted {:?}",
        done.groups_deleted
    );
    ensure!(
        done.sessions_destroyed == 1,
        "sessions destroyed: {}",
        done.sessions_destroyed
    );

    for key in &our_keys {
        ensure!(
            !key_exists(&consul, key).await?,
            "{key} survived its cleanup"
        );
    }
    ensure!(
        !group_exists(&marathon, &our_group).await?,
        "{our_group} survived"
    );
    let (info, _) = consul
        .session()
        .info(&session, &QueryOptions::consistent())
        .await?;
    ensure!(info.is_none(), "the recorded session survived");

    let mut survivors = Vec::new();
    for key in &foreign_keys {
        survivors.push(key_exists(&consul, key).await?);
    }
    for id in &foreign_groups {
        survivors.push(group_exists(&marathon, id).await?);
    }
    other.cleanup(&consul, &marathon).await?;
    ensure!(
        survivors.iter().all(|s| *s),
        "something not ours was removed: keys {foreign_keys:?}, groups {foreign_groups:?}: {survivors:?}"
    );
    Ok(())
}
