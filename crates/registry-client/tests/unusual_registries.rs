//! Answers the CNCF registry never gives but other registries may: a HEAD without the digest
//! header, a token in `access_token`, server errors, a plain-HTTP token realm. These run against
//! small axum servers that answer exactly that way.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use registry_client::{Credentials, ImageReference, RegistryClient, RegistryError};
use sha2::{Digest as _, Sha256};

const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#;
const SECRET: &str = "s3cret-password";

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr.to_string()
}

fn client(hosts: &[&str]) -> RegistryClient {
    hosts
        .iter()
        .fold(RegistryClient::builder(), |builder, host| {
            builder.plain_http_host(*host)
        })
        .build()
        .expect("client builds")
}

fn reference(host: &str, path: &str) -> ImageReference {
    ImageReference::parse(&format!("{host}/{path}")).expect("valid reference")
}

#[tokio::test]
async fn missing_digest_header_falls_back_to_hashing_the_manifest() {
    let gets = Arc::new(AtomicUsize::new(0));
    let router = Router::new()
        .route(
            "/v2/team/app/manifests/v1",
            get(
                |State(gets): State<Arc<AtomicUsize>>, method: Method| async move {
                    if method == Method::GET {
                        gets.fetch_add(1, Ordering::SeqCst);
                    }
                    // No Docker-Content-Digest, as some registries (and proxies) answer.
                    (
                        [(
                            header::CONTENT_TYPE,
                            "application/vnd.oci.image.manifest.v1+json",
                        )],
                        MANIFEST,
                    )
                },
            ),
        )
        .with_state(Arc::clone(&gets));
    let host = serve(router).await;

    let manifest = client(&[&host])
        .check_manifest(&reference(&host, "team/app:v1"), &Credentials::Anonymous)
        .await
        .expect("the manifest exists");

    assert_eq!(
        manifest.digest,
        format!("sha256:{:x}", Sha256::digest(MANIFEST.as_bytes()))
    );
    assert_eq!(manifest.size, MANIFEST.len() as u64);
    assert_eq!(
        manifest.media_type,
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(gets.load(Ordering::SeqCst), 1, "one GET after the HEAD");
}

#[tokio::test]
async fn token_in_access_token_field_is_used() {
    let router = Router::new()
        .route(
            "/token",
            get(|RawQuery(query): RawQuery| async move {
                let query = query.unwrap_or_default();
                if query.contains("scope=repository%3Ateam%2Fapp%3Apull") && query.contains("service=fake") {
                    axum::Json(serde_json::json!({"access_token": "oauth-style-token"})).into_response()
                } else {
                    (StatusCode::BAD_REQUEST, query).into_response()
                }
            }),
        )
        .route(
            "/v2/team/app/manifests/v1",
            get(|State(realm): State<String>, headers: HeaderMap| async move {
                match headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
                    Some("Bearer oauth-style-token") => (
                        StatusCode::OK,
                        [
                            (header::CONTENT_TYPE, "application/vnd.oci.image.manifest.v1+json".to_owned()),
                            (header::HeaderName::from_static("docker-content-digest"),
                             format!("sha256:{}", "a".repeat(64))),
                        ],
                        MANIFEST,
                    )
                        .into_response(),
                    _ => (
                        StatusCode::UNAUTHORIZED,
                        [(
                            header::WWW_AUTHENTICATE,
                            format!(r#"Bearer realm="{realm}",service="fake",scope="repository:team/app:pull""#),
                        )],
                    )
                        .into_response(),
                }
            }),
        );
    // The realm must be known before the router is served: bind first, then route.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let host = listener.local_addr().expect("address").to_string();
    let router = router.with_state(format!("http://{host}/token"));
    tokio::spawn(async move { axum::serve(listener, router).await });

    let manifest = client(&[&host])
        .check_manifest(&reference(&host, "team/app:v1"), &Credentials::Anonymous)
        .await
        .expect("the anonymous token grants pull");

    assert_eq!(manifest.digest, format!("sha256:{}", "a".repeat(64)));
}

#[tokio::test]
async fn server_error_reports_status_and_registry_message() {
    let router = Router::new().route(
        "/v2/team/app/manifests/v1",
        get(|method: Method| async move {
            let body = if method == Method::HEAD {
                String::new()
            } else {
                r#"{"errors":[{"code":"UNKNOWN","message":"storage backend down"}]}"#.to_owned()
            };
            (StatusCode::SERVICE_UNAVAILABLE, body)
        }),
    );
    let host = serve(router).await;

    let error = client(&[&host])
        .check_manifest(&reference(&host, "team/app:v1"), &Credentials::Anonymous)
        .await
        .expect_err("the registry is failing");

    assert!(
        matches!(error, RegistryError::Server { status: 503, .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with(&format!("registry {host} answered HTTP 503")),
        "{error}"
    );
}

#[tokio::test]
async fn forbidden_is_reported_as_such() {
    let router = Router::new().route(
        "/v2/team/app/manifests/v1",
        get(|| async { StatusCode::FORBIDDEN }),
    );
    let host = serve(router).await;

    let error = client(&[&host])
        .check_manifest(
            &reference(&host, "team/app:v1"),
            &Credentials::basic("u", SECRET),
        )
        .await
        .expect_err("denied");

    assert!(
        matches!(error, RegistryError::Forbidden { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn unsupported_challenge_is_unauthorized_with_a_reason() {
    let router = Router::new().route(
        "/v2/team/app/manifests/v1",
        get(|| async {
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, r#"Negotiate"#)],
            )
        }),
    );
    let host = serve(router).await;

    let error = client(&[&host])
        .check_manifest(
            &reference(&host, "team/app:v1"),
            &Credentials::basic("u", SECRET),
        )
        .await
        .expect_err("no usable challenge");

    match &error {
        RegistryError::Unauthorized { reason, .. } => {
            assert!(
                reason.contains("without a Basic or Bearer challenge"),
                "{reason}"
            );
        }
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

#[tokio::test]
async fn digest_pinned_reference_with_other_content_is_a_mismatch() {
    let served = format!("sha256:{}", "b".repeat(64));
    let pinned = format!("sha256:{}", "c".repeat(64));
    let path = format!("/v2/team/app/manifests/{pinned}");
    let router = Router::new().route(
        &path,
        get(move || {
            let served = served.clone();
            async move {
                Response::builder()
                    .header(
                        header::CONTENT_TYPE,
                        "application/vnd.oci.image.manifest.v1+json",
                    )
                    .header("Docker-Content-Digest", served)
                    .body(axum::body::Body::from(MANIFEST))
                    .expect("response")
            }
        }),
    );
    let host = serve(router).await;

    let error = client(&[&host])
        .check_manifest(
            &reference(&host, &format!("team/app@{pinned}")),
            &Credentials::Anonymous,
        )
        .await
        .expect_err("the registry served other content");

    assert!(
        matches!(&error, RegistryError::DigestMismatch { expected, .. } if *expected == pinned),
        "{error:?}"
    );
}

#[tokio::test]
async fn bare_404_without_registry_codes_is_a_missing_tag() {
    // A proxy in front of a registry: 404 everywhere, no registry error body.
    let host = serve(Router::new()).await;

    let error = client(&[&host])
        .check_manifest(&reference(&host, "team/app:v1"), &Credentials::Anonymous)
        .await
        .expect_err("nothing is there");

    assert!(
        matches!(&error, RegistryError::ManifestUnknown { reference, .. } if reference == "v1"),
        "{error:?}"
    );
}

#[tokio::test]
async fn registry_that_never_answers_is_unreachable_after_the_timeout() {
    // Accepts connections and then says nothing.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let host = listener.local_addr().expect("address").to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let client = RegistryClient::builder()
        .plain_http_host(&host)
        .timeout(std::time::Duration::from_millis(200))
        .build()
        .expect("client");

    let error = client
        .check_manifest(&reference(&host, "team/app:v1"), &Credentials::Anonymous)
        .await
        .expect_err("no answer");

    match &error {
        RegistryError::Unreachable { source, .. } => assert!(source.is_timeout(), "{source:?}"),
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

#[tokio::test]
async fn manifest_over_4_mib_is_response_too_large() {
    // No digest header, so the client reads the manifest to hash it: 5 MiB of it.
    let router = Router::new().route(
        "/v2/team/app/manifests/v1",
        get(|| async {
            (
                [(
                    header::CONTENT_TYPE,
                    "application/vnd.oci.image.manifest.v1+json",
                )],
                " ".repeat(5 * 1024 * 1024),
            )
        }),
    );
    let host = serve(router).await;
    let err = client(&[&host])
        .check_manifest(&reference(&host, "team/app:v1"), &Credentials::Anonymous)
        .await
        .expect_err("too large");
    assert!(
        matches!(
            err,
            RegistryError::ResponseTooLarge {
                what: "a manifest",
                limit: 4194304,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("registry {host} sent a manifest larger than the limit of 4194304 bytes")
    );
}

#[tokio::test]
async fn token_answer_over_256_kib_is_response_too_large() {
    let router = Router::new()
        .route(
            "/token",
            get(|| async { format!(r#"{{"token":"{}"}}"#, "t".repeat(300 * 1024)) }),
        )
        .route(
            "/v2/team/app/manifests/v1",
            get(|State(realm): State<String>| async move {
                (
                    StatusCode::UNAUTHORIZED,
                    [(
                        header::WWW_AUTHENTICATE,
                        format!(r#"Bearer realm="{realm}",service="fake""#),
                    )],
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let host = listener.local_addr().expect("address").to_string();
    let router = router.with_state(format!("http://{host}/token"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    let err = client(&[&host])
        .check_manifest(&reference(&host, "team/app:v1"), &Credentials::Anonymous)
        .await
        .expect_err("too large");
    assert!(
        matches!(
            err,
            RegistryError::ResponseTooLarge {
                what: "a token answer",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn identity_token_is_exchanged_with_a_refresh_token_post_as_docker_does() {
    // Token server: only `POST` with `grant_type=refresh_token` and the right refresh token
    // gets an access token; the registry takes only that token.
    let forms = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let seen = Arc::clone(&forms);
    let token_router = Router::new().route(
        "/token",
        axum::routing::post(move |RawQuery(query): RawQuery, body: String| {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock().expect("lock").push(body.clone());
                let fields: Vec<(String, String)> = url::form_urlencoded::parse(body.as_bytes())
                    .into_owned()
                    .collect();
                let has = |k: &str, v: &str| fields.iter().any(|(a, b)| a == k && b == v);
                if query.is_none()
                    && has("grant_type", "refresh_token")
                    && has("refresh_token", SECRET)
                    && has("service", "test-registry")
                    && has("scope", "repository:team/app:pull")
                {
                    axum::Json(serde_json::json!({"access_token": "exchanged"})).into_response()
                } else {
                    StatusCode::UNAUTHORIZED.into_response()
                }
            }
        }),
    );
    let token_host = serve(token_router).await;
    let realm = format!("http://{token_host}/token");
    let digest = format!("sha256:{:x}", Sha256::digest(MANIFEST.as_bytes()));
    let registry_router = Router::new().route(
        "/v2/team/app/manifests/v1",
        get(move |headers: HeaderMap| {
            let realm = realm.clone();
            let digest = digest.clone();
            async move {
                if headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    == Some("Bearer exchanged")
                {
                    return (
                        [
                            (
                                header::CONTENT_TYPE,
                                "application/vnd.oci.image.manifest.v1+json".to_owned(),
                            ),
                            (
                                header::HeaderName::from_static("docker-content-digest"),
                                digest,
                            ),
                        ],
                        MANIFEST,
                    )
                        .into_response();
                }
                (
                    StatusCode::UNAUTHORIZED,
                    [(
                        header::WWW_AUTHENTICATE,
                        format!(r#"Bearer realm="{realm}",service="test-registry""#),
                    )],
                )
                    .into_response()
            }
        }),
    );
    let host = serve(registry_router).await;

    let manifest = client(&[&host])
        .check_manifest(
            &reference(&host, "team/app:v1"),
            &Credentials::identity_token(SECRET),
        )
        .await
        .expect("the identity token was exchanged");

    assert_eq!(
        manifest.media_type,
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(forms.lock().expect("lock").len(), 1);
}
