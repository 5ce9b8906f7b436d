//! Environment variables: list, get, set and unset with change reports and audit events.

mod common;

use common::{Backend, deployer, unique_target};
use consul_client::PutOptions;
use duncan_core::audit::{self, EventKind};
use duncan_core::env_vars::{self, EnvChange, EnvVarError, parse_assignment};
use duncan_core::names::EnvVarName;

fn name(s: &str) -> EnvVarName {
    s.parse().unwrap()
}

fn assignments(items: &[&str]) -> Vec<(EnvVarName, String)> {
    items.iter().map(|a| parse_assignment(a).unwrap()).collect()
}

#[test]
fn assignments_keep_everything_after_the_first_equals_sign() {
    let cases = [
        ("A=B=C", "A", "B=C"),
        (
            "URL=postgres://u:p@h/db?x=1",
            "URL",
            "postgres://u:p@h/db?x=1",
        ),
        ("EMPTY=", "EMPTY", ""),
        ("_X==", "_X", "="),
    ];
    for (input, key, value) in cases {
        let (k, v) = parse_assignment(input).unwrap();
        assert_eq!((k.as_str(), v.as_str()), (key, value), "{input}");
    }
    let err = parse_assignment("NOVALUE").unwrap_err();
    assert_eq!(
        err.to_string(),
        "\"NOVALUE\" is not an assignment: expected KEY=VALUE"
    );
    assert!(matches!(
        parse_assignment("1A=x"),
        Err(EnvVarError::InvalidName(_))
    ));
    assert!(matches!(
        parse_assignment("=x"),
        Err(EnvVarError::InvalidName(_))
    ));
}

#[tokio::test]
async fn set_reports_added_changed_and_unchanged_and_records_one_event() {
    let backend = Backend::start().await;
    let consul = &backend.client;
    let target = unique_target("stage");
    let who = deployer("alice");

    let first = env_vars::set(
        consul,
        &target,
        &who,
        &assignments(&["B=2", "A=1=one"]),
        100,
    )
    .await
    .unwrap();
    assert_eq!(
        first,
        [
            EnvChange::Added {
                key: name("B"),
                value: "2".into()
            },
            EnvChange::Added {
                key: name("A"),
                value: "1=one".into()
            },
        ]
    );
    let listed: Vec<String> = env_vars::list(consul, &target)
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(listed, ["A=1=one", "B=2"]);

    let second = env_vars::set(
        consul,
        &target,
        &who,
        &assignments(&["A=1=one", "B=3", "C=x"]),
        100,
    )
    .await
    .unwrap();
    assert_eq!(
        second,
        [
            EnvChange::Unchanged { key: name("A") },
            EnvChange::Changed {
                key: name("B"),
                old: "2".into(),
                new: "3".into()
            },
            EnvChange::Added {
                key: name("C"),
                value: "x".into()
            },
        ]
    );
    assert_eq!(second[1].to_string(), "changing B from 2 => 3");
    assert_eq!(
        env_vars::get(consul, &target, &name("B"))
            .await
            .unwrap()
            .as_deref(),
        Some("3")
    );
    assert_eq!(
        env_vars::get(consul, &target, &name("NOPE")).await.unwrap(),
        None
    );

    let events = audit::list(consul, &target, None).await.unwrap();
    let summary: Vec<(EventKind, Option<&str>)> = events
        .iter()
        .map(|e| (e.event.kind, e.event.message.as_deref()))
        .collect();
    // Events name the keys, never the values (which may be secrets).
    assert_eq!(
        summary,
        [
            (EventKind::EnvUpdate, Some("set B, C")),
            (EventKind::EnvUpdate, Some("set B, A"))
        ]
    );
}

#[tokio::test]
async fn setting_only_unchanged_values_writes_nothing() {
    let backend = Backend::start().await;
    let consul = &backend.client;
    let target = unique_target("stage");
    let who = deployer("alice");
    env_vars::set(consul, &target, &who, &assignments(&["A=1"]), 100)
        .await
        .unwrap();
    let again = env_vars::set(consul, &target, &who, &assignments(&["A=1"]), 100)
        .await
        .unwrap();
    assert_eq!(again, [EnvChange::Unchanged { key: name("A") }]);
    assert_eq!(audit::list(consul, &target, None).await.unwrap().len(), 1);
}

#[tokio::test]
async fn unset_reports_removed_and_absent() {
    let backend = Backend::start().await;
    let consul = &backend.client;
    let target = unique_target("production");
    let who = deployer("bob");
    env_vars::set(consul, &target, &who, &assignments(&["A=1", "B=2"]), 100)
        .await
        .unwrap();
    let changes = env_vars::unset(consul, &target, &who, &[name("A"), name("Z")], 100)
        .await
        .unwrap();
    assert_eq!(
        changes,
        [
            EnvChange::Removed {
                key: name("A"),
                old: "1".into()
            },
            EnvChange::Absent { key: name("Z") }
        ]
    );
    let listed: Vec<String> = env_vars::list(consul, &target)
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(listed, ["B=2"]);
    let newest = &audit::list(consul, &target, Some(1)).await.unwrap()[0].event;
    assert_eq!(
        (newest.kind, newest.message.as_deref()),
        (EventKind::EnvUpdate, Some("unset A"))
    );
    assert_eq!(newest.deployer.to_string(), "bob@testhost");

    // Removing only absent variables writes nothing.
    let none = env_vars::unset(consul, &target, &who, &[name("Z")], 100)
        .await
        .unwrap();
    assert_eq!(none, [EnvChange::Absent { key: name("Z") }]);
    assert_eq!(audit::list(consul, &target, None).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_name_given_twice_is_refused_before_anything_is_written() {
    let backend = Backend::start().await;
    let target = unique_target("stage");
    let err = env_vars::set(
        &backend.client,
        &target,
        &deployer("a"),
        &assignments(&["A=1", "A=2"]),
        100,
    )
    .await
    .unwrap_err();
    assert_eq!(err.to_string(), "A is given more than once");
    assert!(
        env_vars::list(&backend.client, &target)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn keys_that_are_not_variable_names_are_left_out_of_the_listing() {
    let backend = Backend::start().await;
    let target = unique_target("stage");
    let kv = backend.client.kv();
    kv.put(
        &format!("{}GOOD", target.env_prefix()),
        b"1",
        &PutOptions::new(),
    )
    .await
    .unwrap();
    kv.put(
        &format!("{}nested/KEY", target.env_prefix()),
        b"2",
        &PutOptions::new(),
    )
    .await
    .unwrap();
    let listed: Vec<String> = env_vars::list(&backend.client, &target)
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(listed, ["GOOD=1"]);
}

#[tokio::test]
async fn more_variables_than_one_transaction_holds_are_refused() {
    let backend = Backend::start().await;
    let target = unique_target("stage");
    let many: Vec<(EnvVarName, String)> = (0..=env_vars::MAX_CHANGES)
        .map(|i| (name(&format!("V{i}")), "x".to_owned()))
        .collect();
    let err = env_vars::set(&backend.client, &target, &deployer("a"), &many, 100)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "125 variables cannot be changed at once; change at most 124 per command"
    );
    let most = &many[..env_vars::MAX_CHANGES];
    let changes = env_vars::set(&backend.client, &target, &deployer("a"), most, 100)
        .await
        .unwrap();
    assert_eq!(changes.len(), 124);
    assert_eq!(
        env_vars::list(&backend.client, &target)
            .await
            .unwrap()
            .len(),
        124
    );
}
