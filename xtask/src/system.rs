//! The machine packages the tests and the demo need, installed when missing.
//!
//! CI starts from a fresh machine, so `cargo xtask test` and `cargo xtask demo` install what they
//! need themselves rather than relying on anything installed by hand. Both go through
//! [`install_missing`]: `test` fails when a package cannot be had ([`ensure_installed`]), the demo
//! runs without it and says what it skipped.
//!
//! `XTASK_APT_GET` names the program used in place of `apt-get` (a test points it at a stub, to
//! see what happens where nothing can be installed).

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

/// The environment variable naming the program run in place of `apt-get`.
pub(crate) const APT_GET_VARIABLE: &str = "XTASK_APT_GET";

/// A Debian package and how to tell it is installed.
pub(crate) struct DebianPackage {
    pub(crate) name: &'static str,
    installed: Installed,
    /// How to get what the package provides where `apt-get` cannot be used.
    elsewhere: &'static str,
}

/// How to tell a package is installed.
enum Installed {
    /// This file exists.
    File(&'static str),
    /// The test registry finds its binary (`PATH`, Debian's location, or
    /// `DUNCAN_TEST_REGISTRY_BINARY`).
    RegistryBinary,
}

impl DebianPackage {
    fn is_installed(&self) -> bool {
        match self.installed {
            Installed::File(path) => Path::new(path).exists(),
            Installed::RegistryBinary => test_registry::registry_binary().is_ok(),
        }
    }
}

/// The CNCF distribution registry, which the registry tests and the demo run for real.
pub(crate) const DOCKER_REGISTRY: DebianPackage = DebianPackage {
    name: "docker-registry",
    installed: Installed::RegistryBinary,
    elsewhere: "put the CNCF distribution registry's binary on PATH as `docker-registry`, or \
                name it with DUNCAN_TEST_REGISTRY_BINARY=/path/to/registry",
};

/// OpenSSL's command line, with which the registry tests make their private CA and token keys.
pub(crate) const OPENSSL: DebianPackage = DebianPackage {
    name: "openssl",
    installed: Installed::File("/usr/bin/openssl"),
    elsewhere: "install OpenSSL's `openssl` command at /usr/bin/openssl",
};

/// Debian's Python client for Consul, which `cargo xtask bench` compares consul-client with.
pub(crate) const PYTHON3_CONSUL: DebianPackage = DebianPackage {
    name: "python3-consul",
    installed: Installed::File("/usr/lib/python3/dist-packages/consul/__init__.py"),
    elsewhere: "install the Python package `python-consul` for /usr/bin/python3",
};

/// Packages that are missing and could not be installed, and why.
#[derive(Debug)]
pub(crate) struct NotInstalled {
    /// The packages still missing.
    pub(crate) packages: Vec<&'static str>,
    /// Why they could not be installed, as a clause: "`apt-get` is not available here".
    pub(crate) reason: String,
    /// How to get them, one line per package.
    pub(crate) how: Vec<String>,
}

impl fmt::Display for NotInstalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the Debian package(s) {} could not be installed: {}",
            self.packages.join(", "),
            self.reason
        )
    }
}

/// The `apt-get` to install with, and whether we may.
pub(crate) struct Apt {
    program: OsString,
    is_root: bool,
}

impl Apt {
    /// `apt-get` (or `XTASK_APT_GET`), with whether this process runs as root.
    pub(crate) fn from_env() -> Self {
        let is_root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| out.status.success() && out.stdout.trim_ascii() == b"0");
        Self {
            program: std::env::var_os(APT_GET_VARIABLE).unwrap_or_else(|| "apt-get".into()),
            is_root,
        }
    }

    fn run(&self, args: &[&str]) -> Result<(), String> {
        let shown = PathBuf::from(&self.program).display().to_string();
        match Command::new(&self.program)
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
        {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(format!("`{shown} {}` failed ({status})", args.join(" "))),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(format!(
                "`{shown}` is not available here (not a Debian or Ubuntu machine)"
            )),
            Err(error) => Err(format!("`{shown}` could not be started: {error}")),
        }
    }
}

/// Installs each package that is missing with `apt-get`, when this process runs as root and
/// `apt-get` exists. The one install step of `cargo xtask test` and `cargo xtask demo`.
pub(crate) fn install_missing(packages: &[&DebianPackage]) -> Result<(), NotInstalled> {
    install_missing_with(&Apt::from_env(), packages, &DebianPackage::is_installed)
}

/// [`install_missing`] with the `apt` and the installed-check given.
fn install_missing_with(
    apt: &Apt,
    packages: &[&DebianPackage],
    is_installed: &dyn Fn(&DebianPackage) -> bool,
) -> Result<(), NotInstalled> {
    let missing: Vec<&DebianPackage> = packages
        .iter()
        .copied()
        .filter(|p| !is_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|p| p.name).collect();
    let attempt = if apt.is_root {
        eprintln!("installing Debian packages: {}", names.join(" "));
        apt.run(&["update", "-q"]).and_then(|()| {
            let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
            args.extend(&names);
            apt.run(&args)
        })
    } else {
        Err("installing them needs root, and this is not running as root".to_owned())
    };
    let still_missing: Vec<&DebianPackage> =
        missing.into_iter().filter(|p| !is_installed(p)).collect();
    if still_missing.is_empty() {
        return Ok(());
    }
    let packages: Vec<&'static str> = still_missing.iter().map(|p| p.name).collect();
    let reason = match attempt {
        Err(reason) => reason,
        Ok(()) => "apt-get installed them, but they are still not found".to_owned(),
    };
    let mut how = vec![format!(
        "on Debian or Ubuntu: `sudo apt-get install {}`",
        packages.join(" ")
    )];
    how.extend(
        still_missing
            .iter()
            .map(|p| format!("elsewhere ({}): {}", p.name, p.elsewhere)),
    );
    Err(NotInstalled {
        packages,
        reason,
        how,
    })
}

/// [`install_missing`], failing when a package cannot be had: for `cargo xtask test` and
/// `bench`, whose checks cannot run without them.
pub(crate) fn ensure_installed(packages: &[&DebianPackage]) -> Result<()> {
    if let Err(not_installed) = install_missing(packages) {
        bail!(
            "{not_installed}; the tests need them. To get them:\n  {}",
            not_installed.how.join("\n  ")
        );
    }
    Ok(())
}

/// Where the independent client libraries go: `<target>/clients/{node,python}`.
pub(crate) fn clients_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| crate::project_root().join("target"))
        .join("clients")
}

/// Installs, when missing, the other people's clients the `clients` tests run against the
/// sims — node-consul 2.x from npm and marathon-python from PyPI — under [`clients_dir`], and
/// returns the environment that tells the tests where they are.
pub(crate) fn ensure_client_libraries() -> Result<Vec<(&'static str, String)>> {
    let dir = clients_dir();
    let node = dir.join("node");
    let python = dir.join("python");
    let installs: [(&Path, &str, Vec<String>); 2] = [
        (
            &node,
            "node_modules/consul/package.json",
            vec![
                "npm".into(),
                "install".into(),
                "--no-audit".into(),
                "--no-fund".into(),
                "--prefix".into(),
                node.display().to_string(),
                "consul@2".into(),
            ],
        ),
        (
            &python,
            "marathon/__init__.py",
            vec![
                "python3".into(),
                "-m".into(),
                "pip".into(),
                "install".into(),
                "--quiet".into(),
                "--target".into(),
                python.display().to_string(),
                "marathon==0.13.0".into(),
            ],
        ),
    ];
    for (at, probe, command) in installs {
        if at.join(probe).exists() {
            continue;
        }
        eprintln!("installing a client the tests need: {}", command.join(" "));
        let ok = Command::new(&command[0])
            .args(&command[1..])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok || !at.join(probe).exists() {
            bail!(
                "the client tests need `{}` and it failed; run it by hand and try again",
                command.join(" ")
            );
        }
    }
    Ok(vec![
        ("DUNCAN_NODE_CLIENTS", node.display().to_string()),
        ("DUNCAN_PYTHON_CLIENTS", python.display().to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    /// A stub `apt-get` running `script` (a shell script body).
    fn stub_apt(dir: &Path, script: &str) -> Apt {
        let path = dir.join("apt-get");
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).expect("write the stub");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        Apt {
            program: path.into_os_string(),
            is_root: true,
        }
    }

    fn marker_exists(marker: &Path) -> impl Fn(&DebianPackage) -> bool + '_ {
        move |_| marker.exists()
    }

    #[test]
    fn a_missing_package_is_installed_with_apt_get_and_then_found() {
        let dir = tempfile::tempdir().expect("temp dir");
        let marker = dir.path().join("installed");
        let log = dir.path().join("calls");
        let apt = stub_apt(
            dir.path(),
            &format!(
                "echo \"$@\" >> {log}\n[ \"$1\" = install ] && touch {marker}\nexit 0",
                log = log.display(),
                marker = marker.display()
            ),
        );
        install_missing_with(&apt, &[&DOCKER_REGISTRY], &marker_exists(&marker))
            .expect("installed");
        assert_eq!(
            std::fs::read_to_string(&log).expect("apt-get was called"),
            "update -q\ninstall -y -q --no-install-recommends docker-registry\n"
        );
    }

    #[test]
    fn an_installed_package_runs_no_apt_get() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("calls");
        let apt = stub_apt(dir.path(), &format!("echo \"$@\" >> {}", log.display()));
        install_missing_with(&apt, &[&DOCKER_REGISTRY], &|_| true).expect("nothing to do");
        assert!(!log.exists(), "apt-get was called for an installed package");
    }

    #[test]
    fn a_failing_apt_get_is_reported_with_how_to_get_the_package() {
        let dir = tempfile::tempdir().expect("temp dir");
        let marker = dir.path().join("installed");
        let apt = stub_apt(dir.path(), "exit 100");
        let error = install_missing_with(&apt, &[&DOCKER_REGISTRY], &marker_exists(&marker))
            .expect_err("still missing");
        assert_eq!(error.packages, ["docker-registry"]);
        assert!(
            error
                .reason
                .ends_with("update -q` failed (exit status: 100)"),
            "{}",
            error.reason
        );
        assert_eq!(
            error.how[0],
            "on Debian or Ubuntu: `sudo apt-get install docker-registry`"
        );
        assert!(
            error.how[1].contains("DUNCAN_TEST_REGISTRY_BINARY"),
            "{:?}",
            error.how
        );
    }

    #[test]
    fn without_apt_get_the_reason_says_so() {
        let dir = tempfile::tempdir().expect("temp dir");
        let apt = Apt {
            program: dir.path().join("no-such-apt-get").into_os_string(),
            is_root: true,
        };
        let error = install_missing_with(&apt, &[&OPENSSL], &|_| false).expect_err("missing");
        assert!(
            error
                .reason
                .ends_with("is not available here (not a Debian or Ubuntu machine)"),
            "{}",
            error.reason
        );
    }

    #[test]
    fn without_root_apt_get_is_not_run_and_the_reason_says_so() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("calls");
        let mut apt = stub_apt(dir.path(), &format!("echo \"$@\" >> {}", log.display()));
        apt.is_root = false;
        let error = install_missing_with(&apt, &[&DOCKER_REGISTRY], &|_| false)
            .expect_err("cannot install");
        assert_eq!(
            error.reason,
            "installing them needs root, and this is not running as root"
        );
        assert!(!log.exists(), "apt-get was run without root");
    }
}
