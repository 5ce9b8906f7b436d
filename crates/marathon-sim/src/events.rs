//! The event bus and the server-sent event stream of `GET /v2/events`.
//!
//! Every subscriber owns a bounded buffer of rendered events. Publishing never waits: a
//! subscriber whose buffer is full is dropped and its connection closed, as Marathon does with
//! slow consumers. A writer task per subscriber moves events and keep-alives to the HTTP body.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use serde_json::{Map, Value};
use tokio::sync::{Notify, mpsc, watch};

/// An event waiting to be published: its type and body without `eventType` and `timestamp`.
#[derive(Debug, Clone)]
pub(crate) struct OutEvent {
    pub(crate) kind: &'static str,
    pub(crate) body: Map<String, Value>,
    pub(crate) timestamp: String,
    /// The deployment plan, rendered only when someone listens; replaces `"plan": null` in `body`.
    pub(crate) plan: Option<Arc<PlanJson>>,
}

impl OutEvent {
    fn render(&self, light: bool) -> Bytes {
        let mut body = self.body.clone();
        body.insert("eventType".to_owned(), Value::String(self.kind.to_owned()));
        body.insert(
            "timestamp".to_owned(),
            Value::String(self.timestamp.clone()),
        );
        let mut json = Value::Object(body).to_string();
        if let Some(plan) = &self.plan {
            // The placeholder is the first `"plan":null`: object keys come before any nested value.
            json = json.replacen(
                "\"plan\":null",
                &format!("\"plan\":{}", plan.render(light)),
                1,
            );
        }
        Bytes::from(format!("event: {}\r\ndata: {}\r\n\r\n", self.kind, json))
    }
}

/// A deployment plan as events carry it; the light format leaves out the original and target
/// root groups, which can be megabytes.
#[derive(Debug)]
pub(crate) struct PlanJson {
    pub(crate) id: String,
    pub(crate) version: String,
    pub(crate) steps: Value,
    pub(crate) original: Value,
    pub(crate) target: Value,
    full: std::sync::OnceLock<String>,
    light: std::sync::OnceLock<String>,
}

impl PlanJson {
    pub(crate) fn new(
        id: String,
        version: String,
        steps: Value,
        original: Value,
        target: Value,
    ) -> PlanJson {
        PlanJson {
            id,
            version,
            steps,
            original,
            target,
            full: Default::default(),
            light: Default::default(),
        }
    }

    fn render(&self, light: bool) -> &str {
        let cell = if light { &self.light } else { &self.full };
        cell.get_or_init(|| {
            let mut plan = Map::new();
            plan.insert("id".to_owned(), Value::String(self.id.clone()));
            if !light {
                plan.insert("original".to_owned(), self.original.clone());
                plan.insert("target".to_owned(), self.target.clone());
            }
            plan.insert("steps".to_owned(), self.steps.clone());
            plan.insert("version".to_owned(), Value::String(self.version.clone()));
            Value::Object(plan).to_string()
        })
    }
}

struct Subscriber {
    filter: Option<Vec<String>>,
    light: bool,
    tx: mpsc::Sender<Bytes>,
    close: Arc<Notify>,
}

impl Subscriber {
    fn wants(&self, kind: &str) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|f| f.iter().any(|k| k == kind))
    }
}

const DEPLOYMENT_EVENTS: [&str; 5] = [
    "deployment_step_failure",
    "deployment_info",
    "deployment_step_success",
    "deployment_success",
    "deployment_failed",
];

/// What a new subscription asks for.
pub(crate) struct Subscription {
    pub(crate) filter: Option<Vec<String>>,
    pub(crate) light: bool,
    pub(crate) remote_address: String,
    pub(crate) timestamp: String,
}

/// Fans events out to every open stream.
pub(crate) struct EventBus {
    subscribers: Mutex<Vec<Subscriber>>,
    stalled: watch::Sender<bool>,
    buffer: usize,
}

impl EventBus {
    pub(crate) fn new(buffer: usize) -> EventBus {
        EventBus {
            subscribers: Mutex::new(Vec::new()),
            stalled: watch::Sender::new(false),
            buffer: buffer.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Subscriber>> {
        self.subscribers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends the events to every subscriber that wants them, dropping those that cannot keep up.
    pub(crate) fn publish(&self, events: &[OutEvent]) {
        let mut subs = self.lock();
        if subs.is_empty() {
            return;
        }
        for event in events {
            let mut full: Option<Bytes> = None;
            let mut light: Option<Bytes> = None;
            subs.retain(|sub| {
                if !sub.wants(event.kind) {
                    return true;
                }
                let frame = if sub.light {
                    light.get_or_insert_with(|| event.render(true)).clone()
                } else {
                    full.get_or_insert_with(|| event.render(false)).clone()
                };
                if sub.tx.try_send(frame).is_ok() {
                    true
                } else {
                    // Full (slow consumer) or gone: either way this subscriber ends here.
                    sub.close.notify_one();
                    false
                }
            });
        }
    }

    /// Closes every open stream now.
    pub(crate) fn drop_all(&self) {
        for sub in self.lock().drain(..) {
            sub.close.notify_one();
        }
    }

    pub(crate) fn set_stalled(&self, stalled: bool) {
        self.stalled.send_replace(stalled);
    }

    /// Whether a subscriber would receive full plans of deployment events.
    pub(crate) fn wants_full_plans(&self) -> bool {
        self.lock()
            .iter()
            .any(|s| !s.light && DEPLOYMENT_EVENTS.iter().any(|k| s.wants(k)))
    }

    pub(crate) fn subscriber_count(&self) -> usize {
        // A stream whose client went away is only noticed at the next publish; skip it here.
        self.lock().iter().filter(|s| !s.tx.is_closed()).count()
    }

    /// Opens a stream: its first event is `event_stream_attached` (when the filter allows it).
    pub(crate) fn subscribe(&self, sub: Subscription, keepalive: Duration) -> Body {
        let (tx, rx) = mpsc::channel(self.buffer);
        let close = Arc::new(Notify::new());
        let subscriber = Subscriber {
            filter: sub.filter,
            light: sub.light,
            tx,
            close: Arc::clone(&close),
        };
        let mut attached = Map::new();
        attached.insert(
            "remoteAddress".to_owned(),
            Value::String(sub.remote_address),
        );
        let attached = OutEvent {
            kind: "event_stream_attached",
            body: attached,
            timestamp: sub.timestamp,
            plan: None,
        };
        {
            // Registered under the lock after the attach event, so nothing can overtake it.
            let mut subs = self.lock();
            if subscriber.wants(attached.kind) {
                let _ = subscriber.tx.try_send(attached.render(subscriber.light));
            }
            subs.push(subscriber);
        }
        let (body_tx, body_rx) = mpsc::channel::<Result<Bytes, Infallible>>(1);
        tokio::spawn(write_stream(
            rx,
            close,
            self.stalled.subscribe(),
            keepalive,
            body_tx,
        ));
        Body::from_stream(futures_util::stream::unfold(body_rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        }))
    }
}

async fn write_stream(
    mut events: mpsc::Receiver<Bytes>,
    close: Arc<Notify>,
    mut stalled: watch::Receiver<bool>,
    keepalive: Duration,
    body: mpsc::Sender<Result<Bytes, Infallible>>,
) {
    let keepalive = keepalive.max(Duration::from_millis(1));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + keepalive, keepalive);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        while *stalled.borrow_and_update() {
            tokio::select! {
                () = close.notified() => return,
                changed = stalled.changed() => if changed.is_err() { return },
            }
        }
        let frame = tokio::select! {
            biased;
            () = close.notified() => return,
            _ = stalled.changed() => continue,
            event = events.recv() => match event {
                Some(frame) => frame,
                None => return,
            },
            _ = tick.tick() => Bytes::from_static(b"\r\n"),
        };
        tokio::select! {
            () = close.notified() => return,
            sent = body.send(Ok(frame)) => if sent.is_err() { return },
        }
    }
}
