//! `cargo xtask bench`: the performance measurements; writes BENCHMARKS.md.
//!
//! Builds `duncan` and `duncan-bench` in release mode, runs the in-process divan benchmarks of
//! `bench/benches/`, then runs `duncan-bench`, which measures the built `duncan` against the
//! simulators, drives Debian's python3-consul (installed when missing) against consul-sim for
//! comparison, and writes the report with the divan figures in it.
//!
//! `--quick` runs every measurement with tiny counts, only to prove the harness works (CI runs
//! it); its report goes to `target/bench-quick/BENCHMARKS.md` so that it never replaces the
//! real one.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::system::{PYTHON3_CONSUL, ensure_installed};
use crate::{cargo, project_root, run_step};

pub(crate) fn run(args: &[String]) -> Result<()> {
    let mut quick = false;
    for arg in args {
        match arg.as_str() {
            "--quick" => quick = true,
            other => bail!("unknown argument `{other}` (usage: cargo xtask bench [--quick])"),
        }
    }
    ensure_installed(&[&PYTHON3_CONSUL])?;
    let cargo = cargo();
    run_step(
        &cargo,
        &[
            "build",
            "--release",
            "-p",
            "duncan-cli",
            "-p",
            "duncan-bench",
        ],
    )?;

    let root = project_root();
    let out_dir = root
        .join("target")
        .join(if quick { "bench-quick" } else { "bench" });
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("could not create {}", out_dir.display()))?;

    // divan prints its table on standard output; keep it for the report.
    let mut divan = vec!["bench", "-p", "duncan-bench", "--bench", "parse", "--"];
    if quick {
        divan.extend(["--sample-count", "3", "--sample-size", "1"]);
    }
    eprintln!("$ {cargo} {}", divan.join(" "));
    let output = Command::new(&cargo)
        .args(&divan)
        .current_dir(&root)
        .output()
        .context("could not start cargo bench")?;
    if !output.status.success() {
        bail!(
            "`cargo {}` failed ({}): {}",
            divan.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let divan_output = out_dir.join("divan.txt");
    std::fs::write(&divan_output, &output.stdout)
        .with_context(|| format!("could not write {}", divan_output.display()))?;

    let report: PathBuf = if quick {
        out_dir.join("BENCHMARKS.md")
    } else {
        root.join("BENCHMARKS.md")
    };
    let release = root.join("target").join("release");
    let duncan = release.join("duncan");
    let python_script = root.join("bench").join("python").join("consul_ops.py");
    let mut bench_args = vec![
        "--duncan".to_owned(),
        duncan.display().to_string(),
        "--python-script".to_owned(),
        python_script.display().to_string(),
        "--divan-output".to_owned(),
        divan_output.display().to_string(),
        "--write".to_owned(),
        report.display().to_string(),
    ];
    if quick {
        bench_args.push("--quick".to_owned());
    }
    let bench = release.join("duncan-bench").display().to_string();
    let bench_args: Vec<&str> = bench_args.iter().map(String::as_str).collect();
    run_step(&bench, &bench_args)
}
