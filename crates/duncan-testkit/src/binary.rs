//! The `duncan` binary the end-to-end tests run.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The `duncan` binary in the target profile directory of the running test binary
/// (`target/debug/duncan` for `target/debug/deps/…`), built first when it is missing, as when
/// only this crate's tests run. `cargo nextest run --workspace` and the xtask commands build it
/// anyway.
///
/// # Panics
///
/// When the test binary's path has no profile directory, or the build fails: the tests cannot
/// run without the binary.
pub fn duncan_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().expect("test binary path");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target profile directory");
        let bin = dir.join(format!("duncan{}", std::env::consts::EXE_SUFFIX));
        if !bin.exists() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = std::process::Command::new(cargo)
                .args(["build", "--quiet", "-p", "duncan-cli", "--bin", "duncan"])
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .status()
                .expect("cargo runs");
            assert!(status.success(), "building duncan failed");
        }
        bin
    })
    .clone()
}
