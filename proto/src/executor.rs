//! The Mesos v1 executor API: calls an executor POSTs to the agent's
//! `/api/v1/executor` and the events the agent streams back.

use serde::{Deserialize, Serialize};

use crate::mesos::{
    AgentInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, KillPolicy, TaskId, TaskInfo,
    TaskStatus,
};

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Call {
    #[serde(rename = "type")]
    pub kind: String,
    pub framework_id: FrameworkId,
    pub executor_id: ExecutorId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe: Option<Subscribe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<UpdateCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageCall>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Subscribe {
    #[serde(default)]
    pub unacknowledged_tasks: Vec<TaskInfo>,
    #[serde(default)]
    pub unacknowledged_updates: Vec<UpdateCall>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct UpdateCall {
    pub status: TaskStatus,
    /// Some executors send the framework/executor ids inside the update too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<FrameworkId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorId>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct MessageCall {
    #[serde(default)]
    pub data: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Event {
    Subscribed { subscribed: Box<Subscribed> },
    Launch { launch: Box<LaunchEvent> },
    Kill { kill: KillEvent },
    Acknowledged { acknowledged: Acknowledged },
    Message { message: MessageCall },
    Error { error: ErrorEvent },
    Shutdown,
    Heartbeat,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Subscribed {
    pub executor_info: ExecutorInfo,
    pub framework_info: FrameworkInfo,
    pub agent_info: AgentInfo,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LaunchEvent {
    pub framework_info: FrameworkInfo,
    pub task: TaskInfo,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KillEvent {
    pub task_id: TaskId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Acknowledged {
    pub task_id: TaskId,
    pub uuid: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorEvent {
    pub message: String,
}
