//! DC/OS service-account logins: the RS256 login token, signed with the account's private key,
//! exchanged at the login endpoint for an authentication token.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair};
use serde::Deserialize;
use url::Url;

use crate::Error;

/// How long the signed login token is valid: only for the login itself, so a few minutes.
const LOGIN_TOKEN_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// The largest login answer read: a token is a few kilobytes.
const LOGIN_BODY_LIMIT: usize = 64 * 1024;

/// A DC/OS service account: its id, its RSA private key and the login endpoint.
///
/// With it (see [`crate::Config::with_service_account`]), the client logs in as DC/OS's
/// service accounts do: it signs a short-lived RS256 token `{"uid":…,"exp":…}` with the
/// private key, `POST`s `{"uid":…,"token":…}` to the login endpoint, and sends the
/// authentication token it receives as `Authorization: token=…`. When Marathon answers 401
/// (the token expired), it logs in again once and resends the request.
///
/// The private key is never shown: `Debug` names the account and the endpoint only, and no
/// error repeats the key or a token.
///
/// ```
/// use marathon_client::ServiceAccount;
///
/// let credential = r#"{"scheme":"RS256","uid":"ci","private_key":"not a key",
///     "login_endpoint":"https://dcos.example.com/acs/api/v1/auth/login"}"#;
/// let error = ServiceAccount::from_credential_json(credential).unwrap_err();
/// assert!(!error.to_string().contains("not a key"));
/// ```
#[derive(Clone)]
pub struct ServiceAccount {
    uid: String,
    key: Arc<RsaKeyPair>,
    login_endpoint: Url,
}

impl PartialEq for ServiceAccount {
    fn eq(&self, other: &Self) -> bool {
        self.uid == other.uid
            && self.login_endpoint == other.login_endpoint
            && self.key.public_key().as_ref() == other.key.public_key().as_ref()
    }
}

impl Eq for ServiceAccount {}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("uid", &self.uid)
            .field("private_key", &"<redacted>")
            .field("login_endpoint", &self.login_endpoint.as_str())
            .finish()
    }
}

#[derive(Deserialize)]
struct Credential {
    #[serde(default)]
    scheme: Option<String>,
    uid: String,
    private_key: String,
    login_endpoint: String,
}

impl ServiceAccount {
    /// A service account from its id, its private key in PEM (PKCS#8 `BEGIN PRIVATE KEY`, or
    /// PKCS#1 `BEGIN RSA PRIVATE KEY` as `dcos security org service-accounts keypair`
    /// writes it) and its login endpoint (`{dcos}/acs/api/v1/auth/login`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the key is not an unencrypted RSA private key in PEM, or
    /// the endpoint is not an `http`/`https` URL. The message never quotes the key.
    pub fn new(
        uid: impl Into<String>,
        private_key_pem: &str,
        login_endpoint: &str,
    ) -> Result<ServiceAccount, Error> {
        let uid = uid.into();
        if uid.trim().is_empty() {
            return Err(Error::invalid_input("the service account's uid is empty"));
        }
        let login_endpoint = Url::parse(login_endpoint.trim())
            .map_err(|e| Error::invalid_input(format!("the login endpoint does not parse: {e}")))?;
        if !matches!(login_endpoint.scheme(), "http" | "https")
            || !login_endpoint.username().is_empty()
            || login_endpoint.password().is_some()
        {
            return Err(Error::invalid_input(
                "the login endpoint must be an http or https URL without credentials",
            ));
        }
        Ok(ServiceAccount {
            uid,
            key: Arc::new(rsa_key_from_pem(private_key_pem)?),
            login_endpoint,
        })
    }

    /// A service account from DC/OS's service-account credential, the JSON
    /// `{"scheme":"RS256","uid":…,"private_key":…,"login_endpoint":…}` that DC/OS keeps as a
    /// secret and that `DCOS_SERVICE_ACCOUNT_CREDENTIAL` names.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the text is not such a JSON object (its position only is
    /// named, never its content), the scheme is not `RS256`, or as [`ServiceAccount::new`].
    pub fn from_credential_json(text: &str) -> Result<ServiceAccount, Error> {
        let credential: Credential = serde_json::from_str(text).map_err(|e| {
            Error::invalid_input(format!(
                "the service account credential is not DC/OS's JSON \
                 {{\"uid\",\"private_key\",\"login_endpoint\"}} (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if let Some(scheme) = credential.scheme.as_deref()
            && !scheme.eq_ignore_ascii_case("RS256")
        {
            return Err(Error::invalid_input(format!(
                "the service account credential's scheme is `{scheme}`; only RS256 is supported"
            )));
        }
        ServiceAccount::new(
            credential.uid,
            &credential.private_key,
            &credential.login_endpoint,
        )
    }

    /// The account's id.
    pub fn uid(&self) -> &str {
        &self.uid
    }

    /// Where the account logs in.
    pub fn login_endpoint(&self) -> &Url {
        &self.login_endpoint
    }

    /// The RS256 login token `{"uid":…,"exp":…}`, valid for a few minutes from `now`.
    pub(crate) fn login_token(&self, now: SystemTime) -> Result<String, Error> {
        let exp = now
            .checked_add(LOGIN_TOKEN_LIFETIME)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = serde_json::json!({ "uid": self.uid, "exp": exp });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signed = format!("{header}.{claims}");
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .map_err(|_| Error::invalid_input("the login token could not be signed"))?;
        Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// Logs in: `POST {"uid","token"}` to the login endpoint, returning the authentication
    /// token it answers with.
    pub(crate) async fn log_in(&self, http: &reqwest::Client) -> Result<String, Error> {
        #[derive(Deserialize)]
        struct Answer {
            token: String,
        }
        #[derive(Deserialize)]
        struct Refusal {
            #[serde(default)]
            title: Option<String>,
            #[serde(default)]
            description: Option<String>,
        }
        let endpoint = crate::client::shown_url(&self.login_endpoint);
        let failed = |reason: String| Error::Login {
            endpoint: endpoint.clone(),
            uid: self.uid.clone(),
            reason,
        };
        let body = serde_json::json!({
            "uid": self.uid,
            "token": self.login_token(SystemTime::now())?,
        });
        let response = http
            .post(self.login_endpoint.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .json(&body)
            .send()
            .await
            // A login that fails is never a transport error of the request it was for: that
            // request was not sent, so it is no `OutcomeUnknown` of a change either.
            .map_err(|e| {
                let error = Error::transport(format!("POST {endpoint}"), e);
                let mut reason = format!("the login request failed: {error}");
                let mut source = std::error::Error::source(&error);
                while let Some(cause) = source {
                    reason.push_str(&format!(": {cause}"));
                    source = cause.source();
                }
                failed(reason)
            })?;
        let status = response.status();
        let answer = crate::client::read_prefix(response, LOGIN_BODY_LIMIT).await;
        if !status.is_success() {
            // DC/OS's IAM answers `{"title","description","code"}`; neither holds a secret.
            let words = serde_json::from_slice::<Refusal>(&answer)
                .ok()
                .and_then(|r| r.description.or(r.title))
                .map(|w| format!(": {}", w.chars().take(300).collect::<String>()))
                .unwrap_or_default();
            return Err(failed(format!(
                "the login endpoint answered {status}{words}"
            )));
        }
        match serde_json::from_slice::<Answer>(&answer) {
            Ok(answer) if !answer.token.trim().is_empty() => Ok(answer.token),
            _ => Err(failed(
                "the login endpoint's answer holds no token".to_owned(),
            )),
        }
    }
}

/// An unencrypted RSA private key from PEM: PKCS#8 (`PRIVATE KEY`) or PKCS#1
/// (`RSA PRIVATE KEY`).
fn rsa_key_from_pem(pem: &str) -> Result<RsaKeyPair, Error> {
    let not_a_key = || {
        Error::invalid_input(
            "the service account's private_key is not an RSA private key in PEM \
             (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY)",
        )
    };
    let (label, der) = pem_block(pem).ok_or_else(not_a_key)?;
    match label {
        "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der).map_err(|_| not_a_key()),
        "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der).map_err(|_| not_a_key()),
        "ENCRYPTED PRIVATE KEY" => Err(Error::invalid_input(
            "the service account's private_key is encrypted; give it unencrypted \
             (openssl pkcs8 -topk8 -nocrypt)",
        )),
        _ => Err(not_a_key()),
    }
}

/// The label and the decoded content of the first PEM block in `text`.
fn pem_block(text: &str) -> Option<(&str, Vec<u8>)> {
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start + "-----BEGIN ".len()..];
    let (label, rest) = rest.split_once("-----")?;
    let end = rest.find(&format!("-----END {label}-----"))?;
    let body: String = rest[..end]
        .lines()
        .map(str::trim)
        // Headers such as `Proc-Type:` belong to encrypted PKCS#1 keys, which are refused.
        .filter(|line| !line.contains(':'))
        .collect();
    if rest[..end].contains("ENCRYPTED") {
        return Some(("ENCRYPTED PRIVATE KEY", Vec::new()));
    }
    Some((label, STANDARD.decode(body).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_block_reads_label_and_content() {
        let (label, der) = pem_block(
            "junk\n-----BEGIN RSA PRIVATE KEY-----\nAAEC\nAw==\n-----END RSA PRIVATE KEY-----\n",
        )
        .unwrap();
        assert_eq!(label, "RSA PRIVATE KEY");
        assert_eq!(der, vec![0, 1, 2, 3]);
    }

    #[test]
    fn a_key_that_is_not_pem_is_refused_without_being_quoted() {
        let error = ServiceAccount::new("ci", "s3cret-not-pem", "https://d/acs/api/v1/auth/login")
            .unwrap_err();
        assert!(matches!(error, Error::InvalidInput { .. }));
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }

    #[test]
    fn an_encrypted_key_is_refused_with_what_to_do() {
        let pem =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAEC\n-----END ENCRYPTED PRIVATE KEY-----";
        let error = ServiceAccount::new("ci", pem, "https://d/acs/api/v1/auth/login").unwrap_err();
        assert!(error.to_string().contains("unencrypted"), "{error}");
    }

    #[test]
    fn a_credential_with_another_scheme_is_refused() {
        let error = ServiceAccount::from_credential_json(
            r#"{"scheme":"HS256","uid":"ci","private_key":"x","login_endpoint":"https://d/"}"#,
        )
        .unwrap_err();
        assert!(error.to_string().contains("only RS256"), "{error}");
    }
}
