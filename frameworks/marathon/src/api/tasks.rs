//! `/v2/tasks` (with the `status` filter) and `POST /v2/tasks/delete`.

use super::apps::{read_request, scale_down};
use super::deploy::json_body;
use super::error::{ApiError, ApiResult};
use super::query::Query;
use super::ApiState;
use crate::model::{TaskView, Timestamp};
use axum::extract::{RawQuery, Request, State};
use axum::response::IntoResponse;
use serde_json::{json, Value};

/// `status=running` → `TASK_RUNNING`.
fn state_name(status: &str) -> String {
    let s = status.trim().to_ascii_uppercase();
    if s.starts_with("TASK_") {
        s
    } else {
        format!("TASK_{s}")
    }
}

pub(crate) async fn list(State(state): State<ApiState>, RawQuery(raw): RawQuery) -> ApiResult {
    let q = Query::parse(raw.as_deref());
    let wanted: Vec<String> = q
        .all("status")
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(state_name)
        .collect();
    let tasks: Vec<TaskView> = state
        .backend()
        .tasks()
        .into_iter()
        .filter(|t| wanted.is_empty() || wanted.contains(&t.state))
        .collect();
    Ok(axum::Json(json!({ "tasks": tasks })).into_response())
}

pub(crate) async fn delete_many(State(state): State<ApiState>, req: Request) -> ApiResult {
    let req = read_request(req).await?;
    let scale = req.query.bool("scale", false)?;
    let wipe = req.query.bool("wipe", false)?;
    let force = req.query.bool("force", false)?;
    if scale && wipe {
        return Err(ApiError::bad_request(
            "You cannot use scale and wipe at the same time.",
        ));
    }
    let body = json_body(&req.body)?;
    let ids: Vec<String> = match body.get("ids") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                ApiError::invalid_json(&[crate::validate::Violation::new(
                    "/ids",
                    "error.expected.jsstring",
                )])
            })?,
        _ => {
            return Err(ApiError::invalid_json(&[crate::validate::Violation::new(
                "/ids",
                "error.path.missing",
            )]))
        }
    };
    if let Some(bad) = ids
        .iter()
        .find(|id| id.trim().is_empty() || !id.contains('.'))
    {
        return Err(ApiError::bad_request(format!(
            "Invalid task id '{bad}'. [A task id must contain the app id, a separator and a unique part]"
        )));
    }
    let tasks: Vec<TaskView> = state
        .backend()
        .tasks()
        .into_iter()
        .filter(|t| ids.contains(&t.id))
        .collect();
    let now = Timestamp::now();
    if scale {
        return scale_down(&state, &tasks, force, now).await;
    }
    let found: Vec<String> = tasks.iter().map(|t| t.id.clone()).collect();
    let killed = state.backend().kill_tasks(&found, wipe, now)?;
    Ok(axum::Json(json!({ "tasks": killed })).into_response())
}
