use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::file::{LoadedFile, parse};
use super::*;

fn config(
    yaml: &str,
    vars: &[(&str, &str)],
    flags: Overrides,
    mode: u32,
) -> Result<Config, Failure> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let loaded = LoadedFile {
        path: PathBuf::from("/home/u/.duncan.yml"),
        keys: parse(yaml).unwrap(),
        mode: Some(mode),
    };
    Config::from_parts(Some(loaded), &flags, &|name| vars.get(name).cloned())
}

#[test]
fn marathon_host_means_the_dcos_base() {
    let c = config(
        "marathon_host: https://dcos.example/\n",
        &[],
        Overrides::default(),
        0o600,
    )
    .unwrap();
    assert_eq!(
        c.marathon_url.value.as_deref(),
        Some("https://dcos.example/service/marathon")
    );
    assert_eq!(c.marathon_url.source, Source::File("marathon_host"));
}

#[test]
fn flag_beats_env_beats_file_beats_default() {
    let yaml = "marathon_url: http://file:8080\nconsul_host: consul.file\n";
    let c = config(yaml, &[], Overrides::default(), 0o600).unwrap();
    assert_eq!(c.consul_url.value, "https://consul.file");
    assert_eq!(c.marathon_url.value.as_deref(), Some("http://file:8080"));

    let vars = [
        ("MARATHON_URL", "http://env:8080"),
        ("CONSUL_HTTP_ADDR", "127.0.0.1:8500"),
    ];
    let c = config(yaml, &vars, Overrides::default(), 0o600).unwrap();
    assert_eq!(c.marathon_url.source, Source::Env("MARATHON_URL"));
    assert_eq!(c.consul_url.value, "http://127.0.0.1:8500");

    let flags = Overrides {
        marathon_url: Some("http://flag:1".to_owned()),
        ..Overrides::default()
    };
    let c = config(yaml, &vars, flags, 0o600).unwrap();
    assert_eq!(c.marathon_url.value.as_deref(), Some("http://flag:1"));
    assert_eq!(c.marathon_url.source, Source::Flag("--marathon-url"));

    let c = config("", &[], Overrides::default(), 0o600).unwrap();
    assert_eq!(c.consul_url.value, DEFAULT_CONSUL_URL);
    assert_eq!(c.consul_url.source, Source::Default);
    assert!(c.marathon_url.value.is_none());
}

#[test]
fn environments_default_to_stage_and_production() {
    let c = config("", &[], Overrides::default(), 0o600).unwrap();
    assert_eq!(c.environments.value, ["stage", "production"]);
    assert!(c.check_environment("production").is_ok());
    let err = c.check_environment("qa").unwrap_err();
    assert!(
        err.message.contains("allowed: stage, production"),
        "{}",
        err.message
    );

    let c = config(
        "environments: [stage, production, qa]\n",
        &[],
        Overrides::default(),
        0o600,
    )
    .unwrap();
    assert!(c.check_environment("qa").is_ok());
}

#[test]
fn unused_go_keys_are_noted_and_unknown_keys_warned() {
    let c = config(
        "chronos_host: x\nvault_token: y\nfavourite_colour: blue\n",
        &[],
        Overrides::default(),
        0o600,
    )
    .unwrap();
    let note = |k: &str| {
        c.key_notes
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, n)| n.clone())
    };
    assert!(
        note("chronos_host")
            .unwrap()
            .starts_with("accepted, not used")
    );
    assert!(note("favourite_colour").unwrap().contains("unknown"));
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("unknown key `favourite_colour`"))
    );
}

#[test]
fn readable_file_with_token_is_warned_about() {
    let c = config("consul_token: abc\n", &[], Overrides::default(), 0o644).unwrap();
    assert!(
        c.warnings.iter().any(|w| w.contains("chmod 600")),
        "{:?}",
        c.warnings
    );
    let c = config("consul_token: abc\n", &[], Overrides::default(), 0o600).unwrap();
    assert!(c.warnings.is_empty());
    let c = config("github_org: x\n", &[], Overrides::default(), 0o644).unwrap();
    assert!(c.warnings.is_empty());
}

#[test]
fn tokens_are_redacted_in_debug_output() {
    let c = config(
        "consul_token: very-secret\nslack_webhook_url: https://hooks.example/T/B/X\n",
        &[],
        Overrides::default(),
        0o600,
    )
    .unwrap();
    let debug = format!("{c:?}");
    assert!(!debug.contains("very-secret"));
    assert!(!debug.contains("T/B/X"));
}

#[test]
fn quay_token_becomes_registry_token_and_timeouts_parse() {
    let c = config(
        "quay_token: q\ntimeouts:\n  deploy: 10m\n  request: 5s\n",
        &[],
        Overrides::default(),
        0o600,
    )
    .unwrap();
    assert!(matches!(
        c.registry_auth.value,
        Some(RegistryAuth::Token(_))
    ));
    assert_eq!(c.deploy_timeout.value, Some(Duration::from_secs(600)));
    assert_eq!(c.request_timeout.value, Duration::from_secs(5));
    assert!(parse("timeouts:\n  deploy: ten\n").is_err());
}

#[test]
fn timeouts_from_the_environment_are_range_checked_naming_the_variable() {
    let err = config(
        "",
        &[("DUNCAN_DEPLOY_TIMEOUT", "18446744073709551615s")],
        Overrides::default(),
        0o600,
    )
    .unwrap_err();
    assert_eq!(err.status, crate::failure::ExitStatus::Usage);
    assert!(
        err.message
            .starts_with("environment variable DUNCAN_DEPLOY_TIMEOUT: "),
        "{}",
        err.message
    );
    assert!(err.message.contains("7 days"), "{}", err.message);
    for zero in ["0", "0s"] {
        let err = config(
            "",
            &[("DUNCAN_REQUEST_TIMEOUT", zero)],
            Overrides::default(),
            0o600,
        )
        .unwrap_err();
        assert!(
            err.message.contains("every request needs a timeout"),
            "{}",
            err.message
        );
    }
}

#[test]
fn consul_token_comes_from_env_before_file() {
    let c = config(
        "consul_token: file-token\n",
        &[("CONSUL_HTTP_TOKEN", "env-token")],
        Overrides::default(),
        0o600,
    )
    .unwrap();
    assert_eq!(
        c.consul_token.value.as_ref().map(Secret::expose),
        Some("env-token")
    );
    assert_eq!(c.consul_token.source, Source::Env("CONSUL_HTTP_TOKEN"));
}

#[test]
fn invalid_environment_in_file_is_refused_naming_file_key_entry_and_rule() {
    let err = config(
        "environments: [stage, ../x]\n",
        &[],
        Overrides::default(),
        0o600,
    )
    .unwrap_err();
    assert_eq!(err.status, crate::failure::ExitStatus::Usage);
    assert_eq!(
        err.message,
        "configuration file /home/u/.duncan.yml, key `environments`: entry 2: environment name \
         \"../x\" has '.' at position 0, which is not allowed there (allowed: lowercase letters, \
         digits and '-', starting with a letter, not ending with '-', at most 63 characters)"
    );
    assert!(
        err.hint
            .as_deref()
            .is_some_and(|h| h.contains("fix `environments` in /home/u/.duncan.yml")),
        "{:?}",
        err.hint
    );
}

#[test]
fn empty_or_uppercase_environment_in_file_is_refused() {
    for (yaml, entry) in [
        (
            "environments: [\"\"]\n",
            "entry 1: environment name must not be empty",
        ),
        (
            "environments:\n  - stage\n  - Prod\n",
            "entry 2: environment name \"Prod\"",
        ),
        (
            "environments: [stage-]\n",
            "entry 1: environment name \"stage-\" is malformed",
        ),
    ] {
        let err = config(yaml, &[], Overrides::default(), 0o600).unwrap_err();
        assert!(err.message.contains(entry), "{yaml:?}: {}", err.message);
    }
}

#[test]
fn invalid_environment_in_file_is_refused_even_when_the_variable_overrides_it() {
    let err = config(
        "environments: [../x]\n",
        &[("DUNCAN_ENVIRONMENTS", "stage")],
        Overrides::default(),
        0o600,
    )
    .unwrap_err();
    assert!(
        err.message.contains("key `environments`"),
        "{}",
        err.message
    );
}

#[test]
fn invalid_environment_in_the_variable_is_refused_naming_it() {
    let err = config(
        "",
        &[("DUNCAN_ENVIRONMENTS", "stage, qa/1")],
        Overrides::default(),
        0o600,
    )
    .unwrap_err();
    assert!(
        err.message.starts_with(
            "environment variable DUNCAN_ENVIRONMENTS: entry 2: environment name \"qa/1\""
        ),
        "{}",
        err.message
    );
    let ok = config(
        "",
        &[("DUNCAN_ENVIRONMENTS", "stage, qa-1")],
        Overrides::default(),
        0o600,
    )
    .unwrap();
    assert_eq!(ok.environments.value, ["stage", "qa-1"]);
}

/// 100,000 levels: the YAML parser alone took most of a minute to refuse the flow form.
const ABSURD_DEPTH: usize = 100_000;

#[test]
fn absurdly_deep_flow_nesting_is_refused_before_parsing_naming_the_line() {
    for (open, close) in [("[", "]"), ("{a: ", "}")] {
        let yaml = format!(
            "consul_host: x\napps: {}{}\n",
            open.repeat(ABSURD_DEPTH),
            close.repeat(ABSURD_DEPTH)
        );
        let err = parse(&yaml).unwrap_err();
        assert!(
            err.starts_with("line 2, column ") && err.contains("nested more than 64 levels deep"),
            "{err}"
        );
    }
}

#[test]
fn absurdly_deep_block_nesting_is_refused_naming_the_line() {
    let yaml = format!("apps:\n{}x\n", "- ".repeat(ABSURD_DEPTH));
    let err = parse(&yaml).unwrap_err();
    assert_eq!(
        err,
        "line 2, column 129: nested more than 64 levels deep (duncan's settings nest a few \
         levels at most)"
    );
}

#[test]
fn nesting_within_the_limit_still_reaches_the_yaml_parser() {
    // 60 levels pass the depth check; the parser then reports the wrong type as before.
    let yaml = format!("apps: {}{}\n", "[".repeat(60), "]".repeat(60));
    let err = parse(&yaml).unwrap_err();
    assert!(!err.contains("nested more than"), "{err}");
}

#[test]
fn consul_http_ssl_t_makes_a_bare_address_https_as_consul_reads_it() {
    for yes in ["t", "T", "1", "TRUE"] {
        let vars = [
            ("CONSUL_HTTP_ADDR", "c.example:8501"),
            ("CONSUL_HTTP_SSL", yes),
        ];
        let c = config("", &vars, Overrides::default(), 0o600).unwrap();
        assert_eq!(c.consul_url.value, "https://c.example:8501", "{yes}");
        assert_eq!(c.consul_url.source, Source::Env("CONSUL_HTTP_ADDR"));
    }
    let c = config("", &[("CONSUL_HTTP_SSL", "t")], Overrides::default(), 0o600).unwrap();
    assert_eq!(c.consul_url.value, "https://127.0.0.1:8500");
    assert_eq!(c.consul_url.source, Source::Env("CONSUL_HTTP_SSL"));
}

#[test]
fn a_malformed_consul_boolean_is_a_usage_error_naming_the_variable() {
    for name in ["CONSUL_HTTP_SSL", "CONSUL_HTTP_SSL_VERIFY"] {
        let err = config("", &[(name, "yes")], Overrides::default(), 0o600).unwrap_err();
        assert!(err.message.contains(name), "{}", err.message);
        assert!(err.message.contains("\"yes\""), "{}", err.message);
    }
}

#[test]
fn consul_ssl_verify_and_namespace_come_from_consuls_variables_over_the_file() {
    let yaml = "consul_ssl_verify: true\nconsul_namespace: file-ns\nconsul_partition: p\n";
    let c = config(yaml, &[], Overrides::default(), 0o600).unwrap();
    assert!(c.consul_ssl_verify.value);
    assert_eq!(
        c.consul_ssl_verify.source,
        Source::File("consul_ssl_verify")
    );
    assert_eq!(c.consul_namespace.value.as_deref(), Some("file-ns"));
    assert_eq!(c.consul_partition.source, Source::File("consul_partition"));

    let vars = [
        ("CONSUL_HTTP_SSL_VERIFY", "f"),
        ("CONSUL_NAMESPACE", "team"),
    ];
    let c = config(yaml, &vars, Overrides::default(), 0o600).unwrap();
    assert!(!c.consul_ssl_verify.value);
    assert_eq!(
        c.consul_ssl_verify.source,
        Source::Env("CONSUL_HTTP_SSL_VERIFY")
    );
    assert_eq!(c.consul_namespace.value.as_deref(), Some("team"));
    assert_eq!(c.consul_namespace.source, Source::Env("CONSUL_NAMESPACE"));
}

#[test]
fn consul_tls_and_auth_keys_are_read_with_their_sources() {
    let yaml = "consul_capath: /etc/cas\nconsul_client_cert: /c.pem\nconsul_client_key: /c.key\n\
                consul_tls_server_name: server.dc1.consul\nconsul_http_auth: ops:PW\n";
    let c = config(yaml, &[], Overrides::default(), 0o600).unwrap();
    assert_eq!(c.consul_capath.value, Some(PathBuf::from("/etc/cas")));
    assert_eq!(
        c.consul_client_cert.source,
        Source::File("consul_client_cert")
    );
    assert_eq!(c.consul_client_key.value, Some(PathBuf::from("/c.key")));
    assert_eq!(
        c.consul_tls_server_name.value.as_deref(),
        Some("server.dc1.consul")
    );
    let auth = c.consul_http_auth.value.as_ref().unwrap();
    assert_eq!((auth.username(), auth.password()), ("ops", Some("PW")));
    assert!(!format!("{c:?}").contains("PW"));
    let c = config(
        yaml,
        &[
            ("CONSUL_HTTP_AUTH", "env:PW2"),
            ("CONSUL_CAPATH", "/env/cas"),
        ],
        Overrides::default(),
        0o600,
    )
    .unwrap();
    assert_eq!(c.consul_http_auth.source, Source::Env("CONSUL_HTTP_AUTH"));
    assert_eq!(c.consul_capath.value, Some(PathBuf::from("/env/cas")));
    // A file holding the basic-auth password that others may read gets the chmod warning.
    let c = config(
        "consul_http_auth: ops:PW\n",
        &[],
        Overrides::default(),
        0o644,
    )
    .unwrap();
    assert!(
        c.warnings.iter().any(|w| w.contains("chmod 600")),
        "{:?}",
        c.warnings
    );
}
