//! `cargo xtask release [--dry-run] [--out DIR]`: the release archive of the `duncan` binary.
//!
//! Builds the release binary with the git commit stamped into its version, generates shell
//! completions and a man page with the binary itself, packs `duncan-{version}-{target}.tar.gz`
//! with the README and licences, and writes a `SHA256SUMS` file beside it. It refuses to run on a
//! dirty tree (the archive must be reproducible from a commit) or for a version that
//! CHANGELOG.md does not describe.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo, project_root, run_step};

struct Options {
    dry_run: bool,
    out: PathBuf,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut options = Options {
        dry_run: false,
        out: project_root().join("target").join("dist"),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dry-run" => options.dry_run = true,
            "--out" => {
                let dir = args
                    .next()
                    .context("`--out` needs a directory, e.g. `--out target/dist`")?;
                // Absolute, since the steps run in the workspace root.
                options.out = std::env::current_dir()
                    .context("could not read the current directory")?
                    .join(dir);
            }
            other => bail!(
                "unknown argument `{other}`; usage: cargo xtask release [--dry-run] [--out DIR]"
            ),
        }
    }
    Ok(options)
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let options = parse(args)?;
    let root = project_root();
    let version = workspace_version(&root)?;
    let commit = git(&root, &["rev-parse", "--short=12", "HEAD"])?;
    let target = host_target()?;
    let name = format!("duncan-{version}-{target}");
    let archive = options.out.join(format!("{name}.tar.gz"));

    let mut refusals = Vec::new();
    if let Err(problem) = require_changelog_entry(&root, &version) {
        refusals.push(problem.to_string());
    }
    let dirty = git(&root, &["status", "--porcelain"])?;
    if !dirty.is_empty() {
        refusals.push(format!(
            "the work tree has uncommitted changes; commit them first so the release is built \
             from commit {commit} exactly:\n{dirty}"
        ));
    }
    if options.dry_run {
        eprintln!("release --dry-run: would");
        eprintln!("  - build `duncan` {version} (commit {commit}) for {target} in release mode");
        eprintln!("  - generate completions for bash, zsh, fish and a man page");
        eprintln!("  - pack {}", archive.display());
        eprintln!("  - write {}", options.out.join("SHA256SUMS").display());
    }
    if !refusals.is_empty() {
        bail!("release refused:\n- {}", refusals.join("\n- "));
    }
    if options.dry_run {
        return Ok(());
    }

    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let status = Command::new(cargo())
        .args(["build", "--release", "--locked", "--package", "duncan-cli"])
        .env("DUNCAN_GIT_COMMIT", &commit)
        .current_dir(&root)
        .status()
        .context("could not start cargo")?;
    if !status.success() {
        bail!("the release build failed ({status})");
    }
    let binary = target_dir.join("release").join("duncan");

    let stage = options.out.join(&name);
    if stage.exists() {
        fs::remove_dir_all(&stage)
            .with_context(|| format!("could not clear {}", stage.display()))?;
    }
    fs::create_dir_all(stage.join("completions"))
        .with_context(|| format!("could not create {}", stage.display()))?;
    fs::copy(&binary, stage.join("duncan")).context("could not copy the binary")?;
    for file in ["README.md", "LICENSE-MIT", "LICENSE-APACHE", "CHANGELOG.md"] {
        fs::copy(root.join(file), stage.join(file))
            .with_context(|| format!("could not copy {file}"))?;
    }
    for (shell, file) in [
        ("bash", "duncan.bash"),
        ("zsh", "_duncan"),
        ("fish", "duncan.fish"),
    ] {
        let text = capture(&binary, &["completions", shell])?;
        fs::write(stage.join("completions").join(file), text)?;
    }
    fs::write(stage.join("duncan.1"), capture(&binary, &["man"])?)?;

    let out = options.out.to_string_lossy().into_owned();
    let archive_path = archive.to_string_lossy().into_owned();
    run_step("tar", &["-C", &out, "-czf", &archive_path, &name])?;
    let sums = Command::new("sha256sum")
        .arg(format!("{name}.tar.gz"))
        .current_dir(&options.out)
        .output()
        .context("could not run sha256sum")?;
    if !sums.status.success() {
        bail!("sha256sum failed");
    }
    fs::write(options.out.join("SHA256SUMS"), &sums.stdout)?;
    fs::remove_dir_all(&stage)?;
    eprintln!("release: {}", archive.display());
    eprint!("{}", String::from_utf8_lossy(&sums.stdout));
    Ok(())
}

/// The `version` of `[workspace.package]` in the root manifest.
fn workspace_version(root: &Path) -> Result<String> {
    let manifest =
        fs::read_to_string(root.join("Cargo.toml")).context("could not read Cargo.toml")?;
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[workspace.package]";
        } else if let Some(value) = line.strip_prefix("version")
            && in_package
        {
            let value = value.trim_start().trim_start_matches('=').trim();
            return Ok(value.trim_matches('"').to_owned());
        }
    }
    bail!("Cargo.toml has no `version` in [workspace.package]")
}

fn require_changelog_entry(root: &Path, version: &str) -> Result<()> {
    let changelog =
        fs::read_to_string(root.join("CHANGELOG.md")).context("could not read CHANGELOG.md")?;
    let heading = format!("## [{version}]");
    if !changelog.lines().any(|line| line.starts_with(&heading)) {
        bail!(
            "CHANGELOG.md has no `{heading}` section; describe this release there (move the \
             [Unreleased] notes under it) before releasing"
        );
    }
    Ok(())
}

fn git(root: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(root)
        .output()
        .context("could not run git")?;
    if !output.status.success() {
        bail!(
            "`git {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn host_target() -> Result<String> {
    let output = Command::new("rustc")
        .arg("-vV")
        .output()
        .context("could not run rustc")?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: ").map(str::to_owned))
        .context("`rustc -vV` did not name the host target")
}

fn capture(binary: &Path, args: &[&str]) -> Result<Vec<u8>> {
    let output = Command::new(binary)
        .args(args)
        .output()
        .with_context(|| format!("could not run {}", binary.display()))?;
    if !output.status.success() {
        bail!(
            "`duncan {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output.stdout)
}
