//! `/v2/deployments` (list, cancel with rollback or force-stop) and `/v2/queue` (list, reset
//! the launch delay).

use super::deploy;
use super::error::{ApiError, ApiResult};
use super::query::Query;
use super::ApiState;
use crate::model::{PathId, Timestamp};
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use serde_json::json;

pub(crate) async fn list(State(state): State<ApiState>) -> ApiResult {
    Ok(axum::Json(state.backend().deployments()).into_response())
}

pub(crate) async fn member(
    State(state): State<ApiState>,
    method: Method,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    match method {
        Method::DELETE => {
            deploy::cancel(&state, &id, q.bool("force", false)?, Timestamp::now()).await
        }
        Method::GET => state
            .backend()
            .deployments()
            .into_iter()
            .find(|d| d.id == id)
            .map(|d| axum::Json(d).into_response())
            .ok_or_else(|| ApiError::not_found(format!("DeploymentPlan {id} does not exist"))),
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "HTTP 405 Method Not Allowed",
        )),
    }
}

pub(crate) async fn queue(State(state): State<ApiState>, RawQuery(raw): RawQuery) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let offers = q
        .all("embed")
        .iter()
        .any(|e| *e == "lastUnusedOffers" || *e == "queue.lastUnusedOffers");
    let items = state.backend().queue(Timestamp::now(), offers);
    Ok(axum::Json(json!({ "queue": items })).into_response())
}

/// `DELETE /v2/queue/{app…}/delay`.
pub(crate) async fn queue_member(
    State(state): State<ApiState>,
    method: Method,
    Path(rest): Path<String>,
) -> ApiResult {
    let Some(app) = rest
        .trim_end_matches('/')
        .strip_suffix("/delay")
        .or_else(|| rest.strip_suffix("delay"))
    else {
        return Err(ApiError::not_found("URI not found"));
    };
    if method != Method::DELETE {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "HTTP 405 Method Not Allowed",
        ));
    }
    let id = PathId::parse(&format!("/{app}"));
    let in_queue = state
        .backend()
        .queue(Timestamp::now(), false)
        .iter()
        .any(|i| i.app.id == id);
    if !in_queue {
        return Err(ApiError::not_found(format!(
            "Application {id} not found in tasks queue."
        )));
    }
    state.backend().reset_delay(&id, Timestamp::now())?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
