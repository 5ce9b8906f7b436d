//! `cargo xtask demo`: duncan's main job, end to end, on loopback servers.
//!
//! Starts the example cluster (consul-sim, marathon-sim and a real registry, seeded with the app
//! `shop`), then runs the real `duncan` binary through a day of work, printing each command before
//! it runs and its output (standard output and standard error in the order they were written).
//! Every step states the exit code it expects; the demo fails if any step differs.
//!
//! The registry is installed when missing, as `cargo xtask test` does ([`system::install_missing`]).
//! Where it cannot be (not root, no `apt-get`), the demo runs without it: the deploys pass
//! `--skip-image-check`, the registry's own step is skipped, and the summary says so and how to
//! get it. `DUNCAN_TEST_REGISTRY_BINARY` and `XTASK_APT_GET` (see [`system`]) make that path
//! testable.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cluster::ExampleCluster;
use crate::system::{self, NotInstalled};

/// One command of the demo and what it should do.
struct Step {
    what: &'static str,
    args: Vec<String>,
    expect_exit: i32,
    /// Text the command's output must contain, so a step cannot pass for the wrong reason.
    expect_output: &'static str,
    /// What the step needs of the registry.
    registry: RegistryUse,
}

/// What a step needs of the registry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RegistryUse {
    /// Nothing.
    None,
    /// The deploy's image check: without a registry the step runs with `--skip-image-check`.
    ImageCheck,
    /// The registry is what the step shows: without one the step is skipped.
    Shows,
}

fn step(
    what: &'static str,
    args: &str,
    expect_exit: i32,
    expect_output: &'static str,
    registry: RegistryUse,
) -> Step {
    Step {
        what,
        args: args.split_whitespace().map(str::to_owned).collect(),
        expect_exit,
        expect_output,
        registry,
    }
}

/// A step's result.
enum Outcome {
    Ran { exit: i32, as_expected: bool },
    Skipped,
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("`cargo xtask demo` takes no arguments (got `{arg}`)");
    }
    let started = Instant::now();
    let duncan = build_duncan()?;
    let no_registry = system::install_missing(&[&system::DOCKER_REGISTRY]).err();
    let mut cluster = start_cluster(Duration::from_millis(150), no_registry.as_ref())?;
    let config = ExampleConfig::create("duncan-demo", &cluster)?;
    let app = cluster.app().to_owned();
    let broken = cluster.broken_tag().to_owned();

    use RegistryUse::{ImageCheck, Shows};
    let a = format!("-a {app}");
    let steps = vec![
        step(
            "what runs where",
            &format!("status {a}"),
            0,
            "production",
            RegistryUse::None,
        ),
        step(
            "deploy v2 to stage",
            &format!("deploy {a} -e stage -t v2 --yes"),
            0,
            "v2",
            ImageCheck,
        ),
        step(
            "the release history",
            &format!("history {a} -e stage"),
            0,
            "v2",
            RegistryUse::None,
        ),
        step(
            "a typo'd tag is refused before anything changes",
            &format!("deploy {a} -e stage -t v2-typo --yes"),
            1,
            "does not exist in its registry",
            Shows,
        ),
        step(
            "a tag that never becomes healthy: the deploy fails and is rolled back",
            &format!("deploy {a} -e stage -t {broken} --yes --timeout 4s"),
            4,
            "roll",
            ImageCheck,
        ),
        step(
            "roll stage back to the previous release",
            &format!("rollback {a} -e stage --yes"),
            0,
            "v1",
            ImageCheck,
        ),
        step(
            "set an environment variable",
            &format!("env set {a} -e stage LOG_LEVEL=debug --yes"),
            0,
            "LOG_LEVEL",
            RegistryUse::None,
        ),
        step(
            "list the environment",
            &format!("env list {a} -e stage"),
            0,
            "LOG_LEVEL=debug",
            RegistryUse::None,
        ),
    ];

    let with_registry = cluster.has_registry();
    let mut results = Vec::new();
    for step in &steps {
        results.push(run_demo_step(&duncan, &config, step, with_registry)?);
    }

    let session = cluster.hold_lock_as("production", "alice", "v2")?;
    eprintln!("\n(alice now holds the deploy lock of {app}/production from another machine)");
    let locked = step(
        "a deploy while someone else holds the lock is refused, naming them",
        &format!("deploy {a} -e production -t v2 --yes"),
        3,
        "alice",
        ImageCheck,
    );
    results.push(run_demo_step(&duncan, &config, &locked, with_registry)?);
    cluster.release_lock(&session)?;

    eprintln!("\nsummary ({:.1} s):", started.elapsed().as_secs_f64());
    let mut failed = 0;
    for (step, outcome) in steps.iter().chain(std::iter::once(&locked)).zip(&results) {
        match outcome {
            Outcome::Ran { exit, as_expected } => {
                let mark = if *as_expected { "ok  " } else { "FAIL" };
                if !as_expected {
                    failed += 1;
                }
                eprintln!(
                    "  {mark} exit {exit} (expected {}): {}",
                    step.expect_exit, step.what
                );
            }
            Outcome::Skipped => eprintln!("  skip (needs the registry): {}", step.what),
        }
    }
    if let Some(why) = &no_registry {
        eprintln!("{}", skipped_note(why));
    }
    drop(cluster);
    if failed > 0 {
        bail!("{failed} demo step(s) did not behave as expected");
    }
    eprintln!("every step that ran behaved as expected.");
    Ok(())
}

/// Starts the example cluster, with the registry unless it could not be installed, and prints
/// its addresses.
pub(crate) fn start_cluster(
    task_start: Duration,
    no_registry: Option<&NotInstalled>,
) -> Result<ExampleCluster> {
    let cluster_started = Instant::now();
    let cluster = match no_registry {
        None => {
            eprintln!("starting consul-sim, marathon-sim and a registry on loopback…");
            ExampleCluster::start(task_start, true)?
        }
        Some(why) => {
            eprintln!("{why}");
            eprintln!("starting consul-sim and marathon-sim on loopback, without a registry…");
            ExampleCluster::start(task_start, false)?
        }
    };
    let registry = cluster
        .registry_host()
        .unwrap_or("none (deploys need --skip-image-check)");
    eprintln!(
        "  consul   {}\n  marathon {}\n  registry {registry}\n  (ready in {:.1} s)",
        cluster.consul_url(),
        cluster.marathon_url(),
        cluster_started.elapsed().as_secs_f64()
    );
    Ok(cluster)
}

/// What was left out without the registry, why, and how to get it.
pub(crate) fn skipped_note(why: &NotInstalled) -> String {
    format!(
        "\nwithout a registry: the steps marked `skip` did not run, and the deploys and the \
         rollback ran with --skip-image-check, because {why}.\nTo get the registry steps:\n  {}",
        why.how.join("\n  ")
    )
}

fn run_demo_step(
    duncan: &Path,
    config: &ExampleConfig,
    step: &Step,
    with_registry: bool,
) -> Result<Outcome> {
    let mut args = step.args.clone();
    if !with_registry {
        match step.registry {
            RegistryUse::None => {}
            RegistryUse::ImageCheck => args.push("--skip-image-check".to_owned()),
            RegistryUse::Shows => {
                eprintln!("\n# {}\n(skipped: it needs the registry)", step.what);
                return Ok(Outcome::Skipped);
            }
        }
    }
    eprintln!("\n# {}\n$ duncan {}", step.what, args.join(" "));
    let started = Instant::now();
    let mut command = config.command(duncan);
    command.args(&args);
    let (status, transcript) = run_interleaved(command, &mut std::io::stderr())
        .with_context(|| format!("could not run {}", duncan.display()))?;
    let exit = status.code().unwrap_or(-1);
    let said_it = transcript.contains(step.expect_output);
    if !said_it {
        eprintln!("(expected the output to mention `{}`)", step.expect_output);
    }
    eprintln!("(exit {exit}, {:.1} s)", started.elapsed().as_secs_f64());
    Ok(Outcome::Ran {
        exit,
        as_expected: exit == step.expect_exit && said_it,
    })
}

/// Runs `command` with its standard output and standard error on one pipe, so that `echo`
/// receives them, as they come, in the order they were written; returns the exit status and
/// everything written.
fn run_interleaved(
    mut command: Command,
    echo: &mut dyn std::io::Write,
) -> Result<(ExitStatus, String)> {
    let (mut reader, writer) = std::io::pipe().context("cannot create a pipe")?;
    command
        .stdin(Stdio::null())
        .stdout(writer.try_clone().context("cannot share the pipe")?)
        .stderr(writer);
    let mut child = command.spawn()?;
    // The command holds the pipe's write ends: reading ends only once every one is closed.
    drop(command);
    let mut transcript = Vec::new();
    let mut buffer = [0; 8192];
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error).context("cannot read the command's output"),
        };
        let chunk = buffer.get(..read).unwrap_or_default();
        // Echoing is best effort: the transcript is what the step is judged on.
        let _ = echo.write_all(chunk);
        transcript.extend_from_slice(chunk);
    }
    let status = child.wait().context("cannot wait for the command")?;
    Ok((status, String::from_utf8_lossy(&transcript).into_owned()))
}

/// Builds the `duncan` binary (debug profile: the demo is about behaviour, not speed).
pub(crate) fn build_duncan() -> Result<PathBuf> {
    crate::cluster::build_binary("duncan-cli", "duncan")
}

/// A temporary directory holding the example's `duncan.yml`, removed on drop.
pub(crate) struct ExampleConfig {
    dir: PathBuf,
}

impl ExampleConfig {
    /// Creates `{temp}/{prefix}-{pid}/duncan.yml` for `cluster`.
    pub(crate) fn create(prefix: &str, cluster: &ExampleCluster) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("could not create {}", dir.display()))?;
        let config = Self { dir };
        std::fs::write(config.file(), cluster.duncan_config())
            .context("could not write the example's duncan.yml")?;
        Ok(config)
    }

    /// The configuration file, for `DUNCAN_CONFIG`.
    pub(crate) fn file(&self) -> PathBuf {
        self.dir.join("duncan.yml")
    }

    /// `duncan` reading this configuration, with none of the caller's Consul, Marathon, DC/OS or
    /// duncan settings, and this directory as its home (so nothing of the caller's `~`, such as
    /// `~/.docker/config.json`, takes part).
    fn command(&self, duncan: &Path) -> Command {
        let mut command = Command::new(duncan);
        for key in overriding_variables() {
            command.env_remove(key);
        }
        command
            .env("DUNCAN_CONFIG", self.file())
            .env("HOME", &self.dir)
            .env("USER", "demo");
        command
    }
}

/// The variables of this process's environment that would win over the example's `duncan.yml`
/// (or point duncan elsewhere): Consul's, Marathon's, DC/OS's and duncan's own.
pub(crate) fn overriding_variables() -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(key, _)| key.into_string().ok())
        .filter(|key| {
            ["CONSUL_", "MARATHON_", "DCOS_", "DUNCAN_"]
                .iter()
                .any(|prefix| key.starts_with(prefix))
                && key != test_registry::BINARY_VARIABLE
        })
        .collect()
}

impl Drop for ExampleConfig {
    fn drop(&mut self) {
        // Best effort: a leftover temporary directory is harmless.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_transcript_keeps_stdout_and_stderr_in_the_order_they_were_written() {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "echo 'deployment 1 started' >&2; echo 'deployed v2'; echo 'lock released' >&2; exit 3",
        ]);
        let mut echoed = Vec::new();
        let (status, transcript) = run_interleaved(command, &mut echoed).expect("sh runs");
        assert_eq!(status.code(), Some(3));
        assert_eq!(
            transcript,
            "deployment 1 started\ndeployed v2\nlock released\n"
        );
        assert_eq!(String::from_utf8(echoed).expect("utf-8"), transcript);
    }

    #[test]
    fn the_note_on_a_missing_registry_says_what_was_skipped_and_how_to_get_it() {
        let why = NotInstalled {
            packages: vec!["docker-registry"],
            reason: "installing them needs root, and this is not running as root".to_owned(),
            how: vec!["on Debian or Ubuntu: `sudo apt-get install docker-registry`".to_owned()],
        };
        assert_eq!(
            skipped_note(&why),
            "\nwithout a registry: the steps marked `skip` did not run, and the deploys and the \
             rollback ran with --skip-image-check, because the Debian package(s) docker-registry \
             could not be installed: installing them needs root, and this is not running as \
             root.\nTo get the registry steps:\n  on Debian or Ubuntu: `sudo apt-get install \
             docker-registry`"
        );
    }
}
