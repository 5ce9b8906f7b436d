//! duncan never hangs on a Marathon that vanishes or crawls: the watch keeps its deadline, the
//! rollback attempt is bounded, the lock is released and the message says what is known.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use marathon_sim::TaskOutcome;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::support::{Home, Sims, app_env, deploy_args, marathon_options, report};

/// A loopback TCP proxy in front of one address, which can be killed: its listener and every
/// connection it carries close at once, as when a host vanishes from the network.
struct Proxy {
    url: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(to: std::net::SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("proxy address"));
        let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let connections = Arc::clone(&tasks);
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let carry = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                connections.lock().expect("proxy tasks").push(carry);
            }
        });
        tasks.lock().expect("proxy tasks").push(accept);
        Proxy { url, tasks }
    }

    /// Closes the listener and every connection.
    fn kill(&self) {
        for task in self.tasks.lock().expect("proxy tasks").drain(..) {
            task.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_unreachable_during_the_watch_ends_within_the_deadline_and_frees_the_lock() {
    let sims = Sims::start_with(
        consul_sim::SimOptions::default(),
        marathon_options().rule("*:slow", TaskOutcome::Slow(Duration::from_secs(600))),
    )
    .await;
    let target = app_env("shop", "stage");
    sims.seed(&target, "v0", &["web", "worker"]).await;
    let proxy = Proxy::start(sims.marathon.addr()).await;
    let config = sims
        .config(&["shop"])
        .replace(&sims.marathon.url(), &proxy.url);
    let home = Home::with_config(&config);
    let mut args = deploy_args("shop", "stage", "slow");
    args.extend(["--timeout", "5s"]);
    let started = Instant::now();
    let child = home.command(&args, &[]).spawn().expect("spawn duncan");
    assert!(
        sims.wait_until(async || !sims.deployments().await.is_empty())
            .await,
        "the deployment started"
    );
    // Two seconds into the watch, Marathon vanishes from the network.
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.kill();
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("duncan ends")
        .expect("output");
    let seconds = started.elapsed().as_secs_f64();
    let code = output.status.code();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        code,
        Some(6),
        "the state is unknown: Marathon could not be asked: {stderr}"
    );
    assert!(
        stderr.contains("Marathon has been unreachable since"),
        "{stderr}"
    );
    assert!(stderr.contains("state is unknown"), "{stderr}");
    assert!(
        stderr.contains("not rolled back"),
        "no rollback claimed: {stderr}"
    );
    assert_eq!(sims.lock_session(&target).await, None, "lock released");
    assert_eq!(sims.session_count().await, 0, "no session left");
    assert_eq!(
        sims.kv(&target.current_key()).as_deref(),
        Some("v0"),
        "current untouched"
    );
    let said = stderr
        .lines()
        .rfind(|l| l.starts_with("error"))
        .unwrap_or_default()
        .trim()
        .replace('|', "/");
    report(
        "Marathon unreachable 2 s into the watch (--timeout 5s)",
        1,
        "pass",
        &format!(
            "ended after {seconds:.1} s with exit {}, lock released, 0 sessions, current \
             untouched; said: {said}",
            code.map_or_else(|| "none".to_owned(), |c| c.to_string())
        ),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marathon_answering_in_1_2_s_per_request_ends_within_the_deadline() {
    let sims = Sims::start().await;
    let target = app_env("shop", "stage");
    sims.seed(&target, "v0", &["web", "worker"]).await;
    sims.marathon
        .control()
        .set_latency(Duration::from_millis(1200));
    let home = Home::with_config(&sims.config(&["shop"]));
    let mut args = deploy_args("shop", "stage", "v1");
    args.extend(["--timeout", "5s"]);
    let started = Instant::now();
    let run = home.run(&args, &[]).await;
    let seconds = started.elapsed().as_secs_f64();
    run.assert_no_panic();
    assert!(
        [0, 1, 4, 5, 6].contains(&run.code),
        "a documented end of a deploy: {run:?}"
    );
    if run.code == 0 {
        assert_eq!(
            sims.kv(&target.current_key()).as_deref(),
            Some("v1"),
            "{run:?}"
        );
    } else {
        assert_eq!(
            sims.kv(&target.current_key()).as_deref(),
            Some("v0"),
            "{run:?}"
        );
    }
    assert_eq!(sims.lock_session(&target).await, None, "lock released");
    assert_eq!(sims.session_count().await, 0, "no session left");
    report(
        "Marathon answering every request in 1.2 s (--timeout 5s)",
        1,
        "pass",
        &format!(
            "ended after {seconds:.1} s with exit {}, current {}, lock released, 0 sessions",
            run.code,
            if run.code == 0 {
                "v1 (recorded)"
            } else {
                "untouched"
            }
        ),
    );
}
