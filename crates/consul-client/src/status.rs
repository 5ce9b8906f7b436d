//! Cluster status: the Raft leader and peers.

use crate::Client;
use crate::client::Request;
use crate::error::Result;

/// The status API; get one with [`Client::status`].
#[derive(Debug, Clone, Copy)]
pub struct Status<'a> {
    client: &'a Client,
}

impl Client {
    /// The status API.
    pub fn status(&self) -> Status<'_> {
        Status { client: self }
    }
}

impl Status<'_> {
    /// The Raft leader's address (`host:port`), or `None` when the cluster has no leader
    /// (Consul then answers an empty string).
    ///
    /// # Errors
    ///
    /// [`Error::Transport`](crate::Error::Transport), [`Error::Certificate`](crate::Error::Certificate), the error statuses
    /// ([`Error::PermissionDenied`](crate::Error::PermissionDenied), [`Error::AclNotFound`](crate::Error::AclNotFound), [`Error::RateLimited`](crate::Error::RateLimited),
    /// [`Error::Server`](crate::Error::Server)), [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge), and [`Error::Decode`](crate::Error::Decode) for an answer that is
    /// not Consul's JSON.
    pub async fn leader(&self) -> Result<Option<String>> {
        let resp = self
            .client
            .send(&Request::get("status/leader".to_owned()))
            .await?;
        let leader: String = resp.json("a status/leader read")?;
        Ok(Some(leader).filter(|l| !l.is_empty()))
    }

    /// The addresses of the Raft peers.
    ///
    /// # Errors
    ///
    /// [`Error::Transport`](crate::Error::Transport), [`Error::Certificate`](crate::Error::Certificate), the error statuses
    /// ([`Error::PermissionDenied`](crate::Error::PermissionDenied), [`Error::AclNotFound`](crate::Error::AclNotFound), [`Error::RateLimited`](crate::Error::RateLimited),
    /// [`Error::Server`](crate::Error::Server)), [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge), and [`Error::Decode`](crate::Error::Decode) for an answer that is
    /// not Consul's JSON.
    pub async fn peers(&self) -> Result<Vec<String>> {
        let resp = self
            .client
            .send(&Request::get("status/peers".to_owned()))
            .await?;
        let peers: Option<Vec<String>> = resp.json("a status/peers read")?;
        Ok(peers.unwrap_or_default())
    }
}
