//! Where the registry binary is: the one part of the crate that needs no server dependency
//! (xtask uses it to decide whether to install the Debian package).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// The Debian package that ships the registry binary.
pub const PACKAGE: &str = "docker-registry";
/// Where Debian installs the registry binary.
const DEBIAN_BINARY: &str = "/usr/bin/docker-registry";
/// The environment variable that names the registry binary to use. When it is set, it is the only
/// place looked at (neither `PATH` nor Debian's location): a path to a binary that does not exist
/// hides an installed registry, which is how the demo's "no registry" path is tested.
pub const BINARY_VARIABLE: &str = "DUNCAN_TEST_REGISTRY_BINARY";
/// The registry binary the test registry runs: the file named by [`BINARY_VARIABLE`] when that
/// is set, else `docker-registry` on `PATH`, else Debian's `/usr/bin/docker-registry`.
///
/// # Errors
///
/// When there is none; the message names the Debian package (or the variable's path).
pub fn registry_binary() -> Result<PathBuf> {
    find_binary_in(
        std::env::var_os(BINARY_VARIABLE),
        std::env::var_os("PATH"),
        Path::new(DEBIAN_BINARY),
    )
}

/// The registry binary named by `chosen` (the value of [`BINARY_VARIABLE`]) when given, else on
/// `path` (a `PATH` value), else at Debian's `fallback` location.
fn find_binary_in(
    chosen: Option<std::ffi::OsString>,
    path: Option<std::ffi::OsString>,
    fallback: &Path,
) -> Result<PathBuf> {
    if let Some(chosen) = chosen {
        let chosen = PathBuf::from(chosen);
        if chosen.is_file() {
            return Ok(chosen);
        }
        bail!(
            "the CNCF registry binary `docker-registry` is not at {} (named by {BINARY_VARIABLE})",
            chosen.display()
        );
    }
    let on_path = path.and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(PACKAGE))
            .find(|candidate| candidate.is_file())
    });
    match on_path {
        Some(path) => Ok(path),
        None if fallback.is_file() => Ok(fallback.to_owned()),
        None => bail!(
            "the CNCF registry binary `docker-registry` is not installed: install the Debian \
             package `{PACKAGE}` (apt-get install {PACKAGE})"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_registry_binary_names_the_debian_package() {
        let empty = tempfile::tempdir().expect("temp dir");
        let error = find_binary_in(
            None,
            Some(empty.path().as_os_str().to_owned()),
            &empty.path().join("docker-registry"),
        )
        .expect_err("no binary anywhere");
        assert_eq!(
            error.to_string(),
            "the CNCF registry binary `docker-registry` is not installed: install the Debian \
             package `docker-registry` (apt-get install docker-registry)"
        );
    }

    #[test]
    fn registry_binary_on_path_is_preferred() {
        let dir = tempfile::tempdir().expect("temp dir");
        let binary = dir.path().join("docker-registry");
        std::fs::write(&binary, "").expect("write");
        let found = find_binary_in(
            None,
            Some(dir.path().as_os_str().to_owned()),
            Path::new("/nonexistent/docker-registry"),
        )
        .expect("found on PATH");
        assert_eq!(found, binary);
    }

    #[test]
    fn registry_binary_variable_hides_the_binary_on_path_and_at_debians_location() {
        let dir = tempfile::tempdir().expect("temp dir");
        let installed = dir.path().join("docker-registry");
        std::fs::write(&installed, "").expect("write");
        let hidden = dir.path().join("hidden").join("docker-registry");
        let error = find_binary_in(
            Some(hidden.clone().into_os_string()),
            Some(dir.path().as_os_str().to_owned()),
            &installed,
        )
        .expect_err("the variable names a missing file");
        assert_eq!(
            error.to_string(),
            format!(
                "the CNCF registry binary `docker-registry` is not at {} (named by \
                 DUNCAN_TEST_REGISTRY_BINARY)",
                hidden.display()
            )
        );
        let chosen = find_binary_in(
            Some(installed.clone().into_os_string()),
            None,
            Path::new("/nonexistent/docker-registry"),
        )
        .expect("the variable names an existing file");
        assert_eq!(chosen, installed);
    }
}
