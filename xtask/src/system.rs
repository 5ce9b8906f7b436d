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
