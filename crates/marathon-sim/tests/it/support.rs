//! Helpers for the scenario tests: a started simulator, a raw HTTP client and a tiny SSE reader.

use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use marathon_sim::{MarathonSim, SimOptions};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// One item read from an event stream.
#[derive(Debug, Clone)]
pub enum Item {
    /// `event: <kind>` + `data: <json>`.
    Event { kind: String, data: Value },
    /// A bare `\r\n` keep-alive, with when it arrived.
    KeepAlive(Instant),
}

/// Reads a stream until it ends; the receiver closes when the server ends the stream.
pub struct Stream {
    pub rx: mpsc::UnboundedReceiver<Item>,
}

pub async fn start(options: SimOptions) -> (MarathonSim, reqwest::Client) {
    let sim = MarathonSim::start(options).await.expect("sim starts");
    (sim, reqwest::Client::new())
}

/// Opens `GET {url}/v2/events{query}` with `Accept: text/event-stream`.
pub async fn subscribe(client: &reqwest::Client, url: &str, query: &str) -> Stream {
    let res = client
        .get(format!("{url}/v2/events{query}"))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .expect("stream opens");
    assert_eq!(res.status(), 200);
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut body = res.bytes_stream();
        let mut buf = String::new();
        let mut kind: Option<String> = None;
        let mut data: Option<String> = None;
        while let Some(Ok(chunk)) = body.next().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buf.find("\r\n") {
                let line: String = buf.drain(..end + 2).collect();
                let line = &line[..line.len() - 2];
                if let Some(k) = line.strip_prefix("event: ") {
                    kind = Some(k.to_owned());
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = Some(d.to_owned());
                } else if line.is_empty() {
                    match (kind.take(), data.take()) {
                        (Some(kind), Some(data)) => {
                            let data = serde_json::from_str(&data).expect("event data is JSON");
                            let _ = tx.send(Item::Event { kind, data });
                        }
                        _ => {
                            let _ = tx.send(Item::KeepAlive(Instant::now()));
                        }
                    }
                }
            }
        }
    });
    Stream { rx }
}

impl Stream {
    /// The next event (keep-alives skipped), within 10 s.
    pub async fn next_event(&mut self) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(Item::Event { kind, data })) => return Some((kind, data)),
                Ok(Some(Item::KeepAlive(_))) => {}
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Events up to and including the first one `stop` accepts; panics after 10 s.
    pub async fn until(&mut self, stop: impl Fn(&str, &Value) -> bool) -> Vec<(String, Value)> {
        let mut seen = Vec::new();
        loop {
            let Some((kind, data)) = self.next_event().await else {
                panic!(
                    "stream ended or timed out; seen: {:?}",
                    seen.iter().map(|(k, _)| k).collect::<Vec<_>>()
                );
            };
            let done = stop(&kind, &data);
            seen.push((kind, data));
            if done {
                return seen;
            }
        }
    }
}

/// An app definition with a Docker image and an HTTP health check.
pub fn app(id: &str, image: &str, instances: u64) -> Value {
    json!({
        "id": id,
        "instances": instances,
        "cpus": 0.1,
        "mem": 64,
        "container": {"type": "DOCKER", "docker": {"image": image, "network": "BRIDGE"}},
        "healthChecks": [{"protocol": "HTTP", "path": "/health", "gracePeriodSeconds": 30, "intervalSeconds": 5, "maxConsecutiveFailures": 3}],
        "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.5},
        "labels": {"team": "shop"},
    })
}

pub async fn put_group(
    client: &reqwest::Client,
    url: &str,
    id: &str,
    body: &Value,
    query: &str,
) -> reqwest::Response {
    client
        .put(format!("{url}/v2/groups{id}{query}"))
        .json(body)
        .send()
        .await
        .expect("request is answered")
}

/// PUTs a group and returns its deployment id (asserting 200 and the header).
pub async fn deploy(client: &reqwest::Client, url: &str, id: &str, body: &Value) -> String {
    let res = put_group(client, url, id, body, "").await;
    assert_eq!(res.status(), 200);
    let header = res
        .headers()
        .get("Marathon-Deployment-Id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = res.json().await.expect("JSON body");
    let id = body["deploymentId"]
        .as_str()
        .expect("deploymentId")
        .to_owned();
    assert_eq!(header.as_deref(), Some(id.as_str()));
    assert!(body["version"].is_string());
    id
}

pub async fn get_json(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let res = client.get(url).send().await.expect("request is answered");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Polls `GET /v2/deployments` until it is empty (10 s at most).
pub async fn wait_idle(client: &reqwest::Client, url: &str) {
    for _ in 0..500 {
        let (_, list) = get_json(client, &format!("{url}/v2/deployments")).await;
        if list.as_array().is_some_and(Vec::is_empty) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("deployments still running after 10 s");
}
