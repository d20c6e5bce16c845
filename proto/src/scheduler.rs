//! The Mesos v1 scheduler API: calls a framework POSTs to `/api/v1/scheduler`
//! and the events the master streams back (`scheduler.proto`).
//!
//! An event nests its payload under the lower-case name of its type, e.g.
//! `{"type":"OFFERS","offers":{"offers":[…]}}`: that is what real drivers
//! parse, whatever the prose docs show.

use serde::{Deserialize, Serialize};

use crate::mesos::{
    AgentId, ExecutorId, Filters, FrameworkId, FrameworkInfo, KillPolicy, MasterInfo, Offer,
    OfferId, Resource, TaskId, TaskInfo, TaskStatus,
};

/// A scheduler call. `kind` is kept as a string so that an unknown type is a
/// clear 400 naming it rather than a generic parse failure.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Call {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<FrameworkId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe: Option<Subscribe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept: Option<Accept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline: Option<Decline>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revive: Option<Roles>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress: Option<Roles>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill: Option<Kill>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledge: Option<Acknowledge>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<Reconcile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown: Option<Shutdown>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Subscribe {
    pub framework_info: FrameworkInfo,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed_roles: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Accept {
    #[serde(default)]
    pub offer_ids: Vec<OfferId>,
    #[serde(default)]
    pub operations: Vec<Operation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Decline {
    #[serde(default)]
    pub offer_ids: Vec<OfferId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Roles {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Older drivers send a single `role`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

impl Roles {
    pub fn list(&self) -> Vec<String> {
        let mut r = self.roles.clone();
        if let Some(role) = &self.role {
            r.push(role.clone());
        }
        r
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Kill {
    pub task_id: TaskId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Acknowledge {
    pub agent_id: AgentId,
    pub task_id: TaskId,
    pub uuid: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ReconcileTask {
    pub task_id: TaskId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Reconcile {
    #[serde(default)]
    pub tasks: Vec<ReconcileTask>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Message {
    pub agent_id: AgentId,
    pub executor_id: ExecutorId,
    #[serde(default)]
    pub data: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Shutdown {
    pub executor_id: ExecutorId,
    pub agent_id: AgentId,
}

/// An offer operation. Only LAUNCH is carried out today; other types are
/// rejected with a clear error rather than ignored.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Operation {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<Launch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Launch {
    #[serde(default)]
    pub task_infos: Vec<TaskInfo>,
}

/// An event on the subscription stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Event {
    Subscribed { subscribed: Subscribed },
    Offers { offers: Offers },
    Rescind { rescind: Rescind },
    Update { update: Update },
    Message { message: EventMessage },
    Failure { failure: Failure },
    Error { error: ErrorEvent },
    Heartbeat,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Subscribed {
    pub framework_id: FrameworkId,
    pub heartbeat_interval_seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_info: Option<MasterInfo>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Offers {
    pub offers: Vec<Offer>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rescind {
    pub offer_id: OfferId,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Update {
    pub status: TaskStatus,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventMessage {
    pub agent_id: AgentId,
    pub executor_id: ExecutorId,
    pub data: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorEvent {
    pub message: String,
}

/// Sum of the resources in a list of task infos, for fit checks.
pub fn task_resources(tasks: &[TaskInfo]) -> Vec<Resource> {
    tasks.iter().flat_map(|t| t.resources.clone()).collect()
}
