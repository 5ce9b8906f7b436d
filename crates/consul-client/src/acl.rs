//! The ACL token the client is using (`/v1/acl/token/self`).

use serde::{Deserialize, Deserializer};

use crate::Client;
use crate::client::Request;
use crate::error::Result;

/// A policy or role linked to a token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct AclLink {
    /// Its id.
    #[serde(rename = "ID", default)]
    pub id: String,
    /// Its name.
    #[serde(rename = "Name", default)]
    pub name: String,
}

/// Details of an ACL token.
///
/// The secret itself (`SecretID`) is deliberately not kept: it is the token, and a value
/// that ends up in logs or `Debug` output must not carry it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[non_exhaustive]
pub struct AclToken {
    /// The token's public id.
    #[serde(rename = "AccessorID", default)]
    pub accessor_id: String,
    /// Its description.
    #[serde(default)]
    pub description: String,
    /// The policies linked to it.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub policies: Vec<AclLink>,
    /// The roles linked to it.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub roles: Vec<AclLink>,
    /// Whether it is local to one datacenter.
    #[serde(default)]
    pub local: bool,
    /// When it was created (RFC 3339), as Consul reports it.
    #[serde(default)]
    pub create_time: String,
    /// When it expires (RFC 3339), if it does.
    #[serde(default)]
    pub expiration_time: Option<String>,
    /// Index of its creation.
    #[serde(default)]
    pub create_index: u64,
    /// Index of its last change.
    #[serde(default)]
    pub modify_index: u64,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<AclLink>, D::Error> {
    Ok(Option::<Vec<AclLink>>::deserialize(d)?.unwrap_or_default())
}

/// The ACL API; get one with [`Client::acl`].
#[derive(Debug, Clone, Copy)]
pub struct Acl<'a> {
    client: &'a Client,
}

impl Client {
    /// The ACL API.
    pub fn acl(&self) -> Acl<'_> {
        Acl { client: self }
    }
}

impl Acl<'_> {
    /// Details of the token this client sends. [`Error::AclNotFound`](crate::Error::AclNotFound)
    /// when Consul does not know it; [`Error::PermissionDenied`](crate::Error::PermissionDenied)
    /// when ACLs are off or no token is sent (anonymous).
    ///
    /// # Errors
    ///
    /// [`Error::AclNotFound`](crate::Error::AclNotFound) and [`Error::PermissionDenied`](crate::Error::PermissionDenied) as above; otherwise
    /// [`Error::Transport`](crate::Error::Transport), [`Error::Certificate`](crate::Error::Certificate), the error statuses
    /// ([`Error::PermissionDenied`](crate::Error::PermissionDenied), [`Error::AclNotFound`](crate::Error::AclNotFound), [`Error::RateLimited`](crate::Error::RateLimited),
    /// [`Error::Server`](crate::Error::Server)), [`Error::ResponseTooLarge`](crate::Error::ResponseTooLarge), and [`Error::Decode`](crate::Error::Decode) for an answer that is
    /// not Consul's JSON.
    pub async fn token_self(&self) -> Result<AclToken> {
        let resp = self
            .client
            .send(&Request::get("acl/token/self".to_owned()))
            .await?;
        resp.json("an acl/token/self read")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_token_without_keeping_the_secret() {
        let json = r#"{"AccessorID":"6a1253d2-1785-24fd-91c2-f8e78c745511",
            "SecretID":"45a3bd52-07c7-47a4-52fd-0745e0cfe967","Description":"Agent token",
            "Policies":[{"ID":"165d4317-e379-f732-ce70-86278c4558f7","Name":"node-read"}],
            "Local":false,"CreateTime":"2018-10-24T12:25:06.921933-04:00",
            "Hash":"UuiRkOQPRCvoRZHRtUxxbrmwZ5crYrOdZ0Z1FTFbTbA=","CreateIndex":59,"ModifyIndex":59}"#;
        let t: AclToken = serde_json::from_str(json).expect("decodes");
        assert_eq!(t.accessor_id, "6a1253d2-1785-24fd-91c2-f8e78c745511");
        assert_eq!(t.policies[0].name, "node-read");
        assert!(!format!("{t:?}").contains("45a3bd52"));
    }
}
