//! The seeded chaos run: many `duncan deploy --wait` processes on a few app/envs, some killed
//! with SIGKILL, some ended by SIGTERM, SIGINT or SIGHUP, while Consul and Marathon fail, slow
//! down and drop connections. After it, and once consul-sim's clock has passed the session TTL
//! and lock-delay, the promises must all hold: no two Marathon deployments overlapped on one
//! app/env, every success exit has exactly one history record, `current` is the last success,
//! no lock or session is left, no output shows a panic, and every exit code is documented.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use duncan_core::names::AppEnv;
use duncan_core::release::Outcome;
use marathon_sim::TaskOutcome;
use tokio::io::AsyncReadExt;
use tokio::process::Child;

use crate::support::{
    Home, LOCK_EXPIRY, Sims, app_env, deploy_args, marathon_options, pick, report,
};

/// The exit codes README.md documents (`None`, killed by a signal, is SIGKILL's).
const DOCUMENTED: [i32; 9] = [0, 1, 2, 3, 4, 5, 6, 7, 130];

/// What the driver does to one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Left to finish.
    Left,
    /// SIGKILL.
    Kill,
    /// `kill -NAME`: TERM, INT or HUP.
    Signal(&'static str),
}

/// How one process ended.
#[derive(Debug)]
struct Ended {
    target: usize,
    tag: String,
    fate: Fate,
    /// Whether the fate was delivered (the process still ran when its time came).
    delivered: bool,
    code: Option<i32>,
    output: String,
}

/// Follows one process: delivers its fate after `after` if it still runs, then waits for its
/// end and collects both streams.
async fn follow(
    mut child: Child,
    target: usize,
    tag: String,
    fate: Fate,
    after: Duration,
) -> Ended {
    let mut stdout = child.stdout.take().expect("stdout piped");
    let mut stderr = child.stderr.take().expect("stderr piped");
    let out = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf).await;
        buf
    });
    let err = tokio::spawn(async move {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf).await;
        buf
    });
    let mut delivered = false;
    if fate != Fate::Left {
        tokio::select! {
            _ = child.wait() => {}
            () = tokio::time::sleep(after) => {
                delivered = true;
                match fate {
                    Fate::Kill => child.start_kill().expect("SIGKILL"),
                    Fate::Signal(name) => {
                        // The child is not reaped yet, so its pid cannot have been reused.
                        let pid = child.id().expect("still running").to_string();
                        let sent = tokio::process::Command::new("kill")
                            .args([&format!("-{name}"), &pid])
                            .status()
                            .await
                            .expect("kill runs");
                        assert!(sent.success(), "kill -{name} {pid}");
                    }
                    Fate::Left => {}
                }
            }
        }
    }
    let status = tokio::time::timeout(Duration::from_secs(120), child.wait())
        .await
        .expect("every duncan process ends within two minutes")
        .expect("wait");
    let stdout = out.await.expect("stdout reader");
    let stderr = err.await.expect("stderr reader");
    Ended {
        target,
        tag,
        fate,
        delivered,
        code: status.code(),
        output: format!(
            "{}\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        ),
    }
}

/// The faults the driver injects, counted by kind.
#[derive(Debug, Default)]
struct Faults {
    consul_500s: usize,
    consul_drops: usize,
    consul_slow: usize,
    marathon_leaderless: usize,
    marathon_streams_dropped: usize,
    marathon_slow: usize,
}

impl Faults {
    fn total(&self) -> usize {
        self.consul_500s
            + self.consul_drops
            + self.consul_slow
            + self.marathon_leaderless
            + self.marathon_streams_dropped
            + self.marathon_slow
    }
}

/// Injects `count` faults one after another at random moments, until `stop`; every windowed
/// fault (latency, a leaderless Marathon) is undone before the next one.
async fn inject_faults(
    sims: &Sims,
    rng: &mut fastrand::Rng,
    count: usize,
    stop: &AtomicBool,
) -> Faults {
    let mut faults = Faults::default();
    let consul = sims.consul.control();
    let marathon = sims.marathon.control();
    for _ in 0..count {
        tokio::time::sleep(Duration::from_millis(rng.u64(200..900))).await;
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let window = Duration::from_millis(rng.u64(300..1500));
        match rng.u8(0..6) {
            0 => {
                consul.fail_next(rng.usize(1..=3), 500);
                faults.consul_500s += 1;
            }
            1 => {
                consul.drop_next(rng.usize(1..=2));
                faults.consul_drops += 1;
            }
            2 => {
                consul.set_latency(Duration::from_millis(rng.u64(50..300)));
                faults.consul_slow += 1;
                tokio::time::sleep(window).await;
                consul.set_latency(Duration::ZERO);
            }
            3 => {
                marathon.set_leader_available(false);
                faults.marathon_leaderless += 1;
                tokio::time::sleep(window).await;
                marathon.set_leader_available(true);
            }
            4 => {
                marathon.drop_event_streams();
                faults.marathon_streams_dropped += 1;
            }
            _ => {
                marathon.set_latency(Duration::from_millis(rng.u64(100..400)));
                faults.marathon_slow += 1;
                tokio::time::sleep(window).await;
                marathon.set_latency(Duration::ZERO);
            }
        }
    }
    faults
}

/// Watches the lock keys (in-process, every few milliseconds) until `stop`, and returns for
/// each app/env the tags of the lock holders seen, one per acquisition. The holder's JSON stays
/// in the key after a release, and every acquisition writes a new one, so only an acquisition
/// overwritten within one sample can be missed.
async fn watch_holders(sims: &Sims, targets: &[AppEnv], stop: &AtomicBool) -> Vec<Vec<String>> {
    let mut seen: Vec<(Option<Vec<u8>>, Vec<String>)> = vec![(None, Vec::new()); targets.len()];
    let consul = sims.consul.control();
    while !stop.load(Ordering::Relaxed) {
        let kv = consul.kv_snapshot();
        for (target, (last, tags)) in targets.iter().zip(seen.iter_mut()) {
            let value = kv.get(&target.lock_key()).cloned();
            if value.is_some() && value != *last {
                let tag = value
                    .as_deref()
                    .and_then(|v| serde_json::from_slice::<serde_json::Value>(v).ok())
                    .and_then(|v| v["tag"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                tags.push(tag);
                *last = value;
            }
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    seen.into_iter().map(|(_, tags)| tags).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_chaos_keeps_every_promise() {
    let seed = crate::support::seed("chaos");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut fault_rng = fastrand::Rng::with_seed(seed ^ 0x9e37_79b9_7f4a_7c15);
    let (n, fault_count, wait, gap) = pick((8, 6, "10s", 350), (40, 30, "40s", 600));
    let sims = Sims::start_with(
        consul_sim::SimOptions::default(),
        marathon_options()
            .rule("*:slow-*", TaskOutcome::Slow(Duration::from_millis(1500)))
            .rule("*:broken-*", TaskOutcome::NeverHealthy),
    )
    .await;
    let apps = ["shop", "cart", "blog"];
    let targets: Vec<AppEnv> = apps.iter().map(|a| app_env(a, "stage")).collect();
    for target in &targets {
        sims.seed(target, "v0", &["web", "worker"]).await;
    }
    let first_deployment = sims.marathon.control().deployment_history().len();
    let home = Home::with_config(&sims.config(&apps));
    let started = Instant::now();

    let stop = AtomicBool::new(false);
    let (holders, faults, ended) = {
        let holders = watch_holders(&sims, &targets, &stop);
        let faults = inject_faults(&sims, &mut fault_rng, fault_count, &stop);
        let driver = async {
            let mut followers = Vec::new();
            for i in 1..=n {
                tokio::time::sleep(Duration::from_millis(rng.u64(0..gap))).await;
                let target = rng.usize(0..targets.len());
                let kind = match rng.u8(0..10) {
                    0..=5 => "ok",
                    6 | 7 => "slow",
                    _ => "broken",
                };
                let tag = format!("{kind}-{i}");
                let fate = match rng.u8(0..100) {
                    0..=14 => Fate::Kill,
                    15..=24 => Fate::Signal("TERM"),
                    25..=32 => Fate::Signal("INT"),
                    33..=37 => Fate::Signal("HUP"),
                    _ => Fate::Left,
                };
                // Late enough for duncan's signal handlers to be installed.
                let after = Duration::from_millis(rng.u64(200..4000));
                let mut args = deploy_args(apps[target], "stage", &tag);
                args.extend(["--wait", wait, "--timeout", "3s"]);
                let child = home.command(&args, &[]).spawn().expect("spawn duncan");
                followers.push(tokio::spawn(follow(child, target, tag, fate, after)));
            }
            let mut ended = Vec::new();
            for follower in followers {
                ended.push(follower.await.expect("follower"));
            }
            stop.store(true, Ordering::Relaxed);
            ended
        };
        tokio::join!(holders, faults, driver)
    };
    let elapsed = started.elapsed();
    // Faults off: what follows is the check, not the chaos.
    sims.consul.control().fail_next(0, 500);
    sims.consul.control().drop_next(0);
    sims.consul.control().set_latency(Duration::ZERO);
    sims.marathon.control().set_latency(Duration::ZERO);
    sims.marathon.control().set_leader_available(true);

    // Killed holders' sessions (and any left by a failed release) expire with the clock.
    sims.consul.control().advance_clock(LOCK_EXPIRY);
    let mut problems = Vec::new();
    let mut locks_left = 0;
    for target in &targets {
        if let Some(session) = sims.lock_session(target).await {
            locks_left += 1;
            problems.push(format!("{target}: lock still held by session {session}"));
        }
    }
    let sessions = sims.session_count().await;
    if sessions != 0 {
        problems.push(format!("{sessions} sessions left"));
    }

    for e in &ended {
        if e.output.contains("panicked") || e.code == Some(101) {
            problems.push(format!("{} panicked: {}", e.tag, e.output));
        }
        match e.code {
            Some(code) if DOCUMENTED.contains(&code) => {}
            None if e.fate == Fate::Kill && e.delivered => {}
            other => problems.push(format!(
                "{} ({:?}) ended with an undocumented status {other:?}: {}",
                e.tag, e.fate, e.output
            )),
        }
        let lock_told = [
            "the lock was released",
            "the lock was not taken",
            "the lock could not be released",
        ]
        .iter()
        .any(|said| e.output.contains(said));
        if e.code == Some(130) && !lock_told {
            problems.push(format!(
                "{}: exit 130 without saying what became of the lock: {}",
                e.tag, e.output
            ));
        }
    }

    // Overlaps: per app/env, each Marathon deployment ended before the next began.
    let history = sims.marathon.control().deployment_history();
    let mut overlaps = 0;
    for target in &targets {
        let group = format!("{}/", target.group_id());
        let mut own: Vec<_> = history
            .iter()
            .skip(first_deployment)
            .filter(|d| d.affected_apps.iter().any(|a| a.starts_with(&group)))
            .collect();
        own.sort_by_key(|d| d.started);
        for pair in own.windows(2) {
            if let [first, second] = pair
                && first.ended.is_none_or(|ended| ended > second.started)
            {
                overlaps += 1;
                problems.push(format!(
                    "{target}: deployment {} ({:?}) overlapped {}",
                    first.id, first.outcome, second.id
                ));
            }
        }
    }

    // Records: each success exit has exactly one success record, no tag two; `current` is the
    // last success and every success's `previous` the one before it.
    let mut recorded = 0;
    for (t, target) in targets.iter().enumerate() {
        let records = sims.history(target);
        let successes: Vec<_> = records
            .iter()
            .filter(|r| r.outcome == Outcome::Succeeded)
            .collect();
        recorded += successes.len();
        let mut per_tag: BTreeMap<&str, usize> = BTreeMap::new();
        for record in &successes {
            *per_tag.entry(record.tag.as_str()).or_default() += 1;
        }
        for (tag, count) in &per_tag {
            if *count > 1 {
                problems.push(format!("{target}: {tag} recorded {count} times"));
            }
        }
        for e in ended.iter().filter(|e| e.target == t && e.code == Some(0)) {
            if per_tag.get(e.tag.as_str()).copied().unwrap_or(0) != 1 {
                problems.push(format!(
                    "{target}: exit 0 of {} without its one record: {}",
                    e.tag, e.output
                ));
            }
        }
        let mut expected_previous = Some("v0".to_owned());
        for record in &successes {
            let previous = record.previous.as_ref().map(|p| p.as_str().to_owned());
            if previous != expected_previous {
                problems.push(format!(
                    "{target}: {} recorded with previous {previous:?}, not {expected_previous:?}",
                    record.tag
                ));
            }
            expected_previous = Some(record.tag.as_str().to_owned());
        }
        let current = sims.kv(&target.current_key());
        if current != expected_previous {
            problems.push(format!(
                "{target}: current is {current:?}, the last success {expected_previous:?}"
            ));
        }
        // Every recorded success was deployed by a lock holder of that app/env.
        let held: BTreeSet<&str> = holders[t].iter().map(String::as_str).collect();
        for tag in per_tag.keys() {
            if !held.contains(tag) {
                problems.push(format!(
                    "{target}: {tag} recorded without ever holding the lock"
                ));
            }
        }
    }

    let kills = ended
        .iter()
        .filter(|e| e.delivered && e.fate == Fate::Kill)
        .count();
    let signals = ended
        .iter()
        .filter(|e| e.delivered && matches!(e.fate, Fate::Signal(_)))
        .count();
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    for e in &ended {
        let code = e
            .code
            .map_or_else(|| "killed".to_owned(), |c| c.to_string());
        *codes.entry(code).or_default() += 1;
    }
    let codes = codes
        .iter()
        .map(|(code, count)| format!("{count}× {code}"))
        .collect::<Vec<_>>()
        .join(", ");
    let acquisitions: usize = holders.iter().map(Vec::len).sum();
    let figure = format!(
        "seed {seed}: {n} processes on {} app/envs, {kills} SIGKILLs, {signals} SIGTERM/INT/HUP, \
         {} faults ({} Consul 500 bursts, {} Consul drops, {} Consul slow, {} Marathon \
         leaderless, {} stream drops, {} Marathon slow) in {:.0} s; exits {codes}; \
         {acquisitions} lock holder writes seen, {recorded} releases recorded; {overlaps} overlaps, {} \
         broken promises, {locks_left} locks and {sessions} sessions left after TTL + lock-delay",
        targets.len(),
        faults.total(),
        faults.consul_500s,
        faults.consul_drops,
        faults.consul_slow,
        faults.marathon_leaderless,
        faults.marathon_streams_dropped,
        faults.marathon_slow,
        elapsed.as_secs_f64(),
        problems.len(),
    );
    report(
        &format!("seeded chaos: {n} processes, kills, signals, Consul and Marathon faults"),
        1,
        if problems.is_empty() { "pass" } else { "FAIL" },
        &figure,
    );
    assert!(problems.is_empty(), "{figure}\n{}", problems.join("\n"));
}
