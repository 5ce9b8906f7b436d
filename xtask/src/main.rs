//! `cargo xtask`: the one place to run, try, test and ship duncan.
//!
//! Each command lives in its own module. The workspace root is found from
//! `CARGO_MANIFEST_DIR`, so the commands work from any directory.

mod bench;
mod cluster;
mod demo;
mod it;
mod release;
mod reliability;
mod sandbox;
mod system;
mod test;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  demo         start local Consul, Marathon and registry stand-ins; walk through duncan's main job
  sandbox      start the demo's example cluster and leave it running to try duncan by hand
  test         tidy, fmt check, clippy, nextest, doctests and the demo (what CI runs)
  tidy         quick checks that the README and ARCHITECTURE.md agree with the code
  it           the integration suite, against real Consul/Marathon when given, else the simulators
  reliability  the reliability and security proofs; writes RELIABILITY.md
  bench        the performance measurements; writes BENCHMARKS.md (--quick: prove the harness)
  release      build and pack the release archive: release [--dry-run] [--out DIR]
";

fn main() -> std::process::ExitCode {
    match dispatch() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn dispatch() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next();
    let rest: Vec<String> = args.collect();
    match command.as_deref() {
        Some("demo") => demo::run(&rest),
        Some("sandbox") => sandbox::run(&rest),
        Some("test") => test::run(&rest),
        Some("tidy") => tidy::run(&rest),
        Some("release") => release::run(&rest),
        Some("it") => it::run(&rest),
        Some("reliability") => reliability::run(&rest),
        Some("bench") => bench::run(&rest),
        Some("help" | "--help" | "-h") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`\n\n{USAGE}"),
    }
}

/// The workspace root: the parent of this crate's manifest directory.
///
/// `XTASK_WORKSPACE_ROOT` points it at another checkout instead: the release test uses it to
/// release a fresh clone with the xtask binary under test.
pub(crate) fn project_root() -> PathBuf {
    if let Some(root) = std::env::var_os("XTASK_WORKSPACE_ROOT") {
        return PathBuf::from(root);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// The cargo that runs us, so every step uses the same toolchain.
pub(crate) fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Runs `program args…` in the workspace root, echoing it first, and fails if it fails.
pub(crate) fn run_step(program: &str, args: &[&str]) -> Result<()> {
    run_step_with_env(program, args, &[])
}

/// [`run_step`] with extra environment variables, shown with their values before the command:
/// never pass a secret.
pub(crate) fn run_step_with_env(program: &str, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    let shown: String = env.iter().map(|(k, v)| format!("{k}={v:?} ")).collect();
    eprintln!("$ {shown}{program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(project_root())
        .status()
        .with_context(|| format!("could not start `{program}`"))?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}
