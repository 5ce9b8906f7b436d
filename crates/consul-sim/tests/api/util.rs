//! A small harness: start a sim, speak raw HTTP to it, read answers.

use consul_sim::{ConsulSim, Control, SimOptions};
use reqwest::{Client, Method, StatusCode};

/// A running sim and a plain HTTP client for it.
pub struct Harness {
    pub sim: ConsulSim,
    pub control: Control,
    pub http: Client,
}

/// What came back: status, selected headers, body text.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Answer {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `X-Consul-Index` as a number.
    pub fn index(&self) -> u64 {
        self.header("x-consul-index")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

pub async fn start() -> Harness {
    start_with(SimOptions::default()).await
}

pub async fn start_with(options: SimOptions) -> Harness {
    let sim = ConsulSim::start(options).await.expect("sim starts");
    let control = sim.control();
    let http = Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .expect("client builds");
    Harness { sim, control, http }
}

impl Harness {
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.sim.url(), path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let resp = req.send().await.expect("request answered");
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.text().await.expect("body read");
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn put(&self, path: &str, body: &str) -> Answer {
        self.send(Method::PUT, path, Some(body.as_bytes().to_vec()), &[])
            .await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(Method::DELETE, path, None, &[]).await
    }

    /// Creates a session from a JSON body and returns its id.
    pub async fn session(&self, body: &str) -> String {
        let a = self.put("/v1/session/create", body).await;
        assert_eq!(a.status, StatusCode::OK, "session create: {}", a.body);
        a.json()["ID"].as_str().expect("session id").to_owned()
    }

    /// The entry JSON of one key.
    pub async fn entry(&self, key: &str) -> serde_json::Value {
        let a = self.get(&format!("/v1/kv/{key}")).await;
        assert_eq!(a.status, StatusCode::OK, "entry {key}: {}", a.body);
        a.json()[0].clone()
    }
}
