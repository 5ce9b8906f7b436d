//! The real image check (registry-client) against a small fake registry speaking the Docker
//! Registry HTTP API v2: found, missing, credentials per host, refused and unreachable.

use std::time::Duration;

use duncan_core::deploy::{ImageCheck, ImageCheckError, RegistryImageCheck};
use registry_client::{Credentials, RegistryClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

/// Serves manifests: `acme/shop:v1` to anyone, `acme/shop:private` only with basic `u:p`,
/// everything else unknown. One request per connection.
async fn fake_registry() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let host = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let path = head
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned();
                let authorized = head
                    .lines()
                    .any(|l| l.eq_ignore_ascii_case("authorization: basic dTpw"));
                let found = format!(
                    "HTTP/1.1 200 OK\r\nDocker-Content-Digest: {DIGEST}\r\nContent-Type: \
                     application/vnd.docker.distribution.manifest.v2+json\r\nContent-Length: 0\r\n\
                     Connection: close\r\n\r\n"
                );
                let answer = match path.as_str() {
                    "/v2/acme/shop/manifests/v1" => found,
                    "/v2/acme/shop/manifests/private" if authorized => found,
                    "/v2/acme/shop/manifests/private" => "HTTP/1.1 401 Unauthorized\r\n\
                         WWW-Authenticate: Basic realm=\"fake\"\r\nContent-Length: 0\r\n\
                         Connection: close\r\n\r\n"
                        .to_owned(),
                    _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_owned(),
                };
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    host
}

fn client(host: &str) -> RegistryClient {
    RegistryClient::builder()
        .timeout(Duration::from_secs(3))
        .plain_http_host(host)
        .build()
        .expect("registry client")
}

#[tokio::test]
async fn present_tag_gives_its_digest() {
    let host = fake_registry().await;
    let check = RegistryImageCheck::new(client(&host));
    let found = check
        .check(&format!("{host}/acme/shop:v1"))
        .await
        .expect("found");
    assert_eq!(found.digest, DIGEST);
}

#[tokio::test]
async fn missing_tag_is_missing_not_unverifiable() {
    let host = fake_registry().await;
    let check = RegistryImageCheck::new(client(&host));
    let error = check
        .check(&format!("{host}/acme/shop:v2-typo"))
        .await
        .expect_err("missing");
    assert!(matches!(error, ImageCheckError::Missing { .. }), "{error}");
}

#[tokio::test]
async fn credentials_are_used_for_their_host_and_never_shown() {
    let host = fake_registry().await;
    let image = format!("{host}/acme/shop:private");
    let anonymous = RegistryImageCheck::new(client(&host));
    let error = anonymous.check(&image).await.expect_err("refused");
    assert!(
        matches!(error, ImageCheckError::Unverifiable { .. }),
        "{error}"
    );

    let with_credentials = RegistryImageCheck::new(client(&host))
        .with_credentials(&host, Credentials::basic("u", "p"));
    assert_eq!(
        with_credentials.check(&image).await.expect("found").digest,
        DIGEST
    );
    let shown = format!("{with_credentials:?}");
    assert!(shown.contains(&host), "{shown}");
    assert!(!shown.contains("\"p\""), "{shown}");
}

#[tokio::test]
async fn unreachable_registry_is_unverifiable() {
    // Bind and drop a listener: its port is free and nothing answers there.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let host = listener.local_addr().expect("addr").to_string();
    drop(listener);
    let check = RegistryImageCheck::new(client(&host));
    let error = check
        .check(&format!("{host}/acme/shop:v1"))
        .await
        .expect_err("unreachable");
    assert!(
        matches!(error, ImageCheckError::Unverifiable { .. }),
        "{error}"
    );
}
