//! `/v2/tasks` (with the `status` filter) and `POST /v2/tasks/delete`.

use super::apps::{read_request, scale_down};
use super::deploy::json_body;
use super::error::{ApiError, ApiResult};
use super::query::Query;
use super::ApiState;
use crate::model::{AppDefinition, TaskView, Timestamp};
use axum::extract::{RawQuery, Request, State};
use axum::http::{header, HeaderMap};
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

/// True if the client wants the legacy text form (`Accept: text/plain` without JSON).
pub(crate) fn wants_text(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    accept.contains("text/plain") && !accept.contains("application/json")
}

/// Marathon's old `text/plain` task list, still read by load-balancer scripts: one line per
/// app service port, `<app id with / as _>\t<service port>\t<host:port>\t…`, over running tasks.
pub(crate) fn endpoints_text(apps: &[&AppDefinition], tasks: &[TaskView]) -> String {
    let mut out = String::new();
    for app in apps {
        let name = app.id.safe_name();
        let running: Vec<&TaskView> = tasks
            .iter()
            .filter(|t| t.app_id == app.id && t.state == "TASK_RUNNING")
            .collect();
        for (i, service_port) in app.service_ports().iter().enumerate() {
            out.push_str(&format!("{name}\t{service_port}\t"));
            for t in &running {
                if let Some(p) = t.ports.get(i) {
                    out.push_str(&format!("{}:{p}\t", t.host));
                }
            }
            out.push('\n');
        }
    }
    out
}

pub(crate) fn text_response(body: String) -> axum::response::Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

pub(crate) async fn list(
    State(state): State<ApiState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult {
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
    if wants_text(&headers) {
        let root = state.root();
        let mut apps = root.transitive_apps();
        apps.sort_by(|a, b| a.id.cmp(&b.id));
        return Ok(text_response(endpoints_text(&apps, &tasks)));
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PathId, PortDefinition};

    #[test]
    fn text_endpoints_list_running_tasks_per_service_port() {
        let mut app = AppDefinition::command("/prod/web", "x");
        app.port_definitions = Some(vec![PortDefinition::new(10000), PortDefinition::new(10001)]);
        let task = |id: &str, host: &str, state: &str| TaskView {
            id: id.into(),
            app_id: PathId::parse("/prod/web"),
            host: host.into(),
            ports: vec![31000, 31001],
            service_ports: vec![10000, 10001],
            slave_id: "s".into(),
            staged_at: None,
            started_at: None,
            version: Timestamp::ZERO,
            state: state.into(),
            ip_addresses: vec![],
            health_check_results: vec![],
            local_volumes: vec![],
            region: None,
            zone: None,
            role: None,
        };
        let tasks = vec![
            task("a", "h1", "TASK_RUNNING"),
            task("b", "h2", "TASK_STAGING"),
        ];
        assert_eq!(
            endpoints_text(&[&app], &tasks),
            "prod_web\t10000\th1:31000\t\nprod_web\t10001\th1:31001\t\n"
        );
    }
}
