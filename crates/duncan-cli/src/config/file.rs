//! Reading `~/.duncan.yml`: the Go tool's keys as it wrote them, plus duncan's newer keys.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::duration::{Kind, parse_kind};
use crate::failure::Failure;

/// Keys the Go tool knew for services duncan does not talk to: accepted and reported as unused.
pub const UNUSED_GO_KEYS: &[(&str, &str)] = &[
    ("chronos_host", "Chronos jobs are not managed by duncan"),
    (
        "chronos_json_path",
        "Chronos jobs are not managed by duncan",
    ),
    (
        "marathon_json_path",
        "duncan reads the running group from Marathon instead of JSON files",
    ),
    ("slythe_host", "Slythe is not used by duncan"),
    ("vault_host", "Vault secrets are not managed by duncan"),
    ("vault_token", "Vault secrets are not managed by duncan"),
    (
        "docker_conf_url",
        "registry credentials come from registry_auth, quay_token or Docker's config.json",
    ),
    ("kubernetes_cluster", "duncan deploys to Marathon only"),
    ("kubernetes_namespace", "duncan deploys to Marathon only"),
];

/// Every key [`FileKeys`] reads, for "did you mean" on unknown keys.
pub const KNOWN_KEYS: &[&str] = &[
    "marathon_host",
    "marathon_url",
    "marathon_token",
    "marathon_cacert",
    "marathon_service_account",
    "consul_cacert",
    "consul_host",
    "consul_url",
    "consul_token",
    "consul_token_file",
    "consul_http_auth",
    "consul_capath",
    "consul_client_cert",
    "consul_client_key",
    "consul_tls_server_name",
    "consul_ssl_verify",
    "consul_namespace",
    "consul_partition",
    "github_org",
    "repos",
    "docker_repo_prefix",
    "docker_registry_host",
    "quay_token",
    "registry_auth",
    "insecure_registries",
    "slack_webhook_url",
    "webhooks",
    "environments",
    "apps",
    "timeouts",
    "user",
    "confirm_by_name",
];

/// `apps` as the Go tool's versions wrote it: a list of names, or (older versions) a map from
/// name to the JSON files of its Marathon / Chronos definitions.
///
/// Read by hand rather than as an untagged enum: serde's untagged enums buffer the value and lose
/// its position, and say "data did not match any variant" instead of what is wrong.
#[derive(Debug)]
pub enum AppsKey {
    /// `apps: [dogfood, skulls]`.
    List(Vec<String>),
    /// `apps: {dex: {marathon: [...]}}`: only the names are used.
    Map(BTreeMap<String, serde_yaml::Value>),
}

const APPS_SHAPE: &str =
    "apps must be a list of names, as in `apps: [shop, cart]` or one `- shop` per line";

impl<'de> Deserialize<'de> for AppsKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AppsVisitor)
    }
}

struct AppsVisitor;

impl<'de> Visitor<'de> for AppsVisitor {
    type Value = AppsKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(APPS_SHAPE)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<AppsKey, A::Error> {
        let mut names = Vec::new();
        while let Some(entry) = seq.next_element::<serde_yaml::Value>()? {
            match entry {
                serde_yaml::Value::String(name) => names.push(name),
                _ => {
                    return Err(de::Error::custom(format!(
                        "{APPS_SHAPE}; entry {} is not a name",
                        names.len() + 1
                    )));
                }
            }
        }
        Ok(AppsKey::List(names))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<AppsKey, A::Error> {
        let mut apps = BTreeMap::new();
        while let Some((name, value)) = map.next_entry::<String, serde_yaml::Value>()? {
            apps.insert(name, value);
        }
        Ok(AppsKey::Map(apps))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<AppsKey, E> {
        Err(E::custom(format!(
            "{APPS_SHAPE}, not the single word `{text}` (write `apps: [{text}]`)"
        )))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<AppsKey, E> {
        Err(E::custom(APPS_SHAPE))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<AppsKey, E> {
        Err(E::custom(APPS_SHAPE))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<AppsKey, E> {
        Err(E::custom(APPS_SHAPE))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<AppsKey, E> {
        Err(E::custom(APPS_SHAPE))
    }
}

/// One webhook of the `webhooks` list: a bare URL (Slack-compatible) or a URL with its format.
/// Read by hand for the same reason as [`AppsKey`].
#[derive(Debug)]
pub enum WebhookKey {
    /// A Slack-compatible incoming-webhook URL.
    Url(String),
    /// A URL with its format.
    Detailed {
        /// The URL (a secret: never printed whole).
        url: String,
        /// `slack` (the default) or `json`.
        format: Option<String>,
    },
}

const WEBHOOK_SHAPE: &str =
    "each webhook is a URL, or `{url: URL, format: slack}` (format slack or json)";

impl<'de> Deserialize<'de> for WebhookKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WebhookVisitor)
    }
}

struct WebhookVisitor;

impl<'de> Visitor<'de> for WebhookVisitor {
    type Value = WebhookKey;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(WEBHOOK_SHAPE)
    }

    fn visit_str<E: de::Error>(self, url: &str) -> Result<WebhookKey, E> {
        Ok(WebhookKey::Url(url.to_owned()))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<WebhookKey, A::Error> {
        let (mut url, mut format) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "url" => url = Some(map.next_value::<String>()?),
                "format" => format = map.next_value::<Option<String>>()?,
                // The value may be a secret: never echoed.
                other => {
                    return Err(de::Error::custom(format!(
                        "unknown key `{other}` in a webhook; {WEBHOOK_SHAPE}"
                    )));
                }
            }
        }
        match url {
            Some(url) => Ok(WebhookKey::Detailed { url, format }),
            None => Err(de::Error::custom(format!(
                "a webhook needs a url; {WEBHOOK_SHAPE}"
            ))),
        }
    }
}

/// The `timeouts` mapping. Each value is parsed and range-checked as it is read, so that a bad one
/// is reported at its own line.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsKey {
    /// Deadline of a deployment (`10m`).
    #[serde(default, deserialize_with = "deadline")]
    pub deploy: Option<Duration>,
    /// Timeout of each HTTP request (`30s`).
    #[serde(default, deserialize_with = "request")]
    pub request: Option<Duration>,
    /// How long a deploy waits for a held lock by default (`0`: not at all).
    #[serde(default, deserialize_with = "wait")]
    pub lock_wait: Option<Duration>,
    /// Age past which a held lock is called probably stale, and a Go-tool lock is taken over
    /// (`1h`).
    #[serde(default, deserialize_with = "deadline")]
    pub stale_lock: Option<Duration>,
}

fn deadline<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    d.deserialize_any(DurationVisitor(Kind::Deadline))
}

fn request<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    d.deserialize_any(DurationVisitor(Kind::Request))
}

fn wait<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    d.deserialize_any(DurationVisitor(Kind::Wait))
}

/// Reads a duration of the given kind from a YAML scalar. The error is raised inside the visitor,
/// so that serde_yaml attaches the value's line and column to it.
struct DurationVisitor(Kind);

impl<'de> Visitor<'de> for DurationVisitor {
    type Value = Option<Duration>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as 90s, 5m or 1h30m")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        parse_kind(text, self.0).map(Some).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Self::Value, E> {
        self.visit_str(&number.to_string())
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Self::Value, E> {
        self.visit_str(&number.to_string())
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Self::Value, E> {
        self.visit_str(&number.to_string())
    }
}

/// The `registry_auth` mapping: a username and password, or a bearer token.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryAuthKey {
    /// User name for basic auth.
    pub username: Option<String>,
    /// Password for basic auth.
    pub password: Option<String>,
    /// A registry token.
    pub token: Option<String>,
}

/// Every key duncan understands, as found in the file.
#[derive(Debug, Default, Deserialize)]
pub struct FileKeys {
    /// Go: the DC/OS base URL; Marathon is at `{marathon_host}/service/marathon`.
    pub marathon_host: Option<String>,
    /// Marathon's own URL (wins over `marathon_host`).
    pub marathon_url: Option<String>,
    /// DC/OS / Marathon token.
    pub marathon_token: Option<String>,
    /// CA certificate (PEM file) for Marathon's TLS.
    pub marathon_cacert: Option<String>,
    /// A DC/OS service-account credential (JSON file) to log in with.
    pub marathon_service_account: Option<String>,
    /// CA certificate (PEM file) for Consul's TLS.
    pub consul_cacert: Option<String>,
    /// Go: Consul's host (`https://` added when no scheme is given).
    pub consul_host: Option<String>,
    /// Consul's URL (wins over `consul_host`).
    pub consul_url: Option<String>,
    /// Go: Consul ACL token.
    pub consul_token: Option<String>,
    /// A file holding the Consul ACL token.
    pub consul_token_file: Option<String>,
    /// HTTP basic auth for Consul, `user:password` (`CONSUL_HTTP_AUTH`).
    pub consul_http_auth: Option<String>,
    /// A directory of CA certificates (PEM) for Consul's TLS (`CONSUL_CAPATH`).
    pub consul_capath: Option<String>,
    /// The client certificate (PEM) shown to Consul: mutual TLS (`CONSUL_CLIENT_CERT`).
    pub consul_client_cert: Option<String>,
    /// The client certificate's private key (PEM) (`CONSUL_CLIENT_KEY`).
    pub consul_client_key: Option<String>,
    /// The name Consul's certificate is verified against (`CONSUL_TLS_SERVER_NAME`).
    pub consul_tls_server_name: Option<String>,
    /// `false` turns off verification of Consul's certificate (`CONSUL_HTTP_SSL_VERIFY`).
    pub consul_ssl_verify: Option<bool>,
    /// Consul Enterprise namespace (`CONSUL_NAMESPACE`).
    pub consul_namespace: Option<String>,
    /// Consul Enterprise admin partition (`CONSUL_PARTITION`).
    pub consul_partition: Option<String>,
    /// Go: GitHub organisation for diff links.
    pub github_org: Option<String>,
    /// Go: app → GitHub repository.
    pub repos: Option<BTreeMap<String, String>>,
    /// Go: image prefix, e.g. `quay.io/myorg`.
    pub docker_repo_prefix: Option<String>,
    /// Registry host when it is not the first part of `docker_repo_prefix`.
    pub docker_registry_host: Option<String>,
    /// Go: quay.io token, used as registry bearer token.
    pub quay_token: Option<String>,
    /// Registry credentials.
    pub registry_auth: Option<RegistryAuthKey>,
    /// Registries spoken to over plain HTTP (`host:port`), as Docker's `insecure-registries`.
    pub insecure_registries: Option<Vec<String>>,
    /// Go: Slack incoming webhook.
    pub slack_webhook_url: Option<String>,
    /// More webhooks.
    pub webhooks: Option<Vec<WebhookKey>>,
    /// Environments a command may name.
    pub environments: Option<Vec<String>>,
    /// Go: apps searched by `config search` and listed by `status`.
    pub apps: Option<AppsKey>,
    /// Timeouts.
    pub timeouts: Option<TimeoutsKey>,
    /// Name recorded as deployer.
    pub user: Option<String>,
    /// Environments whose changes are confirmed by typing the environment's name.
    pub confirm_by_name: Option<Vec<String>>,
    /// Every other key: unused Go keys and unknown keys.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_yaml::Value>,
}

/// A configuration file that was read.
#[derive(Debug)]
pub struct LoadedFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its keys.
    pub keys: FileKeys,
    /// Its Unix permission bits, when known.
    pub mode: Option<u32>,
}

/// Reads and parses a configuration file. `Ok(None)` when `required` is false and the file does
/// not exist (the default `$HOME/.duncan.yml` is optional).
pub fn read(path: &Path, required: bool) -> Result<Option<LoadedFile>, Failure> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) => {
            return Err(Failure::usage(format!(
                "cannot read configuration file {}: {}",
                path.display(),
                io_reason(&e)
            ))
            .hint("check the path given with --config (or DUNCAN_CONFIG)"));
        }
    };
    let keys = parse(&text).map_err(|e| {
        Failure::usage(format!(
            "configuration file {} is malformed: {e}",
            path.display()
        ))
        .hint("fix the file; it is YAML with keys such as consul_host, marathon_host and apps")
    })?;
    Ok(Some(LoadedFile {
        path: path.to_owned(),
        keys,
        mode: file_mode(path),
    }))
}

/// Parses the text of a configuration file. The error names line and column when YAML gives them.
///
/// Absurd nesting is refused before the YAML parser runs, since the parser would take minutes
/// over it (see [`super::nesting`]).
pub fn parse(text: &str) -> Result<FileKeys, String> {
    super::nesting::check(text, super::nesting::MAX_DEPTH).map_err(|e| e.to_string())?;
    // An empty file (or one holding only comments) is an empty configuration, not an error.
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---")
    {
        return Ok(FileKeys::default());
    }
    serde_yaml::from_str::<FileKeys>(text).map_err(|e| {
        let what = e.to_string();
        // serde_yaml appends " at line L column C"; say it our way, first.
        let what = plain_words(what.split(" at line ").next().unwrap_or(&what));
        match e.location() {
            Some(at) => format!("line {}, column {}: {what}", at.line(), at.column()),
            None => what,
        }
    })
}

/// Says serde's "invalid type: string \"stage\", expected a sequence" in the file's terms
/// ("a list (as in [a, b]) is needed here, not \"stage\""), and drops the key serde_yaml puts
/// in front when the message names it already ("apps: apps must be …").
fn plain_words(what: &str) -> String {
    let (path, message) = match what.split_once(": ") {
        Some((path, message)) if !path.contains(' ') => (Some(path), message),
        _ => (None, what),
    };
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((field, expected)) = rest.split_once("`, expected ")
    {
        let known: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let near = super::suggest::closest(field, known.iter().copied())
            .map(|near| format!("did you mean `{near}`? "))
            .unwrap_or_default();
        let message = format!("unknown key `{field}`; {near}(known: {})", known.join(", "));
        return match path {
            Some(path) => format!("{path}: {message}"),
            None => message,
        };
    }
    let message = match message
        .strip_prefix("invalid type: ")
        .and_then(|rest| rest.split_once(", expected "))
    {
        Some((found, expected)) => {
            let expected = match expected {
                "a sequence" => "a list (as in [a, b])",
                "a map" => "a mapping of `key: value` lines",
                "a string" => "a single value",
                other => other,
            };
            let found = match found {
                "sequence" => "a list".to_owned(),
                "map" => "a mapping".to_owned(),
                "unit value" => "nothing".to_owned(),
                other => match other.split_once(' ') {
                    // `string "stage"`, `integer `5``, `boolean `true``: the value itself.
                    Some((_, value)) => value.trim_matches('`').to_owned(),
                    None => other.to_owned(),
                },
            };
            format!("{expected} is needed here, not {found}")
        }
        None => message.to_owned(),
    };
    match path {
        Some(path) if !message.starts_with(path) => format!("{path}: {message}"),
        _ => message,
    }
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}

#[cfg(unix)]
fn file_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn file_mode(_path: &Path) -> Option<u32> {
    None
}

impl FileKeys {
    /// Whether the file holds a secret (a token, a password or a webhook URL).
    pub fn holds_secret(&self) -> bool {
        let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        set(&self.consul_token)
            || set(&self.consul_http_auth)
            || set(&self.marathon_token)
            || set(&self.quay_token)
            || set(&self.slack_webhook_url)
            || self.registry_auth.is_some()
            || self.webhooks.as_ref().is_some_and(|w| !w.is_empty())
            || self
                .other
                .get("vault_token")
                .and_then(serde_yaml::Value::as_str)
                .is_some_and(|s| !s.trim().is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GO_EXAMPLE: &str = "# populate w/ valid values and save at ~/.duncan.yml\n---\n\
        marathon_host: https://mesos-host.com\nchronos_host: https://mesos-host.com\n\
        github_org: myorg\ndocker_repo_prefix: quay.io/myorg\ndocker_conf_url:\nquay_token:\n\
        slack_webhook_url:\nconsul_host: https://consul.host\nconsul_token:\n\
        vault_host: https://vault.host\nvault_token:\napps:\n  - dogfood\n  - skulls\n\
        repos:\n  dogfood: dogfood-repo\n";

    #[test]
    fn go_example_shape_parses_with_empty_values() {
        let keys = parse(GO_EXAMPLE).unwrap();
        assert_eq!(
            keys.marathon_host.as_deref(),
            Some("https://mesos-host.com")
        );
        assert!(keys.quay_token.is_none());
        assert!(matches!(keys.apps, Some(AppsKey::List(ref a)) if a.len() == 2));
        assert!(keys.other.contains_key("chronos_host"));
        assert!(keys.other.contains_key("vault_token"));
        assert!(!keys.holds_secret());
    }

    #[test]
    fn old_map_form_of_apps_is_accepted() {
        let keys =
            parse("apps:\n  dex:\n    marathon:\n      - dex-{{env}}-group.json\n  etl: {}\n")
                .unwrap();
        assert!(matches!(keys.apps, Some(AppsKey::Map(ref m)) if m.len() == 2));
    }

    #[test]
    fn apps_as_a_single_word_says_it_must_be_a_list_at_its_line() {
        let err = parse("consul_host: a\napps: shop\n").unwrap_err();
        assert!(err.starts_with("line 2, column 7: "), "{err}");
        assert!(err.contains("apps must be a list of names"), "{err}");
        assert!(err.contains("apps: [shop]"), "{err}");
        assert!(!err.contains("untagged"), "{err}");
        let err = parse("consul_host: a\napps:\n  - shop\n  - {x: 1}\n").unwrap_err();
        assert!(err.contains("entry 2 is not a name"), "{err}");
        assert!(parse("apps:\n").unwrap().apps.is_none());
    }

    #[test]
    fn webhooks_in_both_forms_and_wrong_ones_named_at_their_line() {
        let keys = parse("webhooks:\n  - https://a\n  - {url: https://b, format: json}\n").unwrap();
        let hooks = keys.webhooks.unwrap();
        assert!(matches!(&hooks[0], WebhookKey::Url(u) if u == "https://a"));
        assert!(
            matches!(&hooks[1], WebhookKey::Detailed { url, format: Some(f) } if url == "https://b" && f == "json")
        );
        let err = parse("consul_host: a\nwebhooks:\n  - {uri: https://secret}\n").unwrap_err();
        assert!(err.starts_with("line 3"), "{err}");
        assert!(err.contains("unknown key `uri` in a webhook"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }

    #[test]
    fn wrong_shapes_are_said_in_the_files_terms() {
        let err = parse("environments: stage\n").unwrap_err();
        assert_eq!(
            err,
            "line 1, column 15: environments: a list (as in [a, b]) is needed here, not \"stage\""
        );
        let err = parse("repos: [a]\n").unwrap_err();
        assert!(
            err.ends_with("repos: a mapping of `key: value` lines is needed here, not a list"),
            "{err}"
        );
        let err = parse("github_org: [a]\n").unwrap_err();
        assert!(
            err.ends_with("github_org: a single value is needed here, not a list"),
            "{err}"
        );
        let err = parse("apps: shop\n").unwrap_err();
        assert!(err.contains(": apps must be a list of names"), "{err}");
        assert!(!err.contains("apps: apps"), "{err}");
    }

    #[test]
    fn known_keys_are_exactly_the_keys_read() {
        for key in KNOWN_KEYS {
            let keys = parse(&format!("{key}:\n")).unwrap();
            assert!(keys.other.is_empty(), "{key} is not read by FileKeys");
        }
    }

    #[test]
    fn unknown_key_under_timeouts_suggests_the_near_one() {
        let err = parse("timeouts:\n  deplyo: 5m\n").unwrap_err();
        assert_eq!(
            err,
            "line 2, column 3: timeouts: unknown key `deplyo`; did you mean `deploy`? (known: \
             deploy, request, lock_wait, stale_lock)"
        );
    }

    #[test]
    fn syntax_error_names_line_and_column() {
        let err = parse("consul_host: a\napps: [dogfood\n").unwrap_err();
        assert!(err.starts_with("line "), "{err}");
        assert!(err.contains("column"), "{err}");
    }

    #[test]
    fn wrong_type_names_line_and_column() {
        let err = parse("consul_host: a\nenvironments: 5\n").unwrap_err();
        assert!(err.starts_with("line 2"), "{err}");
    }

    #[test]
    fn bad_timeout_names_its_own_line_and_how_to_write_it() {
        let err = parse("consul_host: a\ntimeouts:\n  deploy: 10 minutes\n").unwrap_err();
        assert!(err.starts_with("line 3, column 11: "), "{err}");
        assert!(err.contains("timeouts.deploy"), "{err}");
        assert!(err.contains("as in 90s, 5m or 1h30m"), "{err}");
    }

    #[test]
    fn timeouts_are_range_checked_by_kind() {
        let err = parse("timeouts:\n  deploy: 18446744073709551615s\n").unwrap_err();
        assert!(err.contains("the most is 7 days (168h)"), "{err}");
        let err = parse("timeouts:\n  request: 0\n").unwrap_err();
        assert!(err.contains("every request needs a timeout"), "{err}");
        let keys =
            parse("timeouts:\n  deploy: 10m\n  request:\n  lock_wait: 0\n  stale_lock: 2h\n")
                .unwrap();
        let timeouts = keys.timeouts.unwrap();
        assert_eq!(timeouts.deploy, Some(Duration::from_secs(600)));
        assert_eq!(timeouts.request, None);
        assert_eq!(timeouts.lock_wait, Some(Duration::ZERO));
        assert_eq!(timeouts.stale_lock, Some(Duration::from_secs(7200)));
    }

    #[test]
    fn empty_or_comment_only_file_is_empty_config() {
        assert!(parse("").unwrap().other.is_empty());
        assert!(parse("# nothing\n---\n").unwrap().apps.is_none());
    }
}
