//! Credentials for a registry, with a `Debug` that never shows the secret.

use std::fmt;

/// How to authenticate to a registry.
///
/// The secret parts are never shown by `Debug`, and never put in an error, a log line or a URL
/// by this crate: they travel only in `Authorization` headers.
///
/// ```
/// use registry_client::Credentials;
///
/// let credentials = Credentials::basic("robot", "s3cret");
/// assert!(!format!("{credentials:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Credentials {
    /// No credentials: public images, or the anonymous bearer-token flow.
    #[default]
    Anonymous,
    /// A user name and password (or robot account and token). Sent to the registry as HTTP basic
    /// authentication when it asks for it, or to its token server in the bearer-challenge flow.
    /// (Quay, for one, takes an OAuth access token as the password of the user `$oauthtoken`.)
    Basic {
        /// The user name.
        username: String,
        /// The password or access token.
        password: String,
    },
    /// A ready registry bearer token, sent as `Authorization: Bearer` to the registry itself.
    Bearer {
        /// The token.
        token: String,
    },
    /// An identity token (an OAuth 2 refresh token, as `docker login` keeps for Azure and
    /// others): exchanged at the registry's token server for a bearer token, with a `POST` of
    /// `grant_type=refresh_token`, as Docker does.
    IdentityToken {
        /// The refresh token.
        token: String,
    },
}

impl Credentials {
    /// Basic credentials from a user name and password.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Basic {
            username: username.into(),
            password: password.into(),
        }
    }

    /// A ready registry bearer token.
    pub fn bearer(token: impl Into<String>) -> Self {
        Self::Bearer {
            token: token.into(),
        }
    }

    /// An identity token, to exchange at the registry's token server.
    pub fn identity_token(token: impl Into<String>) -> Self {
        Self::IdentityToken {
            token: token.into(),
        }
    }

    /// Whether these are [`Credentials::Anonymous`].
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Self::Anonymous)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Self::Bearer { .. } => f
                .debug_struct("Bearer")
                .field("token", &"<redacted>")
                .finish(),
            Self::IdentityToken { .. } => f
                .debug_struct("IdentityToken")
                .field("token", &"<redacted>")
                .finish(),
        }
    }
}
