//! Pushing images and manifest lists through the registry's own HTTP API.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use reqwest::StatusCode;
use serde_json::json;

use super::token::TokenServer;
use super::{ManifestFormat, RegistryAuth, sha256_digest};

/// The media types of one manifest format: image manifest, index, config blob, layer blob.
struct MediaTypes {
    manifest: &'static str,
    index: &'static str,
    config: &'static str,
    layer: &'static str,
}

impl ManifestFormat {
    fn media_types(self) -> MediaTypes {
        match self {
            Self::Docker => MediaTypes {
                manifest: "application/vnd.docker.distribution.manifest.v2+json",
                index: "application/vnd.docker.distribution.manifest.list.v2+json",
                config: "application/vnd.docker.container.image.v1+json",
                layer: "application/vnd.docker.image.rootfs.diff.tar.gzip",
            },
            Self::Oci => MediaTypes {
                manifest: "application/vnd.oci.image.manifest.v1+json",
                index: "application/vnd.oci.image.index.v1+json",
                config: "application/vnd.oci.image.config.v1+json",
                layer: "application/vnd.oci.image.layer.v1.tar+gzip",
            },
        }
    }
}
const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.docker.distribution.manifest.v2+json";

/// What pushing needs, cheap to clone into the runtime's tasks.
#[derive(Clone)]
pub(super) struct Pusher {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    pub(super) auth: RegistryAuth,
    pub(super) token_server: Option<Arc<TokenServer>>,
}

impl Pusher {
    pub(super) async fn push_image(
        &self,
        repository: &str,
        tag: &str,
        format: ManifestFormat,
    ) -> Result<String> {
        let types = format.media_types();
        let layer = format!("duncan test layer of {repository}:{tag}\n").into_bytes();
        let layer_digest = sha256_digest(&layer);
        let config = serde_json::to_vec(&json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }))?;
        let config_digest = sha256_digest(&config);
        self.upload_blob(repository, &config, &config_digest)
            .await?;
        self.upload_blob(repository, &layer, &layer_digest).await?;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": types.manifest,
            "config": {"mediaType": types.config, "size": config.len(), "digest": config_digest},
            "layers": [{"mediaType": types.layer, "size": layer.len(), "digest": layer_digest}],
        }))?;
        self.put_manifest(repository, tag, types.manifest, manifest)
            .await
    }

    pub(super) async fn push_index(
        &self,
        repository: &str,
        tag: &str,
        digests: &[String],
        format: ManifestFormat,
    ) -> Result<String> {
        let types = format.media_types();
        const ARCHITECTURES: [&str; 6] = ["amd64", "arm64", "arm", "ppc64le", "s390x", "386"];
        let mut manifests = Vec::new();
        for (digest, architecture) in digests.iter().zip(ARCHITECTURES.iter().cycle()) {
            let url = format!("{}/v2/{repository}/manifests/{digest}", self.base);
            let response = self
                .authorize(self.http.head(&url), repository)
                .await?
                .header("Accept", ACCEPT_MANIFESTS)
                .send()
                .await?;
            if !response.status().is_success() {
                bail!("manifest {repository}@{digest}: HTTP {}", response.status());
            }
            let size: u64 = header(&response, "Content-Length")?
                .parse()
                .context("Content-Length is not a number")?;
            let media_type = header(&response, "Content-Type")?;
            manifests.push(json!({
                "mediaType": media_type,
                "size": size,
                "digest": digest,
                "platform": {"architecture": architecture, "os": "linux"},
            }));
        }
        let list = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": types.index,
            "manifests": manifests,
        }))?;
        self.put_manifest(repository, tag, types.index, list).await
    }

    /// `POST /v2/<repo>/blobs/uploads/`, then `PUT <location>&digest=…` with the whole blob.
    async fn upload_blob(&self, repository: &str, blob: &[u8], digest: &str) -> Result<()> {
        let start = format!("{}/v2/{repository}/blobs/uploads/", self.base);
        let response = self
            .authorize(self.http.post(&start), repository)
            .await?
            .send()
            .await?;
        if response.status() != StatusCode::ACCEPTED {
            bail!(
                "starting a blob upload to {repository}: HTTP {}: {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
        }
        let location = header(&response, "Location")?;
        let mut url = reqwest::Url::parse(&start)?
            .join(&location)
            .context("the upload Location is not a URL")?;
        url.query_pairs_mut().append_pair("digest", digest);
        let response = self
            .authorize(self.http.put(url), repository)
            .await?
            .header("Content-Type", "application/octet-stream")
            .body(blob.to_vec())
            .send()
            .await?;
        if response.status() != StatusCode::CREATED {
            bail!(
                "finishing the blob upload of {digest} to {repository}: HTTP {}: {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    async fn put_manifest(
        &self,
        repository: &str,
        tag: &str,
        media_type: &str,
        manifest: Vec<u8>,
    ) -> Result<String> {
        let expected = sha256_digest(&manifest);
        let url = format!("{}/v2/{repository}/manifests/{tag}", self.base);
        let response = self
            .authorize(self.http.put(&url), repository)
            .await?
            .header("Content-Type", media_type)
            .body(manifest)
            .send()
            .await?;
        if response.status() != StatusCode::CREATED {
            bail!(
                "putting manifest {repository}:{tag}: HTTP {}: {}",
                response.status(),
                response.text().await.unwrap_or_default()
            );
        }
        let digest = header(&response, "Docker-Content-Digest")?;
        if digest != expected {
            bail!("the registry stored {repository}:{tag} as {digest}, expected {expected}");
        }
        Ok(digest)
    }

    async fn authorize(
        &self,
        request: reqwest::RequestBuilder,
        repository: &str,
    ) -> Result<reqwest::RequestBuilder> {
        Ok(match &self.auth {
            RegistryAuth::None => request,
            RegistryAuth::Htpasswd { user, password } => request.basic_auth(user, Some(password)),
            RegistryAuth::Token { user, .. } => {
                let Some(server) = &self.token_server else {
                    bail!("token authentication without a token server");
                };
                let token = server
                    .mint(user, &[(repository.to_owned(), vec!["pull", "push"])])
                    .await?;
                request.bearer_auth(token)
            }
        })
    }
}

fn header(response: &reqwest::Response, name: &str) -> Result<String> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .with_context(|| format!("the registry's answer has no {name} header"))
}
