//! The manifest check against the real CNCF registry (Debian's `docker-registry`), in each of its
//! authentication modes.

use registry_client::{
    Credentials, ImageReference, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST,
    MEDIA_TYPE_OCI_INDEX, MEDIA_TYPE_OCI_MANIFEST, RegistryClient, RegistryError,
};
use test_registry::{ManifestFormat, RegistryAuth, TestRegistry};

const USER: &str = "deployer";
const PASSWORD: &str = "correct-horse-battery-staple";
const WRONG_PASSWORD: &str = "Tr0ub4dor-and-3";

fn client_for(registry: &TestRegistry) -> RegistryClient {
    RegistryClient::builder()
        .plain_http_host(registry.host())
        .build()
        .expect("a client with default TLS settings builds")
}

fn image(registry: &TestRegistry, path: &str) -> ImageReference {
    ImageReference::parse(&format!("{}/{path}", registry.host())).expect("a valid reference")
}

/// Every way of printing an error: its message chain and its Debug form.
fn everything_printed(error: &RegistryError) -> String {
    let mut text = format!("{error:?}\n{error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!("\n{cause}"));
        source = cause.source();
    }
    text
}

#[tokio::test]
async fn present_tag_reports_the_pushed_digest() {
    let registry = TestRegistry::start(RegistryAuth::None).expect("registry starts");
    let pushed = registry.push_image("acme/shop", "v1").expect("push");
    let other = registry.push_image("acme/shop", "v2").expect("push");

    let manifest = client_for(&registry)
        .check_manifest(&image(&registry, "acme/shop:v1"), &Credentials::Anonymous)
        .await
        .expect("the tag exists");

    assert_eq!(manifest.digest, pushed);
    assert_ne!(manifest.digest, other, "each tag has its own digest");
    assert_eq!(manifest.media_type, MEDIA_TYPE_DOCKER_MANIFEST);
    assert!(manifest.size > 0);
}

#[tokio::test]
async fn image_pinned_by_digest_is_found_and_checked() {
    let registry = TestRegistry::start(RegistryAuth::None).expect("registry starts");
    let v1 = registry.push_image("acme/shop", "v1").expect("push");
    let v2 = registry.push_image("acme/shop", "v2").expect("push");
    let client = client_for(&registry);

    let by_digest = client
        .check_manifest(
            &image(&registry, &format!("acme/shop@{v1}")),
            &Credentials::Anonymous,
        )
        .await
        .expect("the digest exists");
    assert_eq!(by_digest.digest, v1);

    // A tag and a digest: the digest is fetched, so a retagged image is still the pinned one.
    let pinned = client
        .check_manifest(
            &image(&registry, &format!("acme/shop:v2@{v1}")),
            &Credentials::Anonymous,
        )
        .await
        .expect("the pinned digest exists");
    assert_eq!(pinned.digest, v1);
    assert_ne!(pinned.digest, v2);
}

#[tokio::test]
async fn missing_tag_is_manifest_unknown() {
    let registry = TestRegistry::start(RegistryAuth::None).expect("registry starts");
    registry.push_image("acme/shop", "v1").expect("push");

    let error = client_for(&registry)
        .check_manifest(
            &image(&registry, "acme/shop:v1-typo"),
            &Credentials::Anonymous,
        )
        .await
        .expect_err("the tag does not exist");

    match &error {
        RegistryError::ManifestUnknown {
            repository,
            reference,
            registry: host,
        } => {
            assert_eq!(repository, "acme/shop");
            assert_eq!(reference, "v1-typo");
            assert_eq!(host, &registry.host());
        }
        other => panic!("expected ManifestUnknown, got {other:?}"),
    }
    assert_eq!(
        error.to_string(),
        format!(
            "acme/shop:v1-typo is not in registry {}: no such tag or digest",
            registry.host()
        )
    );
}

#[tokio::test]
async fn missing_repository_is_name_unknown() {
    let registry = TestRegistry::start(RegistryAuth::None).expect("registry starts");
    registry.push_image("acme/shop", "v1").expect("push");

    let error = client_for(&registry)
        .check_manifest(&image(&registry, "acme/shpo:v1"), &Credentials::Anonymous)
        .await
        .expect_err("the repository does not exist");

    assert!(
        matches!(&error, RegistryError::NameUnknown { repository, .. } if repository == "acme/shpo"),
        "expected NameUnknown, got {error:?}"
    );
}

#[tokio::test]
async fn manifest_list_tag_reports_the_list_digest() {
    let registry = TestRegistry::start(RegistryAuth::None).expect("registry starts");
    let amd64 = registry.push_image("acme/multi", "amd64").expect("push");
    let arm64 = registry.push_image("acme/multi", "arm64").expect("push");
    let list = registry
        .push_index("acme/multi", "v1", &[amd64.clone(), arm64.clone()])
        .expect("push the list");

    let manifest = client_for(&registry)
        .check_manifest(&image(&registry, "acme/multi:v1"), &Credentials::Anonymous)
        .await
        .expect("the list exists");

    assert_eq!(manifest.digest, list);
    assert_eq!(manifest.media_type, MEDIA_TYPE_DOCKER_MANIFEST_LIST);
    assert_ne!(manifest.digest, amd64);
    assert_ne!(manifest.digest, arm64);
}

#[tokio::test]
async fn oci_image_and_oci_index_are_found() {
    let registry = TestRegistry::start(RegistryAuth::None).expect("registry starts");
    let amd64 = registry
        .push_image_as("acme/oci", "amd64", ManifestFormat::Oci)
        .expect("push");
    let arm64 = registry
        .push_image_as("acme/oci", "arm64", ManifestFormat::Oci)
        .expect("push");
    let index = registry
        .push_index_as(
            "acme/oci",
            "v1",
            &[amd64.clone(), arm64],
            ManifestFormat::Oci,
        )
        .expect("push the index");
    let client = client_for(&registry);

    let single = client
        .check_manifest(&image(&registry, "acme/oci:amd64"), &Credentials::Anonymous)
        .await
        .expect("the OCI manifest exists");
    assert_eq!(single.digest, amd64);
    assert_eq!(single.media_type, MEDIA_TYPE_OCI_MANIFEST);

    // The registry serves an OCI index only to clients that accept it.
    let list = client
        .check_manifest(&image(&registry, "acme/oci:v1"), &Credentials::Anonymous)
        .await
        .expect("the OCI index exists");
    assert_eq!(list.digest, index);
    assert_eq!(list.media_type, MEDIA_TYPE_OCI_INDEX);
}

#[tokio::test]
async fn htpasswd_registry_accepts_the_right_password() {
    let registry =
        TestRegistry::start(RegistryAuth::htpasswd(USER, PASSWORD)).expect("registry starts");
    let pushed = registry.push_image("acme/shop", "v1").expect("push");

    let manifest = client_for(&registry)
        .check_manifest(
            &image(&registry, "acme/shop:v1"),
            &Credentials::basic(USER, PASSWORD),
        )
        .await
        .expect("basic authentication succeeds");

    assert_eq!(manifest.digest, pushed);
}

#[tokio::test]
async fn htpasswd_registry_refuses_a_wrong_password_without_revealing_it() {
    let registry =
        TestRegistry::start(RegistryAuth::htpasswd(USER, PASSWORD)).expect("registry starts");
    registry.push_image("acme/shop", "v1").expect("push");

    let error = client_for(&registry)
        .check_manifest(
            &image(&registry, "acme/shop:v1"),
            &Credentials::basic(USER, WRONG_PASSWORD),
        )
        .await
        .expect_err("the password is wrong");

    assert!(
        matches!(&error, RegistryError::Unauthorized { reason, .. } if reason.contains("refused")),
        "expected Unauthorized, got {error:?}"
    );
    let printed = everything_printed(&error);
    assert!(!printed.contains(WRONG_PASSWORD), "{printed}");
    assert!(!printed.contains(PASSWORD), "{printed}");
}

#[tokio::test]
async fn htpasswd_registry_without_credentials_says_they_are_needed() {
    let registry =
        TestRegistry::start(RegistryAuth::htpasswd(USER, PASSWORD)).expect("registry starts");
    registry.push_image("acme/shop", "v1").expect("push");

    let error = client_for(&registry)
        .check_manifest(&image(&registry, "acme/shop:v1"), &Credentials::Anonymous)
        .await
        .expect_err("credentials are required");

    assert!(
        matches!(&error, RegistryError::Unauthorized { reason, .. } if reason.contains("none were given")),
        "expected Unauthorized, got {error:?}"
    );
}

#[tokio::test]
async fn bearer_challenge_fetches_a_token_with_the_credentials() {
    let registry =
        TestRegistry::start(RegistryAuth::token(USER, PASSWORD)).expect("registry starts");
    let pushed = registry.push_image("acme/shop", "v1").expect("push");
    let requests_before = registry.token_requests();

    let manifest = client_for(&registry)
        .check_manifest(
            &image(&registry, "acme/shop:v1"),
            &Credentials::basic(USER, PASSWORD),
        )
        .await
        .expect("the bearer flow succeeds");

    assert_eq!(manifest.digest, pushed);
    assert_eq!(
        registry.token_requests(),
        requests_before + 1,
        "one token was fetched from the realm"
    );
}

#[tokio::test]
async fn bearer_challenge_finds_missing_tags_and_repositories() {
    let registry =
        TestRegistry::start(RegistryAuth::token(USER, PASSWORD)).expect("registry starts");
    registry.push_image("acme/shop", "v1").expect("push");
    let client = client_for(&registry);
    let credentials = Credentials::basic(USER, PASSWORD);

    let missing_tag = client
        .check_manifest(&image(&registry, "acme/shop:v9"), &credentials)
        .await
        .expect_err("no such tag");
    assert!(
        matches!(missing_tag, RegistryError::ManifestUnknown { .. }),
        "{missing_tag:?}"
    );

    let missing_repository = client
        .check_manifest(&image(&registry, "acme/nothing:v1"), &credentials)
        .await
        .expect_err("no such repository");
    assert!(
        matches!(missing_repository, RegistryError::NameUnknown { .. }),
        "{missing_repository:?}"
    );
}

#[tokio::test]
async fn bearer_challenge_with_a_wrong_password_is_refused_by_the_token_server() {
    let registry =
        TestRegistry::start(RegistryAuth::token(USER, PASSWORD)).expect("registry starts");
    registry.push_image("acme/shop", "v1").expect("push");

    let error = client_for(&registry)
        .check_manifest(
            &image(&registry, "acme/shop:v1"),
            &Credentials::basic(USER, WRONG_PASSWORD),
        )
        .await
        .expect_err("the token server refuses");

    assert!(
        matches!(&error, RegistryError::Unauthorized { reason, .. } if reason.contains("token server refused")),
        "expected Unauthorized, got {error:?}"
    );
    assert!(!everything_printed(&error).contains(WRONG_PASSWORD));
}

#[tokio::test]
async fn bearer_challenge_anonymously_gets_a_token_without_access() {
    let registry =
        TestRegistry::start(RegistryAuth::token(USER, PASSWORD)).expect("registry starts");
    registry.push_image("acme/shop", "v1").expect("push");
    let requests_before = registry.token_requests();

    let error = client_for(&registry)
        .check_manifest(&image(&registry, "acme/shop:v1"), &Credentials::Anonymous)
        .await
        .expect_err("anonymous clients may not pull");

    assert_eq!(registry.token_requests(), requests_before + 1);
    assert!(
        matches!(error, RegistryError::Unauthorized { .. }),
        "expected Unauthorized, got {error:?}"
    );
}

#[tokio::test]
async fn ready_bearer_token_is_sent_to_the_registry() {
    let registry =
        TestRegistry::start(RegistryAuth::token(USER, PASSWORD)).expect("registry starts");
    let pushed = registry.push_image("acme/shop", "v1").expect("push");
    let token = registry
        .token_for_pull("acme/shop")
        .expect("the token server mints a token");
    let requests_before = registry.token_requests();

    let manifest = client_for(&registry)
        .check_manifest(
            &image(&registry, "acme/shop:v1"),
            &Credentials::bearer(token.clone()),
        )
        .await
        .expect("the token is accepted");

    assert_eq!(manifest.digest, pushed);
    assert_eq!(
        registry.token_requests(),
        requests_before,
        "a ready token needs no token request"
    );

    let refused = client_for(&registry)
        .check_manifest(
            &image(&registry, "acme/shop:v1"),
            &Credentials::bearer(format!("{token}x")),
        )
        .await
        .expect_err("a tampered token is refused");
    assert!(
        matches!(refused, RegistryError::Unauthorized { .. }),
        "{refused:?}"
    );
    assert!(!everything_printed(&refused).contains(&token));
}

#[tokio::test]
async fn stopped_registry_is_unreachable() {
    let registry = TestRegistry::start(RegistryAuth::None).expect("registry starts");
    let reference = image(&registry, "acme/shop:v1");
    let client = client_for(&registry);
    drop(registry);

    let error = client
        .check_manifest(&reference, &Credentials::basic(USER, PASSWORD))
        .await
        .expect_err("nothing listens any more");

    assert!(
        matches!(error, RegistryError::Unreachable { .. }),
        "{error:?}"
    );
    assert!(!everything_printed(&error).contains(PASSWORD));
}

#[tokio::test]
async fn loopback_registry_serving_plain_http_is_reached_over_http_by_default() {
    // Docker's habit: `127.0.0.0/8` and `localhost` are insecure registries by default.
    let registry =
        TestRegistry::start(RegistryAuth::htpasswd(USER, PASSWORD)).expect("registry starts");
    let pushed = registry.push_image("acme/shop", "v1").expect("push");

    let manifest = RegistryClient::new()
        .expect("default client")
        .check_manifest(
            &image(&registry, "acme/shop:v1"),
            &Credentials::basic(USER, PASSWORD),
        )
        .await
        .expect("HTTPS is answered in plain HTTP, so plain HTTP is used");

    assert_eq!(manifest.digest, pushed);
}

#[tokio::test]
async fn plain_http_answer_to_https_names_insecure_registries() {
    let registry = TestRegistry::start(RegistryAuth::None).expect("registry starts");
    registry.push_image("acme/shop", "v1").expect("push");

    // Without the loopback habit the registry is treated like any other host.
    let error = RegistryClient::builder()
        .loopback_plain_http_fallback(false)
        .build()
        .expect("client")
        .check_manifest(&image(&registry, "acme/shop:v1"), &Credentials::Anonymous)
        .await
        .expect_err("TLS to a plain-HTTP server fails");

    assert!(
        matches!(&error, RegistryError::PlainHttpAnswer { registry: named, .. } if *named == registry.host()),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("answered plain HTTP"), "{message}");
    assert!(message.contains("insecure_registries"), "{message}");
    assert!(!message.contains("InvalidContentType"), "{message}");
}

#[tokio::test]
async fn https_registry_behind_a_private_ca_is_checked_with_that_ca() {
    let registry = TestRegistry::start_tls(RegistryAuth::None).expect("registry starts");
    let pushed = registry.push_image("acme/shop", "v1").expect("push");
    let reference = image(&registry, "acme/shop:v1");
    let ca = registry
        .ca_certificate_pem()
        .expect("a TLS registry has a CA");

    let manifest = RegistryClient::builder()
        .add_root_certificate_pem(ca)
        .build()
        .expect("the CA is valid PEM")
        .check_manifest(&reference, &Credentials::Anonymous)
        .await
        .expect("HTTPS with the private CA");
    assert_eq!(manifest.digest, pushed);

    let untrusted = RegistryClient::new()
        .expect("default client")
        .check_manifest(&reference, &Credentials::Anonymous)
        .await
        .expect_err("the private CA is not trusted by default");
    assert!(
        matches!(untrusted, RegistryError::Unreachable { .. }),
        "{untrusted:?}"
    );
}

#[tokio::test]
async fn credentials_are_not_sent_to_a_plain_http_realm_of_an_https_registry() {
    let registry =
        TestRegistry::start_tls(RegistryAuth::token(USER, PASSWORD)).expect("registry starts");
    registry.push_image("acme/shop", "v1").expect("push");
    let realm = registry.token_realm().expect("a token server");
    assert!(realm.starts_with("http://"), "{realm}");
    let client = RegistryClient::builder()
        .add_root_certificate_pem(registry.ca_certificate_pem().expect("CA"))
        .build()
        .expect("client");
    let requests_before = registry.token_requests();

    let error = client
        .check_manifest(
            &image(&registry, "acme/shop:v1"),
            &Credentials::basic(USER, PASSWORD),
        )
        .await
        .expect_err("the password must not travel in clear");

    assert!(
        matches!(&error, RegistryError::InsecureTokenRealm { realm: named, .. } if *named == realm),
        "{error:?}"
    );
    assert_eq!(
        registry.token_requests(),
        requests_before,
        "no credential was sent"
    );
}

#[test]
fn invalid_ca_certificate_is_a_configuration_error() {
    let error = RegistryClient::builder()
        .add_root_certificate_pem("not a certificate")
        .build()
        .expect_err("no PEM block");
    assert!(
        matches!(error, RegistryError::InvalidConfig { .. }),
        "{error:?}"
    );
}
