//! One launched task of an app (Marathon's instance; one task per instance)
//! and its health-check and readiness results.

use paddock_proto::mesos::{AgentId, TaskState};
use serde::{Deserialize, Serialize};

use crate::core::spec::{HealthCheckSpec, ReadinessCheckSpec};
use crate::core::Timestamp;
use crate::launch::constraints::Place;

/// The result of one health check of one instance (Marathon's `Health`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HealthResult {
    pub consecutive_failures: u32,
    pub first_success: Option<Timestamp>,
    pub last_success: Option<Timestamp>,
    pub last_failure: Option<Timestamp>,
    pub last_failure_cause: Option<String>,
}

impl HealthResult {
    /// Alive when the last result was a success.
    pub fn alive(&self) -> bool {
        match (self.last_success, self.last_failure) {
            (Some(s), Some(f)) => s > f,
            (Some(_), None) => true,
            _ => false,
        }
    }
}

/// The last readiness-check result of an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadinessResult {
    pub name: String,
    pub ready: bool,
    /// `(status, contentType, body)` when preserveLastResponse is set.
    pub last_response: Option<(u16, String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// The Mesos task id (`prod_web.<uuid>`); also the instance id.
    pub task_id: String,
    pub app_id: String,
    /// The app version it was launched with.
    pub version: String,
    /// The app's config version it was launched with (see `RunSpec`).
    pub config_version: String,
    pub agent_id: AgentId,
    pub place: Place,
    pub host_ports: Vec<u32>,
    pub service_ports: Vec<u32>,
    pub state: TaskState,
    pub staged_at: Timestamp,
    pub started_at: Option<Timestamp>,
    /// When the last status update arrived.
    pub updated_at: Timestamp,
    /// We asked Mesos to kill it (and when, for retries).
    pub killing_since: Option<Timestamp>,
    /// Killed because its health checks failed: its end counts as a failure.
    #[serde(default)]
    pub killed_unhealthy: bool,
    /// Since when the agent is unreachable (TASK_UNREACHABLE).
    pub unreachable_since: Option<Timestamp>,
    /// One entry per health check of the app; `None` until the first result.
    pub health: Vec<Option<HealthResult>>,
    /// Readiness, when the app has readiness checks.
    pub readiness: Option<ReadinessResult>,
    /// The last status message, for lastTaskFailure.
    pub message: Option<String>,
    /// IP addresses the agent reported, if any.
    #[serde(default)]
    pub ip_addresses: Vec<String>,
    /// The health checks of the version it was launched with.
    #[serde(default)]
    pub health_checks: Vec<HealthCheckSpec>,
    #[serde(default)]
    pub readiness_checks: Vec<ReadinessCheckSpec>,
    #[serde(default)]
    pub kill_grace_seconds: Option<u64>,
}

impl Instance {
    /// Not terminal, not being killed and not given up as unreachable.
    pub fn is_active(&self) -> bool {
        !self.state.is_terminal() && self.killing_since.is_none()
    }

    pub fn is_running(&self) -> bool {
        self.state == TaskState::TaskRunning && self.unreachable_since.is_none()
    }

    /// Running and passing every health check (trivially, with none).
    pub fn is_healthy(&self) -> bool {
        self.is_running()
            && self
                .health
                .iter()
                .all(|h| h.as_ref().is_some_and(|h| h.alive()))
    }

    /// Running, healthy and (when the app has readiness checks) ready.
    pub fn is_healthy_and_ready(&self, has_readiness: bool) -> bool {
        self.is_healthy() && (!has_readiness || self.readiness.as_ref().is_some_and(|r| r.ready))
    }

    /// Healthy for the counts in AppInfo: `Some(true)` all checks alive,
    /// `Some(false)` one check failed, `None` unknown (no checks or no results).
    pub fn health_summary(&self) -> Option<bool> {
        if self.health.is_empty() {
            return None;
        }
        if self
            .health
            .iter()
            .any(|h| h.as_ref().is_some_and(|h| !h.alive()))
        {
            return Some(false);
        }
        if self
            .health
            .iter()
            .all(|h| h.as_ref().is_some_and(|h| h.alive()))
        {
            return Some(true);
        }
        None
    }

    /// When it started running, else when it was staged (for killSelection).
    pub fn age_anchor(&self) -> Timestamp {
        self.started_at.unwrap_or(self.staged_at)
    }
}
