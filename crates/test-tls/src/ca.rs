//! A private certificate authority, made with the `openssl` command in a temporary directory.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{Error, Response, TlsServer};

/// Arguments of `openssl req` that make a P-256 key without a passphrase (quick to generate).
const EC_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

/// The configuration of `openssl ca`, which (unlike `openssl x509 -req`) takes explicit
/// validity dates, past or future ones too; it keeps a small database beside the CA.
const CA_CONFIG: &str = "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\n\
     new_certs_dir = .\nserial = serial\ndefault_md = sha256\npolicy = any\n\
     unique_subject = no\n[any]\ncommonName = supplied\n";

/// A certificate authority of its own, in a temporary directory removed on drop.
///
/// Each CA has a subject name no other has: a client that trusts one CA then refuses a
/// certificate of another as signed by an unknown issuer (two CAs of one name would make it a
/// bad signature instead).
#[derive(Debug)]
pub struct TestCa {
    dir: tempfile::TempDir,
    /// Leaves issued so far; numbers their files.
    issued: AtomicUsize,
}

/// When a server certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Validity {
    /// From now for two days.
    Current,
    /// One day in January 2020: expired.
    Expired,
    /// One day in January 2099: not yet valid.
    NotYetValid,
}

/// A name a server certificate is valid for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubjectAltName {
    /// An IP address, e.g. `127.0.0.1`.
    Ip(IpAddr),
    /// A DNS name, e.g. `localhost` or `consul.example.invalid`.
    Dns(String),
}

impl SubjectAltName {
    /// `127.0.0.1`, where [`TlsServer`](crate::TlsServer) listens.
    pub fn loopback() -> SubjectAltName {
        SubjectAltName::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }

    /// A DNS name.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidDnsName`] unless `name` is letters, digits, `-` and `.` only: the name is
    /// written into an openssl configuration file, where a comma or a newline would mean more.
    pub fn dns(name: &str) -> Result<SubjectAltName, Error> {
        let plain = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
        if plain {
            Ok(SubjectAltName::Dns(name.to_owned()))
        } else {
            Err(Error::InvalidDnsName(name.to_owned()))
        }
    }
}

impl fmt::Display for SubjectAltName {
    /// openssl's `subjectAltName` syntax: `IP:127.0.0.1`, `DNS:localhost`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubjectAltName::Ip(ip) => write!(f, "IP:{ip}"),
            SubjectAltName::Dns(name) => write!(f, "DNS:{name}"),
        }
    }
}

/// A server certificate and its private key, as PEM files in the CA's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCertificate {
    certificate: PathBuf,
    key: PathBuf,
}

impl ServerCertificate {
    /// The certificate (PEM).
    pub fn certificate_path(&self) -> &Path {
        &self.certificate
    }

    /// The private key (PEM, PKCS#8, no passphrase).
    pub fn key_path(&self) -> &Path {
        &self.key
    }
}

impl TestCa {
    /// Makes a CA valid from now for two days.
    ///
    /// # Errors
    ///
    /// [`Error::OpensslMissing`] or [`Error::OpensslFailed`] when the `openssl` command cannot
    /// make it; [`Error::Io`] when the temporary directory cannot be made or written.
    pub fn new() -> Result<TestCa, Error> {
        let dir = tempfile::Builder::new()
            .prefix("test-tls-")
            .tempdir()
            .map_err(Error::io("make a temporary directory"))?;
        // The directory's name is unique and made of letters, digits, '-' and '_' only,
        // safe in a subject.
        let unique = dir
            .path()
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let subject = format!("/CN=test-tls CA {unique}");
        let mut args = vec!["req", "-x509", "-batch", "-days", "2"];
        args.extend(EC_KEY);
        args.extend([
            "-subj",
            &subject,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        openssl(&args, dir.path())?;
        for (name, text) in [("ca.cnf", CA_CONFIG), ("index.txt", ""), ("serial", "01\n")] {
            let path = dir.path().join(name);
            std::fs::write(&path, text).map_err(Error::io(format!("write {}", path.display())))?;
        }
        Ok(TestCa {
            dir,
            issued: AtomicUsize::new(0),
        })
    }

    /// The CA's certificate (PEM), the file a client is told to trust.
    pub fn certificate_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The CA's certificate as PEM bytes.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the file cannot be read.
    pub fn certificate_pem(&self) -> Result<Vec<u8>, Error> {
        let path = self.certificate_path();
        std::fs::read(&path).map_err(Error::io(format!("read {}", path.display())))
    }

    /// Issues a server certificate for `names`, valid as `validity` says.
    ///
    /// # Errors
    ///
    /// [`Error::NoSubjectAltName`] when `names` is empty; [`Error::OpensslFailed`] (or
    /// [`Error::OpensslMissing`]) when the `openssl` command cannot make it; [`Error::Io`] when
    /// a file cannot be written.
    pub fn issue(
        &self,
        names: &[SubjectAltName],
        validity: Validity,
    ) -> Result<ServerCertificate, Error> {
        if names.is_empty() {
            return Err(Error::NoSubjectAltName);
        }
        self.sign(names, validity, "serverAuth")
    }

    /// Issues a client certificate (extended key usage `clientAuth`) for mutual TLS, valid
    /// from now for two days, named `127.0.0.1` like the clients of the tests. Its files are
    /// those of a [`ServerCertificate`]: the certificate and its key.
    ///
    /// # Errors
    ///
    /// As [`TestCa::issue`].
    pub fn issue_client(&self) -> Result<ServerCertificate, Error> {
        self.sign(
            &[SubjectAltName::loopback()],
            Validity::Current,
            "clientAuth",
        )
    }

    /// Makes a key and a certificate signed by this CA, for `usage` (`serverAuth` or
    /// `clientAuth`).
    fn sign(
        &self,
        names: &[SubjectAltName],
        validity: Validity,
        usage: &str,
    ) -> Result<ServerCertificate, Error> {
        let dir = self.dir.path();
        let stem = format!("leaf-{}", self.issued.fetch_add(1, Ordering::SeqCst));
        let (key, csr, certificate, ext) = (
            format!("{stem}.key"),
            format!("{stem}.csr"),
            format!("{stem}.pem"),
            format!("{stem}.ext"),
        );
        let alt_names = names
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let ext_path = dir.join(&ext);
        std::fs::write(
            &ext_path,
            format!(
                "subjectAltName={alt_names}\nbasicConstraints=critical,CA:FALSE\n\
                 keyUsage=critical,digitalSignature\nextendedKeyUsage={usage}\n"
            ),
        )
        .map_err(Error::io(format!("write {}", ext_path.display())))?;
        let subject = format!("/CN={stem}");
        let mut args = vec!["req", "-new", "-batch"];
        args.extend(EC_KEY);
        args.extend(["-subj", &subject, "-keyout", &key, "-out", &csr]);
        openssl(&args, dir)?;
        let mut args = vec![
            "ca",
            "-batch",
            "-notext",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.pem",
            "-keyfile",
            "ca.key",
            "-extfile",
            &ext,
            "-in",
            &csr,
            "-out",
            &certificate,
        ];
        match validity {
            Validity::Current => args.extend(["-days", "2"]),
            Validity::Expired => {
                args.extend([
                    "-startdate",
                    "20200101000000Z",
                    "-enddate",
                    "20200102000000Z",
                ]);
            }
            Validity::NotYetValid => {
                args.extend([
                    "-startdate",
                    "20990101000000Z",
                    "-enddate",
                    "20990102000000Z",
                ]);
            }
        }
        openssl(&args, dir)?;
        Ok(ServerCertificate {
            certificate: dir.join(certificate),
            key: dir.join(key),
        })
    }

    /// Issues a certificate for `names`, valid as `validity` says, and starts a
    /// [`TlsServer`] with it that answers every request with `response`.
    ///
    /// # Errors
    ///
    /// As [`TestCa::issue`] and [`TlsServer::answering`].
    pub async fn serve(
        &self,
        names: &[SubjectAltName],
        validity: Validity,
        response: Response,
    ) -> Result<TlsServer, Error> {
        let certificate = self.issue(names, validity)?;
        TlsServer::answering(&certificate, response).await
    }
}

/// Runs `openssl ARGS` in `dir`.
fn openssl(args: &[&str], dir: &Path) -> Result<(), Error> {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|source| Error::OpensslMissing { source })?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::OpensslFailed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}
