//! `/v2/groups[/{id}]`: the tree with `embed`, create (409 if it exists), update (replace
//! apps/groups/dependencies, `scaleBy`, rollback to a `version`, `dryRun`), `enforceRole`
//! patch, delete, and `/versions`.

use super::apps::{parse_embed, read_app, read_request, Req};
use super::deploy::{self, deployment_response, json_body, Change};
use super::error::{ApiError, ApiResult};
use super::ApiState;
use crate::model::{AppDefinition, AppEmbed, AppInfo, AppStatus, Group, PathId, Timestamp};
use crate::validate::Violation;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// A parsed group update (POST/PUT body). `None` fields are left as they are.
#[derive(Debug, Default)]
pub(crate) struct GroupUpdate {
    pub id: Option<PathId>,
    pub apps: Option<Vec<AppDefinition>>,
    pub groups: Option<Vec<GroupUpdate>>,
    pub dependencies: Option<Vec<PathId>>,
    pub version: Option<Timestamp>,
    pub scale_by: Option<f64>,
    pub enforce_role: Option<bool>,
}

fn type_error(path: String, code: &str) -> ApiError {
    ApiError::invalid_json(&[Violation::new(path, code)])
}

/// Reads a group update whose id resolves against `base`; `prefix` is its JSON path.
pub(crate) fn read_group_update(
    v: &Value,
    base: &PathId,
    prefix: &str,
    default_role: &str,
    depth: usize,
) -> Result<GroupUpdate, ApiError> {
    if depth > 64 {
        return Err(ApiError::invalid(&[Violation::new(
            prefix_or_root(prefix),
            "groups are nested too deeply",
        )]));
    }
    let obj: &Map<String, Value> = v
        .as_object()
        .ok_or_else(|| type_error(prefix_or_root(prefix), "error.expected.jsobject"))?;
    let mut u = GroupUpdate::default();
    let id = match obj.get("id") {
        None | Some(Value::Null) => base.clone(),
        Some(Value::String(s)) => {
            let id = PathId::parse(s);
            if !id.invalid_segments().is_empty() {
                return Err(ApiError::invalid(&[Violation::new(
                    format!("{prefix}/id"),
                    format!(
                        "must fully match regular expression '{}'",
                        crate::model::SEGMENT_PATTERN
                    ),
                )]));
            }
            u.id = Some(id.canonical(base));
            id.canonical(base)
        }
        Some(_) => {
            return Err(type_error(
                format!("{prefix}/id"),
                "error.expected.jsstring",
            ))
        }
    };
    if let Some(apps) = obj.get("apps").filter(|a| !a.is_null()) {
        let arr = apps
            .as_array()
            .ok_or_else(|| type_error(format!("{prefix}/apps"), "error.expected.jsarray"))?;
        let mut out = Vec::new();
        for (i, a) in arr.iter().enumerate() {
            let p = format!("{prefix}/apps({i})");
            let app = read_app(a.clone(), None, &id, default_role)
                .map_err(|e| ApiError::from(e.under(&p)))?;
            out.push(app);
        }
        u.apps = Some(out);
    }
    if let Some(groups) = obj.get("groups").filter(|g| !g.is_null()) {
        let arr = groups
            .as_array()
            .ok_or_else(|| type_error(format!("{prefix}/groups"), "error.expected.jsarray"))?;
        let mut out = Vec::new();
        for (i, g) in arr.iter().enumerate() {
            let p = format!("{prefix}/groups({i})");
            if g.get("id").is_none_or(Value::is_null) {
                return Err(type_error(format!("{p}/id"), "error.path.missing"));
            }
            out.push(read_group_update(g, &id, &p, default_role, depth + 1)?);
        }
        u.groups = Some(out);
    }
    if let Some(deps) = obj.get("dependencies").filter(|d| !d.is_null()) {
        let arr = deps.as_array().ok_or_else(|| {
            type_error(format!("{prefix}/dependencies"), "error.expected.jsarray")
        })?;
        let mut out = Vec::new();
        for (i, d) in arr.iter().enumerate() {
            let s = d.as_str().ok_or_else(|| {
                type_error(
                    format!("{prefix}/dependencies({i})"),
                    "error.expected.jsstring",
                )
            })?;
            out.push(PathId::parse(s).canonical(&id));
        }
        u.dependencies = Some(out);
    }
    if let Some(v) = obj.get("version").filter(|v| !v.is_null()) {
        let s = v
            .as_str()
            .ok_or_else(|| type_error(format!("{prefix}/version"), "error.expected.jsstring"))?;
        u.version = Some(Timestamp::parse(s).map_err(|e| {
            ApiError::invalid_json(&[Violation::new(format!("{prefix}/version"), e.to_string())])
        })?);
    }
    if let Some(v) = obj.get("scaleBy").filter(|v| !v.is_null()) {
        let f = v
            .as_f64()
            .ok_or_else(|| type_error(format!("{prefix}/scaleBy"), "error.expected.jsnumber"))?;
        if !(f >= 0.0 && f.is_finite()) {
            return Err(ApiError::invalid(&[Violation::new(
                format!("{prefix}/scaleBy"),
                format!("got {f}, expected 0.0 or more"),
            )]));
        }
        u.scale_by = Some(f);
    }
    if let Some(v) = obj.get("enforceRole").filter(|v| !v.is_null()) {
        u.enforce_role = Some(v.as_bool().ok_or_else(|| {
            type_error(format!("{prefix}/enforceRole"), "error.expected.jsboolean")
        })?);
    }
    Ok(u)
}

fn prefix_or_root(p: &str) -> String {
    if p.is_empty() {
        "/".into()
    } else {
        p.to_string()
    }
}

/// The group `id` after `update`, from `existing` (or a new empty group).
pub(crate) fn apply_update(
    update: GroupUpdate,
    id: &PathId,
    existing: Option<&Group>,
    now: Timestamp,
) -> Group {
    let mut g = existing
        .cloned()
        .unwrap_or_else(|| Group::empty(id.clone(), now));
    g.id = id.clone();
    if let Some(apps) = update.apps {
        g.apps = apps.into_iter().map(|a| (a.id.clone(), a)).collect();
    }
    if let Some(groups) = update.groups {
        let mut next = BTreeMap::new();
        for sub in groups {
            let sid = sub.id.clone().unwrap_or_else(|| id.clone());
            let old = existing.and_then(|e| e.groups.get(&sid));
            next.insert(sid.clone(), apply_update(sub, &sid, old, now));
        }
        g.groups = next;
    }
    if let Some(d) = update.dependencies {
        g.dependencies = d;
    }
    if let Some(e) = update.enforce_role {
        g.enforce_role = e;
    }
    g
}

/// GroupInfo with `embed`: bare apps, or AppInfo when any `group.apps.*` embed is asked.
struct GroupInfoView<'a> {
    group: &'a Group,
    apps: bool,
    groups: bool,
    statuses: Option<&'a BTreeMap<PathId, AppStatus>>,
    embed: AppEmbed,
}

impl Serialize for GroupInfoView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let g = self.group;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &g.id)?;
        match (self.apps, self.statuses) {
            (false, _) => m.serialize_entry("apps", &[] as &[Value])?,
            (true, None) => m.serialize_entry("apps", &g.apps.values().collect::<Vec<_>>())?,
            (true, Some(st)) => {
                let empty = AppStatus::default();
                let infos: Vec<AppInfo<'_>> = g
                    .apps
                    .values()
                    .map(|a| AppInfo::new(a, st.get(&a.id).unwrap_or(&empty), self.embed))
                    .collect();
                m.serialize_entry("apps", &infos)?
            }
        }
        let groups: Vec<GroupInfoView<'_>> = if self.groups {
            g.groups
                .values()
                .map(|c| GroupInfoView {
                    group: c,
                    apps: self.apps,
                    groups: true,
                    statuses: self.statuses,
                    embed: self.embed,
                })
                .collect()
        } else {
            Vec::new()
        };
        m.serialize_entry("groups", &groups)?;
        m.serialize_entry("pods", &[] as &[Value])?;
        m.serialize_entry("dependencies", &g.dependencies)?;
        m.serialize_entry("version", &g.version)?;
        if g.enforce_role {
            m.serialize_entry("enforceRole", &true)?;
        }
        m.end()
    }
}

pub(crate) async fn handle_root(State(state): State<ApiState>, req: Request) -> ApiResult {
    let req = read_request(req).await?;
    dispatch(&state, "", &req).await
}

pub(crate) async fn handle(
    State(state): State<ApiState>,
    axum::extract::Path(rest): axum::extract::Path<String>,
    req: Request,
) -> ApiResult {
    let req = read_request(req).await?;
    dispatch(&state, &rest, &req).await
}

async fn dispatch(state: &ApiState, rest: &str, req: &Req) -> ApiResult {
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let id_of = |n: usize| PathId::parse(&format!("/{}", segs[..n].join("/")));
    let n = segs.len();
    if n >= 1 && segs[n - 1] == "versions" && req.method == Method::GET {
        return versions(state, &id_of(n - 1));
    }
    if n >= 2 && segs[n - 2] == "versions" && req.method == Method::PUT {
        let v = Timestamp::parse(segs[n - 1]).map_err(|_| {
            ApiError::not_found(format!(
                "Group '{}' does not exist in version {}",
                id_of(n - 2),
                segs[n - 1]
            ))
        })?;
        return rollback(state, &id_of(n - 2), v, req.query.bool("force", false)?).await;
    }
    let id = id_of(n);
    match req.method {
        Method::GET => show(state, &id, req),
        Method::POST => create(state, &id, req).await,
        Method::PUT => update(state, &id, req).await,
        Method::PATCH => patch(state, &id, req).await,
        Method::DELETE => destroy(state, &id, req).await,
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "HTTP 405 Method Not Allowed",
        )),
    }
}

fn show(state: &ApiState, id: &PathId, req: &Req) -> ApiResult {
    let root = state.root();
    let g = root
        .group(id)
        .ok_or_else(|| ApiError::group_not_found(id))?;
    let embeds = req.query.all("embed");
    let (apps, groups) = if embeds.is_empty() {
        (true, true)
    } else {
        (
            embeds
                .iter()
                .any(|e| *e == "group.apps" || e.starts_with("group.apps.")),
            embeds.contains(&"group.groups"),
        )
    };
    let app_embeds: Vec<&str> = embeds
        .iter()
        .copied()
        .filter(|e| e.starts_with("group.apps."))
        .collect();
    let embed = parse_embed(&app_embeds);
    let statuses: Option<BTreeMap<PathId, AppStatus>> =
        (apps && !app_embeds.is_empty()).then(|| {
            let scope: Vec<&AppDefinition> = if groups {
                g.transitive_apps()
            } else {
                g.apps.values().collect()
            };
            scope
                .into_iter()
                .map(|a| (a.id.clone(), state.backend().app_status(&a.id, embed)))
                .collect()
        });
    let view = GroupInfoView {
        group: g,
        apps,
        groups,
        statuses: statuses.as_ref(),
        embed,
    };
    Ok(axum::Json(view).into_response())
}

fn versions(state: &ApiState, id: &PathId) -> ApiResult {
    if state.root().group(id).is_none() {
        return Err(ApiError::group_not_found(id));
    }
    Ok(axum::Json(state.store().group_versions(id)?).into_response())
}

async fn create(state: &ApiState, base: &PathId, req: &Req) -> ApiResult {
    let body = json_body(&req.body)?;
    let update = read_group_update(&body, base, "", &state.info().mesos_role, 0)?;
    let id = update.id.clone().unwrap_or_else(|| base.clone());
    let force = req.query.bool("force", false)?;
    let now = Timestamp::now();
    let view = deploy::deploy(state, now, |cur| {
        if cur.group(&id).is_some() {
            return Err(ApiError::conflict(format!(
                "Group {id} is already created. Use PUT to change this group."
            )));
        }
        if cur.app(&id).is_some() {
            return Err(ApiError::conflict(format!(
                "An app with id [{id}] already exists."
            )));
        }
        let mut target = cur.clone();
        let group = apply_update(update, &id, None, now);
        target.put_group(group, now);
        Ok(Change::new(target, force))
    })
    .await?;
    Ok(deployment_response(
        StatusCode::CREATED,
        &view,
        Some(&id.to_string()),
    ))
}

async fn rollback(state: &ApiState, id: &PathId, version: Timestamp, force: bool) -> ApiResult {
    let old_root = state.store().root_at(version)?.ok_or_else(|| {
        ApiError::not_found(format!("Group '{id}' does not exist in version {version}"))
    })?;
    let old = old_root.group(id).cloned().ok_or_else(|| {
        ApiError::not_found(format!("Group '{id}' does not exist in version {version}"))
    })?;
    let now = Timestamp::now();
    let view = deploy::deploy(state, now, |cur| {
        let mut target = cur.clone();
        target.put_group(old, now);
        Ok(Change::new(target, force))
    })
    .await?;
    Ok(deployment_response(StatusCode::OK, &view, None))
}

async fn update(state: &ApiState, id: &PathId, req: &Req) -> ApiResult {
    let body = json_body(&req.body)?;
    let force = req.query.bool("force", false)?;
    let dry_run = req.query.bool("dryRun", false)?;
    let mut update = read_group_update(&body, id, "", &state.info().mesos_role, 0)?;
    update.id = Some(id.clone());
    let only_version = body
        .as_object()
        .is_some_and(|o| o.keys().all(|k| k == "version" || k == "id"));
    if let (Some(v), true) = (update.version, only_version) {
        return rollback(state, id, v, force).await;
    }
    let now = Timestamp::now();
    let build = move |cur: &Group| -> Result<Change, ApiError> {
        let mut target = cur.clone();
        if let Some(factor) = update.scale_by {
            let g = target
                .group_mut(id)
                .ok_or_else(|| ApiError::group_not_found(id))?;
            g.scale_by(factor);
            return Ok(Change::new(target, force));
        }
        let group = apply_update(update, id, cur.group(id), now);
        target.put_group(group, now);
        Ok(Change::new(target, force))
    };
    if dry_run {
        let steps = deploy::preview(state, now, build).await?;
        return Ok(axum::Json(json!({ "steps": steps })).into_response());
    }
    let view = deploy::deploy(state, now, build).await?;
    Ok(deployment_response(StatusCode::OK, &view, None))
}

async fn patch(state: &ApiState, id: &PathId, req: &Req) -> ApiResult {
    let body = json_body(&req.body)?;
    let obj = body
        .as_object()
        .ok_or_else(|| type_error("/".into(), "error.expected.jsobject"))?;
    let enforce = match obj.get("enforceRole") {
        Some(Value::Bool(b)) => Some(*b),
        None | Some(Value::Null) => None,
        Some(_) => {
            return Err(type_error(
                "/enforceRole".into(),
                "error.expected.jsboolean",
            ))
        }
    };
    let now = Timestamp::now();
    let view = deploy::deploy(state, now, |cur| {
        let mut target = cur.clone();
        let g = target
            .group_mut(id)
            .ok_or_else(|| ApiError::group_not_found(id))?;
        if let Some(e) = enforce {
            g.enforce_role = e;
        }
        Ok(Change::new(target, false))
    })
    .await?;
    Ok(deployment_response(StatusCode::OK, &view, None))
}

async fn destroy(state: &ApiState, id: &PathId, req: &Req) -> ApiResult {
    let force = req.query.bool("force", false)?;
    let now = Timestamp::now();
    let view = deploy::deploy(state, now, |cur| {
        let mut target = cur.clone();
        target
            .remove_group(id)
            .ok_or_else(|| ApiError::group_not_found(id))?;
        Ok(Change::new(target, force))
    })
    .await?;
    Ok(deployment_response(StatusCode::OK, &view, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nested_ids_resolve_against_their_group() {
        let body = json!({"id": "shop", "apps": [{"id": "cart", "cmd": "x"}],
                          "groups": [{"id": "back", "apps": [{"id": "db", "cmd": "y"}], "dependencies": ["../front"]}]});
        let u = read_group_update(&body, &PathId::root(), "", "*", 0).unwrap();
        assert_eq!(u.id, Some(PathId::parse("/shop")));
        assert_eq!(u.apps.as_ref().unwrap()[0].id, PathId::parse("/shop/cart"));
        let back = &u.groups.as_ref().unwrap()[0];
        assert_eq!(back.id, Some(PathId::parse("/shop/back")));
        assert_eq!(
            back.apps.as_ref().unwrap()[0].id,
            PathId::parse("/shop/back/db")
        );
        assert_eq!(back.dependencies, Some(vec![PathId::parse("/shop/front")]));
        let g = apply_update(u, &PathId::parse("/shop"), None, Timestamp::ZERO);
        assert!(g.groups.contains_key(&PathId::parse("/shop/back")));
    }

    #[test]
    fn errors_carry_nested_paths() {
        let body = json!({"id": "/g", "groups": [{"id": "s", "apps": [{"id": "a", "cmd": "x", "cpus": -1}]}]});
        let e = read_group_update(&body, &PathId::root(), "", "*", 0).unwrap_err();
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(e.body["details"][0]["path"], "/groups(0)/apps(0)/cpus");
        let e = read_group_update(
            &json!({"groups": [{"apps": []}]}),
            &PathId::root(),
            "",
            "*",
            0,
        )
        .unwrap_err();
        assert_eq!(e.body["details"][0]["path"], "/groups(0)/id");
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i32>().prop_map(|n| json!(n)),
            "[a-z/.]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 64, 5, |inner| {
            let keys = prop_oneof![
                Just("id".to_string()),
                Just("apps".to_string()),
                Just("groups".to_string()),
                Just("dependencies".to_string()),
                Just("version".to_string()),
                Just("scaleBy".to_string()),
                Just("enforceRole".to_string()),
                Just("cmd".to_string()),
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(keys, inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn arbitrary_group_bodies_never_panic(v in arb_json()) {
            if let Ok(u) = read_group_update(&v, &PathId::parse("/base"), "", "*", 0) {
                let id = u.id.clone().unwrap_or_else(|| PathId::parse("/base"));
                let g = apply_update(u, &id, None, Timestamp::ZERO);
                let mut root = Group::empty_root(Timestamp::ZERO);
                root.put_group(g, Timestamp::ZERO);
                let _ = crate::validate::validate_root(&root);
            }
        }
    }
}
