//! Resolving each setting from flags, environment and file, in that order.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use duncan_core::names::EnvName;

use super::consul::first;
use super::file::{self, AppsKey, FileKeys, LoadedFile, UNUSED_GO_KEYS, WebhookKey};
use super::{
    Config, DEFAULT_REQUEST_TIMEOUT, Overrides, RegistryAuth, Secret, Setting, Source, Webhook,
    WebhookFormat,
};
use crate::duration::{Kind, parse_kind};
use crate::failure::Failure;

/// A file key's text, trimmed; empty counts as unset.
pub(super) fn trimmed(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// `host` with `default_scheme://` in front when it has no scheme (trailing `/` dropped).
pub(super) fn with_scheme(host: &str, default_scheme: &str) -> String {
    let host = host.trim_end_matches('/');
    if host.contains("://") {
        host.to_owned()
    } else {
        format!("{default_scheme}://{host}")
    }
}

fn list_from_env(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A duration from an environment variable (the file's are checked as the file is read).
fn duration_var(variable: &'static str, text: &str, kind: Kind) -> Result<Duration, Failure> {
    parse_kind(text, kind).map_err(|e| {
        Failure::usage(format!("environment variable {variable}: {e}")).hint(format!(
            "fix {variable}; durations are written like 90s, 5m or 1h30m"
        ))
    })
}

/// Refuses a list of environments holding a name that is not a valid environment name, so a
/// bad entry is reported where it was written instead of when a command names it. `place`
/// says where the list was read: the file and key, or the variable.
fn check_environment_names(list: &[String], place: &str, fix: &str) -> Result<(), Failure> {
    for (index, name) in list.iter().enumerate() {
        if let Err(e) = EnvName::new(name.as_str()) {
            return Err(
                Failure::usage(format!("{place}: entry {}: {e}", index + 1)).hint(fix.to_owned())
            );
        }
    }
    Ok(())
}

pub(super) fn resolve(
    loaded: Option<LoadedFile>,
    flags: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, Failure> {
    let (path, keys, mode) = match loaded {
        Some(f) => (Some(f.path), f.keys, f.mode),
        None => (None, FileKeys::default(), None),
    };
    let mut warnings = Vec::new();
    let mut notes = Vec::new();
    let shown = path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();

    // Marathon: --marathon-url > MARATHON_URL > DCOS_URL > marathon_url > marathon_host.
    let marathon_url = if let Some(url) = &flags.marathon_url {
        Setting::new(
            Some(url.trim_end_matches('/').to_owned()),
            Source::Flag("--marathon-url"),
        )
    } else if let Some(url) = env("MARATHON_URL") {
        Setting::new(
            Some(url.trim_end_matches('/').to_owned()),
            Source::Env("MARATHON_URL"),
        )
    } else if let Some(url) = env("DUNCAN_MARATHON_URL") {
        Setting::new(
            Some(url.trim_end_matches('/').to_owned()),
            Source::Env("DUNCAN_MARATHON_URL"),
        )
    } else if let Some(base) = env("DCOS_URL") {
        Setting::new(
            Some(format!("{}/service/marathon", with_scheme(&base, "https"))),
            Source::Env("DCOS_URL"),
        )
    } else if let Some(url) = trimmed(&keys.marathon_url) {
        Setting::new(
            Some(url.trim_end_matches('/').to_owned()),
            Source::File("marathon_url"),
        )
    } else if let Some(base) = trimmed(&keys.marathon_host) {
        Setting::new(
            Some(format!("{}/service/marathon", with_scheme(&base, "https"))),
            Source::File("marathon_host"),
        )
    } else {
        Setting::new(None, Source::Unset)
    };
    let marathon_token = if let Some(t) = env("DCOS_ACS_TOKEN") {
        Setting::new(Some(Secret::new(t)), Source::Env("DCOS_ACS_TOKEN"))
    } else if let Some(t) = env("DUNCAN_MARATHON_TOKEN") {
        Setting::new(Some(Secret::new(t)), Source::Env("DUNCAN_MARATHON_TOKEN"))
    } else if let Some(t) = trimmed(&keys.marathon_token) {
        Setting::new(Some(Secret::new(t)), Source::File("marathon_token"))
    } else {
        Setting::new(None, Source::Unset)
    };

    // Consul: consul-client's reading of Consul's variables, between the flag and the file.
    let consul = super::consul::resolve(&keys, flags, env)?;
    let marathon_cacert = first(
        [
            (
                Source::Env("MARATHON_CACERT"),
                env("MARATHON_CACERT").map(|p| Some(PathBuf::from(p))),
            ),
            (
                Source::File("marathon_cacert"),
                trimmed(&keys.marathon_cacert).map(|p| Some(PathBuf::from(p))),
            ),
        ],
        Setting::new(None, Source::Unset),
    );

    // Only what nothing above set comes from the dcos CLI's attached cluster.
    let (mut marathon_url, mut marathon_token, mut marathon_cacert) =
        (marathon_url, marathon_token, marathon_cacert);
    super::dcos::fill_from_dcos_cli(
        env,
        &mut marathon_url,
        &mut marathon_token,
        &mut marathon_cacert,
        &mut warnings,
    );
    let marathon_service_account =
        super::dcos::service_account_setting(env, &keys.marathon_service_account);

    let string_setting = |env_name: &'static str, key: &'static str, value: &Option<String>| {
        first(
            [
                (Source::Env(env_name), env(env_name).map(Some)),
                (Source::File(key), trimmed(value).map(Some)),
            ],
            Setting::new(None, Source::Unset),
        )
    };
    let github_org = string_setting("DUNCAN_GITHUB_ORG", "github_org", &keys.github_org);
    let docker_repo_prefix = string_setting(
        "DUNCAN_DOCKER_REPO_PREFIX",
        "docker_repo_prefix",
        &keys
            .docker_repo_prefix
            .as_ref()
            .map(|p| p.trim_end_matches('/').to_owned()),
    );
    let docker_registry_host = string_setting(
        "DUNCAN_DOCKER_REGISTRY_HOST",
        "docker_registry_host",
        &keys.docker_registry_host,
    );
    let repos = match &keys.repos {
        Some(r) => Setting::new(r.clone(), Source::File("repos")),
        None => Setting::new(BTreeMap::new(), Source::Unset),
    };

    let registry_auth = registry_auth(&keys)?;

    let insecure_registries = first(
        [
            (
                Source::Env("DUNCAN_INSECURE_REGISTRIES"),
                env("DUNCAN_INSECURE_REGISTRIES").map(|l| list_from_env(&l)),
            ),
            (
                Source::File("insecure_registries"),
                keys.insecure_registries.clone(),
            ),
        ],
        Setting::new(Vec::new(), Source::Unset),
    );

    let webhooks = webhooks(&keys)?;

    let (environments, apps, confirm_by_name) = lists(&keys, env, &shown)?;

    let no_timeouts = file::TimeoutsKey::default();
    let timeouts = keys.timeouts.as_ref().unwrap_or(&no_timeouts);
    let env_duration = |variable: &'static str, kind: Kind| {
        env(variable)
            .map(|t| duration_var(variable, &t, kind))
            .transpose()
    };
    let deploy_timeout = first(
        [
            (
                Source::Env("DUNCAN_DEPLOY_TIMEOUT"),
                env_duration("DUNCAN_DEPLOY_TIMEOUT", Kind::Deadline)?.map(Some),
            ),
            (Source::File("timeouts.deploy"), timeouts.deploy.map(Some)),
        ],
        Setting::new(None, Source::Default),
    );
    let request_timeout = first(
        [
            (
                Source::Env("DUNCAN_REQUEST_TIMEOUT"),
                env_duration("DUNCAN_REQUEST_TIMEOUT", Kind::Request)?,
            ),
            (Source::File("timeouts.request"), timeouts.request),
        ],
        Setting::new(DEFAULT_REQUEST_TIMEOUT, Source::Default),
    );
    let lock_wait = first(
        [(Source::File("timeouts.lock_wait"), timeouts.lock_wait)],
        Setting::new(Duration::ZERO, Source::Default),
    );
    let stale_lock = first(
        [(Source::File("timeouts.stale_lock"), timeouts.stale_lock)],
        Setting::new(
            duncan_core::settings::DEFAULT_STALE_LOCK_AFTER,
            Source::Default,
        ),
    );

    let user = first(
        [
            (Source::Env("DUNCAN_USER"), env("DUNCAN_USER")),
            (Source::File("user"), trimmed(&keys.user)),
            (Source::Env("USER"), env("USER")),
            (Source::Env("LOGNAME"), env("LOGNAME")),
        ],
        Setting::new("unknown".to_owned(), Source::Default),
    );

    let host = host(env);

    // How each key of the file was understood, for `config show`.
    notes.extend(super::notes::notes(&keys));
    file_warnings(&keys, mode, &shown, &mut notes, &mut warnings);

    Ok(Config {
        file: path,
        marathon_url,
        marathon_token,
        consul_url: consul.url,
        consul_token: consul.token,
        consul_http_auth: consul.http_auth,
        consul_cacert: consul.cacert,
        consul_capath: consul.capath,
        consul_client_cert: consul.client_cert,
        consul_client_key: consul.client_key,
        consul_tls_server_name: consul.tls_server_name,
        consul_ssl_verify: consul.ssl_verify,
        consul_namespace: consul.namespace,
        consul_partition: consul.partition,
        marathon_cacert,
        marathon_service_account,
        github_org,
        repos,
        docker_repo_prefix,
        docker_registry_host,
        registry_auth,
        docker_config: super::docker::config_path(env),
        insecure_registries,
        webhooks,
        environments,
        apps,
        deploy_timeout,
        request_timeout,
        lock_wait,
        stale_lock,
        confirm_by_name,
        user,
        host,
        key_notes: notes,
        warnings,
    })
}

/// `registry_auth` (username and password, or a token), else the Go tool's `quay_token`.
fn registry_auth(keys: &FileKeys) -> Result<Setting<Option<RegistryAuth>>, Failure> {
    let auth = match (&keys.registry_auth, trimmed(&keys.quay_token)) {
        (Some(auth), _) => match (&auth.username, &auth.password, &auth.token) {
            (Some(u), Some(p), None) => Setting::new(
                Some(RegistryAuth::Basic {
                    username: u.clone(),
                    password: Secret::new(p.clone()),
                }),
                Source::File("registry_auth"),
            ),
            (None, None, Some(t)) => Setting::new(
                Some(RegistryAuth::Token(Secret::new(t.clone()))),
                Source::File("registry_auth"),
            ),
            _ => {
                return Err(Failure::usage(
                    "configuration: registry_auth needs either username and password, or token",
                )
                .hint("fix registry_auth in the configuration file"));
            }
        },
        (None, Some(t)) => Setting::new(
            Some(RegistryAuth::Token(Secret::new(t))),
            Source::File("quay_token"),
        ),
        (None, None) => Setting::new(None, Source::Unset),
    };
    Ok(auth)
}

/// `slack_webhook_url` and the `webhooks` list.
fn webhooks(keys: &FileKeys) -> Result<Setting<Vec<Webhook>>, Failure> {
    let mut hooks = Vec::new();
    let mut hook_source = Source::Unset;
    if let Some(url) = trimmed(&keys.slack_webhook_url) {
        hooks.push(Webhook {
            url: Secret::new(url),
            format: WebhookFormat::Slack,
        });
        hook_source = Source::File("slack_webhook_url");
    }
    for hook in keys.webhooks.iter().flatten() {
        let (url, format) = match hook {
            WebhookKey::Url(url) => (url.clone(), WebhookFormat::Slack),
            WebhookKey::Detailed { url, format } => {
                let format = match format.as_deref() {
                    None | Some("slack") => WebhookFormat::Slack,
                    Some("json") => WebhookFormat::Json,
                    Some(other) => {
                        return Err(Failure::usage(format!(
                            "configuration: webhooks: unknown format `{other}` (use slack or json)"
                        ))
                        .hint("fix webhooks in the configuration file"));
                    }
                };
                (url.clone(), format)
            }
        };
        hooks.push(Webhook {
            url: Secret::new(url),
            format,
        });
        hook_source = Source::File("webhooks");
    }
    Ok(Setting::new(hooks, hook_source))
}

/// The host recorded with the deployer: `HOSTNAME`, else the kernel's name for the machine.
fn host(env: &dyn Fn(&str) -> Option<String>) -> Setting<String> {
    if let Some(h) = env("HOSTNAME") {
        Setting::new(h, Source::Env("HOSTNAME"))
    } else if let Some(h) = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
    {
        Setting::new(h, Source::Default)
    } else {
        Setting::new("localhost".to_owned(), Source::Default)
    }
}

/// The notes and warnings of keys duncan does not read (the Go tool's unused ones, unknown
/// ones), and of a file holding a secret that others may read.
fn file_warnings(
    keys: &FileKeys,
    mode: Option<u32>,
    shown: &str,
    notes: &mut Vec<(String, String)>,
    warnings: &mut Vec<String>,
) {
    for key in keys.other.keys() {
        if let Some((_, why)) = UNUSED_GO_KEYS.iter().find(|(k, _)| k == key) {
            notes.push((key.clone(), format!("accepted, not used: {why}")));
        } else {
            notes.push((key.clone(), "unknown key, ignored".to_owned()));
            let near = super::suggest::closest(
                key,
                file::KNOWN_KEYS
                    .iter()
                    .chain(UNUSED_GO_KEYS.iter().map(|(k, _)| k))
                    .copied(),
            )
            .map(|near| format!("; did you mean `{near}`?"))
            .unwrap_or_default();
            warnings.push(format!("unknown key `{key}` in {shown} (ignored){near}"));
        }
    }

    if let Some(mode) = mode
        && mode & 0o077 != 0
        && keys.holds_secret()
    {
        warnings.push(format!(
            "{shown} holds a token and can be read by others (mode {mode:04o}); run: chmod 600 {shown}"
        ));
    }
}

/// A list setting.
type List = Setting<Vec<String>>;

/// The environments commands may name, the configured apps, and the environments confirmed by
/// name; each list is checked where it was written.
fn lists(
    keys: &FileKeys,
    env: &dyn Fn(&str) -> Option<String>,
    shown: &str,
) -> Result<(List, List, List), Failure> {
    // The file's list is checked even when the variable overrides it: the file is wrong either way.
    if let Some(list) = &keys.environments {
        check_environment_names(
            list,
            &format!("configuration file {shown}, key `environments`"),
            &format!("fix `environments` in {shown}, e.g. environments: [stage, production]"),
        )?;
    }
    let environments = if let Some(list) = env("DUNCAN_ENVIRONMENTS") {
        let list = list_from_env(&list);
        check_environment_names(
            &list,
            "environment variable DUNCAN_ENVIRONMENTS",
            "fix DUNCAN_ENVIRONMENTS: a comma-separated list such as stage,production",
        )?;
        Setting::new(list, Source::Env("DUNCAN_ENVIRONMENTS"))
    } else if let Some(list) = keys.environments.clone().filter(|l| !l.is_empty()) {
        Setting::new(list, Source::File("environments"))
    } else {
        Setting::new(
            vec!["stage".to_owned(), "production".to_owned()],
            Source::Default,
        )
    };
    let apps = if let Some(list) = env("DUNCAN_APPS") {
        Setting::new(list_from_env(&list), Source::Env("DUNCAN_APPS"))
    } else {
        match &keys.apps {
            Some(AppsKey::List(list)) => Setting::new(list.clone(), Source::File("apps")),
            Some(AppsKey::Map(map)) => {
                Setting::new(map.keys().cloned().collect(), Source::File("apps"))
            }
            None => Setting::new(Vec::new(), Source::Unset),
        }
    };

    // By default the environments called production or prod are confirmed by name.
    if let Some(list) = &keys.confirm_by_name {
        check_environment_names(
            list,
            &format!("configuration file {shown}, key `confirm_by_name`"),
            &format!("fix `confirm_by_name` in {shown}, e.g. confirm_by_name: [production]"),
        )?;
    }
    let confirm_by_name = if let Some(list) = env("DUNCAN_CONFIRM_BY_NAME") {
        let list = list_from_env(&list);
        check_environment_names(
            &list,
            "environment variable DUNCAN_CONFIRM_BY_NAME",
            "fix DUNCAN_CONFIRM_BY_NAME: a comma-separated list such as production",
        )?;
        Setting::new(list, Source::Env("DUNCAN_CONFIRM_BY_NAME"))
    } else if let Some(list) = keys.confirm_by_name.clone() {
        Setting::new(list, Source::File("confirm_by_name"))
    } else {
        Setting::new(
            environments
                .value
                .iter()
                .filter(|e| matches!(e.as_str(), "production" | "prod"))
                .cloned()
                .collect(),
            Source::Default,
        )
    };
    Ok((environments, apps, confirm_by_name))
}
