//! Building the clients and duncan-core's [`Context`] from the resolved configuration.

use std::sync::Arc;

use duncan_core::deploy::{Context, ImageCheck, RegistryImageCheck};
use duncan_core::names::Deployer;
use duncan_core::settings::{NotifierConfig, Settings, WebhookUrl};
use registry_client::{Credentials, RegistryClient};

use crate::config::{Config, RegistryAuth, WebhookFormat, redact_url};
use crate::failure::{Failure, error_chain};

/// The Consul client, with the token in a header and the configured timeout.
pub fn consul(config: &Config) -> Result<consul_client::Client, Failure> {
    let bad = |e: &dyn std::error::Error| {
        Failure::usage(redact_url(&format!(
            "cannot use Consul at {}: {e}",
            config.consul_url.value
        )))
        .hint(format!(
            "fix the address (from {}); it looks like https://consul.example:8501",
            config.consul_url.source
        ))
    };
    let mut settings = consul_client::Config::new(&config.consul_url.value)
        .map_err(|e| bad(&e))?
        .with_request_timeout(config.request_timeout.value)
        .with_tls_verify(config.consul_ssl_verify.value);
    if let Some(token) = &config.consul_token.value {
        settings = settings.with_token(token.expose());
    }
    if let Some(auth) = &config.consul_http_auth.value {
        settings = settings.with_http_auth(auth.clone());
    }
    if let Some(ca) = &config.consul_cacert.value {
        settings = settings.with_ca_cert(ca.clone());
    }
    if let Some(dir) = &config.consul_capath.value {
        settings = settings.with_ca_path(dir.clone());
    }
    match (
        &config.consul_client_cert.value,
        &config.consul_client_key.value,
    ) {
        (Some(cert), Some(key)) => {
            settings = settings.with_client_certificate(cert.clone(), key.clone());
        }
        (None, None) => {}
        (Some(_), None) | (None, Some(_)) => {
            let (given, source) = match &config.consul_client_cert.value {
                Some(_) => ("a client certificate", &config.consul_client_cert.source),
                None => ("a client key", &config.consul_client_key.source),
            };
            return Err(Failure::usage(format!(
                "Consul's client certificate and its key go together: only {given} is set \
                 (from {source})"
            ))
            .hint(
                "set both CONSUL_CLIENT_CERT and CONSUL_CLIENT_KEY (or consul_client_cert and \
                 consul_client_key in ~/.duncan.yml)",
            ));
        }
    }
    if let Some(name) = &config.consul_tls_server_name.value {
        settings = settings.with_tls_server_name(name);
    }
    if let Some(ns) = &config.consul_namespace.value {
        settings = settings.with_namespace(ns.clone());
    }
    if let Some(partition) = &config.consul_partition.value {
        settings = settings.with_partition(partition.clone());
    }
    consul_client::Client::new(settings).map_err(|e| Failure::error(error_chain(&e)))
}

/// The Marathon client, with the DC/OS token in a header and the configured timeout.
pub fn marathon(config: &Config) -> Result<marathon_client::Client, Failure> {
    let url = config.require_marathon_url()?;
    let mut settings = marathon_client::Config::new(url)
        .map_err(|e| {
            Failure::usage(redact_url(&format!("cannot use Marathon at {url}: {e}"))).hint(format!(
                "fix the address (from {}); it looks like https://dcos.example/service/marathon",
                config.marathon_url.source
            ))
        })?
        .with_request_timeout(config.request_timeout.value)
        .with_user_agent(format!("duncan/{}", env!("CARGO_PKG_VERSION")));
    if let Some(token) = &config.marathon_token.value {
        settings = settings.with_token(token.expose());
    }
    if let Some(account) = crate::config::service_account(config)? {
        settings = settings.with_service_account(account);
    }
    if let Some(ca) = &config.marathon_cacert.value {
        let pem = std::fs::read(ca).map_err(|e| {
            Failure::usage(format!(
                "cannot read Marathon's CA certificate {} (from {}): {e}",
                ca.display(),
                config.marathon_cacert.source
            ))
            .hint("point MARATHON_CACERT (or marathon_cacert) at a readable PEM file")
        })?;
        settings = settings.with_ca_certificate_pem(pem);
    }
    marathon_client::Client::new(settings).map_err(|e| Failure::error(error_chain(&e)))
}

/// The settings duncan-core works with.
pub fn settings(config: &Config) -> Result<Settings, Failure> {
    let deployer =
        Deployer::new(config.user.value.clone(), config.host.value.clone()).map_err(|e| {
            Failure::usage(format!("cannot record who deploys: {e}"))
                .hint("set DUNCAN_USER (or user in ~/.duncan.yml)")
        })?;
    let mut settings = Settings::new(deployer, env!("CARGO_PKG_VERSION"));
    settings.docker_repo_prefix = config.docker_repo_prefix.value.clone().unwrap_or_default();
    settings.github_org = config.github_org.value.clone();
    settings.repos = config.repos.value.clone();
    let mut environments = Vec::new();
    for env in &config.environments.value {
        environments.push(env.parse().map_err(|e| {
            Failure::usage(format!("configuration: environments: {e}"))
                .hint("fix environments in ~/.duncan.yml")
        })?);
    }
    settings.environments = environments;
    settings.stale_lock_after = config.stale_lock.value;
    settings.notifiers = config
        .webhooks
        .value
        .iter()
        .enumerate()
        .map(|(i, hook)| {
            let url = WebhookUrl::new(hook.url.expose());
            match hook.format {
                WebhookFormat::Slack => NotifierConfig::Slack {
                    name: format!("webhook {}", i + 1),
                    url,
                },
                WebhookFormat::Json => NotifierConfig::JsonWebhook {
                    name: format!("webhook {}", i + 1),
                    url,
                },
            }
        })
        .collect();
    Ok(settings)
}

/// The registry check of new images, with the configured credentials.
fn images(config: &Config) -> Result<Arc<dyn ImageCheck>, Failure> {
    let mut builder = RegistryClient::builder()
        .timeout(config.request_timeout.value)
        .user_agent(format!("duncan/{}", env!("CARGO_PKG_VERSION")));
    for host in &config.insecure_registries.value {
        builder = builder.plain_http_host(host.clone());
    }
    let client = builder
        .build()
        .map_err(|e| Failure::error(error_chain(&e)))?;
    if config.registry_auth.value.is_none()
        && let Some(path) = &config.docker_config.value
    {
        return Ok(crate::config::docker::image_check(client, path.clone()));
    }
    let mut check = RegistryImageCheck::new(client);
    if let Some(auth) = &config.registry_auth.value {
        let host = config.docker_registry_host.value.clone().or_else(|| {
            registry_host(
                config
                    .docker_repo_prefix
                    .value
                    .as_deref()
                    .unwrap_or_default(),
            )
        });
        if let Some(host) = host {
            let credentials = match auth {
                RegistryAuth::Basic { username, password } => {
                    Credentials::basic(username, password.expose())
                }
                RegistryAuth::Token(token) => Credentials::bearer(token.expose()),
            };
            check = check.with_credentials(host, credentials);
        }
    }
    Ok(Arc::new(check))
}

/// The registry host of an image prefix: its first part when that looks like a host
/// (`quay.io/acme` ⇒ `quay.io`), as Docker decides.
fn registry_host(prefix: &str) -> Option<String> {
    let (first, _) = prefix.split_once('/')?;
    (first.contains('.') || first.contains(':') || first == "localhost").then(|| first.to_owned())
}

/// Everything a deploy, rollback, scale or status needs.
pub fn context(config: &Config) -> Result<Context, Failure> {
    Ok(Context {
        consul: consul(config)?,
        marathon: marathon(config)?,
        images: images(config)?,
        settings: settings(config)?,
        cancel: tokio_util::sync::CancellationToken::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::registry_host;

    #[test]
    fn registry_host_is_the_first_part_only_when_it_looks_like_a_host() {
        assert_eq!(registry_host("quay.io/acme").as_deref(), Some("quay.io"));
        assert_eq!(
            registry_host("127.0.0.1:5000/acme").as_deref(),
            Some("127.0.0.1:5000")
        );
        assert_eq!(registry_host("acme"), None);
        assert_eq!(registry_host("acme/team"), None);
    }
}
