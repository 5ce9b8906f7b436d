//! The registry server: [`TestRegistry`] and what it needs (pushes, a token server, TLS).

use std::fmt;
use std::future::Future;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};

mod push;
mod tls;
mod token;

use push::Pusher;
use token::TokenServer;

use crate::registry_binary;

/// How long the registry may take to answer `/v2/` after it is started.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
/// How often a start is tried: the free port found may be taken before the registry binds it.
const START_ATTEMPTS: usize = 3;

/// How the test registry authenticates clients.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryAuth {
    /// No authentication: anyone may pull and push.
    None,
    /// The registry's own `auth.htpasswd`: HTTP basic authentication against a bcrypt htpasswd
    /// file holding this one user.
    Htpasswd {
        /// The user name.
        user: String,
        /// The user's password.
        password: String,
    },
    /// The registry's `auth.token`: the bearer-challenge flow, with a token server started by the
    /// launcher that grants pull and push to this one user (checked with HTTP basic
    /// authentication) and nothing to anonymous clients.
    Token {
        /// The user name.
        user: String,
        /// The user's password.
        password: String,
    },
}

impl RegistryAuth {
    /// Basic authentication by the registry itself, for `user` with `password`.
    pub fn htpasswd(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Htpasswd {
            user: user.into(),
            password: password.into(),
        }
    }

    /// The bearer-token flow, with a token server that knows `user` with `password`.
    pub fn token(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Token {
            user: user.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, user) = match self {
            Self::None => return f.write_str("None"),
            Self::Htpasswd { user, .. } => ("Htpasswd", user),
            Self::Token { user, .. } => ("Token", user),
        };
        f.debug_struct(kind)
            .field("user", user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Which manifest media types a push uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManifestFormat {
    /// Docker image manifest v2 schema 2, and Docker manifest lists.
    Docker,
    /// OCI image manifests and OCI image indexes, as `docker buildx` writes by default.
    Oci,
}

/// A running `docker-registry serve` on `127.0.0.1`, killed (and its storage removed) on drop.
pub struct TestRegistry {
    child: Child,
    port: u16,
    pusher: Pusher,
    token_server: Option<Arc<TokenServer>>,
    ca_pem: Option<String>,
    runtime: Option<tokio::runtime::Runtime>,
    // Dropped last: the registry and token server use files in it until they are stopped.
    dir: tempfile::TempDir,
}

impl fmt::Debug for TestRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestRegistry")
            .field("host", &self.host())
            .field("auth", &self.pusher.auth)
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

impl TestRegistry {
    /// Starts the registry with `auth` on a free loopback port and waits until `/v2/` answers.
    ///
    /// # Errors
    ///
    /// When the `docker-registry` binary is not installed (the message names the Debian
    /// package), when the registry does not come up (the message quotes its log), or when a
    /// helper it needs is missing (`openssl`, for [`RegistryAuth::Token`]).
    pub fn start(auth: RegistryAuth) -> Result<Self> {
        Self::launch(auth, false)
    }

    /// Like [`start`](Self::start), but the registry serves HTTPS with a certificate for
    /// `127.0.0.1` signed by a private CA ([`ca_certificate_pem`](Self::ca_certificate_pem)),
    /// as production registries do. A token server (with [`RegistryAuth::Token`]) still answers
    /// on plain HTTP.
    ///
    /// # Errors
    ///
    /// As [`start`](Self::start); `openssl` makes the certificates.
    pub fn start_tls(auth: RegistryAuth) -> Result<Self> {
        Self::launch(auth, true)
    }

    fn launch(auth: RegistryAuth, tls: bool) -> Result<Self> {
        let binary = registry_binary()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("test-registry")
            .enable_all()
            .build()
            .context("cannot start the test registry's tokio runtime")?;
        let dir = tempfile::Builder::new()
            .prefix("duncan-test-registry-")
            .tempdir()
            .context("cannot create the test registry's temporary folder")?;
        let tls = if tls {
            Some(tls::make(dir.path())?)
        } else {
            None
        };
        let mut http = reqwest::Client::builder().timeout(Duration::from_secs(10));
        if let Some(tls) = &tls {
            http = http.add_root_certificate(
                reqwest::Certificate::from_pem(tls.ca_pem.as_bytes())
                    .context("the test CA is not PEM")?,
            );
        }
        let http = http.build().context("cannot build an HTTP client")?;

        let token_server = match &auth {
            RegistryAuth::Token { user, password } => {
                let server = run_on(&runtime, TokenServer::start(dir.path(), user, password))
                    .context("cannot start the test token server")?;
                Some(Arc::new(server))
            }
            _ => None,
        };
        if let RegistryAuth::Htpasswd { user, password } = &auth {
            write_htpasswd(&dir.path().join("htpasswd"), user, password)?;
        }

        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            let config = registry_config(
                dir.path(),
                port,
                &auth,
                token_server.as_deref(),
                tls.as_ref(),
            );
            let config_path = dir.path().join("config.yml");
            std::fs::write(&config_path, config).context("cannot write the registry config")?;
            let mut child = spawn(&binary, &config_path, dir.path())?;
            let scheme = if tls.is_some() { "https" } else { "http" };
            let base = format!("{scheme}://127.0.0.1:{port}");
            match wait_until_ready(&mut child, &runtime, &http, &base, dir.path()) {
                Ok(()) => {
                    return Ok(Self {
                        child,
                        port,
                        pusher: Pusher {
                            http,
                            base,
                            auth,
                            token_server: token_server.clone(),
                        },
                        token_server,
                        ca_pem: tls.map(|tls| tls.ca_pem),
                        runtime: Some(runtime),
                        dir,
                    });
                }
                Err(error) => {
                    // Most likely the port was taken in between: try another one.
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = Some(error);
                }
            }
        }
        runtime.shutdown_background();
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("the test registry did not start")))
    }

    /// The registry's `host:port`, as used in image references: `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's base URL, `http://127.0.0.1:PORT` (`https://` when started with
    /// [`start_tls`](Self::start_tls)).
    pub fn url(&self) -> String {
        self.pusher.base.clone()
    }

    /// The PEM of the private CA that signed the registry's certificate, when started with
    /// [`start_tls`](Self::start_tls).
    pub fn ca_certificate_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// How many token requests the token server has answered (always 0 without
    /// [`RegistryAuth::Token`]), including those of [`push_image`](Self::push_image).
    pub fn token_requests(&self) -> usize {
        self.token_server
            .as_ref()
            .map_or(0, |server| server.requests())
    }

    /// The token server's URL (the bearer realm), with [`RegistryAuth::Token`].
    pub fn token_realm(&self) -> Option<String> {
        self.token_server.as_ref().map(|server| server.realm())
    }

    /// A signed token granting pull on `repository` to the configured user, such as a CI system
    /// would hold, for tests of ready bearer tokens; only with [`RegistryAuth::Token`].
    ///
    /// # Errors
    ///
    /// Without token authentication, or when signing fails.
    pub fn token_for_pull(&self, repository: &str) -> Result<String> {
        let (Some(server), RegistryAuth::Token { user, .. }) =
            (&self.token_server, &self.pusher.auth)
        else {
            bail!("the test registry does not use token authentication");
        };
        let (server, user, repository) = (Arc::clone(server), user.clone(), repository.to_owned());
        self.run(async move { server.mint(&user, &[(repository, vec!["pull"])]).await })
    }

    /// Pushes a small image (a config blob and one layer blob, unique to `repository:tag`) and
    /// tags its Docker schema 2 manifest as `tag`; returns the manifest's digest.
    ///
    /// # Errors
    ///
    /// When the registry refuses an upload or the manifest.
    pub fn push_image(&self, repository: &str, tag: &str) -> Result<String> {
        self.push_image_as(repository, tag, ManifestFormat::Docker)
    }

    /// Like [`push_image`](Self::push_image), with the manifest in `format`.
    ///
    /// # Errors
    ///
    /// When the registry refuses an upload or the manifest.
    pub fn push_image_as(
        &self,
        repository: &str,
        tag: &str,
        format: ManifestFormat,
    ) -> Result<String> {
        let pusher = self.pusher.clone();
        let (repository, tag) = (repository.to_owned(), tag.to_owned());
        self.run(async move { pusher.push_image(&repository, &tag, format).await })
            .context("cannot push an image to the test registry")
    }

    /// Pushes a Docker manifest list tagged `tag` that references the manifests `digests`
    /// (already in `repository`, for example from [`push_image`](Self::push_image)), one
    /// platform each; returns the list's digest.
    ///
    /// # Errors
    ///
    /// When a referenced manifest is missing or the registry refuses the list.
    pub fn push_index(&self, repository: &str, tag: &str, digests: &[String]) -> Result<String> {
        self.push_index_as(repository, tag, digests, ManifestFormat::Docker)
    }

    /// Like [`push_index`](Self::push_index), with the index in `format` (an OCI image index
    /// for [`ManifestFormat::Oci`]).
    ///
    /// # Errors
    ///
    /// When a referenced manifest is missing or the registry refuses the index.
    pub fn push_index_as(
        &self,
        repository: &str,
        tag: &str,
        digests: &[String],
        format: ManifestFormat,
    ) -> Result<String> {
        let pusher = self.pusher.clone();
        let (repository, tag, digests) = (repository.to_owned(), tag.to_owned(), digests.to_vec());
        self.run(async move { pusher.push_index(&repository, &tag, &digests, format).await })
            .context("cannot push a manifest list to the test registry")
    }

    /// Runs `future` on the launcher's runtime from a fresh thread, so that the caller may be
    /// plain code or an async test's own runtime thread alike.
    fn run<T: Send>(&self, future: impl Future<Output = Result<T>> + Send) -> Result<T> {
        let Some(runtime) = &self.runtime else {
            bail!("the test registry's runtime is gone");
        };
        run_on(runtime, future)
    }

    fn stop(&mut self) {
        // The child may already have exited; both errors then only say so.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.stop();
        if let Some(runtime) = self.runtime.take() {
            // `shutdown_background` may be called from inside another runtime; a plain drop may not.
            runtime.shutdown_background();
        }
    }
}

/// Runs `future` on `runtime` from a scoped thread: `block_on` may not be called from a thread that
/// already drives a runtime, which an async test's thread does.
fn run_on<T: Send>(
    runtime: &tokio::runtime::Runtime,
    future: impl Future<Output = Result<T>> + Send,
) -> Result<T> {
    let handle = runtime.handle().clone();
    std::thread::scope(|scope| {
        scope
            .spawn(move || handle.block_on(future))
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the test registry's worker panicked")))
    })
}

fn wait_until_ready(
    child: &mut Child,
    runtime: &tokio::runtime::Runtime,
    http: &reqwest::Client,
    base: &str,
    dir: &Path,
) -> Result<()> {
    let url = format!("{base}/v2/");
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().context("cannot watch the registry")? {
            bail!(
                "the registry exited ({status}) before answering; its log:\n{}",
                read_log(dir)
            );
        }
        // Any answer of a registry (401 with authentication) means it is serving; the header tells
        // it from another server that took the port in between.
        let answered = run_on(runtime, async {
            Ok(http.get(&url).send().await.is_ok_and(|response| {
                response
                    .headers()
                    .contains_key("Docker-Distribution-Api-Version")
            }))
        })?;
        if answered {
            if child
                .try_wait()
                .context("cannot watch the registry")?
                .is_none()
            {
                return Ok(());
            }
            continue;
        }
        if Instant::now() > deadline {
            bail!(
                "the registry did not answer on {url} within {STARTUP_TIMEOUT:?}; its log:\n{}",
                read_log(dir)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind("127.0.0.1:0").context("cannot find a free port on 127.0.0.1")?;
    Ok(listener.local_addr()?.port())
}

fn spawn(binary: &Path, config: &Path, dir: &Path) -> Result<Child> {
    let log = std::fs::File::create(dir.join("registry.log"))
        .context("cannot create the registry log")?;
    let log_err = log.try_clone()?;
    Command::new(binary)
        .arg("serve")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .with_context(|| format!("cannot run {}", binary.display()))
}

fn read_log(dir: &Path) -> String {
    let log = std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines
        .get(lines.len().saturating_sub(20)..)
        .unwrap_or_default()
        .join("\n")
}

fn registry_config(
    dir: &Path,
    port: u16,
    auth: &RegistryAuth,
    token: Option<&TokenServer>,
    tls: Option<&tls::TlsFiles>,
) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut config = format!(
        "version: 0.1\n\
         log:\n  level: error\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n  \
         maintenance:\n    uploadpurging:\n      enabled: false\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: duncan-test-{nanos}\n",
        storage = dir.join("storage").display(),
    );
    if let Some(tls) = tls {
        config.push_str(&format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            tls.certificate.display(),
            tls.key.display()
        ));
    }
    match (auth, token) {
        (RegistryAuth::Htpasswd { .. }, _) => config.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: duncan-test-registry\n    path: {}\n",
            dir.join("htpasswd").display()
        )),
        (RegistryAuth::Token { .. }, Some(token)) => config.push_str(&format!(
            "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    \
             rootcertbundle: {bundle}\n",
            realm = token.realm(),
            service = token::SERVICE,
            issuer = token::ISSUER,
            bundle = token.certificate_path().display(),
        )),
        _ => {}
    }
    config
}

/// Writes an htpasswd file with a bcrypt hash, the only format the registry accepts. Cost 4 (the
/// minimum) keeps each authenticated request cheap on a slow machine.
fn write_htpasswd(path: &Path, user: &str, password: &str) -> Result<()> {
    let salt: [u8; 16] = Sha256::digest(format!("{user}:{:?}", SystemTime::now()))
        .get(..16)
        .and_then(|bytes| bytes.try_into().ok())
        .unwrap_or([7; 16]);
    let hash = bcrypt::hash_with_salt(password, 4, salt)
        .map_err(|error| anyhow::anyhow!("cannot hash the htpasswd password: {error:?}"))?
        .format_for_version(bcrypt::Version::TwoY);
    let mut file = std::fs::File::create(path).context("cannot write the htpasswd file")?;
    writeln!(file, "{user}:{hash}")?;
    Ok(())
}

/// `sha256:` and the hex SHA-256 of `bytes`: a registry digest.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// Base64url without padding, as JWTs use.
fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_auth_debug_hides_the_password() {
        let debug = format!("{:?}", RegistryAuth::token("deployer", "s3cret"));
        assert_eq!(
            debug,
            r#"Token { user: "deployer", password: "<redacted>" }"#
        );
    }

    #[test]
    fn launcher_works_from_plain_code_and_pushes_distinct_digests() {
        let registry = TestRegistry::start(RegistryAuth::None).expect("registry starts");
        let v1 = registry.push_image("acme/shop", "v1").expect("push v1");
        let v2 = registry.push_image("acme/shop", "v2").expect("push v2");
        assert_ne!(v1, v2);
        assert!(v1.starts_with("sha256:") && v1.len() == 71, "{v1}");
        assert!(registry.url().starts_with("http://127.0.0.1:"));
        assert_eq!(registry.token_requests(), 0);
    }
}
