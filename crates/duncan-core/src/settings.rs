//! The settings duncan-core works with, filled in by the CLI.
//!
//! Nothing here reads a file or the environment (only the `duncan` binary does); the CLI builds a
//! [`Settings`] from `~/.duncan.yml`, the environment and flags, and hands it to the core.
//! Webhook URLs are secrets (they authorise posting to a channel): they are kept in
//! [`WebhookUrl`], whose `Debug` and `Display` never show the URL.
//!
//! ```
//! use duncan_core::names::Deployer;
//! use duncan_core::settings::Settings;
//!
//! let settings = Settings::new(Deployer::new("alice", "laptop")?, "0.1.0");
//! assert!(settings.is_environment_allowed(&"stage".parse()?));
//! assert!(!settings.is_environment_allowed(&"qa".parse()?));
//! assert_eq!(settings.audit_retention, 1000);
//! # Ok::<(), duncan_core::names::NameError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::names::{AppName, Deployer, EnvName};

/// How many audit events are kept per app/env unless configured otherwise.
pub const DEFAULT_AUDIT_RETENTION: usize = 1000;

/// How long one notifier request may take unless configured otherwise.
pub const DEFAULT_NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);

/// How old a deploy lock may get before it is called probably stale, unless configured otherwise;
/// a Go-tool lock older than this is no longer honoured (see [`crate::lock`]).
pub const DEFAULT_STALE_LOCK_AFTER: Duration = Duration::from_secs(3600);

/// The environments allowed unless configured otherwise (the Go tool's only two).
pub const DEFAULT_ENVIRONMENTS: [&str; 2] = ["stage", "production"];

/// A webhook URL, which is a secret: it is never shown by `Debug` or `Display`.
///
/// Use [`WebhookUrl::expose`] only to send the request.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// Wraps a webhook URL.
    pub fn new(url: impl Into<String>) -> Self {
        WebhookUrl(url.into())
    }

    /// The URL itself, for sending the request. Never log or print it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookUrl(<redacted>)")
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted webhook URL>")
    }
}

/// One place deploy notifications are sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotifierConfig {
    /// A Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat…): a JSON body with
    /// `text`, as the Go tool's `slack_webhook_url`.
    Slack {
        /// A name for the notifier in warnings (e.g. `slack`), never the URL.
        name: String,
        /// The webhook URL (secret).
        url: WebhookUrl,
    },
    /// A generic webhook that receives the audit [`Event`](crate::audit::Event) as JSON.
    JsonWebhook {
        /// A name for the notifier in warnings, never the URL.
        name: String,
        /// The webhook URL (secret).
        url: WebhookUrl,
    },
}

impl NotifierConfig {
    /// The notifier's name as shown in warnings.
    pub fn name(&self) -> &str {
        match self {
            NotifierConfig::Slack { name, .. } | NotifierConfig::JsonWebhook { name, .. } => name,
        }
    }
}

/// Everything duncan-core needs to know that is not an argument of one operation.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Settings {
    /// The prefix of the images duncan deploys (`{docker_repo_prefix}/{app}:{tag}`), e.g.
    /// `quay.io/acme`. Empty means images are named `{app}:{tag}`.
    pub docker_repo_prefix: String,
    /// The GitHub organisation for diff links; `None` when not configured.
    pub github_org: Option<String>,
    /// Application name → GitHub repository name, when they differ (the Go tool's `repos`).
    pub repos: BTreeMap<String, String>,
    /// The environments that may be deployed to.
    pub environments: Vec<EnvName>,
    /// How many audit events to keep per app/env; older ones are pruned.
    pub audit_retention: usize,
    /// Where notifications go.
    pub notifiers: Vec<NotifierConfig>,
    /// Whether to fire the Consul user event `duncan-deploy` after a deploy.
    pub fire_consul_event: bool,
    /// How long one notifier request may take.
    pub notify_timeout: Duration,
    /// Who is running duncan.
    pub deployer: Deployer,
    /// duncan's version, recorded in the lock holder.
    pub duncan_version: String,
    /// A lock held for longer is reported as probably stale; a Go-tool lock older than this is
    /// taken over (a younger one is honoured as held).
    pub stale_lock_after: Duration,
}

impl Settings {
    /// Settings with the defaults: no image prefix, no GitHub org, environments `stage` and
    /// `production`, a retention of 1000 events, no notifiers, the Consul user event on.
    pub fn new(deployer: Deployer, duncan_version: impl Into<String>) -> Self {
        Settings {
            docker_repo_prefix: String::new(),
            github_org: None,
            repos: BTreeMap::new(),
            environments: default_environments(),
            audit_retention: DEFAULT_AUDIT_RETENTION,
            notifiers: Vec::new(),
            fire_consul_event: true,
            notify_timeout: DEFAULT_NOTIFY_TIMEOUT,
            deployer,
            duncan_version: duncan_version.into(),
            stale_lock_after: DEFAULT_STALE_LOCK_AFTER,
        }
    }

    /// Whether `env` is one of the allowed environments.
    pub fn is_environment_allowed(&self, env: &EnvName) -> bool {
        self.environments.contains(env)
    }

    /// Checks that `env` is allowed.
    ///
    /// # Errors
    ///
    /// [`EnvironmentNotAllowed`] naming the environment and the allowed ones.
    pub fn check_environment(&self, env: &EnvName) -> Result<(), EnvironmentNotAllowed> {
        if self.is_environment_allowed(env) {
            Ok(())
        } else {
            Err(EnvironmentNotAllowed {
                env: env.clone(),
                allowed: self.environments.clone(),
            })
        }
    }

    /// The GitHub repository of `app`: its entry in [`Settings::repos`], else the app name.
    pub fn repo_for<'a>(&'a self, app: &'a AppName) -> &'a str {
        self.repos
            .get(app.as_str())
            .map_or(app.as_str(), String::as_str)
    }
}

/// `stage` and `production`, the Go tool's environments.
fn default_environments() -> Vec<EnvName> {
    DEFAULT_ENVIRONMENTS
        .iter()
        .filter_map(|e| EnvName::new(*e).ok())
        .collect()
}

/// An environment that is not in the configured list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "environment \"{env}\" is not allowed (allowed: {}); add it to the configured environments",
    allowed.iter().map(EnvName::as_str).collect::<Vec<_>>().join(", ")
)]
pub struct EnvironmentNotAllowed {
    /// The rejected environment.
    pub env: EnvName,
    /// The allowed environments.
    pub allowed: Vec<EnvName>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_settings_never_shows_webhook_urls() {
        let mut s = Settings::new(Deployer::new("a", "h").unwrap(), "1");
        s.notifiers.push(NotifierConfig::Slack {
            name: "slack".into(),
            url: WebhookUrl::new("https://hooks.example/T000/SECRET"),
        });
        let shown = format!("{s:?} {}", WebhookUrl::new("https://x/SECRET"));
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn environment_not_allowed_names_the_allowed_ones() {
        let s = Settings::new(Deployer::new("a", "h").unwrap(), "1");
        let err = s.check_environment(&"qa".parse().unwrap()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment \"qa\" is not allowed (allowed: stage, production); add it to the \
             configured environments"
        );
        assert!(s.check_environment(&"production".parse().unwrap()).is_ok());
    }
}
