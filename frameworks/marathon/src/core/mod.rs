//! The pure scheduling core: a state machine that keeps every app at its
//! instance count on the master's offers, runs deployments step by step,
//! tracks health and readiness, and turns everything it decides into
//! [`effects::Effect`]s. Time enters as a value; there is no I/O here.

pub mod backoff;
pub mod deployment;
pub mod effects;
pub mod instance;
pub mod kill;
pub mod plan;
pub mod queue;
pub mod restart;
pub mod scheduler;
pub mod spec;

#[cfg(test)]
mod tests;

pub use crate::model::Timestamp;
pub use scheduler::{CoreConfig, CoreError, Scheduler};

use serde::{Deserialize, Serialize};

/// The last failed task of an app (AppInfo's `lastTaskFailure`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskFailure {
    pub app_id: String,
    pub host: String,
    pub message: String,
    pub state: String,
    pub task_id: String,
    pub timestamp: Timestamp,
    pub version: String,
    pub slave_id: String,
}

/// What the core persists per app besides its instances: the spec it is
/// currently driving towards (which lags the target during a deployment),
/// its backoff and its last task failure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppRecord {
    pub app_id: String,
    pub goal: spec::RunSpec,
    pub stopping: bool,
    pub backoff: Option<backoff::Backoff>,
    pub last_task_failure: Option<TaskFailure>,
}
