//! Best-effort announcements of an [`Event`]: the Consul user event `duncan-deploy`, Slack-
//! compatible webhooks and generic JSON webhooks.
//!
//! A notifier that fails never fails the change it announces: [`notify_all`] returns the failures
//! as [`NotifyWarning`]s. A webhook URL is a secret, so a warning names the notifier and the kind
//! of failure, never the URL (nor its host, which can identify a private endpoint). For the same
//! reason a webhook's redirect is not followed (a warning says so) and no `Referer` is sent.

use std::error::Error as _;
use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::{Event, USER_EVENT_NAME};
use crate::github::DiffLink;
use crate::settings::{NotifierConfig, Settings, WebhookUrl};

/// A notifier that could not deliver; the change itself is unaffected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyWarning {
    /// The notifier's configured name (or `consul-event`), never its URL.
    pub notifier: String,
    /// Why it failed, without the URL.
    pub reason: String,
}

impl fmt::Display for NotifyWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "notifier {} failed: {}", self.notifier, self.reason)
    }
}

/// The body sent to a Slack-compatible webhook.
#[derive(Debug, Serialize)]
struct SlackMessage<'a> {
    text: &'a str,
}

/// The body sent to a generic JSON webhook: the event's fields plus the diff link.
#[derive(Debug, Serialize)]
struct WebhookPayload<'a> {
    #[serde(flatten)]
    event: &'a Event,
    summary: String,
    diff_link: String,
}

/// The text a Slack-compatible webhook receives: like the Go tool's message, it names the app,
/// the environment, the tag and the diff link.
///
/// ```
/// use duncan_core::audit::{Event, EventKind, notify::slack_text};
/// use duncan_core::github::DiffLink;
/// use duncan_core::names::AppEnv;
///
/// let event = Event::new(&AppEnv::parse("web", "production")?, "bob@ci".parse()?,
///     EventKind::DeploySucceeded).with_tag("v7".parse()?);
/// let link = DiffLink::Compare { url: "https://github.com/acme/web/compare/v6...v7".into() };
/// assert_eq!(
///     slack_text(&event, &link),
///     "bob@ci deployed web v7 to production\nhttps://github.com/acme/web/compare/v6...v7",
/// );
/// # Ok::<(), duncan_core::names::NameError>(())
/// ```
pub fn slack_text(event: &Event, diff_link: &DiffLink) -> String {
    format!("{}\n{diff_link}", event.summary())
}

/// Announces `event` everywhere `settings` says, concurrently, and returns the failures.
///
/// Fires the Consul user event `duncan-deploy` (JSON payload: the event) when
/// [`Settings::fire_consul_event`] is set and `consul` is given, and posts to every configured
/// webhook with [`Settings::notify_timeout`]. Never fails: every problem is a warning.
pub async fn notify_all(
    settings: &Settings,
    consul: Option<&consul_client::Client>,
    event: &Event,
    diff_link: &DiffLink,
) -> Vec<NotifyWarning> {
    let mut warnings = Vec::new();
    let consul_event = async {
        match consul {
            Some(client) if settings.fire_consul_event => fire_user_event(client, event).await,
            _ => Ok(()),
        }
    };
    let webhooks = async {
        if settings.notifiers.is_empty() {
            return Vec::new();
        }
        // No redirect is followed and no `Referer` sent: the target of a redirect would get
        // the message, and the webhook URL (a secret) as the `Referer`.
        let http = match reqwest::Client::builder()
            .timeout(settings.notify_timeout)
            .connect_timeout(settings.notify_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .build()
        {
            Ok(http) => http,
            Err(e) => {
                return vec![NotifyWarning {
                    notifier: "webhooks".into(),
                    reason: format!("could not build the HTTP client: {}", describe(&e)),
                }];
            }
        };
        let sends = settings
            .notifiers
            .iter()
            .map(|n| send_one(&http, n, event, diff_link, settings.notify_timeout));
        futures_util::future::join_all(sends)
            .await
            .into_iter()
            .filter_map(Result::err)
            .collect()
    };
    let (consul_result, webhook_warnings) = tokio::join!(consul_event, webhooks);
    if let Err(reason) = consul_result {
        warnings.push(NotifyWarning {
            notifier: "consul-event".into(),
            reason,
        });
    }
    warnings.extend(webhook_warnings);
    warnings
}

/// Consul refuses user events over 512 bytes (name, payload and filters together); payloads are
/// kept under this many bytes.
const MAX_USER_EVENT_PAYLOAD: usize = 400;

/// The payload of the Consul user event: the event without its free-form message (which can be
/// long), and, should that still be too large, only app, env, kind and tag.
#[derive(Debug, Serialize)]
struct UserEventPayload<'a> {
    app: &'a str,
    env: &'a str,
    kind: super::EventKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_tag: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deployer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deployment_id: Option<&'a str>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    timestamp: Option<time::OffsetDateTime>,
}

/// The JSON payload fired as the Consul user event for `event`, at most 400 bytes: the event's
/// fields without its message, or only app, env, kind and tag when those do not fit.
pub fn user_event_payload(event: &Event) -> Vec<u8> {
    let full = UserEventPayload {
        app: event.app.as_str(),
        env: event.env.as_str(),
        kind: event.kind,
        tag: event.tag.as_ref().map(|t| t.as_str()),
        previous_tag: event.previous_tag.as_ref().map(|t| t.as_str()),
        deployer: Some(event.deployer.to_string()),
        deployment_id: event.deployment_id.as_deref(),
        timestamp: Some(event.timestamp),
    };
    let encoded = serde_json::to_vec(&full).unwrap_or_default();
    if !encoded.is_empty() && encoded.len() <= MAX_USER_EVENT_PAYLOAD {
        return encoded;
    }
    let minimal = UserEventPayload {
        previous_tag: None,
        deployer: None,
        deployment_id: None,
        timestamp: None,
        ..full
    };
    serde_json::to_vec(&minimal).unwrap_or_default()
}

/// Fires the Consul user event `duncan-deploy` with [`user_event_payload`] as its payload.
///
/// # Errors
///
/// A description of the failure (Consul errors never contain the token).
pub async fn fire_user_event(consul: &consul_client::Client, event: &Event) -> Result<(), String> {
    consul
        .event()
        .fire(
            USER_EVENT_NAME,
            &user_event_payload(event),
            &consul_client::EventFilter::new(),
        )
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn send_one(
    http: &reqwest::Client,
    notifier: &NotifierConfig,
    event: &Event,
    diff_link: &DiffLink,
    timeout: Duration,
) -> Result<(), NotifyWarning> {
    let (url, body) = match notifier {
        NotifierConfig::Slack { url, .. } => {
            let text = slack_text(event, diff_link);
            (url, serde_json::to_vec(&SlackMessage { text: &text }))
        }
        NotifierConfig::JsonWebhook { url, .. } => {
            let payload = WebhookPayload {
                event,
                summary: event.summary(),
                diff_link: diff_link.to_string(),
            };
            (url, serde_json::to_vec(&payload))
        }
    };
    let warn = |reason: String| NotifyWarning {
        notifier: notifier.name().to_owned(),
        reason,
    };
    let body = body.map_err(|e| warn(format!("could not encode the message: {e}")))?;
    let response = http
        .post(url.expose())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| warn(describe_send_error(&e, url, timeout)))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else if status.is_redirection() {
        Err(warn(format!(
            "the webhook answered HTTP {status}; redirects are not followed, so that the \
             message and the webhook URL go nowhere else: configure the URL it redirects to"
        )))
    } else {
        Err(warn(format!("the webhook answered HTTP {status}")))
    }
}

/// Describes a failed request without its URL, its host or anything from the URL.
fn describe_send_error(e: &reqwest::Error, url: &WebhookUrl, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {}s", timeout.as_secs_f64());
    }
    if url::Url::parse(url.expose()).is_err() || e.is_builder() {
        return "the configured webhook URL is not a valid URL".to_owned();
    }
    let what = if e.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    };
    let detail = scrub(&describe(e), url);
    if detail.is_empty() {
        what.to_owned()
    } else {
        format!("{what}: {detail}")
    }
}

/// The error's chain of causes, without the URL reqwest attaches to the top-level error.
fn describe(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = e.source();
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    parts.join(": ")
}

/// Removes every appearance of the URL, its host and its path from a message, in case a cause
/// repeats them.
fn scrub(message: &str, url: &WebhookUrl) -> String {
    let mut out = message.replace(url.expose(), "<webhook>");
    if let Ok(parsed) = url::Url::parse(url.expose()) {
        if let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) {
            out = out.replace(host, "<webhook host>");
        }
        let path = parsed.path();
        if path.len() > 1 {
            out = out.replace(path, "<webhook path>");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::EventKind;
    use crate::names::AppEnv;
    use axum::http::{HeaderMap, StatusCode, header};
    use tokio::sync::mpsc;

    /// Serves `router` on 127.0.0.1, port 0; returns `http://127.0.0.1:PORT`.
    async fn serve(router: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        url
    }

    #[tokio::test]
    async fn redirecting_webhook_is_a_warning_and_its_target_gets_nothing() {
        let (tx, mut reached_target) = mpsc::unbounded_channel::<HeaderMap>();
        let target = serve(axum::Router::new().fallback(move |headers: HeaderMap| {
            let _ = tx.send(headers);
            async { StatusCode::OK }
        }))
        .await;
        let location = format!("{target}/elsewhere");
        let hook = serve(axum::Router::new().fallback(move || {
            let location = location.clone();
            async move {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, location)],
                )
            }
        }))
        .await;
        let mut settings = Settings::new("alice@ci".parse().unwrap(), "test");
        settings.notifiers = vec![NotifierConfig::JsonWebhook {
            name: "hook".into(),
            url: WebhookUrl::new(format!("{hook}/hooks/T0/SECRET")),
        }];
        let event = Event::new(
            &AppEnv::parse("web", "stage").unwrap(),
            "alice@ci".parse().unwrap(),
            EventKind::DeploySucceeded,
        );
        let warnings = notify_all(&settings, None, &event, &DiffLink::NoChanges).await;
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let shown = warnings[0].to_string();
        assert!(
            shown.starts_with("notifier hook failed: the webhook answered HTTP 307"),
            "{shown}"
        );
        assert!(shown.contains("redirects are not followed"), "{shown}");
        assert!(!shown.contains("SECRET"), "{shown}");
        // Every request the target got would be queued by now: `notify_all` has returned.
        assert!(
            reached_target.try_recv().is_err(),
            "the redirect's target got a request"
        );
    }

    #[test]
    fn scrub_removes_url_host_and_path() {
        let url = WebhookUrl::new("https://hooks.example.com/services/T0/SECRET");
        let msg = "dns error for hooks.example.com at /services/T0/SECRET and \
                   https://hooks.example.com/services/T0/SECRET";
        let out = scrub(msg, &url);
        assert!(!out.contains("SECRET"), "{out}");
        assert!(!out.contains("hooks.example.com"), "{out}");
    }
}
