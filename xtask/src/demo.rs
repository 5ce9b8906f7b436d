//! `cargo xtask demo`: duncan's main job, end to end, on loopback servers.
//!
//! Starts the example cluster (consul-sim, marathon-sim and a real registry, seeded with the app
//! `shop`), then runs the real `duncan` binary through a day of work, printing each command before
//! it runs. Every step states the exit code it expects; the demo fails if any step differs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use duncan_tests::example::{APP, BROKEN_TAG, ExampleCluster};

use crate::{cargo, project_root};

/// One command of the demo and what it should do.
struct Step {
    what: &'static str,
    args: Vec<String>,
    expect_exit: i32,
    /// Text the command's output must contain, so a step cannot pass for the wrong reason.
    expect_output: &'static str,
}

fn step(what: &'static str, args: &str, expect_exit: i32, expect_output: &'static str) -> Step {
    Step {
        what,
        args: args.split_whitespace().map(str::to_owned).collect(),
        expect_exit,
        expect_output,
    }
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("`cargo xtask demo` takes no arguments (got `{arg}`)");
    }
    let started = Instant::now();
    let duncan = build_duncan()?;
    eprintln!("starting consul-sim, marathon-sim and a registry on loopback…");
    let cluster_started = Instant::now();
    let cluster = ExampleCluster::start(Duration::from_millis(150))?;
    let home = DemoHome::create(&cluster)?;
    eprintln!(
        "  consul   {}\n  marathon {}\n  registry {}\n  (ready in {:.1} s)",
        cluster.consul_url(),
        cluster.marathon_url(),
        cluster.docker_repo_prefix(),
        cluster_started.elapsed().as_secs_f64()
    );

    let a = format!("-a {APP}");
    let steps = vec![
        step("what runs where", &format!("status {a}"), 0, "production"),
        step(
            "deploy v2 to stage",
            &format!("deploy {a} -e stage -t v2 --yes"),
            0,
            "v2",
        ),
        step(
            "the release history",
            &format!("history {a} -e stage"),
            0,
            "v2",
        ),
        step(
            "a typo'd tag is refused before anything changes",
            &format!("deploy {a} -e stage -t v2-typo --yes"),
            1,
            "does not exist in its registry",
        ),
        step(
            "a tag that never becomes healthy: the deploy fails and is rolled back",
            &format!("deploy {a} -e stage -t {BROKEN_TAG} --yes --timeout 4s"),
            4,
            "roll",
        ),
        step(
            "roll stage back to the previous release",
            &format!("rollback {a} -e stage --yes"),
            0,
            "v1",
        ),
        step(
            "set an environment variable",
            &format!("env set {a} -e stage LOG_LEVEL=debug --yes"),
            0,
            "LOG_LEVEL",
        ),
        step(
            "list the environment",
            &format!("env list {a} -e stage"),
            0,
            "LOG_LEVEL=debug",
        ),
    ];

    let mut results = Vec::new();
    for step in &steps {
        results.push(run_step(&duncan, &home, step)?);
    }

    let session = cluster.hold_lock_as("production", "alice", "v2")?;
    eprintln!("(alice now holds the deploy lock of {APP}/production from another machine)");
    let locked = step(
        "a deploy while someone else holds the lock is refused, naming them",
        &format!("deploy {a} -e production -t v2 --yes"),
        3,
        "alice",
    );
    results.push(run_step(&duncan, &home, &locked)?);
    cluster.release_lock(&session)?;

    eprintln!("\nsummary ({:.1} s):", started.elapsed().as_secs_f64());
    let mut failed = 0;
    for (step, outcome) in steps.iter().chain(std::iter::once(&locked)).zip(&results) {
        let mark = if outcome.as_expected { "ok  " } else { "FAIL" };
        if !outcome.as_expected {
            failed += 1;
        }
        eprintln!(
            "  {mark} exit {} (expected {}): {}",
            outcome.exit, step.expect_exit, step.what
        );
    }
    drop(cluster);
    if failed > 0 {
        bail!("{failed} demo step(s) did not behave as expected");
    }
    eprintln!("every step behaved as expected.");
    Ok(())
}

struct Outcome {
    exit: i32,
    as_expected: bool,
}

fn run_step(duncan: &Path, home: &DemoHome, step: &Step) -> Result<Outcome> {
    eprintln!("\n# {}\n$ duncan {}", step.what, step.args.join(" "));
    let started = Instant::now();
    let output = home
        .command(duncan)
        .args(&step.args)
        .output()
        .with_context(|| format!("could not run {}", duncan.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprint!("{stdout}{stderr}");
    let exit = output.status.code().unwrap_or(-1);
    let said_it = stdout.contains(step.expect_output) || stderr.contains(step.expect_output);
    if !said_it {
        eprintln!("(expected the output to mention `{}`)", step.expect_output);
    }
    eprintln!("(exit {exit}, {:.1} s)", started.elapsed().as_secs_f64());
    Ok(Outcome {
        exit,
        as_expected: exit == step.expect_exit && said_it,
    })
}

/// Builds the `duncan` binary (debug profile: the demo is about behaviour, not speed).
pub(crate) fn build_duncan() -> Result<PathBuf> {
    crate::run_step(&cargo(), &["build", "--quiet", "--package", "duncan-cli"])?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("target"));
    Ok(target_dir.join("debug").join("duncan"))
}

/// A temporary home directory holding the example's `~/.duncan.yml`.
pub(crate) struct DemoHome {
    dir: PathBuf,
}

impl DemoHome {
    pub(crate) fn create(cluster: &ExampleCluster) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("duncan-demo-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
        std::fs::write(dir.join(".duncan.yml"), cluster.duncan_config())
            .context("could not write the demo's .duncan.yml")?;
        Ok(Self { dir })
    }

    /// The directory, for the sandbox's instructions.
    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    /// `duncan` with this home and none of the caller's Consul, Marathon or DC/OS settings.
    fn command(&self, duncan: &Path) -> Command {
        let mut command = Command::new(duncan);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if ["CONSUL_", "MARATHON_", "DCOS_", "DUNCAN_"]
                .iter()
                .any(|prefix| key.starts_with(prefix))
            {
                command.env_remove(&*key);
            }
        }
        command.env("HOME", &self.dir).env("USER", "demo");
        command
    }
}

impl Drop for DemoHome {
    fn drop(&mut self) {
        // Best effort: a leftover temporary directory is harmless.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
