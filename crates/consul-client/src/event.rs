//! User events: fire and list.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Deserializer};

use crate::Client;
use crate::client::{Request, segment};
use crate::error::Result;
use crate::query::{QueryMeta, QueryOptions};
use crate::validate;

/// Which agents should act on an event. Filters are regular expressions on node name,
/// service name and service tag; an empty filter matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct EventFilter {
    /// Node name regular expression.
    pub node: Option<String>,
    /// Service name regular expression.
    pub service: Option<String>,
    /// Service tag regular expression (only with a service filter).
    pub tag: Option<String>,
}

impl EventFilter {
    /// No filter: every agent.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the node filter.
    pub fn node(mut self, re: impl Into<String>) -> Self {
        self.node = Some(re.into());
        self
    }

    /// Sets the service filter.
    pub fn service(mut self, re: impl Into<String>) -> Self {
        self.service = Some(re.into());
        self
    }

    /// Sets the tag filter.
    pub fn tag(mut self, re: impl Into<String>) -> Self {
        self.tag = Some(re.into());
        self
    }

    fn apply(&self, mut req: Request) -> Request {
        for (name, value) in [
            ("node", &self.node),
            ("service", &self.service),
            ("tag", &self.tag),
        ] {
            if let Some(v) = value {
                req = req.param(name, v.clone());
            }
        }
        req
    }
}

/// A user event as Consul reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct UserEvent {
    /// The event's id.
    #[serde(rename = "ID")]
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its payload (empty when none).
    #[serde(default, deserialize_with = "payload")]
    pub payload: Vec<u8>,
    /// Its node filter.
    #[serde(default)]
    pub node_filter: String,
    /// Its service filter.
    #[serde(default)]
    pub service_filter: String,
    /// Its tag filter.
    #[serde(default)]
    pub tag_filter: String,
    /// The event format version.
    #[serde(default)]
    pub version: u64,
    /// Its Lamport time (0 until it has gone through gossip).
    #[serde(default, rename = "LTime")]
    pub ltime: u64,
}

fn payload<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<u8>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(Vec::new()),
        Some(s) => BASE64
            .decode(s.as_bytes())
            .map_err(serde::de::Error::custom),
    }
}

/// The events API; get one with [`Client::event`].
#[derive(Debug, Clone, Copy)]
pub struct Events<'a> {
    client: &'a Client,
}

impl Client {
    /// The user events API.
    pub fn event(&self) -> Events<'_> {
        Events { client: self }
    }
}

impl Events<'_> {
    /// Fires event `name` with `payload` for the agents `filter` selects. Not retried after
    /// it may have reached Consul (a retry would fire it twice).
    ///
    /// Events travel over gossip, so Consul keeps payloads small (a few hundred bytes by
    /// default) and refuses larger ones; the limit is the agent's, so it is not checked here.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for an invalid event name; otherwise [`Error::Transport`](crate::Error::Transport),
    /// [`Error::Certificate`](crate::Error::Certificate), the error statuses ([`Error::PermissionDenied`](crate::Error::PermissionDenied),
    /// [`Error::AclNotFound`](crate::Error::AclNotFound), [`Error::RateLimited`](crate::Error::RateLimited), [`Error::Server`](crate::Error::Server)),
    /// [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge), and [`Error::Decode`](crate::Error::Decode) for an answer that is not Consul's JSON.
    pub async fn fire(
        &self,
        name: &str,
        payload: &[u8],
        filter: &EventFilter,
    ) -> Result<UserEvent> {
        validate::name("event name", name)?;
        let req = filter
            .apply(Request::put(format!("event/fire/{}", segment(name))))
            .body(payload.to_vec());
        self.client.send(&req).await?.json("an event fire")
    }

    /// Lists the most recent events the agent knows (Consul keeps the last 256), optionally
    /// only those named `name`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) for an invalid event name; otherwise [`Error::Transport`](crate::Error::Transport),
    /// [`Error::Certificate`](crate::Error::Certificate), the error statuses ([`Error::PermissionDenied`](crate::Error::PermissionDenied),
    /// [`Error::AclNotFound`](crate::Error::AclNotFound), [`Error::RateLimited`](crate::Error::RateLimited), [`Error::Server`](crate::Error::Server)),
    /// [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge), and [`Error::Decode`](crate::Error::Decode) for an answer that is not Consul's JSON;
    /// [`Error::NotConsul`](crate::Error::NotConsul) for an answer without `X-Consul-Index`.
    pub async fn list(
        &self,
        name: Option<&str>,
        opts: &QueryOptions,
    ) -> Result<(Vec<UserEvent>, QueryMeta)> {
        let mut req = Request::get("event/list".to_owned());
        if let Some(name) = name {
            validate::name("event name", name)?;
            req = req.param("name", name);
        }
        let resp = self.client.send(&req.query(opts)).await?;
        let meta = resp.meta()?;
        let events: Option<Vec<UserEvent>> = resp.json("an event list")?;
        Ok((events.unwrap_or_default(), meta))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_consul_event() {
        let json = r#"{"ID":"b54fe110-7af5-cafc-d1fb-afc8ba432b1c","Name":"deploy","Payload":"aGk=",
            "NodeFilter":"","ServiceFilter":"web","TagFilter":"","Version":1,"LTime":0}"#;
        let e: UserEvent = serde_json::from_str(json).expect("decodes");
        assert_eq!(e.name, "deploy");
        assert_eq!(e.payload, b"hi");
        assert_eq!(e.service_filter, "web");
        assert_eq!(e.version, 1);
    }

    #[test]
    fn null_payload_decodes_as_empty() {
        let e: UserEvent =
            serde_json::from_str(r#"{"ID":"x","Name":"n","Payload":null}"#).expect("decodes");
        assert!(e.payload.is_empty());
    }
}
