//! Shared helpers of the integration tests.

use std::path::PathBuf;

/// The bytes of a file under `tests/data`.
pub fn data(path: &str) -> Vec<u8> {
    let full: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "data", path]
        .iter()
        .collect();
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}
