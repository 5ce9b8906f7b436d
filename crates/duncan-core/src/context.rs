//! The [`Context`] every operation (deploy, rollback, scale, status, watch) runs in: the
//! clients, the image check, the settings and the cancellation token.

use std::sync::Arc;

use crate::deploy::ImageCheck;
use crate::settings::Settings;

/// Everything an operation needs: the clients, the image check and the settings. The CLI builds
/// one and passes it to every operation.
pub struct Context {
    /// The Consul client.
    pub consul: consul_client::Client,
    /// The Marathon client.
    pub marathon: marathon_client::Client,
    /// The registry check of new images.
    pub images: Arc<dyn ImageCheck>,
    /// duncan's settings, including the deployer identity.
    pub settings: Settings,
    /// Cancelled to interrupt the operation running in this context (the CLI does on Ctrl-C,
    /// SIGTERM and SIGHUP): it stops at its next safe point, cleans up and returns
    /// [`DeployError::Interrupted`](crate::deploy::DeployError::Interrupted). See
    /// [`Interruption`](crate::deploy::Interruption).
    pub cancel: tokio_util::sync::CancellationToken,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The clients and settings redact their own secrets.
        f.debug_struct("Context")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
