//! Consul through consul-client: KV, transactions, sessions and locks, blocking queries, events.

use std::time::Duration;

use anyhow::{Result, bail, ensure};
use consul_client::{
    AcquireMode, DeleteOptions, EventFilter, Lock, LockAttempt, LockOptions, PutOptions,
    QueryOptions, TxnOp,
};

use crate::util::{scoped, within};

#[tokio::test]
async fn kv_put_get_cas_and_delete_behave_as_consul_documents() -> Result<()> {
    scoped(async |ctx| {
        let kv = ctx.consul.kv();
        let key = ctx.scope.key("kv/tag")?;
        ensure!(
            kv.put(&key, b"v1", &PutOptions::new().cas(0)).await?,
            "create-only put"
        );
        ensure!(
            !kv.put(&key, b"again", &PutOptions::new().cas(0)).await?,
            "a second create-only put must fail"
        );
        let (pair, meta) = kv.get(&key, &QueryOptions::consistent()).await?;
        let Some(pair) = pair else {
            bail!("{key} not found after put")
        };
        ensure!(
            pair.value == b"v1",
            "value read back: {:?}",
            pair.value_str()
        );
        ensure!(
            meta.index >= pair.modify_index,
            "index {} < ModifyIndex",
            meta.index
        );

        let stale = pair.modify_index + 1_000_000;
        ensure!(
            !kv.put(&key, b"v2", &PutOptions::new().cas(stale)).await?,
            "stale cas"
        );
        ensure!(
            kv.put(&key, b"v2", &PutOptions::new().cas(pair.modify_index))
                .await?,
            "cas"
        );
        let (now, _) = kv.get(&key, &QueryOptions::consistent()).await?;
        ensure!(now.map(|p| p.value) == Some(b"v2".to_vec()), "cas wrote v2");

        ensure!(
            kv.delete(&key, &DeleteOptions::new()).await?,
            "delete answers true"
        );
        let (gone, meta) = kv.get(&key, &QueryOptions::consistent()).await?;
        ensure!(gone.is_none(), "deleted key still readable");
        ensure!(meta.index > 0, "a missing key still carries X-Consul-Index");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn failed_txn_check_rolls_back_every_operation() -> Result<()> {
    scoped(async |ctx| {
        let kv = ctx.consul.kv();
        let current = ctx.scope.key("txn/current")?;
        let previous = ctx.scope.key("txn/previous")?;
        kv.put(&current, b"v1", &PutOptions::new()).await?;
        let (pair, _) = kv.get(&current, &QueryOptions::consistent()).await?;
        let index = pair.map_or(0, |p| p.modify_index);

        let refused = ctx
            .consul
            .txn(&[
                TxnOp::set(previous.clone(), b"v1".to_vec()),
                TxnOp::check_index(current.clone(), index + 1_000_000),
                TxnOp::set(current.clone(), b"v2".to_vec()),
            ])
            .await;
        match refused {
            Err(consul_client::Error::TxnRolledBack { errors }) => {
                ensure!(errors.len() == 1, "one failed op: {errors:?}");
            }
            other => bail!("expected a rollback, got {other:?}"),
        }
        let (prev, _) = kv.get(&previous, &QueryOptions::consistent()).await?;
        ensure!(
            prev.is_none(),
            "the set before the failed check was rolled back"
        );
        let (cur, _) = kv.get(&current, &QueryOptions::consistent()).await?;
        ensure!(
            cur.map(|p| p.value) == Some(b"v1".to_vec()),
            "current unchanged"
        );

        ctx.consul
            .txn(&[
                TxnOp::set(previous.clone(), b"v1".to_vec()),
                TxnOp::check_index(current.clone(), index),
                TxnOp::set(current.clone(), b"v2".to_vec()),
            ])
            .await?;
        let (cur, _) = kv.get(&current, &QueryOptions::consistent()).await?;
        ensure!(cur.map(|p| p.value) == Some(b"v2".to_vec()), "txn applied");
        Ok(())
    })
    .await
}

fn lock_options(ctx: &crate::util::Ctx, holder: &str) -> Result<LockOptions> {
    Ok(
        LockOptions::new(ctx.scope.key("lock")?, holder.as_bytes().to_vec())
            .session_name(format!("{} {holder}", ctx.scope.prefix()))
            .session_ttl(Duration::from_secs(30))
            // No lock-delay: a released lock is free at once, and the suite never crashes a holder.
            .lock_delay(Duration::ZERO),
    )
}

#[tokio::test]
async fn lock_is_acquired_contended_and_released() -> Result<()> {
    scoped(async |ctx| {
        let first = Lock::new(ctx.consul.clone(), lock_options(ctx, "first")?)?;
        let second = Lock::new(ctx.consul.clone(), lock_options(ctx, "second")?)?;

        let held = match within("first acquire", first.acquire(AcquireMode::TryOnce)).await?? {
            LockAttempt::Acquired(held) => held,
            other => bail!("a free lock was not acquired: {other:?}"),
        };
        ctx.scope.record_session(held.session_id());
        let (sessions, _) = ctx
            .consul
            .session()
            .list(&QueryOptions::consistent())
            .await?;
        ensure!(
            sessions.iter().any(|s| s.id == held.session_id()),
            "the lock's session is listed"
        );

        match within("contended acquire", second.acquire(AcquireMode::TryOnce)).await?? {
            LockAttempt::Busy { holder: Some(pair) } => {
                ensure!(
                    pair.value == b"first",
                    "holder named: {:?}",
                    pair.value_str()
                );
                ensure!(
                    pair.session.as_deref() == Some(held.session_id()),
                    "holder session"
                );
            }
            other => bail!("a held lock was not reported busy: {other:?}"),
        }

        let session = held.session_id().to_owned();
        held.release().await?;
        let (info, _) = ctx
            .consul
            .session()
            .info(&session, &QueryOptions::consistent())
            .await?;
        ensure!(
            info.is_none(),
            "release destroys the session the lock created"
        );

        match within(
            "acquire after release",
            second.acquire(AcquireMode::TryOnce),
        )
        .await??
        {
            LockAttempt::Acquired(held) => {
                ctx.scope.record_session(held.session_id());
                held.release().await?;
            }
            other => bail!("a released lock was not free: {other:?}"),
        }
        Ok(())
    })
    .await
}

#[tokio::test]
async fn lock_taken_with_reads_returns_them_from_the_acquiring_txn() -> Result<()> {
    scoped(async |ctx| {
        let data = ctx.scope.key("lock-reads/data")?;
        ctx.consul
            .kv()
            .put(&data, b"read under the lock", &PutOptions::new())
            .await?;
        // Seen free (missing) at 0: one guarded transaction takes it and reads `data`.
        let options = lock_options(ctx, "reader")?
            .seen_free_at(0)
            .reads(vec![TxnOp::get_tree(data.clone())]);
        let lock = Lock::new(ctx.consul.clone(), options)?;
        let held = match within("acquire with reads", lock.acquire(AcquireMode::TryOnce)).await?? {
            LockAttempt::Acquired(held) => held,
            other => bail!("a free lock was not acquired: {other:?}"),
        };
        ctx.scope.record_session(held.session_id());
        let reads = held.acquired_reads();
        ensure!(
            reads.len() == 1 && reads[0].key == data,
            "the read came back: {reads:?}"
        );
        ensure!(
            reads[0].value == b"read under the lock",
            "with its value: {:?}",
            reads[0].value_str()
        );
        held.release().await?;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn idempotent_txn_that_sets_and_deletes_leaves_nothing_behind() -> Result<()> {
    scoped(async |ctx| {
        let probe = ctx.scope.key("probe")?;
        let done = within(
            "idempotent txn",
            ctx.consul.idempotent_txn(&[
                TxnOp::set(probe.clone(), b"probe".to_vec()),
                TxnOp::delete(probe.clone()),
                TxnOp::get_tree(probe.clone()),
            ]),
        )
        .await??;
        ensure!(
            done.results.iter().all(|p| p.value.is_empty()),
            "the get-tree found nothing after the delete: {:?}",
            done.results
        );
        let (left, _) = ctx
            .consul
            .kv()
            .get(&probe, &QueryOptions::consistent())
            .await?;
        ensure!(left.is_none(), "nothing left behind");
        Ok(())
    })
    .await
}

#[tokio::test]
async fn blocking_query_wakes_on_a_write_to_its_key() -> Result<()> {
    scoped(async |ctx| {
        let key = ctx.scope.key("watched")?;
        let (missing, meta) = ctx.consul.kv().get(&key, &QueryOptions::new()).await?;
        ensure!(missing.is_none(), "fresh key exists");
        let consul = ctx.consul.clone();
        let watched = key.clone();
        let waiter = tokio::spawn(async move {
            consul
                .kv()
                .get(
                    &watched,
                    &QueryOptions::new().blocking(meta.index, Duration::from_secs(20)),
                )
                .await
        });
        ctx.consul
            .kv()
            .put(&key, b"changed", &PutOptions::new())
            .await?;
        let (pair, woke) = within("blocking query", waiter).await???;
        ensure!(
            woke.index > meta.index,
            "index moved: {} -> {}",
            meta.index,
            woke.index
        );
        ensure!(
            pair.map(|p| p.value) == Some(b"changed".to_vec()),
            "woke with the new value"
        );
        Ok(())
    })
    .await
}

#[tokio::test]
async fn user_event_fired_is_listed_with_its_payload() -> Result<()> {
    scoped(async |ctx| {
        let name = ctx.scope.event_name("deploy")?;
        let fired = ctx
            .consul
            .event()
            .fire(&name, b"shop v2", &EventFilter::new())
            .await?;
        ensure!(fired.name == name, "fired event named {}", fired.name);
        // A real agent learns of the event over gossip, so wait on the list's index for it.
        let events = within("event list", async {
            let mut index = 0;
            loop {
                let opts = QueryOptions::new().blocking(index, Duration::from_secs(5));
                let (events, meta) = ctx.consul.event().list(Some(&name), &opts).await?;
                if events.iter().any(|e| e.id == fired.id) {
                    return anyhow::Ok(events);
                }
                index = meta.index;
            }
        })
        .await??;
        let Some(listed) = events.iter().find(|e| e.id == fired.id) else {
            bail!("event {} not listed among {}", fired.id, events.len())
        };
        ensure!(listed.payload == b"shop v2", "payload {:?}", listed.payload);
        ensure!(
            events.iter().all(|e| e.name == name),
            "the name filter holds"
        );
        Ok(())
    })
    .await
}
