//! The REST half of the client: groups, apps, deployments, info and ping.

use std::sync::Arc;

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use crate::auth::Authenticator;
use crate::model::{App, Deployment, DeploymentRef, DeploymentStep, Group, Info};
use crate::params::{deployment_id_segment, id_segments};
use crate::{AppEmbed, AppUpdateOptions, Config, Error, GroupEmbed, GroupUpdateOptions};

/// An async client for Marathon's REST API v2 and its event stream.
///
/// Cheap to clone; clones share one connection pool.
///
/// Every REST request has the configured timeout. Reads (`GET`) are retried with jittered
/// exponential backoff ([`crate::RetryPolicy`]) when Marathon is unavailable (502/503/504,
/// for example without a leader) or cannot be connected to. Changes (`PUT`, `DELETE`) are
/// retried with the same policy only when Marathon certainly did not process them: on a 503
/// (no leader, or a leader election: Marathon answers 503 without acting) and when the
/// connection could not be made. A change whose answer is lost after it was sent (a timeout,
/// a broken connection, a proxy's 502/504) is never resent, since it could be applied twice:
/// it fails with [`Error::OutcomeUnknown`], so the caller can look before saying anything.
/// A refused connection is not retried at all: nothing listens at the address (a wrong
/// address, a stopped Marathon; a leader election answers 503 instead), so the call fails at
/// once with [`Error::Transport`] naming the address.
/// A server certificate that cannot be verified fails the call at once with
/// [`Error::Certificate`]: no retry can change it.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) http: reqwest::Client,
    /// For the event stream: no overall timeout (the idle watchdog replaces it) and no
    /// automatic redirects (the stream follows same-origin ones itself).
    pub(crate) stream_http: reqwest::Client,
    pub(crate) auth: Authenticator,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds a client from a configuration.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when a CA certificate is not valid PEM or a credential cannot
    /// be put in a header; [`Error::Transport`] when the TLS backend cannot be initialised.
    pub fn new(config: Config) -> Result<Client, Error> {
        let mut certificates = Vec::new();
        for pem in &config.ca_certificates_pem {
            // A bundle of several certificates is common for CA files; each is trusted.
            let bundle = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|_| Error::invalid_input("CA certificate is not valid PEM"))?;
            if bundle.is_empty() {
                return Err(Error::invalid_input(
                    "CA certificate PEM holds no certificate",
                ));
            }
            certificates.extend(bundle);
        }
        let builder = |timeout: Option<std::time::Duration>, redirects: bool| {
            let mut builder = reqwest::Client::builder()
                .connect_timeout(config.connect_timeout)
                .user_agent(config.user_agent.clone());
            if let Some(timeout) = timeout {
                builder = builder.timeout(timeout);
            }
            // No `Referer` on a followed redirect: it would repeat the URL to the target.
            builder = builder.referer(false).redirect(if redirects {
                same_origin_redirects(config.base_url.clone())
            } else {
                reqwest::redirect::Policy::none()
            });
            for certificate in &certificates {
                builder = builder.add_root_certificate(certificate.clone());
            }
            builder
                .build()
                .map_err(|e| Error::transport("building the HTTP client", e))
        };
        let http = builder(Some(config.request_timeout), true)?;
        let stream_http = builder(None, false)?;
        let auth = Authenticator::new(config.auth.as_ref())?;
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                http,
                stream_http,
                auth,
            }),
        })
    }

    /// Builds a client from [`Config::from_env`].
    ///
    /// # Errors
    /// As [`Config::from_env`] and [`Client::new`].
    pub fn from_env() -> Result<Client, Error> {
        Client::new(Config::from_env()?)
    }

    /// The configuration the client was built with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// `GET /ping`: succeeds when Marathon answers.
    ///
    /// # Errors
    /// Any [`Error`] the request produces.
    pub async fn ping(&self) -> Result<(), Error> {
        let url = self.url(&["ping"], &[])?;
        self.read(url).await.map(drop)
    }

    /// `GET /v2/info`: Marathon's version and leader.
    ///
    /// # Errors
    /// Any [`Error`] the request produces.
    pub async fn info(&self) -> Result<Info, Error> {
        let url = self.url(&["v2", "info"], &[])?;
        self.read_json(url).await
    }

    /// `GET /v2/groups/{id}`: one group, with exactly the embeds given (an empty slice sends
    /// none, and Marathon then embeds groups and apps).
    ///
    /// # Errors
    /// [`Error::NotFound`] when Marathon says the group does not exist;
    /// [`Error::NotMarathon`] for a 404 that is not Marathon's (the address is probably
    /// wrong); [`Error::InvalidInput`] when `id` is not a valid Marathon id; any other
    /// [`Error`] the request produces.
    pub async fn group(&self, id: &str, embed: &[GroupEmbed]) -> Result<Group, Error> {
        let mut path = vec!["v2", "groups"];
        path.extend(id_segments(id, true)?);
        let query: Vec<(&str, &str)> = embed.iter().map(|e| ("embed", e.as_str())).collect();
        let url = self.url(&path, &query)?;
        self.read_json(url).await
    }

    /// `GET /v2/groups`: the root group, which holds every group and app.
    ///
    /// # Errors
    /// Any [`Error`] the request produces.
    pub async fn root_group(&self, embed: &[GroupEmbed]) -> Result<Group, Error> {
        self.group("/", embed).await
    }

    /// `PUT /v2/groups/{id}`: replaces the group's definition and returns the deployment that
    /// applies it.
    ///
    /// The group is sent as received (fields the model does not name included), except its
    /// `version` and its subgroups' `version`, which would ask Marathon for a rollback.
    /// `apps` is the complete set: apps left out are stopped. Read the group with only
    /// [`GroupEmbed::Groups`] and [`GroupEmbed::Apps`] (or no embed) before changing it, so
    /// that no task status is sent back as if it were configuration.
    ///
    /// # Errors
    /// [`Error::AppLocked`] when a running deployment holds one of the apps and `force` is
    /// off; [`Error::Invalid`] when Marathon rejects the definition; any other [`Error`].
    pub async fn update_group(
        &self,
        group: &Group,
        options: GroupUpdateOptions,
    ) -> Result<DeploymentRef, Error> {
        let url = self.group_update_url(group, options.force, false)?;
        let body = group
            .to_update_body()
            .map_err(|e| Error::decode("group to send", e))?;
        let response = self.write(Method::PUT, url, Some(&body)).await?;
        deployment_ref(&response, "the group update response")
    }

    /// `PUT /v2/groups/{id}?dryRun=true`: the steps the update would run, without running
    /// them.
    ///
    /// # Errors
    /// As [`Client::update_group`].
    pub async fn dry_run_group_update(
        &self,
        group: &Group,
        options: GroupUpdateOptions,
    ) -> Result<Vec<DeploymentStep>, Error> {
        #[derive(Deserialize)]
        struct Plan {
            #[serde(default)]
            steps: Vec<DeploymentStep>,
        }
        let url = self.group_update_url(group, options.force, true)?;
        let body = group
            .to_update_body()
            .map_err(|e| Error::decode("group to send", e))?;
        let response = self.write(Method::PUT, url, Some(&body)).await?;
        let plan: Plan = response.decode("the group dry run response")?;
        Ok(plan.steps)
    }

    fn group_update_url(&self, group: &Group, force: bool, dry_run: bool) -> Result<Url, Error> {
        let mut path = vec!["v2", "groups"];
        path.extend(id_segments(&group.id, true)?);
        let mut query = Vec::new();
        if force {
            query.push(("force", "true"));
        }
        if dry_run {
            query.push(("dryRun", "true"));
        }
        self.url(&path, &query)
    }

    /// `DELETE /v2/groups/{id}`: removes a group and everything in it, returning the
    /// deployment that stops its apps. With `force`, deployments holding the apps are
    /// cancelled first.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the group does not exist; [`Error::AppLocked`] when a
    /// deployment holds its apps and `force` is off; any other [`Error`].
    pub async fn delete_group(&self, id: &str, force: bool) -> Result<DeploymentRef, Error> {
        let mut path = vec!["v2", "groups"];
        path.extend(id_segments(id, false)?);
        let query: &[(&str, &str)] = if force { &[("force", "true")] } else { &[] };
        let url = self.url(&path, query)?;
        let response = self.write(Method::DELETE, url, None).await?;
        deployment_ref(&response, "the group delete response")
    }

    /// `GET /v2/apps/{id}`: one app with the embeds given.
    ///
    /// # Errors
    /// [`Error::NotFound`] when Marathon says the app does not exist; [`Error::NotMarathon`]
    /// for a 404 that is not Marathon's; [`Error::InvalidInput`] when `id` is not a valid
    /// Marathon id; any other [`Error`].
    pub async fn app(&self, id: &str, embed: &[AppEmbed]) -> Result<App, Error> {
        #[derive(Deserialize)]
        struct Wrapper {
            app: App,
        }
        let mut path = vec!["v2", "apps"];
        path.extend(id_segments(id, false)?);
        let embeds: Vec<String> = embed
            .iter()
            .map(|e| format!("app.{}", e.suffix()))
            .collect();
        let query: Vec<(&str, &str)> = embeds.iter().map(|e| ("embed", e.as_str())).collect();
        let url = self.url(&path, &query)?;
        let wrapper: Wrapper = self.read_json(url).await?;
        Ok(wrapper.app)
    }

    /// `GET /v2/apps`: every app, with the embeds given.
    ///
    /// # Errors
    /// Any [`Error`] the request produces.
    pub async fn apps(&self, embed: &[AppEmbed]) -> Result<Vec<App>, Error> {
        #[derive(Deserialize)]
        struct Wrapper {
            apps: Vec<App>,
        }
        let embeds: Vec<String> = embed
            .iter()
            .map(|e| format!("apps.{}", e.suffix()))
            .collect();
        let query: Vec<(&str, &str)> = embeds.iter().map(|e| ("embed", e.as_str())).collect();
        let url = self.url(&["v2", "apps"], &query)?;
        let wrapper: Wrapper = self.read_json(url).await?;
        Ok(wrapper.apps)
    }

    /// `PUT /v2/apps/{id}`: updates (or creates) one app and returns the deployment that
    /// applies the change.
    ///
    /// The app's `version` is not sent: with it, Marathon would roll the app back to that
    /// version instead. Everything else is sent as received.
    ///
    /// # Errors
    /// [`Error::AppLocked`] when a running deployment holds the app and `force` is off;
    /// [`Error::Invalid`] when Marathon rejects the definition; any other [`Error`].
    pub async fn update_app(
        &self,
        app: &App,
        options: AppUpdateOptions,
    ) -> Result<DeploymentRef, Error> {
        let mut path = vec!["v2", "apps"];
        path.extend(id_segments(&app.id, false)?);
        let mut query = vec![(
            "partialUpdate",
            if options.partial_update {
                "true"
            } else {
                "false"
            },
        )];
        if options.force {
            query.push(("force", "true"));
        }
        let url = self.url(&path, &query)?;
        let mut body = serde_json::to_value(app).map_err(|e| Error::decode("app to send", e))?;
        if let Some(object) = body.as_object_mut() {
            object.shift_remove("version");
        }
        let response = self.write(Method::PUT, url, Some(&body)).await?;
        deployment_ref(&response, "the app update response")
    }

    /// `DELETE /v2/apps/{id}`: removes an app, returning the deployment that stops it.
    /// With `force`, deployments holding the app are cancelled first.
    ///
    /// # Errors
    /// [`Error::NotFound`] when the app does not exist; [`Error::AppLocked`] when a
    /// deployment holds it and `force` is off; any other [`Error`].
    pub async fn delete_app(&self, id: &str, force: bool) -> Result<DeploymentRef, Error> {
        let mut path = vec!["v2", "apps"];
        path.extend(id_segments(id, false)?);
        let query: &[(&str, &str)] = if force { &[("force", "true")] } else { &[] };
        let url = self.url(&path, query)?;
        let response = self.write(Method::DELETE, url, None).await?;
        deployment_ref(&response, "the app delete response")
    }

    /// `GET /v2/deployments`: the running deployments.
    ///
    /// # Errors
    /// Any [`Error`] the request produces.
    pub async fn deployments(&self) -> Result<Vec<Deployment>, Error> {
        let url = self.url(&["v2", "deployments"], &[])?;
        self.read_json(url).await
    }

    /// `DELETE /v2/deployments/{id}`: cancels a deployment and starts a rollback deployment
    /// that reverts its changes. Returns the rollback deployment.
    ///
    /// # Errors
    /// [`Error::NotFound`] when no such deployment runs; any other [`Error`].
    pub async fn cancel_deployment(&self, id: &str) -> Result<DeploymentRef, Error> {
        let url = self.url(&["v2", "deployments", deployment_id_segment(id)?], &[])?;
        let response = self.write(Method::DELETE, url, None).await?;
        deployment_ref(&response, "the deployment cancel response")
    }

    /// `DELETE /v2/deployments/{id}?force=true`: stops a deployment where it is, without a
    /// rollback. The apps are left half-deployed.
    ///
    /// # Errors
    /// [`Error::NotFound`] when no such deployment runs; any other [`Error`].
    pub async fn force_cancel_deployment(&self, id: &str) -> Result<(), Error> {
        let url = self.url(
            &["v2", "deployments", deployment_id_segment(id)?],
            &[("force", "true")],
        )?;
        self.write(Method::DELETE, url, None).await.map(drop)
    }

    /// The configured address as errors show it: origin and base path, such as
    /// `https://dcos.example.com/service/marathon`.
    pub(crate) fn address(&self) -> String {
        shown_url(&self.inner.config.base_url)
            .trim_end_matches('/')
            .to_owned()
    }

    /// Builds `{base}/{segments…}?{query}`.
    pub(crate) fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Result<Url, Error> {
        let mut url = self.inner.config.base_url.clone();
        url.path_segments_mut()
            .map_err(|()| Error::invalid_input("base URL cannot have a path"))?
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    async fn read_json<T: DeserializeOwned>(&self, url: Url) -> Result<T, Error> {
        let context = format!("the GET {} response", url.path());
        let response = self.read(url).await?;
        response.decode(&context)
    }

    async fn read(&self, url: Url) -> Result<Received, Error> {
        let policy = self.inner.config.retry;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(policy.min_delay)
            .with_max_delay(policy.max_delay)
            .with_max_times(policy.max_retries)
            .with_jitter();
        (|| self.send(Method::GET, url.clone(), None))
            .retry(backoff)
            .when(Error::is_retryable_for_reads)
            .notify(|error, delay| {
                tracing::debug!(%error, ?delay, "retrying Marathon read");
            })
            .await
    }

    async fn write(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Received, Error> {
        let policy = self.inner.config.retry;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(policy.min_delay)
            .with_max_delay(policy.max_delay)
            .with_max_times(policy.max_retries)
            .with_jitter();
        // A failed connect proves Marathon never saw the request, and a 503 that it did not
        // process it; anything else may have been applied, and is not resent.
        let context = format!("{method} {}", shown_url(&url));
        (|| self.send(method.clone(), url.clone(), body))
            .retry(backoff)
            .when(Error::is_retryable_for_writes)
            .notify(|error, delay| {
                tracing::debug!(%error, ?delay, "retrying Marathon change");
            })
            .await
            .map_err(|e| e.for_write(&context))
    }

    /// Sends one request; maps non-success statuses to errors. A service account whose token
    /// Marathon refuses (401: it expired) logs in again, once, and the request is resent: a
    /// refused request was not processed.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Received, Error> {
        let auth = self.inner.auth.header(&self.inner.http).await?;
        match self
            .send_once(method.clone(), url.clone(), body, auth.as_ref())
            .await
        {
            Err(Error::Unauthorized { .. }) if self.inner.auth.forget(auth.as_ref()).await => {
                tracing::debug!("Marathon refused the service account's token; logging in again");
                let auth = self.inner.auth.header(&self.inner.http).await?;
                self.send_once(method, url, body, auth.as_ref()).await
            }
            other => other,
        }
    }

    async fn send_once(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        auth: Option<&HeaderValue>,
    ) -> Result<Received, Error> {
        let context = format!("{method} {}", shown_url(&url));
        let mut request = self
            .inner
            .http
            .request(method, url)
            .header(ACCEPT, "application/json");
        if let Some(auth) = auth {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body).map_err(|e| Error::decode("request body", e))?;
            request = request.header(CONTENT_TYPE, "application/json").body(bytes);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Error::transport(context.clone(), e))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(unfollowed_redirect(
                status,
                response.headers(),
                response.url(),
                &self.inner.config.base_url,
            ));
        }
        let headers = response.headers().clone();
        if !status.is_success() {
            tracing::debug!(%status, %context, "Marathon answered with an error");
            // The status says what happened even when the body breaks off.
            let body = read_prefix(response, ERROR_BODY_LIMIT).await;
            return Err(Error::from_response(status, &body, &self.address()));
        }
        let limit = self.inner.config.max_response_bytes;
        let body = read_capped(response, limit)
            .await
            .map_err(|e| Error::transport(format!("{context} (reading the body)"), e))?
            .ok_or(Error::ResponseTooLarge { context, limit })?;
        Ok(Received {
            headers,
            body,
            address: self.address(),
        })
    }
}

/// How much of an error answer's body is read: enough for any Marathon message (and an
/// excerpt of a proxy's page).
pub(crate) const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Reads a body of at most `limit` bytes, chunk by chunk; `Ok(None)` as soon as it is known
/// to be larger (from its `Content-Length`, or once more has arrived), without reading on.
async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Option<Bytes>, reqwest::Error> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(Bytes::from(body)))
}

/// The first `limit` bytes of a body (less if it ends or breaks off sooner).
pub(crate) async fn read_prefix(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    body
}

/// Most redirects a request follows (all within the configured origin).
pub(crate) const MAX_REDIRECTS: usize = 5;

/// The redirect policy of REST requests: follow a redirect only within the origin of `base`
/// (scheme, host and port), at most [`MAX_REDIRECTS`] times. A redirect elsewhere is not
/// followed; [`Client::send`] turns the redirect answer into [`Error::CrossOriginRedirect`].
fn same_origin_redirects(base: Url) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.url().origin() != base.origin() || attempt.previous().len() > MAX_REDIRECTS {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

/// `scheme://host[:port]` of a URL: where it points, without user info, path or query.
pub(crate) fn origin_of(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// A URL as errors show it: origin and path, without user info or query.
pub(crate) fn shown_url(url: &Url) -> String {
    format!("{}{}", origin_of(url), url.path())
}

/// The error for a redirect answer that was not followed: [`Error::CrossOriginRedirect`] when
/// its `Location` points at another origin than `base`'s, [`Error::Redirect`] otherwise.
pub(crate) fn unfollowed_redirect(
    status: reqwest::StatusCode,
    headers: &HeaderMap,
    answered: &Url,
    base: &Url,
) -> Error {
    let location = headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok());
    let Some(location) = location else {
        return Error::Redirect {
            reason: format!("{status} without a usable Location header"),
        };
    };
    match answered.join(location) {
        Ok(next) if next.origin() != base.origin() => Error::CrossOriginRedirect {
            status: status.as_u16(),
            from: origin_of(answered),
            to: origin_of(&next),
        },
        Ok(_) => Error::Redirect {
            reason: format!("more than {MAX_REDIRECTS} redirects"),
        },
        Err(e) => Error::Redirect {
            reason: format!("Location does not parse: {e}"),
        },
    }
}

/// A successful response, read whole.
struct Received {
    headers: HeaderMap,
    body: Bytes,
    /// Where it came from ([`Client::address`]).
    address: String,
}

impl Received {
    /// The body as JSON; when it is not what is expected, the error says the server does not
    /// look like Marathon.
    fn decode<T: DeserializeOwned>(&self, context: &str) -> Result<T, Error> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::decode_response(context, &self.address, e))
    }
}

/// Reads `{version, deploymentId}` from a change's response; falls back to the
/// `Marathon-Deployment-Id` header and, for a created app, to its `deployments` list.
fn deployment_ref(response: &Received, context: &str) -> Result<DeploymentRef, Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Loose {
        #[serde(default)]
        version: Option<String>,
        #[serde(default)]
        deployment_id: Option<String>,
        #[serde(default)]
        deployments: Vec<crate::model::DeploymentRefId>,
    }
    let loose: Loose = response.decode(context)?;
    let header_id = response
        .headers
        .get("Marathon-Deployment-Id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let deployment_id = loose
        .deployment_id
        .or(header_id)
        .or_else(|| loose.deployments.into_iter().next().map(|d| d.id));
    match (loose.version, deployment_id) {
        (Some(version), Some(deployment_id)) => Ok(DeploymentRef {
            version,
            deployment_id,
        }),
        _ => Err(Error::decode_response(
            context,
            &response.address,
            serde::de::Error::custom("expected a version and a deployment id"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_keeps_base_path_prefix() {
        let client =
            Client::new(Config::new("http://dcos.example/service/marathon").unwrap()).unwrap();
        let url = client
            .url(&["v2", "groups", "prod"], &[("embed", "group.apps")])
            .unwrap();
        assert_eq!(
            url.as_str(),
            "http://dcos.example/service/marathon/v2/groups/prod?embed=group.apps"
        );
    }

    #[test]
    fn token_header_is_token_equals_and_sensitive() {
        let header = crate::auth::token_header("abc").unwrap();
        assert_eq!(header.to_str().unwrap(), "token=abc");
        assert!(header.is_sensitive());
    }
}
