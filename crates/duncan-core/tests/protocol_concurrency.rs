//! Twenty deployers racing for one app/env: the lock serializes them end to end.

mod protocol_common;

use std::time::Duration;

use duncan_core::deploy::{DeployOutcome, deploy};
use duncan_core::release::Outcome;
use protocol_common::{Recorder, Sims, app_env, request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_deploys_never_overlap_and_record_each_success_once() {
    let sims = Sims::start().await;
    let target = app_env("shop");
    sims.seed(&target, "v0").await;
    let seeded = sims.marathon.control().deployment_history().len();

    let deploys = (1..=20).map(|i| {
        let ctx = sims.ctx(&format!("user{i}"));
        let mut req = request(&target, &format!("v{i}"));
        req.options.wait_for_lock = Some(Duration::from_secs(60));
        async move {
            let result = deploy(&ctx, req, &Recorder::new().1).await;
            (i, result)
        }
    });
    let results = futures_util::future::join_all(deploys).await;

    let succeeded: Vec<u32> = results
        .iter()
        .filter_map(|(i, r)| match r {
            Ok(report) if matches!(report.outcome, DeployOutcome::Deployed { .. }) => Some(*i),
            _ => None,
        })
        .collect();
    for (i, result) in &results {
        if let Err(error) = result {
            panic!("deploy v{i} failed: {error}");
        }
    }
    assert_eq!(succeeded.len(), 20);

    // No two deployments of the group overlap in Marathon.
    let mut history: Vec<_> = sims
        .marathon
        .control()
        .deployment_history()
        .into_iter()
        .skip(seeded)
        .collect();
    history.sort_by_key(|d| d.started);
    assert_eq!(history.len(), 20);
    for pair in history.windows(2) {
        let ended = pair[0].ended.expect("finished");
        assert!(
            ended <= pair[1].started,
            "{} ended at {ended:?} after {} started at {:?}",
            pair[0].id,
            pair[1].id,
            pair[1].started
        );
    }

    // Exactly one history record per success, and the tags follow the last two of them.
    let records = sims.history(&target).await;
    let successes: Vec<_> = records
        .iter()
        .filter(|r| r.outcome == Outcome::Succeeded)
        .collect();
    assert_eq!(successes.len(), 20);
    let mut tags: Vec<&str> = successes.iter().map(|r| r.tag.as_str()).collect();
    tags.sort_unstable();
    tags.dedup();
    assert_eq!(tags.len(), 20, "each tag recorded once");
    let last = successes.last().expect("a success");
    let before = successes[successes.len() - 2];
    assert_eq!(
        sims.kv(&target.current_key()).await.as_deref(),
        Some(last.tag.as_str())
    );
    assert_eq!(
        sims.kv(&target.previous_key()).await.as_deref(),
        Some(before.tag.as_str())
    );
    // Each record's `previous` is the tag recorded just before it: no lost update.
    for pair in successes.windows(2) {
        assert_eq!(pair[1].previous.as_ref(), Some(&pair[0].tag));
    }
    assert!(!sims.lock_held(&target).await);
    assert_eq!(sims.session_count(&target).await, 0);
}
