//! `/metrics/snapshot` (Mesos key names, flat JSON) and `/metrics`
//! (the same numbers as Prometheus text).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use paddock_proto::mesos::TaskState;
use paddock_proto::resources::Resources;

use crate::core::Master;
use crate::server::Shared;

fn collect(m: &Master) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let mut put = |k: &str, v: f64| {
        out.insert(k.to_string(), v);
    };
    put("master/elected", 1.0);
    put(
        "master/uptime_secs",
        paddock_proto::mesos::now_secs() - m.start_time,
    );
    let mut total = Resources::new();
    let mut used = Resources::new();
    for a in m.agents.values().filter(|a| a.reachable) {
        total.add(&a.total);
        if let Some((_, u, _)) = m.allocator.agent_totals(&a.id) {
            used.add(&u);
        }
    }
    for r in ["cpus", "mem", "disk", "gpus"] {
        let (t, u) = (total.scalar(r), used.scalar(r));
        put(&format!("master/{r}_total"), t);
        put(&format!("master/{r}_used"), u);
        put(
            &format!("master/{r}_percent"),
            if t > 0.0 { u / t } else { 0.0 },
        );
    }
    let count =
        |f: &dyn Fn(&crate::core::Agent) -> bool| m.agents.values().filter(|a| f(a)).count() as f64;
    put(
        "master/slaves_active",
        count(&|a| a.connected && a.reachable),
    );
    put("master/slaves_connected", count(&|a| a.connected));
    put(
        "master/slaves_disconnected",
        count(&|a| !a.connected && a.reachable),
    );
    put("master/slaves_inactive", 0.0);
    put("master/slaves_unreachable", count(&|a| !a.reachable));
    let fcount = |f: &dyn Fn(&crate::core::Framework) -> bool| {
        m.frameworks.values().filter(|x| f(x)).count() as f64
    };
    put("master/frameworks_active", fcount(&|f| f.active));
    put("master/frameworks_connected", fcount(&|f| f.connected));
    put("master/frameworks_disconnected", fcount(&|f| !f.connected));
    put("master/frameworks_inactive", fcount(&|f| !f.active));
    put("master/outstanding_offers", m.offers.len() as f64);
    for state in [
        TaskState::TaskStaging,
        TaskState::TaskStarting,
        TaskState::TaskRunning,
        TaskState::TaskKilling,
        TaskState::TaskUnreachable,
    ] {
        let n = m.tasks.values().filter(|t| t.state == state).count() as f64;
        let key = state
            .as_str()
            .trim_start_matches("TASK_")
            .to_ascii_lowercase();
        put(&format!("master/tasks_{key}"), n);
    }
    for state in [
        TaskState::TaskFinished,
        TaskState::TaskFailed,
        TaskState::TaskKilled,
        TaskState::TaskLost,
        TaskState::TaskError,
        TaskState::TaskDropped,
        TaskState::TaskGone,
    ] {
        let n = m
            .counters
            .terminal
            .get(state.as_str())
            .copied()
            .unwrap_or(0) as f64;
        let key = state
            .as_str()
            .trim_start_matches("TASK_")
            .to_ascii_lowercase();
        put(&format!("master/tasks_{key}"), n);
    }
    let c = &m.counters;
    put("master/valid_status_updates", c.valid_status_updates as f64);
    put(
        "master/invalid_status_updates",
        c.invalid_status_updates as f64,
    );
    put("master/slave_registrations", c.agent_registrations as f64);
    put(
        "master/slave_reregistrations",
        c.agent_reregistrations as f64,
    );
    put("master/slave_removals", c.agent_removals as f64);
    put("master/messages_launch_tasks", c.tasks_launched as f64);
    put("master/messages_decline_offers", c.offers_declined as f64);
    put("master/offers_sent", c.offers_sent as f64);
    put("master/offers_rescinded", c.offers_rescinded as f64);
    put("allocator/mesos/allocation_runs", c.allocation_runs as f64);
    put("allocator/mesos/allocation_run_ms", c.allocation_last_ms);
    out
}

pub async fn snapshot(State(shared): State<Arc<Shared>>) -> Json<BTreeMap<String, f64>> {
    let hub = shared.lock();
    Json(collect(&hub.core))
}

pub async fn prometheus(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let metrics = {
        let hub = shared.lock();
        collect(&hub.core)
    };
    let mut text = String::new();
    for (k, v) in metrics {
        let name: String = k
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        text.push_str(&format!(
            "# TYPE paddock_{name} gauge\npaddock_{name} {v}\n"
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
