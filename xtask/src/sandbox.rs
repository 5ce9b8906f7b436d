//! `cargo xtask sandbox`: the demo's example cluster, left running for a person to try duncan by
//! hand from another shell.
//!
//! It leaves that shell alone but for `DUNCAN_CONFIG` (never `HOME`, which `~`, git and ssh rely
//! on), says which tags its registry holds and which one never becomes healthy, and on Ctrl-C
//! (SIGINT) or SIGTERM stops the servers and removes its temporary directories.
//!
//! The running part is the test kit's `example-cluster sandbox`, which this process becomes
//! (`exec`), so that the signal reaches the one process that owns the servers and the files.

use std::os::unix::process::CommandExt as _;
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::demo::{build_duncan, overriding_variables};
use crate::system;

pub(crate) fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("`cargo xtask sandbox` takes no arguments (got `{arg}`)");
    }
    let duncan = build_duncan()?;
    let binary = crate::cluster::build_example_cluster()?;
    let mut command = Command::new(&binary);
    command
        .args(["sandbox", "--task-start-ms", "300", "--duncan"])
        .arg(&duncan);
    if let Err(why) = system::install_missing(&[&system::DOCKER_REGISTRY]) {
        eprintln!("{why}");
        command.arg("--no-registry").arg(format!(
            "Without a registry, because {why}. To get one:\n  {}",
            why.how.join("\n  ")
        ));
    }
    for key in overriding_variables()
        .into_iter()
        .filter(|key| key != "DUNCAN_CONFIG")
    {
        command.arg("--unset").arg(key);
    }
    let error = command.exec();
    Err(error).with_context(|| format!("could not run {}", binary.display()))
}
