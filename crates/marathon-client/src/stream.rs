//! The event stream: one connection ([`EventStream`]) and a stream that reconnects by itself
//! ([`ReconnectingEventStream`]).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION};

use crate::client::{ERROR_BODY_LIMIT, origin_of, read_prefix, shown_url, unfollowed_redirect};
use crate::sse::{SseItem, SseParser};
use crate::{Client, Error, Event};

/// Options of an event stream subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventStreamOptions {
    /// Only these event types (`event_type=…`, repeatable); empty means all of them.
    /// [`crate::event_types`] has the names.
    pub event_types: Vec<String>,
    /// The stream fails with [`Error::StreamIdle`] when no byte (not even a keep-alive)
    /// arrives for this long. Marathon sends a keep-alive every 10 seconds; the default is
    /// 30 seconds.
    pub idle_timeout: Duration,
    /// Largest event accepted, in bytes (default 32 MiB). Full-format deployment events of a
    /// large group reach several megabytes; the streams ask for the light plan format anyway.
    pub max_event_bytes: usize,
    /// Redirects within the configured origin followed when connecting (default 5).
    pub max_redirects: usize,
}

impl Default for EventStreamOptions {
    fn default() -> Self {
        EventStreamOptions {
            event_types: Vec::new(),
            idle_timeout: Duration::from_secs(30),
            max_event_bytes: 32 * 1024 * 1024,
            max_redirects: 5,
        }
    }
}

impl EventStreamOptions {
    /// All event types, default limits.
    pub fn new() -> Self {
        EventStreamOptions::default()
    }

    /// Only these event types.
    #[must_use]
    pub fn with_event_types<I, S>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.event_types = types.into_iter().map(Into::into).collect();
        self
    }

    /// The idle watchdog's timeout.
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// The largest event accepted.
    #[must_use]
    pub fn with_max_event_bytes(mut self, limit: usize) -> Self {
        self.max_event_bytes = limit;
        self
    }
}

/// One connection to `/v2/events`, as a [`Stream`] of events.
///
/// An `Err(Error::Decode)` item (an event whose JSON is malformed) is not fatal and the
/// stream goes on; any other `Err` item is the last one (the connection is gone: closed,
/// idle, or failed). Keep-alives are not items of this stream; a
/// [`ReconnectingEventStream`] reports them as [`StreamItem::KeepAlive`].
///
/// # Cancel safety
///
/// `next()` is cancel safe: a `next()` future dropped before it completes (in a `select!`
/// whose other branch won, say) loses no event. Bytes already received stay in the parser
/// and events already parsed stay queued, so the next call yields them. Dropping the stream
/// itself closes the connection; events Marathon sends after that are not received (Marathon
/// replays nothing).
pub struct EventStream {
    inner: BoxStream<'static, Result<Frame, Error>>,
}

/// What one connection yields: an event, or a keep-alive.
#[allow(
    clippy::large_enum_variant,
    reason = "events are the common item; boxing them would cost an allocation each"
)]
enum Frame {
    Event(Event),
    KeepAlive,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

impl EventStream {
    /// The next event or keep-alive.
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame, Error>>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl Stream for EventStream {
    type Item = Result<Event, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            return match self.poll_frame(cx) {
                Poll::Ready(Some(Ok(Frame::KeepAlive))) => continue,
                Poll::Ready(Some(Ok(Frame::Event(event)))) => Poll::Ready(Some(Ok(event))),
                Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(error))),
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
        }
    }
}

struct Connection {
    /// Where the stream comes from (origin only), for errors.
    address: String,
    body: BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    parser: SseParser,
    idle_timeout: Duration,
    pending: VecDeque<Result<Frame, Error>>,
    finished: bool,
}

impl Connection {
    async fn next_item(&mut self) -> Option<Result<Frame, Error>> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(item);
            }
            if self.finished {
                return None;
            }
            let failure = match tokio::time::timeout(self.idle_timeout, self.body.next()).await {
                Err(_) => Error::StreamIdle {
                    after: self.idle_timeout,
                },
                Ok(None) => Error::StreamClosed,
                Ok(Some(Err(e))) => {
                    Error::transport(format!("reading the event stream of {}", self.address), e)
                }
                Ok(Some(Ok(bytes))) => match self.parser.push_items(&bytes) {
                    Ok(items) => {
                        self.queue(items);
                        continue;
                    }
                    Err(e) => e,
                },
            };
            self.finished = true;
            return Some(Err(failure));
        }
    }

    /// Turns what one chunk completed into frames waiting to be yielded.
    fn queue(&mut self, items: Vec<SseItem>) {
        for item in items {
            match item {
                SseItem::Message(message) => {
                    let event =
                        Event::parse(message.event.as_deref(), &message.data).map_err(|e| {
                            let name = message.event.as_deref().unwrap_or("unnamed");
                            Error::decode(format!("{name} event"), e)
                        });
                    self.pending.push_back(event.map(Frame::Event));
                }
                // Several keep-alives in one chunk say no more than one.
                SseItem::KeepAlive => {
                    if !matches!(self.pending.back(), Some(Ok(Frame::KeepAlive))) {
                        self.pending.push_back(Ok(Frame::KeepAlive));
                    }
                }
            }
        }
    }
}

impl Client {
    /// Subscribes to `GET /v2/events` (with `Accept: text/event-stream`, the chosen
    /// `event_type` filters and `plan-format=light`) and returns once Marathon has answered
    /// with an event stream, so no event after this call returns can be missed.
    ///
    /// A redirect within the configured origin (scheme, host and port, such as a path
    /// prefix being added) is followed with the `Authorization` header. A redirect to another
    /// origin is refused with [`Error::CrossOriginRedirect`]: the credentials go nowhere
    /// else (Marathon proxies to its leader itself, so it never needs one).
    ///
    /// # Errors
    /// [`Error::NotAnEventStream`] when the answer is not `text/event-stream`;
    /// [`Error::Unauthorized`], [`Error::Forbidden`], [`Error::Unavailable`]… for error
    /// statuses; [`Error::CrossOriginRedirect`], and [`Error::Redirect`] for redirect loops; [`Error::Transport`] when Marathon
    /// cannot be reached or does not answer within the request timeout.
    pub async fn events(&self, options: &EventStreamOptions) -> Result<EventStream, Error> {
        let mut query: Vec<(&str, &str)> = options
            .event_types
            .iter()
            .map(|t| ("event_type", t.as_str()))
            .collect();
        query.push(("plan-format", "light"));
        let mut url = self.url(&["v2", "events"], &query)?;
        let mut redirects = 0;
        let mut logged_in_again = false;
        let timeout = self.inner.config.request_timeout;
        loop {
            let context = format!("GET {}", shown_url(&url));
            let mut request = self
                .inner
                .stream_http
                .get(url.clone())
                .header(ACCEPT, "text/event-stream");
            let auth = self.inner.auth.header(&self.inner.http).await?;
            if let Some(auth) = &auth {
                request = request.header(AUTHORIZATION, auth.clone());
            }
            let response = match tokio::time::timeout(timeout, request.send()).await {
                Ok(result) => result.map_err(|e| Error::transport(context.clone(), e))?,
                Err(_) => {
                    return Err(Error::StreamIdle { after: timeout });
                }
            };
            let status = response.status();
            if status.is_redirection() {
                let base = &self.inner.config.base_url;
                let next = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|location| url.join(location).ok());
                // Only a redirect within the configured origin is followed, with credentials.
                let Some(next) = next.filter(|next| next.origin() == base.origin()) else {
                    return Err(unfollowed_redirect(status, response.headers(), &url, base));
                };
                redirects += 1;
                if redirects > options.max_redirects {
                    return Err(Error::Redirect {
                        reason: format!("more than {} redirects", options.max_redirects),
                    });
                }
                tracing::debug!(from = %url.path(), to = %next.path(), "event stream redirected");
                url = next;
                continue;
            }
            if status == StatusCode::UNAUTHORIZED
                && !logged_in_again
                && self.inner.auth.forget(auth.as_ref()).await
            {
                // A service account's token expired: log in again, once.
                logged_in_again = true;
                continue;
            }
            if !status.is_success() {
                let body = tokio::time::timeout(timeout, read_prefix(response, ERROR_BODY_LIMIT))
                    .await
                    .unwrap_or_default();
                return Err(Error::from_response(status, &body, &self.address()));
            }
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let is_sse = content_type.as_deref().is_some_and(|ct| {
                ct.trim()
                    .to_ascii_lowercase()
                    .starts_with("text/event-stream")
            });
            if status != StatusCode::OK || !is_sse {
                return Err(Error::NotAnEventStream {
                    status: status.as_u16(),
                    content_type,
                });
            }
            let connection = Connection {
                address: origin_of(&url),
                body: response.bytes_stream().boxed(),
                parser: SseParser::new(options.max_event_bytes),
                idle_timeout: options.idle_timeout,
                pending: VecDeque::new(),
                finished: false,
            };
            let inner = futures_util::stream::unfold(connection, |mut connection| async move {
                let item = connection.next_item().await?;
                Some((item, connection))
            })
            .boxed();
            return Ok(EventStream { inner });
        }
    }

    /// Subscribes like [`Client::events`] and keeps the subscription alive: when the
    /// connection drops, it yields [`StreamItem::Disconnected`], reconnects with jittered
    /// exponential backoff (reset only by a connection that proved itself; see
    /// [`ReconnectPolicy`]), and yields [`StreamItem::Reconnected`] once subscribed again.
    /// Each keep-alive Marathon sends (every 10 seconds) is yielded as
    /// [`StreamItem::KeepAlive`], so the consumer can tell a quiet stream from a silent one
    /// long before the idle watchdog ([`EventStreamOptions::idle_timeout`]) drops it.
    ///
    /// Marathon replays nothing, so events between the two are lost: on `Reconnected` the
    /// consumer should re-read what it watches over REST. The first connection is made
    /// before this returns, so its failure (bad URL, credentials, not an event stream) is
    /// reported at once.
    ///
    /// # Errors
    /// As [`Client::events`], for the first connection.
    pub async fn reconnecting_events(
        &self,
        options: EventStreamOptions,
        policy: ReconnectPolicy,
    ) -> Result<ReconnectingEventStream, Error> {
        let first = self.events(&options).await?;
        let state = Reconnecting {
            client: self.clone(),
            options,
            policy,
            current: Some(first),
            connected_at: tokio::time::Instant::now(),
            failed_attempts: 0,
            backoff_step: 0,
            finished: false,
        };
        let inner = futures_util::stream::unfold(state, |mut state| async move {
            let item = state.next_item().await?;
            Some((item, state))
        })
        .boxed();
        Ok(ReconnectingEventStream { inner })
    }
}

/// How a [`ReconnectingEventStream`] waits between connection attempts.
///
/// The delay doubles with every attempt since the last connection that proved itself, and
/// only such a connection starts it again from `min_delay`: one that delivered an event other
/// than `event_stream_attached`, or stayed open for 10 seconds (Marathon's keep-alive
/// interval). A subscription that succeeds but is closed at once (a proxy that drops the
/// stream, a Marathon that keeps failing) therefore does not reconnect, and make its consumer
/// re-read state, at the shortest delay over and over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectPolicy {
    /// Delay before the first attempt after a drop.
    pub min_delay: Duration,
    /// Longest delay between attempts.
    pub max_delay: Duration,
    /// Consecutive failed attempts (subscriptions refused or not answered) after which the
    /// stream gives up with the last error; `None` retries forever.
    pub max_attempts: Option<usize>,
}

impl Default for ReconnectPolicy {
    /// 100 ms doubling up to 5 s, forever.
    fn default() -> Self {
        ReconnectPolicy {
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            max_attempts: None,
        }
    }
}

impl ReconnectPolicy {
    /// The delay before attempt `attempt` (0-based): exponential, capped, with "equal
    /// jitter" (between half and all of it), so clients dropped together do not reconnect
    /// together.
    fn delay(&self, attempt: usize) -> Duration {
        let exponent = u32::try_from(attempt.min(20)).unwrap_or(20);
        let base = self
            .min_delay
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(self.max_delay);
        base.mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

/// An item of a [`ReconnectingEventStream`].
#[derive(Debug)]
#[non_exhaustive]
#[allow(
    clippy::large_enum_variant,
    reason = "events are the common item; boxing them would cost an allocation each"
)]
pub enum StreamItem {
    /// An event.
    Event(Event),
    /// The connection dropped; the stream is reconnecting. Until `Reconnected`, events are
    /// being missed.
    Disconnected(Error),
    /// The stream is subscribed again after a drop; events may have been missed, so re-read
    /// state over REST.
    Reconnected,
    /// A keep-alive arrived (Marathon sends one every 10 seconds while no event is due): the
    /// connection is alive. A consumer that has heard nothing, not even this, for longer than
    /// the keep-alive interval may treat the stream as stalled without waiting for the idle
    /// watchdog.
    KeepAlive,
}

/// A stream of events that reconnects by itself; see [`Client::reconnecting_events`].
///
/// An `Err(Error::Decode)` item is not fatal; any other `Err` item is the last one: the
/// server refused the subscription for good (credentials, not an event stream), or
/// [`ReconnectPolicy::max_attempts`] ran out.
///
/// Like every Rust stream it does its work when polled: reconnect attempts run while the
/// consumer waits for the next item.
///
/// # Cancel safety
///
/// `next()` is cancel safe: dropping a `next()` future before it completes loses no item.
/// Events already received stay queued, and a reconnect in progress (its delay or its
/// subscription request) is resumed by the next call, which then yields
/// [`StreamItem::Reconnected`] as usual. Dropping the stream closes the connection and stops
/// reconnecting.
pub struct ReconnectingEventStream {
    inner: BoxStream<'static, Result<StreamItem, Error>>,
}

impl std::fmt::Debug for ReconnectingEventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReconnectingEventStream")
            .finish_non_exhaustive()
    }
}

impl Stream for ReconnectingEventStream {
    type Item = Result<StreamItem, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

struct Reconnecting {
    client: Client,
    options: EventStreamOptions,
    policy: ReconnectPolicy,
    current: Option<EventStream>,
    /// When `current` subscribed.
    connected_at: tokio::time::Instant,
    /// Failed subscriptions in a row, for [`ReconnectPolicy::max_attempts`].
    failed_attempts: usize,
    /// Attempts since the last connection that proved itself (see [`HEALTHY_AFTER`]): the
    /// exponent of the next delay.
    backoff_step: usize,
    finished: bool,
}

/// A connection that stays open this long (Marathon's keep-alive interval) has proved itself,
/// and the reconnect delay starts again from [`ReconnectPolicy::min_delay`] after it drops.
const HEALTHY_AFTER: Duration = Duration::from_secs(10);

/// Errors no reconnect can cure: the server refuses this client or this request.
fn is_permanent(error: &Error) -> bool {
    matches!(
        error,
        Error::Unauthorized { .. }
            | Error::Forbidden { .. }
            | Error::NotFound { .. }
            | Error::NotAnEventStream { .. }
            | Error::InvalidInput { .. }
            | Error::Invalid { .. }
            | Error::Redirect { .. }
            | Error::CrossOriginRedirect { .. }
            | Error::NotMarathon { .. }
    ) || matches!(error, Error::Server { status, .. } if (400..500).contains(status))
}

impl Reconnecting {
    async fn next_item(&mut self) -> Option<Result<StreamItem, Error>> {
        if self.finished {
            return None;
        }
        if let Some(stream) = self.current.as_mut() {
            let item = futures_util::future::poll_fn(|cx| stream.poll_frame(cx)).await;
            let error = match item {
                Some(Ok(Frame::Event(event))) => {
                    // An event past the greeting: the connection works.
                    if !matches!(event, Event::EventStreamAttached(_)) {
                        self.backoff_step = 0;
                    }
                    return Some(Ok(StreamItem::Event(event)));
                }
                Some(Ok(Frame::KeepAlive)) => return Some(Ok(StreamItem::KeepAlive)),
                Some(Err(error @ Error::Decode { .. })) => return Some(Err(error)),
                Some(Err(error)) => error,
                None => Error::StreamClosed,
            };
            self.current = None;
            if self.connected_at.elapsed() >= HEALTHY_AFTER {
                self.backoff_step = 0;
            }
            tracing::debug!(%error, "event stream dropped; reconnecting");
            return Some(Ok(StreamItem::Disconnected(error)));
        }
        loop {
            let delay = self.policy.delay(self.backoff_step);
            self.backoff_step = self.backoff_step.saturating_add(1);
            tokio::time::sleep(delay).await;
            match self.client.events(&self.options).await {
                Ok(stream) => {
                    self.current = Some(stream);
                    self.connected_at = tokio::time::Instant::now();
                    self.failed_attempts = 0;
                    return Some(Ok(StreamItem::Reconnected));
                }
                Err(error) => {
                    self.failed_attempts += 1;
                    let exhausted = self
                        .policy
                        .max_attempts
                        .is_some_and(|max| self.failed_attempts >= max);
                    if is_permanent(&error) || exhausted {
                        self.finished = true;
                        return Some(Err(error));
                    }
                    tracing::debug!(%error, attempt = self.failed_attempts, "event stream reconnect failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_delay_is_jittered_and_capped() {
        let policy = ReconnectPolicy {
            min_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_attempts: None,
        };
        for attempt in 0..40 {
            let delay = policy.delay(attempt);
            assert!(delay <= Duration::from_secs(1), "{delay:?}");
            assert!(delay >= Duration::from_millis(50), "{delay:?}");
        }
    }
}
