//! Name validation: what is accepted, what is rejected and why, and the key layout it protects.

use duncan_core::names::{
    AppEnv, AppName, Deployer, EnvName, EnvVarName, GroupId, NameError, Tag, marathon_group_id,
};
use proptest::prelude::*;

#[test]
fn app_and_env_names_accept_marathon_style_labels() {
    for ok in [
        "web",
        "a",
        "api-v2",
        "x1",
        "stage",
        "production",
        &"a".repeat(63),
    ] {
        assert!(
            ok.parse::<AppName>().is_ok(),
            "app {ok:?} should be accepted"
        );
        assert!(
            ok.parse::<EnvName>().is_ok(),
            "env {ok:?} should be accepted"
        );
    }
}

#[test]
fn app_and_env_names_reject_anything_that_could_escape_a_key() {
    let long = "a".repeat(64);
    let cases: &[&str] = &[
        "", "../x", "a/b", "Web", "1web", "-web", "web-", "we b", "web.", "web_x", "é", "a\n",
        &long, ".", "..", "a%2f",
    ];
    for bad in cases {
        assert!(
            bad.parse::<AppName>().is_err(),
            "app {bad:?} should be rejected"
        );
        assert!(
            bad.parse::<EnvName>().is_err(),
            "env {bad:?} should be rejected"
        );
    }
}

#[test]
fn name_errors_say_what_is_wrong_and_what_is_allowed() {
    let err = "a/b".parse::<AppName>().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("app name \"a/b\""), "{text}");
    assert!(text.contains("'/'"), "{text}");
    assert!(text.contains("lowercase letters, digits and '-'"), "{text}");
    assert_eq!(
        err,
        NameError::InvalidChar {
            kind: duncan_core::names::NameKind::App,
            value: "a/b".into(),
            found: '/',
            position: 1,
        }
    );

    let text = "".parse::<EnvName>().unwrap_err().to_string();
    assert!(
        text.starts_with("environment name must not be empty"),
        "{text}"
    );

    let text = "a".repeat(64).parse::<EnvName>().unwrap_err().to_string();
    assert!(text.contains("64 characters long, more than 63"), "{text}");

    let text = ".x".parse::<Tag>().unwrap_err().to_string();
    assert!(text.contains("image tag \".x\""), "{text}");
}

#[test]
fn tags_follow_docker_tag_grammar() {
    let max = "a".repeat(128);
    for ok in [
        "latest",
        "v1.2.3",
        "1",
        "_x",
        "build-42_rc.1",
        "ABC",
        max.as_str(),
    ] {
        assert!(ok.parse::<Tag>().is_ok(), "tag {ok:?} should be accepted");
    }
    let long = "a".repeat(129);
    for bad in [
        "",
        ".x",
        "-x",
        "a:b",
        "a/b",
        "a b",
        "a@sha",
        long.as_str(),
        "ü",
    ] {
        assert!(
            bad.parse::<Tag>().is_err(),
            "tag {bad:?} should be rejected"
        );
    }
}

#[test]
fn env_var_names_follow_shell_rules() {
    for ok in ["A", "_", "DATABASE_URL", "a1", "_X_9"] {
        assert!(
            ok.parse::<EnvVarName>().is_ok(),
            "{ok:?} should be accepted"
        );
    }
    for bad in ["", "1A", "A-B", "A.B", "A=B", "A B", "A/B", "../X"] {
        assert!(
            bad.parse::<EnvVarName>().is_err(),
            "{bad:?} should be rejected"
        );
    }
}

#[test]
fn marathon_group_id_is_slash_app_dash_env() {
    let cases = [
        ("web", "stage", "/web-stage"),
        ("api-v2", "production", "/api-v2-production"),
        ("a", "b", "/a-b"),
    ];
    for (app, env, want) in cases {
        let id = marathon_group_id(&app.parse().unwrap(), &env.parse().unwrap());
        assert_eq!(id.as_str(), want);
        assert_eq!(AppEnv::parse(app, env).unwrap().group_id(), id);
        assert_eq!(want.parse::<GroupId>().unwrap(), id);
    }
    for bad in ["web", "/", "//a", "/a/../b", "/A", "/a b", ""] {
        assert!(
            bad.parse::<GroupId>().is_err(),
            "group {bad:?} should be rejected"
        );
    }
}

#[test]
fn app_env_builds_the_go_tool_key_layout() {
    let t = AppEnv::parse("web", "stage").unwrap();
    assert_eq!(t.prefix(), "deploys/web/stage/");
    assert_eq!(t.current_key(), "deploys/web/stage/current");
    assert_eq!(t.previous_key(), "deploys/web/stage/previous");
    assert_eq!(t.lock_key(), "deploys/web/stage/lock");
    assert_eq!(t.acl_check_key(), "deploys/web/stage/acl_check");
    assert_eq!(
        t.history_key(1),
        "deploys/web/stage/history/00000000000000000001"
    );
    assert_eq!(
        t.event_key(u64::MAX),
        "deploys/web/stage/events/18446744073709551615"
    );
    assert_eq!(
        t.env_key(&"DB_URL".parse().unwrap()),
        "env/web/stage/DB_URL"
    );
    assert_eq!(t.to_string(), "web/stage");
}

#[test]
fn deployer_displays_and_parses_user_at_host() {
    let d = Deployer::new("alice", "laptop.local").unwrap();
    assert_eq!(d.to_string(), "alice@laptop.local");
    assert_eq!("alice@laptop.local".parse::<Deployer>().unwrap(), d);
    // A user part may hold '@' (some directory users do); the host never does.
    let odd: Deployer = "a@corp@host".parse().unwrap();
    assert_eq!((odd.user(), odd.host()), ("a@corp", "host"));
    for bad in ["", "alice", "@host", "alice@", "al\nice@h"] {
        assert!(
            bad.parse::<Deployer>().is_err(),
            "deployer {bad:?} should be rejected"
        );
    }
}

#[test]
fn names_serialize_as_strings_and_are_validated_on_deserialize() {
    let t = AppEnv::parse("web", "stage").unwrap();
    let json = serde_json::to_string(&t).unwrap();
    assert_eq!(json, r#"{"app":"web","env":"stage"}"#);
    assert_eq!(serde_json::from_str::<AppEnv>(&json).unwrap(), t);
    assert!(serde_json::from_str::<AppEnv>(r#"{"app":"../x","env":"stage"}"#).is_err());
    assert!(serde_json::from_str::<Tag>(r#"".bad""#).is_err());
    assert_eq!(
        serde_json::to_string(&Tag::new("v1").unwrap()).unwrap(),
        r#""v1""#
    );
    let d: Deployer = serde_json::from_str(r#""bob@ci""#).unwrap();
    assert_eq!(serde_json::to_string(&d).unwrap(), r#""bob@ci""#);
}

/// Strings that are often valid names, often nearly valid, and sometimes anything at all.
fn name_like() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z][a-z0-9-]{0,62}", "[a-z0-9./_%-]{0,70}", ".{0,70}",]
}

proptest! {
    #[test]
    fn accepted_app_env_names_round_trip(app in "[a-z][a-z0-9-]{0,62}", env in "[a-z][a-z0-9-]{0,62}") {
        let parsed = AppEnv::parse(&app, &env);
        // Names ending in '-' are the only ones of this shape that are rejected.
        prop_assert_eq!(parsed.is_ok(), !app.ends_with('-') && !env.ends_with('-'));
        if let Ok(t) = parsed {
            prop_assert_eq!(t.app.as_str(), app.as_str());
            prop_assert_eq!(t.app.to_string().parse::<AppName>().unwrap(), t.app.clone());
            let back: AppEnv = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
            prop_assert_eq!(back, t);
        }
    }

    #[test]
    fn no_accepted_name_produces_a_key_outside_its_prefix(app in name_like(), env in name_like(), seq in any::<u64>()) {
        if let Ok(t) = AppEnv::parse(&app, &env) {
            let prefix = format!("deploys/{app}/{env}/");
            prop_assert_eq!(t.prefix(), prefix.clone());
            for key in [t.current_key(), t.previous_key(), t.lock_key(), t.acl_check_key(),
                        t.history_key(seq), t.event_key(seq)] {
                prop_assert!(key.starts_with(&prefix));
                let rest = &key[prefix.len()..];
                prop_assert!(!rest.contains(".."));
                prop_assert!(rest.split('/').all(|s| !s.is_empty()));
            }
            prop_assert_eq!(t.app.as_str().contains('/'), false);
            prop_assert_eq!(t.env.as_str().contains('/'), false);
        }
    }

    #[test]
    fn arbitrary_strings_never_pass_with_forbidden_characters(s in ".{0,80}") {
        if let Ok(name) = s.parse::<AppName>() {
            prop_assert!(name.as_str().chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
        }
        if let Ok(tag) = s.parse::<Tag>() {
            prop_assert!(tag.as_str().len() <= 128);
            prop_assert!(tag.as_str().chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)));
        }
    }

    #[test]
    fn accepted_tags_round_trip(tag in "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}") {
        let t: Tag = tag.parse().unwrap();
        prop_assert_eq!(t.to_string(), tag);
    }
}
