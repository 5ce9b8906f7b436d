//! `duncan config show`: every setting, its value (secrets redacted) and where it came from, and
//! how each key of the file was understood.

use serde_json::json;

use crate::config::{Config, RegistryAuth, Secret, Setting, Source, WebhookFormat, redact_url};
use crate::duration::format_duration;
use crate::failure::{CommandResult, ExitStatus};
use crate::output::{BOLD, Cell, DIM, Output, paint, render_table, table_width};

/// One row of `config show`.
struct Row {
    name: &'static str,
    value: String,
    source: Source,
}

fn row<T>(name: &'static str, setting: &Setting<T>, show: impl Fn(&T) -> String) -> Row {
    Row {
        name,
        value: show(&setting.value),
        source: setting.source.clone(),
    }
}

fn opt<T>(value: &Option<T>, show: impl Fn(&T) -> String) -> String {
    value.as_ref().map_or_else(|| "-".to_owned(), show)
}

fn rows(config: &Config) -> Vec<Row> {
    vec![
        row("marathon_url", &config.marathon_url, |v| {
            opt(v, |url| redact_url(url).into_owned())
        }),
        row("marathon_token", &config.marathon_token, |v| {
            opt(v, Secret::describe)
        }),
        row(
            "marathon_service_account",
            &config.marathon_service_account,
            |v| opt(v, |p| p.display().to_string()),
        ),
        row("consul_url", &config.consul_url, |url| {
            redact_url(url).into_owned()
        }),
        row("consul_token", &config.consul_token, |v| {
            opt(v, Secret::describe)
        }),
        row("consul_http_auth", &config.consul_http_auth, |v| {
            opt(v, |a| format!("user {}, password redacted", a.username()))
        }),
        row("consul_cacert", &config.consul_cacert, |v| {
            opt(v, |p| p.display().to_string())
        }),
        row("consul_capath", &config.consul_capath, |v| {
            opt(v, |p| p.display().to_string())
        }),
        row("consul_client_cert", &config.consul_client_cert, |v| {
            opt(v, |p| p.display().to_string())
        }),
        row("consul_client_key", &config.consul_client_key, |v| {
            // The path only: the key itself is never read here, nor shown.
            opt(v, |p| p.display().to_string())
        }),
        row(
            "consul_tls_server_name",
            &config.consul_tls_server_name,
            |v| opt(v, Clone::clone),
        ),
        row("consul_ssl_verify", &config.consul_ssl_verify, |v| {
            v.to_string()
        }),
        row("consul_namespace", &config.consul_namespace, |v| {
            opt(v, Clone::clone)
        }),
        row("consul_partition", &config.consul_partition, |v| {
            opt(v, Clone::clone)
        }),
        row("marathon_cacert", &config.marathon_cacert, |v| {
            opt(v, |p| p.display().to_string())
        }),
        row("github_org", &config.github_org, |v| opt(v, Clone::clone)),
        row("repos", &config.repos, |m| {
            if m.is_empty() {
                "-".to_owned()
            } else {
                m.iter()
                    .map(|(a, r)| format!("{a}={r}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        }),
        row("docker_repo_prefix", &config.docker_repo_prefix, |v| {
            opt(v, Clone::clone)
        }),
        row("docker_registry_host", &config.docker_registry_host, |v| {
            opt(v, Clone::clone)
        }),
        row("registry_auth", &config.registry_auth, |v| {
            opt(v, |a| match a {
                RegistryAuth::Basic { username, .. } => {
                    format!("basic, user {username}, password redacted")
                }
                RegistryAuth::Token(_) => "token (redacted)".to_owned(),
            })
        }),
        // Shown only when it exists: Docker's file is consulted only then.
        row("docker_config", &config.docker_config, |v| {
            opt(&v.as_ref().filter(|p| p.is_file()), |p| {
                p.display().to_string()
            })
        }),
        row("insecure_registries", &config.insecure_registries, |v| {
            if v.is_empty() {
                "-".to_owned()
            } else {
                v.join(", ")
            }
        }),
        row("webhooks", &config.webhooks, |hooks| {
            if hooks.is_empty() {
                return "-".to_owned();
            }
            hooks
                .iter()
                .map(|h| {
                    let kind = match h.format {
                        WebhookFormat::Slack => "slack",
                        WebhookFormat::Json => "json",
                    };
                    format!("{kind} {}", h.url.describe())
                })
                .collect::<Vec<_>>()
                .join(", ")
        }),
        row("environments", &config.environments, |v| v.join(", ")),
        row("apps", &config.apps, |v| {
            if v.is_empty() {
                "-".to_owned()
            } else {
                v.join(", ")
            }
        }),
        row("timeouts.deploy", &config.deploy_timeout, |v| {
            opt(v, |d| format_duration(*d)).replace('-', "from the apps' health checks")
        }),
        row("timeouts.request", &config.request_timeout, |d| {
            format_duration(*d)
        }),
        row("timeouts.lock_wait", &config.lock_wait, |d| {
            format_duration(*d)
        }),
        row("timeouts.stale_lock", &config.stale_lock, |d| {
            format_duration(*d)
        }),
        row("confirm_by_name", &config.confirm_by_name, |v| {
            if v.is_empty() {
                "-".to_owned()
            } else {
                v.join(", ")
            }
        }),
        row("user", &config.user, Clone::clone),
        row("host", &config.host, Clone::clone),
    ]
}

/// Runs `duncan config show`.
pub fn run(config: &Config, out: Output) -> CommandResult {
    let rows = rows(config);
    if out.json {
        let settings: Vec<_> = rows
            .iter()
            .map(|r| json!({"name": r.name, "value": r.value, "source": r.source.to_string()}))
            .collect();
        let keys: Vec<_> = config
            .key_notes
            .iter()
            .map(|(k, n)| json!({"key": k, "understood_as": n}))
            .collect();
        out.json(&json!({
            "file": config.file.as_ref().map(|p| p.display().to_string()),
            "settings": settings,
            "file_keys": keys,
            "warnings": config.warnings,
        }))?;
        return Ok(ExitStatus::Ok);
    }
    match &config.file {
        Some(path) => out.line(format!(
            "{} {}",
            paint(BOLD, "configuration file:"),
            path.display()
        ))?,
        None => out.line(format!(
            "{} none found (using the environment and defaults)",
            paint(BOLD, "configuration file:")
        ))?,
    }
    out.line("")?;
    let table: Vec<Vec<Cell>> = rows
        .iter()
        .map(|r| {
            let source = match r.source {
                Source::Default | Source::Unset => Cell::styled(r.source.to_string(), DIM),
                _ => Cell::plain(r.source.to_string()),
            };
            vec![Cell::plain(r.name), Cell::plain(r.value.clone()), source]
        })
        .collect();
    for line in render_table(&["SETTING", "VALUE", "SOURCE"], &table, table_width()) {
        out.line(line)?;
    }
    if !config.key_notes.is_empty() {
        out.line("")?;
        out.line(paint(BOLD, "how the file's keys were understood:"))?;
        let width = config
            .key_notes
            .iter()
            .map(|(k, _)| k.len())
            .max()
            .unwrap_or(0);
        for (key, note) in &config.key_notes {
            out.line(format!("  {key:width$}  {note}"))?;
        }
    }
    Ok(ExitStatus::Ok)
}
