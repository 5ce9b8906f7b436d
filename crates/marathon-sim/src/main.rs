//! The `marathon-sim` binary: a Marathon-compatible server that simulates deployments.
//!
//! `marathon-sim --listen 127.0.0.1:8080` prints `listening on http://ADDR` as its first line and
//! serves until SIGINT or SIGTERM.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use marathon_sim::{MarathonSim, SimOptions, TaskOutcome};

const USAGE: &str = "usage: marathon-sim [--listen ADDR] [--rule GLOB=OUTCOME]... [--task-start-ms N] [--keepalive-ms N] [--token T] [--basic-auth USER:PASSWORD] [--login-public-key PEM-FILE] [--login-token-uses N] [--speed F]

  --listen ADDR       address to listen on (default 127.0.0.1:8080)
  --rule GLOB=OUTCOME tasks of images matching GLOB behave as OUTCOME:
                      healthy, never-healthy, crash-loop or slow:<ms> (repeatable; later rules win)
  --task-start-ms N   simulated time from staging to running (default 300)
  --keepalive-ms N    event-stream keep-alive interval (default 10000)
  --token T           require `Authorization: token=T`
  --basic-auth U:P    require HTTP basic auth with this user and password
  --login-public-key F serve DC/OS's service-account login (POST /acs/api/v1/auth/login),
                      verifying login tokens with the RSA public key in the PEM file F,
                      and require the tokens it issues
  --login-token-uses N issued tokens authorise N requests, then answer 401 as expired
  --speed F           simulated time runs F times real time (default 1)";

fn parse(args: &[String]) -> anyhow::Result<SimOptions> {
    let mut options = SimOptions::default().listen(SocketAddr::from(([127, 0, 0, 1], 8080)));
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .with_context(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--listen" => {
                let v = value("--listen")?;
                options = options.listen(v.parse().with_context(|| {
                    format!("--listen: {v:?} is not an address like 127.0.0.1:8080")
                })?);
            }
            "--rule" => {
                let v = value("--rule")?;
                let (glob, outcome) = v
                    .split_once('=')
                    .with_context(|| format!("--rule: {v:?} is not GLOB=OUTCOME"))?;
                let outcome: TaskOutcome =
                    outcome.parse().with_context(|| format!("--rule {v:?}"))?;
                options = options.rule(glob, outcome);
            }
            "--task-start-ms" => {
                let v = value("--task-start-ms")?;
                let ms: u64 = v
                    .parse()
                    .with_context(|| format!("--task-start-ms: {v:?} is not a number"))?;
                options = options.task_start(Duration::from_millis(ms));
            }
            "--keepalive-ms" => {
                let v = value("--keepalive-ms")?;
                let ms: u64 = v
                    .parse()
                    .with_context(|| format!("--keepalive-ms: {v:?} is not a number"))?;
                options = options.keepalive(Duration::from_millis(ms));
            }
            "--token" => options = options.token(value("--token")?),
            "--basic-auth" => {
                let v = value("--basic-auth")?;
                let (user, password) = v
                    .split_once(':')
                    .context("--basic-auth needs USER:PASSWORD")?;
                options = options.basic_auth(user, password);
            }
            "--login-public-key" => {
                let path = value("--login-public-key")?;
                let pem = std::fs::read_to_string(&path)
                    .with_context(|| format!("--login-public-key: cannot read {path:?}"))?;
                options = options.login_public_key(pem);
            }
            "--login-token-uses" => {
                let v = value("--login-token-uses")?;
                let uses: u64 = v
                    .parse()
                    .with_context(|| format!("--login-token-uses: {v:?} is not a number"))?;
                options = options.login_token_uses(uses);
            }
            "--speed" => {
                let v = value("--speed")?;
                let speed: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .with_context(|| format!("--speed: {v:?} is not a number >= 0"))?;
                options = options.speed(speed);
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok(options)
}

async fn stopped() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return Ok(());
    }
    let options = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("marathon-sim: {e:#}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    let sim = MarathonSim::start(options).await.context("cannot listen")?;
    let mut out = std::io::stdout();
    writeln!(out, "listening on {}", sim.url())?;
    out.flush()?;
    stopped().await;
    sim.shutdown().await;
    Ok(())
}
