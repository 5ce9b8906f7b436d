//! duncan's settings and where each came from: flag > environment > file > default.
//!
//! The CLI is the only place that reads environment variables and files; everything else gets a
//! resolved [`Config`].

mod consul;
mod dcos;
pub mod docker;
pub mod file;
mod nesting;
mod notes;
mod resolve;
mod secret;
pub mod suggest;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use dcos::read_service_account as service_account;
pub use secret::{Secret, redact_url};

use crate::failure::Failure;
#[cfg(test)]
use file::LoadedFile;
use resolve::resolve;

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag.
    Flag(&'static str),
    /// An environment variable.
    Env(&'static str),
    /// A key of the configuration file.
    File(&'static str),
    /// A key of the dcos CLI's configuration of the attached cluster.
    DcosCli {
        /// The `dcos.toml` read.
        file: PathBuf,
        /// The key, such as `core.dcos_url`.
        key: &'static str,
    },
    /// duncan's default.
    Default,
    /// Not set anywhere.
    Unset,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flag(name) => write!(f, "flag {name}"),
            Self::Env(name) => write!(f, "env {name}"),
            Self::File(key) => write!(f, "file: {key}"),
            Self::DcosCli { file, key } => write!(f, "dcos CLI: {key} in {}", file.display()),
            Self::Default => f.write_str("default"),
            Self::Unset => f.write_str("not set"),
        }
    }
}

/// A setting's value with its source.
#[derive(Debug, Clone)]
pub struct Setting<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub source: Source,
}

impl<T> Setting<T> {
    pub(super) fn new(value: T, source: Source) -> Self {
        Self { value, source }
    }
}

/// The format of a webhook's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// Slack's incoming-webhook JSON (`{"text": …}`).
    Slack,
    /// duncan's audit event as JSON.
    Json,
}

/// A webhook to notify after deploys and other changes.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// The URL: a secret.
    pub url: Secret,
    /// The body format.
    pub format: WebhookFormat,
}

/// Credentials for the image registry.
#[derive(Debug, Clone)]
pub enum RegistryAuth {
    /// Basic auth.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// A bearer token (the Go tool's `quay_token`).
    Token(Secret),
}

/// Every setting duncan uses, resolved.
#[derive(Debug)]
pub struct Config {
    /// The configuration file read, if any.
    pub file: Option<PathBuf>,
    /// Marathon's base URL (without `/v2`).
    pub marathon_url: Setting<Option<String>>,
    /// DC/OS or Marathon token.
    pub marathon_token: Setting<Option<Secret>>,
    /// Consul's base URL.
    pub consul_url: Setting<String>,
    /// Consul ACL token.
    pub consul_token: Setting<Option<Secret>>,
    /// HTTP basic auth for Consul (`CONSUL_HTTP_AUTH`); its `Debug` hides the password.
    pub consul_http_auth: Setting<Option<consul_client::HttpAuth>>,
    /// CA certificate for Consul.
    pub consul_cacert: Setting<Option<PathBuf>>,
    /// Directory of CA certificates for Consul.
    pub consul_capath: Setting<Option<PathBuf>>,
    /// Client certificate shown to Consul (mutual TLS).
    pub consul_client_cert: Setting<Option<PathBuf>>,
    /// The client certificate's key.
    pub consul_client_key: Setting<Option<PathBuf>>,
    /// The name Consul's certificate is verified against.
    pub consul_tls_server_name: Setting<Option<String>>,
    /// Whether Consul's certificate is verified.
    pub consul_ssl_verify: Setting<bool>,
    /// Consul Enterprise namespace.
    pub consul_namespace: Setting<Option<String>>,
    /// Consul Enterprise admin partition.
    pub consul_partition: Setting<Option<String>>,
    /// CA certificate for Marathon.
    pub marathon_cacert: Setting<Option<PathBuf>>,
    /// A DC/OS service-account credential file to log in with (instead of a token).
    pub marathon_service_account: Setting<Option<PathBuf>>,
    /// GitHub organisation for diff links.
    pub github_org: Setting<Option<String>>,
    /// App → GitHub repository, for apps whose repository has another name.
    pub repos: Setting<BTreeMap<String, String>>,
    /// Image prefix, e.g. `quay.io/myorg`: apps run `{prefix}/{app}:{tag}`.
    pub docker_repo_prefix: Setting<Option<String>>,
    /// Registry host, when not the first part of the prefix.
    pub docker_registry_host: Setting<Option<String>>,
    /// Registry credentials.
    pub registry_auth: Setting<Option<RegistryAuth>>,
    /// Docker's client configuration, whose credentials (and credential helpers) serve when
    /// `registry_auth` is not set.
    pub docker_config: Setting<Option<PathBuf>>,
    /// Registries spoken to over plain HTTP.
    pub insecure_registries: Setting<Vec<String>>,
    /// Webhooks to notify.
    pub webhooks: Setting<Vec<Webhook>>,
    /// Environments commands may name.
    pub environments: Setting<Vec<String>>,
    /// Configured apps.
    pub apps: Setting<Vec<String>>,
    /// Deadline of a deployment; `None`: derived from the apps' health checks.
    pub deploy_timeout: Setting<Option<Duration>>,
    /// Timeout of each HTTP request.
    pub request_timeout: Setting<Duration>,
    /// Default wait for a held lock.
    pub lock_wait: Setting<Duration>,
    /// Age past which a lock is probably stale (and a Go-tool lock is taken over).
    pub stale_lock: Setting<Duration>,
    /// Environments whose deploys are confirmed by typing the environment's name.
    pub confirm_by_name: Setting<Vec<String>>,
    /// Name recorded as deployer.
    pub user: Setting<String>,
    /// Host recorded with the deployer.
    pub host: Setting<String>,
    /// How each key found in the file was understood (key, explanation).
    pub key_notes: Vec<(String, String)>,
    /// Things the user should know: unknown keys, loose permissions.
    pub warnings: Vec<String>,
}

/// Flag values that override configuration.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--consul-url`.
    pub consul_url: Option<String>,
    /// `--marathon-url`.
    pub marathon_url: Option<String>,
}

/// Default request timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Consul's default address, as Consul's own tools assume.
pub const DEFAULT_CONSUL_URL: &str = "http://127.0.0.1:8500";

impl Config {
    /// Loads the configuration: the file (from `--config`, `DUNCAN_CONFIG` or `$HOME/.duncan.yml`),
    /// then environment variables (read through `env`), then flags.
    pub fn load(
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Failure> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let (path, required) = match (&overrides.config, env("DUNCAN_CONFIG")) {
            (Some(path), _) => (Some(path.clone()), true),
            (None, Some(path)) => (Some(PathBuf::from(path)), true),
            (None, None) => (
                env("HOME").map(|home| Path::new(&home).join(".duncan.yml")),
                false,
            ),
        };
        let loaded = match &path {
            Some(path) => file::read(path, required)?,
            None => None,
        };
        match &loaded {
            Some(file) => tracing::info!("configuration read from {}", file.path.display()),
            None => tracing::info!("no configuration file: using the environment and defaults"),
        }
        let config = resolve(loaded, overrides, &env)?;
        tracing::info!(
            "Consul at {} (from {}), Marathon at {} (from {})",
            redact_url(&config.consul_url.value),
            config.consul_url.source,
            redact_url(
                config
                    .marathon_url
                    .value
                    .as_deref()
                    .unwrap_or("(not configured)")
            ),
            config.marathon_url.source
        );
        Ok(config)
    }

    /// Resolves a configuration from an already-read file (for tests).
    #[cfg(test)]
    pub fn from_parts(
        loaded: Option<LoadedFile>,
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Failure> {
        resolve(loaded, overrides, env)
    }

    /// Checks an environment name against the allowed list.
    pub fn check_environment(&self, env: &str) -> Result<(), Failure> {
        let allowed = &self.environments.value;
        if allowed.iter().any(|e| e == env) {
            return Ok(());
        }
        let hint = match suggest::closest(env, allowed.iter().map(String::as_str)) {
            Some(near) => format!(
                "did you mean `{near}`? (or add the name to `environments` in the configuration \
                 file)"
            ),
            None => {
                "use one of those, or add it to `environments` in the configuration file".to_owned()
            }
        };
        Err(Failure::usage(format!(
            "environment `{env}` is not allowed (allowed: {})",
            allowed.join(", ")
        ))
        .hint(hint))
    }

    /// What confirms a deploy to `env` at the prompt: its name for the environments under
    /// `confirm_by_name`, else `yes`.
    pub fn confirmation(&self, env: &str) -> crate::prompt::Expect {
        crate::prompt::expect_for(env, &self.confirm_by_name.value)
    }

    /// Checks an app name against the configured `apps`, when there are any, so that a typo is
    /// told before anything is asked of Consul or Marathon. Names that are not valid app names
    /// pass: the command refuses them with the naming rule.
    pub fn check_app(&self, app: &str) -> Result<(), Failure> {
        let configured = &self.apps.value;
        if configured.is_empty()
            || configured.iter().any(|a| a == app)
            || duncan_core::names::AppName::new(app).is_err()
        {
            return Ok(());
        }
        let place = match &self.apps.source {
            Source::Env(name) => (*name).to_owned(),
            _ => "`apps` in the configuration file".to_owned(),
        };
        let hint = match suggest::closest(app, configured.iter().map(String::as_str)) {
            Some(near) => format!("did you mean `{near}`? (or add `{app}` to {place})"),
            None => format!("check the name, or add `{app}` to {place}"),
        };
        Err(Failure::usage(format!(
            "app `{app}` is not configured (configured: {})",
            configured.join(", ")
        ))
        .hint(hint))
    }

    /// Marathon's URL, or a failure saying how to set it.
    pub fn require_marathon_url(&self) -> Result<&str, Failure> {
        self.marathon_url.value.as_deref().ok_or_else(|| {
            Failure::usage("Marathon's address is not configured").hint(
                "set marathon_host (the DC/OS base) or marathon_url in ~/.duncan.yml, \
                 or MARATHON_URL / DCOS_URL",
            )
        })
    }
}

#[cfg(test)]
mod tests;
