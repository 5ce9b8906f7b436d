//! An HTTPS server on a loopback port that counts the TCP connections it accepts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::{Error, ServerCertificate};

/// The most of a request head the answering server reads; a longer one is answered anyway.
const MAX_HEAD: usize = 64 * 1024;

/// What an answering [`TlsServer`] sends for every request: `200 OK`, then the connection
/// closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// `200 OK` with `body`, a `Content-Length` and `Connection: close`.
    pub fn ok(body: impl Into<Vec<u8>>) -> Response {
        Response {
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// The response with one more header.
    ///
    /// ```
    /// let leader = test_tls::Response::ok("\"127.0.0.1:8300\"")
    ///     .header("Content-Type", "application/json");
    /// # let _ = leader;
    /// ```
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The bytes on the wire.
    fn to_bytes(&self) -> Vec<u8> {
        let mut head = String::from("HTTP/1.1 200 OK\r\n");
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// What the server does with a connection once the TLS handshake succeeded.
#[derive(Clone)]
enum Behind {
    /// Reads a request head and sends this.
    Answer(Arc<Vec<u8>>),
    /// Copies the decrypted bytes to and from a plain TCP backend.
    Forward(SocketAddr),
}

/// An HTTPS server on `127.0.0.1` (a port of its own) serving one [`ServerCertificate`], that
/// counts the TCP connections it accepts, whether or not the handshake then succeeds: a
/// client that refuses the certificate still counts one per attempt.
///
/// It stops when dropped. It needs a Tokio runtime with the `net` driver.
#[derive(Debug)]
pub struct TlsServer {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    accept_loop: JoinHandle<()>,
}

impl TlsServer {
    /// Starts a server that answers every request with `response`.
    ///
    /// # Errors
    ///
    /// [`Error::Pem`] or [`Error::Tls`] when the certificate or key cannot be used;
    /// [`Error::Io`] when no loopback port can be bound.
    pub async fn answering(
        certificate: &ServerCertificate,
        response: Response,
    ) -> Result<TlsServer, Error> {
        TlsServer::start(certificate, Behind::Answer(Arc::new(response.to_bytes()))).await
    }

    /// Starts a TLS-terminating proxy: what a client sends is forwarded, decrypted, to the
    /// plain TCP server at `backend`, and its answers back.
    ///
    /// # Errors
    ///
    /// As [`TlsServer::answering`].
    pub async fn forwarding(
        certificate: &ServerCertificate,
        backend: SocketAddr,
    ) -> Result<TlsServer, Error> {
        TlsServer::start(certificate, Behind::Forward(backend)).await
    }

    async fn start(certificate: &ServerCertificate, behind: Behind) -> Result<TlsServer, Error> {
        let acceptor = acceptor(certificate)?;
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(Error::io("bind a loopback port"))?;
        let addr = listener
            .local_addr()
            .map_err(Error::io("read the bound address"))?;
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        let accept_loop = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(acceptor.clone(), tcp, behind.clone()));
            }
        });
        Ok(TlsServer {
            addr,
            accepted,
            accept_loop,
        })
    }

    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// TCP connections accepted so far, whether or not the handshake then succeeded.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

/// `https://127.0.0.1:PORT` on a port that was free a moment ago: nothing listens there, so a
/// client's connection is refused before any TLS, for telling a refused connection from a
/// refused certificate.
///
/// # Errors
///
/// [`Error::Io`] when no loopback port can be bound.
pub fn refused_https_url() -> Result<String, Error> {
    // Bound and dropped at once: another process taking the port in between is unlikely.
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(Error::io("bind a loopback port"))?;
    let addr = listener
        .local_addr()
        .map_err(Error::io("read the bound address"))?;
    Ok(format!("https://{addr}"))
}

/// A TLS acceptor for `certificate` (rustls with ring, TLS 1.2 and 1.3).
fn acceptor(certificate: &ServerCertificate) -> Result<TlsAcceptor, Error> {
    let pem_error = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| Error::Pem { path, source }
    };
    let chain = CertificateDer::pem_file_iter(certificate.certificate_path())
        .map_err(pem_error(certificate.certificate_path()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error(certificate.certificate_path()))?;
    let key = PrivateKeyDer::from_pem_file(certificate.key_path())
        .map_err(pem_error(certificate.key_path()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|source| Error::Tls { source })?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|source| Error::Tls { source })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves one connection; a client that refuses the certificate ends it in the handshake.
async fn serve(acceptor: TlsAcceptor, tcp: TcpStream, behind: Behind) {
    let Ok(mut tls) = acceptor.accept(tcp).await else {
        return;
    };
    match behind {
        Behind::Answer(response) => {
            read_head(&mut tls).await;
            let _ = tls.write_all(&response).await;
            let _ = tls.shutdown().await;
        }
        Behind::Forward(backend) => {
            if let Ok(mut plain) = TcpStream::connect(backend).await {
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            }
        }
    }
}

/// Reads a request's head (up to [`MAX_HEAD`] bytes, or until the client stops sending); a
/// body, if any, is left unread.
async fn read_head(tls: &mut tokio_rustls::server::TlsStream<TcpStream>) {
    let mut head = Vec::new();
    let mut buf = [0_u8; 1024];
    while head.len() < MAX_HEAD && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tls.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
        }
    }
}
