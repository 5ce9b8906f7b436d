//! The machine packages the tests need, installed when missing.
//!
//! CI starts from a fresh machine, so `cargo xtask test` installs what it needs itself rather than
//! relying on anything installed by hand.

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

/// A Debian package and a file that proves it is installed.
pub(crate) struct DebianPackage {
    pub(crate) name: &'static str,
    pub(crate) provides: &'static str,
}

/// The CNCF distribution registry, which the registry tests and the demo run for real.
pub(crate) const DOCKER_REGISTRY: DebianPackage = DebianPackage {
    name: "docker-registry",
    provides: "/usr/bin/docker-registry",
};

/// OpenSSL's command line, with which the registry tests make their private CA and token keys.
pub(crate) const OPENSSL: DebianPackage = DebianPackage {
    name: "openssl",
    provides: "/usr/bin/openssl",
};

/// Debian's Python client for Consul, which `cargo xtask bench` compares consul-client with.
pub(crate) const PYTHON3_CONSUL: DebianPackage = DebianPackage {
    name: "python3-consul",
    provides: "/usr/lib/python3/dist-packages/consul/__init__.py",
};

/// Installs each package whose file is missing, with `apt-get` (as root, as CI runs).
pub(crate) fn ensure_installed(packages: &[DebianPackage]) -> Result<()> {
    let missing: Vec<&DebianPackage> = packages
        .iter()
        .filter(|p| !Path::new(p.provides).exists())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|p| p.name).collect();
    eprintln!(
        "installing Debian packages the tests need: {}",
        names.join(" ")
    );
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    let installed = apt(&["update", "-q"]) && {
        let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
        args.extend(&names);
        apt(&args)
    };
    let still_missing: Vec<&str> = missing
        .iter()
        .filter(|p| !Path::new(p.provides).exists())
        .map(|p| p.name)
        .collect();
    if !installed || !still_missing.is_empty() {
        bail!(
            "the tests need the Debian package(s) {} and they could not be installed; \
             run `apt-get install {}` as root and try again",
            still_missing.join(", "),
            still_missing.join(" ")
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
