//! `example-cluster`: the example cluster ([`duncan_testkit::example`]) as a process, which
//! `cargo xtask demo` and `cargo xtask sandbox` build and start only when they need it, so
//! xtask itself compiles neither simulator.
//!
//! `example-cluster serve [--task-start-ms N] [--no-registry]` starts the cluster and prints, one
//! per line, `app NAME`, `broken-tag TAG` (the tag that never becomes healthy), `consul URL`, `marathon URL`, `registry HOST` (or `registry none`), `config TEXT`
//! (the example's `duncan.yml`, newlines written as `\n`) and `ready`. It then reads commands on
//! standard input, one per line, and answers each with one line:
//! `hold-lock ENV USER TAG` → `session ID`, `release-lock ID` → `ok`; a failure answers
//! `error MESSAGE`. End of input stops the cluster.
//!
//! `example-cluster sandbox --duncan PATH [--task-start-ms N] [--no-registry NOTE]
//! [--unset VAR]…` starts the cluster for a person: it writes the configuration to
//! `{temp}/duncan-sandbox-{pid}/duncan.yml`, prints how to use it from another shell, and on
//! SIGINT or SIGTERM stops the servers and removes its files.

use std::io::{BufRead as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use duncan_testkit::example::{APP, BROKEN_TAG, ExampleCluster, TAGS};

/// The line that says the sandbox is ready; xtask's test waits for it.
const READY: &str = "The sandbox is running.";

fn main() -> std::process::ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("example-cluster: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The command line.
#[derive(Debug, Default, PartialEq)]
struct Options {
    task_start: Option<Duration>,
    /// `serve --no-registry`.
    no_registry: bool,
    /// `sandbox --no-registry NOTE`: why there is none and how to get one.
    no_registry_note: Option<String>,
    duncan: Option<PathBuf>,
    unset: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options::default();
    let mut args = args.iter();
    let sandbox = args.len() > 0 && args.as_slice()[0] == "sandbox";
    args.next();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .cloned()
                .with_context(|| format!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--task-start-ms" => {
                let ms: u64 = value()?
                    .parse()
                    .context("--task-start-ms takes milliseconds")?;
                options.task_start = Some(Duration::from_millis(ms));
            }
            "--no-registry" if sandbox => options.no_registry_note = Some(value()?),
            "--no-registry" => options.no_registry = true,
            "--duncan" => options.duncan = Some(PathBuf::from(value()?)),
            "--unset" => options.unset.push(value()?),
            other => bail!("unknown argument `{other}`"),
        }
    }
    Ok(options)
}

fn run(args: Vec<String>) -> Result<()> {
    let options = parse(&args)?;
    match args.first().map(String::as_str) {
        Some("serve") => serve(&options),
        Some("sandbox") => sandbox(&options),
        _ => bail!("usage: example-cluster serve|sandbox [OPTIONS] (see the source's docs)"),
    }
}

fn start(options: &Options, without_registry: bool) -> Result<ExampleCluster> {
    let task_start = options.task_start.unwrap_or(Duration::from_millis(150));
    if without_registry {
        ExampleCluster::start_without_registry(task_start)
    } else {
        ExampleCluster::start(task_start)
    }
}

fn serve(options: &Options) -> Result<()> {
    let cluster = start(options, options.no_registry)?;
    let mut out = std::io::stdout().lock();
    let registry = if cluster.has_registry() {
        cluster.registry_host()
    } else {
        "none".to_owned()
    };
    writeln!(out, "app {APP}")?;
    writeln!(out, "broken-tag {BROKEN_TAG}")?;
    writeln!(out, "consul {}", cluster.consul_url())?;
    writeln!(out, "marathon {}", cluster.marathon_url())?;
    writeln!(out, "registry {registry}")?;
    writeln!(
        out,
        "config {}",
        cluster.duncan_config().replace('\n', "\\n")
    )?;
    writeln!(out, "ready")?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        let line = line.context("cannot read a command")?;
        let answer = match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["hold-lock", env, user, tag] => cluster
                .hold_lock_as(env, user, tag)
                .map(|session| format!("session {session}")),
            ["release-lock", session] => cluster.release_lock(session).map(|()| "ok".to_owned()),
            _ => Err(anyhow::anyhow!("unknown command `{line}`")),
        };
        let answer = answer.unwrap_or_else(|error| format!("error {error:#}").replace('\n', " "));
        writeln!(out, "{answer}")?;
        out.flush()?;
    }
    Ok(())
}

/// The sandbox's configuration directory, removed when dropped.
struct ConfigDir(PathBuf);

impl Drop for ConfigDir {
    fn drop(&mut self) {
        // Best effort: a leftover temporary directory is harmless.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sandbox(options: &Options) -> Result<()> {
    let duncan = options
        .duncan
        .as_deref()
        .context("sandbox needs --duncan PATH")?;
    let cluster = start(options, options.no_registry_note.is_some())?;
    let dir = std::env::temp_dir().join(format!("duncan-sandbox-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    let dir = ConfigDir(dir);
    let config = dir.0.join("duncan.yml");
    std::fs::write(&config, cluster.duncan_config())
        .context("could not write the example's duncan.yml")?;
    let signal = cluster.wait_for_stop_signal(|| {
        print_instructions(&cluster, &config, duncan, &options.unset);
        if let Some(note) = &options.no_registry_note {
            println!("\n{note}");
        }
        println!("\nCtrl-C stops the sandbox and removes its files.");
    })?;
    eprintln!("{signal}: stopping the sandbox and removing its files…");
    drop(dir);
    drop(cluster);
    eprintln!("sandbox stopped.");
    Ok(())
}

fn print_instructions(cluster: &ExampleCluster, config: &Path, duncan: &Path, unset: &[String]) {
    println!("{READY}");
    println!(
        "  consul   {}\n  marathon {}",
        cluster.consul_url(),
        cluster.marathon_url()
    );
    let skip = if cluster.has_registry() {
        println!(
            "  registry {} holds acme/{APP}:{}",
            cluster.registry_host(),
            TAGS.join(", ")
        );
        ""
    } else {
        println!("  registry none: pass --skip-image-check to deploy and rollback");
        " --skip-image-check"
    };
    println!("  {APP}:{BROKEN_TAG} never becomes healthy: a deploy of it fails and is rolled back");
    println!("\nIn another shell, paste:\n");
    println!("export DUNCAN_CONFIG={}", config.display());
    println!("alias duncan={}", duncan.display());
    if !unset.is_empty() {
        // These win over the file: a shell that has them would talk to other services.
        println!("unset {}", unset.join(" "));
    }
    println!("\nthen try:");
    println!("  duncan status -a {APP}");
    println!("  duncan deploy -a {APP} -e stage -t v2{skip}");
    println!(
        "  duncan deploy -a {APP} -e stage -t {BROKEN_TAG} --timeout 10s{skip}   # never healthy: rolled back"
    );
    println!("  duncan history -a {APP} -e stage");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn no_registry_is_a_flag_when_serving_and_carries_the_note_in_the_sandbox() {
        let serve = parse(&args(&["serve", "--no-registry", "--task-start-ms", "20"])).unwrap();
        assert!(serve.no_registry);
        assert_eq!(serve.task_start, Some(Duration::from_millis(20)));
        let sandbox = parse(&args(&["sandbox", "--no-registry", "why", "--unset", "A"])).unwrap();
        assert_eq!(sandbox.no_registry_note.as_deref(), Some("why"));
        assert_eq!(sandbox.unset, ["A"]);
    }

    #[test]
    fn unknown_arguments_and_missing_values_are_errors() {
        assert!(parse(&args(&["serve", "--bogus"])).is_err());
        assert!(parse(&args(&["serve", "--task-start-ms"])).is_err());
    }
}
