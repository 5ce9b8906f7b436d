//! Resolving each setting from flags, environment and file, in that order.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use duncan_core::names::EnvName;

use super::file::{self, AppsKey, FileKeys, LoadedFile, UNUSED_GO_KEYS, WebhookKey};
use super::{
    Config, DEFAULT_CONSUL_URL, DEFAULT_REQUEST_TIMEOUT, Overrides, RegistryAuth, Secret, Setting,
    Source, Webhook, WebhookFormat,
};
use crate::duration::{Kind, parse_kind};
use crate::failure::Failure;

fn trimmed(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn with_scheme(host: &str, default_scheme: &str) -> String {
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

    // Consul: --consul-url > CONSUL_HTTP_ADDR > consul_url > consul_host > default.
    let ssl = env("CONSUL_HTTP_SSL")
        .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "TRUE" | "True"));
    let consul_url = if let Some(url) = &flags.consul_url {
        Setting::new(with_scheme(url, "http"), Source::Flag("--consul-url"))
    } else if let Some(addr) = env("CONSUL_HTTP_ADDR") {
        Setting::new(
            with_scheme(&addr, if ssl { "https" } else { "http" }),
            Source::Env("CONSUL_HTTP_ADDR"),
        )
    } else if let Some(url) = env("DUNCAN_CONSUL_URL") {
        Setting::new(with_scheme(&url, "http"), Source::Env("DUNCAN_CONSUL_URL"))
    } else if let Some(url) = trimmed(&keys.consul_url) {
        Setting::new(with_scheme(&url, "http"), Source::File("consul_url"))
    } else if let Some(host) = trimmed(&keys.consul_host) {
        // The Go tool always spoke https to consul_host.
        Setting::new(with_scheme(&host, "https"), Source::File("consul_host"))
    } else {
        Setting::new(DEFAULT_CONSUL_URL.to_owned(), Source::Default)
    };
    let read_token_file = |file: &str, source: &str| -> Result<Secret, Failure> {
        std::fs::read_to_string(file)
            .map(|t| Secret::new(t.trim().to_owned()))
            .map_err(|e| {
                Failure::usage(format!(
                    "cannot read the Consul token file named by {source}: {e}"
                ))
                .hint("check the path, or set the token with CONSUL_HTTP_TOKEN")
            })
    };
    // The token file wins over the token, as in Consul's own CLI.
    let consul_token = if let Some(f) = env("CONSUL_HTTP_TOKEN_FILE") {
        Setting::new(
            Some(read_token_file(&f, "CONSUL_HTTP_TOKEN_FILE")?),
            Source::Env("CONSUL_HTTP_TOKEN_FILE"),
        )
    } else if let Some(t) = env("CONSUL_HTTP_TOKEN") {
        Setting::new(Some(Secret::new(t)), Source::Env("CONSUL_HTTP_TOKEN"))
    } else if let Some(t) = trimmed(&keys.consul_token) {
        Setting::new(Some(Secret::new(t)), Source::File("consul_token"))
    } else if let Some(f) = trimmed(&keys.consul_token_file) {
        Setting::new(
            Some(read_token_file(&f, "consul_token_file")?),
            Source::File("consul_token_file"),
        )
    } else {
        Setting::new(None, Source::Unset)
    };
    let consul_cacert = if let Some(p) = env("CONSUL_CACERT") {
        Setting::new(Some(PathBuf::from(p)), Source::Env("CONSUL_CACERT"))
    } else if let Some(p) = trimmed(&keys.consul_cacert) {
        Setting::new(Some(PathBuf::from(p)), Source::File("consul_cacert"))
    } else {
        Setting::new(None, Source::Unset)
    };
    let marathon_cacert = if let Some(p) = env("MARATHON_CACERT") {
        Setting::new(Some(PathBuf::from(p)), Source::Env("MARATHON_CACERT"))
    } else if let Some(p) = trimmed(&keys.marathon_cacert) {
        Setting::new(Some(PathBuf::from(p)), Source::File("marathon_cacert"))
    } else {
        Setting::new(None, Source::Unset)
    };

    let string_setting = |env_name: &'static str, key: &'static str, value: &Option<String>| {
        if let Some(v) = env(env_name) {
            Setting::new(Some(v), Source::Env(env_name))
        } else if let Some(v) = trimmed(value) {
            Setting::new(Some(v), Source::File(key))
        } else {
            Setting::new(None, Source::Unset)
        }
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

    let registry_auth = match (&keys.registry_auth, trimmed(&keys.quay_token)) {
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

    let insecure_registries = if let Some(list) = env("DUNCAN_INSECURE_REGISTRIES") {
        Setting::new(
            list_from_env(&list),
            Source::Env("DUNCAN_INSECURE_REGISTRIES"),
        )
    } else if let Some(list) = keys.insecure_registries.clone() {
        Setting::new(list, Source::File("insecure_registries"))
    } else {
        Setting::new(Vec::new(), Source::Unset)
    };

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
    let webhooks = Setting::new(hooks, hook_source);

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

    let no_timeouts = file::TimeoutsKey::default();
    let timeouts = keys.timeouts.as_ref().unwrap_or(&no_timeouts);
    let deploy_timeout = if let Some(t) = env("DUNCAN_DEPLOY_TIMEOUT") {
        Setting::new(
            Some(duration_var("DUNCAN_DEPLOY_TIMEOUT", &t, Kind::Deadline)?),
            Source::Env("DUNCAN_DEPLOY_TIMEOUT"),
        )
    } else if let Some(t) = timeouts.deploy {
        Setting::new(Some(t), Source::File("timeouts.deploy"))
    } else {
        Setting::new(None, Source::Default)
    };
    let request_timeout = if let Some(t) = env("DUNCAN_REQUEST_TIMEOUT") {
        Setting::new(
            duration_var("DUNCAN_REQUEST_TIMEOUT", &t, Kind::Request)?,
            Source::Env("DUNCAN_REQUEST_TIMEOUT"),
        )
    } else if let Some(t) = timeouts.request {
        Setting::new(t, Source::File("timeouts.request"))
    } else {
        Setting::new(DEFAULT_REQUEST_TIMEOUT, Source::Default)
    };
    let lock_wait = if let Some(t) = timeouts.lock_wait {
        Setting::new(t, Source::File("timeouts.lock_wait"))
    } else {
        Setting::new(Duration::ZERO, Source::Default)
    };
    let stale_lock = if let Some(t) = timeouts.stale_lock {
        Setting::new(t, Source::File("timeouts.stale_lock"))
    } else {
        Setting::new(
            duncan_core::settings::DEFAULT_STALE_LOCK_AFTER,
            Source::Default,
        )
    };

    let user = if let Some(u) = env("DUNCAN_USER") {
        Setting::new(u, Source::Env("DUNCAN_USER"))
    } else if let Some(u) = trimmed(&keys.user) {
        Setting::new(u, Source::File("user"))
    } else if let Some(u) = env("USER") {
        Setting::new(u, Source::Env("USER"))
    } else if let Some(u) = env("LOGNAME") {
        Setting::new(u, Source::Env("LOGNAME"))
    } else {
        Setting::new("unknown".to_owned(), Source::Default)
    };

    let host = if let Some(h) = env("HOSTNAME") {
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
    };

    // How each key of the file was understood, for `config show`.
    let note = |notes: &mut Vec<(String, String)>, key: &str, set: bool, text: String| {
        if set {
            notes.push((key.to_owned(), text));
        }
    };
    note(
        &mut notes,
        "marathon_host",
        keys.marathon_host.is_some(),
        "the DC/OS base: Marathon is at {marathon_host}/service/marathon".to_owned(),
    );
    note(
        &mut notes,
        "marathon_url",
        keys.marathon_url.is_some(),
        "Marathon's URL (wins over marathon_host)".to_owned(),
    );
    note(
        &mut notes,
        "marathon_token",
        keys.marathon_token.is_some(),
        "DC/OS token sent to Marathon".to_owned(),
    );
    note(
        &mut notes,
        "consul_host",
        keys.consul_host.is_some(),
        "Consul's address; https:// is assumed when no scheme is given, as the Go tool did"
            .to_owned(),
    );
    note(
        &mut notes,
        "consul_url",
        keys.consul_url.is_some(),
        "Consul's URL (wins over consul_host)".to_owned(),
    );
    note(
        &mut notes,
        "consul_token",
        keys.consul_token.is_some(),
        "Consul ACL token, sent in the X-Consul-Token header (the Go tool put it in the URL)"
            .to_owned(),
    );
    note(
        &mut notes,
        "marathon_cacert",
        keys.marathon_cacert.is_some(),
        "CA certificate (PEM) trusted for Marathon's TLS".to_owned(),
    );
    note(
        &mut notes,
        "consul_cacert",
        keys.consul_cacert.is_some(),
        "CA certificate (PEM) trusted for Consul's TLS".to_owned(),
    );
    note(
        &mut notes,
        "consul_token_file",
        keys.consul_token_file.is_some(),
        "file holding the Consul ACL token".to_owned(),
    );
    note(
        &mut notes,
        "github_org",
        keys.github_org.is_some(),
        "GitHub organisation for compare links".to_owned(),
    );
    note(
        &mut notes,
        "repos",
        keys.repos.is_some(),
        "app → GitHub repository, for compare links".to_owned(),
    );
    note(
        &mut notes,
        "docker_repo_prefix",
        keys.docker_repo_prefix.is_some(),
        "apps run images {docker_repo_prefix}/{app}:{tag}; the registry is its first part"
            .to_owned(),
    );
    note(
        &mut notes,
        "docker_registry_host",
        keys.docker_registry_host.is_some(),
        "registry to check images in".to_owned(),
    );
    note(
        &mut notes,
        "quay_token",
        keys.quay_token.is_some(),
        "registry token used to check that an image exists".to_owned(),
    );
    note(
        &mut notes,
        "registry_auth",
        keys.registry_auth.is_some(),
        "registry credentials".to_owned(),
    );
    note(
        &mut notes,
        "insecure_registries",
        keys.insecure_registries.is_some(),
        "registries checked over plain HTTP".to_owned(),
    );
    note(
        &mut notes,
        "slack_webhook_url",
        keys.slack_webhook_url.is_some(),
        "Slack webhook notified after deploys, scales and env changes".to_owned(),
    );
    note(
        &mut notes,
        "webhooks",
        keys.webhooks.is_some(),
        "more webhooks notified after changes".to_owned(),
    );
    note(
        &mut notes,
        "environments",
        keys.environments.is_some(),
        "environments commands may name".to_owned(),
    );
    note(
        &mut notes,
        "apps",
        keys.apps.is_some(),
        match &keys.apps {
            Some(AppsKey::Map(_)) => {
                "apps for status and config search (old map form: only the names are used)"
                    .to_owned()
            }
            _ => "apps for status and config search".to_owned(),
        },
    );
    note(
        &mut notes,
        "timeouts",
        keys.timeouts.is_some(),
        "deploy / request / lock_wait / stale_lock durations".to_owned(),
    );
    note(
        &mut notes,
        "user",
        keys.user.is_some(),
        "name recorded as deployer".to_owned(),
    );
    note(
        &mut notes,
        "confirm_by_name",
        keys.confirm_by_name.is_some(),
        "environments whose deploys are confirmed by typing the environment's name".to_owned(),
    );
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

    Ok(Config {
        file: path,
        marathon_url,
        marathon_token,
        consul_url,
        consul_token,
        consul_cacert,
        marathon_cacert,
        github_org,
        repos,
        docker_repo_prefix,
        docker_registry_host,
        registry_auth,
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
