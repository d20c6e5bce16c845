//! What the core asks the edges to do: persist records, talk to the master,
//! publish events. The runtime executes them in order; persistence comes
//! before the launch it protects.

use paddock_proto::mesos::{AgentId, OfferId, TaskId, TaskInfo};
use serde::{Deserialize, Serialize};

use crate::core::deployment::Deployment;
use crate::core::instance::Instance;
use crate::core::plan::DeploymentPlan;
use crate::core::Timestamp;

/// A persisted record. `key()` names it in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Record {
    Instance(Box<Instance>),
    Deployment(Box<Deployment>),
    AppRuntime(Box<crate::core::AppRecord>),
    FrameworkId(String),
}

impl Record {
    pub fn key(&self) -> String {
        match self {
            Record::Instance(i) => instance_key(&i.task_id),
            Record::Deployment(d) => deployment_key(&d.plan.id),
            Record::AppRuntime(a) => app_key(&a.app_id),
            Record::FrameworkId(_) => FRAMEWORK_ID_KEY.to_string(),
        }
    }
}

pub const INSTANCE_PREFIX: &str = "instance/";
pub const DEPLOYMENT_PREFIX: &str = "deployment/";
pub const APP_PREFIX: &str = "app-runtime/";
pub const FRAMEWORK_ID_KEY: &str = "framework-id";

pub fn instance_key(task_id: &str) -> String {
    format!("{INSTANCE_PREFIX}{task_id}")
}

pub fn deployment_key(id: &str) -> String {
    format!("{DEPLOYMENT_PREFIX}{id}")
}

pub fn app_key(app_id: &str) -> String {
    format!("{APP_PREFIX}{app_id}")
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Put(Record),
    Delete(String),
    Launch {
        offer_ids: Vec<OfferId>,
        tasks: Vec<TaskInfo>,
        /// The refuse filter for what the offers have left; `None` = the
        /// master's default (5 s).
        refuse_seconds: Option<f64>,
    },
    Decline {
        offer_ids: Vec<OfferId>,
        refuse_seconds: f64,
    },
    Kill {
        task_id: TaskId,
        agent_id: Option<AgentId>,
        grace_seconds: Option<u64>,
    },
    /// Empty = implicit reconciliation.
    Reconcile(Vec<(TaskId, Option<AgentId>)>),
    Revive,
    Suppress,
    Event(CoreEvent),
}

/// Marathon events the core produces; the runtime turns them into the
/// event bus's types.
#[derive(Debug, Clone, PartialEq)]
pub enum CoreEvent {
    StatusUpdate {
        slave_id: String,
        task_id: String,
        task_status: String,
        message: String,
        app_id: String,
        host: String,
        ports: Vec<u32>,
        ip_addresses: Vec<String>,
        version: String,
        timestamp: Timestamp,
    },
    InstanceChanged {
        instance_id: String,
        condition: String,
        run_spec_id: String,
        agent_id: String,
        host: String,
        run_spec_version: String,
        timestamp: Timestamp,
    },
    UnknownInstanceTerminated {
        instance_id: String,
        run_spec_id: String,
        condition: String,
        timestamp: Timestamp,
    },
    HealthStatusChanged {
        app_id: String,
        instance_id: String,
        version: String,
        alive: bool,
        timestamp: Timestamp,
    },
    InstanceHealthChanged {
        instance_id: String,
        run_spec_id: String,
        run_spec_version: String,
        healthy: Option<bool>,
        timestamp: Timestamp,
    },
    FailedHealthCheck {
        app_id: String,
        instance_id: String,
        health_check: serde_json::Value,
        timestamp: Timestamp,
    },
    UnhealthyInstanceKill {
        app_id: String,
        task_id: String,
        instance_id: String,
        version: String,
        reason: String,
        host: String,
        slave_id: String,
        timestamp: Timestamp,
    },
    DeploymentInfo {
        plan: DeploymentPlan,
        current_step: usize,
        timestamp: Timestamp,
    },
    DeploymentStepSuccess {
        plan: DeploymentPlan,
        current_step: usize,
        timestamp: Timestamp,
    },
    DeploymentStepFailure {
        plan: DeploymentPlan,
        current_step: usize,
        timestamp: Timestamp,
    },
    DeploymentSuccess {
        plan: DeploymentPlan,
        timestamp: Timestamp,
    },
    DeploymentFailed {
        plan: DeploymentPlan,
        reason: String,
        timestamp: Timestamp,
    },
    AppTerminated {
        app_id: String,
        timestamp: Timestamp,
    },
}

/// Marathon's instance condition for a Mesos task state.
pub fn condition(state: paddock_proto::mesos::TaskState) -> &'static str {
    use paddock_proto::mesos::TaskState::*;
    match state {
        TaskStaging => "Staging",
        TaskStarting => "Starting",
        TaskRunning => "Running",
        TaskKilling => "Killing",
        TaskFinished => "Finished",
        TaskFailed => "Failed",
        TaskKilled => "Killed",
        TaskError => "Error",
        TaskLost => "Unreachable",
        TaskDropped => "Dropped",
        TaskUnreachable => "Unreachable",
        TaskGone => "Gone",
        TaskGoneByOperator => "Gone",
        TaskUnknown => "Unknown",
    }
}
