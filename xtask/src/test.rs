//! `cargo xtask test`: every check CI runs, in order, stopping at the first failure.

use anyhow::Result;

use crate::run_step;

pub(crate) fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        anyhow::bail!("`cargo xtask test` takes no arguments (got `{arg}`)");
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
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
    run_step(
        &cargo,
        &["nextest", "run", "--workspace", "--no-tests=fail"],
    )?;
    run_step(&cargo, &["test", "--doc", "--workspace"])?;
    eprintln!("xtask test: all checks passed");
    Ok(())
}
