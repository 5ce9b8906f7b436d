//! Sessions: create, renew, destroy, info, list.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::client::{Request, Retry, segment};
use crate::error::{Error, InvalidInput, Result};
use crate::query::{QueryMeta, QueryOptions};
use crate::validate;
use crate::{Client, duration};

/// Shortest TTL Consul accepts.
pub const MIN_TTL: Duration = Duration::from_secs(10);
/// Longest TTL Consul accepts.
pub const MAX_TTL: Duration = Duration::from_secs(86_400);
/// Longest lock-delay Consul accepts.
pub const MAX_LOCK_DELAY: Duration = Duration::from_secs(60);

/// What happens to the locks a session holds when it is invalidated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SessionBehavior {
    /// The locks are released; the keys stay (Consul's default).
    #[default]
    Release,
    /// The locked keys are deleted.
    Delete,
    /// A behaviour this client does not know (from a newer Consul).
    #[serde(other, skip_serializing)]
    Unknown,
}

/// The body of a session-create request. Unset fields take Consul's defaults (lock-delay
/// 15 s, behaviour `release`, the node's `serfHealth` check, no TTL).
///
/// ```
/// use std::time::Duration;
/// use consul_client::{SessionBehavior, SessionRequest};
///
/// let req = SessionRequest::new("deploy lock")
///     .ttl(Duration::from_secs(30))
///     .lock_delay(Duration::from_secs(15))
///     .behavior(SessionBehavior::Release);
/// assert_eq!(
///     serde_json::to_string(&req).unwrap(),
///     r#"{"Name":"deploy lock","LockDelay":"15s","Behavior":"release","TTL":"30s"}"#
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
#[must_use]
pub struct SessionRequest {
    /// A human-readable name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The node to tie the session to (default: the agent's node).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// How long a released lock stays unacquirable after its session is invalidated.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "go_duration"
    )]
    pub lock_delay: Option<Duration>,
    /// What happens to held locks when the session is invalidated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub behavior: Option<SessionBehavior>,
    /// Time to live: the session is invalidated when not renewed in time (10 s – 24 h).
    #[serde(
        rename = "TTL",
        skip_serializing_if = "Option::is_none",
        serialize_with = "go_duration"
    )]
    pub ttl: Option<Duration>,
    /// Health checks (legacy field) whose failure invalidates the session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checks: Option<Vec<String>>,
    /// Node health checks whose failure invalidates the session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_checks: Option<Vec<String>>,
}

fn go_duration<S: Serializer>(d: &Option<Duration>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&duration::format(*d)),
        None => s.serialize_none(),
    }
}

impl SessionRequest {
    /// A request for a session named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            ..Self::default()
        }
    }

    /// Sets the TTL.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Sets the lock-delay.
    pub fn lock_delay(mut self, delay: Duration) -> Self {
        self.lock_delay = Some(delay);
        self
    }

    /// Sets the behaviour on invalidation.
    pub fn behavior(mut self, behavior: SessionBehavior) -> Self {
        self.behavior = Some(behavior);
        self
    }

    /// Sets the node.
    pub fn node(mut self, node: impl Into<String>) -> Self {
        self.node = Some(node.into());
        self
    }

    /// Sets the legacy `Checks` list (an empty list means "no health checks": only the TTL
    /// keeps the session alive).
    pub fn checks(mut self, checks: Vec<String>) -> Self {
        self.checks = Some(checks);
        self
    }

    /// Sets the `NodeChecks` list.
    pub fn node_checks(mut self, checks: Vec<String>) -> Self {
        self.node_checks = Some(checks);
        self
    }

    fn validate(&self) -> Result<(), InvalidInput> {
        if let Some(ttl) = self.ttl
            && ttl != Duration::ZERO
            && !(MIN_TTL..=MAX_TTL).contains(&ttl)
        {
            return Err(InvalidInput::Duration {
                what: "session TTL",
                value: ttl,
                reason: "Consul accepts 10s to 86400s",
            });
        }
        if let Some(delay) = self.lock_delay
            && delay > MAX_LOCK_DELAY
        {
            return Err(InvalidInput::Duration {
                what: "lock-delay",
                value: delay,
                reason: "Consul accepts at most 60s",
            });
        }
        if self.behavior == Some(SessionBehavior::Unknown) {
            return Err(InvalidInput::Options(
                "session behavior must be release or delete",
            ));
        }
        Ok(())
    }
}

/// A session as Consul describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct SessionEntry {
    /// The session id (a UUID).
    #[serde(rename = "ID")]
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// The node it is tied to.
    #[serde(default)]
    pub node: String,
    /// Its lock-delay.
    #[serde(default, deserialize_with = "lock_delay")]
    pub lock_delay: Duration,
    /// What happens to its locks when it is invalidated.
    #[serde(default)]
    pub behavior: SessionBehavior,
    /// Its TTL, when it has one.
    #[serde(rename = "TTL", default, deserialize_with = "ttl")]
    pub ttl: Option<Duration>,
    /// The node checks tied to it.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub node_checks: Vec<String>,
    /// The legacy checks list, as older Consul versions report it.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub checks: Vec<String>,
    /// Index of its creation.
    #[serde(default)]
    pub create_index: u64,
    /// Index of its last change.
    #[serde(default)]
    pub modify_index: u64,
}

// Consul reports LockDelay in nanoseconds; accept a Go duration string too, for tolerance.
fn lock_delay<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Nanos(u64),
        Text(String),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(Duration::ZERO),
        Some(Raw::Nanos(n)) => Ok(Duration::from_nanos(n)),
        Some(Raw::Text(t)) => duration::parse(&t)
            .ok_or_else(|| serde::de::Error::custom(format!("bad LockDelay {t:?}"))),
    }
}

fn ttl<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Duration>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(t) if t.is_empty() => Ok(None),
        Some(t) => duration::parse(&t)
            .map(|d| (d > Duration::ZERO).then_some(d))
            .ok_or_else(|| serde::de::Error::custom(format!("bad TTL {t:?}"))),
    }
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

#[derive(Deserialize)]
struct Created {
    #[serde(rename = "ID")]
    id: String,
}

/// The sessions API; get one with [`Client::session`].
#[derive(Debug, Clone, Copy)]
pub struct Session<'a> {
    client: &'a Client,
}

impl Client {
    /// The sessions API.
    pub fn session(&self) -> Session<'_> {
        Session { client: self }
    }
}

impl Session<'_> {
    /// Creates a session and returns its id.
    ///
    /// Refused before sending: a TTL outside 10 s – 24 h, a lock-delay over 60 s. Not retried
    /// after it may have reached Consul (a retry could create a second session).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for what is refused before sending (above);
    /// [`Error::UnexpectedResponse`](crate::Error::UnexpectedResponse) when Consul's answer holds no valid session id; otherwise
    /// [`Error::Transport`](crate::Error::Transport), [`Error::Certificate`](crate::Error::Certificate), the error statuses
    /// ([`Error::PermissionDenied`](crate::Error::PermissionDenied), [`Error::AclNotFound`](crate::Error::AclNotFound), [`Error::RateLimited`](crate::Error::RateLimited),
    /// [`Error::Server`](crate::Error::Server)), [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge), and [`Error::Decode`](crate::Error::Decode) for an answer that is
    /// not Consul's JSON.
    pub async fn create(&self, req: &SessionRequest) -> Result<String> {
        req.validate()?;
        let body = serde_json::to_vec(req).map_err(|source| Error::Decode {
            context: "encoding a session request".to_owned(),
            source,
        })?;
        let resp = self
            .client
            .send(&Request::put("session/create".to_owned()).body(body))
            .await?;
        let created: Created = resp.json("a session create")?;
        validate::uuid("session id", &created.id).map_err(|_| Error::UnexpectedResponse {
            message: format!("session create returned the id {:?}", created.id),
        })?;
        Ok(created.id)
    }

    /// Renews a session's TTL and returns the session. [`Error::NotFound`](crate::Error::NotFound) when Consul no
    /// longer knows it (it expired or was destroyed): it cannot be brought back.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`](crate::Error::NotFound) when the session is gone; [`Error::InvalidInput`](crate::Error::InvalidInput) for a malformed id;
    /// otherwise [`Error::Transport`](crate::Error::Transport), [`Error::Certificate`](crate::Error::Certificate), the error statuses
    /// ([`Error::PermissionDenied`](crate::Error::PermissionDenied), [`Error::AclNotFound`](crate::Error::AclNotFound), [`Error::RateLimited`](crate::Error::RateLimited),
    /// [`Error::Server`](crate::Error::Server)), [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge), and [`Error::Decode`](crate::Error::Decode) for an answer that is
    /// not Consul's JSON.
    pub async fn renew(&self, id: &str) -> Result<SessionEntry> {
        validate::uuid("session id", id)?;
        // Renewing twice is harmless, so the request may be retried like a read.
        let req = Request::new(
            Method::PUT,
            format!("session/renew/{}", segment(id)),
            Retry::Idempotent,
        )
        .pass_through(&[StatusCode::NOT_FOUND]);
        let resp = self.client.send(&req).await?;
        let not_found = || Error::NotFound {
            what: format!("session {id}"),
        };
        if resp.status == StatusCode::NOT_FOUND {
            return Err(not_found());
        }
        let entries: Option<Vec<SessionEntry>> = resp.json("a session renew")?;
        entries
            .unwrap_or_default()
            .into_iter()
            .next()
            .ok_or_else(not_found)
    }

    /// Destroys a session, releasing (or deleting) the locks it holds. Returns Consul's
    /// answer (`true`, also for an unknown session).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for a malformed id; otherwise [`Error::Transport`](crate::Error::Transport),
    /// [`Error::Certificate`](crate::Error::Certificate), the error statuses ([`Error::PermissionDenied`](crate::Error::PermissionDenied),
    /// [`Error::AclNotFound`](crate::Error::AclNotFound), [`Error::RateLimited`](crate::Error::RateLimited), [`Error::Server`](crate::Error::Server)),
    /// [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge), and [`Error::Decode`](crate::Error::Decode) for an answer that is not Consul's JSON.
    pub async fn destroy(&self, id: &str) -> Result<bool> {
        validate::uuid("session id", id)?;
        // Destroying twice is harmless, so the request may be retried like a read.
        let req = Request::new(
            Method::PUT,
            format!("session/destroy/{}", segment(id)),
            Retry::Idempotent,
        );
        self.client.send(&req).await?.json("a session destroy")
    }

    /// Reads one session; `None` when Consul does not know it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for a malformed id; otherwise [`Error::Transport`](crate::Error::Transport),
    /// [`Error::Certificate`](crate::Error::Certificate), the error statuses ([`Error::PermissionDenied`](crate::Error::PermissionDenied),
    /// [`Error::AclNotFound`](crate::Error::AclNotFound), [`Error::RateLimited`](crate::Error::RateLimited), [`Error::Server`](crate::Error::Server)),
    /// [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge), and [`Error::Decode`](crate::Error::Decode) for an answer that is not Consul's JSON;
    /// [`Error::NotConsul`](crate::Error::NotConsul) for an answer without `X-Consul-Index`.
    pub async fn info(
        &self,
        id: &str,
        opts: &QueryOptions,
    ) -> Result<(Option<SessionEntry>, QueryMeta)> {
        validate::uuid("session id", id)?;
        let req = Request::get(format!("session/info/{}", segment(id))).query(opts);
        let resp = self.client.send(&req).await?;
        let meta = resp.meta()?;
        let entries: Option<Vec<SessionEntry>> = resp.json("a session info")?;
        Ok((entries.unwrap_or_default().into_iter().next(), meta))
    }

    /// Lists every session of the datacenter.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`](crate::Error::Transport), [`Error::Certificate`](crate::Error::Certificate), the error statuses
    /// ([`Error::PermissionDenied`](crate::Error::PermissionDenied), [`Error::AclNotFound`](crate::Error::AclNotFound), [`Error::RateLimited`](crate::Error::RateLimited),
    /// [`Error::Server`](crate::Error::Server)), [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge), and [`Error::Decode`](crate::Error::Decode) for an answer that is
    /// not Consul's JSON; [`Error::NotConsul`](crate::Error::NotConsul) for an answer without `X-Consul-Index`.
    pub async fn list(&self, opts: &QueryOptions) -> Result<(Vec<SessionEntry>, QueryMeta)> {
        let resp = self
            .client
            .send(&Request::get("session/list".to_owned()).query(opts))
            .await?;
        let meta = resp.meta()?;
        let entries: Option<Vec<SessionEntry>> = resp.json("a session list")?;
        Ok((entries.unwrap_or_default(), meta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_consul_session_entry() {
        let json = r#"[{"ID":"adf4238a-882b-9ddc-4a9d-5b6758e4159e","Name":"test-session",
            "Node":"raja-laptop-02","LockDelay":15000000000,"Behavior":"release","TTL":"30s",
            "NodeChecks":["serfHealth"],"ServiceChecks":null,"CreateIndex":1086449,"ModifyIndex":1086449}]"#;
        let entries: Vec<SessionEntry> = serde_json::from_str(json).expect("decodes");
        let s = &entries[0];
        assert_eq!(s.lock_delay, Duration::from_secs(15));
        assert_eq!(s.ttl, Some(Duration::from_secs(30)));
        assert_eq!(s.behavior, SessionBehavior::Release);
        assert_eq!(s.node_checks, vec!["serfHealth".to_owned()]);
    }

    #[test]
    fn unknown_behavior_and_empty_ttl_decode() {
        let json = r#"{"ID":"a1","Behavior":"vanish","TTL":"","LockDelay":0}"#;
        let s: SessionEntry = serde_json::from_str(json).expect("decodes");
        assert_eq!(s.behavior, SessionBehavior::Unknown);
        assert_eq!(s.ttl, None);
    }

    #[test]
    fn ttl_out_of_range_is_refused() {
        assert!(
            SessionRequest::new("x")
                .ttl(Duration::from_secs(5))
                .validate()
                .is_err()
        );
        assert!(
            SessionRequest::new("x")
                .ttl(Duration::from_secs(86_401))
                .validate()
                .is_err()
        );
        assert!(
            SessionRequest::new("x")
                .lock_delay(Duration::from_secs(61))
                .validate()
                .is_err()
        );
        assert!(
            SessionRequest::new("x")
                .ttl(Duration::from_secs(10))
                .validate()
                .is_ok()
        );
    }
}
