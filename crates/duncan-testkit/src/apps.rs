//! The example app's Marathon JSON, which every suite seeds: Docker apps with an HTTP health
//! check, in a group. Each suite starts from [`docker_app`] and changes what it needs with
//! [`with`], so the shape is written once.

use serde_json::{Map, Value, json};

/// An HTTP health check on `/health`: `grace` seconds before the first check, one every
/// `interval` seconds, unhealthy after `max_failures` failures in a row.
pub fn health_check(grace: u32, interval: u32, max_failures: u32) -> Value {
    json!({
        "protocol": "HTTP",
        "path": "/health",
        "gracePeriodSeconds": grace,
        "intervalSeconds": interval,
        "maxConsecutiveFailures": max_failures,
    })
}

/// The health check of a production-like app (the example cluster, the benchmarks): port 0,
/// 10 s of grace, every 2 s, a 5 s timeout, unhealthy after 3 failures.
pub fn production_health_check() -> Value {
    with(
        health_check(10, 2, 3),
        json!({"portIndex": 0, "timeoutSeconds": 5}),
    )
}

/// An upgrade strategy: keep `minimum_health` of the instances healthy, start up to
/// `maximum_over` more.
pub fn upgrade_strategy(minimum_health: f64, maximum_over: f64) -> Value {
    json!({"minimumHealthCapacity": minimum_health, "maximumOverCapacity": maximum_over})
}

/// A Docker app `id` with `instances` of `image` on bridge networking, 0.1 CPU, 64 MB and
/// [`health_check`]`(1, 1, 1)`: quick in marathon-sim.
pub fn docker_app(id: &str, instances: u32, image: &str) -> Value {
    json!({
        "id": id,
        "instances": instances,
        "cpus": 0.1,
        "mem": 64.0,
        "container": {"type": "DOCKER", "docker": {"image": image, "network": "BRIDGE"}},
        "healthChecks": [health_check(1, 1, 1)],
    })
}

/// `base` with `patch` merged in (JSON merge patch, RFC 7386): objects merge key by key, any
/// other value replaces, `null` is kept as a value (Marathon's `"cmd": null` means "none").
pub fn with(mut base: Value, patch: Value) -> Value {
    merge(&mut base, patch);
    base
}

fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                match base.get_mut(&key) {
                    Some(slot) if slot.is_object() && value.is_object() => merge(slot, value),
                    _ => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, patch) => *base = patch,
    }
}

/// A group `id` holding `apps`.
pub fn group(id: &str, apps: Vec<Value>) -> Value {
    json!({"id": id, "apps": apps})
}

/// A `labels` object holding `HAPROXY_0_VHOST: vhost`, or none.
pub fn vhost_label(vhost: Option<String>) -> Value {
    let mut labels = Map::new();
    if let Some(vhost) = vhost {
        labels.insert("HAPROXY_0_VHOST".to_owned(), vhost.into());
    }
    Value::Object(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_merges_objects_and_replaces_the_rest() {
        let app = with(
            docker_app("/a/web", 2, "img:v1"),
            json!({"mem": 128.0, "container": {"docker": {"forcePullImage": false}}}),
        );
        assert_eq!(app["mem"], json!(128.0));
        assert_eq!(app["container"]["docker"]["image"], json!("img:v1"));
        assert_eq!(app["container"]["docker"]["forcePullImage"], json!(false));
        assert_eq!(app["container"]["type"], json!("DOCKER"));
    }
}
