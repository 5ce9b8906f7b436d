//! App definitions and path ids as Marathon stores them.

use serde_json::{Map, Value, json};

/// The expression Marathon checks every path segment of an id against.
pub(crate) const ID_SEGMENT_PATTERN: &str = "^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])|(\\.|\\.\\.)$";

/// Fields Marathon computes for an app; they are never part of the stored definition.
const RUNTIME_FIELDS: &[&str] = &[
    "version",
    "versionInfo",
    "tasks",
    "tasksRunning",
    "tasksStaged",
    "tasksHealthy",
    "tasksUnhealthy",
    "deployments",
    "lastTaskFailure",
    "taskStats",
    "readinessCheckResults",
];

/// Whether one segment matches Marathon's id grammar (hand-written: the regex crate is not needed).
fn segment_valid(segment: &str) -> bool {
    if segment == "." || segment == ".." {
        return true;
    }
    // Dot-separated labels of [a-z0-9-], none starting or ending with '-'.
    !segment.is_empty()
        && segment.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// Resolves `id` against `base` (an absolute group id) into a canonical absolute id, or `None` when
/// a segment breaks Marathon's grammar.
pub(crate) fn resolve_id(base: &str, id: &str) -> Option<String> {
    let mut parts: Vec<&str> = if id.starts_with('/') {
        Vec::new()
    } else {
        base.split('/').filter(|s| !s.is_empty()).collect()
    };
    for segment in id.split('/').filter(|s| !s.is_empty()) {
        if !segment_valid(segment) {
            return None;
        }
        match segment {
            "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// The parent group of an absolute id (`/` for top-level ids and for the root itself).
pub(crate) fn parent(id: &str) -> String {
    match id.trim_end_matches('/').rfind('/') {
        Some(0) | None => "/".to_owned(),
        Some(i) => id[..i].to_owned(),
    }
}

/// Whether `id` lies inside group `group` (at any depth).
pub(crate) fn is_under(id: &str, group: &str) -> bool {
    group == "/" || id.starts_with(&format!("{group}/"))
}

/// Optional fields Marathon 1.5+ leaves out when they are empty (`real-groups/155_1000.json`:
/// none of its 1000 apps has `env`, `cmd`, `args`, `uris`, `fetch`, `dependencies`,
/// `healthChecks`, … while every app has the fields of [`ALWAYS_WRITTEN`]).
const OMITTED_WHEN_EMPTY: &[&str] = &[
    "cmd",
    "args",
    "env",
    "uris",
    "fetch",
    "dependencies",
    "healthChecks",
    "readinessChecks",
    "secrets",
    "storeUrls",
    "acceptedResourceRoles",
    "user",
    "ipAddress",
    "residency",
    "container",
    "taskKillGracePeriodSeconds",
    "tty",
    "ports",
];

/// Turns a definition sent by a client into the one Marathon 1.6 stores and writes on every
/// read: runtime fields dropped, the absolute id set, every default of `AppDefinition`,
/// its container and health checks filled in, legacy forms (`ports`, `uris`, Docker's
/// `network`/`portMappings`) in their 1.5+ shape, empty optional fields left out
/// (`real-groups/`). Unknown fields are kept unchanged and in order. Service ports of `0` stay
/// `0` here; [`assign_service_ports`] picks them.
pub(crate) fn normalize_app(mut def: Map<String, Value>, id: &str) -> Map<String, Value> {
    for field in RUNTIME_FIELDS {
        def.remove(*field);
    }
    def.insert("id".to_owned(), Value::String(id.to_owned()));
    for field in OMITTED_WHEN_EMPTY {
        if def.get(*field).is_some_and(is_empty) {
            def.remove(*field);
        }
    }
    legacy_uris_to_fetch(&mut def);
    let container_mode = normalize_container(&mut def).or_else(|| {
        let networks = def.get("networks").and_then(Value::as_array)?;
        networks
            .iter()
            .any(|n| n.get("mode").and_then(Value::as_str) != Some("host"))
            .then_some("container")
    });
    let legacy_ports = def.remove("ports");
    let defaults = [
        ("instances", json!(1)),
        ("cpus", json!(1)),
        ("mem", json!(128)),
        ("disk", json!(0)),
        ("gpus", json!(0)),
        ("executor", json!("")),
        ("constraints", json!([])),
        ("labels", json!({})),
        ("requirePorts", json!(false)),
        ("backoffSeconds", json!(1)),
        ("backoffFactor", json!(1.15)),
        ("maxLaunchDelaySeconds", json!(3600)),
        ("killSelection", json!("YOUNGEST_FIRST")),
        (
            "unreachableStrategy",
            json!({"inactiveAfterSeconds": 300, "expungeAfterSeconds": 600}),
        ),
        (
            "networks",
            json!([{ "mode": container_mode.unwrap_or("host") }]),
        ),
    ];
    for (key, value) in defaults {
        if def.get(key).is_none_or(Value::is_null) {
            def.insert(key.to_owned(), value);
        }
    }
    if def.get("portDefinitions").is_none_or(Value::is_null) {
        // Apps on the host network get one port (`AppNormalization`'s default port definition);
        // container networks use the container's port mappings instead.
        let ports = match (&legacy_ports, container_mode) {
            (Some(Value::Array(ports)), _) => ports
                .iter()
                .map(|p| json!({"port": p, "protocol": "tcp"}))
                .collect(),
            (_, Some(_)) => Vec::new(),
            (_, None) => vec![json!({"name": "default", "port": 0, "protocol": "tcp"})],
        };
        def.insert("portDefinitions".to_owned(), Value::Array(ports));
    }
    if let Some(Value::Array(ports)) = def.get_mut("portDefinitions") {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            p.entry("port").or_insert(json!(0));
            p.entry("protocol").or_insert(json!("tcp"));
        }
    }
    let strategy = def.entry("upgradeStrategy").or_insert_with(|| json!({}));
    if let Value::Object(s) = strategy {
        s.entry("minimumHealthCapacity").or_insert(json!(1));
        s.entry("maximumOverCapacity").or_insert(json!(1));
    }
    if let Some(Value::Array(checks)) = def.get_mut("healthChecks") {
        checks.iter_mut().for_each(normalize_health_check);
    }
    for value in def.values_mut() {
        integral_numbers(value);
    }
    def
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// `uris` is deprecated since 1.0: Marathon 1.5 turns each into a `fetch` entry.
fn legacy_uris_to_fetch(def: &mut Map<String, Value>) {
    if let Some(Value::Array(uris)) = def.remove("uris")
        && !def.contains_key("fetch")
    {
        let fetch: Vec<Value> = uris.into_iter().map(|u| json!({"uri": u})).collect();
        def.insert("fetch".to_owned(), Value::Array(fetch));
    }
    if let Some(Value::Array(fetch)) = def.get_mut("fetch") {
        for f in fetch.iter_mut().filter_map(Value::as_object_mut) {
            f.entry("extract").or_insert(json!(true));
            f.entry("executable").or_insert(json!(false));
            f.entry("cache").or_insert(json!(false));
        }
    }
}

/// Fills a container's defaults (`type`, `volumes`, Docker's `privileged`, `parameters`,
/// `forcePullImage`) and moves Docker's legacy `network` and `portMappings` where 1.5 keeps
/// them (`networks`, `container.portMappings`). Returns the network mode a container network
/// implies, if any.
fn normalize_container(def: &mut Map<String, Value>) -> Option<&'static str> {
    let Some(Value::Object(container)) = def.get_mut("container") else {
        return None;
    };
    container.entry("type").or_insert(json!("DOCKER"));
    container.entry("volumes").or_insert(json!([]));
    let mut mode = None;
    if let Some(Value::Object(docker)) = container.get_mut("docker") {
        docker.entry("forcePullImage").or_insert(json!(false));
        docker.entry("parameters").or_insert(json!([]));
        docker.entry("privileged").or_insert(json!(false));
        mode = match docker.remove("network").as_ref().and_then(Value::as_str) {
            Some("BRIDGE") => Some("container/bridge"),
            Some("USER") => Some("container"),
            _ => None,
        };
        if let Some(mappings) = docker.remove("portMappings") {
            container.entry("portMappings").or_insert(mappings);
        }
    }
    if let Some(Value::Array(mappings)) = container.get_mut("portMappings") {
        mode = mode.or(Some("container/bridge"));
        for m in mappings.iter_mut().filter_map(Value::as_object_mut) {
            m.entry("containerPort").or_insert(json!(0));
            m.entry("hostPort").or_insert(json!(0));
            m.entry("servicePort").or_insert(json!(0));
            m.entry("protocol").or_insert(json!("tcp"));
        }
    }
    mode
}

/// Fills a health check's defaults as Marathon 1.5's `AppHealthCheck` does.
fn normalize_health_check(check: &mut Value) {
    let Value::Object(c) = check else { return };
    let protocol = c
        .get("protocol")
        .and_then(Value::as_str)
        .unwrap_or("HTTP")
        .to_owned();
    c.insert("protocol".to_owned(), json!(protocol));
    for (key, value) in [
        ("gracePeriodSeconds", 300),
        ("intervalSeconds", 60),
        ("maxConsecutiveFailures", 3),
        ("timeoutSeconds", 20),
        ("delaySeconds", 15),
    ] {
        c.entry(key).or_insert(json!(value));
    }
    if protocol.contains("COMMAND") {
        return;
    }
    c.entry("ipProtocol").or_insert(json!("IPv4"));
    if !c.contains_key("port") {
        c.entry("portIndex").or_insert(json!(0));
    }
    if protocol.contains("HTTP") {
        c.entry("path").or_insert(json!("/"));
        c.entry("ignoreHttp1xx").or_insert(json!(false));
    }
}

/// The service ports of a stored definition: its port definitions' ports, or its container's
/// port mappings' service ports.
pub(crate) fn service_ports(def: &Map<String, Value>) -> Vec<u64> {
    port_slots(def)
        .iter()
        .map(|(list, i)| port_at(def, list, *i))
        .collect()
}

/// Where each service port of a definition lives: `(portDefinitions|portMappings, index)`.
fn port_slots(def: &Map<String, Value>) -> Vec<(&'static str, usize)> {
    let defs = def
        .get("portDefinitions")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if defs > 0 {
        return (0..defs).map(|i| ("portDefinitions", i)).collect();
    }
    let mappings = def
        .get("container")
        .and_then(|c| c.get("portMappings"))
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    (0..mappings).map(|i| ("portMappings", i)).collect()
}

fn port_entry<'a>(def: &'a mut Map<String, Value>, list: &str, i: usize) -> Option<&'a mut Value> {
    let (holder, key) = if list == "portDefinitions" {
        (def.get_mut("portDefinitions")?, "port")
    } else {
        (
            def.get_mut("container")?.get_mut("portMappings")?,
            "servicePort",
        )
    };
    holder.get_mut(i)?.get_mut(key)
}

fn port_at(def: &Map<String, Value>, list: &str, i: usize) -> u64 {
    let entry = if list == "portDefinitions" {
        def.get("portDefinitions")
            .and_then(|l| l.get(i))
            .and_then(|p| p.get("port"))
    } else {
        def.get("container")
            .and_then(|c| c.get("portMappings"))
            .and_then(|l| l.get(i))
            .and_then(|p| p.get("servicePort"))
    };
    entry.and_then(Value::as_u64).unwrap_or(0)
}

/// The first service port Marathon assigns (`local_port_min`).
pub(crate) const SERVICE_PORT_MIN: u64 = 10_000;
/// One past the last (`local_port_max`).
pub(crate) const SERVICE_PORT_MAX: u64 = 20_000;

/// Replaces every service port `0` of `def`, as `AssignDynamicServiceLogic` does: first with the
/// ports the app's previous definition (`old`) had and no longer uses, so a resubmitted
/// definition keeps its ports, then with the lowest port from 10000 up that no app uses.
pub(crate) fn assign_service_ports(
    def: &mut Map<String, Value>,
    old: Option<&Map<String, Value>>,
    used: &mut std::collections::BTreeSet<u64>,
) {
    let slots = port_slots(def);
    let fixed: Vec<u64> = slots
        .iter()
        .map(|(l, i)| port_at(def, l, *i))
        .filter(|p| *p != 0)
        .collect();
    used.extend(fixed.iter().copied());
    let mut reusable: std::collections::VecDeque<u64> = old
        .map(service_ports)
        .unwrap_or_default()
        .into_iter()
        .filter(|p| (SERVICE_PORT_MIN..SERVICE_PORT_MAX).contains(p) && !fixed.contains(p))
        .collect();
    for (list, i) in slots {
        if port_at(def, list, i) != 0 {
            continue;
        }
        let port = reusable
            .pop_front()
            .or_else(|| (SERVICE_PORT_MIN..SERVICE_PORT_MAX).find(|p| !used.contains(p)));
        if let (Some(port), Some(slot)) = (port, port_entry(def, list, i)) {
            used.insert(port);
            *slot = json!(port);
        }
    }
}

/// Writes every whole number as an integer, as Marathon 1.5+ renders them (`"mem": 128`, not
/// `128.0`; see `fixtures/marathon/real-groups/155_100.json`); fractions stay as they are.
pub(crate) fn integral_numbers(value: &mut Value) {
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                #[allow(clippy::cast_possible_truncation)]
                let whole = f as i64;
                *value = json!(whole);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers),
        Value::Object(map) => map.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

/// Checks the fields of a definition whose type the simulator relies on; returns
/// `(path, message)` pairs in Marathon's validation wording.
pub(crate) fn check_app(def: &Map<String, Value>, prefix: &str) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    if let Some(v) = def.get("instances")
        && !v.is_null()
        && v.as_u64().is_none()
    {
        errors.push((
            format!("{prefix}/instances"),
            "error.expected.jsnumber".to_owned(),
        ));
    }
    if let Some(Value::Object(s)) = def.get("upgradeStrategy") {
        for key in ["minimumHealthCapacity", "maximumOverCapacity"] {
            if let Some(v) = s.get(key) {
                match v.as_f64() {
                    Some(x) if (0.0..=1.0).contains(&x) => {}
                    _ => errors.push((
                        format!("{prefix}/upgradeStrategy/{key}"),
                        "got 2.0, expected between 0.0 and 1.0".replace("2.0", &v.to_string()),
                    )),
                }
            }
        }
    }
    errors
}

/// An app as stored: its definition and the versions Marathon tracks for it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct App {
    pub(crate) def: Map<String, Value>,
    pub(crate) version: String,
    pub(crate) last_config_change: String,
    pub(crate) last_scaling: String,
}

/// The health check parameters the simulation uses (Marathon's defaults where absent).
#[derive(Debug, Clone, Copy)]
pub(crate) struct HealthParams {
    pub(crate) grace_seconds: u64,
    pub(crate) interval_seconds: u64,
    pub(crate) max_failures: u64,
}

impl App {
    pub(crate) fn id(&self) -> &str {
        self.def.get("id").and_then(Value::as_str).unwrap_or("/")
    }

    pub(crate) fn instances(&self) -> usize {
        self.def
            .get("instances")
            .and_then(Value::as_u64)
            .map_or(1, |n| usize::try_from(n).unwrap_or(usize::MAX))
    }

    /// The Docker image, or the empty string for apps without one.
    pub(crate) fn image(&self) -> String {
        self.def
            .get("container")
            .and_then(|c| c.get("docker"))
            .and_then(|d| d.get("image"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    fn strategy(&self, key: &str, default: f64) -> f64 {
        self.def
            .get("upgradeStrategy")
            .and_then(|s| s.get(key))
            .and_then(Value::as_f64)
            .unwrap_or(default)
    }

    pub(crate) fn minimum_health_capacity(&self) -> f64 {
        self.strategy("minimumHealthCapacity", 1.0).clamp(0.0, 1.0)
    }

    pub(crate) fn maximum_over_capacity(&self) -> f64 {
        self.strategy("maximumOverCapacity", 1.0).clamp(0.0, 1.0)
    }

    pub(crate) fn health(&self) -> Option<HealthParams> {
        let first = self.def.get("healthChecks")?.as_array()?.first()?;
        let get = |k: &str, d: u64| first.get(k).and_then(Value::as_u64).unwrap_or(d);
        Some(HealthParams {
            grace_seconds: get("gracePeriodSeconds", 300),
            interval_seconds: get("intervalSeconds", 60).max(1),
            max_failures: get("maxConsecutiveFailures", 3),
        })
    }

    /// Relaunch delay after `failures` consecutive failures, as Marathon's launch backoff.
    pub(crate) fn backoff(&self, failures: u32) -> std::time::Duration {
        let base = self
            .def
            .get("backoffSeconds")
            .and_then(Value::as_f64)
            .unwrap_or(1.0)
            .max(0.0);
        let factor = self
            .def
            .get("backoffFactor")
            .and_then(Value::as_f64)
            .unwrap_or(1.15)
            .max(1.0);
        let max = self
            .def
            .get("maxLaunchDelaySeconds")
            .and_then(Value::as_f64)
            .unwrap_or(3600.0)
            .max(0.0);
        let exponent = i32::try_from(failures.saturating_sub(1)).unwrap_or(i32::MAX);
        std::time::Duration::from_secs_f64((base * factor.powi(exponent)).min(max))
    }

    /// Whether `other` differs from this definition only in the number of instances.
    pub(crate) fn only_scale_differs(&self, other: &Map<String, Value>) -> bool {
        let strip = |m: &Map<String, Value>| {
            let mut m = m.clone();
            m.remove("instances");
            m
        };
        strip(&self.def) == strip(other)
    }
}

/// Whether `text` matches the glob `pattern` (`*` any run of characters, `?` one character).
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || Some(&c) == t.get(ti) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|&c| c == '*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_ids_resolve_against_the_group() {
        assert_eq!(
            resolve_id("/shop-prod", "web").as_deref(),
            Some("/shop-prod/web")
        );
        assert_eq!(
            resolve_id("/shop-prod", "/other/web").as_deref(),
            Some("/other/web")
        );
        assert_eq!(resolve_id("/a/b", "../c").as_deref(), Some("/a/c"));
    }

    #[test]
    fn uppercase_and_underscores_are_invalid_ids() {
        assert_eq!(resolve_id("/", "Web"), None);
        assert_eq!(resolve_id("/", "my_app"), None);
        assert_eq!(resolve_id("/", "-web"), None);
    }

    #[test]
    fn parent_of_top_level_id_is_root() {
        assert_eq!(parent("/web"), "/");
        assert_eq!(parent("/shop/web"), "/shop");
    }

    #[test]
    fn glob_matches_stars_and_question_marks() {
        assert!(glob_match("*", "registry/app:1"));
        assert!(glob_match("*:bad-*", "registry/app:bad-2"));
        assert!(glob_match("reg?stry/*", "registry/app"));
        assert!(!glob_match("*:good", "registry/app:bad"));
    }

    #[test]
    fn normalize_keeps_unknown_fields_and_drops_runtime_ones() {
        let def = json!({"id": "web", "x-custom": {"a": 1}, "tasksRunning": 3, "version": "v"});
        let Value::Object(def) = def else { return };
        let n = normalize_app(def, "/g/web");
        assert_eq!(n.get("x-custom"), Some(&json!({"a": 1})));
        assert_eq!(n.get("id"), Some(&json!("/g/web")));
        assert!(n.get("tasksRunning").is_none() && n.get("version").is_none());
    }
}
