//! Load and concurrency: deployers racing on one app/env, and many app/envs at once.

use std::time::Duration;

use duncan_core::deploy::{DeployError, DeployOutcome, deploy};
use duncan_core::progress::ProgressSink;
use duncan_core::release::Outcome;

use duncan_core::names::AppEnv;

use crate::support::{Home, Sims, app_env, deploy_args, pick, report, request, seed};

/// What one race of `n` deployers left behind, counted.
#[derive(Debug, Default)]
struct RaceFigures {
    overlaps: usize,
    lost: usize,
    duplicated: usize,
    broken_chain: usize,
    locks_left: usize,
}

async fn race_once(n: usize, rng: &mut fastrand::Rng) -> RaceFigures {
    let sims = Sims::start().await;
    let target = app_env("shop", "stage");
    sims.seed(&target, "v0", &["web", "worker"]).await;
    let seeded = sims.marathon.control().deployment_history().len();

    let deploys = (1..=n).map(|i| {
        let ctx = sims.ctx(&format!("user{i}"));
        let mut req = request(&target, &format!("v{i}"));
        req.options.wait_for_lock = Some(Duration::from_secs(600));
        let delay = Duration::from_millis(rng.u64(0..40));
        async move {
            tokio::time::sleep(delay).await;
            (i, deploy(&ctx, req, &ProgressSink::none()).await)
        }
    });
    let results = futures_util::future::join_all(deploys).await;
    for (i, result) in &results {
        match result {
            Ok(report) => assert!(
                matches!(report.outcome, DeployOutcome::Deployed { .. }),
                "deploy v{i} ended as {:?}",
                report.outcome
            ),
            Err(error) => panic!("deploy v{i} failed: {error}"),
        }
    }
    count_race(&sims, &target, n, seeded).await
}

/// Counts what `n` racing deploys of `v1`…`v{n}` over `v0` left behind.
async fn count_race(sims: &Sims, target: &AppEnv, n: usize, seeded: usize) -> RaceFigures {
    let mut figures = RaceFigures::default();
    let mut marathon: Vec<_> = sims
        .marathon
        .control()
        .deployment_history()
        .into_iter()
        .skip(seeded)
        .collect();
    marathon.sort_by_key(|d| d.started);
    assert_eq!(marathon.len(), n, "one Marathon deployment per deploy");
    for pair in marathon.windows(2) {
        if let [first, second] = pair
            && first.ended.is_none_or(|ended| ended > second.started)
        {
            figures.overlaps += 1;
        }
    }

    let records = sims.history(target);
    let successes: Vec<_> = records
        .iter()
        .filter(|r| r.outcome == Outcome::Succeeded)
        .collect();
    for i in 1..=n {
        let count = successes
            .iter()
            .filter(|r| r.tag.as_str() == format!("v{i}"))
            .count();
        match count {
            0 => figures.lost += 1,
            1 => {}
            _ => figures.duplicated += count - 1,
        }
    }
    // Each record's `previous` is the record before it: no update was lost between two deploys.
    let mut expected_previous = Some("v0".to_owned());
    for record in &successes {
        if record.previous.as_ref().map(|t| t.as_str().to_owned()) != expected_previous {
            figures.broken_chain += 1;
        }
        expected_previous = Some(record.tag.as_str().to_owned());
    }
    let last = successes.last().map(|r| r.tag.as_str().to_owned());
    let before = successes
        .len()
        .checked_sub(2)
        .and_then(|i| successes.get(i))
        .map(|r| r.tag.as_str().to_owned())
        .or_else(|| Some("v0".to_owned()));
    assert_eq!(
        sims.kv(&target.current_key()),
        last,
        "current is the last release"
    );
    assert_eq!(
        sims.kv(&target.previous_key()),
        before,
        "previous is the release before the last"
    );
    if sims.lock_session(target).await.is_some() {
        figures.locks_left += 1;
    }
    figures.locks_left += sims.session_count().await;
    figures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_deployers_never_overlap_lose_or_duplicate_a_release() {
    let mut rng = fastrand::Rng::with_seed(seed("race"));
    let plan: Vec<(usize, usize)> = pick(vec![(2, 1), (10, 1)], vec![(2, 10), (10, 3), (50, 2)]);
    for (n, runs) in plan {
        let mut total = RaceFigures::default();
        for _ in 0..runs {
            let figures = race_once(n, &mut rng).await;
            total.overlaps += figures.overlaps;
            total.lost += figures.lost;
            total.duplicated += figures.duplicated;
            total.broken_chain += figures.broken_chain;
            total.locks_left += figures.locks_left;
        }
        let figure = format!(
            "{} deploys: {} overlapping Marathon deployments, {} lost and {} duplicated history \
             entries, {} broken current/previous links, {} locks or sessions left",
            n * runs,
            total.overlaps,
            total.lost,
            total.duplicated,
            total.broken_chain,
            total.locks_left
        );
        let clean =
            total.overlaps + total.lost + total.duplicated + total.broken_chain + total.locks_left
                == 0;
        report(
            &format!("{n} deployers racing on one app/env"),
            runs,
            if clean { "pass" } else { "FAIL" },
            &figure,
        );
        assert!(clean, "{figure}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_app_envs_deploy_at_once_without_cross_talk() {
    let (apps, processes): (usize, Vec<&str>) = pick(
        (5, vec!["p0", "p1"]),
        (
            10,
            vec!["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"],
        ),
    );
    let sims = Sims::start().await;
    let mut targets = Vec::new();
    for a in 0..apps {
        for env in ["stage", "production"] {
            let target = app_env(&format!("app{a:02}"), env);
            sims.seed(&target, "v0", &processes).await;
            targets.push(target);
        }
    }
    // One more pair whose lock someone else holds: its deploy must fail alone.
    let locked = app_env("held", "stage");
    sims.seed(&locked, "v0", &processes).await;
    let other = sims.ctx("someone");
    let held = duncan_core::lock::DeployLock::acquire(
        &other.consul,
        &duncan_core::lock::LockRequest::new(locked.clone(), &other.settings, None),
    )
    .await
    .expect("the foreign lock is taken");
    let seeded = sims.marathon.control().deployment_history().len();

    let deploys = targets
        .iter()
        .chain(std::iter::once(&locked))
        .map(|target| {
            let ctx = sims.ctx("deployer");
            let req = request(target, &format!("{}-{}", target.app, target.env));
            async move {
                (
                    target.clone(),
                    deploy(&ctx, req, &ProgressSink::none()).await,
                )
            }
        });
    let results = futures_util::future::join_all(deploys).await;

    let mut cross_talk = 0;
    for (target, result) in &results {
        let own = format!("{}-{}", target.app, target.env);
        if target == &locked {
            assert!(
                matches!(result, Err(DeployError::LockHeld { .. })),
                "the locked pair must refuse: {result:?}"
            );
            assert_eq!(sims.kv(&target.current_key()).as_deref(), Some("v0"));
            continue;
        }
        if let Err(error) = result {
            panic!("deploy of {target} failed: {error}");
        }
        for process in &processes {
            let image = sims.image(&format!("{}/{process}", target.group_id()));
            if image.as_deref() != Some(&format!("{}/{}:{own}", crate::support::PREFIX, target.app))
            {
                cross_talk += 1;
            }
        }
        if sims
            .image(&format!("{}/redis", target.group_id()))
            .as_deref()
            != Some("redis:3.2")
        {
            cross_talk += 1;
        }
        let history = sims.history(target);
        if history.len() != 1 || history.first().map(|r| r.tag.as_str()) != Some(own.as_str()) {
            cross_talk += 1;
        }
        if sims.kv(&target.current_key()).as_deref() != Some(own.as_str()) {
            cross_talk += 1;
        }
    }
    // Every Marathon deployment touched the apps of one group only.
    for record in sims
        .marathon
        .control()
        .deployment_history()
        .iter()
        .skip(seeded)
    {
        let groups: std::collections::BTreeSet<_> = record
            .affected_apps
            .iter()
            .filter_map(|a| a.rsplit_once('/').map(|(g, _)| g.to_owned()))
            .collect();
        if groups.len() != 1 {
            cross_talk += 1;
        }
    }
    held.release().await.expect("the foreign lock is released");
    let all_apps = targets.len() * processes.len();
    let figure = format!(
        "{all_apps} apps in {} app/envs deployed at once: {cross_talk} cases of cross-talk; \
         a foreign lock on one more app/env refused only that one",
        targets.len()
    );
    report(
        "many app/envs deployed concurrently",
        1,
        if cross_talk == 0 { "pass" } else { "FAIL" },
        &figure,
    );
    assert_eq!(cross_talk, 0, "{figure}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_duncan_processes_never_overlap_lose_or_duplicate_a_release() {
    let mut rng = fastrand::Rng::with_seed(seed("process race"));
    let (n, runs) = pick((3, 1), (10, 3));
    let mut total = RaceFigures::default();
    for _ in 0..runs {
        let sims = Sims::start().await;
        let target = app_env("shop", "stage");
        sims.seed(&target, "v0", &["web", "worker"]).await;
        let seeded = sims.marathon.control().deployment_history().len();
        let home = Home::with_config(&sims.config(&["shop"]));
        let mut children = Vec::new();
        for i in 1..=n {
            tokio::time::sleep(Duration::from_millis(rng.u64(0..40))).await;
            let tag = format!("v{i}");
            let mut args = deploy_args("shop", "stage", &tag);
            args.extend(["--wait", "5m"]);
            children.push(home.command(&args, &[]).spawn().expect("spawn duncan"));
        }
        for (i, child) in children.into_iter().enumerate() {
            let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
                .await
                .expect("duncan ends")
                .expect("output");
            assert_eq!(
                output.status.code(),
                Some(0),
                "process {} failed: {}",
                i + 1,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let figures = count_race(&sims, &target, n, seeded).await;
        total.overlaps += figures.overlaps;
        total.lost += figures.lost;
        total.duplicated += figures.duplicated;
        total.broken_chain += figures.broken_chain;
        total.locks_left += figures.locks_left;
    }
    let figure = format!(
        "{} deploys by separate processes: {} overlapping Marathon deployments, {} lost and {} \
         duplicated history entries, {} broken current/previous links, {} locks or sessions left",
        n * runs,
        total.overlaps,
        total.lost,
        total.duplicated,
        total.broken_chain,
        total.locks_left
    );
    let clean =
        total.overlaps + total.lost + total.duplicated + total.broken_chain + total.locks_left == 0;
    report(
        &format!("{n} duncan processes racing on one app/env (--wait)"),
        runs,
        if clean { "pass" } else { "FAIL" },
        &figure,
    );
    assert!(clean, "{figure}");
}
