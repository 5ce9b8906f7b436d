//! `cargo xtask test`: every check CI runs, in order, stopping at the first failure: tidy (no
//! build needed), fmt, clippy,
//! the test suite (nextest), doctests, the API docs without a warning (broken links, private items
//! named in public docs), the demo as a smoke test, and `bench --quick` to prove the benchmark
//! harness works.

use anyhow::{Result, bail};

use crate::{cargo, run_step, run_step_with_env, system};

pub(crate) fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("`cargo xtask test` takes no arguments (got `{arg}`)");
    }
    eprintln!("$ cargo xtask tidy");
    crate::tidy::run(&[])?;
    system::ensure_installed(&[&system::DOCKER_REGISTRY, &system::OPENSSL])?;
    let clients = system::ensure_client_libraries()?;
    let clients: Vec<(&str, &str)> = clients.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cargo = cargo();
    run_step(&cargo, &["fmt", "--all", "--", "--check"])?;
    run_step(
        &cargo,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    run_step_with_env(
        &cargo,
        &["nextest", "run", "--workspace", "--no-tests=fail"],
        &clients,
    )?;
    run_step(&cargo, &["test", "--doc", "--workspace"])?;
    run_step_with_env(
        &cargo,
        &["doc", "--workspace", "--no-deps", "--quiet"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    eprintln!("$ cargo xtask demo (smoke test)");
    crate::demo::run(&[])?;
    eprintln!("$ cargo xtask bench --quick (proves the harness works; no figure is judged)");
    crate::bench::run(&["--quick".to_owned()])?;
    eprintln!("xtask test: all checks passed");
    Ok(())
}
