//! Docker credential helpers: `docker-credential-<name> get`, the registry on standard input,
//! `{"ServerURL","Username","Secret"}` on standard output.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::{Credentials, DockerConfigError};

/// The default limit for one helper run: keychains and cloud helpers answer in well under a
/// second, but a helper that asks the user (a desktop keychain prompt) may take a few.
pub const DEFAULT_HELPER_TIMEOUT: Duration = Duration::from_secs(20);
/// The most of a helper's output read: an answer is a few hundred bytes (a cloud token a few
/// kilobytes).
const MAX_OUTPUT_BYTES: u64 = 256 * 1024;
/// The user name with which a helper says its secret is an identity token.
const IDENTITY_TOKEN_USERNAME: &str = "<token>";
/// What helpers print when they hold nothing for the registry (the credential-helpers
/// protocol's `ErrCredentialsNotFound`).
const NOT_FOUND: &str = "credentials not found in native keychain";

/// One Docker credential helper, run as Docker runs it.
///
/// ```no_run
/// use std::time::Duration;
/// use registry_client::CredentialHelper;
///
/// let credentials = CredentialHelper::new("ecr-login")
///     .timeout(Duration::from_secs(5))
///     .get("123456789.dkr.ecr.eu-west-1.amazonaws.com")?;
/// # Ok::<(), registry_client::DockerConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct CredentialHelper {
    name: String,
    program: PathBuf,
    timeout: Duration,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

impl CredentialHelper {
    /// The helper `name` (as in `credsStore` / `credHelpers`: `desktop`, `ecr-login`, …), run as
    /// `docker-credential-<name>` found on `PATH`.
    pub fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        Self {
            program: PathBuf::from(format!("docker-credential-{name}")),
            name,
            timeout: DEFAULT_HELPER_TIMEOUT,
        }
    }

    /// Looks for the program in `dir` instead of on `PATH`.
    #[must_use]
    pub fn in_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.program = dir
            .as_ref()
            .join(format!("docker-credential-{}", self.name));
        self
    }

    /// The longest a run may take; the helper is killed past it. Default
    /// [`DEFAULT_HELPER_TIMEOUT`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The helper's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `docker-credential-<name> get` with `server` on standard input, and reads the
    /// credentials it prints: basic credentials, or (user name `<token>`) an identity token
    /// ([`Credentials::IdentityToken`]).
    /// A helper that holds nothing for the server ("credentials not found") gives
    /// [`Credentials::Anonymous`], as in Docker.
    ///
    /// # Errors
    ///
    /// [`DockerConfigError::HelperFailed`] when the program cannot be started, fails, prints
    /// something else than its JSON answer or takes longer than the timeout (it is then
    /// killed).
    pub fn get(&self, server: &str) -> Result<Credentials, DockerConfigError> {
        let failed = |reason: String| DockerConfigError::HelperFailed {
            registry: server.to_owned(),
            helper: self.name.clone(),
            reason,
        };
        let mut child = Command::new(&self.program)
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| failed(format!("`{}` cannot be run: {e}", self.program.display())))?;
        // Docker writes the server address alone; a helper that exits early closes its end.
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(server.as_bytes());
        }
        let reader = child.stdout.take().map(|stdout| {
            std::thread::spawn(move || {
                let mut output = Vec::new();
                let _ = stdout.take(MAX_OUTPUT_BYTES).read_to_end(&mut output);
                output
            })
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(failed(format!(
                        "it did not answer within {:?} and was stopped",
                        self.timeout
                    )));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(failed(format!("waiting for it failed: {e}"))),
            }
        };
        let output = reader
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&output);
        if !status.success() {
            if text.trim() == NOT_FOUND {
                return Ok(Credentials::Anonymous);
            }
            // Helpers print their error on standard output; a short one is shown (never the
            // answer of a successful run, which is the only output holding a secret).
            let said = text.lines().next().unwrap_or_default().trim();
            let said = if said.is_empty() || said.len() > 200 {
                String::new()
            } else {
                format!(": {said}")
            };
            return Err(failed(format!("it failed ({status}){said}")));
        }
        let answer: Answer = serde_json::from_str(&text).map_err(|_| {
            failed("its answer is not the JSON {\"Username\",\"Secret\"} helpers print".to_owned())
        })?;
        if answer.username == IDENTITY_TOKEN_USERNAME {
            return Ok(Credentials::identity_token(answer.secret));
        }
        if answer.username.is_empty() && answer.secret.is_empty() {
            return Ok(Credentials::Anonymous);
        }
        Ok(Credentials::basic(answer.username, answer.secret))
    }
}
