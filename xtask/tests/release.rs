//! `cargo xtask release` on a fresh clone of this repository: the refusals, the dry run, and a
//! real release whose archive holds a binary that runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives below the workspace root")
        .to_path_buf()
}

fn git(dir: &Path, args: &[&str]) -> Output {
    let output = Command::new("git")
        .args([
            "-c",
            "user.name=release test",
            "-c",
            "user.email=test@duncan.invalid",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A clone of the repository's HEAD, so the test releases exactly what is committed.
fn fresh_clone(into: &Path) -> PathBuf {
    let checkout = into.join("checkout");
    let root = workspace_root();
    git(
        &root,
        &[
            "clone",
            "--quiet",
            ".",
            checkout.to_str().expect("utf-8 path"),
        ],
    );
    checkout
}

/// Runs the xtask binary under test against `checkout`, sharing the workspace's target
/// directory so the release build of the dependencies is shared with `cargo xtask bench`.
fn xtask(checkout: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env("XTASK_WORKSPACE_ROOT", checkout)
        .env("CARGO_TARGET_DIR", workspace_root().join("target"))
        .current_dir(checkout)
        .output()
        .expect("xtask runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn release_refuses_a_dirty_tree_and_a_version_missing_from_the_changelog() {
    let temp = tempfile::tempdir().expect("temp dir");
    let checkout = fresh_clone(temp.path());

    std::fs::write(checkout.join("stray.txt"), "not committed").expect("write");
    let dirty = xtask(&checkout, &["release", "--dry-run"]);
    assert!(!dirty.status.success(), "a dirty tree was released");
    assert!(
        stderr(&dirty).contains("uncommitted changes"),
        "{}",
        stderr(&dirty)
    );
    std::fs::remove_file(checkout.join("stray.txt")).expect("remove");

    let changelog = checkout.join("CHANGELOG.md");
    let text = std::fs::read_to_string(&changelog).expect("read changelog");
    std::fs::write(&changelog, text.replace("## [0.1.0]", "## [0.0.9]")).expect("write");
    git(
        &checkout,
        &["commit", "--quiet", "-am", "drop the release's entry"],
    );
    let undocumented = xtask(&checkout, &["release", "--dry-run"]);
    assert!(
        !undocumented.status.success(),
        "an undocumented version was released"
    );
    assert!(
        stderr(&undocumented).contains("CHANGELOG.md has no `## [0.1.0]` section"),
        "{}",
        stderr(&undocumented)
    );
}

#[test]
fn release_packs_a_binary_that_runs_with_completions_man_page_and_checksums() {
    let temp = tempfile::tempdir().expect("temp dir");
    let checkout = fresh_clone(temp.path());
    let dist = temp.path().join("dist");

    let dry = xtask(
        &checkout,
        &[
            "release",
            "--dry-run",
            "--out",
            dist.to_str().expect("utf-8"),
        ],
    );
    assert!(dry.status.success(), "{}", stderr(&dry));
    assert!(stderr(&dry).contains("would"), "{}", stderr(&dry));
    assert!(!dist.exists(), "a dry run wrote {}", dist.display());

    let release = xtask(
        &checkout,
        &["release", "--out", dist.to_str().expect("utf-8")],
    );
    assert!(release.status.success(), "{}", stderr(&release));

    let archives: Vec<PathBuf> = std::fs::read_dir(&dist)
        .expect("dist exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .collect();
    assert_eq!(archives.len(), 1, "one archive: {archives:?}");
    let archive = &archives[0];
    let name = archive
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".tar.gz"))
        .expect("archive name");
    assert!(name.starts_with("duncan-0.1.0-"), "{name}");

    let check = Command::new("sha256sum")
        .args(["--check", "SHA256SUMS"])
        .current_dir(&dist)
        .output()
        .expect("sha256sum runs");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    let unpacked = temp.path().join("unpacked");
    std::fs::create_dir(&unpacked).expect("mkdir");
    let untar = Command::new("tar")
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(&unpacked)
        .status()
        .expect("tar runs");
    assert!(untar.success());
    let dir = unpacked.join(name);
    for file in [
        "duncan",
        "README.md",
        "LICENSE-MIT",
        "LICENSE-APACHE",
        "CHANGELOG.md",
        "duncan.1",
        "completions/duncan.bash",
        "completions/_duncan",
        "completions/duncan.fish",
    ] {
        assert!(dir.join(file).is_file(), "the archive lacks {file}");
    }

    let commit = git(&checkout, &["rev-parse", "--short=12", "HEAD"]);
    let commit = String::from_utf8_lossy(&commit.stdout).trim().to_owned();
    let version = Command::new(dir.join("duncan"))
        .arg("version")
        .output()
        .expect("the released binary runs");
    assert!(version.status.success());
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("duncan 0.1.0 (commit {commit})")
    );
}
