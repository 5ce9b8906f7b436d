//! Credentials from the content of `~/.docker/config.json`.

use std::path::Path;
use std::time::Duration;

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

/// Writes `docker-credential-{name}` into `dir`: a shell script that records its arguments and
/// standard input next to itself, then runs `body`.
fn write_helper(dir: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(format!("docker-credential-{name}"));
    let script = format!("#!/bin/sh\necho \"$@\" > \"$0.args\"\ncat > \"$0.stdin\"\n{body}\n");
    std::fs::write(&path, script).expect("helper written");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn recorded(dir: &Path, name: &str, what: &str) -> String {
    std::fs::read_to_string(dir.join(format!("docker-credential-{name}.{what}")))
        .unwrap_or_default()
}

#[test]
fn cred_helper_for_the_host_is_run_with_get_and_the_registry_on_stdin() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_helper(
        dir.path(),
        "ecr-login",
        &format!(r#"echo '{{"ServerURL":"x","Username":"AWS","Secret":"{SECRET}"}}'"#),
    );
    let config = DockerConfig::parse(
        r#"{"auths":{},"credHelpers":{"123456789.dkr.ecr.eu-west-1.amazonaws.com":"ecr-login"}}"#,
    )
    .expect("valid config")
    .with_helper_dir(dir.path());

    assert_eq!(
        config
            .credentials_for("123456789.dkr.ecr.eu-west-1.amazonaws.com")
            .expect("the helper answers"),
        Credentials::basic("AWS", SECRET)
    );
    assert_eq!(recorded(dir.path(), "ecr-login", "args").trim(), "get");
    assert_eq!(
        recorded(dir.path(), "ecr-login", "stdin"),
        "123456789.dkr.ecr.eu-west-1.amazonaws.com"
    );
    assert_eq!(
        config.credentials_for("quay.io").expect("other hosts"),
        Credentials::Anonymous
    );
}

#[test]
fn creds_store_serves_registries_listed_in_auths_and_docker_hub_by_its_login_key() {
    // What Docker Desktop writes: the entry is empty, the secret lives in the helper.
    let dir = tempfile::tempdir().expect("temp dir");
    write_helper(
        dir.path(),
        "desktop",
        r#"echo '{"ServerURL":"x","Username":"hubuser","Secret":"from-store"}'"#,
    );
    let config = DockerConfig::parse(
        r#"{"auths":{"https://index.docker.io/v1/":{},"quay.io":{}},"credsStore":"desktop"}"#,
    )
    .expect("valid config")
    .with_helper_dir(dir.path());

    assert_eq!(
        config.credentials_for("docker.io").expect("store"),
        Credentials::basic("hubuser", "from-store")
    );
    assert_eq!(
        recorded(dir.path(), "desktop", "stdin"),
        "https://index.docker.io/v1/"
    );
    assert_eq!(config.helper_for("quay.io"), Some("desktop"));
    // A registry never logged in to has nothing in the store either.
    assert_eq!(config.helper_for("ghcr.io"), None);
    assert_eq!(
        config.credentials_for("ghcr.io").expect("no login"),
        Credentials::Anonymous
    );
}

#[test]
fn helper_without_credentials_for_the_registry_means_anonymous() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_helper(
        dir.path(),
        "pass",
        "echo 'credentials not found in native keychain'; exit 1",
    );
    let config = DockerConfig::parse(r#"{"credHelpers":{"quay.io":"pass"}}"#)
        .expect("valid config")
        .with_helper_dir(dir.path());

    assert_eq!(
        config.credentials_for("quay.io").expect("not an error"),
        Credentials::Anonymous
    );
}

#[test]
fn failing_helper_is_an_error_naming_it_and_what_it_said() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_helper(
        dir.path(),
        "gcloud",
        "echo 'token expired, run gcloud auth login'; exit 3",
    );
    let config = DockerConfig::parse(r#"{"credHelpers":{"gcr.io":"gcloud"}}"#)
        .expect("valid config")
        .with_helper_dir(dir.path());

    let error = config
        .credentials_for("gcr.io")
        .expect_err("the helper failed");

    assert!(
        matches!(&error, DockerConfigError::HelperFailed { helper, .. } if helper == "gcloud"),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("docker-credential-gcloud"), "{message}");
    assert!(message.contains("run gcloud auth login"), "{message}");
}

#[test]
fn missing_helper_program_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = DockerConfig::parse(r#"{"credHelpers":{"gcr.io":"nowhere"}}"#)
        .expect("valid config")
        .with_helper_dir(dir.path());

    let error = config
        .credentials_for("gcr.io")
        .expect_err("no such program");

    assert!(
        error.to_string().contains("docker-credential-nowhere"),
        "{error}"
    );
}

#[test]
fn helper_that_hangs_is_stopped_after_the_timeout() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_helper(dir.path(), "slow", "exec sleep 30");
    let config = DockerConfig::parse(r#"{"credHelpers":{"quay.io":"slow"}}"#)
        .expect("valid config")
        .with_helper_dir(dir.path())
        .with_helper_timeout(Duration::from_millis(200));

    let error = config.credentials_for("quay.io").expect_err("too slow");

    assert!(
        error.to_string().contains("did not answer within"),
        "{error}"
    );
}

#[test]
fn identity_token_from_a_helper_is_an_identity_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_helper(
        dir.path(),
        "acr",
        r#"echo '{"ServerURL":"x","Username":"<token>","Secret":"refresh-s3cret"}'"#,
    );
    let config = DockerConfig::parse(r#"{"credHelpers":{"acme.azurecr.io":"acr"}}"#)
        .expect("valid config")
        .with_helper_dir(dir.path());

    let credentials = config
        .credentials_for("acme.azurecr.io")
        .expect("identity token");

    assert_eq!(credentials, Credentials::identity_token("refresh-s3cret"));
    assert!(!format!("{credentials:?}").contains("refresh-s3cret"));
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
fn identity_token_in_auths_is_an_identity_token() {
    let config = DockerConfig::parse(
        r#"{"auths":{"myregistry.azurecr.io":{"auth":"","identitytoken":"refresh-s3cr3t"}}}"#,
    )
    .expect("valid config");
    let credentials = config
        .credentials_for("myregistry.azurecr.io")
        .expect("an identity token");
    assert_eq!(credentials, Credentials::identity_token("refresh-s3cr3t"));
    assert!(!format!("{credentials:?}").contains("refresh-s3cr3t"));
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
