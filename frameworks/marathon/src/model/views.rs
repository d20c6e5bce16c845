//! JSON views the API answers with: AppInfo (an app plus counts, deployments, tasks…), tasks,
//! deployments, the launch queue, deployment results and `/v2/info`. Field sets follow what
//! Marathon 1.6–1.10 emits and what strict clients (marathon-python 0.13.0) accept.

use super::checks::{HealthResult, ReadinessCheckResult};
use super::{AppDefinition, PathId, Timestamp};
use serde::{Deserialize, Serialize};

/// `{"id": "<deployment id>"}` inside an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRef {
    pub id: String,
}

/// `lastTaskFailure` of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskFailure {
    pub app_id: PathId,
    pub host: String,
    pub message: String,
    pub state: String,
    pub task_id: String,
    pub timestamp: Timestamp,
    pub version: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slave_id: Option<String>,
}

/// The per-app runtime facts the scheduler knows (everything in AppInfo that is not the
/// definition). `tasks` is filled only when asked for.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppStatus {
    pub tasks_staged: u32,
    pub tasks_running: u32,
    pub tasks_healthy: u32,
    pub tasks_unhealthy: u32,
    pub deployments: Vec<DeploymentRef>,
    pub tasks: Vec<TaskView>,
    pub last_task_failure: Option<TaskFailure>,
    pub readiness_check_results: Vec<ReadinessCheckResult>,
    /// Marathon's task statistics object (`taskStats`), if the scheduler keeps them.
    pub task_stats: Option<serde_json::Value>,
}

/// What AppInfo embeds besides the always-present counts and deployments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AppEmbed {
    pub tasks: bool,
    pub last_task_failure: bool,
    pub readiness: bool,
    pub task_stats: bool,
}

/// AppInfo: the app definition followed by the runtime fields, borrowed for serialization.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo<'a> {
    #[serde(flatten)]
    pub app: &'a AppDefinition,
    pub tasks_staged: u32,
    pub tasks_running: u32,
    pub tasks_healthy: u32,
    pub tasks_unhealthy: u32,
    pub deployments: &'a [DeploymentRef],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks: Option<&'a [TaskView]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_task_failure: Option<&'a TaskFailure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readiness_check_results: Option<&'a [ReadinessCheckResult]>,
    /// Written as `taskStats` (Marathon ≤1.6 spelling): 0.13.0 clients reject `tasksStats`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_stats: Option<&'a serde_json::Value>,
}

impl<'a> AppInfo<'a> {
    pub fn new(app: &'a AppDefinition, status: &'a AppStatus, embed: AppEmbed) -> AppInfo<'a> {
        AppInfo {
            app,
            tasks_staged: status.tasks_staged,
            tasks_running: status.tasks_running,
            tasks_healthy: status.tasks_healthy,
            tasks_unhealthy: status.tasks_unhealthy,
            deployments: &status.deployments,
            tasks: embed.tasks.then_some(status.tasks.as_slice()),
            last_task_failure: if embed.last_task_failure {
                status.last_task_failure.as_ref()
            } else {
                None
            },
            readiness_check_results: embed
                .readiness
                .then_some(status.readiness_check_results.as_slice()),
            task_stats: if embed.task_stats {
                status.task_stats.as_ref()
            } else {
                None
            },
        }
    }
}

/// `ipAddresses[]` of a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpAddress {
    pub ip_address: String,
    /// `IPv4` or `IPv6`.
    pub protocol: String,
}

/// A task as `/v2/tasks` and `/v2/apps/{id}/tasks` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskView {
    pub id: String,
    pub app_id: PathId,
    pub host: String,
    pub ports: Vec<u32>,
    pub service_ports: Vec<u32>,
    pub slave_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staged_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    pub version: Timestamp,
    /// Mesos task state name, e.g. `TASK_RUNNING`.
    pub state: String,
    pub ip_addresses: Vec<IpAddress>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub health_check_results: Vec<HealthResult>,
    #[serde(default)]
    pub local_volumes: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub role: Option<String>,
}

/// One action of a deployment step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentAction {
    /// StartApplication, StopApplication, ScaleApplication, RestartApplication, ResolveArtifacts…
    pub action: String,
    pub app: PathId,
}

/// An action in progress, with its readiness results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentAction {
    pub action: String,
    pub app: PathId,
    pub readiness_check_results: Vec<ReadinessCheckResult>,
}

/// A step: actions that run concurrently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DeploymentStep {
    pub actions: Vec<DeploymentAction>,
}

/// A running deployment as `GET /v2/deployments` lists it. `currentStep` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentView {
    pub id: String,
    pub version: Timestamp,
    pub affected_apps: Vec<PathId>,
    pub affected_pods: Vec<PathId>,
    pub steps: Vec<DeploymentStep>,
    pub current_actions: Vec<CurrentAction>,
    pub current_step: u32,
    pub total_steps: u32,
}

/// The answer of every deployable operation: `{"deploymentId", "version"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentResult {
    pub deployment_id: String,
    pub version: Timestamp,
}

/// `delay` of a queue item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueDelay {
    pub time_left_seconds: i64,
    pub overdue: bool,
}

/// Why offers were declined, per reason (`rejectSummaryLastOffers[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RejectSummary {
    /// Marathon's reason names: InsufficientCpus, InsufficientMemory, InsufficientDisk,
    /// InsufficientGpus, InsufficientPorts, UnfulfilledRole, UnfulfilledConstraint,
    /// NoCorrespondingReservationFound, AgentMaintenance, DeclinedScarceResources.
    pub reason: String,
    pub declined: u64,
    pub processed: u64,
}

/// `processedOffersSummary` of a queue item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ProcessedOffersSummary {
    pub processed_offers_count: u64,
    pub unused_offers_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_unused_offer_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_offer_at: Option<Timestamp>,
    pub reject_summary_last_offers: Vec<RejectSummary>,
    pub reject_summary_launch_attempt: Vec<RejectSummary>,
}

/// One unused offer (`lastUnusedOffers[]`, only with `embed=lastUnusedOffers`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnusedOffer {
    pub offer: serde_json::Value,
    pub timestamp: Timestamp,
    pub reason: Vec<String>,
}

/// A launch-queue entry: an app with instances still to launch. (No `role` key: 0.13.0
/// clients reject it.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueItem {
    pub app: AppDefinition,
    pub count: u32,
    pub delay: QueueDelay,
    pub since: Timestamp,
    pub processed_offers_summary: ProcessedOffersSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_unused_offers: Option<Vec<UnusedOffer>>,
}

/// What a kill request did: tasks killed, or a scale-down deployment.
#[derive(Debug, Clone, PartialEq)]
pub enum KillOutcome {
    Killed(Vec<TaskView>),
    Deployment(DeploymentResult),
}
