//! What can go wrong while making certificates or starting a server.

use std::path::PathBuf;

/// An error of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The `openssl` command could not be started (is it installed?).
    #[error("cannot run the openssl command (apt-get install openssl)")]
    OpensslMissing {
        /// Why the command could not be started.
        #[source]
        source: std::io::Error,
    },
    /// The `openssl` command ran and failed.
    #[error("openssl {args} failed: {stderr}")]
    OpensslFailed {
        /// The command's arguments, joined by spaces.
        args: String,
        /// What the command wrote to its standard error.
        stderr: String,
    },
    /// A DNS name that is not a plain host name (letters, digits, `-` and `.`).
    #[error("{0:?} is not a plain DNS name (letters, digits, '-' and '.')")]
    InvalidDnsName(String),
    /// A certificate was asked for without any name.
    #[error("a server certificate needs at least one subject alternative name")]
    NoSubjectAltName,
    /// A file or socket operation failed.
    #[error("cannot {what}")]
    Io {
        /// What was being done, e.g. `write /tmp/x/ca.cnf`.
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A PEM file could not be read or parsed.
    #[error("cannot read the PEM file {}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        #[source]
        source: tokio_rustls::rustls::pki_types::pem::Error,
    },
    /// rustls refused the server's certificate or key.
    #[error("cannot configure the TLS server")]
    Tls {
        /// rustls's error.
        #[source]
        source: tokio_rustls::rustls::Error,
    },
}

impl Error {
    /// An [`Error::Io`] for `what`.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let what = what.into();
        move |source| Error::Io { what, source }
    }
}
