//! Parameters of the REST calls: embeds, update options, and the validation of ids before
//! they become part of a URL.

use crate::Error;

/// What to embed in a group response (`embed=…`).
///
/// Marathon's default, when no embed is given, is [`GroupEmbed::Groups`] and
/// [`GroupEmbed::Apps`]; any embed given replaces that default set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GroupEmbed {
    /// `group.groups`: nested groups.
    Groups,
    /// `group.apps`: the apps of each group.
    Apps,
    /// `group.apps.tasks`: each app's tasks.
    AppTasks,
    /// `group.apps.counts`: each app's task counts.
    AppCounts,
    /// `group.apps.deployments`: the deployments touching each app.
    AppDeployments,
    /// `group.apps.lastTaskFailure`: each app's last task failure.
    AppLastTaskFailure,
    /// `group.apps.taskStats`: each app's task statistics.
    AppTaskStats,
}

impl GroupEmbed {
    /// The query value, such as `group.apps.counts`.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupEmbed::Groups => "group.groups",
            GroupEmbed::Apps => "group.apps",
            GroupEmbed::AppTasks => "group.apps.tasks",
            GroupEmbed::AppCounts => "group.apps.counts",
            GroupEmbed::AppDeployments => "group.apps.deployments",
            GroupEmbed::AppLastTaskFailure => "group.apps.lastTaskFailure",
            GroupEmbed::AppTaskStats => "group.apps.taskStats",
        }
    }
}

/// What to embed in an app response (`embed=app.…` for one app, `embed=apps.…` for the list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AppEmbed {
    /// The app's tasks.
    Tasks,
    /// The task counts (`tasksRunning`, `tasksHealthy`…).
    Counts,
    /// The deployments touching the app.
    Deployments,
    /// The last task failure.
    LastTaskFailure,
    /// Readiness check results.
    Readiness,
    /// Task statistics.
    TaskStats,
}

impl AppEmbed {
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            AppEmbed::Tasks => "tasks",
            AppEmbed::Counts => "counts",
            AppEmbed::Deployments => "deployments",
            AppEmbed::LastTaskFailure => "lastTaskFailure",
            AppEmbed::Readiness => "readiness",
            AppEmbed::TaskStats => "taskStats",
        }
    }
}

/// Options of a group update.
///
/// ```
/// use marathon_client::GroupUpdateOptions;
///
/// let options = GroupUpdateOptions::new().with_force(true);
/// assert!(options.force);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupUpdateOptions {
    /// Cancel deployments that hold the group's apps (`force=true`); they end with
    /// `deployment_failed`. Without it, a locked app makes the update fail with
    /// [`Error::AppLocked`].
    pub force: bool,
}

impl GroupUpdateOptions {
    /// No force.
    #[must_use]
    pub fn new() -> Self {
        GroupUpdateOptions::default()
    }

    /// Cancels deployments that hold the group's apps (`force=true`).
    #[must_use]
    pub fn with_force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }
}

/// Options of an app update.
///
/// ```
/// use marathon_client::AppUpdateOptions;
///
/// let options = AppUpdateOptions::new().with_partial_update(true);
/// assert!(options.partial_update && !options.force);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AppUpdateOptions {
    /// Cancel deployments that hold the app (`force=true`).
    pub force: bool,
    /// `partialUpdate`: merge the fields sent into the definition (`true`) or replace the
    /// definition with the one sent (`false`). Always sent explicitly, because Marathon's
    /// default changed between versions.
    pub partial_update: bool,
}

impl AppUpdateOptions {
    /// No force, full replacement (`partialUpdate=false`).
    #[must_use]
    pub fn new() -> Self {
        AppUpdateOptions::default()
    }

    /// Cancels deployments that hold the app (`force=true`).
    #[must_use]
    pub fn with_force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Merges the fields sent into the definition (`true`) or replaces it (`false`).
    #[must_use]
    pub fn with_partial_update(mut self, partial_update: bool) -> Self {
        self.partial_update = partial_update;
        self
    }
}

impl Default for AppUpdateOptions {
    /// No force, full replacement (`partialUpdate=false`).
    fn default() -> Self {
        AppUpdateOptions {
            force: false,
            partial_update: false,
        }
    }
}

/// Splits a Marathon id (`/prod/web`) into path segments, refusing anything that could
/// leave the intended path (`..`, `?`, `%`…). Marathon ids are lowercase letters, digits,
/// `-` and `.` per segment.
pub(crate) fn id_segments(id: &str, allow_root: bool) -> Result<Vec<&str>, Error> {
    let trimmed = id.trim_matches('/');
    if trimmed.is_empty() {
        return if allow_root {
            Ok(Vec::new())
        } else {
            Err(Error::invalid_input("an app id cannot be empty"))
        };
    }
    let segments: Vec<&str> = trimmed.split('/').collect();
    for segment in &segments {
        let valid_chars = segment
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if segment.is_empty() || *segment == "." || *segment == ".." || !valid_chars {
            return Err(Error::invalid_input(format!(
                "{id:?} is not a valid Marathon id (segments of lowercase letters, digits, '-' and '.')"
            )));
        }
    }
    Ok(segments)
}

pub(crate) fn deployment_id_segment(id: &str) -> Result<&str, Error> {
    let valid = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(id)
    } else {
        Err(Error::invalid_input(format!(
            "{id:?} is not a valid deployment id"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_with_dot_dot_or_query_is_refused() {
        for id in ["/a/../b", "/a?x=1", "/A", "/a//b", "/a b", "/a%2e"] {
            assert!(id_segments(id, false).is_err(), "{id} accepted");
        }
    }

    #[test]
    fn nested_id_splits_into_segments() {
        assert_eq!(
            id_segments("/prod/web-1.x", false).unwrap(),
            ["prod", "web-1.x"]
        );
        assert!(id_segments("/", true).unwrap().is_empty());
    }
}
