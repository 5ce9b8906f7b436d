//! Answering a registry's authentication challenge: basic credentials, or the bearer-token flow.

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};
use serde::Deserialize;
use url::Url;

use crate::builder::Scheme;
use crate::challenge::{Challenge, parse_challenges};
use crate::client::{Check, MAX_SMALL_BODY_BYTES, read_limited};
use crate::{Credentials, RegistryClient, RegistryError};

/// How a request is authorised; the secret goes only into the `Authorization` header.
pub(crate) enum Authorization<'a> {
    None,
    Basic {
        username: &'a str,
        password: &'a str,
    },
    Bearer(String),
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

impl RegistryClient {
    /// Answers a 401's challenge: basic credentials for `Basic`, a token from the realm for
    /// `Bearer`.
    pub(crate) async fn answer_challenge<'c>(
        &self,
        check: &Check<'_>,
        headers: &HeaderMap,
        credentials: &'c Credentials,
    ) -> Result<Authorization<'c>, RegistryError> {
        let challenges: Vec<Challenge> = headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(parse_challenges)
            .collect();
        let unauthorized = |reason: &str| check.unauthorized(reason);

        if let Some(bearer) = challenges.iter().find(|c| c.is("Bearer")) {
            let token = self.fetch_token(check, bearer, credentials).await?;
            return Ok(Authorization::Bearer(token));
        }
        if challenges.iter().any(|c| c.is("Basic")) {
            return match credentials {
                Credentials::Basic { username, password } => {
                    Ok(Authorization::Basic { username, password })
                }
                _ => Err(unauthorized(
                    "the registry asks for a user name and password, and none were given",
                )),
            };
        }
        Err(unauthorized(
            "the registry asks for authentication without a Basic or Bearer challenge",
        ))
    }

    /// The bearer-token flow: `GET realm?service=…&scope=repository:<repo>:pull`, anonymously
    /// or with basic credentials, or the same parameters `POST`ed as a form with an identity
    /// token (`grant_type=refresh_token`); the token is in `token` or `access_token`.
    async fn fetch_token(
        &self,
        check: &Check<'_>,
        challenge: &Challenge,
        credentials: &Credentials,
    ) -> Result<String, RegistryError> {
        let realm = challenge.param("realm").unwrap_or_default();
        let decode = |what: String| RegistryError::Decode {
            registry: check.registry.to_owned(),
            what,
        };
        let mut url = Url::parse(realm).map_err(|_| {
            decode(format!(
                "the bearer challenge's realm `{realm}` is not a URL"
            ))
        })?;
        match url.scheme() {
            "https" => {}
            "http" if check.scheme == Scheme::Http || credentials.is_anonymous() => {}
            "http" => {
                return Err(RegistryError::InsecureTokenRealm {
                    registry: check.registry.to_owned(),
                    realm: realm.to_owned(),
                });
            }
            _ => {
                return Err(decode(format!(
                    "the bearer challenge's realm `{realm}` is not an HTTP URL"
                )));
            }
        }
        let own_scope = format!("repository:{}:pull", check.image.repository());
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = challenge.param("service") {
                query.append_pair("service", service);
            }
            query.append_pair("scope", &own_scope);
            if let Some(scope) = challenge.param("scope").filter(|s| *s != own_scope) {
                query.append_pair("scope", scope);
            }
        }

        let request = if let Credentials::IdentityToken { token } = credentials {
            // Docker's OAuth 2 flow: the same parameters as a form, with the refresh token in
            // the body, never in the URL.
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.extend_pairs(url.query_pairs())
                .append_pair("grant_type", "refresh_token")
                .append_pair("client_id", "registry-client")
                .append_pair("refresh_token", token);
            let body = form.finish();
            url.set_query(None);
            self.http
                .post(url.clone())
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(body)
        } else {
            let mut request = self.http.get(url.clone());
            if let Credentials::Basic { username, password } = credentials {
                request = request.basic_auth(username, Some(password));
            }
            request
        };
        tracing::debug!(url = %url, "fetching a registry token");
        let response = request
            .send()
            .await
            .map_err(|source| check.unreachable(source))?;
        match response.status() {
            status if status.is_success() => {}
            StatusCode::UNAUTHORIZED => {
                return Err(check.unauthorized(if credentials.is_anonymous() {
                    "the token server refuses anonymous access"
                } else {
                    "the token server refused the credentials"
                }));
            }
            StatusCode::FORBIDDEN => return Err(check.forbidden()),
            status => {
                return Err(RegistryError::Server {
                    registry: check.registry.to_owned(),
                    status: status.as_u16(),
                    message: Some("from the token server".to_owned()),
                });
            }
        }
        let body = read_limited(response, MAX_SMALL_BODY_BYTES)
            .await
            .map_err(|source| check.unreachable(source))?
            .ok_or_else(|| RegistryError::ResponseTooLarge {
                registry: check.registry.to_owned(),
                what: "a token answer",
                limit: MAX_SMALL_BODY_BYTES,
            })?;
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|_| decode("the token server's answer is not JSON".to_owned()))?;
        answer
            .token
            .or(answer.access_token)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| decode("the token server's answer has no token".to_owned()))
    }
}
