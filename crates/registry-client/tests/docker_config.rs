//! Credentials from the content of `~/.docker/config.json`.

use base64::Engine as _;
use registry_client::{Credentials, DockerConfig, DockerConfigError};

const SECRET: &str = "p4ss:w0rd-with-colon";

fn auth(user: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

#[test]
fn base64_auth_gives_basic_credentials_split_at_the_first_colon() {
    let content = format!(
        r#"{{"auths":{{"quay.io":{{"auth":"{}"}}}}}}"#,
        auth("robot", SECRET)
    );
    let config = DockerConfig::parse(&content).expect("valid config");

    assert_eq!(
        config.credentials_for("quay.io").expect("credentials"),
        Credentials::basic("robot", SECRET)
    );
}

#[test]
fn username_and_password_fields_give_basic_credentials() {
    let config = DockerConfig::parse(
        r#"{"auths":{"registry.example.com:5000":{"username":"ci","password":"hunter2"}}}"#,
    )
    .expect("valid config");

    assert_eq!(
        config
            .credentials_for("registry.example.com:5000")
            .expect("credentials"),
        Credentials::basic("ci", "hunter2")
    );
}

#[test]
fn registry_without_an_entry_is_anonymous() {
    let config = DockerConfig::parse(&format!(
        r#"{{"auths":{{"quay.io":{{"auth":"{}"}}}}}}"#,
        auth("robot", SECRET)
    ))
    .expect("valid config");

    assert_eq!(
        config.credentials_for("ghcr.io").expect("no error"),
        Credentials::Anonymous
    );
    assert_eq!(
        DockerConfig::parse("{}")
            .expect("empty config")
            .credentials_for("quay.io")
            .expect("no error"),
        Credentials::Anonymous
    );
}

#[test]
fn keys_with_scheme_and_path_match_the_bare_host() {
    let config = DockerConfig::parse(&format!(
        r#"{{"auths":{{"https://Registry.Example.com/v2/":{{"auth":"{}"}}}}}}"#,
        auth("u", "p")
    ))
    .expect("valid config");

    assert_eq!(
        config
            .credentials_for("registry.example.com")
            .expect("credentials"),
        Credentials::basic("u", "p")
    );
    assert_eq!(
        config.registries().collect::<Vec<_>>(),
        ["registry.example.com"]
    );
}

#[test]
fn docker_login_entry_for_docker_hub_serves_every_hub_alias() {
    let config = DockerConfig::parse(&format!(
        r#"{{"auths":{{"https://index.docker.io/v1/":{{"auth":"{}"}}}}}}"#,
        auth("hubuser", SECRET)
    ))
    .expect("valid config");

    for alias in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
        assert_eq!(
            config.credentials_for(alias).expect("credentials"),
            Credentials::basic("hubuser", SECRET),
            "alias {alias}"
        );
    }
}

#[test]
fn registry_token_gives_bearer_credentials() {
    let config = DockerConfig::parse(r#"{"auths":{"quay.io":{"registrytoken":"ready-token"}}}"#)
        .expect("valid config");

    assert_eq!(
        config.credentials_for("quay.io").expect("credentials"),
        Credentials::bearer("ready-token")
    );
}

#[test]
fn cred_helper_for_the_host_is_reported_as_unsupported() {
    let config = DockerConfig::parse(
        r#"{"auths":{},"credHelpers":{"123456789.dkr.ecr.eu-west-1.amazonaws.com":"ecr-login"}}"#,
    )
    .expect("valid config");

    let error = config
        .credentials_for("123456789.dkr.ecr.eu-west-1.amazonaws.com")
        .expect_err("helpers are not run");
    assert!(
        matches!(&error, DockerConfigError::CredentialHelperUnsupported { helper, .. } if helper == "ecr-login"),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("docker-credential-ecr-login"),
        "the message names the helper program: {error}"
    );
    assert_eq!(
        config.credentials_for("quay.io").expect("other hosts"),
        Credentials::Anonymous
    );
}

#[test]
fn creds_store_applies_to_registries_listed_in_auths() {
    // What Docker Desktop writes: the entry is empty, the secret lives in the helper.
    let config = DockerConfig::parse(
        r#"{"auths":{"https://index.docker.io/v1/":{},"quay.io":{}},"credsStore":"desktop"}"#,
    )
    .expect("valid config");

    for registry in ["docker.io", "quay.io"] {
        let error = config.credentials_for(registry).expect_err("store in use");
        assert!(
            matches!(&error, DockerConfigError::CredentialHelperUnsupported { helper, .. } if helper == "desktop"),
            "{registry}: {error:?}"
        );
    }
    // A registry never logged in to has nothing in the store either.
    assert_eq!(
        config.credentials_for("ghcr.io").expect("no login"),
        Credentials::Anonymous
    );
}

#[test]
fn malformed_auth_is_an_error_that_does_not_quote_it() {
    let config = DockerConfig::parse(r#"{"auths":{"quay.io":{"auth":"!!not-base64-s3cr3t!!"}}}"#)
        .expect("valid JSON");
    let error = config.credentials_for("quay.io").expect_err("bad base64");
    assert!(
        matches!(error, DockerConfigError::InvalidAuth { .. }),
        "{error:?}"
    );
    assert!(!format!("{error} {error:?}").contains("s3cr3t"));

    let no_colon = DockerConfig::parse(&format!(
        r#"{{"auths":{{"quay.io":{{"auth":"{}"}}}}}}"#,
        base64::engine::general_purpose::STANDARD.encode("just-a-token")
    ))
    .expect("valid JSON");
    assert!(matches!(
        no_colon.credentials_for("quay.io"),
        Err(DockerConfigError::InvalidAuth { .. })
    ));
}

#[test]
fn identity_token_is_reported_as_unsupported() {
    let config = DockerConfig::parse(
        r#"{"auths":{"myregistry.azurecr.io":{"auth":"","identitytoken":"refresh-s3cr3t"}}}"#,
    )
    .expect("valid config");
    let error = config
        .credentials_for("myregistry.azurecr.io")
        .expect_err("identity tokens are not exchanged");
    assert!(
        matches!(error, DockerConfigError::IdentityTokenUnsupported { .. }),
        "{error:?}"
    );
    assert!(!format!("{error} {error:?}").contains("refresh-s3cr3t"));
}

#[test]
fn invalid_json_error_gives_a_position_and_no_content() {
    // An entry that is a string instead of an object: serde's own message would quote it.
    let content = format!(r#"{{"auths":{{"quay.io":"{}"}}}}"#, auth("robot", SECRET));
    let error = DockerConfig::parse(&content).expect_err("wrong shape");

    assert!(
        matches!(error, DockerConfigError::Json { line: 1, .. }),
        "{error:?}"
    );
    let printed = format!("{error} {error:?}");
    assert!(!printed.contains(&auth("robot", SECRET)), "{printed}");
}

#[test]
fn from_path_reads_the_file_and_names_it_when_missing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("config.json");
    std::fs::write(
        &path,
        format!(
            r#"{{"auths":{{"quay.io":{{"auth":"{}"}}}}}}"#,
            auth("robot", SECRET)
        ),
    )
    .expect("write");

    let config = DockerConfig::from_path(&path).expect("readable");
    assert_eq!(
        config.credentials_for("quay.io").expect("credentials"),
        Credentials::basic("robot", SECRET)
    );

    let missing = dir.path().join("absent.json");
    let error = DockerConfig::from_path(&missing).expect_err("no such file");
    assert!(matches!(error, DockerConfigError::Read { .. }), "{error:?}");
    assert!(error.to_string().contains("absent.json"), "{error}");
}

#[test]
fn debug_output_never_shows_credentials() {
    let config = DockerConfig::parse(&format!(
        r#"{{"auths":{{"quay.io":{{"auth":"{}"}},"ghcr.io":{{"username":"u","password":"{SECRET}"}}}}}}"#,
        auth("robot", SECRET)
    ))
    .expect("valid config");
    let debug = format!("{config:?}");
    assert!(debug.contains("quay.io"), "{debug}");
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(!debug.contains(&auth("robot", SECRET)), "{debug}");

    for credentials in [
        Credentials::basic("robot", SECRET),
        Credentials::bearer(SECRET),
    ] {
        let debug = format!("{credentials:?}");
        assert!(!debug.contains(SECRET), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }
    assert_eq!(
        format!("{:?}", Credentials::basic("robot", SECRET)),
        r#"Basic { username: "robot", password: "<redacted>" }"#
    );
}
