//! [`MarathonBackend`] for the scheduler core: the API's reads are
//! snapshots of the core, its changes become core calls whose effects go to
//! the runtime's effect executor (persist, then talk to the master).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use paddock_proto::mesos::TaskStatus;
use tokio::sync::mpsc;

use crate::api::{BackendError, DeployRequest, MarathonBackend};
use crate::core::effects::Effect;
use crate::core::plan::DeploymentPlan;
use crate::core::spec::RunSpec;
use crate::core::{CoreError, Scheduler};
use crate::model::{
    AppEmbed, AppStatus, DeploymentRef, DeploymentStep, DeploymentView, Group, PathId,
    ProcessedOffersSummary, QueueDelay, QueueItem, RejectSummary, TaskView, Timestamp,
};
use crate::runtime::convert::{
    deployment_view, readiness_results, run_specs, step_view, task_failure, task_view,
};
use crate::runtime::events::PlanTrees;

/// Effects to execute in order, and the status update to acknowledge after.
pub struct Batch {
    pub effects: Vec<Effect>,
    pub ack: Option<TaskStatus>,
}

/// The original and target trees of a deployment.
pub type PlanPair = (Arc<Group>, Arc<Group>);

/// What the runtime's tasks and the API share.
pub struct Shared {
    pub core: Mutex<Scheduler>,
    /// The tree the core was last given (apps for the queue view).
    pub target: Mutex<Arc<Group>>,
    /// Original and target trees of running deployments, for heavy events.
    pub plans: Mutex<HashMap<String, PlanPair>>,
    pub effects: mpsc::UnboundedSender<Batch>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Runs `f` on the core and queues the effects it produced.
    pub fn with_core<R>(&self, ack: Option<TaskStatus>, f: impl FnOnce(&mut Scheduler) -> R) -> R {
        let (out, effects) = {
            let mut core = lock(&self.core);
            let out = f(&mut core);
            (out, core.take_effects())
        };
        if !effects.is_empty() || ack.is_some() {
            let _ = self.effects.send(Batch { effects, ack });
        }
        out
    }

    fn remember(&self, plan: &DeploymentPlan, original: Arc<Group>, target: Arc<Group>) {
        if !plan.is_empty() {
            lock(&self.plans).insert(plan.id.clone(), (original, target));
        }
    }

    pub fn forget_plan(&self, id: &str) {
        lock(&self.plans).remove(id);
    }
}

impl PlanTrees for Shared {
    fn trees(&self, plan_id: &str) -> (Arc<Group>, Arc<Group>) {
        if let Some((o, t)) = lock(&self.plans).get(plan_id) {
            return (o.clone(), t.clone());
        }
        let t = lock(&self.target).clone();
        (t.clone(), t)
    }
}

fn backend_error(e: CoreError) -> BackendError {
    match e {
        CoreError::Locked { deployments } => BackendError::Locked {
            deployment_ids: deployments,
        },
        CoreError::TooManyDeployments(n) => BackendError::TooManyDeployments(n),
        CoreError::UnknownDeployment(id) => BackendError::UnknownDeployment(id),
        CoreError::UnknownTask(id) => BackendError::UnknownTask(id),
        CoreError::UnknownApp(id) => {
            BackendError::Unavailable(format!("App '{id}' does not exist"))
        }
    }
}

/// The view of a plan right after it was created (finished plans have no steps left).
fn fresh_view(plan: &DeploymentPlan) -> DeploymentView {
    DeploymentView {
        id: plan.id.clone(),
        version: plan.version,
        affected_apps: plan
            .affected_apps()
            .iter()
            .map(|a| PathId::parse(a))
            .collect(),
        affected_pods: Vec::new(),
        steps: plan.steps.iter().map(step_view).collect(),
        current_actions: Vec::new(),
        current_step: u32::from(!plan.steps.is_empty()),
        total_steps: plan.steps.len() as u32,
    }
}

/// RunSpecs of `target`, with a restart forced for `restart`.
fn targets_of(target: &Group, restart: &[PathId]) -> BTreeMap<String, RunSpec> {
    let mut specs = run_specs(target);
    for id in restart {
        if let Some(s) = specs.get_mut(&id.to_string()) {
            // A new config version makes every task "old". (The API also moves
            // lastConfigChangeAt, so later changes compare equal to this one.)
            s.config_version = s.version.clone();
        }
    }
    specs
}

impl MarathonBackend for Shared {
    fn app_status(&self, app: &PathId, embed: AppEmbed) -> AppStatus {
        let core = lock(&self.core);
        let id = app.to_string();
        let instances: Vec<_> = core.instances_of(&id).collect();
        let mut st = AppStatus::default();
        for i in &instances {
            use paddock_proto::mesos::TaskState::*;
            match i.state {
                TaskStaging | TaskStarting => st.tasks_staged += 1,
                TaskRunning => st.tasks_running += 1,
                _ => {}
            }
            match i.health_summary() {
                Some(true) if i.state == TaskRunning => st.tasks_healthy += 1,
                Some(false) => st.tasks_unhealthy += 1,
                _ => {}
            }
        }
        st.deployments = core
            .deployments_of(&id)
            .into_iter()
            .map(|id| DeploymentRef { id })
            .collect();
        if embed.tasks {
            st.tasks = instances.iter().map(|i| task_view(i)).collect();
        }
        st.last_task_failure = core
            .app(&id)
            .and_then(|a| a.last_task_failure.as_ref())
            .map(task_failure);
        if embed.readiness {
            st.readiness_check_results = readiness_results(&instances);
        }
        st
    }

    fn tasks(&self) -> Vec<TaskView> {
        lock(&self.core).instances().map(task_view).collect()
    }

    fn deployments(&self) -> Vec<DeploymentView> {
        let core = lock(&self.core);
        let readiness = |app: &str| {
            let instances: Vec<_> = core.instances_of(app).collect();
            readiness_results(&instances)
        };
        core.deployments()
            .iter()
            .map(|d| deployment_view(d, &readiness))
            .collect()
    }

    fn queue(&self, now: Timestamp, last_unused_offers: bool) -> Vec<QueueItem> {
        let entries = lock(&self.core).queue(now);
        let target = lock(&self.target).clone();
        entries
            .into_iter()
            .filter_map(|e| {
                let app = target.app(&PathId::parse(&e.app_id))?.clone();
                let summary: Vec<RejectSummary> = e
                    .stats
                    .reject_summary()
                    .into_iter()
                    .map(|r| RejectSummary {
                        reason: r.reason.as_str().to_string(),
                        declined: r.declined,
                        processed: r.processed,
                    })
                    .collect();
                Some(QueueItem {
                    app,
                    count: e.count,
                    delay: QueueDelay {
                        time_left_seconds: e.time_left_seconds.ceil() as i64,
                        overdue: e.overdue,
                    },
                    since: e.since,
                    processed_offers_summary: ProcessedOffersSummary {
                        processed_offers_count: e.stats.processed_offers_count,
                        unused_offers_count: e.stats.unused_offers_count,
                        last_unused_offer_at: e.stats.last_unused_offer_at,
                        last_used_offer_at: e.stats.last_used_offer_at,
                        reject_summary_last_offers: summary.clone(),
                        reject_summary_launch_attempt: summary,
                    },
                    last_unused_offers: last_unused_offers.then(Vec::new),
                })
            })
            .collect()
    }

    fn framework_id(&self) -> Option<String> {
        lock(&self.core).framework_id().map(str::to_string)
    }

    fn deploy(
        &self,
        target: Arc<Group>,
        request: DeployRequest,
        now: Timestamp,
    ) -> Result<DeploymentView, BackendError> {
        let specs = targets_of(&target, &request.restart);
        let original = lock(&self.target).clone();
        // The trees are recorded before the effects (and their events) go out.
        let plan = self
            .with_core(None, |core| {
                let plan = core.deploy_with(specs, request.force, &request.kill, now)?;
                *lock(&self.target) = target.clone();
                self.remember(&plan, original, target);
                Ok(plan)
            })
            .map_err(backend_error)?;
        Ok(fresh_view(&plan))
    }

    fn preview(&self, target: &Group, now: Timestamp) -> Vec<DeploymentStep> {
        let specs = targets_of(target, &[]);
        let plan = lock(&self.core).preview(&specs, now);
        plan.steps.iter().map(step_view).collect()
    }

    fn kill_tasks(
        &self,
        task_ids: &[String],
        _wipe: bool,
        now: Timestamp,
    ) -> Result<Vec<TaskView>, BackendError> {
        let (killed, _) = self
            .with_core(None, |core| core.kill_tasks(task_ids, false, false, now))
            .map_err(backend_error)?;
        Ok(killed.iter().map(task_view).collect())
    }

    fn cancel_deployment(
        &self,
        id: &str,
        rollback: Option<Arc<Group>>,
        now: Timestamp,
    ) -> Result<Option<DeploymentView>, BackendError> {
        match rollback {
            None => {
                self.with_core(None, |core| core.cancel_deployment(id, true, now))
                    .map_err(backend_error)?;
                Ok(None)
            }
            Some(tree) => {
                let specs = targets_of(&tree, &[]);
                let original = lock(&self.target).clone();
                let plan = self
                    .with_core(None, |core| {
                        let plan = core.cancel_to(id, specs, now)?;
                        *lock(&self.target) = tree.clone();
                        self.remember(&plan, original, tree);
                        Ok(plan)
                    })
                    .map_err(backend_error)?;
                Ok(Some(fresh_view(&plan)))
            }
        }
    }

    fn reset_delay(&self, app: &PathId, now: Timestamp) -> Result<(), BackendError> {
        let id = app.to_string();
        if self.with_core(None, |core| core.reset_delay(&id, now)) {
            Ok(())
        } else {
            Err(BackendError::NotInQueue(app.clone()))
        }
    }
}
