//! The accept loop: one hyper connection per client, with the test's faults (dropped
//! connections, pause, latency, injected errors) and the request log applied before routing.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use axum::routing::{any, get};
use bytes::Bytes;
use futures_util::StreamExt as _;
use http::{Request, StatusCode};
use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::http::text;
use crate::shared::{Shared, lock};
use crate::{MAX_RECORDED_BODY, RecordedRequest};
use crate::{events, kv, misc, session, txn};

/// The routes Consul serves, as far as the sim goes.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/kv", any(kv::endpoint))
        .route("/v1/kv/", any(kv::endpoint))
        .route("/v1/kv/{*key}", any(kv::endpoint))
        .route("/v1/txn", any(txn::endpoint))
        .route("/v1/session/{*rest}", any(session::endpoint))
        .route("/v1/event/{*rest}", any(events::endpoint))
        .route("/v1/status/leader", get(misc::leader))
        .route("/v1/status/peers", get(misc::peers))
        .route("/v1/agent/self", get(misc::agent_self))
        .route("/v1/acl/token/self", get(misc::token_self))
        .route("/v1/acl/{*rest}", any(misc::acl_other))
        .fallback(misc::not_found)
        .with_state(shared)
}

/// The error that makes hyper close a connection without answering.
#[derive(Debug)]
struct DroppedByTest;

impl std::fmt::Display for DroppedByTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the test's drop_next")
    }
}

impl std::error::Error for DroppedByTest {}

/// The body Consul-like servers send with an injected status.
fn fault_response(status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match code.as_u16() {
        429 => "rate limit exceeded, try a different server".to_owned(),
        500 => "rpc error making call: No cluster leader".to_owned(),
        503 => "rate limit exceeded, try again later".to_owned(),
        other => format!(
            "{other} {}",
            code.canonical_reason().unwrap_or("Unknown Status")
        ),
    };
    text(code, body)
}

fn record(shared: &Shared, req: &Request<Incoming>) -> usize {
    let recorded = RecordedRequest {
        method: req.method().to_string(),
        path_and_query: req
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str().to_owned())
            .unwrap_or_else(|| req.uri().path().to_owned()),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: Vec::new(),
        status: 0,
    };
    *lock(&shared.received) += 1;
    let mut log = lock(&shared.log);
    log.push(recorded);
    log.len() - 1
}

/// Reads the first [`MAX_RECORDED_BODY`] bytes of the body into the log slot and gives back a
/// body that yields everything the client sent: the part read here, then the rest unread, so
/// the endpoints still see (and size-check) the whole body.
async fn record_body(shared: &Shared, slot: usize, body: Incoming) -> Body {
    let mut stream = Body::new(body).into_data_stream();
    let mut head: Vec<Result<Bytes, axum::Error>> = Vec::new();
    let mut recorded: Vec<u8> = Vec::new();
    while recorded.len() < MAX_RECORDED_BODY {
        match stream.next().await {
            Some(Ok(chunk)) => {
                let room = MAX_RECORDED_BODY - recorded.len();
                recorded.extend_from_slice(chunk.get(..room).unwrap_or(&chunk));
                head.push(Ok(chunk));
            }
            Some(Err(e)) => {
                head.push(Err(e));
                break;
            }
            None => break,
        }
    }
    if let Some(r) = lock(&shared.log).get_mut(slot) {
        r.body = recorded;
    }
    Body::from_stream(futures_util::stream::iter(head).chain(stream))
}

fn set_status(shared: &Shared, slot: usize, status: u16) {
    if let Some(r) = lock(&shared.log).get_mut(slot) {
        r.status = status;
    }
}

/// Serves one request with the test's faults applied.
async fn handle(
    shared: Arc<Shared>,
    router: TowerToHyperService<Router>,
    req: Request<Incoming>,
) -> Result<Response, DroppedByTest> {
    let slot = record(&shared, &req);
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_default();
    let (parts, body) = req.into_parts();
    let req = Request::from_parts(parts, record_body(&shared, slot, body).await);
    let drop_it = {
        let mut faults = lock(&shared.faults);
        let drop_it = faults.drop > 0;
        faults.drop = faults.drop.saturating_sub(1);
        drop_it
    };
    if drop_it {
        return Err(DroppedByTest);
    }
    let mut paused = shared.paused.subscribe();
    // An error here means the sim is shutting down; the request is then simply answered.
    let _ = paused.wait_for(|p| !*p).await;
    let latency = lock(&shared.faults).latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let injected = {
        let mut faults = lock(&shared.faults);
        match (faults.fail, faults.fail_matching.take()) {
            (Some((n, status)), matching) if n > 0 => {
                faults.fail = (n > 1).then_some((n - 1, status));
                faults.fail_matching = matching;
                Some(status)
            }
            (_, Some((n, status, needle))) if n > 0 && path_and_query.contains(&needle) => {
                faults.fail_matching = (n > 1).then_some((n - 1, status, needle));
                Some(status)
            }
            (_, matching) => {
                faults.fail_matching = matching;
                None
            }
        }
    };
    let resp = match injected {
        Some(status) => fault_response(status),
        None => match router.call(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        },
    };
    set_status(&shared, slot, resp.status().as_u16());
    Ok(resp.map(Body::new))
}

/// Accepts connections until `shutdown` turns true; dropping the join set then aborts every
/// connection still open (including blocking queries in flight).
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let router = TowerToHyperService::new(router(shared.clone()));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        continue;
                    }
                };
                let shared = shared.clone();
                let router = router.clone();
                let tls = tls.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        handle(shared.clone(), router.clone(), req)
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    let served = match tls {
                        None => http.serve_connection(TokioIo::new(stream), service).await,
                        // A client refused in the handshake (no certificate, another CA's, or
                        // one that does not trust ours) is never seen by the routes.
                        Some(tls) => match tls.accept(stream).await {
                            Ok(stream) => http.serve_connection(TokioIo::new(stream), service).await,
                            Err(e) => {
                                tracing::debug!(error = %e, "TLS handshake failed");
                                return;
                            }
                        },
                    };
                    if let Err(e) = served {
                        tracing::debug!(error = %e, "connection ended");
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
