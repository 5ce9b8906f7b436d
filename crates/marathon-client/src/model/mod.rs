//! Marathon's JSON models: apps, groups, deployments, tasks and `/v2/info`.

mod app;
mod deployment;
mod group;
mod info;
mod nullable;

pub use app::{
    App, Container, DeploymentRefId, DockerSpec, HealthCheck, HealthCheckResult, ImageRef, Task,
    TaskFailure, UpgradeStrategy, VersionInfo,
};
pub use deployment::{Deployment, DeploymentAction, DeploymentStep};
pub use group::{DeploymentRef, Group};
pub use info::Info;
