//! The duncan process killed with SIGKILL at each phase of the protocol: after the session TTL
//! and lock-delay the lock is free, Consul holds exactly the state before or after the deploy,
//! and `duncan status` shows any drift between Marathon and Consul.

use std::time::Duration;

use duncan_core::release::Outcome;
use marathon_sim::TaskOutcome;

use crate::support::{
    Home, LOCK_EXPIRY, PREFIX, Sims, app_env, deploy_args, hold_foreign_lock, marathon_options,
    report,
};

/// Where in the protocol the process dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    WaitingForLock,
    LockHeld,
    Watching,
    FinalTxn,
    Rollback,
}

/// Runs one kill at `phase`; returns a description of the state found afterwards.
async fn kill_at(phase: Phase) -> String {
    let sims = Sims::start_with(
        consul_sim::SimOptions::default(),
        marathon_options()
            .rule("*:slow", TaskOutcome::Slow(Duration::from_secs(3600)))
            .rule("*:broken", TaskOutcome::NeverHealthy),
    )
    .await;
    let target = app_env("shop", "stage");
    sims.seed(&target, "v0", &["web", "worker"]).await;
    if phase == Phase::Rollback {
        // Old tasks go first, so that the rollback has tasks to start (which then hang).
        let mut group = crate::support::seed_group(&target, "v0", &["web", "worker"]);
        if let Some(apps) = group["apps"].as_array_mut() {
            for app in apps {
                app["upgradeStrategy"] =
                    serde_json::json!({"minimumHealthCapacity": 0.0, "maximumOverCapacity": 0.0});
            }
        }
        reqwest::Client::new()
            .put(format!("{}/v2/groups/shop-stage", sims.marathon.url()))
            .json(&group)
            .send()
            .await
            .expect("marathon-sim answers")
            .error_for_status()
            .expect("upgrade strategy changed");
        sims.wait_idle().await;
    }
    let home = Home::with_config(&sims.config(&["shop"]));
    let foreign = if phase == Phase::WaitingForLock {
        Some(hold_foreign_lock(&sims, &target).await)
    } else {
        None
    };
    let before = sims.deploy_state();
    let tag = match phase {
        Phase::Rollback => "broken",
        Phase::FinalTxn | Phase::Watching => "slow",
        Phase::WaitingForLock | Phase::LockHeld => "v1",
    };
    let mut args = deploy_args("shop", "stage", tag);
    match phase {
        Phase::WaitingForLock => args.extend(["--wait", "10m"]),
        Phase::Rollback => args.extend(["--timeout", "2s"]),
        _ => {}
    }
    let seeded = sims.marathon.control().deployment_history().len();
    sims.marathon.control().clear_requests();
    if phase == Phase::LockHeld {
        // Every Marathon request takes 300 ms: the event stream, opened beside the lock and
        // awaited before the group PUT, keeps the PUT that far behind the acquire, and the kill
        // lands in between.
        sims.marathon
            .control()
            .set_latency(Duration::from_millis(300));
    }
    let mut child = home.command(&args, &[]).spawn().expect("spawn duncan");

    let reached = match phase {
        Phase::WaitingForLock => {
            sims.wait_until(async || sims.session_count().await >= 2)
                .await
        }
        Phase::LockHeld => {
            // Read the sim's state directly: an HTTP read would wait out the latency too.
            let lock_key = target.lock_key();
            sims.wait_until(async || sims.consul.control().kv_snapshot().contains_key(&lock_key))
                .await
        }
        Phase::Watching => {
            sims.wait_until(async || !sims.deployments().await.is_empty())
                .await
        }
        Phase::FinalTxn => {
            let started = sims
                .wait_until(async || !sims.deployments().await.is_empty())
                .await;
            // The audit event of the start is a transaction too: let it land first, so that
            // the next transaction is the final one.
            let events = target.events_prefix();
            let audited = sims
                .wait_until(async || {
                    sims.consul
                        .control()
                        .kv_snapshot()
                        .keys()
                        .any(|k| k.starts_with(&events))
                })
                .await;
            let control = sims.consul.control();
            control.clear_requests();
            control.set_latency(Duration::from_secs(1));
            let id = sims
                .marathon
                .control()
                .deployment_history()
                .last()
                .map(|d| d.id.clone())
                .unwrap_or_default();
            sims.marathon
                .control()
                .set_rule("*:slow", TaskOutcome::Healthy);
            let completed = sims.marathon.control().complete_deployment_now(&id);
            started
                && audited
                && completed
                && sims
                    .wait_until(async || {
                        control
                            .requests()
                            .iter()
                            .any(|r| r.path_and_query.starts_with("/v1/txn"))
                    })
                    .await
        }
        Phase::Rollback => {
            let started = sims
                .wait_until(async || !sims.deployments().await.is_empty())
                .await;
            // Tasks staged from now on take an hour: the rollback cannot finish before the kill.
            sims.marathon
                .control()
                .set_task_start(Duration::from_secs(3600));
            started
                && sims
                    .wait_until(async || {
                        sims.marathon.control().deployment_history().len() >= seeded + 2
                    })
                    .await
        }
    };
    assert!(reached, "the deploy never reached {phase:?}");
    child.start_kill().expect("SIGKILL");
    let status = child.wait().await.expect("wait");
    assert_eq!(status.code(), None, "killed by a signal");
    if phase == Phase::LockHeld {
        assert_eq!(
            sims.marathon_writes(),
            0,
            "killed with the lock held, before the group PUT"
        );
    }
    sims.consul.control().set_latency(Duration::ZERO);
    sims.marathon.control().set_latency(Duration::ZERO);
    // Let a request the sim still holds finish, as a server would after its client vanished.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Before the TTL runs out, the dead process's lock is still there (unless it never had it).
    let held_before_expiry = sims.lock_session(&target).await;
    sims.consul.control().advance_clock(LOCK_EXPIRY);
    let holder = sims.lock_session(&target).await;
    assert_eq!(
        holder, foreign,
        "after TTL + lock-delay only a foreign lock remains"
    );
    assert_eq!(
        sims.session_count().await,
        usize::from(foreign.is_some()),
        "the dead process's session expired"
    );
    let lock = home
        .run(&["lock", "status", "-a", "shop", "-e", "stage"], &[])
        .await;
    lock.assert_no_panic();
    if foreign.is_none() {
        assert!(lock.stdout.contains("free"), "{lock:?}");
    }

    // Consul holds exactly the state before, or exactly the state after.
    let after = sims.deploy_state();
    let history = sims.history(&target);
    let state = if after == before {
        "before".to_owned()
    } else {
        let current = sims.kv(&target.current_key());
        let previous = sims.kv(&target.previous_key());
        let succeeded: Vec<_> = history
            .iter()
            .filter(|r| r.outcome == Outcome::Succeeded)
            .collect();
        match (succeeded.as_slice(), current.as_deref()) {
            ([record], Some(now)) if record.tag.as_str() == now => {
                assert_eq!(
                    previous.as_deref(),
                    Some("v0"),
                    "previous moved with current"
                );
                "after (released)".to_owned()
            }
            ([], Some("v0")) => {
                assert_eq!(previous, None, "previous untouched");
                if history.is_empty() {
                    // Only audit events were added: the start of the deploy is on record.
                    "before (plus the audit event of the start)".to_owned()
                } else {
                    "after (failure recorded)".to_owned()
                }
            }
            _ => panic!("half a state: current {current:?}, previous {previous:?}, {history:?}"),
        }
    };

    // The deployment the dead process left running can still be followed to its end.
    let orphans: Vec<String> = sims
        .deployments()
        .await
        .iter()
        .filter_map(|d| d["id"].as_str().map(str::to_owned))
        .collect();
    // A rollback deployment too: `duncan watch` targets the definitions it restores.
    let follow = orphans.first();
    let follower = follow.map(|id| {
        home.command(&["watch", id, "--timeout", "1m"], &[])
            .spawn()
            .expect("spawn duncan watch")
    });
    if follower.is_some() {
        // Let `duncan watch` attach before the deployment ends.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Marathon finishes what the dead process started; `duncan status` then tells whether
    // Marathon and Consul disagree.
    let control = sims.marathon.control();
    control.set_rule("*:slow", TaskOutcome::Healthy);
    control.set_task_start(Duration::from_millis(5));
    for id in &orphans {
        control.complete_deployment_now(id);
    }
    sims.wait_idle().await;
    if let Some(follower) = follower {
        let output = tokio::time::timeout(Duration::from_secs(60), follower.wait_with_output())
            .await
            .expect("duncan watch ends")
            .expect("output");
        assert_eq!(
            output.status.code(),
            Some(0),
            "duncan watch follows the orphaned deployment to its end: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let status = home
        .run(&["status", "-a", "shop", "-e", "stage"], &[])
        .await;
    status.assert_no_panic();
    assert_eq!(status.code, 0, "{status:?}");
    let marathon_tag = sims
        .image(&format!("{}/web", target.group_id()))
        .and_then(|i| {
            i.strip_prefix(&format!("{PREFIX}/shop:"))
                .map(str::to_owned)
        });
    let consul_tag = sims.kv(&target.current_key());
    if marathon_tag != consul_tag {
        assert!(
            status.stdout.contains("drift"),
            "drift not shown: {status:?}"
        );
    }
    format!(
        "{phase:?}: {}lock {} until TTL + lock-delay, then free of the dead process; \
         Consul {state}; Marathon {} Consul",
        if follow.is_none() {
            ""
        } else {
            "the orphaned deployment followed to its end by `duncan watch`; "
        },
        match (&foreign, &held_before_expiry) {
            (Some(_), _) => "(someone else's) stays held",
            (None, Some(_)) => "held",
            (None, None) => "not held",
        },
        if marathon_tag == consul_tag {
            "agrees with"
        } else {
            "drifts from (shown by status)"
        }
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_waiting_for_the_lock_leaves_nothing_behind() {
    let figure = kill_at(Phase::WaitingForLock).await;
    report("SIGKILL while waiting for the lock", 1, "pass", &figure);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_with_the_lock_held_frees_it_after_ttl_and_lock_delay() {
    let figure = kill_at(Phase::LockHeld).await;
    report("SIGKILL with the lock held", 1, "pass", &figure);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_watching_leaves_tags_unchanged_and_status_shows_drift() {
    let figure = kill_at(Phase::Watching).await;
    report(
        "SIGKILL after the group PUT, while watching",
        1,
        "pass",
        &figure,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_the_final_txn_leaves_before_or_after_never_half() {
    let figure = kill_at(Phase::FinalTxn).await;
    report("SIGKILL during the final Consul txn", 1, "pass", &figure);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_rollback_keeps_tags_and_frees_the_lock() {
    let figure = kill_at(Phase::Rollback).await;
    report("SIGKILL during the rollback", 1, "pass", &figure);
}
