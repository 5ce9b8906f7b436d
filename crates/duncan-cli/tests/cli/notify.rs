//! The Go tool's `slack_webhook_url` is notified after a deploy, and its secret URL never shows.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::sims::Sims;
use crate::util::{Home, deploy_args, run_async};

/// A webhook receiver that keeps every request body. Returns its base URL and the bodies.
async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let store = Arc::clone(&bodies);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let text = String::from_utf8_lossy(&request).into_owned();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                let (name, value) = l.split_once(':')?;
                                name.eq_ignore_ascii_case("content-length")
                                    .then(|| value.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if body.len() >= length {
                            store.lock().expect("lock").push(body.to_owned());
                            break;
                        }
                    }
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    (url, bodies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_webhook_is_notified_and_its_url_never_printed() {
    let (url, bodies) = receiver().await;
    let sims = Sims::start().await;
    sims.seed_group("dogfood", "stage", "v1").await;
    let home = Home::with_config(&format!(
        "{}slack_webhook_url: {url}/services/T0/B0/SECRETPART\n",
        sims.config()
    ));
    let mut cmd = home.duncan();
    cmd.args(deploy_args("v2")).args(["-vv"]);
    let out = run_async(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let bodies = bodies.lock().expect("lock").clone();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert!(bodies[0].contains("\"text\""), "{}", bodies[0]);
    assert!(bodies[0].contains("v2"), "{}", bodies[0]);
    assert!(
        !out.stdout.contains("SECRETPART") && !out.stderr.contains("SECRETPART"),
        "{}{}",
        out.stdout,
        out.stderr
    );

    let mut cmd = home.duncan();
    cmd.args(["config", "show"]);
    let out = run_async(cmd).await;
    assert!(!out.stdout.contains("SECRETPART"), "{}", out.stdout);
    assert!(out.stdout.contains("(redacted)"), "{}", out.stdout);
}
