//! A loopback proxy in front of marathon-sim that refuses Marathon's event stream (404, as a
//! gateway that does not pass server-sent events would), so that duncan falls back to polling.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Largest request head the proxy reads before giving up on a connection.
const MAX_HEAD: usize = 64 * 1024;

/// A running proxy; it stops when dropped.
pub struct NoEventsProxy {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for NoEventsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl NoEventsProxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("could not listen for the proxy")?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    // A failed connection only fails that request, which duncan reports.
                    let _ = serve(client, upstream).await;
                });
            }
        });
        Ok(Self { addr, task })
    }

    /// The proxy's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Whether a request line asks for the event stream (plain or under DC/OS's prefix).
pub fn is_event_stream(request_line: &str) -> bool {
    let path = request_line.split_whitespace().nth(1).unwrap_or("");
    let path = path.strip_prefix("/service/marathon").unwrap_or(path);
    path == "/v2/events" || path.starts_with("/v2/events?")
}

async fn serve(mut client: TcpStream, upstream: SocketAddr) -> Result<()> {
    let mut buf = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if buf.len() > MAX_HEAD {
            return Ok(());
        }
        let mut chunk = [0u8; 4096];
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    };
    let head = String::from_utf8_lossy(buf.get(..head_end).unwrap_or_default()).into_owned();
    let request_line = head.lines().next().unwrap_or("");
    if is_event_stream(request_line) {
        let body = r#"{"message":"event stream not available through this gateway"}"#;
        let response = format!(
            "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        client.write_all(response.as_bytes()).await?;
        return Ok(());
    }
    // One request per connection, so that every request's line passes through the check above.
    let first_line_end = buf
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(head_end);
    let mut forwarded = Vec::with_capacity(buf.len() + 20);
    forwarded.extend_from_slice(buf.get(..first_line_end).unwrap_or_default());
    forwarded.extend_from_slice(b"\r\nconnection: close");
    forwarded.extend_from_slice(buf.get(first_line_end..).unwrap_or_default());
    let mut server = TcpStream::connect(upstream).await?;
    server.write_all(&forwarded).await?;
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_stream_is_recognised_with_and_without_the_dcos_prefix() {
        assert!(is_event_stream("GET /v2/events?event_type=x HTTP/1.1"));
        assert!(is_event_stream("GET /service/marathon/v2/events HTTP/1.1"));
        assert!(!is_event_stream("GET /v2/eventsx HTTP/1.1"));
        assert!(!is_event_stream("GET /v2/groups/shop-stage HTTP/1.1"));
    }
}
