//! An in-memory server that answers Consul's HTTP API (KV, txn, sessions, events, ACL) for tests.
//!
//! Start it on `127.0.0.1:0`, point any Consul client at [`ConsulSim::url`], and steer it with
//! the [`Control`] handle: ACL tokens, injected faults, the request log and a sim clock for
//! session TTLs and lock-delays.
//!
//! ```
//! use consul_sim::{Access, ConsulSim, Rule, SimOptions};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let sim = ConsulSim::start(
//!     SimOptions::default()
//!         .acl_master_token("root")
//!         .token("deployer", vec![Rule::new("deploys/app/prod/", Access::Write)]),
//! )
//! .await?;
//! assert!(sim.url().starts_with("http://127.0.0.1:"));
//! let control = sim.control();
//! control.advance_clock(Duration::from_secs(60)); // expire TTL sessions without sleeping
//! assert!(control.kv_snapshot().is_empty());
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! # What it shares with Consul
//!
//! - Tokens from `?token=` (which wins, as in Consul), `X-Consul-Token` or
//!   `Authorization: Bearer`. In ACL mode the default policy is deny: no token is the anonymous
//!   token (`403 Permission denied` on any key), an unknown token is `403 ACL not found`, a key no
//!   rule allows is `403 Permission denied`, and a denied op inside a txn is `409` with
//!   `What: "Permission denied"`. Recursive reads and `keys` filter out what the token may not
//!   read instead of failing.
//! - Boolean flags count by presence; reads answer `X-Consul-Index`, `X-Consul-KnownLeader`
//!   and `X-Consul-LastContact`, also with a 404; blocking queries (`index`, `wait`: default
//!   5 min, max 10 min, jitter up to wait/16) wait on a change notification, never by polling.
//! - One index for every write, starting where a freshly booted Consul's is (well above the
//!   `1` that reads of an empty table answer), so a blocking query made before the first write
//!   wakes on it; KV entries as `LockIndex, Key, Flags, Value, Session,
//!   CreateIndex, ModifyIndex`; `cas`, `acquire` / `release` with LockIndex, lock-delay,
//!   `recurse`, `keys` + `separator`, `raw`; 512 KiB values; key validation with the wording of
//!   current Consul releases (`a-zA-Z0-9,-_./` only, no traversal, no leading `/`, no file
//!   extensions proxies cache).
//! - `/v1/txn` with every KV verb, Consul's error texts, rollback of the whole transaction,
//!   128 operations and 512 KiB per request.
//! - Sessions (TTL 10 s–24 h, expiry 2×TTL after the last renewal, lock-delay default 15 s and
//!   capped at 60 s, `release` / `delete` behaviour, case-insensitive fields).
//! - User events (`fire`, `list`, last 256, Consul's 512-byte Serf limit on the encoded event),
//!   `status/leader`, `status/peers`, `agent/self` (with a single server's `Stats`:
//!   `consul.leader_addr`, `raft`, `serf_lan`, `serf_wan`, `runtime`, all values strings),
//!   `acl/token/self`.
//! - The legacy ACL endpoints (`acl/create`, `update`, `destroy`, `info`, `clone`, `list`)
//!   answer `410` with Consul 1.11+'s text; with ACLs off every `/v1/acl/…` endpoint answers
//!   `401 ACL support disabled`.
//!
//! # What it serves, and what not
//!
//! Served: `/v1/kv/…`, `/v1/txn`, `/v1/session/{create,renew,destroy,info,list,node}`,
//! `/v1/event/{fire,list}`, `/v1/status/{leader,peers}`, `/v1/agent/self`,
//! `/v1/acl/token/self` and the `/v1/acl/…` answers above. Everything else — catalog, health,
//! agent services and checks, the other ACL endpoints when ACLs are on (tokens, policies,
//! roles, bootstrap), operator, connect, config entries, snapshots, `/v1/event/…` watches by
//! other means — answers Go's `404 page not found`.
//!
//! Plain HTTP by default; with [`SimOptions::tls`] (the binary's `--tls-cert` / `--tls-key`)
//! HTTPS, and with [`TlsFiles::require_client_certificates`] (`--tls-client-ca`) the mutual
//! TLS of an agent with `verify_incoming`: a client without a certificate of that CA fails the
//! handshake and never reaches a route (nor the request log). Namespaces (`?ns=`) and
//! partitions other than `default` are refused as the open-source edition refuses them:
//! `400 Invalid query parameter`.
//!
//! # Where it is simpler than Consul
//!
//! Only `key_prefix` rules are modelled. Session and event rules are not: every known token may
//! create sessions and fire or read events, as if its policy also held
//! `session_prefix "" { policy = "write" }` and `event_prefix "" { policy = "write" }`.
//! `agent/self` needs the management token. Transactions accept KV operations only. There is
//! one node (`consul-sim`, or the name [`SimOptions::node_name`] / `--node-name` gives) with one
//! check (`serfHealth`). ACL denials read `Permission denied`
//! exactly, as older Consul releases write it; newer ones append the accessor and permission
//! after a colon, so clients should match the prefix. A blocking query on a key that does not
//! exist wakes on any KV write (Consul may wake such a query early too) and then answers 404
//! with the new index. The index only moves when something changes.
//!
//! # Policy file
//!
//! The binary's `--policy-file FILE` (and [`PolicyFile::from_json`]) reads JSON of this shape;
//! `access` is `read`, `write` or `deny`, and the longest matching prefix decides:
//!
//! ```json
//! {"tokens": [
//!   {"secret": "deployer-token",
//!    "rules": [{"prefix": "deploys/app/", "access": "write"},
//!              {"prefix": "", "access": "read"}]}
//! ]}
//! ```

mod acl;
mod events;
mod http;
mod kv;
mod misc;
mod server;
mod session;
mod shared;
mod state;
mod tls;
mod txn;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use acl::{Access, PolicyError, PolicyFile, PolicyToken, Rule};
pub use tls::TlsFiles;

use acl::{AclTable, TokenEntry};
use shared::{Shared, lock};

/// The node name when [`SimOptions::node_name`] is not given.
pub const DEFAULT_NODE_NAME: &str = "consul-sim";

/// How long the background task waits between TTL checks (in real time).
const EXPIRY_TICK: Duration = Duration::from_millis(100);

/// How to start a [`ConsulSim`]. The default listens on `127.0.0.1:0` with ACLs off.
#[derive(Clone)]
pub struct SimOptions {
    listen: SocketAddr,
    master_token: Option<String>,
    tokens: Vec<(String, Vec<Rule>)>,
    node_name: String,
    tls: Option<TlsFiles>,
}

impl std::fmt::Debug for SimOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of Debug output.
        f.debug_struct("SimOptions")
            .field("listen", &self.listen)
            .field("acl", &self.acl_enabled())
            .field("tokens", &self.tokens.len())
            .field("tls", &self.tls)
            .finish()
    }
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            master_token: None,
            tokens: Vec::new(),
            node_name: DEFAULT_NODE_NAME.to_owned(),
            tls: None,
        }
    }
}

impl SimOptions {
    /// The address to listen on (port 0 picks a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Turns ACL mode on, with `token` as the management token that may do anything.
    pub fn acl_master_token(mut self, token: impl Into<String>) -> Self {
        self.master_token = Some(token.into());
        self
    }

    /// Adds a token with `key_prefix` rules. Adding a token also turns ACL mode on.
    pub fn token(mut self, secret: impl Into<String>, rules: Vec<Rule>) -> Self {
        self.tokens.push((secret.into(), rules));
        self
    }

    /// The node's name, as `agent/self` and sessions report it (default `consul-sim`; the
    /// test suites of Consul clients expect `node1`, Consul's own dev-agent name in them).
    pub fn node_name(mut self, name: impl Into<String>) -> Self {
        self.node_name = name.into();
        self
    }

    /// Adds every token of a policy file (see the crate docs for its format).
    pub fn policy(mut self, file: PolicyFile) -> Self {
        for t in file.tokens {
            self.tokens.push((t.secret, t.rules));
        }
        self
    }

    /// Serves HTTPS instead of HTTP, with the given certificate, and (with
    /// [`TlsFiles::require_client_certificates`]) only to clients that present a certificate of
    /// the given CA, as a Consul agent with `verify_incoming`. [`ConsulSim::url`] then starts
    /// with `https://`.
    pub fn tls(mut self, files: TlsFiles) -> Self {
        self.tls = Some(files);
        self
    }

    fn acl_enabled(&self) -> bool {
        self.master_token.is_some() || !self.tokens.is_empty()
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn token_entry(rules: Vec<Rule>, management: bool, create_index: u64) -> TokenEntry {
    TokenEntry {
        accessor_id: http::uuid(),
        rules,
        management,
        create_index,
        create_time: now_rfc3339(),
    }
}

/// A running simulated Consul. Dropping it (or [`ConsulSim::shutdown`]) stops it.
#[derive(Debug)]
pub struct ConsulSim {
    addr: SocketAddr,
    https: bool,
    control: Control,
    stop: watch::Sender<bool>,
    accept: Option<JoinHandle<()>>,
    expiry: JoinHandle<()>,
}

impl ConsulSim {
    /// Binds the listener and starts serving in the background of the current tokio runtime.
    pub async fn start(options: SimOptions) -> std::io::Result<ConsulSim> {
        let mut acl = AclTable {
            enabled: options.acl_enabled(),
            ..AclTable::default()
        };
        if let Some(master) = options.master_token {
            acl.tokens.insert(master, token_entry(Vec::new(), true, 1));
        }
        for (secret, rules) in options.tokens {
            acl.tokens.insert(secret, token_entry(rules, false, 1));
        }
        let acceptor = options.tls.as_ref().map(tls::acceptor).transpose()?;
        let https = acceptor.is_some();
        let listener = TcpListener::bind(options.listen).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(acl, options.node_name));
        let (stop, stop_rx) = watch::channel(false);
        let accept = tokio::spawn(server::serve(listener, acceptor, shared.clone(), stop_rx));
        let ticker = shared.clone();
        let expiry = tokio::spawn(async move {
            let mut tick = tokio::time::interval(EXPIRY_TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                ticker.expire_sessions();
            }
        });
        tracing::debug!(%addr, "consul-sim listening");
        Ok(ConsulSim {
            addr,
            https,
            control: Control { shared },
            stop,
            accept: Some(accept),
            expiry,
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, `http://127.0.0.1:PORT` (`https://` in TLS mode).
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// A cheap, cloneable handle to steer and inspect the server.
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Stops accepting, closes every open connection and waits for the server task to end.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        // Requests held by pause() must not keep the server alive.
        self.control.shared.paused.send_replace(false);
        if let Some(accept) = self.accept.take() {
            // The task ends on its own once told; an error only means it already ended.
            let _ = accept.await;
        }
        self.expiry.abort();
    }
}

impl Drop for ConsulSim {
    fn drop(&mut self) {
        self.stop.send_replace(true);
        self.control.shared.paused.send_replace(false);
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        self.expiry.abort();
    }
}

/// How much of each request body [`RecordedRequest::body`] keeps: enough for any key, txn or
/// session body a test searches, without holding a 512 KiB value per request.
pub const MAX_RECORDED_BODY: usize = 64 * 1024;

/// A request as the sim received it.
#[derive(Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The HTTP method, e.g. `"PUT"`.
    pub method: String,
    /// The path and query exactly as sent, e.g. `"/v1/kv/a?cas=0"`.
    pub path_and_query: String,
    /// Every header, names in lower case, values as sent.
    pub headers: Vec<(String, String)>,
    /// The first [`MAX_RECORDED_BODY`] bytes of the body as sent (empty when there was none),
    /// so that tests can check, for example, that a secret never went out in a body.
    pub body: Vec<u8>,
    /// The status answered; 0 while unanswered, or when the connection was dropped.
    pub status: u16,
}

impl RecordedRequest {
    /// The first value of a header (name matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl std::fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Token headers are redacted so that a failing assertion never prints a secret.
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let secret = k.eq_ignore_ascii_case("x-consul-token")
                    || k.eq_ignore_ascii_case("authorization");
                (k.as_str(), if secret { "<redacted>" } else { v.as_str() })
            })
            .collect();
        f.debug_struct("RecordedRequest")
            .field("method", &self.method)
            .field("path_and_query", &redact_token_param(&self.path_and_query))
            .field("headers", &headers)
            // A body may hold a secret (a token, a webhook URL), so only its size is shown.
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .field("status", &self.status)
            .finish()
    }
}

/// Replaces the value of every `token=` query parameter, for Debug output.
fn redact_token_param(path_and_query: &str) -> String {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return path_and_query.to_owned();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("token", _)) => "token=<redacted>".to_owned(),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

/// The test's handle on a running [`ConsulSim`]; clones share the same server.
#[derive(Clone)]
pub struct Control {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").finish_non_exhaustive()
    }
}

impl Control {
    /// Adds (or replaces) a token with `key_prefix` rules. It only matters in ACL mode.
    pub fn add_token(&self, secret: &str, rules: Vec<Rule>) {
        let index = self.shared.read(|s| s.index.max(1));
        lock(&self.shared.acl)
            .tokens
            .insert(secret.to_owned(), token_entry(rules, false, index));
    }

    /// The next `n` requests are answered with `status` (500, 503, 429…) and a Consul-like
    /// plain-text body, without touching the state.
    pub fn fail_next(&self, n: usize, status: u16) {
        lock(&self.shared.faults).fail = (n > 0).then_some((n, status));
    }

    /// The next `n` requests whose path and query contain `needle` (e.g. `"acquire="` or
    /// `"/v1/txn"`) are answered with `status` as by [`Control::fail_next`]; other requests are
    /// served as usual and do not count.
    pub fn fail_next_matching(&self, n: usize, status: u16, needle: &str) {
        lock(&self.shared.faults).fail_matching = (n > 0).then(|| (n, status, needle.to_owned()));
    }

    /// Adds `d` of real delay before every request is handled.
    pub fn set_latency(&self, d: Duration) {
        lock(&self.shared.faults).latency = d;
    }

    /// The next `n` requests get their connection closed with no response at all.
    pub fn drop_next(&self, n: usize) {
        lock(&self.shared.faults).drop = n;
    }

    /// Holds every request (new and arriving) without an answer until [`Control::resume`].
    pub fn pause(&self) {
        self.shared.paused.send_replace(true);
    }

    /// Lets held requests proceed.
    pub fn resume(&self) {
        self.shared.paused.send_replace(false);
    }

    /// Every request received so far, in arrival order, with the first [`MAX_RECORDED_BODY`]
    /// bytes of each body.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).clone()
    }

    /// How many requests arrived (including dropped and failed ones).
    pub fn request_count(&self) -> usize {
        *lock(&self.shared.received)
    }

    /// Forgets the request log and resets the count.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
        *lock(&self.shared.received) = 0;
    }

    /// Moves the sim clock forward by `d` and runs session expiry at once; TTLs and
    /// lock-delays are measured on this clock.
    pub fn advance_clock(&self, d: Duration) {
        self.shared.advance_clock(d);
    }

    /// Invalidates a session as the server would (locks released or keys deleted, lock-delay
    /// started). Returns whether the session existed.
    pub fn invalidate_session(&self, id: &str) -> bool {
        self.shared
            .write(|state, now| state.invalidate_session(id, now))
    }

    /// Every key and its value (an empty vector for a `null` value).
    pub fn kv_snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        self.shared.read(|s| {
            s.kv.entries
                .iter()
                .map(|(k, e)| (k.clone(), e.value.clone().unwrap_or_default()))
                .collect()
        })
    }

    /// The current value of the index counter.
    pub fn index(&self) -> u64 {
        self.shared.read(|s| s.index)
    }

    /// Simulates a leader change that loses history: the index (and every index recorded
    /// above it) goes back to `to`, and waiting blocking queries return at once.
    pub fn reset_index(&self, to: u64) {
        self.shared.write(|state, _| state.reset_index(to));
    }
}
