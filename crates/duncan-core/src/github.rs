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
    /// There is no previous tag, or it equals the new one.
    NoChanges,
    /// A link could be made, but `github_org` is not configured.
    NoGithubOrg,
}

impl DiffLink {
    /// The compare URL, when there is one.
    pub fn url(&self) -> Option<&str> {
        match self {
            DiffLink::Compare { url } => Some(url),
            DiffLink::NoChanges | DiffLink::NoGithubOrg => None,
        }
    }
}

impl fmt::Display for DiffLink {
    /// The URL, `no changes` (the Go tool's wording), or a text saying how to get links.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiffLink::Compare { url } => f.write_str(url),
            DiffLink::NoChanges => f.write_str("no changes"),
            DiffLink::NoGithubOrg => {
                f.write_str("no diff link (set github_org in the configuration to get one)")
            }
        }
    }
}

/// The GitHub compare link of a deploy of `tag` over `prev` for `app`.
///
/// The repository is the app's entry in [`Settings::repos`], else the app name. "No changes" when
/// there is no previous tag or it equals `tag`, whether or not an org is configured, as the Go
/// tool did.
pub fn github_diff_link(
    settings: &Settings,
    app: &AppName,
    prev: Option<&Tag>,
    tag: &Tag,
) -> DiffLink {
    let Some(prev) = prev.filter(|p| *p != tag) else {
        return DiffLink::NoChanges;
    };
    let Some(org) = settings
        .github_org
        .as_deref()
        .filter(|o| !o.trim().is_empty())
    else {
        return DiffLink::NoGithubOrg;
    };
    let repo = settings.repo_for(app);
    DiffLink::Compare {
        url: format!("https://github.com/{org}/{repo}/compare/{prev}...{tag}"),
    }
}
