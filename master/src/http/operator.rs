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

/// Serializes a view to a JSON response.
fn json_bytes(v: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(v) {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

pub async fn state(State(shared): State<Arc<Shared>>) -> Response {
    let hub = shared.lock();
    let m = &hub.core;
    let grouped = state_json::ByFramework::new(m);
    let slaves: Vec<_> = m
        .agents
        .values()
        .filter(|a| a.reachable)
        .map(|a| state_json::agent(m, a))
        .collect();
    let frameworks: Vec<_> = m
        .frameworks
        .values()
        .map(|f| state_json::framework(m, f, Some(&grouped), false))
        .collect();
    let completed: Vec<_> = m
        .completed_frameworks
        .iter()
        .map(|f| state_json::framework(m, f, Some(&grouped), true))
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
    #[derive(serde::Serialize)]
    struct StateView<'a> {
        version: &'static str,
        paddock_version: &'static str,
        build_date: &'static str,
        build_time: u32,
        build_user: &'static str,
        start_time: f64,
        elected_time: f64,
        id: &'a str,
        pid: &'a str,
        hostname: &'a str,
        activated_slaves: usize,
        deactivated_slaves: usize,
        unreachable_slaves: usize,
        leader: &'a str,
        leader_info: paddock_proto::mesos::MasterInfo,
        capabilities: [&'static str; 2],
        flags: Value,
        slaves: Vec<state_json::AgentView<'a>>,
        recovered_slaves: [(); 0],
        frameworks: Vec<state_json::FrameworkView<'a>>,
        completed_frameworks: Vec<state_json::FrameworkView<'a>>,
        orphan_tasks: [(); 0],
        unregistered_frameworks: [(); 0],
    }
    json_bytes(&StateView {
        version: paddock_proto::MESOS_COMPAT_VERSION,
        paddock_version: paddock_proto::PADDOCK_VERSION,
        build_date: "",
        build_time: 0,
        build_user: "paddock",
        start_time: m.start_time,
        elected_time: m.start_time,
        id: &m.id,
        pid: &pid,
        hostname: &shared.hostname,
        activated_slaves: activated,
        deactivated_slaves: deactivated,
        unreachable_slaves: unreachable,
        leader: &pid,
        leader_info: info,
        capabilities: ["AGENT_UPDATE", "AGENT_DRAINING"],
        flags: flags_json(m),
        slaves,
        recovered_slaves: [],
        frameworks,
        completed_frameworks: completed,
        orphan_tasks: [],
        unregistered_frameworks: [],
    })
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

pub async fn slaves(State(shared): State<Arc<Shared>>) -> Response {
    let hub = shared.lock();
    let m = &hub.core;
    let slaves: Vec<_> = m
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
    #[derive(serde::Serialize)]
    struct Slaves<'a> {
        slaves: Vec<state_json::AgentView<'a>>,
        recovered_slaves: [(); 0],
        unreachable_slaves: Vec<Value>,
    }
    json_bytes(&Slaves {
        slaves,
        recovered_slaves: [],
        unreachable_slaves: unreachable,
    })
}

pub async fn frameworks(State(shared): State<Arc<Shared>>) -> Response {
    let hub = shared.lock();
    let m = &hub.core;
    let grouped = state_json::ByFramework::new(m);
    let frameworks: Vec<_> = m
        .frameworks
        .values()
        .map(|f| state_json::framework(m, f, Some(&grouped), false))
        .collect();
    let completed: Vec<_> = m
        .completed_frameworks
        .iter()
        .map(|f| state_json::framework(m, f, Some(&grouped), true))
        .collect();
    #[derive(serde::Serialize)]
    struct Frameworks<'a> {
        frameworks: Vec<state_json::FrameworkView<'a>>,
        completed_frameworks: Vec<state_json::FrameworkView<'a>>,
        unregistered_frameworks: [(); 0],
    }
    json_bytes(&Frameworks {
        frameworks,
        completed_frameworks: completed,
        unregistered_frameworks: [],
    })
}

/// `/master/tasks?limit=&offset=&order=asc|des&framework_id=&task_id=`,
/// Mesos-style paging (default limit 100, newest first).
pub async fn tasks(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
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
    let mut all: Vec<&crate::core::Task> = m
        .tasks
        .values()
        .chain(m.completed_tasks.iter())
        .map(|t| &**t)
        .collect();
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
    let tasks: Vec<_> = all
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(state_json::task)
        .collect();
    #[derive(serde::Serialize)]
    struct Page<'a> {
        tasks: Vec<state_json::TaskView<'a>>,
    }
    Ok(json_bytes(&Page { tasks }))
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
