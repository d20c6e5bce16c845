//! The v0 JSON shapes of `/master/state` and friends (Mesos
//! `readonly_handler.cpp`): flat resource maps, tasks nested under their
//! frameworks.

use serde_json::{json, Value};

use paddock_proto::resources::{attributes_flat_json, Resources};

use crate::core::{Agent, Framework, Master, Task};

pub fn task(t: &Task) -> Value {
    let executor_id = t
        .info
        .executor
        .as_ref()
        .map(|e| e.executor_id.value.clone())
        .unwrap_or_default();
    let statuses: Vec<Value> = t
        .statuses
        .iter()
        .map(|(state, ts)| json!({"state": state.as_str(), "timestamp": ts}))
        .collect();
    let mut v = json!({
        "id": t.info.task_id.value,
        "name": t.info.name,
        "framework_id": t.framework_id.value,
        "executor_id": executor_id,
        "slave_id": t.agent_id.value,
        "agent_id": t.agent_id.value,
        "state": t.state.as_str(),
        "resources": t.resources.to_flat_json(),
        "role": t.role,
        "statuses": statuses,
    });
    if let Some(obj) = v.as_object_mut() {
        if let Some(l) = &t.info.labels {
            obj.insert(
                "labels".into(),
                serde_json::to_value(&l.labels).unwrap_or(Value::Null),
            );
        }
        if let Some(d) = &t.info.discovery {
            obj.insert("discovery".into(), d.clone());
        }
        if let Some(c) = &t.info.container {
            obj.insert("container".into(), c.clone());
        }
        if let Some(s) = &t.last_status {
            if let Some(h) = s.healthy {
                obj.insert("healthy".into(), Value::Bool(h));
            }
        }
    }
    v
}

pub fn agent(m: &Master, a: &Agent) -> Value {
    let (used, offered) = m
        .allocator
        .agent_totals(&a.id)
        .map(|(_, u, o)| (u, o))
        .unwrap_or_default();
    let mut v = json!({
        "id": a.id.value,
        "hostname": a.hostname,
        "port": a.port,
        "pid": format!("slave(1)@{}:{}", a.ip, a.port),
        "attributes": attributes_flat_json(&a.attributes),
        "registered_time": a.registered_time,
        "resources": a.total.to_flat_json(),
        "used_resources": used.to_flat_json(),
        "offered_resources": offered.to_flat_json(),
        "reserved_resources": {},
        "unreserved_resources": a.total.to_flat_json(),
        "active": a.connected && a.reachable,
        "deactivated": false,
        "version": a.version,
        "capabilities": [],
    });
    if let (Some(t), Some(obj)) = (a.reregistered_time, v.as_object_mut()) {
        obj.insert("reregistered_time".into(), json!(t));
    }
    v
}

pub fn framework(m: &Master, f: &Framework, with_tasks: bool) -> Value {
    let (used, offered) = m.allocator.framework_allocation(&f.id);
    let mut v = json!({
        "id": f.id.value,
        "name": f.info.name,
        "user": f.info.user,
        "role": f.role,
        "hostname": f.info.hostname.clone().unwrap_or_default(),
        "webui_url": f.info.webui_url.clone().unwrap_or_default(),
        "principal": f.info.principal,
        "capabilities": f.info.capabilities.iter().map(|c| c.kind.clone()).collect::<Vec<_>>(),
        "active": f.active,
        "connected": f.connected,
        "recovered": f.recovered,
        "failover_timeout": f.info.failover_timeout.unwrap_or(0.0),
        "checkpoint": f.info.checkpoint.unwrap_or(false),
        "registered_time": f.registered_time,
        "unregistered_time": f.unregistered_time.unwrap_or(0.0),
        "used_resources": used.to_flat_json(),
        "offered_resources": offered.to_flat_json(),
        "resources": used.plus(&offered).to_flat_json(),
        "drf_share": m.allocator.framework_share(&f.id),
    });
    if let Some(obj) = v.as_object_mut() {
        if let Some(t) = f.reregistered_time {
            obj.insert("reregistered_time".into(), json!(t));
        }
        if with_tasks {
            let tasks: Vec<Value> = m
                .tasks
                .values()
                .filter(|t| {
                    t.framework_id == f.id
                        && t.state != paddock_proto::mesos::TaskState::TaskUnreachable
                })
                .map(task)
                .collect();
            let unreachable: Vec<Value> = m
                .tasks
                .values()
                .filter(|t| {
                    t.framework_id == f.id
                        && t.state == paddock_proto::mesos::TaskState::TaskUnreachable
                })
                .map(task)
                .collect();
            let completed: Vec<Value> = m
                .completed_tasks
                .iter()
                .filter(|t| t.framework_id == f.id)
                .map(task)
                .collect();
            let offers: Vec<Value> = m
                .offers
                .values()
                .filter(|o| o.offer.framework_id == f.id)
                .map(|o| {
                    json!({
                        "id": o.offer.id.value,
                        "framework_id": f.id.value,
                        "slave_id": o.offer.agent_id.value,
                        "resources": o.resources.to_flat_json(),
                    })
                })
                .collect();
            obj.insert("tasks".into(), Value::Array(tasks));
            obj.insert("unreachable_tasks".into(), Value::Array(unreachable));
            obj.insert("completed_tasks".into(), Value::Array(completed));
            obj.insert("offers".into(), Value::Array(offers));
            obj.insert("executors".into(), Value::Array(Vec::new()));
        }
    }
    v
}

pub fn completed_framework(m: &Master, f: &Framework) -> Value {
    let mut v = framework(m, f, false);
    if let Some(obj) = v.as_object_mut() {
        let completed: Vec<Value> = m
            .completed_tasks
            .iter()
            .filter(|t| t.framework_id == f.id)
            .map(task)
            .collect();
        obj.insert("tasks".into(), Value::Array(Vec::new()));
        obj.insert("completed_tasks".into(), Value::Array(completed));
        obj.insert("offers".into(), Value::Array(Vec::new()));
        obj.insert("executors".into(), Value::Array(Vec::new()));
        obj.insert("used_resources".into(), Resources::new().to_flat_json());
    }
    v
}
