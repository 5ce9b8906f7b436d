//! Options every read accepts (consistency, blocking) and the metadata every read returns.

use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::error::Error;

/// Longest wait Consul allows for a blocking query; longer waits are capped by Consul.
pub const MAX_WAIT: Duration = Duration::from_secs(600);

/// Which servers may answer a read, trading freshness for availability.
///
/// See Consul's "Consistency Modes" documentation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Consistency {
    /// The leader answers, without confirming its leadership first (Consul's default).
    #[default]
    Default,
    /// The leader confirms its leadership with a quorum before answering: never stale.
    Consistent,
    /// Any server answers, possibly with stale data; works without a leader.
    Stale,
}

/// Options of a read: consistency mode and blocking-query parameters.
///
/// ```
/// use std::time::Duration;
/// use consul_client::{Consistency, QueryOptions};
///
/// // Wait up to 30 s for a change after index 42.
/// let opts = QueryOptions::new().blocking(42, Duration::from_secs(30));
/// assert_eq!(opts.index, Some(42));
/// let opts = QueryOptions::new().consistency(Consistency::Consistent);
/// assert_eq!(opts.consistency, Consistency::Consistent);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use]
pub struct QueryOptions {
    /// The consistency mode.
    pub consistency: Consistency,
    /// For a blocking query: return only once the data's index passes this one (or `wait`
    /// ends).
    pub index: Option<u64>,
    /// For a blocking query: the longest time to wait. Consul's default is 5 minutes, its
    /// maximum 10 minutes.
    pub wait: Option<Duration>,
}

impl QueryOptions {
    /// Default options: default consistency, no blocking.
    pub fn new() -> Self {
        Self::default()
    }

    /// Options for a `?consistent` read.
    pub fn consistent() -> Self {
        Self {
            consistency: Consistency::Consistent,
            ..Self::default()
        }
    }

    /// Options for a `?stale` read.
    pub fn stale() -> Self {
        Self {
            consistency: Consistency::Stale,
            ..Self::default()
        }
    }

    /// Sets the consistency mode.
    pub fn consistency(mut self, consistency: Consistency) -> Self {
        self.consistency = consistency;
        self
    }

    /// Makes this a blocking query: wait up to `wait` for the index to pass `index`.
    pub fn blocking(mut self, index: u64, wait: Duration) -> Self {
        self.index = Some(index);
        self.wait = Some(wait);
        self
    }

    /// Sets only the index to block on (Consul then waits its default 5 minutes).
    pub fn index(mut self, index: u64) -> Self {
        self.index = Some(index);
        self
    }

    /// Sets only the wait time of a blocking query.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = Some(wait);
        self
    }

    /// How long Consul may hold this request, beyond the usual answer time: the wait (or
    /// Consul's 5-minute default when only an index is given), plus Consul's jitter of up to
    /// wait/16.
    pub(crate) fn max_hold(&self) -> Duration {
        match (self.index, self.wait) {
            (Some(i), wait) if i > 0 => {
                let wait = wait.unwrap_or(Duration::from_secs(300)).min(MAX_WAIT);
                wait + wait / 16
            }
            _ => Duration::ZERO,
        }
    }

    pub(crate) fn append_to(&self, pairs: &mut Vec<(&'static str, Option<String>)>) {
        match self.consistency {
            Consistency::Default => {}
            Consistency::Consistent => pairs.push(("consistent", None)),
            Consistency::Stale => pairs.push(("stale", None)),
        }
        if let Some(index) = self.index {
            pairs.push(("index", Some(index.to_string())));
        }
        if let Some(wait) = self.wait {
            // A zero wait would mean Consul's default of 5 minutes, the opposite of intended.
            let wait = wait.clamp(Duration::from_millis(1), MAX_WAIT);
            pairs.push(("wait", Some(crate::duration::format(wait))));
        }
    }
}

/// What Consul says about the data a read returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueryMeta {
    /// `X-Consul-Index`: the index of the returned data; pass it to the next blocking query.
    pub index: u64,
    /// `X-Consul-KnownLeader`: whether the answering server knew of a leader.
    pub known_leader: bool,
    /// `X-Consul-LastContact`: how long since the answering server heard from the leader
    /// (zero when the leader answered).
    pub last_contact: Duration,
}

impl QueryMeta {
    /// Reads the metadata headers of a response. Missing headers give zero / false; present
    /// but malformed headers are an error, since blocking on a wrong index would misbehave.
    pub(crate) fn from_headers(headers: &HeaderMap) -> Result<Self, Error> {
        let text = |name: &str| -> Result<Option<&str>, Error> {
            match headers.get(name) {
                None => Ok(None),
                Some(v) => {
                    v.to_str()
                        .map(|s| Some(s.trim()))
                        .map_err(|_| Error::UnexpectedResponse {
                            message: format!("header {name} is not text"),
                        })
                }
            }
        };
        let index = match text("X-Consul-Index")? {
            Some(v) => v.parse::<u64>().map_err(|_| Error::UnexpectedResponse {
                message: format!("X-Consul-Index {v:?} is not a number"),
            })?,
            None => 0,
        };
        let known_leader = text("X-Consul-KnownLeader")?.is_some_and(|v| v == "true");
        let last_contact = match text("X-Consul-LastContact")? {
            Some(v) => {
                Duration::from_millis(v.parse::<u64>().map_err(|_| Error::UnexpectedResponse {
                    message: format!("X-Consul-LastContact {v:?} is not a number"),
                })?)
            }
            None => Duration::ZERO,
        };
        Ok(Self {
            index,
            known_leader,
            last_contact,
        })
    }
}

/// The index to send on the next blocking query after one that returned `new`, when the
/// previous one was `old`, following Consul's rules: reset to 0 when the index went
/// backwards (a snapshot restore or leader change), and never block on 0 (which would return
/// at once and spin).
pub fn next_index(old: u64, new: u64) -> u64 {
    if new < old { 0 } else { new.max(1) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn meta_reads_consul_headers() {
        let mut h = HeaderMap::new();
        h.insert("X-Consul-Index", HeaderValue::from_static("1234"));
        h.insert("X-Consul-KnownLeader", HeaderValue::from_static("true"));
        h.insert("X-Consul-LastContact", HeaderValue::from_static("15"));
        let meta = QueryMeta::from_headers(&h).expect("valid");
        assert_eq!(meta.index, 1234);
        assert!(meta.known_leader);
        assert_eq!(meta.last_contact, Duration::from_millis(15));
    }

    #[test]
    fn meta_refuses_garbage_index() {
        let mut h = HeaderMap::new();
        h.insert("X-Consul-Index", HeaderValue::from_static("abc"));
        assert!(QueryMeta::from_headers(&h).is_err());
    }

    #[test]
    fn query_params_follow_consul_names() {
        let mut pairs = Vec::new();
        QueryOptions::consistent()
            .blocking(7, Duration::from_secs(30))
            .append_to(&mut pairs);
        assert_eq!(
            pairs,
            vec![
                ("consistent", None),
                ("index", Some("7".to_owned())),
                ("wait", Some("30s".to_owned()))
            ]
        );
    }

    #[test]
    fn wait_is_capped_at_ten_minutes() {
        let opts = QueryOptions::new().blocking(1, Duration::from_secs(3600));
        assert_eq!(
            opts.max_hold(),
            Duration::from_secs(600) + Duration::from_millis(37500)
        );
    }

    #[test]
    fn next_index_resets_when_index_goes_backwards() {
        assert_eq!(next_index(10, 12), 12);
        assert_eq!(next_index(10, 5), 0);
        assert_eq!(next_index(0, 0), 1);
    }
}
