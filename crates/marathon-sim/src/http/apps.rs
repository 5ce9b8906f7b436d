//! `/v2/apps`: the list with its filters, one app, its tasks, and the changes.

use axum::body::Bytes;
use axum::response::Response;
use http::{HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

use super::reply::{applied, json_response, message, not_served, rejection, started};
use super::resources::path_id;
use super::{flag, object_body, values};
use crate::Shared;
use crate::deploy::{Applied, Rejection, id_error};
use crate::model::{self, App};
use crate::state::AppEmbed;

/// Path segments Marathon reserves after an app id (`PathId` validation refuses them as the
/// last segment of an id), so `/v2/apps/x/tasks/T` names a task of `/x`, never an app.
const RESERVED: [&str; 3] = ["tasks", "versions", "restart"];

fn app_embed(q: &[(String, String)], single: bool) -> AppEmbed {
    let embeds = values(q, "embed");
    let has = |name: &str| {
        embeds
            .iter()
            .any(|e| *e == format!("apps.{name}") || *e == format!("app.{name}"))
    };
    // Marathon 1.x still sends counts and deployments always; one app also gets its tasks.
    AppEmbed {
        counts: true,
        deployments: true,
        tasks: single || has("tasks"),
        last_task_failure: single || has("lastTaskFailure"),
    }
}

pub(super) fn apps(
    shared: &Shared,
    method: &Method,
    segments: &[&str],
    q: &[(String, String)],
    body: &Bytes,
    full: &str,
) -> Response {
    let (id_segments, sub) = match segments.iter().position(|s| RESERVED.contains(s)) {
        Some(i) if i > 0 => segments.split_at(i),
        _ => (segments, &[][..]),
    };
    match (method, id_segments.is_empty(), sub) {
        (&Method::GET, true, []) => list(shared, q),
        (&Method::POST, true, []) => create(shared, q, body),
        (&Method::GET, false, []) => with_id(id_segments, |id| show(shared, &id, q)),
        (&Method::PUT | &Method::PATCH, false, []) => match path_id(id_segments) {
            Ok(id) => update(shared, method, &id, q, body),
            Err(res) => *res,
        },
        (&Method::DELETE, false, []) => with_id(id_segments, |id| {
            let force = flag(q, "force", false);
            applied(shared.mutate(|st| st.delete_app(&id, force)))
        }),
        (&Method::GET, false, ["tasks"]) => with_id(id_segments, |id| tasks(shared, &id)),
        (&Method::POST, false, ["restart"]) => with_id(id_segments, |id| {
            let force = flag(q, "force", false);
            applied(shared.mutate(|st| st.restart_app(&id, force)))
        }),
        (&Method::GET, false, ["versions"]) => with_id(id_segments, |id| versions(shared, &id)),
        (&Method::GET, false, ["versions", version]) => {
            with_id(id_segments, |id| at_version(shared, &id, version))
        }
        (_, _, []) => message(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"),
        _ => not_served(full),
    }
}

/// Runs `f` with the app id the segments name, or answers 404 for an id that cannot exist.
fn with_id(segments: &[&str], f: impl FnOnce(String) -> Response) -> Response {
    match path_id(segments) {
        Ok(id) => f(id),
        Err(_) => message(
            StatusCode::NOT_FOUND,
            &format!("App '/{}' does not exist", segments.join("/")),
        ),
    }
}

fn app_not_found(id: &str) -> Response {
    message(StatusCode::NOT_FOUND, &format!("App '{id}' does not exist"))
}

/// `GET /v2/apps`: `id` (case-insensitive substring), `cmd` (substring) and `label` (a label
/// selector) narrow the list, as `AppsResource.index` / `search` do.
fn list(shared: &Shared, q: &[(String, String)]) -> Response {
    let embed = app_embed(q, false);
    let last = |name: &str| {
        q.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let id_filter = last("id").map(|v| v.to_lowercase());
    let cmd_filter = last("cmd");
    let selector = match last("label").map(|s| LabelSelector::parse(&s)) {
        Some(Ok(sel)) => Some(sel),
        Some(Err(text)) => return message(StatusCode::BAD_REQUEST, &text),
        None => None,
    };
    let list = shared.with_state(|st| {
        st.apps
            .values()
            .filter(|a| {
                id_filter
                    .as_ref()
                    .is_none_or(|f| a.id().to_lowercase().contains(f.as_str()))
            })
            .filter(|a| {
                cmd_filter.as_ref().is_none_or(|f| {
                    a.def
                        .get("cmd")
                        .and_then(Value::as_str)
                        .is_some_and(|cmd| cmd.contains(f.as_str()))
                })
            })
            .filter(|a| selector.as_ref().is_none_or(|s| s.matches(a)))
            .map(|a| st.render_app(a, embed))
            .collect::<Vec<_>>()
    });
    json_response(StatusCode::OK, &json!({ "apps": list }))
}

/// `POST /v2/apps`: 201 with the app as `AppsResource.create` answers it — zero counts, no
/// tasks, the new deployment — and the `Location` of the app.
fn create(shared: &Shared, q: &[(String, String)], body: &Bytes) -> Response {
    let map = match object_body(body) {
        Ok(m) => m,
        Err(res) => return *res,
    };
    let Some(id) = map
        .get("id")
        .and_then(Value::as_str)
        .map(|raw| model::resolve_id("/", raw))
    else {
        return rejection(Rejection::Invalid(vec![(
            "/id".to_owned(),
            "error.path.missing".to_owned(),
        )]));
    };
    let Some(id) = id else {
        return rejection(Rejection::Invalid(vec![("/id".to_owned(), id_error())]));
    };
    let force = flag(q, "force", false);
    let created = shared.mutate(|st| {
        let applied = st.update_app(&id, &map, false, force, true)?;
        // Rendered before any task is launched: the answer shows the app as just created.
        let app = st.apps.get(&id).map(|a| {
            let mut v = st.render_app(a, AppEmbed::default());
            if let (Value::Object(m), Applied::Started { deployment_id, .. }) = (&mut v, &applied.1)
            {
                for key in [
                    "tasksStaged",
                    "tasksRunning",
                    "tasksHealthy",
                    "tasksUnhealthy",
                ] {
                    m.insert(key.to_owned(), json!(0));
                }
                m.insert("deployments".to_owned(), json!([{ "id": deployment_id }]));
                m.insert("tasks".to_owned(), json!([]));
            }
            v
        });
        Ok::<_, Rejection>((applied.1, app))
    });
    match created {
        Ok((Applied::Started { deployment_id, .. }, app)) => {
            let mut res = json_response(StatusCode::CREATED, &app.unwrap_or(Value::Null));
            if let Ok(v) = HeaderValue::from_str(&deployment_id) {
                res.headers_mut().insert("Marathon-Deployment-Id", v);
            }
            if let Ok(v) = HeaderValue::from_str(&format!("http://{}/v2/apps{id}", shared.addr)) {
                res.headers_mut().insert(header::LOCATION, v);
            }
            res
        }
        Ok((Applied::DryRun(v), _)) => json_response(StatusCode::OK, &v),
        Err(r) => rejection(r),
    }
}

fn show(shared: &Shared, id: &str, q: &[(String, String)]) -> Response {
    let embed = app_embed(q, true);
    match shared.with_state(|st| st.apps.get(id).map(|a| st.render_app(a, embed))) {
        Some(app) => json_response(StatusCode::OK, &json!({ "app": app })),
        None => app_not_found(id),
    }
}

fn tasks(shared: &Shared, id: &str) -> Response {
    let found = shared.with_state(|st| {
        st.apps.get(id).map(|a| {
            let checked = a.health().is_some();
            let tasks: Vec<Value> = st
                .tasks
                .get(id)
                .into_iter()
                .flatten()
                .map(|t| st.render_task(t, checked))
                .collect();
            json!({ "tasks": tasks })
        })
    });
    match found {
        Some(v) => json_response(StatusCode::OK, &v),
        None => app_not_found(id),
    }
}

/// `GET /v2/tasks` (`TasksResource.indexJson`): every task of every app, each with its `appId`;
/// `status` (repeatable: `running`, `staging`, …) keeps the tasks in those Mesos states.
pub(super) fn all_tasks(shared: &Shared, q: &[(String, String)]) -> Response {
    let wanted: Vec<String> = values(q, "status")
        .into_iter()
        .map(|s| format!("TASK_{}", s.to_uppercase()))
        .collect();
    let tasks = shared.with_state(|st| {
        let st: &crate::state::State = st;
        st.tasks
            .iter()
            .flat_map(|(app_id, list)| {
                let checked = st.apps.get(app_id).is_some_and(|a| a.health().is_some());
                list.iter().map(move |t| st.render_task(t, checked))
            })
            .filter(|t| {
                wanted.is_empty()
                    || t.get("state")
                        .and_then(Value::as_str)
                        .is_some_and(|s| wanted.iter().any(|w| w == s))
            })
            .collect::<Vec<_>>()
    });
    json_response(StatusCode::OK, &json!({ "tasks": tasks }))
}

/// `GET /v2/apps/{id}/versions`: `{"versions": [...]}`, newest first (`AppVersionsResource`).
fn versions(shared: &Shared, id: &str) -> Response {
    let found = shared.with_state(|st| {
        st.apps.get(id).map(|app| {
            let mut list: Vec<&str> = st
                .app_versions
                .get(id)
                .into_iter()
                .flatten()
                .map(|a| a.version.as_str())
                .collect();
            if list.is_empty() {
                list.push(app.version.as_str());
            }
            json!({ "versions": list })
        })
    });
    match found {
        Some(v) => json_response(StatusCode::OK, &v),
        None => app_not_found(id),
    }
}

/// `GET /v2/apps/{id}/versions/{version}`: the definition stored at that version, with its
/// `version` and `versionInfo` but no counts or tasks (`AppVersionsResource.show`).
fn at_version(shared: &Shared, id: &str, version: &str) -> Response {
    let found = shared.with_state(|st| {
        let stored = st
            .app_versions
            .get(id)
            .into_iter()
            .flatten()
            .chain(st.apps.get(id))
            .find(|a| a.version == version)?;
        Some(st.render_app(stored, AppEmbed::default()))
    });
    match found {
        Some(v) => json_response(StatusCode::OK, &v),
        // `ResourceErrors.unknownApp(id, Some(version))`.
        None => message(
            StatusCode::NOT_FOUND,
            &format!("App '{id}' does not exist in version {version}"),
        ),
    }
}

/// `PUT`/`PATCH /v2/apps/{id}`: PUT creates a missing app; PATCH (Marathon 1.6) never does, it
/// answers 404 (`AppsResource.patch` updates with `allowCreation = false`).
fn update(
    shared: &Shared,
    method: &Method,
    id: &str,
    q: &[(String, String)],
    body: &Bytes,
) -> Response {
    let map = match object_body(body) {
        Ok(m) => m,
        Err(res) => return *res,
    };
    let force = flag(q, "force", false);
    let patch = *method == Method::PATCH;
    // PATCH always merges; PUT merges unless partialUpdate=false.
    let partial = patch || flag(q, "partialUpdate", true);
    let result = shared.mutate(|st| {
        if patch && !st.apps.contains_key(id) {
            return Err(Rejection::NotFound(format!("App '{id}' does not exist")));
        }
        st.update_app(id, &map, partial, force, false)
    });
    match result {
        Ok((
            created,
            Applied::Started {
                version,
                deployment_id,
            },
        )) => {
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            let mut res = started(status, &version, &deployment_id);
            if created
                && let Ok(v) = HeaderValue::from_str(&format!("http://{}/v2/apps{id}", shared.addr))
            {
                res.headers_mut().insert(header::LOCATION, v);
            }
            res
        }
        Ok((_, Applied::DryRun(v))) => json_response(StatusCode::OK, &v),
        Err(r) => rejection(r),
    }
}

/// One requirement of a label selector (Marathon's `LabelSelectorParsers`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelTerm {
    Exists(String),
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// `label=` of `GET /v2/apps`: comma-separated terms, all of which must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LabelSelector(Vec<LabelTerm>);

impl LabelSelector {
    fn parse(text: &str) -> Result<LabelSelector, String> {
        let invalid = || format!("Invalid label selector query: {text}");
        let mut terms = Vec::new();
        let mut depth = 0usize;
        let mut start = 0usize;
        let mut parts = Vec::new();
        for (i, c) in text.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.checked_sub(1).ok_or_else(invalid)?,
                ',' if depth == 0 => {
                    parts.push(&text[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        parts.push(&text[start..]);
        for part in parts {
            let part = part.trim();
            let set = |rest: &str| -> Option<Vec<String>> {
                let inner = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
                Some(inner.split(',').map(|v| v.trim().to_owned()).collect())
            };
            let term = if let Some((k, v)) = part.split_once("==") {
                LabelTerm::Equals(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, v)) = part.split_once("!=") {
                LabelTerm::NotEquals(k.trim().to_owned(), v.trim().to_owned())
            } else if let Some((k, rest)) = part.split_once(" notin ") {
                LabelTerm::NotIn(k.trim().to_owned(), set(rest).ok_or_else(invalid)?)
            } else if let Some((k, rest)) = part.split_once(" in ") {
                LabelTerm::In(k.trim().to_owned(), set(rest).ok_or_else(invalid)?)
            } else if !part.is_empty() && !part.contains([' ', '(', ')', '=', '!']) {
                LabelTerm::Exists(part.to_owned())
            } else {
                return Err(invalid());
            };
            terms.push(term);
        }
        Ok(LabelSelector(terms))
    }

    fn matches(&self, app: &App) -> bool {
        let label = |k: &str| {
            app.def
                .get("labels")
                .and_then(|l| l.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        self.0.iter().all(|term| match term {
            LabelTerm::Exists(k) => label(k).is_some(),
            LabelTerm::Equals(k, v) => label(k).as_deref() == Some(v.as_str()),
            LabelTerm::NotEquals(k, v) => label(k).as_deref() != Some(v.as_str()),
            LabelTerm::In(k, vs) => label(k).is_some_and(|l| vs.contains(&l)),
            LabelTerm::NotIn(k, vs) => label(k).is_none_or(|l| !vs.contains(&l)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{LabelSelector, LabelTerm};

    #[test]
    fn label_selectors_parse_every_marathon_form() {
        let sel = LabelSelector::parse("a, b==1, c!=2, d in (x, y), e notin (z)");
        assert_eq!(
            sel,
            Ok(LabelSelector(vec![
                LabelTerm::Exists("a".into()),
                LabelTerm::Equals("b".into(), "1".into()),
                LabelTerm::NotEquals("c".into(), "2".into()),
                LabelTerm::In("d".into(), vec!["x".into(), "y".into()]),
                LabelTerm::NotIn("e".into(), vec!["z".into()]),
            ]))
        );
        assert!(LabelSelector::parse("a in x").is_err());
        assert!(LabelSelector::parse("a b").is_err());
    }
}
