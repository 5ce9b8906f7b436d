//! BENCHMARKS.md: the summary table of medians, targets and ratios, then the details of each
//! measurement.

use std::fmt::Write as _;
use std::time::Duration;

use crate::Counts;
use crate::cli::{ReportRuns, StatusRuns};
use crate::consul_ops::{CONCURRENCY, Comparison, KINDS};
use crate::deploys::{Cost, DeployRun};
use crate::stats::{bytes, median, median_f64, ms, percentile, ratio};

/// Everything one run measured.
pub struct Results {
    /// The counts used.
    pub counts: Counts,
    /// Whether this was the `--quick` run.
    pub quick: bool,
    /// `/proc/loadavg` before the run.
    pub load_before: String,
    /// `/proc/loadavg` after the run.
    pub load_after: String,
    /// Completion-detection latencies, event path.
    pub events: Vec<Duration>,
    /// Completion-detection latencies, stalled stream.
    pub stalled: Vec<Duration>,
    /// Completion-detection latencies, event stream refused (polling).
    pub polling: Vec<Duration>,
    /// Deploys at real speed.
    pub overhead: Vec<DeployRun>,
    /// The same deploys with every request to either simulator delayed by `latency`.
    pub overhead_delayed: Vec<DeployRun>,
    /// The delay of `overhead_delayed`.
    pub latency: Duration,
    /// One deploy per cluster size.
    pub costs: Vec<Cost>,
    /// `duncan status` runs.
    pub status: StatusRuns,
    /// `duncan report` runs.
    pub delivery: ReportRuns,
    /// `duncan --version` runs.
    pub startup: Vec<Duration>,
    /// Lock hand-offs, each holder keeping the lock 50 ms.
    pub handoffs: Vec<Duration>,
    /// Lock hand-offs, each holder releasing at once.
    pub handoffs_immediate: Vec<Duration>,
    /// Consul throughput, both clients.
    pub consul: Comparison,
    /// divan's output for the in-process benchmarks, if it ran.
    pub divan: Option<String>,
}

/// The first three fields of `/proc/loadavg` (1, 5 and 15 minutes).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// The median of a divan benchmark named `name`, from divan's table output.
///
/// divan prints `name  fastest │ slowest │ median │ mean │ samples │ iters`, each time with its
/// unit (`ns`, `µs`, `ms`, `s`).
pub fn divan_median(output: &str, name: &str) -> Option<Duration> {
    let line = output
        .lines()
        .find(|l| l.split_whitespace().any(|word| word == name))?;
    let median = line.split('│').nth(2)?;
    let mut words = median.split_whitespace();
    let value: f64 = words.next()?.parse().ok()?;
    let nanos = match words.next()? {
        "ns" => value,
        "µs" | "us" => value * 1e3,
        "ms" => value * 1e6,
        "s" => value * 1e9,
        _ => return None,
    };
    (nanos.is_finite() && nanos >= 0.0).then(|| Duration::from_secs_f64(nanos / 1e9))
}

fn ms_f(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn overheads(runs: &[DeployRun]) -> Vec<Duration> {
    runs.iter()
        .map(|run| run.wall.saturating_sub(run.marathon))
        .collect()
}

fn peak_rss_kib(r: &Results) -> u64 {
    r.overhead
        .iter()
        .map(|run| run.peak_rss_kib)
        .max()
        .unwrap_or(0)
}

/// Sequential round trips per deploy, measured: how much a delay on every request lengthened
/// the median overhead, in units of that delay.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundTrips {
    /// Round trips: `added_ms` over the delay.
    pub count: f64,
    /// Median overhead with the delay − median overhead without, in milliseconds.
    pub added_ms: f64,
    /// The delay on every request.
    pub latency: Duration,
    /// Deploys with the delay.
    pub deploys: usize,
}

impl RoundTrips {
    /// From the overhead deploys without and with `latency` on every request; `None` when
    /// either set is empty or there was no delay.
    pub fn measure(plain: &[DeployRun], delayed: &[DeployRun], latency: Duration) -> Option<Self> {
        if plain.is_empty() || delayed.is_empty() || latency.is_zero() {
            return None;
        }
        let added_ms = ms_f(median(&overheads(delayed))) - ms_f(median(&overheads(plain)));
        Some(Self {
            count: added_ms / ms_f(latency),
            added_ms,
            latency,
            deploys: delayed.len(),
        })
    }

    /// As the summary shows it: `7.0 (+140 ms at 20 ms per request, 20 deploys)`.
    pub fn describe(&self) -> String {
        format!(
            "{:.1} ({:+.0} ms at {} ms per request, {} deploy{})",
            self.count,
            self.added_ms,
            self.latency.as_millis(),
            self.deploys,
            if self.deploys == 1 { "" } else { "s" }
        )
    }
}

/// Bytes of the largest cluster over the smallest, compared between deploys that sent the same
/// number of requests (the watch's REST snapshots vary with timing, not with the cluster).
fn bytes_ratio(costs: &[Cost]) -> String {
    let (Some(small), Some(large)) = (costs.first(), costs.last()) else {
        return "–".to_owned();
    };
    // The request count seen most often among the deploys that every cluster size has.
    let common = small
        .each_deploy
        .iter()
        .copied()
        .filter(|n| costs.iter().all(|c| c.bytes_at(*n).is_some()))
        .max_by_key(|n| {
            costs
                .iter()
                .map(|c| c.each_deploy.iter().filter(|m| *m == n).count())
                .sum::<usize>()
        });
    match common.and_then(|n| Some((n, small.bytes_at(n)?, large.bytes_at(n)?))) {
        Some((n, a, b)) => {
            #[allow(clippy::cast_precision_loss)]
            let (a, b) = (a as f64, b as f64);
            format!(
                "largest / smallest cluster, deploys of {n} requests: {}",
                ratio(b, a)
            )
        }
        None => {
            #[allow(clippy::cast_precision_loss)]
            let (a, b) = (small.bytes_range().0 as f64, large.bytes_range().0 as f64);
            format!(
                "largest / smallest cluster, cheapest deploys: {}",
                ratio(b, a)
            )
        }
    }
}

fn joined<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    items.iter().map(f).collect::<Vec<_>>().join(" / ")
}

/// The summary table: one row per figure, with its target and the ratio to it.
pub fn summary_table(r: &Results) -> String {
    let mut t = String::new();
    t.push_str("| figure | measured (median unless said) | target | ratio to target |\n");
    t.push_str("| --- | --- | --- | --- |\n");
    let mut row = |figure: &str, measured: String, target: &str, ratio: String| {
        let _ = writeln!(t, "| {figure} | {measured} | {target} | {ratio} |");
    };
    let p50 = median(&r.events);
    row(
        &format!(
            "completion detection, event path ({} deploys)",
            r.events.len()
        ),
        format!("p50 {}, p95 {}", ms(p50), ms(percentile(&r.events, 95))),
        "p50 ≤ 10 ms",
        ratio(ms_f(p50), 10.0),
    );
    let polling = median(&r.polling);
    row(
        &format!(
            "completion detection, event stream refused: REST polling ({} deploys)",
            r.polling.len()
        ),
        format!(
            "p50 {}, p95 {}",
            ms(polling),
            ms(percentile(&r.polling, 95))
        ),
        "report (go-marathon polls every 500 ms; the Go original slept 5 s)",
        format!("{} of 500 ms", ratio(ms_f(polling), 500.0)),
    );
    let stalled = median(&r.stalled);
    row(
        &format!(
            "completion detection, stalled event stream ({} deploys)",
            r.stalled.len()
        ),
        format!(
            "p50 {}, p95 {}",
            ms(stalled),
            ms(percentile(&r.stalled, 95))
        ),
        "report (go-marathon polls every 500 ms; the Go original slept 5 s)",
        format!("{} of 500 ms", ratio(ms_f(stalled), 500.0)),
    );
    let over = overheads(&r.overhead);
    row(
        &format!("overhead per deploy ({} deploys)", over.len()),
        format!(
            "p50 {}, p95 {}",
            ms(median(&over)),
            ms(percentile(&over, 95))
        ),
        "p50 ≤ 60 ms",
        ratio(ms_f(median(&over)), 60.0),
    );
    let sizes = joined(&r.costs, |c| c.other_apps.to_string());
    let max_requests = r.costs.iter().map(Cost::requests).max().unwrap_or(0);
    #[allow(clippy::cast_precision_loss)] // Tiny counts.
    let max_requests_f = max_requests as f64;
    row(
        &format!(
            "requests per deploy, {sizes} other apps (median of {} deploys each)",
            r.counts.cost_deploys
        ),
        joined(&r.costs, |c| {
            format!(
                "{} ({} Marathon + {} Consul)",
                c.requests(),
                c.marathon_requests,
                c.consul_requests
            )
        }),
        "constant, ≤ 12",
        ratio(max_requests_f, 12.0),
    );
    row(
        &format!("bytes per deploy, {sizes} other apps (fewest–most of the deploys)"),
        joined(&r.costs, |c| {
            let (min, max) = c.bytes_range();
            format!("{}–{}", bytes(min), bytes(max))
        }),
        "independent of cluster size",
        bytes_ratio(&r.costs),
    );
    let minimum = crate::notes::protocol_minimum();
    let target = minimum.map_or_else(
        || "protocol minimum (see below)".to_owned(),
        |n| format!("protocol minimum: {n} (see below)"),
    );
    match RoundTrips::measure(&r.overhead, &r.overhead_delayed, r.latency) {
        Some(trips) => row(
            "sequential round trips per deploy",
            trips.describe(),
            &target,
            minimum.map_or_else(|| "–".to_owned(), |n| ratio(trips.count, f64::from(n))),
        ),
        None => row(
            "sequential round trips per deploy",
            "not measured".to_owned(),
            &target,
            "–".to_owned(),
        ),
    }
    let status = median(&r.status.times);
    row(
        &format!(
            "`duncan status`, {} app/env pairs ({} runs)",
            r.status.pairs,
            r.status.times.len()
        ),
        format!("{}, {} requests", ms(status), r.status.requests_per_run),
        "≤ 300 ms",
        ratio(ms_f(status), 300.0),
    );
    let delivery = median(&r.delivery.times);
    row(
        &format!(
            "`duncan report`, {} app/env pairs × {} releases ({} runs)",
            r.delivery.pairs,
            r.delivery.records_per_pair,
            r.delivery.times.len()
        ),
        format!("{}, {} requests", ms(delivery), r.delivery.requests_per_run),
        "≤ 1 s",
        ratio(ms_f(delivery), 1000.0),
    );
    let handoff = median(&r.handoffs);
    row(
        &format!(
            "lock hand-off, {} waiting deployers ({} hand-offs)",
            r.counts.lock_waiters,
            r.handoffs.len()
        ),
        format!(
            "p50 {}, p95 {}",
            ms(handoff),
            ms(percentile(&r.handoffs, 95))
        ),
        "p50 ≤ 20 ms",
        ratio(ms_f(handoff), 20.0),
    );
    match r
        .divan
        .as_deref()
        .and_then(|out| divan_median(out, "parse_group_1000_apps"))
    {
        Some(parse) => row(
            "parse the real 1000-app group (1.8 MB), divan",
            ms(parse),
            "≤ 20 ms",
            ratio(ms_f(parse), 20.0),
        ),
        None => row(
            "parse the real 1000-app group (1.8 MB), divan",
            "not measured (divan did not run)".to_owned(),
            "≤ 20 ms",
            "–".to_owned(),
        ),
    }
    for (i, kind) in KINDS.iter().enumerate() {
        let Some(rust) = r.consul.rust.get(i) else {
            continue;
        };
        let python = r.consul.python.as_ref().and_then(|p| p.get(i));
        row(
            &format!("consul-client {kind}, ops/s sequential / {CONCURRENCY} concurrent"),
            format!("{:.0} / {:.0}", rust.sequential, rust.concurrent),
            "report; compare with python3-consul",
            match python {
                Some(p) => format!(
                    "{} / {} of python3-consul",
                    ratio(rust.sequential, p.sequential),
                    ratio(rust.concurrent, p.concurrent)
                ),
                None => "python3-consul not run".to_owned(),
            },
        );
    }
    let start = median(&r.startup);
    row(
        &format!(
            "CLI start-up, `duncan --version` ({} runs)",
            r.startup.len()
        ),
        ms(start),
        "≤ 5 ms",
        ratio(ms_f(start), 5.0),
    );
    let rss = peak_rss_kib(r);
    #[allow(clippy::cast_precision_loss)]
    let rss_mb = rss as f64 * 1024.0 / 1e6;
    row(
        "peak RSS during a deploy (VmHWM, highest of the deploys)",
        format!("{rss_mb:.1} MB"),
        "≤ 30 MB",
        ratio(rss_mb, 30.0),
    );
    t
}

/// The whole of BENCHMARKS.md.
pub fn render(r: &Results) -> String {
    let mut out = String::new();
    out.push_str("# Benchmarks\n\n");
    out.push_str(
        "Produced by `cargo xtask bench` (release build; every figure from one run on the \
         simulators on loopback). `cargo xtask bench --quick` runs every measurement with tiny \
         counts, only to prove the harness works, and writes its report under `target/` instead \
         of here. Nothing in CI asserts a time.\n\n",
    );
    let _ = writeln!(
        out,
        "Machine: {} CPUs available to the run, shared with other builds; load average (1, 5, \
         15 min) {} before and {} after the run. Figures are noisy on a shared machine: read \
         medians and ratios, not single samples.{}\n",
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        r.load_before,
        r.load_after,
        if r.quick {
            " **This is a `--quick` run: the counts are too small to mean anything.**"
        } else {
            ""
        }
    );
    out.push_str("## Summary\n\n");
    out.push_str(&summary_table(r));
    out.push('\n');

    out.push_str("## How each figure is taken\n\n");
    out.push_str(
        "- **Completion detection.** marathon-sim runs with its clock stopped, so a deployment \
         ends only when the harness ends it. For each deploy the harness starts `duncan deploy \
         --yes --skip-image-check`, waits until marathon-sim lists the new deployment, gives \
         duncan 150 ms to enter its watch, then calls `Control::complete_deployment_now` and \
         times from there to the process's exit. That span holds duncan's REST confirmation, \
         the fenced release txn, the session destroy and the process exit: three sequential \
         loopback round trips are its floor (the request log below shows what duncan sends).\n\
         - **Stalled event stream.** The same, but the event stream is stalled (open and \
         silent, not even keep-alives) just before the end: duncan then only learns of it from \
         its REST re-read, which it does every 2.5 s while it believes it has a stream \
         (`WatchOptions::resync_interval`; a stream silent for longer than Marathon's keep-alive \
         interval plus a margin, 15 s, is no longer believed, and REST is then read every \
         `poll_interval`, 1 s, as without a stream). Expect p50 ≈ half the interval. With a \
         stream, duncan's first read comes one `poll_interval` after its watch starts, so its \
         re-reads fall at 1 s + k × 2.5 s, while the harness spreads the ends over 0–2.5 s \
         after the start: the ends before the first read wait less, the others up to 2.5 s.\n\
         - **Event stream refused (polling).** The same, with duncan talking to marathon-sim \
         through a loopback proxy that answers `GET /v2/events` with 404 (as a gateway that \
         does not pass server-sent events) and forwards everything else: duncan falls back to \
         polling REST every `poll_interval` (1 s).\n\
         - On the two timed paths the harness waits an extra `i/n` of duncan's read interval \
         before ending deploy `i` of `n`, so that the ends fall evenly over the interval, as \
         real deployments end at any moment rather than in step with duncan's reads.\n",
    );
    out.push_str(
        "- **Overhead.** marathon-sim at real speed, tasks starting 200 ms after being staged \
         (two instances, health checks). Overhead = the process's wall time (spawn to exit) − \
         the deployment's duration as marathon-sim recorded it. It includes process start and \
         whatever duncan waits for outside Marathon's deployment: its reads and the lock before \
         the update, the update itself, and the confirmation, release and session destroy after \
         the deployment's end.\n\
         - **Sequential round trips.** Measured, not counted from the request log: the overhead \
         deploys run a second time, in a fresh cluster, with consul-sim and marathon-sim both \
         holding every request back by the same delay before handling it (their \
         `Control::set_latency`; an event stream's head waits, its events do not). A round trip \
         duncan waits for before its next request adds the delay once; requests it sends \
         together add it once between them; requests that run beside its work add nothing. \
         Sequential round trips = (median overhead with the delay − median overhead without) / \
         the delay. Marathon's own deployment time is subtracted on both sides, so reads made \
         while Marathon deploys count only as far as they hold up the end; the figure need not \
         be a whole number, and the noise of both medians is in it.\n\
         - **Warm-up.** Each cluster of the overhead and request measurements gets one \
         unmeasured deploy first, so the measured ones find the app/env as every app/env that \
         duncan deployed before is: with its sequence counters (`seq/history`, `seq/events`).\n\
         - **Requests and bytes.** Several deploys per cluster; the median one is shown. How many \
         REST snapshots duncan's watch takes depends on when the events arrive, which moves a \
         deploy by a snapshot's requests and bytes, so cluster sizes are compared by deploys \
         that sent the same number of requests. The rest of the cluster is apps of 0 \
         instances in groups `/other/g{k}`. Counts come from `Control::request_stats()` \
         (marathon-sim: requests, body bytes in and out, the event stream included) and \
         consul-sim's request log (requests, body bytes in).\n\
         - **`duncan status`.** `status` with every configured app in `stage` and `production`, \
         each a group with one app; wall time of the process.\n\
         - **`duncan report`.** `report --since 3650d --json` with every configured app in \
         `stage` and `production`, each with a history of releases written straight into \
         consul-sim (one a day, every tenth rolled back); wall time of the process, which reads \
         each app/env's history with one `recurse` (16 at a time) and computes the figures.\n\
         - **Lock hand-off.** consul-client's `Lock` (sessions + `acquire`, blocking queries \
         while waiting) against consul-sim: one holder, N waiters, each holder keeping the lock \
         50 ms as a deploy keeps it for its length; the time from a holder starting its release \
         to the next holder having the lock. (When a holder lets go within a round trip of \
         taking the lock, a waiter whose `acquire` lost the race finds the key free again; it \
         retries at once, and takes a second refusal of a free key for a lock-delay: measured \
         apart, see below.)\n\
         - **Parse.** divan, in-process: `serde_json::from_slice::<marathon_client::Group>` of \
         Marathon's real 1000-app root group (`bench/data/155_1000.json`).\n\
         - **Consul throughput.** N operations spread over 1 or 32 concurrent callers against \
         an in-process consul-sim: `kv get` (default consistency), `kv put`, and a txn of one \
         `set` and one `get`. python3-consul (Debian's, 0.7) runs the same operations from \
         `bench/python/consul_ops.py` with one client per thread; it has no txn API, so its txn \
         goes through the client's own HTTP session.\n\
         - **Start-up and memory.** Wall time of `duncan --version`; the highest `VmHWM` of \
         `/proc/<pid>/status` polled every millisecond during the overhead deploys.\n\n",
    );

    out.push_str("## Requests of one deploy\n\n");
    out.push_str(crate::notes::PROTOCOL_MINIMUM);
    out.push_str(
        " The sequential round trips in the summary are measured with a delay on every request \
         (see above), so they show how many round trips duncan waits for, not which; the \
         request log below shows what it sends.\n\n",
    );
    for cost in &r.costs {
        let _ = writeln!(
            out,
            "With {} other apps (the median deploy; requests of each deploy: {}; bytes: {}): {} \
             Marathon requests ({} in, {} out), {} Consul requests ({} in). The cluster's first, \
             unmeasured deploy sent {} requests: the first duncan deploy of an app/env creates \
             its sequence counters from listings of `history/` and `events/`.\n",
            cost.other_apps,
            joined(&cost.each_deploy, ToString::to_string),
            joined(&cost.each_bytes, |b| bytes(*b)),
            cost.marathon_requests,
            bytes(cost.marathon_bytes.0),
            bytes(cost.marathon_bytes.1),
            cost.consul_requests,
            bytes(cost.consul_bytes_in),
            cost.first_deploy,
        );
    }
    if let Some(cost) = r.costs.first() {
        out.push_str("The requests, in the order each simulator received them:\n\n```text\n");
        for line in &cost.marathon_log {
            let _ = writeln!(out, "marathon  {line}");
        }
        for line in &cost.consul_log {
            let _ = writeln!(out, "consul    {line}");
        }
        out.push_str("```\n\n");
    }

    out.push_str("## Where a target is missed, and why\n\n");
    let minimum = crate::notes::protocol_minimum();
    if let (Some(trips), Some(minimum)) = (
        RoundTrips::measure(&r.overhead, &r.overhead_delayed, r.latency),
        minimum,
    ) && trips.count >= f64::from(minimum) + 0.5
    {
        let _ = writeln!(
            out,
            "duncan waits for {:.1} round trips one after the other where the protocol minimum \
             is {minimum}: a delay of {} ms on every request added {:.0} ms to the median \
             overhead. The measurement says how many, not which; the request log above shows \
             what duncan sends.\n",
            trips.count,
            trips.latency.as_millis(),
            trips.added_ms,
        );
    }
    if let Some(cost) = r.costs.first() {
        let findings = crate::notes::request_findings(cost);
        if findings.is_empty() {
            out.push_str("The deploy's requests show nothing beyond the protocol's own.\n\n");
        } else {
            let most = r.costs.iter().map(Cost::requests).max().unwrap_or(0);
            if most > 12 {
                let _ = writeln!(
                    out,
                    "Requests per deploy ({most} at most) exceed the target of 12. From the \
                     request log above, beyond the protocol's minimum:\n",
                );
            } else {
                out.push_str(
                    "Requests per deploy are within the target of 12. From the request log \
                     above, beyond the protocol's minimum:\n\n",
                );
            }
            for finding in findings {
                let _ = writeln!(out, "- {finding}");
            }
            out.push('\n');
        }
    }
    let stalled = median(&r.stalled);
    if stalled >= Duration::from_secs(1) {
        let _ = writeln!(
            out,
            "A stalled event stream (open, silent) is noticed only at duncan's next REST re-read \
             (p50 {} here, no target in the issue): while it believes it has a stream, \
             `duncan-core/src/watch.rs` `watch_deployment` re-reads every `resync_interval` \
             (2.5 s); it stops believing a stream only after 15 s without a byte (Marathon's \
             keep-alive interval of 10 s plus a margin), and then reads every `poll_interval` \
             (1 s). A shorter `resync_interval` would trade REST load on every deploy for this \
             fault case.\n",
            ms(stalled)
        );
    }
    let immediate = percentile(&r.handoffs_immediate, 100);
    if immediate >= Duration::from_millis(500) {
        let _ = writeln!(
            out,
            "Lock hand-off when each holder releases at once (one round): p50 {}, slowest {}. \
             A waiter whose `acquire` lost the race reads the key, finds it free again (the \
             winner already let go), takes that for a lock-delay and sleeps \
             `LockOptions::lock_delay_retry` (1 s): `consul-client/src/lock.rs` \
             `Lock::try_acquire`, after a refused `acquire` (Consul's Go `api.Lock` pauses 5 s \
             after any refused `acquire`). A deploy holds the lock for seconds, so the main figure holds it 50 ms; \
             retrying the `acquire` at once when the key is free and its `LockIndex` moved \
             since the refusal would remove the pause.\n",
            ms(median(&r.handoffs_immediate)),
            ms(immediate),
        );
    } else {
        let _ = writeln!(
            out,
            "Lock hand-off when each holder releases at once (one round): p50 {}, slowest {}.\n",
            ms(median(&r.handoffs_immediate)),
            ms(immediate),
        );
    }

    out.push_str("## Consul throughput, side by side\n\n");
    let _ = writeln!(
        out,
        "{} operations per kind and mode, ops/s (higher is better).\n",
        r.counts.consul_ops
    );
    out.push_str("| operation | consul-client 1 caller | python3-consul 1 caller | consul-client 32 callers | python3-consul 32 callers |\n| --- | --- | --- | --- | --- |\n");
    for (i, kind) in KINDS.iter().enumerate() {
        let Some(rust) = r.consul.rust.get(i) else {
            continue;
        };
        let python = r.consul.python.as_ref().and_then(|p| p.get(i));
        let py = |f: fn(&crate::consul_ops::Throughput) -> f64| {
            python.map_or_else(|| "–".to_owned(), |p| format!("{:.0}", f(p)))
        };
        let _ = writeln!(
            out,
            "| {kind} | {:.0} | {} | {:.0} | {} |",
            rust.sequential,
            py(|p| p.sequential),
            rust.concurrent,
            py(|p| p.concurrent)
        );
    }
    if let Some(problem) = &r.consul.python_problem {
        let _ = writeln!(out, "\npython3-consul did not run: {problem}");
    }
    out.push('\n');

    out.push_str("## Samples\n\n");
    let list = |samples: &[Duration]| {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        joined(&sorted, |d| ms(*d))
    };
    let _ = writeln!(
        out,
        "- completion, event path (sorted): {}",
        list(&r.events)
    );
    let _ = writeln!(
        out,
        "- completion, stalled stream (sorted): {}",
        list(&r.stalled)
    );
    let _ = writeln!(
        out,
        "- overhead (sorted): {}",
        list(&overheads(&r.overhead))
    );
    let marathon: Vec<Duration> = r.overhead.iter().map(|run| run.marathon).collect();
    let _ = writeln!(
        out,
        "- Marathon's own deployment time in those deploys: median {}",
        ms(median(&marathon))
    );
    let _ = writeln!(
        out,
        "- overhead with {} ms on every request (sorted): {}",
        r.latency.as_millis(),
        list(&overheads(&r.overhead_delayed))
    );
    let marathon: Vec<Duration> = r.overhead_delayed.iter().map(|run| run.marathon).collect();
    let _ = writeln!(
        out,
        "- Marathon's own deployment time in those deploys: median {}",
        ms(median(&marathon))
    );
    let _ = writeln!(out, "- `duncan status` (sorted): {}", list(&r.status.times));
    let _ = writeln!(
        out,
        "- `duncan report` (sorted): {}",
        list(&r.delivery.times)
    );
    let _ = writeln!(out, "- lock hand-off (sorted): {}", list(&r.handoffs));
    let _ = writeln!(out, "- `duncan --version` (sorted): {}", list(&r.startup));
    let rss: Vec<f64> = r
        .overhead
        .iter()
        .map(|run| {
            #[allow(clippy::cast_precision_loss)]
            let kib = run.peak_rss_kib as f64;
            kib * 1024.0 / 1e6
        })
        .collect();
    let _ = writeln!(out, "- peak RSS: median {:.1} MB\n", median_f64(&rss));

    if let Some(divan) = &r.divan {
        out.push_str("## In-process benchmarks (divan)\n\n```text\n");
        out.push_str(divan.trim_end());
        out.push_str("\n```\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIVAN: &str = "\
parse                          fastest       │ slowest       │ median        │ mean          │ samples │ iters
├─ parse_group_1000_apps       9.5 ms        │ 14.2 ms       │ 10.25 ms      │ 10.6 ms       │ 100     │ 100
╰─ round_trip_group_1000_apps  900 µs        │ 1.2 ms        │ 950.5 µs      │ 1 ms          │ 100     │ 100
";

    #[test]
    fn divan_median_reads_the_third_column_with_its_unit() {
        assert_eq!(
            divan_median(DIVAN, "parse_group_1000_apps"),
            Some(Duration::from_micros(10_250))
        );
        let micros = divan_median(DIVAN, "round_trip_group_1000_apps").map(|d| d.as_nanos());
        assert_eq!(micros, Some(950_500));
    }

    fn run(wall_ms: u64, marathon_ms: u64) -> DeployRun {
        DeployRun {
            wall: Duration::from_millis(wall_ms),
            marathon: Duration::from_millis(marathon_ms),
            peak_rss_kib: 0,
        }
    }

    #[test]
    fn round_trips_are_the_added_median_overhead_over_the_delay() {
        // Overheads 10, 12, 11 ms without the delay; 150, 153, 151 ms with it.
        let plain = [run(410, 400), run(512, 500), run(461, 450)];
        let delayed = [run(550, 400), run(653, 500), run(601, 450)];
        let trips = RoundTrips::measure(&plain, &delayed, Duration::from_millis(20))
            .expect("both sets measured");
        assert!((trips.added_ms - 140.0).abs() < 1e-9, "{trips:?}");
        assert!((trips.count - 7.0).abs() < 1e-9, "{trips:?}");
        assert_eq!(
            trips.describe(),
            "7.0 (+140 ms at 20 ms per request, 3 deploys)"
        );
    }

    #[test]
    fn round_trips_are_not_measured_without_a_delay_or_deploys() {
        let plain = [run(410, 400)];
        assert_eq!(RoundTrips::measure(&plain, &plain, Duration::ZERO), None);
        assert_eq!(
            RoundTrips::measure(&plain, &[], Duration::from_millis(20)),
            None
        );
    }

    #[test]
    fn round_trips_below_the_plain_overhead_show_a_negative_difference() {
        let plain = [run(430, 400)];
        let delayed = [run(420, 400)];
        let trips = RoundTrips::measure(&plain, &delayed, Duration::from_millis(20))
            .expect("both sets measured");
        assert_eq!(
            trips.describe(),
            "-0.5 (-10 ms at 20 ms per request, 1 deploy)"
        );
    }

    fn cost_of(other_apps: usize, each: &[(u64, u64)]) -> Cost {
        Cost {
            other_apps,
            marathon_requests: 0,
            marathon_bytes: (0, 0),
            consul_requests: 0,
            consul_bytes_in: 0,
            marathon_log: Vec::new(),
            consul_log: Vec::new(),
            each_deploy: each.iter().map(|(n, _)| *n).collect(),
            each_bytes: each.iter().map(|(_, b)| *b).collect(),
            first_deploy: 0,
        }
    }

    #[test]
    fn bytes_are_compared_between_deploys_of_equal_request_count() {
        let costs = [
            cost_of(10, &[(28, 14_000), (30, 17_000), (28, 14_100)]),
            cost_of(10_000, &[(30, 17_000), (30, 17_200)]),
        ];
        assert_eq!(
            bytes_ratio(&costs),
            "largest / smallest cluster, deploys of 30 requests: 1.00×"
        );
    }

    #[test]
    fn divan_median_of_an_unknown_benchmark_is_none() {
        assert_eq!(divan_median(DIVAN, "nothing"), None);
    }
}
