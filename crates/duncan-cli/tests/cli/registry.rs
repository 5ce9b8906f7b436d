//! The image check of a deploy against a minimal registry that knows one manifest.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::sims::Sims;
use crate::util::{Home, run_async, settings, shown};

const DIGEST: &str = "sha256:4b4ad6b0bc1e2f8a3b4ce7de0b8d1f9f0a1b2c3d4e5f60718293a4b5c6d7e8f9";

/// Serves `HEAD /v2/myorg/dogfood/manifests/v2` (found) and answers 404 to everything else, one
/// request per connection. Returns `host:port`.
async fn registry() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&request);
                let line = head.lines().next().unwrap_or_default().to_owned();
                let response = if line.starts_with("HEAD /v2/myorg/dogfood/manifests/v2 ") {
                    format!(
                        "HTTP/1.1 200 OK\r\nDocker-Content-Digest: {DIGEST}\r\n\
                         Content-Type: application/vnd.docker.distribution.manifest.v2+json\r\n\
                         Content-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                } else {
                    let body =
                        r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
                    let body = if line.starts_with("HEAD ") { "" } else { body };
                    format!(
                        "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    addr
}

async fn setup() -> (Sims, Home, String) {
    let registry = registry().await;
    let sims = Sims::start().await;
    let prefix = format!("{registry}/myorg");
    sims.seed_group_from(&prefix, "dogfood", "stage", "v1")
        .await;
    let home = Home::with_config(&format!(
        "consul_url: {}\nmarathon_url: {}\ndocker_repo_prefix: {prefix}\ninsecure_registries: [\"{registry}\"]\n",
        sims.consul_url(),
        sims.marathon_url()
    ));
    (sims, home, prefix)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_found_in_registry_is_deployed_with_its_digest_in_the_plan() {
    let (sims, home, prefix) = setup().await;
    let mut cmd = home.duncan();
    cmd.args(["deploy", "-a", "dogfood", "-e", "stage", "-t", "v2", "-y"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(DIGEST), "{}", out.stdout);
    assert_eq!(
        sims.image("/dogfood-stage/web"),
        Some(format!("{prefix}/dogfood:v2"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_image_is_refused_and_nothing_changes() {
    let (sims, home, prefix) = setup().await;
    let mut cmd = home.duncan();
    cmd.args(["deploy", "-a", "dogfood", "-e", "stage", "-t", "v3", "-y"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        sims.image("/dogfood-stage/web"),
        Some(format!("{prefix}/dogfood:v1"))
    );
    assert!(sims.keys_under("deploys/").is_empty());
    let mut s = settings(&home);
    s.add_filter(r"127\.0\.0\.1:\[PORT\]", "[REGISTRY]");
    s.bind(|| insta::assert_snapshot!("deploy_image_missing", shown(&out)));
}
