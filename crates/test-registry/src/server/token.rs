//! A small token server for the registry's `auth.token` (bearer-challenge) mode.
//!
//! The registry trusts tokens signed by a certificate in its `rootcertbundle`. The server makes
//! an RSA key and a self-signed certificate with the `openssl` command at start, and signs RS256
//! JWTs with it, carrying the certificate in the `x5c` header so the registry can check the chain.
//! It grants pull and push to its one user (HTTP basic authentication) and nothing to anonymous
//! clients, as a private registry does.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use tokio::io::AsyncWriteExt as _;

use super::base64url;

/// The `service` the registry names in its challenge and expects as the token's audience.
pub(super) const SERVICE: &str = "duncan-test-registry";
/// The token issuer the registry is configured to trust.
pub(super) const ISSUER: &str = "duncan-test-token-server";
/// Token lifetime.
const EXPIRES_IN_SECONDS: u64 = 300;

/// A running token server.
pub(super) struct TokenServer {
    addr: SocketAddr,
    signer: Arc<Signer>,
}

/// The user, the signing key and the request counter, shared with the handler.
struct Signer {
    user: String,
    password: String,
    key_path: PathBuf,
    certificate_path: PathBuf,
    certificate_der_base64: String,
    requests: AtomicUsize,
    serial: AtomicUsize,
}

impl TokenServer {
    /// Makes the signing key in `dir` and serves `/token` on a free loopback port.
    pub(super) async fn start(dir: &Path, user: &str, password: &str) -> Result<Self> {
        let key_path = dir.join("token.key");
        let certificate_path = dir.join("token.crt");
        let output = openssl()
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-batch", "-days", "2",
            ])
            .args(["-subj", "/CN=duncan test token issuer", "-keyout"])
            .arg(&key_path)
            .arg("-out")
            .arg(&certificate_path)
            .output()
            .await
            .map_err(openssl_missing)?;
        if !output.status.success() {
            bail!(
                "openssl could not make the token signing key: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let pem = std::fs::read_to_string(&certificate_path)
            .context("cannot read the token signing certificate")?;
        // The PEM body is the certificate's DER in base64, which is what `x5c` holds.
        let certificate_der_base64: String = pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect();
        STANDARD
            .decode(&certificate_der_base64)
            .context("the token signing certificate is not PEM")?;

        let signer = Arc::new(Signer {
            user: user.to_owned(),
            password: password.to_owned(),
            key_path,
            certificate_path,
            certificate_der_base64,
            requests: AtomicUsize::new(0),
            serial: AtomicUsize::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot bind the token server")?;
        let addr = listener.local_addr()?;
        let router = axum::Router::new()
            .route("/token", get(issue))
            .with_state(Arc::clone(&signer));
        tokio::spawn(async move {
            // The server lives as long as the launcher's runtime; an error ends it early, and the
            // tests then see the registry's refusals.
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self { addr, signer })
    }

    /// The token URL the registry sends clients to.
    pub(super) fn realm(&self) -> String {
        format!("http://{}/token", self.addr)
    }

    /// The certificate the registry must trust.
    pub(super) fn certificate_path(&self) -> &Path {
        &self.signer.certificate_path
    }

    /// How many token requests were answered.
    pub(super) fn requests(&self) -> usize {
        self.signer.requests.load(Ordering::SeqCst)
    }

    /// A signed token for `subject` granting `access` (repository, actions).
    pub(super) async fn mint(
        &self,
        subject: &str,
        access: &[(String, Vec<&str>)],
    ) -> Result<String> {
        self.signer.mint(subject, access).await
    }
}

impl Signer {
    async fn mint(&self, subject: &str, access: &[(String, Vec<&str>)]) -> Result<String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let header = json!({"alg": "RS256", "typ": "JWT", "x5c": [self.certificate_der_base64]});
        let claims = json!({
            "iss": ISSUER,
            "sub": subject,
            "aud": SERVICE,
            "exp": now + EXPIRES_IN_SECONDS,
            "nbf": now.saturating_sub(10),
            "iat": now,
            "jti": format!("duncan-test-{}", self.serial.fetch_add(1, Ordering::SeqCst)),
            "access": access.iter().map(|(name, actions)| json!({
                "type": "repository", "name": name, "actions": actions,
            })).collect::<Vec<_>>(),
        });
        let signing_input = format!(
            "{}.{}",
            base64url(&serde_json::to_vec(&header)?),
            base64url(&serde_json::to_vec(&claims)?)
        );
        let mut child = openssl()
            .args(["dgst", "-sha256", "-sign"])
            .arg(&self.key_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(openssl_missing)?;
        let mut stdin = child.stdin.take().context("openssl has no stdin")?;
        stdin.write_all(signing_input.as_bytes()).await?;
        drop(stdin);
        let output = child.wait_with_output().await?;
        if !output.status.success() || output.stdout.is_empty() {
            bail!(
                "openssl could not sign a token: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(format!("{signing_input}.{}", base64url(&output.stdout)))
    }
}

/// `GET /token?service=…&scope=repository:<name>:<actions>`, as the Docker token spec has it.
async fn issue(
    State(signer): State<Arc<Signer>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    signer.requests.fetch_add(1, Ordering::SeqCst);
    let query = query.unwrap_or_default();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    if !pairs.iter().any(|(k, v)| k == "service" && v == SERVICE) {
        return error(StatusCode::BAD_REQUEST, "unknown or missing service");
    }
    let subject = match basic_credentials(&headers) {
        None => None,
        Some((user, password)) if user == signer.user && password == signer.password => Some(user),
        Some(_) => return error(StatusCode::UNAUTHORIZED, "invalid username or password"),
    };
    let access: Vec<(String, Vec<&str>)> = match &subject {
        // Anonymous clients get a token that grants nothing, like a private registry's.
        None => Vec::new(),
        Some(_) => pairs
            .iter()
            .filter(|(k, _)| k == "scope")
            .flat_map(|(_, v)| v.split(' '))
            .filter_map(|scope| {
                let rest = scope.strip_prefix("repository:")?;
                let (name, actions) = rest.rsplit_once(':')?;
                let granted = actions
                    .split(',')
                    .filter_map(|action| ["pull", "push"].into_iter().find(|a| *a == action))
                    .collect();
                Some((name.to_owned(), granted))
            })
            .collect(),
    };
    match signer
        .mint(subject.as_deref().unwrap_or_default(), &access)
        .await
    {
        Ok(token) => (
            StatusCode::OK,
            axum::Json(json!({
                "token": token,
                "expires_in": EXPIRES_IN_SECONDS,
            })),
        )
            .into_response(),
        Err(err) => error(StatusCode::INTERNAL_SERVER_ERROR, &format!("{err:#}")),
    }
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"errors": [{"code": "UNAUTHORIZED", "message": message}]})),
    )
        .into_response()
}

fn openssl() -> tokio::process::Command {
    let mut command = tokio::process::Command::new("openssl");
    command.stdin(Stdio::null()).kill_on_drop(true);
    command
}

/// The error for an `openssl` command that cannot be run, naming the package to install.
pub(super) fn openssl_missing(error: std::io::Error) -> anyhow::Error {
    anyhow::Error::new(error).context(
        "cannot run `openssl`, which makes the test registry's keys and tokens: install the Debian package `openssl` \
         (apt-get install openssl)",
    )
}
