//! The v0 JSON shapes of `/master/state` and friends (Mesos
//! `readonly_handler.cpp`): flat resource maps, tasks nested under their
//! frameworks.
//!
//! Views borrow from the core and serialize straight to bytes: at 100k tasks
//! an intermediate `serde_json::Value` tree cost seconds and hundreds of MB.

use std::borrow::Cow;
use std::collections::HashMap;

use paddock_proto::container::NetworkInfo;
use paddock_proto::mesos::{FrameworkId, Label, TaskState};
use paddock_proto::resources::{attributes_flat_json, Resources};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::core::{Agent, Framework, Master, Task};

/// Resources as Mesos's flat v0 map: `{"cpus":4,"mem":4096,"ports":"[…]"}`.
pub struct Flat<'a>(pub Cow<'a, Resources>);

impl Serialize for Flat<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = &*self.0;
        let mut m = s.serialize_map(None)?;
        for base in ["cpus", "disk", "gpus", "mem"] {
            m.serialize_entry(base, &r.scalar(base))?;
        }
        for (k, v) in r.scalars() {
            if !["cpus", "disk", "gpus", "mem"].contains(&k) {
                m.serialize_entry(k, &v)?;
            }
        }
        for name in r.range_names() {
            if let Some(set) = r.range_set(name) {
                m.serialize_entry(name, &set.to_string())?;
            }
        }
        m.end()
    }
}

/// A task's statuses; its TASK_RUNNING ones carry the container's networks
/// (`container_status.network_infos`), where Mesos-DNS looks for its IPs.
struct Statuses<'a>(&'a [(TaskState, f64)], Option<&'a [NetworkInfo]>);

impl Serialize for Statuses<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Networks<'a> {
            network_infos: &'a [NetworkInfo],
        }
        #[derive(Serialize)]
        struct One<'a> {
            state: &'static str,
            timestamp: f64,
            #[serde(skip_serializing_if = "Option::is_none")]
            container_status: Option<Networks<'a>>,
        }
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (state, ts) in self.0 {
            let container_status = self
                .1
                .filter(|_| *state == TaskState::TaskRunning)
                .map(|network_infos| Networks { network_infos });
            seq.serialize_element(&One {
                state: state.as_str(),
                timestamp: *ts,
                container_status,
            })?;
        }
        seq.end()
    }
}

#[derive(Serialize)]
pub struct TaskView<'a> {
    id: &'a str,
    name: &'a str,
    framework_id: &'a str,
    executor_id: &'a str,
    slave_id: &'a str,
    agent_id: &'a str,
    state: &'static str,
    resources: Flat<'a>,
    role: &'a str,
    statuses: Statuses<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    labels: Option<&'a Vec<Label>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    discovery: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<Cow<'a, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    healthy: Option<bool>,
}

pub fn task(t: &Task) -> TaskView<'_> {
    TaskView {
        id: &t.info.task_id.value,
        name: &t.info.name,
        framework_id: &t.framework_id.value,
        executor_id: t
            .info
            .executor
            .as_ref()
            .map(|e| e.value.as_str())
            .unwrap_or(""),
        slave_id: &t.agent_id.value,
        agent_id: &t.agent_id.value,
        state: t.state.as_str(),
        resources: Flat(Cow::Borrowed(&t.resources)),
        role: &t.role,
        statuses: Statuses(&t.statuses, t.last.networks.as_deref().map(Vec::as_slice)),
        labels: t
            .info
            .extras
            .as_ref()
            .and_then(|x| x.labels.as_ref())
            .map(|l| &l.labels),
        discovery: t.info.extras.as_ref().and_then(|x| x.discovery.as_ref()),
        container: t
            .info
            .extras
            .as_ref()
            .and_then(|x| x.container.as_ref())
            .map(redacted),
        healthy: t.last.healthy,
    }
}

/// Where a task carries registry credentials inline: a VALUE secret.
const SECRET_DATA: &str = "/mesos/image/docker/config/value/data";

/// The task's container as the state endpoints show it: without the data
/// of an inline secret (registry credentials). A container without one,
/// the usual case, is not copied.
fn redacted(c: &Value) -> Cow<'_, Value> {
    if c.pointer(SECRET_DATA).is_none() {
        return Cow::Borrowed(c);
    }
    let mut v = c.clone();
    if let Some(d) = v.pointer_mut(SECRET_DATA) {
        *d = Value::String(String::new());
    }
    Cow::Owned(v)
}

#[derive(Serialize)]
pub struct AgentView<'a> {
    id: &'a str,
    hostname: &'a str,
    port: u32,
    pid: String,
    attributes: Value,
    registered_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    reregistered_time: Option<f64>,
    resources: Flat<'a>,
    used_resources: Flat<'a>,
    offered_resources: Flat<'a>,
    reserved_resources: Value,
    unreserved_resources: Flat<'a>,
    active: bool,
    deactivated: bool,
    version: &'a str,
    capabilities: [&'static str; 0],
}

pub fn agent<'a>(m: &Master, a: &'a Agent) -> AgentView<'a> {
    let (used, offered) = m
        .allocator
        .agent_totals(&a.id)
        .map(|(_, u, o)| (u, o))
        .unwrap_or_default();
    AgentView {
        id: &a.id.value,
        hostname: &a.hostname,
        port: a.port,
        pid: format!("slave(1)@{}:{}", a.ip, a.port),
        attributes: attributes_flat_json(&a.attributes),
        registered_time: a.registered_time,
        reregistered_time: a.reregistered_time,
        resources: Flat(Cow::Borrowed(&a.total)),
        used_resources: Flat(Cow::Owned(used)),
        offered_resources: Flat(Cow::Owned(offered)),
        reserved_resources: Value::Object(Default::default()),
        unreserved_resources: Flat(Cow::Borrowed(&a.total)),
        active: a.connected && a.reachable,
        deactivated: false,
        version: &a.version,
        capabilities: [],
    }
}

#[derive(Serialize)]
pub struct OfferView<'a> {
    id: &'a str,
    framework_id: &'a str,
    slave_id: &'a str,
    resources: Flat<'a>,
}

#[derive(Serialize)]
pub struct FrameworkView<'a> {
    id: &'a str,
    name: &'a str,
    user: &'a str,
    role: &'a str,
    hostname: &'a str,
    webui_url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    principal: Option<&'a str>,
    capabilities: Vec<&'a str>,
    active: bool,
    connected: bool,
    recovered: bool,
    failover_timeout: f64,
    checkpoint: bool,
    registered_time: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    reregistered_time: Option<f64>,
    unregistered_time: f64,
    used_resources: Flat<'a>,
    offered_resources: Flat<'a>,
    resources: Flat<'a>,
    drf_share: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    tasks: Option<Vec<TaskView<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unreachable_tasks: Option<Vec<TaskView<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_tasks: Option<Vec<TaskView<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    offers: Option<Vec<OfferView<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    executors: Option<[(); 0]>,
}

/// One framework's tasks: live, unreachable, completed.
type Groups<'a> = (Vec<&'a Task>, Vec<&'a Task>, Vec<&'a Task>);

/// Tasks of every framework, grouped once.
#[derive(Default)]
pub struct ByFramework<'a> {
    map: HashMap<&'a FrameworkId, Groups<'a>>,
}

impl<'a> ByFramework<'a> {
    pub fn new(m: &'a Master) -> Self {
        let mut map: HashMap<&FrameworkId, Groups<'a>> = HashMap::new();
        for t in m.tasks.values() {
            let e = map.entry(&t.framework_id).or_default();
            if t.state == TaskState::TaskUnreachable {
                e.1.push(t);
            } else {
                e.0.push(t);
            }
        }
        for t in &m.completed_tasks {
            map.entry(&t.framework_id).or_default().2.push(t);
        }
        ByFramework { map }
    }
}

pub fn framework<'a>(
    m: &'a Master,
    f: &'a Framework,
    tasks: Option<&ByFramework<'a>>,
    completed: bool,
) -> FrameworkView<'a> {
    let (used, offered) = if completed {
        Default::default()
    } else {
        m.allocator.framework_allocation(&f.id)
    };
    let total = used.plus(&offered);
    let group = tasks.and_then(|t| t.map.get(&f.id));
    let view = |v: Option<&Vec<&'a Task>>| {
        v.map(|ts| ts.iter().map(|t| task(t)).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    FrameworkView {
        id: &f.id.value,
        name: &f.info.name,
        user: &f.info.user,
        role: &f.role,
        hostname: f.info.hostname.as_deref().unwrap_or(""),
        webui_url: f.info.webui_url.as_deref().unwrap_or(""),
        principal: f.info.principal.as_deref(),
        capabilities: f
            .info
            .capabilities
            .iter()
            .map(|c| c.kind.as_str())
            .collect(),
        active: f.active,
        connected: f.connected,
        recovered: f.recovered,
        failover_timeout: f.info.failover_timeout.unwrap_or(0.0),
        checkpoint: f.info.checkpoint.unwrap_or(false),
        registered_time: f.registered_time,
        reregistered_time: f.reregistered_time,
        unregistered_time: f.unregistered_time.unwrap_or(0.0),
        drf_share: if completed {
            0.0
        } else {
            m.allocator.framework_share(&f.id)
        },
        used_resources: Flat(Cow::Owned(used)),
        offered_resources: Flat(Cow::Owned(offered)),
        resources: Flat(Cow::Owned(total)),
        tasks: tasks.map(|_| {
            if completed {
                Vec::new()
            } else {
                view(group.map(|g| &g.0))
            }
        }),
        unreachable_tasks: tasks.map(|_| {
            if completed {
                Vec::new()
            } else {
                view(group.map(|g| &g.1))
            }
        }),
        completed_tasks: tasks.map(|_| view(group.map(|g| &g.2))),
        offers: tasks.map(|_| {
            m.offers
                .values()
                .filter(|o| !completed && o.framework_id == f.id)
                .map(|o| OfferView {
                    id: &o.id.value,
                    framework_id: &f.id.value,
                    slave_id: &o.agent_id.value,
                    resources: Flat(Cow::Borrowed(&o.resources)),
                })
                .collect()
        }),
        executors: tasks.map(|_| []),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_statuses_carry_the_containers_networks() {
        let nets: Vec<NetworkInfo> = serde_json::from_value(serde_json::json!([
            {"name": "n1", "ip_addresses": [{"ip_address": "10.1.0.5"}]}
        ]))
        .unwrap();
        let st = [
            (TaskState::TaskStarting, 1.0),
            (TaskState::TaskRunning, 2.0),
            (TaskState::TaskFinished, 3.0),
        ];
        let v = serde_json::to_value(Statuses(&st, Some(&nets))).unwrap();
        assert!(v[0].get("container_status").is_none(), "{v}");
        let ip = &v[1]["container_status"]["network_infos"][0]["ip_addresses"][0];
        assert_eq!(ip["ip_address"], "10.1.0.5", "{v}");
        assert!(v[2].get("container_status").is_none(), "{v}");
        let plain = serde_json::to_value(Statuses(&st, None)).unwrap();
        assert!(plain[1].get("container_status").is_none());
    }

    #[test]
    fn inline_registry_credentials_never_reach_the_state() {
        let c = serde_json::json!({"type": "MESOS", "mesos": {"image": {"type": "DOCKER",
            "docker": {"name": "r:5000/a", "config": {"type": "VALUE",
                "value": {"data": "c2VjcmV0"}}}}}});
        let shown = redacted(&c);
        assert!(matches!(shown, Cow::Owned(_)));
        assert_eq!(
            shown.pointer(SECRET_DATA),
            Some(&Value::String(String::new()))
        );
        assert_eq!(shown["mesos"]["image"]["docker"]["name"], "r:5000/a");
        let plain = serde_json::json!({"type": "MESOS", "mesos": {"image": {"type": "DOCKER",
            "docker": {"name": "r:5000/a"}}}});
        assert!(matches!(redacted(&plain), Cow::Borrowed(_)));
    }
}
