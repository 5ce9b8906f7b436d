//! How `config show` says each key of the file was understood: one row per key, in the order
//! shown, with the test of whether the file sets it.

use super::file::{AppsKey, FileKeys};

/// One key's note.
pub(super) struct KeyNote {
    /// The key.
    pub key: &'static str,
    /// How it is understood.
    pub note: &'static str,
    /// Whether the file has it.
    pub set: fn(&FileKeys) -> bool,
}

/// Every key duncan reads, with its note, in `config show`'s order.
pub(super) const KEY_NOTES: &[KeyNote] = &[
    KeyNote {
        key: "marathon_host",
        note: "the DC/OS base: Marathon is at {marathon_host}/service/marathon",
        set: |k| k.marathon_host.is_some(),
    },
    KeyNote {
        key: "marathon_url",
        note: "Marathon's URL (wins over marathon_host)",
        set: |k| k.marathon_url.is_some(),
    },
    KeyNote {
        key: "marathon_token",
        note: "DC/OS token sent to Marathon",
        set: |k| k.marathon_token.is_some(),
    },
    KeyNote {
        key: "consul_host",
        note: "Consul's address; https:// is assumed when no scheme is given, as the Go tool did",
        set: |k| k.consul_host.is_some(),
    },
    KeyNote {
        key: "consul_url",
        note: "Consul's URL (wins over consul_host)",
        set: |k| k.consul_url.is_some(),
    },
    KeyNote {
        key: "consul_token",
        note: "Consul ACL token, sent in the X-Consul-Token header (the Go tool put it in the URL)",
        set: |k| k.consul_token.is_some(),
    },
    KeyNote {
        key: "marathon_cacert",
        note: "CA certificate (PEM) trusted for Marathon's TLS",
        set: |k| k.marathon_cacert.is_some(),
    },
    KeyNote {
        key: "consul_cacert",
        note: "CA certificate (PEM) trusted for Consul's TLS",
        set: |k| k.consul_cacert.is_some(),
    },
    KeyNote {
        key: "marathon_service_account",
        note: "DC/OS service-account credential (JSON) to log in with",
        set: |k| k.marathon_service_account.is_some(),
    },
    KeyNote {
        key: "consul_token_file",
        note: "file holding the Consul ACL token",
        set: |k| k.consul_token_file.is_some(),
    },
    KeyNote {
        key: "consul_http_auth",
        note: "HTTP basic auth (user:password) sent to Consul, as CONSUL_HTTP_AUTH",
        set: |k| k.consul_http_auth.is_some(),
    },
    KeyNote {
        key: "consul_capath",
        note: "directory of CA certificates (PEM) trusted for Consul's TLS, as CONSUL_CAPATH",
        set: |k| k.consul_capath.is_some(),
    },
    KeyNote {
        key: "consul_client_cert",
        note: "client certificate (PEM) shown to Consul (mutual TLS), as CONSUL_CLIENT_CERT",
        set: |k| k.consul_client_cert.is_some(),
    },
    KeyNote {
        key: "consul_client_key",
        note: "the client certificate's private key (PEM), as CONSUL_CLIENT_KEY",
        set: |k| k.consul_client_key.is_some(),
    },
    KeyNote {
        key: "consul_tls_server_name",
        note: "name Consul's certificate is verified against, as CONSUL_TLS_SERVER_NAME",
        set: |k| k.consul_tls_server_name.is_some(),
    },
    KeyNote {
        key: "consul_ssl_verify",
        note: "false turns off verification of Consul's certificate, as CONSUL_HTTP_SSL_VERIFY",
        set: |k| k.consul_ssl_verify.is_some(),
    },
    KeyNote {
        key: "consul_namespace",
        note: "Consul Enterprise namespace (sent as ?ns=), as CONSUL_NAMESPACE",
        set: |k| k.consul_namespace.is_some(),
    },
    KeyNote {
        key: "consul_partition",
        note: "Consul Enterprise admin partition (sent as ?partition=), as CONSUL_PARTITION",
        set: |k| k.consul_partition.is_some(),
    },
    KeyNote {
        key: "github_org",
        note: "GitHub organisation for compare links",
        set: |k| k.github_org.is_some(),
    },
    KeyNote {
        key: "repos",
        note: "app → GitHub repository, for compare links",
        set: |k| k.repos.is_some(),
    },
    KeyNote {
        key: "docker_repo_prefix",
        note: "apps run images {docker_repo_prefix}/{app}:{tag}; the registry is its first part",
        set: |k| k.docker_repo_prefix.is_some(),
    },
    KeyNote {
        key: "docker_registry_host",
        note: "registry to check images in",
        set: |k| k.docker_registry_host.is_some(),
    },
    KeyNote {
        key: "quay_token",
        note: "registry token used to check that an image exists",
        set: |k| k.quay_token.is_some(),
    },
    KeyNote {
        key: "registry_auth",
        note: "registry credentials",
        set: |k| k.registry_auth.is_some(),
    },
    KeyNote {
        key: "insecure_registries",
        note: "registries checked over plain HTTP",
        set: |k| k.insecure_registries.is_some(),
    },
    KeyNote {
        key: "slack_webhook_url",
        note: "Slack webhook notified after deploys, scales and env changes",
        set: |k| k.slack_webhook_url.is_some(),
    },
    KeyNote {
        key: "webhooks",
        note: "more webhooks notified after changes",
        set: |k| k.webhooks.is_some(),
    },
    KeyNote {
        key: "environments",
        note: "environments commands may name",
        set: |k| k.environments.is_some(),
    },
    KeyNote {
        key: "apps",
        note: "apps for status and config search",
        set: |k| k.apps.is_some(),
    },
    KeyNote {
        key: "timeouts",
        note: "deploy / request / lock_wait / stale_lock durations",
        set: |k| k.timeouts.is_some(),
    },
    KeyNote {
        key: "user",
        note: "name recorded as deployer",
        set: |k| k.user.is_some(),
    },
    KeyNote {
        key: "confirm_by_name",
        note: "environments whose deploys are confirmed by typing the environment's name",
        set: |k| k.confirm_by_name.is_some(),
    },
];

/// The note of `apps` in the Go tool's older map form.
const APPS_MAP_NOTE: &str =
    "apps for status and config search (old map form: only the names are used)";

/// The notes of the keys `keys` sets, in [`KEY_NOTES`]' order.
pub(super) fn notes(keys: &FileKeys) -> Vec<(String, String)> {
    KEY_NOTES
        .iter()
        .filter(|row| (row.set)(keys))
        .map(|row| {
            let note = match (row.key, &keys.apps) {
                ("apps", Some(AppsKey::Map(_))) => APPS_MAP_NOTE,
                _ => row.note,
            };
            (row.key.to_owned(), note.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_key_has_exactly_one_note() {
        let noted: Vec<&str> = KEY_NOTES.iter().map(|row| row.key).collect();
        let mut known = super::super::file::KNOWN_KEYS.to_vec();
        let mut sorted = noted.clone();
        known.sort_unstable();
        sorted.sort_unstable();
        assert_eq!(sorted, known);
        for row in KEY_NOTES {
            let keys = super::super::file::parse(&format!("{}: x\n", row.key))
                .or_else(|_| super::super::file::parse(&format!("{}: []\n", row.key)))
                .or_else(|_| super::super::file::parse(&format!("{}: {{}}\n", row.key)))
                .or_else(|_| super::super::file::parse(&format!("{}: false\n", row.key)))
                .expect("some value parses");
            assert!((row.set)(&keys), "{} is seen as set", row.key);
        }
    }
}
