//! The release history record stored under `deploys/{app}/{env}/history/{seq:020}`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::audit::EventKind;
use crate::names::{Deployer, Tag};

/// How a deploy or rollback ended. Serialized as a snake_case string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// The apps run the new tag, healthy; `current` was updated.
    Succeeded,
    /// The deploy failed and was not rolled back (`--no-rollback`).
    Failed,
    /// The deploy failed and Marathon rolled the apps back to their previous version.
    RolledBack,
    /// The deploy failed and so did the rollback: the apps may run a mix of versions.
    RollbackFailed,
    /// Another deployment (e.g. someone's forced deploy) replaced ours before it finished.
    Superseded,
    /// The deploy did not finish before its deadline or stalled.
    TimedOut,
    /// The deploy was cancelled by its user (Ctrl-C) before it finished. Written by earlier
    /// versions; still read, never written now ([`Outcome::Interrupted`] replaced it).
    Cancelled,
    /// Marathon accepted the group update and the deploy has not ended yet, or the process that
    /// ran it died (SIGKILL, a crash) before recording the end: the record names the deployment,
    /// which `duncan watch ID` follows and finishes the record of.
    InProgress,
    /// The deploy was interrupted (Ctrl-C, SIGTERM, SIGHUP) after Marathon accepted the update:
    /// the deployment went on unwatched; the message says what Marathon was doing.
    Interrupted,
}

impl Outcome {
    /// The outcome as stored (`succeeded`, `rolled_back`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::RolledBack => "rolled_back",
            Outcome::RollbackFailed => "rollback_failed",
            Outcome::Superseded => "superseded",
            Outcome::TimedOut => "timed_out",
            Outcome::Cancelled => "cancelled",
            Outcome::InProgress => "in_progress",
            Outcome::Interrupted => "interrupted",
        }
    }

    /// Whether this outcome updated the release tags.
    pub fn is_success(self) -> bool {
        self == Outcome::Succeeded
    }

    /// Whether the deploy's end was not seen by the process that ran it (in progress, or
    /// interrupted): `duncan watch` on its deployment may still finish the record.
    pub fn is_unfinished(self) -> bool {
        matches!(self, Outcome::InProgress | Outcome::Interrupted)
    }

    /// The audit event kind that records a deploy ending this way.
    pub fn event_kind(self) -> EventKind {
        match self {
            Outcome::Succeeded => EventKind::DeploySucceeded,
            Outcome::RolledBack => EventKind::DeployRolledBack,
            Outcome::Failed
            | Outcome::RollbackFailed
            | Outcome::Superseded
            | Outcome::TimedOut
            | Outcome::Cancelled
            | Outcome::Interrupted => EventKind::DeployFailed,
            Outcome::InProgress => EventKind::DeployStarted,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a history record is a deploy or a rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReleaseKind {
    /// A deploy of a new tag.
    #[default]
    Deploy,
    /// A rollback to the previous tag or one from history.
    Rollback,
}

/// One deploy or rollback, as stored in the release history (JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRecord {
    /// The tag that was deployed (or attempted).
    pub tag: Tag,
    /// The tag that was current when the deploy started, if any.
    #[serde(default)]
    pub previous: Option<Tag>,
    /// Who deployed (`user@host`).
    pub deployer: Deployer,
    /// Deploy or rollback.
    #[serde(default)]
    pub kind: ReleaseKind,
    /// When the change began: the group update was sent to Marathon (UTC, RFC 3339). The
    /// prompt and the wait for the lock are not in it. (Records written before the update was
    /// sent, and by earlier versions, hold when the command started.)
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// How long the deploy waited for the lock, in milliseconds, when it waited at all (the
    /// lock was held by another at its first try).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_wait_ms: Option<u64>,
    /// When it ended (UTC, RFC 3339); for an `in_progress` record, when it was written.
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
    /// How it ended.
    pub outcome: Outcome,
    /// The Marathon deployment id, when one was started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    /// The digest of each deployed image reference (`image:tag` → `sha256:…`), when checked.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub image_digests: BTreeMap<String, String>,
    /// True when the registry check of the image was skipped.
    #[serde(default)]
    pub image_check_skipped: bool,
    /// Details: the failure reason, the superseding deployment…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl HistoryRecord {
    /// A record of a deploy of `tag` over `previous` by `deployer` that started at `started_at`
    /// and ended now with `outcome`.
    pub fn new(
        tag: Tag,
        previous: Option<Tag>,
        deployer: Deployer,
        started_at: OffsetDateTime,
        outcome: Outcome,
    ) -> Self {
        HistoryRecord {
            tag,
            previous,
            deployer,
            kind: ReleaseKind::Deploy,
            started_at,
            lock_wait_ms: None,
            finished_at: OffsetDateTime::now_utc(),
            outcome,
            deployment_id: None,
            image_digests: BTreeMap::new(),
            image_check_skipped: false,
            message: None,
        }
    }
}

impl HistoryRecord {
    /// The kind as stored: `deploy` or `rollback`.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            ReleaseKind::Deploy => "deploy",
            ReleaseKind::Rollback => "rollback",
        }
    }
}

/// A history record with its sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// The sequence number (the last part of its key); higher is newer.
    pub seq: u64,
    /// The record.
    #[serde(flatten)]
    pub record: HistoryRecord,
}
