//! Group updates: `apps` and `groups` in a PUT are the complete set; a `version` in the body
//! rolls the group back to that stored version, as Marathon does.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::deploy::{Applied, GroupTarget, Rejection, id_error};
use crate::model;
use crate::state::{GroupMeta, State};

/// Versions of a group kept for rollbacks (Marathon keeps 50 by default).
const KEPT_VERSIONS: usize = 50;

impl State {
    /// `PUT /v2/groups/{id}`: `apps` (and `groups`) in the body are the complete set.
    pub(crate) fn update_group(
        &mut self,
        gid: &str,
        body: &Map<String, Value>,
        force: bool,
        dry_run: bool,
    ) -> Result<Applied, Rejection> {
        let version = self.new_version();
        if let Some(factor) = body.get("scaleBy") {
            return self.scale_group(gid, factor, force, dry_run, version);
        }
        let mut desired = BTreeMap::new();
        let mut groups = BTreeMap::new();
        let mut errors = Vec::new();
        self.desired_group(
            gid,
            body,
            "",
            &version,
            &mut desired,
            &mut groups,
            &mut errors,
        );
        if !errors.is_empty() {
            return Err(Rejection::Invalid(errors));
        }
        if let Some(wanted) = body.get("version").and_then(Value::as_str) {
            // Marathon reads a version in a group PUT as "roll back to it"; the rest is ignored.
            let snapshot = self
                .group_versions
                .get(gid)
                .and_then(|list| list.iter().find(|(v, _)| v == wanted))
                .map(|(_, apps)| apps.clone());
            match snapshot {
                Some(apps) => desired = apps,
                None => {
                    return Err(Rejection::Unprocessable(format!(
                        "Group {gid} not available in version {wanted}"
                    )));
                }
            }
            groups.retain(|g, _| g == gid);
            for (g, meta) in &self.groups {
                if model::is_under(g, gid) && g != gid {
                    groups.insert(g.clone(), meta.clone());
                }
            }
        }
        let removed_groups: Vec<String> = self
            .groups
            .keys()
            .filter(|g| (model::is_under(g, gid) && g.as_str() != gid) && !groups.contains_key(*g))
            .cloned()
            .collect();
        let scope = |id: &str| model::is_under(id, gid);
        self.assign_ports(&mut desired, &|id| !scope(id));
        let changes = self.diff(&scope, &desired, &version);
        let result = self.apply(
            changes,
            GroupTarget {
                groups,
                removed_groups,
                event_group: gid,
            },
            force,
            dry_run,
            version,
        )?;
        if let Applied::Started { version, .. } = &result {
            let list = self.group_versions.entry(gid.to_owned()).or_default();
            list.insert(0, (version.clone(), desired));
            list.truncate(KEPT_VERSIONS);
        }
        Ok(result)
    }

    /// `{"scaleBy": f}`: every app of the group, at any depth, runs `ceil(instances × f)`
    /// instances and the rest of the body is ignored (`GroupsResource.updateOrCreate`:
    /// `(app.instances * scaleBy).ceil`); nothing of it is stored.
    fn scale_group(
        &mut self,
        gid: &str,
        factor: &Value,
        force: bool,
        dry_run: bool,
        version: String,
    ) -> Result<Applied, Rejection> {
        let Some(factor) = factor.as_f64().filter(|f| f.is_finite() && *f >= 0.0) else {
            return Err(Rejection::Invalid(vec![(
                "/scaleBy".to_owned(),
                "error.expected.jsnumber".to_owned(),
            )]));
        };
        if !self.groups.contains_key(gid) {
            return Err(Rejection::NotFound(format!("Group '{gid}' does not exist")));
        }
        let scope = |id: &str| model::is_under(id, gid);
        let desired: BTreeMap<String, Map<String, Value>> = self
            .apps
            .iter()
            .filter(|(id, _)| scope(id))
            .map(|(id, app)| {
                let mut def = app.def.clone();
                #[allow(
                    clippy::cast_precision_loss,
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss
                )]
                let scaled = (app.instances() as f64 * factor).ceil() as u64;
                def.insert("instances".to_owned(), Value::from(scaled));
                (id.clone(), def)
            })
            .collect();
        let changes = self.diff(&scope, &desired, &version);
        let target = GroupTarget {
            groups: BTreeMap::new(),
            removed_groups: Vec::new(),
            event_group: gid,
        };
        self.apply(changes, target, force, dry_run, version)
    }

    #[allow(clippy::too_many_arguments)]
    fn desired_group(
        &self,
        gid: &str,
        body: &Map<String, Value>,
        prefix: &str,
        version: &str,
        desired: &mut BTreeMap<String, Map<String, Value>>,
        groups: &mut BTreeMap<String, GroupMeta>,
        errors: &mut Vec<(String, String)>,
    ) {
        let mut extra = self
            .groups
            .get(gid)
            .map(|g| g.extra.clone())
            .unwrap_or_default();
        for (k, v) in body {
            if !matches!(
                k.as_str(),
                "id" | "apps" | "groups" | "version" | "pods" | "scaleBy"
            ) {
                extra.insert(k.clone(), v.clone());
            }
        }
        groups.insert(
            gid.to_owned(),
            GroupMeta {
                version: version.to_owned(),
                extra,
            },
        );
        match body.get("apps") {
            Some(Value::Array(apps)) => {
                for (i, app) in apps.iter().enumerate() {
                    let path = format!("{prefix}/apps({i})");
                    let Value::Object(def) = app else {
                        errors.push((path, "error.expected.jsobject".to_owned()));
                        continue;
                    };
                    let Some(raw) = def.get("id").and_then(Value::as_str) else {
                        errors.push((format!("{path}/id"), "error.path.missing".to_owned()));
                        continue;
                    };
                    let Some(id) = model::resolve_id(gid, raw) else {
                        errors.push((format!("{path}/id"), id_error()));
                        continue;
                    };
                    if model::parent(&id) != gid {
                        errors.push((
                            format!("{path}/id"),
                            format!("identifier {id} is not child of {gid}"),
                        ));
                        continue;
                    }
                    errors.extend(model::check_app(def, &path));
                    desired.insert(id.clone(), model::normalize_app(def.clone(), &id));
                }
            }
            Some(Value::Null) | None => {
                for (id, app) in &self.apps {
                    if model::parent(id) == gid {
                        desired.insert(id.clone(), app.def.clone());
                    }
                }
            }
            Some(_) => errors.push((
                format!("{prefix}/apps"),
                "error.expected.jsarray".to_owned(),
            )),
        }
        match body.get("groups") {
            Some(Value::Array(children)) => {
                for (i, child) in children.iter().enumerate() {
                    let path = format!("{prefix}/groups({i})");
                    let Value::Object(child) = child else {
                        errors.push((path, "error.expected.jsobject".to_owned()));
                        continue;
                    };
                    let Some(raw) = child.get("id").and_then(Value::as_str) else {
                        errors.push((format!("{path}/id"), "error.path.missing".to_owned()));
                        continue;
                    };
                    match model::resolve_id(gid, raw) {
                        Some(cid) if model::parent(&cid) == gid => {
                            self.desired_group(
                                &cid, child, &path, version, desired, groups, errors,
                            );
                        }
                        Some(cid) => errors.push((
                            format!("{path}/id"),
                            format!("identifier {cid} is not child of {gid}"),
                        )),
                        None => errors.push((format!("{path}/id"), id_error())),
                    }
                }
            }
            Some(Value::Null) | None => {
                // Subgroups not named stay as they are, apps included.
                for (g, meta) in &self.groups {
                    if model::is_under(g, gid) && g != gid {
                        groups.insert(g.clone(), meta.clone());
                    }
                }
                for (id, app) in &self.apps {
                    if model::is_under(id, gid) && model::parent(id) != gid {
                        desired.insert(id.clone(), app.def.clone());
                    }
                }
            }
            Some(_) => errors.push((
                format!("{prefix}/groups"),
                "error.expected.jsarray".to_owned(),
            )),
        }
    }

    /// `DELETE /v2/groups/{id}`: stops every app in the group and removes it (the root stays).
    pub(crate) fn delete_group(&mut self, gid: &str, force: bool) -> Result<Applied, Rejection> {
        if !self.groups.contains_key(gid) {
            return Err(Rejection::NotFound(format!("Group '{gid}' does not exist")));
        }
        let version = self.new_version();
        let removed: Vec<String> = self
            .groups
            .keys()
            .filter(|g| g.as_str() != "/" && (g.as_str() == gid || model::is_under(g, gid)))
            .cloned()
            .collect();
        let scope = |id: &str| model::is_under(id, gid);
        let changes = self.diff(&scope, &BTreeMap::new(), &version);
        let parent = model::parent(gid);
        let target = GroupTarget {
            groups: BTreeMap::new(),
            removed_groups: removed,
            event_group: &parent,
        };
        self.apply(changes, target, force, false, version)
    }

    /// `GET /v2/groups/{id}/versions`: newest first.
    pub(crate) fn group_version_list(&self, gid: &str) -> Option<Vec<String>> {
        let meta = self.groups.get(gid)?;
        let mut list: Vec<String> = self
            .group_versions
            .get(gid)
            .map(|l| l.iter().map(|(v, _)| v.clone()).collect())
            .unwrap_or_default();
        if list.is_empty() {
            list.push(meta.version.clone());
        }
        Some(list)
    }
}
