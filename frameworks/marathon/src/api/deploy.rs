//! The one path every change to the tree takes: build the target from the current tree,
//! assign service ports, stamp versions, validate, persist, hand it to the scheduler, publish
//! `group_change_success`. Bad input fails before anything is written; a refusal by the
//! scheduler (a lock) puts the stored tree back.

use super::backend::DeployRequest;
use super::error::{ApiError, ApiResult};
use super::ApiState;
use crate::events::MarathonEvent;
use crate::model::{DeploymentResult, DeploymentView, Group, PathId, Timestamp, VersionInfo};
use crate::validate::{self, Violation};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::sync::Arc;

/// A change to deploy: the new tree and how to deploy it.
pub(crate) struct Change {
    pub target: Group,
    pub request: DeployRequest,
}

impl Change {
    pub fn new(target: Group, force: bool) -> Change {
        Change {
            target,
            request: DeployRequest {
                force,
                ..Default::default()
            },
        }
    }
}

/// Prepares `change.target` against `current`: ports, versions, restarts, validation.
fn prepare(current: &Group, change: &mut Change, now: Timestamp) -> Result<(), ApiError> {
    let target = &mut change.target;
    target
        .assign_service_ports(current)
        .map_err(|e| ApiError::invalid(&[Violation::new("/", e.to_string())]))?;
    target.stamp_versions(current, now);
    for id in &change.request.restart {
        if let Some(app) = target
            .group_mut(&id.parent())
            .and_then(|g| g.apps.get_mut(id))
        {
            app.version = now;
            app.version_info = Some(VersionInfo {
                last_scaling_at: now,
                last_config_change_at: now,
            });
        }
        let mut g = id.parent();
        loop {
            if let Some(group) = target.group_mut(&g) {
                group.version = now;
            }
            if g.is_root() {
                break;
            }
            g = g.parent();
        }
    }
    let violations = validate::validate_root(target);
    if !violations.is_empty() {
        return Err(ApiError::invalid(&violations));
    }
    Ok(())
}

/// Runs a change built from the current tree by `build`. Returns the deployment.
pub(crate) async fn deploy(
    state: &ApiState,
    now: Timestamp,
    build: impl FnOnce(&Group) -> Result<Change, ApiError>,
) -> Result<DeploymentView, ApiError> {
    let _write = state.0.write.lock().await;
    let current = state.root();
    let mut change = build(&current)?;
    prepare(&current, &mut change, now)?;
    let target = Arc::new(change.target);
    let saved = state.store().save_root(&target)?;
    match state.backend().deploy(target.clone(), change.request, now) {
        Ok(view) => {
            state.set_root(target.clone());
            state.events().publish(
                &MarathonEvent::GroupChangeSuccess {
                    group_id: PathId::root(),
                    version: target.version,
                },
                now,
            );
            Ok(view)
        }
        Err(e) => {
            if let Err(restore) = state.store().revert(saved, &current) {
                tracing::error!(error = %restore, "could not restore the stored tree after a refused deployment");
            }
            Err(e.into())
        }
    }
}

/// The steps a change would take, without deploying it (`dryRun=true`).
pub(crate) async fn preview(
    state: &ApiState,
    now: Timestamp,
    build: impl FnOnce(&Group) -> Result<Change, ApiError>,
) -> Result<Vec<crate::model::DeploymentStep>, ApiError> {
    let current = state.root();
    let mut change = build(&current)?;
    prepare(&current, &mut change, now)?;
    Ok(state.backend().preview(&change.target, now))
}

/// Swaps in a tree computed under the write lock by the scheduler's rollback.
pub(crate) async fn cancel(state: &ApiState, id: &str, force: bool, now: Timestamp) -> ApiResult {
    let _write = state.0.write.lock().await;
    let deployment = state
        .backend()
        .deployments()
        .into_iter()
        .find(|d| d.id == id)
        .ok_or_else(|| ApiError::not_found(format!("DeploymentPlan {id} does not exist")))?;
    if force {
        state.backend().cancel_deployment(id, None, now)?;
        return Ok(StatusCode::ACCEPTED.into_response());
    }
    let current = state.root();
    // The tree before the deployment: the newest stored tree older than it.
    let before = state
        .store()
        .root_versions()?
        .into_iter()
        .find(|v| *v < deployment.version);
    let original = match before {
        Some(v) => state
            .store()
            .root_at(v)?
            .unwrap_or_else(|| Group::empty_root(Timestamp::ZERO)),
        None => Group::empty_root(Timestamp::ZERO),
    };
    let mut target = (*current).clone();
    for app in &deployment.affected_apps {
        match original.app(app) {
            Some(old) => target.put_app(old.clone(), now),
            None => {
                target.remove_app(app);
            }
        }
    }
    let mut change = Change::new(target, true);
    prepare(&current, &mut change, now)?;
    let target = Arc::new(change.target);
    let saved = state.store().save_root(&target)?;
    match state
        .backend()
        .cancel_deployment(id, Some(target.clone()), now)
    {
        Ok(view) => {
            state.set_root(target.clone());
            let view = view.unwrap_or(DeploymentView {
                id: id.to_string(),
                version: now,
                affected_apps: Vec::new(),
                affected_pods: Vec::new(),
                steps: Vec::new(),
                current_actions: Vec::new(),
                current_step: 0,
                total_steps: 0,
            });
            Ok(deployment_response(StatusCode::OK, &view, None))
        }
        Err(e) => {
            if let Err(restore) = state.store().revert(saved, &current) {
                tracing::error!(error = %restore, "could not restore the stored tree after a refused rollback");
            }
            Err(e.into())
        }
    }
}

/// `{"deploymentId","version"}` with the `Marathon-Deployment-Id` header (and `Location`).
pub(crate) fn deployment_response(
    status: StatusCode,
    view: &DeploymentView,
    location: Option<&str>,
) -> Response {
    let body = DeploymentResult {
        deployment_id: view.id.clone(),
        version: view.version,
    };
    let mut headers = HeaderMap::new();
    deployment_headers(&mut headers, &view.id, location);
    (status, headers, axum::Json(body)).into_response()
}

pub(crate) fn deployment_headers(headers: &mut HeaderMap, id: &str, location: Option<&str>) {
    if let Ok(v) = HeaderValue::from_str(id) {
        headers.insert("Marathon-Deployment-Id", v);
    }
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        headers.insert(header::LOCATION, l);
    }
}

/// Reads a JSON body: 400 if it is not JSON.
pub(crate) fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    validate::parse_json(body).map_err(|e| ApiError::malformed(&e.0))
}

/// The client's address for `api_post_event` (connection info if the server provides it).
pub(crate) fn client_ip(req_headers: &HeaderMap, ext: &axum::http::Extensions) -> String {
    if let Some(ci) = ext.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>() {
        return ci.0.ip().to_string();
    }
    req_headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "127.0.0.1".into())
}
