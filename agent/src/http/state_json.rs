//! `/state`: the Mesos agent state shape, frameworks → executors → tasks.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use paddock_proto::mesos::FrameworkId;
use paddock_proto::resources::{attributes_flat_json, Resources};
use serde_json::{json, Value};

use crate::state::{Agent, TaskEntry};

fn task(t: &TaskEntry, agent_id: &str) -> Value {
    let statuses: Vec<Value> = t
        .statuses
        .iter()
        .map(|(s, ts)| json!({"state": s.as_str(), "timestamp": ts}))
        .collect();
    json!({
        "id": t.info.task_id.value,
        "name": t.info.name,
        "framework_id": t.framework_id.value,
        "executor_id": t.executor_id.value,
        "slave_id": agent_id,
        "state": t.state.as_str(),
        "resources": Resources::from_mesos(&t.info.resources).unwrap_or_default().to_flat_json(),
        "statuses": statuses,
    })
}

#[derive(Default)]
struct FwView {
    executors: Vec<Value>,
    completed: Vec<Value>,
}

pub async fn state(State(agent): State<Arc<Agent>>) -> Json<Value> {
    let inner = agent.lock();
    let agent_id = inner
        .agent_id
        .as_ref()
        .map(|a| a.value.clone())
        .unwrap_or_default();
    let mut by_fw: BTreeMap<FrameworkId, FwView> = BTreeMap::new();
    for (cid, c) in &inner.containers {
        let tasks: Vec<&TaskEntry> = c
            .record
            .tasks
            .iter()
            .filter_map(|t| inner.tasks.get(&t.task_id))
            .collect();
        let (live, done): (Vec<&TaskEntry>, Vec<&TaskEntry>) =
            tasks.into_iter().partition(|t| !t.state.is_terminal());
        let queued: Vec<Value> = c
            .queued
            .iter()
            .map(|t| json!({"id": t.task_id.value, "name": t.name}))
            .collect();
        by_fw.entry(c.framework_id()).or_default().executors.push(json!({
            "id": c.executor_id().value,
            "name": c.record.executor.name.clone().unwrap_or_default(),
            "source": c.record.executor.source.clone().unwrap_or_default(),
            "framework_id": c.framework_id().value,
            "container": cid,
            "directory": c.record.sandbox.display().to_string(),
            "resources": Resources::from_mesos(&c.record.executor.resources).unwrap_or_default().to_flat_json(),
            "tasks": live.iter().map(|t| task(t, &agent_id)).collect::<Vec<_>>(),
            "queued_tasks": queued,
            "completed_tasks": done.iter().map(|t| task(t, &agent_id)).collect::<Vec<_>>(),
        }));
    }
    for c in &inner.completed {
        let fw = c.record.framework.id.clone().unwrap_or_default();
        by_fw.entry(fw.clone()).or_default().completed.push(json!({
            "id": c.record.executor.executor_id.value,
            "name": c.record.executor.name.clone().unwrap_or_default(),
            "framework_id": fw.value,
            "container": c.record.container_id,
            "directory": c.record.sandbox.display().to_string(),
            "tasks": [],
            "queued_tasks": [],
            "completed_tasks": c.tasks.iter().map(|t| task(t, &agent_id)).collect::<Vec<_>>(),
        }));
    }
    let mut frameworks = Vec::new();
    let mut completed_frameworks = Vec::new();
    for (fw, view) in by_fw {
        let info = inner.frameworks.get(&fw);
        let v = json!({
            "id": fw.value,
            "name": info.map(|i| i.name.clone()).unwrap_or_default(),
            "user": info.map(|i| i.user.clone()).unwrap_or_default(),
            "role": info.map(|i| i.all_roles().join(",")).unwrap_or_else(|| "*".into()),
            "executors": view.executors,
            "completed_executors": view.completed,
        });
        if info.is_some() {
            frameworks.push(v);
        } else {
            completed_frameworks.push(v);
        }
    }
    let c = &agent.config;
    Json(json!({
        "id": agent_id,
        "pid": agent.pid(),
        "hostname": c.hostname,
        "port": c.port,
        "version": paddock_proto::MESOS_COMPAT_VERSION,
        "paddock_version": paddock_proto::PADDOCK_VERSION,
        "start_time": agent.start_time,
        "master_hostname": c.master.split(':').next().unwrap_or_default(),
        "resources": agent.total.to_flat_json(),
        "attributes": attributes_flat_json(&c.attributes),
        "cgroup_mode": paddock_isolation::cgroups::detect_mode().ok(),
        "flags": {"work_dir": c.work_dir.display().to_string(), "cgroups_root": c.cgroup_root},
        "frameworks": frameworks,
        "completed_frameworks": completed_frameworks,
    }))
}
