//! DC/OS users' settings: the dcos CLI's attached cluster, and service-account credentials.
//!
//! The dcos CLI keeps one `dcos.toml` per cluster under `$DCOS_DIR/clusters/<id>/` (`DCOS_DIR`
//! defaults to `~/.dcos`); the cluster in use holds an empty file named `attached`, and
//! `DCOS_CLUSTER` (a cluster's name or id) overrides that choice. Before clusters existed
//! (dcos CLI 0.4), a single `~/.dcos/dcos.toml` was used, and still is when no cluster is set
//! up. The keys duncan reads are `core.dcos_url`, `core.dcos_acs_token` and `core.ssl_verify`
//! (`"true"`, `"false"` or the path of a CA bundle).

use std::path::{Path, PathBuf};

use super::{Config, Secret, Setting, Source};
use crate::failure::{Failure, error_chain};

/// What the dcos CLI's configuration gives duncan.
#[derive(Debug, Default)]
struct Cluster {
    file: PathBuf,
    url: Option<String>,
    token: Option<String>,
    ssl_verify: Option<SslVerify>,
}

#[derive(Debug, PartialEq, Eq)]
enum SslVerify {
    Yes,
    No,
    CaFile(PathBuf),
}

/// Fills the Marathon address, token and CA that nothing else set from the dcos CLI's attached
/// cluster. The token and CA are taken only along with that cluster's address, or when the
/// configured Marathon is that cluster's (`{dcos_url}/service/marathon`), so a token never
/// goes to another cluster. Problems reading the files are warnings: the dcos CLI's files are
/// a fallback, not duncan's configuration.
pub(super) fn fill_from_dcos_cli(
    env: &dyn Fn(&str) -> Option<String>,
    url: &mut Setting<Option<String>>,
    token: &mut Setting<Option<Secret>>,
    cacert: &mut Setting<Option<PathBuf>>,
    warnings: &mut Vec<String>,
) {
    if url.value.is_some() && token.value.is_some() {
        return;
    }
    let cluster = match attached_cluster(env) {
        Ok(Some(cluster)) => cluster,
        Ok(None) => return,
        Err(warning) => {
            warnings.push(warning);
            return;
        }
    };
    let Some(dcos_url) = cluster.url.as_deref() else {
        return;
    };
    let marathon = format!("{}/service/marathon", dcos_url.trim_end_matches('/'));
    let source = |key: &'static str| Source::DcosCli {
        file: cluster.file.clone(),
        key,
    };
    match &url.value {
        None => *url = Setting::new(Some(marathon), source("core.dcos_url")),
        Some(configured) if configured.trim_end_matches('/') == marathon => {}
        // Another Marathon: the attached cluster's token and CA are not for it.
        Some(_) => return,
    }
    if token.value.is_none()
        && let Some(acs) = cluster.token.filter(|t| !t.trim().is_empty())
    {
        *token = Setting::new(Some(Secret::new(acs)), source("core.dcos_acs_token"));
    }
    match cluster.ssl_verify {
        Some(SslVerify::CaFile(path)) if cacert.value.is_none() => {
            *cacert = Setting::new(Some(path), source("core.ssl_verify"));
        }
        Some(SslVerify::No) if cacert.value.is_none() => warnings.push(format!(
            "{} sets core.ssl_verify = false; duncan still verifies Marathon's certificate: \
             point MARATHON_CACERT (or marathon_cacert) at the cluster's CA if it is private",
            cluster.file.display()
        )),
        _ => {}
    }
}

/// The attached cluster's configuration, if the dcos CLI has one; an error is a warning to
/// show.
fn attached_cluster(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Cluster>, String> {
    let dir = match (env("DCOS_DIR"), env("HOME")) {
        (Some(dir), _) => PathBuf::from(dir),
        (None, Some(home)) => Path::new(&home).join(".dcos"),
        (None, None) => return Ok(None),
    };
    let wanted = env("DCOS_CLUSTER");
    let clusters = dir.join("clusters");
    let mut chosen = None;
    if let Ok(entries) = std::fs::read_dir(&clusters) {
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("dcos.toml").is_file())
            .collect();
        dirs.sort();
        for cluster_dir in dirs {
            let file = cluster_dir.join("dcos.toml");
            let hit = match &wanted {
                Some(wanted) => {
                    cluster_dir
                        .file_name()
                        .is_some_and(|id| id == wanted.as_str())
                        || read(&file)?.1.as_deref() == Some(wanted.as_str())
                }
                None => cluster_dir.join("attached").exists(),
            };
            if hit {
                chosen = Some(file);
                break;
            }
        }
    }
    if let (None, Some(wanted)) = (&chosen, &wanted) {
        return Err(format!(
            "DCOS_CLUSTER names `{wanted}`, which is no cluster under {}",
            clusters.display()
        ));
    }
    let file = match chosen {
        Some(file) => file,
        None => {
            let legacy = dir.join("dcos.toml");
            if !legacy.is_file() {
                return Ok(None);
            }
            legacy
        }
    };
    Ok(Some(read(&file)?.0))
}

/// Reads one `dcos.toml`: what duncan uses, and the cluster's name.
fn read(file: &Path) -> Result<(Cluster, Option<String>), String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read the dcos CLI's {}: {e}", file.display()))?;
    // The parser's message can quote a line, and a line can hold the token: only say where.
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let at = e
            .span()
            .map(|span| {
                let line = text[..span.start.min(text.len())].lines().count().max(1);
                format!(" at line {line}")
            })
            .unwrap_or_default();
        format!("the dcos CLI's {} is not valid TOML{at}", file.display())
    })?;
    let string = |section: &str, key: &str| {
        table
            .get(section)
            .and_then(|s| s.get(key))
            .and_then(|v| match v {
                toml::Value::String(s) => Some(s.trim().to_owned()),
                toml::Value::Boolean(b) => Some(b.to_string()),
                _ => None,
            })
            .filter(|s| !s.is_empty())
    };
    let ssl_verify = string("core", "ssl_verify").map(|v| match v.to_ascii_lowercase().as_str() {
        "true" => SslVerify::Yes,
        "false" => SslVerify::No,
        _ => SslVerify::CaFile(PathBuf::from(v)),
    });
    Ok((
        Cluster {
            file: file.to_owned(),
            url: string("core", "dcos_url"),
            token: string("core", "dcos_acs_token"),
            ssl_verify,
        },
        string("cluster", "name"),
    ))
}

/// Where a DC/OS service-account credential is: `DCOS_SERVICE_ACCOUNT_CREDENTIAL` (a path or a
/// `file://` URL, as DC/OS's tools take it), else the file key `marathon_service_account`.
pub(super) fn service_account_setting(
    env: &dyn Fn(&str) -> Option<String>,
    key: &Option<String>,
) -> Setting<Option<PathBuf>> {
    let path = |value: &str| {
        let value = value.trim();
        PathBuf::from(value.strip_prefix("file://").unwrap_or(value))
    };
    if let Some(value) = env("DCOS_SERVICE_ACCOUNT_CREDENTIAL") {
        Setting::new(
            Some(path(&value)),
            Source::Env("DCOS_SERVICE_ACCOUNT_CREDENTIAL"),
        )
    } else if let Some(value) = key.as_deref().filter(|v| !v.trim().is_empty()) {
        Setting::new(Some(path(value)), Source::File("marathon_service_account"))
    } else {
        Setting::new(None, Source::Unset)
    }
}

/// The configured service account, read from its credential file. The file is read here and
/// its key handed to marathon-client; neither is ever shown.
pub fn read_service_account(
    config: &Config,
) -> Result<Option<marathon_client::ServiceAccount>, Failure> {
    let setting = &config.marathon_service_account;
    let Some(path) = &setting.value else {
        return Ok(None);
    };
    let fix = "point DCOS_SERVICE_ACCOUNT_CREDENTIAL (or marathon_service_account) at DC/OS's \
               service-account JSON {\"uid\",\"private_key\",\"login_endpoint\"}";
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::usage(format!(
            "cannot read the service-account credential {} (from {}): {e}",
            path.display(),
            setting.source
        ))
        .hint(fix)
    })?;
    marathon_client::ServiceAccount::from_credential_json(&text)
        .map(Some)
        .map_err(|e| {
            Failure::usage(format!(
                "the service-account credential {} (from {}): {}",
                path.display(),
                setting.source,
                error_chain(&e)
            ))
            .hint(fix)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn unset<T: Default>() -> Setting<T> {
        Setting::new(T::default(), Source::Unset)
    }

    fn write_cluster(dir: &Path, id: &str, toml: &str, attached: bool) {
        let cluster = dir.join("clusters").join(id);
        std::fs::create_dir_all(&cluster).unwrap();
        std::fs::write(cluster.join("dcos.toml"), toml).unwrap();
        if attached {
            std::fs::write(cluster.join("attached"), "").unwrap();
        }
    }

    const CLUSTER_A: &str = "[core]\ndcos_url = \"https://a.example\"\ndcos_acs_token = \"tok-a\"\nssl_verify = \"/etc/a-ca.pem\"\n[cluster]\nname = \"alpha\"\n";
    const CLUSTER_B: &str = "[core]\ndcos_url = \"https://b.example/\"\ndcos_acs_token = \"tok-b\"\nssl_verify = \"false\"\n[cluster]\nname = \"beta\"\n";

    type Filled = (
        Setting<Option<String>>,
        Setting<Option<Secret>>,
        Setting<Option<PathBuf>>,
        Vec<String>,
    );

    fn fill(env: &dyn Fn(&str) -> Option<String>, url: Option<&str>) -> Filled {
        let mut url = match url {
            Some(u) => Setting::new(Some(u.to_owned()), Source::Env("MARATHON_URL")),
            None => unset(),
        };
        let (mut token, mut cacert, mut warnings) = (unset(), unset(), Vec::new());
        fill_from_dcos_cli(env, &mut url, &mut token, &mut cacert, &mut warnings);
        (url, token, cacert, warnings)
    }

    #[test]
    fn attached_cluster_gives_url_token_and_ca() {
        let dir = tempfile::tempdir().unwrap();
        write_cluster(dir.path(), "1111", CLUSTER_A, false);
        write_cluster(dir.path(), "2222", CLUSTER_B, true);
        let env = env_of(vec![("DCOS_DIR", dir.path().display().to_string())]);
        let (url, token, _, warnings) = fill(&env, None);
        assert_eq!(
            url.value.as_deref(),
            Some("https://b.example/service/marathon")
        );
        assert_eq!(token.value.unwrap().expose(), "tok-b");
        assert!(warnings[0].contains("ssl_verify = false"), "{warnings:?}");
        let shown = url.source.to_string();
        assert!(
            shown.contains("2222") && shown.contains("core.dcos_url"),
            "{shown}"
        );
    }

    #[test]
    fn dcos_cluster_variable_picks_a_cluster_by_name() {
        let dir = tempfile::tempdir().unwrap();
        write_cluster(dir.path(), "1111", CLUSTER_A, false);
        write_cluster(dir.path(), "2222", CLUSTER_B, true);
        let env = env_of(vec![
            ("DCOS_DIR", dir.path().display().to_string()),
            ("DCOS_CLUSTER", "alpha".to_owned()),
        ]);
        let (url, token, cacert, _) = fill(&env, None);
        assert_eq!(
            url.value.as_deref(),
            Some("https://a.example/service/marathon")
        );
        assert_eq!(token.value.unwrap().expose(), "tok-a");
        assert_eq!(cacert.value, Some(PathBuf::from("/etc/a-ca.pem")));
    }

    #[test]
    fn legacy_dcos_toml_is_read_under_home() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".dcos")).unwrap();
        std::fs::write(home.path().join(".dcos/dcos.toml"), CLUSTER_A).unwrap();
        let env = env_of(vec![("HOME", home.path().display().to_string())]);
        let (url, _, _, _) = fill(&env, None);
        assert_eq!(
            url.value.as_deref(),
            Some("https://a.example/service/marathon")
        );
    }

    #[test]
    fn token_is_not_given_to_another_marathon() {
        let dir = tempfile::tempdir().unwrap();
        write_cluster(dir.path(), "1111", CLUSTER_A, true);
        let env = env_of(vec![("DCOS_DIR", dir.path().display().to_string())]);
        let (_, token, cacert, _) = fill(&env, Some("https://other.example/service/marathon"));
        assert!(token.value.is_none());
        assert!(cacert.value.is_none());
        let (_, token, _, _) = fill(&env, Some("https://a.example/service/marathon"));
        assert_eq!(token.value.unwrap().expose(), "tok-a");
    }

    #[test]
    fn broken_dcos_toml_is_a_warning_that_never_quotes_it() {
        let dir = tempfile::tempdir().unwrap();
        write_cluster(
            dir.path(),
            "1111",
            "[core]\ndcos_acs_token = \"s3cret\" junk\n",
            true,
        );
        let env = env_of(vec![("DCOS_DIR", dir.path().display().to_string())]);
        let (url, _, _, warnings) = fill(&env, None);
        assert!(url.value.is_none());
        assert!(
            warnings[0].contains("not valid TOML at line 2"),
            "{warnings:?}"
        );
        assert!(!warnings[0].contains("s3cret"), "{warnings:?}");
    }

    #[test]
    fn service_account_credential_takes_a_path_or_file_url() {
        let env = env_of(vec![(
            "DCOS_SERVICE_ACCOUNT_CREDENTIAL",
            "file:///run/secrets/sa.json".to_owned(),
        )]);
        let setting = service_account_setting(&env, &Some("/ignored".to_owned()));
        assert_eq!(setting.value, Some(PathBuf::from("/run/secrets/sa.json")));
        let setting = service_account_setting(&env_of(vec![]), &Some("/etc/sa.json".to_owned()));
        assert_eq!(setting.source, Source::File("marathon_service_account"));
    }
}
