//! A private CA and a server certificate for `127.0.0.1`, made with the `openssl` command, so
//! that the registry can serve HTTPS as production registries do.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::token::openssl_missing;

/// The files the registry serves TLS with, and the CA that clients must trust.
pub(super) struct TlsFiles {
    pub(super) certificate: PathBuf,
    pub(super) key: PathBuf,
    pub(super) ca_pem: String,
}

/// Makes a CA (P-256, quick to generate) and a certificate it signs for `127.0.0.1` and
/// `localhost`. rustls refuses a CA certificate used as the server's own, hence two.
pub(super) fn make(dir: &Path) -> Result<TlsFiles> {
    let ca_key = dir.join("ca.key");
    let ca_certificate = dir.join("ca.crt");
    let key = dir.join("tls.key");
    let request = dir.join("tls.csr");
    let certificate = dir.join("tls.crt");
    let extensions = dir.join("tls.ext");
    std::fs::write(
        &extensions,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .context("cannot write the certificate extensions")?;

    openssl(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args([
                "-nodes",
                "-batch",
                "-days",
                "2",
                "-subj",
                "/CN=duncan test CA",
            ])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
            .arg("-keyout")
            .arg(&ca_key)
            .arg("-out")
            .arg(&ca_certificate),
        "the test CA",
    )?;
    openssl(
        Command::new("openssl")
            .args([
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-batch", "-subj", "/CN=127.0.0.1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&request),
        "the registry's certificate request",
    )?;
    openssl(
        Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-set_serial", "2", "-in"])
            .arg(&request)
            .arg("-CA")
            .arg(&ca_certificate)
            .arg("-CAkey")
            .arg(&ca_key)
            .arg("-extfile")
            .arg(&extensions)
            .arg("-out")
            .arg(&certificate),
        "the registry's certificate",
    )?;
    let ca_pem = std::fs::read_to_string(&ca_certificate).context("cannot read the test CA")?;
    Ok(TlsFiles {
        certificate,
        key,
        ca_pem,
    })
}

fn openssl(command: &mut Command, what: &str) -> Result<()> {
    let output = command.output().map_err(openssl_missing)?;
    if !output.status.success() {
        bail!(
            "openssl could not make {what}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
