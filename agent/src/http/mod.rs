//! The agent's HTTP API: `/state`, `/monitor/statistics`, `/files/*`,
//! `/health`, `/version`, `/metrics/snapshot`, `/flags`, and the executor
//! API at `/api/v1/executor`.

pub mod executor_api;
mod files;
mod images;
mod state_json;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::state::Agent;

pub fn router(agent: Arc<Agent>) -> Router {
    Router::new()
        .route("/api/v1/executor", post(executor_api::call))
        .route("/state", get(state_json::state))
        .route("/state.json", get(state_json::state))
        .route("/slave(1)/state", get(state_json::state))
        .route("/monitor/statistics", get(statistics))
        .route("/monitor/statistics.json", get(statistics))
        .route("/files/read", get(files::read))
        .route("/files/read.json", get(files::read))
        .route("/files/browse", get(files::browse))
        .route("/files/browse.json", get(files::browse))
        .route("/files/download", get(files::download))
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/version", get(version))
        .route("/flags", get(flags))
        .route("/metrics/snapshot", get(metrics))
        .merge(images::routes())
        .fallback(|uri: axum::http::Uri| async move {
            error(
                StatusCode::NOT_FOUND,
                format!("no such endpoint: {}", uri.path()),
            )
        })
        .with_state(agent)
}

/// Every error is JSON naming the problem.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "message": message.into() }))).into_response()
}

async fn version() -> Json<Value> {
    Json(json!({
        "version": paddock_proto::MESOS_COMPAT_VERSION,
        "paddock_version": paddock_proto::PADDOCK_VERSION,
        "build_user": "paddock",
    }))
}

async fn flags(State(agent): State<Arc<Agent>>) -> Json<Value> {
    let c = &agent.config;
    Json(json!({"flags": {
        "master": c.master,
        "port": c.port.to_string(),
        "hostname": c.hostname,
        "work_dir": c.work_dir.display().to_string(),
        "resources": agent.total.to_string(),
        "cgroups_root": c.cgroup_root,
        "executor_reregistration_timeout": format!("{}secs", c.executor_reregister_timeout.as_secs_f64()),
        "containerizers": c.containerizers.join(","),
        "container_disk_watch_interval": format!("{}secs", c.disk_watch_interval.as_secs_f64()),
        "enforce_container_disk_quota": c.enforce_disk_quota.to_string(),
        "network_cni_config_dir": c.cni.config_dir.as_ref().map(|d| d.display().to_string()).unwrap_or_default(),
        "network_cni_plugins_dir": c.cni.plugins_dir.clone().unwrap_or_default(),
        // Where the Docker config came from, never its credentials.
        "docker_config": c.registries.docker_config_source.clone().unwrap_or_default(),
        "insecure_registries": c.registries.insecure_registries.join(","),
        "secrets_dir": c.registries.secrets_dir.as_ref().map(|d| d.display().to_string()).unwrap_or_default(),
    }}))
}

/// Per-container statistics with Mesos's key names.
async fn statistics(State(agent): State<Arc<Agent>>) -> Json<Value> {
    type Row = (String, String, String, String, String, Option<u64>);
    let containers: Vec<Row> = {
        let inner = agent.lock();
        inner
            .containers
            .iter()
            .map(|(cid, c)| {
                (
                    cid.clone(),
                    c.framework_id().value,
                    c.executor_id().value.clone(),
                    c.record.executor.name.clone().unwrap_or_default(),
                    c.record.executor.source.clone().unwrap_or_default(),
                    crate::disk::policy::limit_bytes(&c.record.executor, &c.record.tasks),
                )
            })
            .collect()
    };
    let disk: Vec<Option<crate::disk::Measured>> =
        containers.iter().map(|c| agent.disk.get(&c.0)).collect();
    let root = agent.config.cgroup_root.clone();
    // A Docker task's usage is in its Docker container's cgroup.
    let mut docker = crate::docker::stats::read_all(&agent).await;
    let out = tokio::task::spawn_blocking(move || {
        containers
            .into_iter()
            .zip(disk)
            .filter_map(|((cid, fw, exec, name, source, limit), disk)| {
                let stats = match docker.remove(&cid) {
                    Some(s) => s,
                    None => paddock_isolation::cgroups::Cgroup::open(&root, &cid)
                        .ok()?
                        .stats()
                        .ok()?,
                };
                let mut stats = serde_json::to_value(stats).ok()?;
                // Mesos's posix/disk keys: the limit when there is one, the
                // usage once measured (every --disk-watch-interval).
                if let Some(o) = stats.as_object_mut() {
                    if let Some(l) = limit {
                        o.insert("disk_limit_bytes".into(), json!(l));
                    }
                    if let Some(d) = disk {
                        o.insert("disk_used_bytes".into(), json!(d.used_bytes));
                    }
                }
                Some(json!({
                    "framework_id": fw,
                    "executor_id": exec,
                    "executor_name": name,
                    "source": source,
                    "container_id": cid,
                    "statistics": stats,
                }))
            })
            .collect::<Vec<Value>>()
    })
    .await
    .unwrap_or_default();
    Json(Value::Array(out))
}

async fn metrics(State(agent): State<Arc<Agent>>) -> Json<Value> {
    let inner = agent.lock();
    let count =
        |s: paddock_proto::mesos::TaskState| inner.tasks.values().filter(|t| t.state == s).count();
    use paddock_proto::mesos::TaskState as S;
    let mut used = paddock_proto::resources::Resources::new();
    for t in inner.tasks.values().filter(|t| !t.state.is_terminal()) {
        used.add(
            &paddock_proto::resources::Resources::from_mesos(&t.info.resources).unwrap_or_default(),
        );
    }
    let mut m = serde_json::Map::new();
    m.insert(
        "slave/registered".into(),
        json!(if inner.master_tx.is_some() { 1 } else { 0 }),
    );
    m.insert(
        "slave/uptime_secs".into(),
        json!(paddock_proto::mesos::now_secs() - agent.start_time),
    );
    m.insert("slave/tasks_staging".into(), json!(count(S::TaskStaging)));
    m.insert("slave/tasks_starting".into(), json!(count(S::TaskStarting)));
    m.insert("slave/tasks_running".into(), json!(count(S::TaskRunning)));
    m.insert("slave/tasks_killing".into(), json!(count(S::TaskKilling)));
    m.insert(
        "slave/executors_running".into(),
        json!(inner.containers.len()),
    );
    for r in ["cpus", "mem", "disk"] {
        let (t, u) = (agent.total.scalar(r), used.scalar(r));
        m.insert(format!("slave/{r}_total"), json!(t));
        m.insert(format!("slave/{r}_used"), json!(u));
        m.insert(
            format!("slave/{r}_percent"),
            json!(if t > 0.0 { u / t } else { 0.0 }),
        );
    }
    Json(Value::Object(m))
}
