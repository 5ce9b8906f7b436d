//! Shared helpers of the integration tests.

use std::path::PathBuf;

/// The bytes of a file under `tests/data`.
pub fn data(path: &str) -> Vec<u8> {
    let full: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "data", path]
        .iter()
        .collect();
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

use std::sync::{Arc, Mutex};
use std::time::Duration;

use marathon_client::{Client, Config, RetryPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a [`RawServer`] does with one request.
pub enum Reply {
    /// Write these bytes, then close the connection.
    Close(Vec<u8>),
    /// Write these bytes, then keep the connection open and silent.
    Hold(Vec<u8>),
}

/// A complete HTTP/1.1 response with a JSON-ish body and a correct `Content-Length`.
pub fn response(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// The head of an event-stream response, without any event.
pub fn sse_head() -> Vec<u8> {
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream;charset=UTF-8\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n".to_vec()
}

/// A tiny HTTP server on 127.0.0.1:0 that answers each request through a closure, for
/// servers that misbehave in ways a real one (or the simulator) will not on request.
pub struct RawServer {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The port.
    pub port: u16,
    /// The request heads received (request line as sent, headers lowercased).
    pub requests: Arc<Mutex<Vec<String>>>,
    /// The request bodies received, in the same order.
    pub bodies: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl RawServer {
    /// Starts the server; `respond` gets the request head and the 0-based request number.
    pub async fn start<F>(respond: F) -> RawServer
    where
        F: Fn(&str, usize) -> Reply + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let seen_bodies = Arc::clone(&bodies);
        let respond = Arc::new(respond);
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let seen = Arc::clone(&seen);
                let seen_bodies = Arc::clone(&seen_bodies);
                let respond = Arc::clone(&respond);
                tokio::spawn(async move { serve(socket, seen, seen_bodies, respond).await });
            }
        });
        RawServer {
            url: format!("http://127.0.0.1:{port}"),
            port,
            requests,
            bodies,
        }
    }

    /// The request heads received so far.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("lock").clone()
    }

    /// The request bodies received so far.
    pub fn bodies(&self) -> Vec<Vec<u8>> {
        self.bodies.lock().expect("lock").clone()
    }
}

async fn serve<F>(
    mut socket: TcpStream,
    seen: Arc<Mutex<Vec<String>>>,
    seen_bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    respond: Arc<F>,
) where
    F: Fn(&str, usize) -> Reply + Send + Sync + 'static,
{
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    // The request line as sent; header names and values lowercased for easy matching.
    let raw_head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let (line, headers) = raw_head.split_once("\r\n").unwrap_or((&raw_head, ""));
    let head = format!("{line}\r\n{}", headers.to_lowercase());
    // Read the body too: closing with unread bytes would reset the connection.
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    let body_end = buffer.len().min(head_end + length);
    seen_bodies
        .lock()
        .expect("lock")
        .push(buffer[head_end..body_end].to_vec());
    let number = {
        let mut seen = seen.lock().expect("lock");
        seen.push(head.clone());
        seen.len() - 1
    };
    match respond(&head, number) {
        Reply::Close(bytes) => {
            let _ = socket.write_all(&bytes).await;
            let _ = socket.shutdown().await;
        }
        Reply::Hold(bytes) => {
            let _ = socket.write_all(&bytes).await;
            std::future::pending::<()>().await;
        }
    }
}

/// Quick retries, so tests of retrying stay fast.
pub fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(40),
    }
}

/// A client of `url` with quick retries and short timeouts.
pub fn client(url: &str) -> Client {
    Client::new(
        Config::new(url)
            .expect("config")
            .with_retry(quick_retry())
            .with_request_timeout(Duration::from_secs(5))
            .with_connect_timeout(Duration::from_secs(2)),
    )
    .expect("client")
}
