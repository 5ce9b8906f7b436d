//! The harness: a Consul to talk to, a client for it, and key names that do not collide.

use std::time::Duration;

use consul_client::{Client, Config, RetryPolicy};
use consul_sim::{ConsulSim, SimOptions};

/// A Consul for one test: the simulator (always, when the test needs its controls), or a
/// real Consul named by `CONSUL_HTTP_ADDR`.
pub struct Env {
    /// The simulator, when the test runs against it.
    pub sim: Option<ConsulSim>,
    /// A client for it.
    pub client: Client,
    /// A prefix unique to this test, so tests against a shared real Consul do not collide.
    pub prefix: String,
}

impl Env {
    /// The sim, or a real Consul when `CONSUL_HTTP_ADDR` is set.
    pub async fn any() -> Env {
        if std::env::var_os("CONSUL_HTTP_ADDR").is_some_and(|v| !v.is_empty()) {
            let config = Config::from_env().expect("CONSUL_HTTP_* variables are valid");
            let client = Client::new(quick(config)).expect("client");
            return Env {
                sim: None,
                client,
                prefix: unique_prefix(),
            };
        }
        Env::sim(SimOptions::default()).await
    }

    /// Always the simulator, started with `options`.
    pub async fn sim(options: SimOptions) -> Env {
        let sim = ConsulSim::start(options).await.expect("consul-sim starts");
        let client = client_for(&sim, None);
        Env {
            sim: Some(sim),
            client,
            prefix: unique_prefix(),
        }
    }

    /// The simulator's controls (only for tests started with [`Env::sim`]).
    pub fn control(&self) -> consul_sim::Control {
        self.sim
            .as_ref()
            .expect("this test runs against consul-sim")
            .control()
    }

    /// A key under this test's prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

/// A client for `sim`, sending `token` when given, with quick retries.
pub fn client_for(sim: &ConsulSim, token: Option<&str>) -> Client {
    let mut config = Config::new(&sim.url()).expect("sim url");
    if let Some(token) = token {
        config = config.with_token(token);
    }
    Client::new(quick(config)).expect("client")
}

/// Short timeouts and retry delays, so failing tests fail fast.
pub fn quick(config: Config) -> Config {
    config
        .with_request_timeout(Duration::from_secs(5))
        .with_retry(RetryPolicy::new(
            3,
            Duration::from_millis(10),
            Duration::from_millis(50),
        ))
}

fn unique_prefix() -> String {
    format!("cc-test/{:016x}/", fastrand::u64(..))
}

/// Polls `cond` until it holds, failing the test after a generous bound.
pub async fn wait_until(mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached in time"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What a [`Stub`] answers to one request.
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: String,
}

impl Reply {
    /// An answer with `status` and `body`, no extra headers.
    pub fn new(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Adds the index headers Consul sends on every read.
    pub fn with_index(mut self, index: u64) -> Reply {
        self.headers.push(("X-Consul-Index", index.to_string()));
        self.headers
            .push(("X-Consul-KnownLeader", "true".to_owned()));
        self.headers.push(("X-Consul-LastContact", "0".to_owned()));
        self
    }
}

type Answer = dyn Fn(&str, &str) -> Reply + Send + Sync;

/// A server on `127.0.0.1:0` that is not Consul: it answers each request (method, path) as
/// `answer` says, and records the requests.
pub struct Stub {
    /// Its address, `http://127.0.0.1:port`.
    pub url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Stub {
    /// Starts a stub answering with `answer(method, path)`.
    pub async fn start(answer: impl Fn(&str, &str) -> Reply + Send + Sync + 'static) -> Stub {
        use axum::http::{HeaderName, HeaderValue, StatusCode};
        use axum::response::IntoResponse;
        let answer: std::sync::Arc<Answer> = std::sync::Arc::new(answer);
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let answer = answer.clone();
            let log = log.clone();
            async move {
                let (method, path) = (req.method().to_string(), req.uri().path().to_owned());
                let line = format!("{method} {}", req.uri());
                log.lock().map(|mut l| l.push(line)).ok();
                let reply = answer(&method, &path);
                let mut resp = (
                    StatusCode::from_u16(reply.status).expect("status"),
                    reply.body,
                )
                    .into_response();
                for (name, value) in reply.headers {
                    resp.headers_mut().insert(
                        HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                        HeaderValue::from_str(&value).expect("header value"),
                    );
                }
                resp
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Stub { url, seen }
    }

    /// A client for the stub, with quick retries.
    pub fn client(&self) -> Client {
        Client::new(quick(Config::new(&self.url).expect("stub url"))).expect("client")
    }

    /// The requests received, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().map(|l| l.clone()).unwrap_or_default()
    }
}
