//! GitHub compare links between two released tags, as the Go tool's `GithubDiffLink`.
//!
//! ```
//! use duncan_core::github::{github_diff_link, DiffLink};
//! use duncan_core::names::Deployer;
//! use duncan_core::settings::Settings;
//!
//! let mut settings = Settings::new(Deployer::new("alice", "laptop")?, "0.1.0");
//! settings.github_org = Some("acme".into());
//! let link = github_diff_link(&settings, &"web".parse()?, Some(&"v1".parse()?), &"v2".parse()?);
//! assert_eq!(link.to_string(), "https://github.com/acme/web/compare/v1...v2");
//! # Ok::<(), duncan_core::names::NameError>(())
//! ```

use std::fmt;

use serde::Serialize;

use crate::names::{AppName, Tag};
use crate::settings::Settings;

/// What to show as "the changes in this deploy".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DiffLink {
    /// A GitHub compare URL from the previous tag to the new one.
    Compare {
        /// `https://github.com/{org}/{repo}/compare/{prev}...{tag}`.
        url: String,
    },
    /// The tag equals the one recorded: nothing changes in the code.
    NoChanges,
    /// Consul records no release yet, so there is nothing to compare with.
    FirstRelease,
    /// A rollback: the GitHub compare URL of the changes it undoes, from the tag being restored
    /// to the tag running now (the direction GitHub shows them in).
    Undoes {
        /// `https://github.com/{org}/{repo}/compare/{restored}...{current}`.
        url: String,
    },
    /// A link could be made, but `github_org` is not configured.
    NoGithubOrg,
}

impl DiffLink {
    /// The compare URL, when there is one.
    pub fn url(&self) -> Option<&str> {
        match self {
            DiffLink::Compare { url } | DiffLink::Undoes { url } => Some(url),
            DiffLink::NoChanges | DiffLink::FirstRelease | DiffLink::NoGithubOrg => None,
        }
    }
}

impl fmt::Display for DiffLink {
    /// The URL, `no changes` (the Go tool's wording), or a text saying how to get links.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiffLink::Compare { url } => f.write_str(url),
            DiffLink::NoChanges => f.write_str("no changes"),
            DiffLink::FirstRelease => f.write_str("no release recorded yet"),
            DiffLink::Undoes { url } => write!(f, "rolls back the changes of {url}"),
            DiffLink::NoGithubOrg => {
                f.write_str("no diff link (set github_org in the configuration to get one)")
            }
        }
    }
}

/// The GitHub compare link of a deploy of `tag` over `prev` for `app`.
///
/// The repository is the app's entry in [`Settings::repos`], else the app name. "No changes" when
/// the previous tag equals `tag`, whether or not an org is configured, as the Go tool did; "no
/// release recorded yet" when there is no previous tag (the Go tool said "no changes" then too).
pub fn github_diff_link(
    settings: &Settings,
    app: &AppName,
    prev: Option<&Tag>,
    tag: &Tag,
) -> DiffLink {
    match compare_url(settings, app, prev, tag) {
        Ok(url) => DiffLink::Compare { url },
        Err(other) => other,
    }
}

/// The link of a rollback from `current` (running now) to `restored`: the compare URL of the
/// changes it undoes, from `restored` to `current`, which is how GitHub shows them.
pub fn github_rollback_link(
    settings: &Settings,
    app: &AppName,
    current: Option<&Tag>,
    restored: &Tag,
) -> DiffLink {
    let Some(current) = current else {
        return DiffLink::FirstRelease;
    };
    match compare_url(settings, app, Some(restored), current) {
        Ok(url) => DiffLink::Undoes { url },
        Err(other) => other,
    }
}

/// `…/compare/{from}...{to}`, or the link that stands instead of it.
fn compare_url(
    settings: &Settings,
    app: &AppName,
    from: Option<&Tag>,
    to: &Tag,
) -> Result<String, DiffLink> {
    let from = from.ok_or(DiffLink::FirstRelease)?;
    if from == to {
        return Err(DiffLink::NoChanges);
    }
    let org = settings
        .github_org
        .as_deref()
        .filter(|o| !o.trim().is_empty())
        .ok_or(DiffLink::NoGithubOrg)?;
    let repo = settings.repo_for(app);
    Ok(format!(
        "https://github.com/{org}/{repo}/compare/{from}...{to}"
    ))
}
