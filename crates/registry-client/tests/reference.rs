//! Image references are parsed as Docker parses them.

use registry_client::{ImageReference, ReferenceError};

const DIGEST: &str = "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945";

/// (input, domain, registry host, repository, tag, digest)
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

/// Whether an error is the one a case expects.
type IsExpected = fn(&ReferenceError) -> bool;

fn check(cases: &[Case]) {
    for &(input, domain, host, repository, tag, digest) in cases {
        let reference = ImageReference::parse(input)
            .unwrap_or_else(|error| panic!("`{input}` should parse: {error}"));
        assert_eq!(reference.domain(), domain, "domain of `{input}`");
        assert_eq!(
            reference.registry_host(),
            host,
            "registry host of `{input}`"
        );
        assert_eq!(
            reference.repository(),
            repository,
            "repository of `{input}`"
        );
        assert_eq!(reference.tag(), tag, "tag of `{input}`");
        assert_eq!(reference.digest(), digest, "digest of `{input}`");
    }
}

#[test]
fn docker_hub_names_get_the_default_registry_and_library() {
    check(&[
        (
            "nginx",
            "docker.io",
            "registry-1.docker.io",
            "library/nginx",
            None,
            None,
        ),
        (
            "nginx:1.27",
            "docker.io",
            "registry-1.docker.io",
            "library/nginx",
            Some("1.27"),
            None,
        ),
        (
            "bitnami/redis:7",
            "docker.io",
            "registry-1.docker.io",
            "bitnami/redis",
            Some("7"),
            None,
        ),
        (
            "docker.io/nginx",
            "docker.io",
            "registry-1.docker.io",
            "library/nginx",
            None,
            None,
        ),
        (
            "docker.io/library/nginx:latest",
            "docker.io",
            "registry-1.docker.io",
            "library/nginx",
            Some("latest"),
            None,
        ),
        (
            "index.docker.io/team/app:v1",
            "docker.io",
            "registry-1.docker.io",
            "team/app",
            Some("v1"),
            None,
        ),
        (
            "a/b/c/d:v1",
            "docker.io",
            "registry-1.docker.io",
            "a/b/c/d",
            Some("v1"),
            None,
        ),
    ]);
}

#[test]
fn first_component_with_dot_colon_or_localhost_is_the_registry() {
    check(&[
        ("localhost/app", "localhost", "localhost", "app", None, None),
        (
            "localhost:5000/x",
            "localhost:5000",
            "localhost:5000",
            "x",
            None,
            None,
        ),
        (
            "localhost:5000/team/app:v2",
            "localhost:5000",
            "localhost:5000",
            "team/app",
            Some("v2"),
            None,
        ),
        (
            "quay.io/team/app:v1.2.3",
            "quay.io",
            "quay.io",
            "team/app",
            Some("v1.2.3"),
            None,
        ),
        (
            "registry.example.com:8443/a/b",
            "registry.example.com:8443",
            "registry.example.com:8443",
            "a/b",
            None,
            None,
        ),
        (
            "127.0.0.1:5000/acme/shop:v1",
            "127.0.0.1:5000",
            "127.0.0.1:5000",
            "acme/shop",
            Some("v1"),
            None,
        ),
        (
            "[::1]:5000/app:v1",
            "[::1]:5000",
            "[::1]:5000",
            "app",
            Some("v1"),
            None,
        ),
        (
            "ghcr.io/owner/app",
            "ghcr.io",
            "ghcr.io",
            "owner/app",
            None,
            None,
        ),
        // Upper case in the first component can only be a host name.
        (
            "Registry.Example/app",
            "Registry.Example",
            "Registry.Example",
            "app",
            None,
            None,
        ),
    ]);
}

#[test]
fn digests_are_parsed_alone_or_after_a_tag() {
    check(&[
        (
            "quay.io/team/app@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
            "quay.io",
            "quay.io",
            "team/app",
            None,
            Some(DIGEST),
        ),
        (
            "localhost:5000/app:v1@sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945",
            "localhost:5000",
            "localhost:5000",
            "app",
            Some("v1"),
            Some(DIGEST),
        ),
    ]);
}

#[test]
fn repository_separators_follow_dockers_grammar() {
    check(&[
        ("a.b/c_d/e__f:v", "a.b", "a.b", "c_d/e__f", Some("v"), None),
        (
            "x---y/z.w",
            "docker.io",
            "registry-1.docker.io",
            "x---y/z.w",
            None,
            None,
        ),
        (
            "team/app:_underscore.tag-1",
            "docker.io",
            "registry-1.docker.io",
            "team/app",
            Some("_underscore.tag-1"),
            None,
        ),
    ]);
}

#[test]
fn manifest_reference_prefers_digest_then_tag_then_latest() {
    let digest = ImageReference::parse(&format!("app:v1@{DIGEST}")).expect("valid");
    assert_eq!(digest.manifest_reference(), DIGEST);
    let tag = ImageReference::parse("app:v1").expect("valid");
    assert_eq!(tag.manifest_reference(), "v1");
    let bare = ImageReference::parse("app").expect("valid");
    assert_eq!(bare.manifest_reference(), "latest");
}

#[test]
fn display_writes_the_fully_qualified_reference() {
    let cases = [
        ("nginx", "docker.io/library/nginx"),
        ("nginx:1.27", "docker.io/library/nginx:1.27"),
        ("localhost:5000/x:v1", "localhost:5000/x:v1"),
    ];
    for (input, shown) in cases {
        let reference: ImageReference = input.parse().expect("valid");
        assert_eq!(reference.to_string(), shown);
        assert_eq!(
            shown
                .parse::<ImageReference>()
                .expect("the shown form parses"),
            reference,
            "`{shown}` round-trips"
        );
    }
}

#[test]
fn invalid_references_name_what_is_wrong() {
    let long_name = format!("{}:v1", "a".repeat(256));
    let hex_name = "4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945";
    let cases: Vec<(&str, IsExpected)> = vec![
        ("", |e| matches!(e, ReferenceError::Empty)),
        ("Nginx", |e| {
            matches!(e, ReferenceError::NotLowercase { .. })
        }),
        ("quay.io/Team/app", |e| {
            matches!(e, ReferenceError::NotLowercase { .. })
        }),
        ("app:", |e| matches!(e, ReferenceError::InvalidTag { .. })),
        ("app:-dash", |e| {
            matches!(e, ReferenceError::InvalidTag { .. })
        }),
        ("app:.dot", |e| {
            matches!(e, ReferenceError::InvalidTag { .. })
        }),
        ("app:v1/extra", |e| {
            matches!(e, ReferenceError::InvalidDomain { .. })
        }),
        ("app:tag with space", |e| {
            matches!(e, ReferenceError::InvalidTag { .. })
        }),
        ("app@sha256:abc", |e| {
            matches!(e, ReferenceError::InvalidDigest { .. })
        }),
        ("app@md5:d41d8cd98f00b204e9800998ecf8427e", |e| {
            matches!(e, ReferenceError::InvalidDigest { .. })
        }),
        ("app@", |e| {
            matches!(e, ReferenceError::InvalidDigest { .. })
        }),
        ("-app", |e| {
            matches!(e, ReferenceError::InvalidRepository { .. })
        }),
        ("app-", |e| {
            matches!(e, ReferenceError::InvalidRepository { .. })
        }),
        ("a//b", |e| {
            matches!(e, ReferenceError::InvalidRepository { .. })
        }),
        ("team/app/", |e| {
            matches!(e, ReferenceError::InvalidRepository { .. })
        }),
        ("a..b/c", |e| {
            matches!(e, ReferenceError::InvalidDomain { .. })
        }),
        ("host:99999/app", |e| {
            matches!(e, ReferenceError::InvalidDomain { .. })
        }),
        ("host:/app", |e| {
            matches!(e, ReferenceError::InvalidDomain { .. })
        }),
        ("-host.io/app", |e| {
            matches!(e, ReferenceError::InvalidDomain { .. })
        }),
        ("[::1/app", |e| {
            matches!(e, ReferenceError::InvalidDomain { .. })
        }),
        ("quay.io/", |e| {
            matches!(e, ReferenceError::InvalidRepository { .. })
        }),
        (":v1", |e| {
            matches!(e, ReferenceError::InvalidRepository { .. })
        }),
        (long_name.as_str(), |e| {
            matches!(e, ReferenceError::NameTooLong { length: 274 })
        }),
        (hex_name, |e| {
            matches!(e, ReferenceError::InvalidRepository { .. })
        }),
    ];
    for (input, expected) in cases {
        match ImageReference::parse(input) {
            Ok(reference) => panic!("`{input}` should be refused, parsed as {reference:?}"),
            Err(error) => assert!(
                expected(&error),
                "`{input}` gave the wrong error: {error:?}"
            ),
        }
    }
}

#[test]
fn tag_grammar_allows_128_characters_and_no_more() {
    let longest = format!("app:{}", "t".repeat(128));
    assert_eq!(
        ImageReference::parse(&longest)
            .expect("128 is allowed")
            .tag()
            .map(str::len),
        Some(128)
    );
    let too_long = format!("app:{}", "t".repeat(129));
    assert!(matches!(
        ImageReference::parse(&too_long),
        Err(ReferenceError::InvalidTag { .. })
    ));
}

#[test]
fn error_messages_quote_the_reference_and_the_rule() {
    let error = ImageReference::parse("quay.io/team/app:-v1").expect_err("bad tag");
    assert_eq!(
        error.to_string(),
        "invalid tag `-v1` in image reference `quay.io/team/app:-v1`: a tag is 1 to 128 letters, \
         digits, `_`, `.` or `-`, and does not start with `.` or `-`"
    );
    let error = ImageReference::parse("Team/App").expect_err("upper case");
    assert_eq!(
        error.to_string(),
        "invalid image reference `Team/App`: repository name must be lowercase"
    );
}

#[test]
fn docker_hub_name_is_limited_to_255_characters_once_normalised() {
    // `docker.io/library/` is 18 characters: 237 more make exactly 255.
    let at_limit = "a".repeat(237);
    let parsed = ImageReference::parse(&format!("{at_limit}:v1")).expect("255 is allowed");
    assert_eq!(
        parsed.to_string().len(),
        "docker.io/library/".len() + 237 + ":v1".len()
    );

    let over = "a".repeat(238);
    let err = ImageReference::parse(&format!("{over}:v1")).unwrap_err();
    assert!(
        matches!(err, ReferenceError::NameTooLong { length: 256 }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("256 characters long as Docker normalises it"),
        "{text}"
    );
    assert!(text.contains("docker.io/library/"), "{text}");
    assert!(text.ends_with("Docker allows at most 255"), "{text}");

    // The same name under an organisation is normalised to `docker.io/org/…`.
    let org = format!("org/{}", "a".repeat(255 - "docker.io/org/".len()));
    assert!(ImageReference::parse(&org).is_ok());
    assert!(ImageReference::parse(&format!("{org}a")).is_err());
}
