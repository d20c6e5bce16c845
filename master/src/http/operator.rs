//! Operator endpoints: `/version`, `/health`, `/master/state` and its
//! slices, `/flags`, `/redirect`, and the operator task kill.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use paddock_proto::mesos::TaskId;
use serde_json::{json, Value};

use super::errors::ApiError;
use super::scheduler::master_info;
use super::state_json;
use crate::core::tasks::TaskError;
use crate::server::Shared;

pub async fn version() -> Json<Value> {
    Json(json!({
        "version": paddock_proto::MESOS_COMPAT_VERSION,
        "build_user": "paddock",
        "build_date": "",
        "build_time": 0,
        "git_sha": "",
        "git_tag": "",
        "paddock_version": paddock_proto::PADDOCK_VERSION,
    }))
}

pub async fn health() -> StatusCode {
    StatusCode::OK
}

pub async fn state(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let hub = shared.lock();
    let m = &hub.core;
    let slaves: Vec<Value> = m
        .agents
        .values()
        .filter(|a| a.reachable)
        .map(|a| state_json::agent(m, a))
        .collect();
    let frameworks: Vec<Value> = m
        .frameworks
        .values()
        .map(|f| state_json::framework(m, f, true))
        .collect();
    let completed: Vec<Value> = m
        .completed_frameworks
        .iter()
        .map(|f| state_json::completed_framework(m, f))
        .collect();
    let activated = m
        .agents
        .values()
        .filter(|a| a.connected && a.reachable)
        .count();
    let deactivated = m
        .agents
        .values()
        .filter(|a| !a.connected && a.reachable)
        .count();
    let unreachable = m.agents.values().filter(|a| !a.reachable).count();
    let pid = shared.master_pid();
    let info = master_info(&shared, &m.id);
    Json(json!({
        "version": paddock_proto::MESOS_COMPAT_VERSION,
        "paddock_version": paddock_proto::PADDOCK_VERSION,
        "build_date": "",
        "build_time": 0,
        "build_user": "paddock",
        "start_time": m.start_time,
        "elected_time": m.start_time,
        "id": m.id,
        "pid": pid,
        "hostname": shared.hostname,
        "activated_slaves": activated,
        "deactivated_slaves": deactivated,
        "unreachable_slaves": unreachable,
        "leader": pid,
        "leader_info": info,
        "capabilities": ["AGENT_UPDATE", "AGENT_DRAINING"],
        "flags": flags_json(m),
        "slaves": slaves,
        "recovered_slaves": [],
        "frameworks": frameworks,
        "completed_frameworks": completed,
        "orphan_tasks": [],
        "unregistered_frameworks": [],
    }))
}

fn flags_json(m: &crate::core::Master) -> Value {
    let c = &m.config;
    json!({
        "agent_ping_timeout": format!("{}secs", c.agent_heartbeat.as_secs_f64()),
        "agent_reregister_timeout": format!("{}secs", c.agent_timeout.as_secs_f64()),
        "allocation_interval": format!("{}secs", c.allocation_interval.as_secs_f64()),
        "offer_timeout": c.offer_timeout.map(|d| format!("{}secs", d.as_secs_f64())).unwrap_or_default(),
        "framework_sorter": "drf",
        "registry": "in_memory",
    })
}

/// `/master/weights`: the configured role weights (Mesos's shape).
pub async fn weights(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let hub = shared.lock();
    let list: Vec<Value> = hub
        .core
        .config
        .weights
        .iter()
        .map(|(role, weight)| json!({"role": role, "weight": weight}))
        .collect();
    Json(Value::Array(list))
}

pub async fn flags(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let hub = shared.lock();
    Json(json!({ "flags": flags_json(&hub.core) }))
}

pub async fn slaves(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let hub = shared.lock();
    let m = &hub.core;
    let slaves: Vec<Value> = m
        .agents
        .values()
        .filter(|a| a.reachable)
        .map(|a| state_json::agent(m, a))
        .collect();
    let unreachable: Vec<Value> = m
        .agents
        .values()
        .filter(|a| !a.reachable)
        .map(|a| json!({"id": a.id.value, "hostname": a.hostname}))
        .collect();
    Json(json!({ "slaves": slaves, "recovered_slaves": [], "unreachable_slaves": unreachable }))
}

pub async fn frameworks(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let hub = shared.lock();
    let m = &hub.core;
    let frameworks: Vec<Value> = m
        .frameworks
        .values()
        .map(|f| state_json::framework(m, f, true))
        .collect();
    let completed: Vec<Value> = m
        .completed_frameworks
        .iter()
        .map(|f| state_json::completed_framework(m, f))
        .collect();
    Json(json!({
        "frameworks": frameworks,
        "completed_frameworks": completed,
        "unregistered_frameworks": [],
    }))
}

/// `/master/tasks?limit=&offset=&order=asc|des&framework_id=&task_id=`,
/// Mesos-style paging (default limit 100, newest first).
pub async fn tasks(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let parse = |key: &str, default: usize| -> Result<usize, ApiError> {
        match q.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| {
                ApiError::bad_request(format!(
                    "query parameter '{key}' must be a non-negative integer, got '{v}'"
                ))
            }),
        }
    };
    let limit = parse("limit", 100)?;
    let offset = parse("offset", 0)?;
    let order = q.get("order").map(String::as_str).unwrap_or("des");
    if order != "asc" && order != "des" {
        return Err(ApiError::bad_request(format!(
            "query parameter 'order' must be 'asc' or 'des', got '{order}'"
        )));
    }
    let hub = shared.lock();
    let m = &hub.core;
    let mut all: Vec<&crate::core::Task> =
        m.tasks.values().chain(m.completed_tasks.iter()).collect();
    if let Some(fw) = q.get("framework_id") {
        all.retain(|t| &t.framework_id.value == fw);
    }
    if let Some(id) = q.get("task_id") {
        all.retain(|t| &t.info.task_id.value == id);
    }
    let started = |t: &crate::core::Task| t.statuses.first().map(|s| s.1).unwrap_or(0.0);
    all.sort_by(|a, b| {
        started(a)
            .total_cmp(&started(b))
            .then_with(|| a.info.task_id.cmp(&b.info.task_id))
    });
    if order == "des" {
        all.reverse();
    }
    let page: Vec<Value> = all
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(state_json::task)
        .collect();
    Ok(Json(json!({ "tasks": page })))
}

pub async fn redirect(State(shared): State<Arc<Shared>>) -> Response {
    let location = format!("//{}", shared.address);
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, location)],
    )
        .into_response()
}

/// `POST /paddock/v1/tasks/{task_id}/kill`: kill a task on its framework's
/// behalf (the framework sees the resulting TASK_KILLED update).
pub async fn kill_task(
    State(shared): State<Arc<Shared>>,
    Path(task_id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    shared
        .with_core(false, |m, _| m.operator_kill(&TaskId::new(task_id)))
        .map_err(|e| match e {
            TaskError::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            TaskError::Terminal(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
        })?;
    Ok((StatusCode::ACCEPTED, Json(json!({}))))
}
