//! The `duncan` binary in a clean environment: a home directory per test, and what a run
//! produced.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tempfile::TempDir;

use crate::binary::duncan_bin;

/// A home directory for one test, holding `~/.duncan.yml` when one is written.
pub struct Home {
    dir: TempDir,
}

impl Default for Home {
    fn default() -> Self {
        Self::new()
    }
}

impl Home {
    /// An empty home directory.
    pub fn new() -> Self {
        Self {
            dir: TempDir::new().expect("temp dir"),
        }
    }

    /// A home directory with `~/.duncan.yml` holding `yaml` (mode 0600).
    pub fn with_config(yaml: &str) -> Self {
        let home = Self::new();
        home.write_config(yaml, 0o600);
        home
    }

    /// Writes `~/.duncan.yml` with the given mode.
    pub fn write_config(&self, yaml: &str, mode: u32) {
        let path = self.config_path();
        std::fs::write(&path, yaml).expect("write config");
        set_mode(&path, mode);
    }

    /// Where `~/.duncan.yml` is.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join(".duncan.yml")
    }

    /// The home directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The `duncan` binary (for `assert_cmd`) with an environment holding nothing but this
    /// home, a user, a host, a terminal width and UTC.
    pub fn duncan(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::cargo_bin("duncan").expect("duncan binary");
        cmd.env_clear()
            .env("HOME", self.path())
            .env("USER", "tester")
            .env("HOSTNAME", "testhost")
            .env("COLUMNS", "100")
            .env("TZ", "UTC");
        cmd
    }

    /// `duncan args…` as a tokio process with an environment holding only this home, a user,
    /// `NO_COLOR`, UTC and `extra`; output piped, killed when dropped.
    pub fn command(&self, args: &[&str], extra: &[(&str, &str)]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(duncan_bin());
        cmd.env_clear()
            .env("HOME", self.path())
            .env("USER", "tester")
            .env("HOSTNAME", "testhost")
            .env("NO_COLOR", "1")
            .env("TZ", "UTC")
            .envs(extra.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    /// Runs `duncan args…` ([`Home::command`]) to its end (at most a minute).
    pub async fn run(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let child = self.command(args, extra).spawn().expect("spawn duncan");
        let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .expect("duncan ends within a minute")
            .expect("duncan output");
        Run::from(output)
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) {}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<std::process::Output> for Run {
    fn from(output: std::process::Output) -> Self {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Both streams, for assertions that look at everything the user saw.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Fails the test when the binary panicked.
    pub fn assert_no_panic(&self) {
        assert!(
            !self.stderr.contains("panicked") && self.code != 101,
            "duncan panicked: {self:?}"
        );
    }
}

/// Runs a prepared command and collects its output.
pub fn run(mut cmd: assert_cmd::Command) -> Run {
    Run::from(cmd.output().expect("run duncan"))
}

/// Runs a prepared command off the async runtime (the sims run on it meanwhile).
pub async fn run_async(cmd: assert_cmd::Command) -> Run {
    tokio::task::spawn_blocking(move || run(cmd))
        .await
        .expect("join")
}

/// The arguments of an unattended deploy of `app` to `env` at `tag` (`-y`, no registry
/// check), as most scenarios run it.
pub fn deploy_args<'a>(app: &'a str, env: &'a str, tag: &'a str) -> [&'a str; 9] {
    [
        "deploy",
        "-a",
        app,
        "-e",
        env,
        "-t",
        tag,
        "-y",
        "--skip-image-check",
    ]
}
