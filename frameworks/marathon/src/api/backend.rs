//! The contract between the REST API and the scheduler: [`MarathonBackend`].
//!
//! The API owns the group tree (the apps as the user defined them, every version, persistence);
//! the backend owns what runs (instances, deployments, the launch queue, health). Every change
//! to the tree reaches the backend as a whole new target tree through
//! [`MarathonBackend::deploy`]; the backend diffs it against the previous target, plans and runs
//! the deployment, and answers with it. Reads are snapshots. All methods are synchronous and
//! must not block for long: they are called from async handlers, typically under a
//! `std::sync::Mutex` that is never held across an `.await`.

use crate::model::{
    AppEmbed, AppStatus, DeploymentStep, DeploymentView, Group, PathId, QueueItem, TaskView,
    Timestamp,
};
use std::sync::Arc;

/// What kind of change a deployment carries besides the tree diff.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeployRequest {
    /// Cancel conflicting deployments instead of failing with [`BackendError::Locked`].
    pub force: bool,
    /// Apps to restart (all their tasks replaced) even if their definition did not change
    /// (`POST /v2/apps/{id}/restart`; the API has already given them a new version).
    pub restart: Vec<PathId>,
    /// When apps are scaled down by killing specific tasks (`DELETE …/tasks?scale=true`,
    /// `POST /v2/tasks/delete?scale=true`): the tasks to kill, instead of the ones the
    /// kill selection would pick.
    pub kill: Vec<String>,
}

/// Why the backend refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// A running deployment holds one of the apps and `force` was not set → 409.
    #[error("App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.")]
    Locked { deployment_ids: Vec<String> },
    /// `--max_running_deployments` reached → 403.
    #[error("Max number ({0}) of running deployments is achieved. Wait for existing deployments to complete or cancel one of them.")]
    TooManyDeployments(usize),
    /// → 404 `DeploymentPlan <id> does not exist`.
    #[error("DeploymentPlan {0} does not exist")]
    UnknownDeployment(String),
    /// → 404 `Task '<id>' does not exist`.
    #[error("Task '{0}' does not exist")]
    UnknownTask(String),
    /// → 404 `Application <id> not found in tasks queue.`
    #[error("Application {0} not found in tasks queue.")]
    NotInQueue(PathId),
    /// Anything else → 503 with the message.
    #[error("{0}")]
    Unavailable(String),
}

/// The scheduler side of the API. M-SCHED's runtime implements this for its `core` state;
/// the API tests use a small in-memory implementation. Keep it small and stable.
pub trait MarathonBackend: Send + Sync + 'static {
    /// Counts, deployment ids, last failure, readiness, stats and (if `embed.tasks`) the tasks
    /// of one app. An app the backend does not know yet gets `AppStatus::default()`.
    fn app_status(&self, app: &PathId, embed: AppEmbed) -> AppStatus;

    /// Every known task (any state), across apps.
    fn tasks(&self) -> Vec<TaskView>;

    /// Running deployments.
    fn deployments(&self) -> Vec<DeploymentView>;

    /// The launch queue: apps with instances waiting to be launched, with offer statistics;
    /// `last_unused_offers` fills `lastUnusedOffers`.
    fn queue(&self, now: Timestamp, last_unused_offers: bool) -> Vec<QueueItem>;

    /// The framework id, once subscribed.
    fn framework_id(&self) -> Option<String>;

    /// Starts a deployment from the current target to `target` (the whole new tree, versions
    /// already stamped at `now`, service ports assigned, validated). The plan's version should
    /// be `now`. A change that needs no step still yields a (finished) deployment id.
    fn deploy(
        &self,
        target: Arc<Group>,
        request: DeployRequest,
        now: Timestamp,
    ) -> Result<DeploymentView, BackendError>;

    /// The steps a deployment to `target` would take (`dryRun=true`), without starting it.
    fn preview(&self, target: &Group, now: Timestamp) -> Vec<DeploymentStep>;

    /// Kills tasks without scaling: their apps replace them. `wipe` also destroys their
    /// persistent volumes (the instances are forgotten). Returns the killed tasks.
    fn kill_tasks(
        &self,
        task_ids: &[String],
        wipe: bool,
        now: Timestamp,
    ) -> Result<Vec<TaskView>, BackendError>;

    /// Cancels a running deployment. `rollback: None` (`force=true`) just stops it where it
    /// is. `Some(tree)` (`force=false`) stops it and starts a new deployment to `tree`, which
    /// puts its apps back as they were (versions stamped at `now`); that deployment is returned.
    fn cancel_deployment(
        &self,
        id: &str,
        rollback: Option<Arc<Group>>,
        now: Timestamp,
    ) -> Result<Option<DeploymentView>, BackendError>;

    /// Resets an app's launch backoff (`DELETE /v2/queue/{id}/delay`).
    fn reset_delay(&self, app: &PathId, now: Timestamp) -> Result<(), BackendError>;
}
