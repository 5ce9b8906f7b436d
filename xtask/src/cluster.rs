//! The example cluster as a process: the test kit's binary `example-cluster`, built and started
//! only by the commands that need it (`demo`, `sandbox`), so that xtask itself compiles neither
//! simulator and its first checks (`tidy`, `fmt`) start at once.

use std::io::{BufRead as _, BufReader, Lines, Write as _};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use crate::{cargo, project_root};

/// Builds `bin` of `package` (debug profile) and returns its path.
pub(crate) fn build_binary(package: &str, bin: &str) -> Result<PathBuf> {
    crate::run_step(
        &cargo(),
        &["build", "--quiet", "--package", package, "--bin", bin],
    )?;
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_root().join("target"));
    Ok(target_dir
        .join("debug")
        .join(format!("{bin}{}", std::env::consts::EXE_SUFFIX)))
}

/// Builds the test kit's `example-cluster`.
pub(crate) fn build_example_cluster() -> Result<PathBuf> {
    build_binary("duncan-testkit", "example-cluster")
}

/// A running `example-cluster serve`; it stops when this is dropped (its input closes).
pub(crate) struct ExampleCluster {
    child: Child,
    input: Option<ChildStdin>,
    output: Lines<BufReader<ChildStdout>>,
    app: String,
    broken_tag: String,
    consul: String,
    marathon: String,
    registry: Option<String>,
    config: String,
}

impl ExampleCluster {
    /// Starts the cluster (tasks start after `task_start`), with a registry or without.
    pub(crate) fn start(task_start: Duration, with_registry: bool) -> Result<Self> {
        let binary = build_example_cluster()?;
        let mut command = Command::new(&binary);
        command
            .arg("serve")
            .arg("--task-start-ms")
            .arg(task_start.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        if !with_registry {
            command.arg("--no-registry");
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("could not start {}", binary.display()))?;
        let input = child.stdin.take();
        let output = BufReader::new(child.stdout.take().context("no output pipe")?).lines();
        let mut cluster = ExampleCluster {
            child,
            input,
            output,
            app: String::new(),
            broken_tag: String::new(),
            consul: String::new(),
            marathon: String::new(),
            registry: None,
            config: String::new(),
        };
        loop {
            let line = cluster.line()?;
            let (key, value) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            match key {
                "ready" => break,
                "app" => cluster.app = value.to_owned(),
                "broken-tag" => cluster.broken_tag = value.to_owned(),
                "consul" => cluster.consul = value.to_owned(),
                "marathon" => cluster.marathon = value.to_owned(),
                "registry" => cluster.registry = (value != "none").then(|| value.to_owned()),
                "config" => cluster.config = value.replace("\\n", "\n"),
                _ => bail!("example-cluster said `{line}`"),
            }
        }
        Ok(cluster)
    }

    fn line(&mut self) -> Result<String> {
        match self.output.next() {
            Some(line) => line.context("cannot read example-cluster's output"),
            None => bail!("example-cluster stopped (its error is above)"),
        }
    }

    fn ask(&mut self, command: &str) -> Result<String> {
        let input = self.input.as_mut().context("example-cluster is stopping")?;
        writeln!(input, "{command}").context("cannot write to example-cluster")?;
        input.flush()?;
        let answer = self.line()?;
        match answer.strip_prefix("error ") {
            Some(error) => bail!("{error}"),
            None => Ok(answer),
        }
    }

    /// The example application's name.
    pub(crate) fn app(&self) -> &str {
        &self.app
    }

    /// The tag whose tasks never become healthy.
    pub(crate) fn broken_tag(&self) -> &str {
        &self.broken_tag
    }

    /// consul-sim's address.
    pub(crate) fn consul_url(&self) -> &str {
        &self.consul
    }

    /// marathon-sim's address.
    pub(crate) fn marathon_url(&self) -> &str {
        &self.marathon
    }

    /// Whether the example runs a registry.
    pub(crate) fn has_registry(&self) -> bool {
        self.registry.is_some()
    }

    /// The registry's `host:port`, when there is one.
    pub(crate) fn registry_host(&self) -> Option<&str> {
        self.registry.as_deref()
    }

    /// The example's `duncan.yml`.
    pub(crate) fn duncan_config(&self) -> &str {
        &self.config
    }

    /// Takes the deploy lock of the app in `env` as `user` deploying `tag` from another
    /// machine; returns the session.
    pub(crate) fn hold_lock_as(&mut self, env: &str, user: &str, tag: &str) -> Result<String> {
        let answer = self.ask(&format!("hold-lock {env} {user} {tag}"))?;
        match answer.strip_prefix("session ") {
            Some(session) => Ok(session.to_owned()),
            None => bail!("example-cluster answered `{answer}`"),
        }
    }

    /// Releases a lock taken with [`ExampleCluster::hold_lock_as`].
    pub(crate) fn release_lock(&mut self, session: &str) -> Result<()> {
        self.ask(&format!("release-lock {session}")).map(drop)
    }
}

impl Drop for ExampleCluster {
    fn drop(&mut self) {
        // End of input stops the cluster; wait for it to remove its files.
        drop(self.input.take());
        let _ = self.child.wait();
    }
}
