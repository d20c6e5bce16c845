//! `/v2/apps` and everything below an app id: show, create, update (PUT/PATCH, partial or
//! not, rollback to a version), delete, restart, tasks, versions, and `/v2/apps/{group}/*`.

use super::deploy::{self, client_ip, deployment_response, json_body, Change};
use super::error::{ApiError, ApiResult};
use super::label_selector::LabelSelector;
use super::query::Query;
use super::ApiState;
use crate::events::MarathonEvent;
use crate::model::{
    is_version_rollback, merge_app_update, AppDefinition, AppEmbed, AppInfo, AppStatus,
    DeploymentRef, Group, PathId, TaskView, Timestamp, UnreachableStrategy, UpgradeStrategy,
};
use crate::validate::{self, Violation};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::IntoResponse;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// Bodies larger than this are refused (a tree of thousands of apps fits).
pub(crate) const BODY_LIMIT: usize = 32 * 1024 * 1024;

pub(crate) struct Req {
    pub method: Method,
    pub query: Query,
    pub headers: HeaderMap,
    pub client_ip: String,
    pub uri: String,
    pub body: axum::body::Bytes,
}

pub(crate) async fn read_request(req: Request) -> Result<Req, ApiError> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|e| ApiError::bad_request(format!("Could not read the request body: {e}")))?;
    Ok(Req {
        method: parts.method,
        query: Query::parse(parts.uri.query()),
        client_ip: client_ip(&parts.headers, &parts.extensions),
        uri: parts.uri.path().to_string(),
        headers: parts.headers,
        body,
    })
}

/// Why an app body was refused: wrong types (422 "Invalid JSON") or rules (422 "Object is not valid").
pub(crate) enum ReadError {
    Types(Vec<Violation>),
    Rules(Vec<Violation>),
}

impl ReadError {
    pub fn under(self, prefix: &str) -> ReadError {
        let f = |v: Vec<Violation>| v.into_iter().map(|x| x.under(prefix)).collect();
        match self {
            ReadError::Types(v) => ReadError::Types(f(v)),
            ReadError::Rules(v) => ReadError::Rules(f(v)),
        }
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> ApiError {
        match e {
            ReadError::Types(v) => ApiError::invalid_json(&v),
            ReadError::Rules(v) => ApiError::invalid(&v),
        }
    }
}

/// Reads, normalizes and validates one app. `id` (from the URL) overrides the body's id;
/// relative ids resolve against `base`.
pub(crate) fn read_app(
    mut v: Value,
    id: Option<&PathId>,
    base: &PathId,
    default_role: &str,
) -> Result<AppDefinition, ReadError> {
    if let (Some(id), Some(obj)) = (id, v.as_object_mut()) {
        obj.insert("id".into(), Value::String(id.to_string()));
    }
    let had = |k: &str| v.get(k).is_some_and(|x| !x.is_null());
    let (had_upgrade, had_unreachable) = (had("upgradeStrategy"), had("unreachableStrategy"));
    let mut app = validate::app_from_value(v).map_err(ReadError::Types)?;
    if app.is_resident() {
        if !had_upgrade {
            app.upgrade_strategy = UpgradeStrategy::RESIDENT;
        }
        if !had_unreachable {
            app.unreachable_strategy = UnreachableStrategy::Disabled;
        }
    }
    app.normalize(base, default_role);
    let violations = validate::validate_app(&app);
    if violations.is_empty() {
        Ok(app)
    } else {
        Err(ReadError::Rules(violations))
    }
}

/// `embed` values for apps: prefixes `app.`, `apps.`, `group.apps.` or none.
pub(crate) fn parse_embed(values: &[&str]) -> AppEmbed {
    let mut e = AppEmbed::default();
    for v in values {
        let name = ["group.apps.", "apps.", "app."]
            .iter()
            .find_map(|p| v.strip_prefix(p))
            .unwrap_or(v);
        match name {
            "tasks" => e.tasks = true,
            "readiness" => e.readiness = true,
            "lastTaskFailure" => e.last_task_failure = true,
            "failures" => {
                e.tasks = true;
                e.last_task_failure = true;
            }
            "taskStats" => e.task_stats = true,
            _ => {}
        }
    }
    e
}

/// AppInfo for a list of apps (one backend call per app).
pub(crate) fn app_infos<'a>(
    state: &ApiState,
    apps: &[&'a AppDefinition],
    embed: AppEmbed,
) -> Vec<(&'a AppDefinition, AppStatus)> {
    apps.iter()
        .map(|a| (*a, state.backend().app_status(&a.id, embed)))
        .collect()
}

#[derive(Serialize)]
struct AppsOut<'a> {
    apps: Vec<AppInfo<'a>>,
}

fn require_object(v: &Value) -> Result<&Map<String, Value>, ApiError> {
    v.as_object()
        .ok_or_else(|| ApiError::invalid_json(&[Violation::new("/", "error.expected.jsobject")]))
}

/// `/v2/apps`: GET (list with filters), POST (create), PUT/PATCH (bulk).
pub(crate) async fn collection(State(state): State<ApiState>, req: Request) -> ApiResult {
    let req = read_request(req).await?;
    match req.method {
        Method::GET => list(&state, &req),
        Method::POST => create(&state, &req).await,
        Method::PUT => bulk(&state, &req, req.query.bool("partialUpdate", true)?, true).await,
        Method::PATCH => bulk(&state, &req, true, false).await,
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "HTTP 405 Method Not Allowed",
        )),
    }
}

fn list(state: &ApiState, req: &Req) -> ApiResult {
    let root = state.root();
    let selector = match req.query.get("label") {
        Some(l) if !l.trim().is_empty() => {
            Some(LabelSelector::parse(l).map_err(|e| ApiError::bad_request(e.to_string()))?)
        }
        _ => None,
    };
    let cmd = req.query.get("cmd").filter(|s| !s.is_empty());
    let id = req.query.get("id").filter(|s| !s.is_empty());
    let mut apps: Vec<&AppDefinition> = root
        .transitive_apps()
        .into_iter()
        .filter(|a| cmd.is_none_or(|c| a.cmd.as_deref().is_some_and(|x| x.contains(c))))
        .filter(|a| id.is_none_or(|i| a.id.to_string().contains(i)))
        .filter(|a| selector.as_ref().is_none_or(|s| s.matches(&a.labels)))
        .collect();
    apps.sort_by(|a, b| a.id.cmp(&b.id));
    let embed = parse_embed(&req.query.all("embed"));
    let infos = app_infos(state, &apps, embed);
    let out = AppsOut {
        apps: infos
            .iter()
            .map(|(a, s)| AppInfo::new(a, s, embed))
            .collect(),
    };
    Ok(axum::Json(out).into_response())
}

async fn create(state: &ApiState, req: &Req) -> ApiResult {
    let body = json_body(&req.body)?;
    require_object(&body)?;
    let app = read_app(body, None, &PathId::root(), &state.info().mesos_role)?;
    let id = app.id.clone();
    let force = req.query.bool("force", false)?;
    let now = Timestamp::now();
    let new_app = app.clone();
    let view = deploy::deploy(state, now, |cur| {
        if cur.app(&id).is_some() {
            return Err(ApiError::conflict(format!(
                "An app with id [{id}] already exists."
            )));
        }
        let mut target = cur.clone();
        target.put_app(new_app, now);
        Ok(Change::new(target, force))
    })
    .await?;
    let root = state.root();
    let stored = root.app(&id).cloned().unwrap_or(app);
    post_event(state, req, &stored, now);
    let status = AppStatus {
        deployments: vec![DeploymentRef {
            id: view.id.clone(),
        }],
        ..Default::default()
    };
    let info = AppInfo::new(&stored, &status, AppEmbed::default());
    let mut headers = HeaderMap::new();
    deploy::deployment_headers(&mut headers, &view.id, Some(&id.to_string()));
    Ok((StatusCode::CREATED, headers, axum::Json(info)).into_response())
}

fn post_event(state: &ApiState, req: &Req, app: &AppDefinition, now: Timestamp) {
    state.events().publish(
        &MarathonEvent::ApiPost {
            client_ip: req.client_ip.clone(),
            uri: req.uri.clone(),
            app_definition: Box::new(app.clone()),
        },
        now,
    );
}

/// PUT/PATCH of an array of apps: one deployment for all of them.
async fn bulk(state: &ApiState, req: &Req, partial: bool, allow_create: bool) -> ApiResult {
    let body = json_body(&req.body)?;
    let Value::Array(items) = body else {
        return Err(ApiError::invalid_json(&[Violation::new(
            "/",
            "error.expected.jsarray",
        )]));
    };
    let force = req.query.bool("force", false)?;
    let root = state.root();
    let mut apps = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let prefix = format!("/({i})");
        let obj = item.as_object().ok_or_else(|| {
            ApiError::invalid_json(&[Violation::new(&prefix, "error.expected.jsobject")])
        })?;
        let Some(id) = obj
            .get("id")
            .and_then(Value::as_str)
            .map(|s| PathId::parse(s).canonical(&PathId::root()))
        else {
            return Err(ApiError::invalid_json(&[Violation::new(
                format!("{prefix}/id"),
                "error.path.missing",
            )]));
        };
        let current = root.app(&id);
        if current.is_none() && !allow_create {
            return Err(ApiError::app_not_found(&id));
        }
        let value = match current {
            Some(cur) if partial => merge_app_update(cur, obj),
            _ => item.clone(),
        };
        let app = read_app(value, Some(&id), &PathId::root(), &state.info().mesos_role)
            .map_err(|e| e.under(&prefix))?;
        apps.push(app);
    }
    let now = Timestamp::now();
    let view = deploy::deploy(state, now, |cur| {
        let mut target = cur.clone();
        for a in apps {
            target.put_app(a, now);
        }
        Ok(Change::new(target, force))
    })
    .await?;
    Ok(deployment_response(StatusCode::OK, &view, None))
}

/// What the path below `/v2/apps/` names.
#[derive(Debug, PartialEq)]
enum AppPath {
    App(PathId),
    GroupApps(PathId),
    Restart(PathId),
    Tasks(PathId),
    Task(PathId, String),
    Versions(PathId),
    Version(PathId, String),
}

fn split_path(rest: &str, root: &Group) -> AppPath {
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let id_of = |n: usize| PathId::parse(&format!("/{}", segs[..n].join("/")));
    let n = segs.len();
    let full = id_of(n);
    match segs.last().copied() {
        Some("*") => return AppPath::GroupApps(id_of(n - 1)),
        Some("restart") if n > 1 => return AppPath::Restart(id_of(n - 1)),
        Some("tasks") if n > 1 => return AppPath::Tasks(id_of(n - 1)),
        Some("versions") if n > 1 => return AppPath::Versions(id_of(n - 1)),
        _ => {}
    }
    if n >= 3 {
        let prefix = id_of(n - 2);
        let owner_exists = root.app(&prefix).is_some() || root.app(&full).is_none();
        match segs[n - 2] {
            "tasks" if owner_exists => return AppPath::Task(prefix, segs[n - 1].to_string()),
            "versions" if owner_exists => return AppPath::Version(prefix, segs[n - 1].to_string()),
            _ => {}
        }
    }
    AppPath::App(full)
}

/// Everything under `/v2/apps/{id…}`.
pub(crate) async fn member(
    State(state): State<ApiState>,
    axum::extract::Path(rest): axum::extract::Path<String>,
    req: Request,
) -> ApiResult {
    let req = read_request(req).await?;
    let root = state.root();
    let not_allowed = || {
        Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "HTTP 405 Method Not Allowed",
        ))
    };
    match (split_path(&rest, &root), &req.method) {
        (AppPath::App(id), &Method::GET) => show(&state, &root, &id, &req),
        (AppPath::App(id), &Method::PUT) => {
            update(
                &state,
                &id,
                &req,
                req.query.bool("partialUpdate", true)?,
                true,
            )
            .await
        }
        (AppPath::App(id), &Method::PATCH) => update(&state, &id, &req, true, false).await,
        (AppPath::App(id), &Method::DELETE) => destroy(&state, &id, &req).await,
        (AppPath::GroupApps(g), &Method::GET) => group_apps(&state, &root, &g, &req),
        (AppPath::Restart(id), &Method::POST) => restart(&state, &id, &req).await,
        (AppPath::Tasks(id), &Method::GET) => app_tasks(&state, &root, &id, &req),
        (AppPath::Tasks(id), &Method::DELETE) => {
            kill_app_tasks(&state, &root, &id, None, &req).await
        }
        (AppPath::Task(id, task), &Method::DELETE) => {
            kill_app_tasks(&state, &root, &id, Some(&task), &req).await
        }
        (AppPath::Versions(id), &Method::GET) => versions(&state, &root, &id),
        (AppPath::Version(id, v), &Method::GET) => version(&state, &id, &v),
        _ => not_allowed(),
    }
}

fn show(state: &ApiState, root: &Group, id: &PathId, req: &Req) -> ApiResult {
    let app = root.app(id).ok_or_else(|| ApiError::app_not_found(id))?;
    let mut embed = parse_embed(&req.query.all("embed"));
    embed.tasks = true;
    embed.last_task_failure = true;
    let status = state.backend().app_status(id, embed);
    Ok(axum::Json(json!({ "app": AppInfo::new(app, &status, embed) })).into_response())
}

fn group_apps(state: &ApiState, root: &Group, group: &PathId, req: &Req) -> ApiResult {
    let g = root
        .group(group)
        .ok_or_else(|| ApiError::group_not_found(group))?;
    let apps = g.transitive_apps();
    let embed = parse_embed(&req.query.all("embed"));
    let infos = app_infos(state, &apps, embed);
    let list: Vec<AppInfo<'_>> = infos
        .iter()
        .map(|(a, s)| AppInfo::new(a, s, embed))
        .collect();
    Ok(axum::Json(json!({ "*": list })).into_response())
}

async fn update(
    state: &ApiState,
    id: &PathId,
    req: &Req,
    partial: bool,
    allow_create: bool,
) -> ApiResult {
    let body = json_body(&req.body)?;
    let obj = require_object(&body)?;
    let force = req.query.bool("force", false)?;
    let now = Timestamp::now();
    let root = state.root();
    let existing = root.app(id).cloned();
    if existing.is_none() && !allow_create {
        return Err(ApiError::app_not_found(id));
    }
    if is_version_rollback(obj) {
        let raw = obj
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let v = Timestamp::parse(raw)
            .map_err(|e| ApiError::invalid_json(&[Violation::new("/version", e.to_string())]))?;
        let old = state.store().app_version(id, v)?.ok_or_else(|| {
            ApiError::not_found(format!("App '{id}' does not exist in version {v}"))
        })?;
        let view = deploy::deploy(state, now, |cur| {
            let mut target = cur.clone();
            target.put_app(old, now);
            Ok(Change::new(target, force))
        })
        .await?;
        return Ok(deployment_response(StatusCode::OK, &view, None));
    }
    let value = match &existing {
        Some(cur) if partial => merge_app_update(cur, obj),
        _ => body.clone(),
    };
    let app = read_app(value, Some(id), &PathId::root(), &state.info().mesos_role)?;
    let created = existing.is_none();
    let view = deploy::deploy(state, now, |cur| {
        let mut target = cur.clone();
        target.put_app(app, now);
        Ok(Change::new(target, force))
    })
    .await?;
    if let Some(stored) = state.root().app(id) {
        post_event(state, req, stored, now);
    }
    if created {
        Ok(deployment_response(
            StatusCode::CREATED,
            &view,
            Some(&id.to_string()),
        ))
    } else {
        Ok(deployment_response(StatusCode::OK, &view, None))
    }
}

async fn destroy(state: &ApiState, id: &PathId, req: &Req) -> ApiResult {
    let force = req.query.bool("force", true)?;
    let now = Timestamp::now();
    let view = deploy::deploy(state, now, |cur| {
        let mut target = cur.clone();
        target
            .remove_app(id)
            .ok_or_else(|| ApiError::app_not_found(id))?;
        Ok(Change::new(target, force))
    })
    .await?;
    Ok(deployment_response(StatusCode::OK, &view, None))
}

async fn restart(state: &ApiState, id: &PathId, req: &Req) -> ApiResult {
    let force = req.query.bool("force", false)?;
    let now = Timestamp::now();
    let view = deploy::deploy(state, now, |cur| {
        if cur.app(id).is_none() {
            return Err(ApiError::app_not_found(id));
        }
        let mut change = Change::new(cur.clone(), force);
        change.request.restart = vec![id.clone()];
        Ok(change)
    })
    .await?;
    Ok(deployment_response(StatusCode::OK, &view, None))
}

fn tasks_of(state: &ApiState, id: &PathId) -> Vec<TaskView> {
    state
        .backend()
        .tasks()
        .into_iter()
        .filter(|t| t.app_id == *id)
        .collect()
}

fn app_tasks(state: &ApiState, root: &Group, id: &PathId, req: &Req) -> ApiResult {
    let Some(app) = root.app(id) else {
        return Err(ApiError::app_not_found(id));
    };
    if super::tasks::wants_text(&req.headers) {
        let text = super::tasks::endpoints_text(&[app], &tasks_of(state, id));
        return Ok(super::tasks::text_response(text));
    }
    Ok(axum::Json(json!({ "tasks": tasks_of(state, id) })).into_response())
}

/// Scales apps down by killing exactly `tasks`: one deployment.
pub(crate) async fn scale_down(
    state: &ApiState,
    tasks: &[TaskView],
    force: bool,
    now: Timestamp,
) -> ApiResult {
    let view = deploy::deploy(state, now, |cur| {
        let mut target = cur.clone();
        let mut counts: std::collections::BTreeMap<&PathId, i64> = Default::default();
        for t in tasks {
            *counts.entry(&t.app_id).or_default() += 1;
        }
        for (app, n) in counts {
            if let Some(a) = target
                .group_mut(&app.parent())
                .and_then(|g| g.apps.get_mut(app))
            {
                a.instances = (a.instances - n).max(0);
            }
        }
        let mut change = Change::new(target, force);
        change.request.kill = tasks.iter().map(|t| t.id.clone()).collect();
        Ok(change)
    })
    .await?;
    Ok(deployment_response(StatusCode::OK, &view, None))
}

async fn kill_app_tasks(
    state: &ApiState,
    root: &Group,
    id: &PathId,
    task: Option<&str>,
    req: &Req,
) -> ApiResult {
    let scale = req.query.bool("scale", false)?;
    let wipe = req.query.bool("wipe", false)?;
    let force = req.query.bool("force", false)?;
    if scale && wipe {
        return Err(ApiError::bad_request(
            "You cannot use scale and wipe at the same time.",
        ));
    }
    if root.app(id).is_none() {
        return Err(ApiError::app_not_found(id));
    }
    let host = req.query.get("host").filter(|h| !h.is_empty() && *h != "*");
    let mut tasks: Vec<TaskView> = tasks_of(state, id)
        .into_iter()
        .filter(|t| host.is_none_or(|h| t.host == h))
        .collect();
    if let Some(task_id) = task {
        tasks.retain(|t| t.id == task_id);
        if tasks.is_empty() {
            return Err(ApiError::not_found(format!(
                "Task '{task_id}' does not exist"
            )));
        }
    }
    let now = Timestamp::now();
    if scale {
        return scale_down(state, &tasks, force, now).await;
    }
    let ids: Vec<String> = tasks.iter().map(|t| t.id.clone()).collect();
    let killed = state.backend().kill_tasks(&ids, wipe, now)?;
    match task {
        Some(_) => {
            let one = killed
                .into_iter()
                .next()
                .or_else(|| tasks.into_iter().next());
            Ok(axum::Json(json!({ "task": one })).into_response())
        }
        None => Ok(axum::Json(json!({ "tasks": killed })).into_response()),
    }
}

fn versions(state: &ApiState, root: &Group, id: &PathId) -> ApiResult {
    if root.app(id).is_none() {
        return Err(ApiError::app_not_found(id));
    }
    let versions = state.store().app_versions(id)?;
    Ok(axum::Json(json!({ "versions": versions })).into_response())
}

fn version(state: &ApiState, id: &PathId, raw: &str) -> ApiResult {
    let not_found = || ApiError::not_found(format!("App '{id}' does not exist in version {raw}"));
    let v = Timestamp::parse(raw).map_err(|_| not_found())?;
    let app = state.store().app_version(id, v)?.ok_or_else(not_found)?;
    Ok(axum::Json(app).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_resources_are_split_off_the_id() {
        let t = Timestamp::ZERO;
        let mut root = Group::empty_root(t);
        root.put_app(AppDefinition::command("/prod/web", "x"), t);
        root.put_app(AppDefinition::command("/x/tasks/y", "x"), t);
        let p = |s: &str| PathId::parse(s);
        assert_eq!(split_path("prod/web", &root), AppPath::App(p("/prod/web")));
        assert_eq!(
            split_path("prod/web/restart", &root),
            AppPath::Restart(p("/prod/web"))
        );
        assert_eq!(
            split_path("prod/web/tasks", &root),
            AppPath::Tasks(p("/prod/web"))
        );
        assert_eq!(
            split_path("prod/web/tasks/prod_web.1", &root),
            AppPath::Task(p("/prod/web"), "prod_web.1".into())
        );
        assert_eq!(
            split_path("prod/web/versions", &root),
            AppPath::Versions(p("/prod/web"))
        );
        assert_eq!(
            split_path("prod/web/versions/2015-01-01T00:00:00.000Z", &root),
            AppPath::Version(p("/prod/web"), "2015-01-01T00:00:00.000Z".into())
        );
        assert_eq!(split_path("prod/*", &root), AppPath::GroupApps(p("/prod")));
        // An app whose id has a `tasks` segment is still reachable.
        assert_eq!(
            split_path("x/tasks/y", &root),
            AppPath::App(p("/x/tasks/y"))
        );
    }

    #[test]
    fn embed_prefixes() {
        let e = parse_embed(&[
            "apps.tasks",
            "app.lastTaskFailure",
            "group.apps.taskStats",
            "readiness",
        ]);
        assert!(e.tasks && e.last_task_failure && e.task_stats && e.readiness);
        let e = parse_embed(&["apps.failures"]);
        assert!(e.tasks && e.last_task_failure && !e.task_stats);
        assert_eq!(
            parse_embed(&["apps.counts", "apps.deployments"]),
            AppEmbed::default()
        );
    }
}
