//! The test harness: a clean environment for the binary, and snapshot filters.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

/// A home directory for one test, holding `.duncan.yml` when one is written.
pub struct Home {
    dir: TempDir,
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

    /// The `duncan` binary with an environment holding nothing but this home, a user and a host.
    pub fn duncan(&self) -> Command {
        let mut cmd = Command::cargo_bin("duncan").expect("duncan binary");
        cmd.env_clear()
            .env("HOME", self.path())
            .env("USER", "tester")
            .env("HOSTNAME", "testhost")
            .env("COLUMNS", "100")
            .env("TZ", "UTC");
        cmd
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
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs a prepared command and collects its output.
pub fn run(mut cmd: Command) -> Run {
    let output = cmd.output().expect("run duncan");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Runs a prepared command off the async runtime (the sims run on it meanwhile).
pub async fn run_async(cmd: Command) -> Run {
    tokio::task::spawn_blocking(move || run(cmd))
        .await
        .expect("join")
}

/// insta settings that hide what changes between runs: ports, temp dirs, times, ids.
pub fn settings(home: &Home) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("snapshots");
    s.set_prepend_module_to_snapshot(false);
    s.add_filter(&regex_escape(&home.path().display().to_string()), "[HOME]");
    s.add_filter(r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]");
    s.add_filter(
        r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?",
        "[TIME]",
    );
    s.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[UUID]",
    );
    s
}

/// [`settings`] that also hide durations (`1.2s`, `350ms`), for outputs that time things.
pub fn settings_with_durations(home: &Home) -> insta::Settings {
    let mut s = settings(home);
    s.add_filter(r"\b\d+(\.\d+)?(ms|s)\b", "[DURATION]");
    s
}

fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Formats a run for a snapshot: exit code, stdout, stderr.
pub fn shown(run: &Run) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        run.code, run.stdout, run.stderr
    )
}

/// The Go tool's `example_duncan.yml`, as its users have it, pointed at the given services.
pub fn go_example_config(consul: &str, marathon_base: &str) -> String {
    format!(
        "# populate w/ valid values and save at ~/.duncan.yml\n---\n\
         marathon_host: {marathon_base}\n\
         chronos_host: https://mesos-host.com\n\
         slythe_host: https://slythe.host\n\
         github_org: myorg\n\
         docker_repo_prefix: quay.io/myorg\n\
         docker_conf_url:\n\
         quay_token:\n\
         slack_webhook_url:\n\
         consul_host: {consul}\n\
         consul_token:\n\
         vault_host: https://vault.host\n\
         vault_token:\n\
         \n\
         apps:\n  - dogfood\n  - skulls\n\
         \n\
         repos:\n  dogfood: dogfood-repo\n"
    )
}

/// The arguments of an unattended deploy of `dogfood` to `stage` at `tag` (`-y`, no registry
/// check), as most scenarios run it.
pub fn deploy_args(tag: &str) -> [&str; 9] {
    [
        "deploy",
        "-a",
        "dogfood",
        "-e",
        "stage",
        "-t",
        tag,
        "-y",
        "--skip-image-check",
    ]
}
