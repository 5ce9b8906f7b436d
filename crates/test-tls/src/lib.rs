//! Test support for TLS: a private certificate authority made with the `openssl` command, and
//! an HTTPS server on a loopback port that counts the TCP connections it accepts.
//!
//! Tests of certificate handling need certificates that are wrong in a precise way: signed by
//! a CA the client does not trust, made for another name, expired, not yet valid. [`TestCa`]
//! makes them in a temporary directory (P-256 keys: quick), so no key is checked in.
//! [`TlsServer`] serves one of them on `127.0.0.1`, either answering every request with a fixed
//! [`Response`] or forwarding the decrypted bytes to a plain backend, and counts connections, so
//! that a test can tell a refused certificate that was tried once from one that was retried.
//!
//! | what the test needs | how |
//! | --- | --- |
//! | a trusted CA and a leaf for a host | [`TestCa::issue`] with [`Validity::Current`]; the client trusts [`TestCa::certificate_path`] |
//! | an untrusted CA | the same leaf, with the client not told about the CA |
//! | a name mismatch | a leaf for another [`SubjectAltName`] than the host the client dials |
//! | an expired certificate | [`Validity::Expired`] |
//! | a certificate not yet valid | [`Validity::NotYetValid`] |
//!
//! The `openssl` command must be installed (Debian: `apt-get install openssl`).
//!
//! # Example
//!
//! ```no_run
//! use test_tls::{Response, SubjectAltName, TestCa, TlsServer, Validity};
//!
//! # async fn example() -> Result<(), test_tls::Error> {
//! let ca = TestCa::new()?;
//! let leaf = ca.issue(&[SubjectAltName::loopback()], Validity::Expired)?;
//! let server = TlsServer::answering(&leaf, Response::ok("pong")).await?;
//! // ... point a client at `server.url()`, trusting `ca.certificate_path()` ...
//! assert_eq!(server.accepted(), 0);
//! # Ok(())
//! # }
//! ```

mod ca;
mod error;
mod server;

pub use ca::{ServerCertificate, SubjectAltName, TestCa, Validity};
pub use error::Error;
pub use server::{Response, TlsServer, refused_https_url};
