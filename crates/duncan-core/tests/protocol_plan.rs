//! The deploy plan over real Marathon group responses: only the selected image strings change,
//! group versions are dropped, and every other field (known or not) is sent back as it came.

use duncan_core::names::AppEnv;
use duncan_core::plan::build_plan;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/protocol_common/data/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

/// Every JSON pointer where `a` and `b` differ (a key present on one side only counts).
fn differences(a: &Value, b: &Value, at: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) => differences(v, w, &format!("{at}/{k}"), out),
                    None => out.push(format!("{at}/{k} removed")),
                }
            }
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                out.push(format!("{at}/{k} added"));
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                differences(v, w, &format!("{at}/{i}"), out);
            }
        }
        _ if a == b => {}
        _ => out.push(format!("{at} changed")),
    }
}

#[test]
fn plan_over_a_real_nested_group_changes_only_the_image_and_group_versions() {
    let group = fixture("depcon_group.json");
    let app_env = AppEnv::parse("wordpress", "stage").expect("names");

    let planned = build_plan(&group, "", &app_env, &"4.5.0".parse().expect("tag")).expect("plan");

    assert_eq!(planned.plan.changes.len(), 1);
    let change = &planned.plan.changes[0];
    assert_eq!(change.app_id, "/sites/wordpress/myblog");
    assert_eq!(change.old_image, "wordpress:4.4.2");
    assert_eq!(change.new_image, "wordpress:4.5.0");
    let mut diff = Vec::new();
    differences(&group, &planned.update_body, "", &mut diff);
    diff.sort();
    assert_eq!(
        diff,
        [
            "/groups/0/apps/0/container/docker/image changed",
            "/groups/0/version removed",
            "/groups/1/version removed",
            "/version removed",
        ]
    );
    assert_eq!(
        planned.update_body["groups"][0]["apps"][0]["container"]["docker"]["image"],
        "wordpress:4.5.0"
    );
}

#[test]
fn plan_over_marathons_example_group_selects_by_repository_and_keeps_the_rest() {
    let group = fixture("marathon_group.json");
    let app_env = AppEnv::parse("docker-dd-agent", "stage").expect("names");

    let planned =
        build_plan(&group, "datadog", &app_env, &"5.8.0".parse().expect("tag")).expect("plan");

    let ids: Vec<_> = planned
        .plan
        .changes
        .iter()
        .map(|c| c.app_id.as_str())
        .collect();
    assert_eq!(ids, ["/tools/datadog-agent"]);
    assert_eq!(planned.plan.old_tags(), ["latest"]);
    let mut diff = Vec::new();
    differences(&group, &planned.update_body, "", &mut diff);
    assert!(
        diff.iter()
            .all(|d| d.ends_with("version removed") || d.ends_with("/docker/image changed")),
        "{diff:?}"
    );
    assert_eq!(
        diff.iter().filter(|d| d.ends_with("image changed")).count(),
        1
    );
}

#[test]
fn no_app_in_a_real_group_names_every_image_found() {
    let group = fixture("depcon_group.json");
    let app_env = AppEnv::parse("shop", "stage").expect("names");

    let error = build_plan(&group, "acme", &app_env, &"v1".parse().expect("tag"))
        .expect_err("nothing matches");

    let text = error.to_string();
    assert!(text.contains("wordpress:4.4.2"), "{text}");
    assert!(text.contains("mysql/mysql-server:5.6"), "{text}");
}

#[test]
fn the_update_body_survives_the_marathon_client_model_unchanged() {
    let group = fixture("depcon_group.json");
    let app_env = AppEnv::parse("wordpress", "stage").expect("names");
    let planned = build_plan(&group, "", &app_env, &"4.5.0".parse().expect("tag")).expect("plan");

    // The deploy sends the body through marathon-client's typed group: nothing may be lost.
    let typed: marathon_client::Group =
        serde_json::from_value(planned.update_body.clone()).expect("typed group");
    assert_eq!(
        serde_json::to_value(&typed).expect("json"),
        planned.update_body
    );
}
