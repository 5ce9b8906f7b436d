//! Registry credentials where Docker keeps them: `config.json` in `$DOCKER_CONFIG` (default
//! `~/.docker`), its `auths` and its credential helpers (`credsStore`, `credHelpers`).
//!
//! Used only when duncan's configuration gives no registry credentials. The file is read, and a
//! helper run, only when an image is checked, so commands that check no image never run one.

use std::path::PathBuf;
use std::sync::Arc;

use duncan_core::deploy::{
    ImageCheck, ImageCheckError, ImageFound, RegistryImageCheck, image::BoxFuture,
};
use registry_client::{DockerConfig, ImageReference, RegistryClient};

use super::{Setting, Source};

/// Where Docker's client configuration is, as the docker CLI finds it.
pub(super) fn config_path(env: &dyn Fn(&str) -> Option<String>) -> Setting<Option<PathBuf>> {
    match (env("DOCKER_CONFIG"), env("HOME")) {
        (Some(dir), _) => Setting::new(
            Some(PathBuf::from(dir).join("config.json")),
            Source::Env("DOCKER_CONFIG"),
        ),
        (None, Some(home)) => Setting::new(
            Some(PathBuf::from(home).join(".docker").join("config.json")),
            Source::Default,
        ),
        (None, None) => Setting::new(None, Source::Unset),
    }
}

/// An image check that takes the registry's credentials from Docker's configuration at `path`
/// (anonymous when the file does not exist).
pub fn image_check(client: RegistryClient, path: PathBuf) -> Arc<dyn ImageCheck> {
    Arc::new(DockerCredentialsCheck { client, path })
}

struct DockerCredentialsCheck {
    client: RegistryClient,
    path: PathBuf,
}

impl ImageCheck for DockerCredentialsCheck {
    fn check<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<ImageFound, ImageCheckError>> {
        Box::pin(async move {
            let plain = || RegistryImageCheck::new(self.client.clone());
            // A reference that does not parse is refused by the plain check, in its words.
            let Ok(reference) = ImageReference::parse(image) else {
                return plain().check(image).await;
            };
            if !self.path.is_file() {
                return plain().check(image).await;
            }
            let path = self.path.clone();
            let domain = reference.domain().to_owned();
            let lookup = domain.clone();
            // A helper is a program that may take a while: off the async threads.
            let found = tokio::task::spawn_blocking(move || {
                DockerConfig::from_path(&path).and_then(|config| config.credentials_for(&lookup))
            })
            .await;
            let credentials = match found {
                Ok(Ok(credentials)) => credentials,
                Ok(Err(error)) => {
                    return Err(ImageCheckError::Unverifiable {
                        image: image.to_owned(),
                        reason: format!("{error} (Docker's configuration {})", self.path.display()),
                        source: Some(Box::new(error)),
                    });
                }
                Err(_) => {
                    return Err(ImageCheckError::Unverifiable {
                        image: image.to_owned(),
                        reason: "reading Docker's credentials stopped unexpectedly".to_owned(),
                        source: None,
                    });
                }
            };
            plain()
                .with_credentials(domain, credentials)
                .check(image)
                .await
        })
    }
}
