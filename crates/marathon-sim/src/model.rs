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

/// Turns a definition sent by a client into the one Marathon stores: runtime fields dropped,
/// the absolute id set, defaults filled in. Unknown fields are kept unchanged and in order.
pub(crate) fn normalize_app(mut def: Map<String, Value>, id: &str) -> Map<String, Value> {
    for field in RUNTIME_FIELDS {
        def.remove(*field);
    }
    def.insert("id".to_owned(), Value::String(id.to_owned()));
    let defaults = [
        ("instances", json!(1)),
        ("cpus", json!(1)),
        ("mem", json!(128)),
        ("disk", json!(0)),
        ("backoffSeconds", json!(1)),
        ("backoffFactor", json!(1.15)),
        ("maxLaunchDelaySeconds", json!(3600)),
        ("healthChecks", json!([])),
    ];
    for (key, value) in defaults {
        if def.get(key).is_none_or(Value::is_null) {
            def.insert(key.to_owned(), value);
        }
    }
    let strategy = def.entry("upgradeStrategy").or_insert_with(|| json!({}));
    if let Value::Object(s) = strategy {
        s.entry("minimumHealthCapacity").or_insert(json!(1));
        s.entry("maximumOverCapacity").or_insert(json!(1));
    }
    for value in def.values_mut() {
        integral_numbers(value);
    }
    def
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
