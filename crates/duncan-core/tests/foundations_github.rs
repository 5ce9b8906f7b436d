//! `github_diff_link`: the Go tool's compare links, plus a clear text without an org.

use duncan_core::github::{DiffLink, github_diff_link, github_rollback_link};
use duncan_core::names::{AppName, Deployer, Tag};
use duncan_core::settings::Settings;

fn settings(org: Option<&str>) -> Settings {
    let mut s = Settings::new(Deployer::new("alice", "laptop").unwrap(), "0.1.0");
    s.github_org = org.map(str::to_owned);
    s.repos.insert("api".into(), "backend-api".into());
    s
}

/// One row: org, app, previous tag, new tag, expected text.
type Case = (
    Option<&'static str>,
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
);

#[test]
fn github_diff_link_matches_the_go_tool() {
    let table: &[Case] = &[
        (
            Some("acme"),
            "web",
            Some("v1"),
            "v2",
            "https://github.com/acme/web/compare/v1...v2",
        ),
        (
            Some("acme"),
            "api",
            Some("v1"),
            "v2",
            "https://github.com/acme/backend-api/compare/v1...v2",
        ),
        (Some("acme"), "web", Some("v2"), "v2", "no changes"),
        (Some("acme"), "web", None, "v2", "no release recorded yet"),
        (None, "web", None, "v2", "no release recorded yet"),
        (
            None,
            "web",
            Some("v1"),
            "v2",
            "no diff link (set github_org in the configuration to get one)",
        ),
        (
            Some(""),
            "web",
            Some("v1"),
            "v2",
            "no diff link (set github_org in the configuration to get one)",
        ),
        (
            Some("acme"),
            "web",
            Some("2017.01.02-abc"),
            "2017.01.03_def",
            "https://github.com/acme/web/compare/2017.01.02-abc...2017.01.03_def",
        ),
    ];
    for (org, app, prev, tag, want) in table {
        let app: AppName = app.parse().unwrap();
        let prev: Option<Tag> = prev.map(|p| p.parse().unwrap());
        let tag: Tag = tag.parse().unwrap();
        let link = github_diff_link(&settings(*org), &app, prev.as_ref(), &tag);
        assert_eq!(
            link.to_string(),
            *want,
            "org {org:?} app {app} prev {prev:?} tag {tag}"
        );
        assert_eq!(link.url().is_some(), want.starts_with("https://"));
    }
}

#[test]
fn a_rollback_links_the_changes_it_undoes_in_the_direction_github_shows_them() {
    let app: AppName = "web".parse().unwrap();
    let (current, restored): (Tag, Tag) = ("v2".parse().unwrap(), "v1".parse().unwrap());
    let link = github_rollback_link(&settings(Some("acme")), &app, Some(&current), &restored);
    assert_eq!(
        link.to_string(),
        "rolls back the changes of https://github.com/acme/web/compare/v1...v2"
    );
    assert_eq!(
        link.url(),
        Some("https://github.com/acme/web/compare/v1...v2")
    );
    let first = github_rollback_link(&settings(Some("acme")), &app, None, &restored);
    assert_eq!(first, DiffLink::FirstRelease);
}

#[test]
fn diff_link_serializes_with_its_kind() {
    let link = DiffLink::Compare {
        url: "https://github.com/a/b/compare/x...y".into(),
    };
    assert_eq!(
        serde_json::to_value(&link).unwrap(),
        serde_json::json!({"kind": "compare", "url": "https://github.com/a/b/compare/x...y"})
    );
    assert_eq!(
        serde_json::to_value(DiffLink::NoChanges).unwrap(),
        serde_json::json!({"kind": "no_changes"})
    );
}
