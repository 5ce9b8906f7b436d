//! Apps, their Docker container, health checks and tasks.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::Error;

/// A Marathon app definition, with the status Marathon adds to it when asked (task counts,
/// tasks, deployments).
///
/// The model is lossless: fields it does not name are kept in [`App::extra`], and every
/// named field serializes back exactly as it was received (absent stays absent, `null` stays
/// `null`). That matters because a group or app `PUT` replaces the definition wholesale: a
/// dropped field (constraints, volumes, secrets…) would silently change production.
///
/// ```
/// use marathon_client::App;
///
/// let json = r#"{"id":"/web","instances":2,"container":{"type":"DOCKER",
///     "docker":{"image":"registry.example.com:5000/team/web:1.4.2"}},"cpus":0.5}"#;
/// let mut app: App = serde_json::from_str(json)?;
/// assert_eq!(app.image_repository(), Some("registry.example.com:5000/team/web"));
/// assert_eq!(app.image_tag(), Some("1.4.2"));
///
/// app.set_image_tag("1.5.0")?;
/// assert_eq!(app.docker_image(), Some("registry.example.com:5000/team/web:1.5.0"));
/// // `cpus` is not a named field, but it is kept and sent back as it came.
/// assert_eq!(serde_json::to_value(&app)?["cpus"], serde_json::json!(0.5));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    /// The app's absolute id, such as `/prod/web`.
    pub id: String,
    /// The number of instances the app should run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<u64>,
    /// The container the tasks run in; `Some(None)` when Marathon sent `null`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::model::nullable::deserialize"
    )]
    pub container: Option<Option<Container>>,
    /// The app's health checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_checks: Option<Vec<HealthCheck>>,
    /// How Marathon replaces tasks during a deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade_strategy: Option<UpgradeStrategy>,
    /// The version (a timestamp) of this definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// When the definition last changed, and when it was last scaled or restarted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_info: Option<VersionInfo>,
    /// Tasks staged (`embed=app.counts` or `group.apps.counts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks_staged: Option<u64>,
    /// Tasks running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks_running: Option<u64>,
    /// Running tasks whose health checks all pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks_healthy: Option<u64>,
    /// Running tasks with a failing health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks_unhealthy: Option<u64>,
    /// Deployments currently touching this app; non-empty means the app is locked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployments: Option<Vec<DeploymentRefId>>,
    /// The app's tasks (`embed=app.tasks` or `group.apps.tasks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<Task>>,
    /// Why the app's last task failed (`GET /v2/apps/{id}`, and with
    /// `embed=app.lastTaskFailure` / `group.apps.lastTaskFailure`); absent when no task of the
    /// app failed since Marathon started, `Some(None)` when Marathon sent `null`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::model::nullable::deserialize"
    )]
    pub last_task_failure: Option<Option<TaskFailure>>,
    /// Every field not named above, in the order received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The last failure of one of an app's tasks, as Marathon reports it in the app's
/// `lastTaskFailure`.
///
/// ```
/// use marathon_client::App;
///
/// let app: App = serde_json::from_str(r#"{"id": "/web", "lastTaskFailure": {
///     "appId": "/web", "host": "agent-1", "message": "Container exited with status 1",
///     "state": "TASK_FAILED", "taskId": "web.1", "timestamp": "2017-03-02T10:00:05.000Z",
///     "version": "2017-03-02T10:00:00.000Z", "slaveId": "s1"}}"#)?;
/// let failure = app.last_task_failure.flatten().unwrap();
/// assert_eq!(failure.state.as_deref(), Some("TASK_FAILED"));
/// assert_eq!(failure.message.as_deref(), Some("Container exited with status 1"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskFailure {
    /// The app the task belonged to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// The agent host it ran on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Mesos' message, such as `Container exited with status 1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The terminal Mesos state, such as `TASK_FAILED` or `TASK_KILLED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The task's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// When the task failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// The app version the task ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The Mesos agent's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slave_id: Option<String>,
    /// Every other field, kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The id of a deployment, as listed in an app's `deployments`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DeploymentRefId {
    /// The deployment id.
    pub id: String,
    /// Every other field, kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An app's container: Docker (`type: DOCKER`) or Mesos with a Docker image (`type: MESOS`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Container {
    /// The containerizer, `DOCKER` or `MESOS`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The Docker image and its options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerSpec>,
    /// Every other field (volumes, port mappings…), kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `docker` part of a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DockerSpec {
    /// The image, such as `registry.example.com/team/web:1.4.2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Every other field (network, parameters, forcePullImage…), kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One health check of an app. Only the timing fields are named; the rest is kept as
/// received.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// Seconds after a task starts during which failures are ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period_seconds: Option<u64>,
    /// Seconds between two checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<u64>,
    /// Consecutive failures after which the task is killed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_consecutive_failures: Option<u64>,
    /// Every other field (protocol, path, port…), kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// How Marathon replaces an app's tasks during a deployment.
///
/// The capacities are kept as JSON numbers so that `1` and `1.0` serialize back unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStrategy {
    /// Fraction of instances that must stay healthy (0.0–1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_health_capacity: Option<serde_json::Number>,
    /// Fraction of extra instances that may be started (0.0–1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_over_capacity: Option<serde_json::Number>,
    /// Every other field, kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// When an app definition last changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// Last change including scaling and restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scaling_at: Option<String>,
    /// Last change of the configuration itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_config_change_at: Option<String>,
    /// Every other field, kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One task (a running or staged instance) of an app.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// The task id.
    pub id: String,
    /// The app it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
    /// The agent host it runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Mesos state, such as `TASK_RUNNING` (newer Marathon versions only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The app version the task runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// When the task was staged.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::model::nullable::deserialize"
    )]
    pub staged_at: Option<Option<String>>,
    /// When the task started running; `null` while staging.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::model::nullable::deserialize"
    )]
    pub started_at: Option<Option<String>>,
    /// The latest result of each health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_results: Option<Vec<HealthCheckResult>>,
    /// Every other field, kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Task {
    /// The task's Mesos state: `state` (Marathon 1.2 and later), else the `taskStatus` some
    /// older versions and proxies send.
    pub fn mesos_state(&self) -> Option<&str> {
        self.state
            .as_deref()
            .or_else(|| self.extra.get("taskStatus").and_then(Value::as_str))
    }

    /// True when the task has health check results and all of them are alive.
    ///
    /// A task of an app without health checks has no results and is reported as not
    /// healthy here; callers decide what "healthy" means for such apps.
    pub fn is_healthy(&self) -> bool {
        match &self.health_check_results {
            Some(results) if !results.is_empty() => results.iter().all(|r| r.alive == Some(true)),
            _ => false,
        }
    }
}

/// The latest result of one health check of one task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckResult {
    /// Whether the last check passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alive: Option<bool>,
    /// Failures since the last success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_failures: Option<u64>,
    /// The task checked (older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// The instance checked (newer versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// Time of the first success; `null` before any.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::model::nullable::deserialize"
    )]
    pub first_success: Option<Option<String>>,
    /// Time of the last success; `null` before any.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::model::nullable::deserialize"
    )]
    pub last_success: Option<Option<String>>,
    /// Time of the last failure; `null` before any.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::model::nullable::deserialize"
    )]
    pub last_failure: Option<Option<String>>,
    /// Why the last check failed, such as `ConnectionAttemptFailedException: …` or an HTTP
    /// status; `null` before any failure.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::model::nullable::deserialize"
    )]
    pub last_failure_cause: Option<Option<String>>,
    /// Every other field, kept as received.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The parts of a Docker image reference that deploys care about.
///
/// The tag is what follows the last `:` after the last `/`, so a registry port
/// (`host:5000/web`) is never mistaken for a tag. A digest (`@sha256:…`) is kept apart.
///
/// ```
/// use marathon_client::ImageRef;
///
/// let image = ImageRef::parse("registry:5000/team/web:1.2");
/// assert_eq!((image.repository, image.tag), ("registry:5000/team/web", Some("1.2")));
/// assert_eq!(ImageRef::parse("registry:5000/team/web").tag, None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageRef<'a> {
    /// Registry host (if any) and repository path, such as `registry:5000/team/web`.
    pub repository: &'a str,
    /// The tag, if the reference has one.
    pub tag: Option<&'a str>,
    /// The digest, such as `sha256:…`, if the reference has one.
    pub digest: Option<&'a str>,
}

impl<'a> ImageRef<'a> {
    /// Splits an image reference into repository, tag and digest. Never fails: a string that
    /// is not a valid reference still splits, and validation is left to the caller.
    pub fn parse(image: &'a str) -> Self {
        let (name, digest) = match image.split_once('@') {
            Some((name, digest)) => (name, Some(digest)),
            None => (image, None),
        };
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        match name[last_slash..].rfind(':') {
            Some(colon) => {
                let at = last_slash + colon;
                ImageRef {
                    repository: &name[..at],
                    tag: Some(&name[at + 1..]),
                    digest,
                }
            }
            None => ImageRef {
                repository: name,
                tag: None,
                digest,
            },
        }
    }
}

impl App {
    /// The Docker image of the app's container, if it has one.
    pub fn docker_image(&self) -> Option<&str> {
        self.container
            .as_ref()?
            .as_ref()?
            .docker
            .as_ref()?
            .image
            .as_deref()
    }

    /// The image's repository (registry and path, without tag), if the app has an image.
    pub fn image_repository(&self) -> Option<&str> {
        self.docker_image().map(|i| ImageRef::parse(i).repository)
    }

    /// The image's tag, if the app has an image with a tag.
    pub fn image_tag(&self) -> Option<&str> {
        self.docker_image().and_then(|i| ImageRef::parse(i).tag)
    }

    /// CPUs per instance (`cpus`, kept in [`App::extra`] as received), as a number.
    pub fn cpus(&self) -> Option<f64> {
        self.extra.get("cpus")?.as_f64()
    }

    /// Memory per instance in MiB (`mem`, kept in [`App::extra`] as received), as a number.
    pub fn mem(&self) -> Option<f64> {
        self.extra.get("mem")?.as_f64()
    }

    /// The value of label `key` (`labels`, kept in [`App::extra`] as received), when the app
    /// has it as a string.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.extra.get("labels")?.get(key)?.as_str()
    }

    /// The ids of the deployments holding the app, from its `deployments` array; `None`
    /// when the answer had no such array (not embedded, or an older Marathon).
    pub fn deployment_ids(&self) -> Option<Vec<&str>> {
        self.deployments
            .as_ref()
            .map(|list| list.iter().map(|d| d.id.as_str()).collect())
    }

    /// Replaces the Docker image, changing nothing else, and returns the previous image.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the app has no `container.docker` to put an image in:
    /// adding a container would change how the app runs, which is not this method's job.
    pub fn set_docker_image(&mut self, image: impl Into<String>) -> Result<Option<String>, Error> {
        let docker = self
            .container
            .as_mut()
            .and_then(|c| c.as_mut())
            .and_then(|c| c.docker.as_mut())
            .ok_or_else(|| {
                Error::invalid_input(format!("app {} has no Docker container", self.id))
            })?;
        Ok(docker.image.replace(image.into()))
    }

    /// Replaces the tag of the Docker image, keeping its repository (a digest, if any, is
    /// dropped, since it would pin the old image). Returns the previous image.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the app has no Docker image.
    pub fn set_image_tag(&mut self, tag: &str) -> Result<Option<String>, Error> {
        let repository = self
            .image_repository()
            .ok_or_else(|| Error::invalid_input(format!("app {} has no Docker image", self.id)))?
            .to_owned();
        self.set_docker_image(format!("{repository}:{tag}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn image_tag_ignores_registry_port() {
        let image = ImageRef::parse("localhost:5000/web");
        assert_eq!(image.repository, "localhost:5000/web");
        assert_eq!(image.tag, None);
    }

    #[test]
    fn image_digest_is_kept_apart_from_tag() {
        let image = ImageRef::parse("reg/web:1.0@sha256:abcd");
        assert_eq!(image.repository, "reg/web");
        assert_eq!(image.tag, Some("1.0"));
        assert_eq!(image.digest, Some("sha256:abcd"));
    }

    #[test]
    fn null_fields_round_trip_as_null_and_absent_stay_absent() {
        let input = json!({"id": "/a", "container": null, "cmd": null,
            "tasks": [{"id": "t", "startedAt": null}]});
        let app: App = serde_json::from_value(input.clone()).unwrap();
        assert_eq!(app.container, Some(None));
        assert_eq!(serde_json::to_value(&app).unwrap(), input);
    }

    #[test]
    fn numbers_labels_and_last_task_failure_round_trip_unchanged() {
        let input = json!({"id": "/a", "cpus": 1, "mem": 128.5,
            "labels": {"HAPROXY_0_VHOST": "a.example.com", "odd": 3},
            "lastTaskFailure": {"appId": "/a", "state": "TASK_FAILED", "message": "exit 1",
                "timestamp": "2017-03-02T10:00:05.000Z", "extraField": true}});
        let app: App = serde_json::from_value(input.clone()).unwrap();
        assert_eq!(app.label("HAPROXY_0_VHOST"), Some("a.example.com"));
        assert_eq!((app.cpus(), app.mem()), (Some(1.0), Some(128.5)));
        assert_eq!(app.label("odd"), None);
        let failure = app.last_task_failure.clone().flatten().unwrap();
        assert_eq!(failure.message.as_deref(), Some("exit 1"));
        assert_eq!(serde_json::to_value(&app).unwrap(), input);
        let null_failure: App =
            serde_json::from_value(json!({"id": "/a", "lastTaskFailure": null})).unwrap();
        assert_eq!(null_failure.last_task_failure, Some(None));
    }

    #[test]
    fn set_image_on_app_without_container_is_refused() {
        let mut app = App {
            id: "/a".into(),
            ..App::default()
        };
        assert!(matches!(
            app.set_docker_image("x:1"),
            Err(Error::InvalidInput { .. })
        ));
    }

    #[test]
    fn task_health_needs_all_results_alive() {
        let task: Task = serde_json::from_value(json!({"id": "t",
            "healthCheckResults": [{"alive": true}, {"alive": false}]}))
        .unwrap();
        assert!(!task.is_healthy());
    }
}
