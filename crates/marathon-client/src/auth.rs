//! The `Authorization` header of each request: fixed for a token or basic auth, obtained by
//! logging in (and renewed once a request is refused) for a service account.

use reqwest::header::HeaderValue;

use crate::{Auth, Error, ServiceAccount};

/// Where a request's `Authorization` header comes from.
pub(crate) enum Authenticator {
    /// No credential.
    None,
    /// A token or basic auth, the same header on every request.
    Fixed(HeaderValue),
    /// A service account: the token of the last login, logging in when there is none.
    Login {
        account: ServiceAccount,
        /// The current `token=…` header. The lock is held through a login, so concurrent
        /// requests wait for one login instead of each logging in.
        current: tokio::sync::Mutex<Option<HeaderValue>>,
    },
}

impl Authenticator {
    pub(crate) fn new(auth: Option<&Auth>) -> Result<Authenticator, Error> {
        Ok(match auth {
            None => Authenticator::None,
            Some(Auth::ServiceAccount(account)) => Authenticator::Login {
                account: account.clone(),
                current: tokio::sync::Mutex::new(None),
            },
            Some(other) => Authenticator::Fixed(fixed_header(other)?),
        })
    }

    /// The header for the next request; logs in first when a service account has no token.
    pub(crate) async fn header(
        &self,
        http: &reqwest::Client,
    ) -> Result<Option<HeaderValue>, Error> {
        match self {
            Authenticator::None => Ok(None),
            Authenticator::Fixed(header) => Ok(Some(header.clone())),
            Authenticator::Login { account, current } => {
                let mut current = current.lock().await;
                if let Some(header) = current.as_ref() {
                    return Ok(Some(header.clone()));
                }
                let header = token_header(&account.log_in(http).await?)?;
                *current = Some(header.clone());
                Ok(Some(header))
            }
        }
    }

    /// After Marathon answered 401 to a request sent with `rejected`: forgets that token, so
    /// that the next [`Authenticator::header`] logs in again (unless another request already
    /// did). True when a new header can be had, that is for a service account only: a fixed
    /// credential refused once is refused again.
    pub(crate) async fn forget(&self, rejected: Option<&HeaderValue>) -> bool {
        match self {
            Authenticator::Login { current, .. } => {
                let mut current = current.lock().await;
                if current.as_ref() == rejected {
                    *current = None;
                }
                true
            }
            _ => false,
        }
    }
}

fn fixed_header(auth: &Auth) -> Result<HeaderValue, Error> {
    match auth {
        Auth::Token(token) => token_header(token),
        Auth::Basic { username, password } => {
            use base64::Engine as _;
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
            sensitive(format!("Basic {encoded}"))
        }
        Auth::ServiceAccount(_) => Err(Error::invalid_input(
            "a service account has no fixed credential",
        )),
    }
}

/// `token=<token>`, as DC/OS expects its authentication token.
pub(crate) fn token_header(token: &str) -> Result<HeaderValue, Error> {
    sensitive(format!("token={token}"))
}

fn sensitive(value: String) -> Result<HeaderValue, Error> {
    let mut header = HeaderValue::from_str(&value).map_err(|_| {
        Error::invalid_input("credential contains characters not allowed in a header")
    })?;
    // Keeps the value out of HTTP/2 header compression tables and out of Debug output.
    header.set_sensitive(true);
    Ok(header)
}
