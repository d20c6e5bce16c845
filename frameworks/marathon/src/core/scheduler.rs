//! The scheduler state machine. Every entry point takes `now`, changes the
//! state and queues [`Effect`]s; the caller drains them with
//! [`Scheduler::take_effects`] and executes them in order.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use paddock_proto::mesos::{AgentId, Offer, TaskId, TaskState, TaskStatus};

use crate::core::backoff::Backoff;
use crate::core::deployment::Deployment;
use crate::core::effects::{
    app_key, condition, deployment_key, instance_key, CoreEvent, Effect, Record,
};
use crate::core::instance::{HealthResult, Instance, ReadinessResult};
use crate::core::kill::{self, KillCandidate};
use crate::core::plan::{self, ActionKind, DeploymentPlan};
use crate::core::queue::OfferStats;
use crate::core::restart::{self, NewInstances, OldInstance};
use crate::core::spec::{HealthCheckSpec, ReadinessCheckSpec, RunSpec, UnreachableStrategy};
use crate::core::{AppRecord, TaskFailure, Timestamp};
use crate::launch::constraints::Place;
use crate::launch::matcher::{OfferPool, RejectReason};
use crate::launch::task_info::{app_id_of_task, build_task_info, new_task_id, LaunchTarget};

/// Knobs of the core, with Marathon-like defaults.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    /// Refuse filter for offers declined while something still waits for a
    /// launch (it did not fit): short, so a change is noticed soon.
    pub decline_refuse_seconds: f64,
    /// Refuse filter when nothing is wanted at all (we also SUPPRESS).
    pub idle_refuse_seconds: f64,
    /// Staged tasks that never report running are killed after this.
    pub launch_timeout_seconds: u64,
    /// Kills that are not confirmed are sent again after this.
    pub kill_retry_seconds: u64,
    /// Implicit reconciliation runs this often.
    pub reconcile_interval_seconds: u64,
    /// At most this many deployments run at once.
    pub max_running_deployments: usize,
    /// At most this many tasks go on one offer (Marathon's
    /// `--max_instances_per_offer`); `None` = as many as fit.
    pub max_instances_per_offer: Option<usize>,
    /// At most this many of our tasks may be staging (launched, not yet
    /// running) on one agent at once; `None` = no cap. Starting a task costs
    /// the agent an executor start, and hundreds at once on a small agent
    /// starve its heartbeats until the master declares it unreachable.
    /// Marathon itself paces launches too (100 launch tokens per 30 s).
    pub max_staging_per_agent: Option<usize>,
    /// Refuse filter for offers declined only because their agent is at
    /// that cap: short, so launches go on as soon as tasks report running.
    pub paced_refuse_seconds: f64,
}

/// The default of [`CoreConfig::max_staging_per_agent`].
pub const DEFAULT_MAX_STAGING_PER_AGENT: usize = 64;

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            decline_refuse_seconds: 5.0,
            idle_refuse_seconds: 120.0,
            launch_timeout_seconds: 300,
            kill_retry_seconds: 30,
            reconcile_interval_seconds: 60,
            max_running_deployments: 100,
            max_instances_per_offer: None,
            max_staging_per_agent: Some(DEFAULT_MAX_STAGING_PER_AGENT),
            paced_refuse_seconds: 1.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    #[error("App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/<DEPLOYMENT_ID>'.")]
    Locked { deployments: Vec<String> },
    #[error("Max number ({0}) of running deployments is achieved. Wait for existing deployments to complete or cancel one of them.")]
    TooManyDeployments(usize),
    #[error("DeploymentPlan {0} does not exist")]
    UnknownDeployment(String),
    #[error("Task '{0}' does not exist")]
    UnknownTask(String),
    #[error("App '{0}' does not exist")]
    UnknownApp(String),
}

/// The runtime state of one app.
#[derive(Debug, Clone)]
pub struct AppState {
    /// What the app is driven towards now.
    pub goal: RunSpec,
    /// A StopApplication ran: kill everything, then forget the app.
    pub stopping: bool,
    pub backoff: Option<Backoff>,
    pub last_task_failure: Option<TaskFailure>,
    pub stats: OfferStats,
    /// Instances still to launch (computed on every pass).
    pub wanted: u32,
    /// Since when instances have been waiting for a launch.
    pub waiting_since: Option<Timestamp>,
}

impl AppState {
    fn new(goal: RunSpec) -> AppState {
        AppState {
            goal,
            stopping: false,
            backoff: None,
            last_task_failure: None,
            stats: OfferStats::default(),
            wanted: 0,
            waiting_since: None,
        }
    }

    fn record(&self) -> AppRecord {
        AppRecord {
            app_id: self.goal.id.clone(),
            goal: self.goal.clone(),
            stopping: self.stopping,
            backoff: self.backoff,
            last_task_failure: self.last_task_failure.clone(),
        }
    }

    fn delayed(&self, now: Timestamp) -> bool {
        self.backoff.as_ref().is_some_and(|b| !b.overdue(now))
    }
}

/// What a probe checks.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeKind {
    Health {
        index: usize,
        check: HealthCheckSpec,
    },
    Readiness(ReadinessCheckSpec),
}

/// A probe the runtime should run now and report back.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeRequest {
    pub task_id: String,
    pub app_id: String,
    pub host: String,
    /// The port to probe (`None` if the task has none for this check).
    pub port: Option<u32>,
    pub kind: ProbeKind,
    /// The task's environment basics, for COMMAND checks.
    pub env: Vec<(String, String)>,
}

/// One row of the launch queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueEntry {
    pub app_id: String,
    pub version: String,
    pub count: u32,
    pub time_left_seconds: f64,
    pub overdue: bool,
    pub since: Timestamp,
    pub stats: OfferStats,
}

/// A readiness result row for `currentActions`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadinessView {
    pub task_id: String,
    pub result: ReadinessResult,
}

pub struct Scheduler {
    config: CoreConfig,
    framework_id: Option<String>,
    /// The latest requested spec of every app (the root group's apps).
    targets: BTreeMap<String, RunSpec>,
    apps: BTreeMap<String, AppState>,
    instances: Instances,
    deployments: Vec<Deployment>,
    /// App id → the ids of the deployments touching it, in `deployments`
    /// order; rebuilt whenever a deployment starts or ends. `GET /v2/apps`
    /// asks this for every app: computing each plan's affected set per app
    /// made it quadratic (1,000 apps in one deployment: a million string
    /// copies per request).
    deployments_by_app: HashMap<String, Vec<String>>,
    wants_offers: bool,
    suppressed: bool,
    /// Next probe per (task, slot); slot = health check index or READINESS_SLOT.
    next_probe: BTreeMap<(String, usize), Timestamp>,
    in_flight: HashSet<(String, usize)>,
    /// Agents whose offers were declined at the staging cap; a REVIVE goes
    /// out when one of them is down to half the cap.
    paced_agents: HashSet<AgentId>,
    /// When a kill was last sent, for retries.
    kill_sent: BTreeMap<String, Timestamp>,
    last_reconcile: Option<Timestamp>,
    /// The latest `now` seen, for checks made from read-only contexts.
    now_hint: Timestamp,
    out: Vec<Effect>,
}

const READINESS_SLOT: usize = usize::MAX;

/// Instances grouped by app (so a pass over one app's instances is a plain
/// iteration), with a task id → app index for lookups.
#[derive(Default)]
struct Instances {
    by_app: BTreeMap<String, BTreeMap<String, Instance>>,
    app_of: HashMap<String, String>,
}

impl Instances {
    fn get(&self, task_id: &str) -> Option<&Instance> {
        let app = self.app_of.get(task_id)?;
        self.by_app.get(app)?.get(task_id)
    }

    fn get_mut(&mut self, task_id: &str) -> Option<&mut Instance> {
        let app = self.app_of.get(task_id)?;
        self.by_app.get_mut(app)?.get_mut(task_id)
    }

    fn values(&self) -> impl Iterator<Item = &Instance> {
        self.by_app.values().flat_map(|m| m.values())
    }

    fn of_app<'a>(&'a self, app: &str) -> impl Iterator<Item = &'a Instance> + 'a {
        self.by_app.get(app).into_iter().flat_map(|m| m.values())
    }

    fn insert(&mut self, task_id: String, inst: Instance) {
        self.app_of.insert(task_id.clone(), inst.app_id.clone());
        self.by_app
            .entry(inst.app_id.clone())
            .or_default()
            .insert(task_id, inst);
    }

    fn remove(&mut self, task_id: &str) -> Option<Instance> {
        let app = self.app_of.remove(task_id)?;
        let m = self.by_app.get_mut(&app)?;
        let inst = m.remove(task_id);
        if m.is_empty() {
            self.by_app.remove(&app);
        }
        inst
    }
}

fn secs(s: u64) -> i64 {
    (s as i64).saturating_mul(1000)
}

/// States after which an app's task counts as failed (backoff, lastTaskFailure).
fn is_failure(state: TaskState) -> bool {
    !matches!(
        state,
        TaskState::TaskKilled
            | TaskState::TaskStaging
            | TaskState::TaskStarting
            | TaskState::TaskRunning
    ) && state != TaskState::TaskKilling
}

/// Ends that are the task's own doing and delay the next launch.
fn counts_for_backoff(state: TaskState) -> bool {
    matches!(
        state,
        TaskState::TaskFailed | TaskState::TaskFinished | TaskState::TaskError
    )
}

/// Terminal for our purposes: Mesos's terminal states plus TASK_UNKNOWN
/// (the master does not know the task, so it is gone).
/// When a probe that was due at `due` and runs at `now` runs next: one
/// interval after `due`, so probes keep their phase however late the tick
/// that ran them was (from `now` they drifted by up to a tick per round:
/// every 11–12 s instead of 10); from `now` when they fell a whole interval
/// behind, or for the first probe.
fn next_probe_at(due: Option<Timestamp>, now: Timestamp, interval_seconds: u64) -> Timestamp {
    let period = secs(interval_seconds.max(1));
    match due.map(|d| d.plus_millis(period)) {
        Some(next) if next > now => next,
        _ => now.plus_millis(period),
    }
}

/// Launched, not running yet, and not being killed.
fn is_staging(i: &Instance) -> bool {
    matches!(i.state, TaskState::TaskStaging | TaskState::TaskStarting) && i.killing_since.is_none()
}

/// The container's addresses in a status, as Mesos reports them
/// (`container_status.network_infos[].ip_addresses[].ip_address`), for the
/// task's `ipAddresses`.
fn status_ips(status: &TaskStatus) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let infos = status
        .container_status
        .iter()
        .flat_map(|c| &c.network_infos);
    for ip in infos.flat_map(|n| &n.ip_addresses) {
        if let Some(a) = ip.ip_address.as_ref().filter(|a| !a.is_empty()) {
            if !out.contains(a) {
                out.push(a.clone());
            }
        }
    }
    out
}

fn is_gone(state: TaskState) -> bool {
    state.is_terminal() || state == TaskState::TaskUnknown
}

impl Scheduler {
    pub fn new(config: CoreConfig) -> Scheduler {
        Scheduler {
            config,
            framework_id: None,
            targets: BTreeMap::new(),
            apps: BTreeMap::new(),
            instances: Instances::default(),
            deployments: Vec::new(),
            deployments_by_app: HashMap::new(),
            wants_offers: false,
            suppressed: false,
            next_probe: BTreeMap::new(),
            in_flight: HashSet::new(),
            paced_agents: HashSet::new(),
            kill_sent: BTreeMap::new(),
            last_reconcile: None,
            now_hint: Timestamp::ZERO,
            out: Vec::new(),
        }
    }

    /// Rebuilds the state after a restart: the root group's apps (targets),
    /// and what the core persisted. Apps with a target but no record are
    /// driven to their target directly.
    pub fn restore(
        config: CoreConfig,
        framework_id: Option<String>,
        targets: BTreeMap<String, RunSpec>,
        records: Vec<AppRecord>,
        instances: Vec<Instance>,
        deployments: Vec<Deployment>,
    ) -> Scheduler {
        let mut s = Scheduler::new(config);
        s.framework_id = framework_id;
        for r in records {
            let mut st = AppState::new(r.goal);
            st.stopping = r.stopping;
            st.backoff = r.backoff;
            st.last_task_failure = r.last_task_failure;
            s.apps.insert(r.app_id, st);
        }
        for (id, spec) in &targets {
            let in_deployment = deployments.iter().any(|d| d.plan.affects(id));
            if !s.apps.contains_key(id) && !in_deployment {
                s.apps.insert(id.clone(), AppState::new(spec.clone()));
            }
        }
        s.targets = targets;
        for i in instances {
            s.insert_instance(i);
        }
        s.deployments = deployments;
        s.index_deployments();
        s
    }

    fn index_deployments(&mut self) {
        self.deployments_by_app.clear();
        for d in &self.deployments {
            for app in d.plan.affected_apps() {
                self.deployments_by_app
                    .entry(app)
                    .or_default()
                    .push(d.plan.id.clone());
            }
        }
    }

    fn add_deployment(&mut self, d: Deployment) {
        self.deployments.push(d);
        self.index_deployments();
    }

    fn remove_deployment(&mut self, pos: usize) -> Deployment {
        let d = self.deployments.remove(pos);
        self.index_deployments();
        d
    }

    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.out)
    }

    // ----- reads -------------------------------------------------------

    pub fn framework_id(&self) -> Option<&str> {
        self.framework_id.as_deref()
    }

    pub fn targets(&self) -> &BTreeMap<String, RunSpec> {
        &self.targets
    }

    pub fn app(&self, id: &str) -> Option<&AppState> {
        self.apps.get(id)
    }

    pub fn apps(&self) -> impl Iterator<Item = (&String, &AppState)> {
        self.apps.iter()
    }

    pub fn instance(&self, task_id: &str) -> Option<&Instance> {
        self.instances.get(task_id)
    }

    pub fn instances(&self) -> impl Iterator<Item = &Instance> {
        self.instances.values()
    }

    pub fn instances_of<'a>(&'a self, app: &'a str) -> impl Iterator<Item = &'a Instance> + 'a {
        self.instances.of_app(app)
    }

    fn insert_instance(&mut self, inst: Instance) {
        self.instances.insert(inst.task_id.clone(), inst);
    }

    fn remove_instance(&mut self, id: &str) -> Option<Instance> {
        self.instances.remove(id)
    }

    pub fn deployments(&self) -> &[Deployment] {
        &self.deployments
    }

    /// Ids of running deployments that touch `app`.
    pub fn deployments_of(&self, app: &str) -> Vec<String> {
        self.deployments_by_app
            .get(app)
            .cloned()
            .unwrap_or_default()
    }

    /// Readiness results of the instances a current action waits for.
    pub fn readiness_of(&self, app: &str) -> Vec<ReadinessView> {
        self.instances_of(app)
            .filter_map(|i| {
                i.readiness.as_ref().map(|r| ReadinessView {
                    task_id: i.task_id.clone(),
                    result: r.clone(),
                })
            })
            .collect()
    }

    /// The launch queue: apps waiting for launches or held back by backoff.
    pub fn queue(&self, now: Timestamp) -> Vec<QueueEntry> {
        self.apps
            .values()
            .filter(|a| a.wanted > 0)
            .map(|a| QueueEntry {
                app_id: a.goal.id.clone(),
                version: a.goal.version.clone(),
                count: a.wanted,
                time_left_seconds: a
                    .backoff
                    .as_ref()
                    .map(|b| b.time_left_seconds(now))
                    .unwrap_or(0.0),
                overdue: a.backoff.as_ref().is_none_or(|b| b.overdue(now)),
                since: a.waiting_since.unwrap_or(now),
                stats: a.stats.clone(),
            })
            .collect()
    }

    /// Clears an app's launch delay (`DELETE /v2/queue/{app}/delay`).
    pub fn reset_delay(&mut self, app: &str, now: Timestamp) -> bool {
        let Some(a) = self.apps.get_mut(app) else {
            return false;
        };
        if a.wanted == 0 && a.backoff.is_none() {
            return false;
        }
        a.backoff = None;
        let rec = a.record();
        self.out
            .push(Effect::Put(Record::AppRuntime(Box::new(rec))));
        self.reconcile_apps(now);
        true
    }

    // ----- the master ---------------------------------------------------

    /// (Re)subscribed: remember the framework id, reconcile every known task
    /// explicitly and then all tasks implicitly, and ask for offers if needed.
    pub fn subscribed(&mut self, framework_id: &str, now: Timestamp) {
        if self.framework_id.as_deref() != Some(framework_id) {
            self.framework_id = Some(framework_id.to_string());
            self.out
                .push(Effect::Put(Record::FrameworkId(framework_id.to_string())));
        }
        let known: Vec<(TaskId, Option<AgentId>)> = self
            .instances
            .values()
            .map(|i| (TaskId::new(i.task_id.clone()), Some(i.agent_id.clone())))
            .collect();
        if !known.is_empty() {
            self.out.push(Effect::Reconcile(known));
        }
        self.out.push(Effect::Reconcile(Vec::new()));
        self.last_reconcile = Some(now);
        // A new subscription starts unsuppressed with no filters.
        self.suppressed = false;
        self.wants_offers = false;
        self.reconcile_apps(now);
    }

    /// Places wanted instances on the offers; launches on used offers and
    /// declines the rest.
    pub fn offers(&mut self, offers: &[Offer], now: Timestamp) {
        self.reconcile_apps(now);
        let mut pools: Vec<OfferPool> = offers.iter().map(OfferPool::from_offer).collect();
        let mut launches: Vec<Vec<paddock_proto::mesos::TaskInfo>> = vec![Vec::new(); pools.len()];
        // Apps waiting longest go first.
        let mut order: Vec<(Timestamp, String)> = self
            .apps
            .values()
            .filter(|a| a.wanted > 0 && !a.stopping && !a.delayed(now))
            .map(|a| (a.waiting_since.unwrap_or(now), a.goal.id.clone()))
            .collect();
        order.sort();
        let cap = self.config.max_staging_per_agent.unwrap_or(usize::MAX);
        let mut staging = self.staging_per_agent();
        let mut paced: Vec<bool> = vec![false; pools.len()];
        for (_, app_id) in order {
            let Some(app) = self.apps.get(&app_id) else {
                continue;
            };
            let spec = app.goal.clone();
            let mut wanted = app.wanted;
            let mut places: Vec<Place> = self
                .instances_of(&app_id)
                .filter(|i| !is_gone(i.state))
                .map(|i| i.place.clone())
                .collect();
            let mut used_any: Vec<bool> = vec![false; pools.len()];
            let mut first_reject: Vec<Option<RejectReason>> = vec![None; pools.len()];
            let per_offer = self.config.max_instances_per_offer.unwrap_or(usize::MAX);
            for (pi, pool) in pools.iter_mut().enumerate() {
                while wanted > 0 && launches[pi].len() < per_offer {
                    let on_agent = staging.entry(pool.agent_id.clone()).or_insert(0);
                    if *on_agent >= cap {
                        paced[pi] = true;
                        break;
                    }
                    let placed: Vec<&Place> = places.iter().collect();
                    match pool.check(&spec, &placed) {
                        Ok(host_ports) => {
                            let task_id = new_task_id(&spec.id);
                            let info = build_task_info(
                                &spec,
                                &LaunchTarget {
                                    task_id: task_id.clone(),
                                    agent_id: pool.agent_id.clone(),
                                    hostname: &pool.place.hostname,
                                    host_ports: &host_ports,
                                    allocation_role: Some(&pool.role),
                                },
                            );
                            pool.consume(&spec, &host_ports);
                            *on_agent += 1;
                            let inst = Instance {
                                task_id: task_id.value.clone(),
                                app_id: spec.id.clone(),
                                version: spec.version.clone(),
                                config_version: spec.config_version.clone(),
                                agent_id: pool.agent_id.clone(),
                                place: pool.place.clone(),
                                host_ports: host_ports.clone(),
                                service_ports: spec.service_ports(),
                                state: TaskState::TaskStaging,
                                staged_at: now,
                                started_at: None,
                                updated_at: now,
                                killing_since: None,
                                killed_unhealthy: false,
                                unreachable_since: None,
                                health: vec![None; spec.health_checks.len()],
                                readiness: None,
                                message: None,
                                ip_addresses: Vec::new(),
                                health_checks: spec.health_checks.clone(),
                                readiness_checks: spec.readiness_checks.clone(),
                                kill_grace_seconds: spec.task_kill_grace_period_seconds,
                            };
                            self.out
                                .push(Effect::Put(Record::Instance(Box::new(inst.clone()))));
                            self.out.push(Effect::Event(CoreEvent::InstanceChanged {
                                instance_id: inst.task_id.clone(),
                                condition: "Created".into(),
                                run_spec_id: inst.app_id.clone(),
                                agent_id: inst.agent_id.value.clone(),
                                host: inst.place.hostname.clone(),
                                run_spec_version: inst.version.clone(),
                                timestamp: now,
                            }));
                            places.push(inst.place.clone());
                            self.insert_instance(inst);
                            launches[pi].push(info);
                            used_any[pi] = true;
                            wanted -= 1;
                        }
                        Err(reason) => {
                            first_reject[pi] = Some(reason);
                            break;
                        }
                    }
                }
            }
            if let Some(app) = self.apps.get_mut(&app_id) {
                for (pi, used) in used_any.iter().enumerate() {
                    if *used {
                        app.stats.record_used(now);
                    } else if let Some(r) = first_reject[pi] {
                        app.stats.record_unused(r, now);
                    }
                }
                app.wanted = wanted;
            }
        }
        for (pi, pool) in pools.iter().enumerate() {
            if paced[pi] {
                self.paced_agents.insert(pool.agent_id.clone());
            }
        }
        let still_wanted = self.apps.values().any(|a| a.wanted > 0);
        let mut declined = Vec::new();
        let mut declined_paced = Vec::new();
        for (pi, pool) in pools.iter().enumerate() {
            if launches[pi].is_empty() && paced[pi] && still_wanted {
                declined_paced.push(pool.offer_id.clone());
            } else if launches[pi].is_empty() {
                declined.push(pool.offer_id.clone());
            } else {
                // A paced agent's leftovers must come back soon, not after
                // the master's default filter of 5 s.
                self.out.push(Effect::Launch {
                    offer_ids: vec![pool.offer_id.clone()],
                    tasks: std::mem::take(&mut launches[pi]),
                    refuse_seconds: paced[pi].then_some(self.config.paced_refuse_seconds),
                });
            }
        }
        if !declined.is_empty() {
            let refuse_seconds = if still_wanted {
                self.config.decline_refuse_seconds
            } else {
                self.config.idle_refuse_seconds
            };
            self.out.push(Effect::Decline {
                offer_ids: declined,
                refuse_seconds,
            });
        }
        if !declined_paced.is_empty() {
            self.out.push(Effect::Decline {
                offer_ids: declined_paced,
                refuse_seconds: self.config.paced_refuse_seconds,
            });
        }
        self.reconcile_apps(now);
    }

    /// How many of our tasks are launched but not running yet, per agent.
    fn staging_per_agent(&self) -> HashMap<AgentId, usize> {
        let mut out = HashMap::new();
        if self.config.max_staging_per_agent.is_none() {
            return out;
        }
        for i in self.instances.values().filter(|i| is_staging(i)) {
            *out.entry(i.agent_id.clone()).or_insert(0) += 1;
        }
        out
    }

    /// A status update. The caller acknowledges it after the effects ran.
    pub fn update(&mut self, status: &TaskStatus, now: Timestamp) {
        let agent = self
            .instances
            .get(&status.task_id.value)
            .map(|i| i.agent_id.clone());
        self.apply_update(status, now);
        if let Some(agent) = agent {
            self.unpace(&agent);
        }
    }

    /// Asks for offers again once a paced agent is down to half the cap
    /// (not at every task that starts, which would launch one at a time).
    fn unpace(&mut self, agent: &AgentId) {
        let Some(cap) = self.config.max_staging_per_agent else {
            return;
        };
        if !self.paced_agents.contains(agent) {
            return;
        }
        let staging = self
            .instances
            .values()
            .filter(|i| &i.agent_id == agent && is_staging(i))
            .count();
        if staging <= cap / 2 {
            self.paced_agents.remove(agent);
            if self.wants_offers && !self.suppressed {
                self.out.push(Effect::Revive);
            }
        }
    }

    fn apply_update(&mut self, status: &TaskStatus, now: Timestamp) {
        let id = status.task_id.value.clone();
        let Some(inst) = self.instances.get_mut(&id) else {
            if !is_gone(status.state) {
                // A task of our framework that we do not know: an orphan.
                tracing::info!(task = %status.task_id, "marathon: killing a task it does not know");
                self.out.push(Effect::Kill {
                    task_id: status.task_id.clone(),
                    agent_id: status.agent_id.clone(),
                    grace_seconds: None,
                });
            } else if status.state != TaskState::TaskUnknown {
                self.out
                    .push(Effect::Event(CoreEvent::UnknownInstanceTerminated {
                        instance_id: id.clone(),
                        run_spec_id: app_id_of_task(&id).unwrap_or_default(),
                        condition: condition(status.state).to_string(),
                        timestamp: now,
                    }));
            }
            return;
        };
        let previous = inst.state;
        inst.state = status.state;
        inst.updated_at = now;
        if status.message.is_some() {
            inst.message = status.message.clone();
        }
        let ips = status_ips(status);
        if !ips.is_empty() {
            inst.ip_addresses = ips;
        }
        if status.state == TaskState::TaskRunning {
            inst.started_at.get_or_insert(now);
            inst.unreachable_since = None;
        }
        if status.state == TaskState::TaskUnreachable {
            inst.unreachable_since.get_or_insert(now);
        }
        let inst = inst.clone();
        // Repeats (reconciliation answers) are not news.
        if previous != status.state {
            self.out.push(Effect::Event(CoreEvent::StatusUpdate {
                slave_id: inst.agent_id.value.clone(),
                task_id: inst.task_id.clone(),
                task_status: status.state.as_str().to_string(),
                message: status.message.clone().unwrap_or_default(),
                app_id: inst.app_id.clone(),
                host: inst.place.hostname.clone(),
                ports: inst.host_ports.clone(),
                ip_addresses: inst.ip_addresses.clone(),
                version: inst.version.clone(),
                timestamp: now,
            }));
            self.out.push(Effect::Event(CoreEvent::InstanceChanged {
                instance_id: inst.task_id.clone(),
                condition: condition(status.state).to_string(),
                run_spec_id: inst.app_id.clone(),
                agent_id: inst.agent_id.value.clone(),
                host: inst.place.hostname.clone(),
                run_spec_version: inst.version.clone(),
                timestamp: now,
            }));
        }
        let expunge_now = status.state == TaskState::TaskUnreachable
            && matches!(
                self.unreachable_strategy(&inst.app_id),
                UnreachableStrategy::Enabled {
                    expunge_after_seconds: 0,
                    ..
                }
            );
        if is_gone(status.state) || expunge_now {
            if expunge_now {
                // It may come back; make sure it does not run beside its replacement.
                self.out.push(Effect::Kill {
                    task_id: status.task_id.clone(),
                    agent_id: Some(inst.agent_id.clone()),
                    grace_seconds: None,
                });
            }
            self.expunge(&id, status.state, status.message.as_deref(), now);
        } else if previous != status.state {
            let app = inst.app_id.clone();
            self.out.push(Effect::Put(Record::Instance(Box::new(inst))));
            self.reconcile(now, Some(&app));
            return;
        }
        self.reconcile(now, Some(&inst.app_id));
    }

    /// The master lost an agent: its tasks are gone.
    pub fn agent_failed(&mut self, agent_id: &AgentId, now: Timestamp) {
        let ids: Vec<String> = self
            .instances
            .values()
            .filter(|i| &i.agent_id == agent_id)
            .map(|i| i.task_id.clone())
            .collect();
        for id in ids {
            if let Some(inst) = self.instances.get(&id) {
                self.out.push(Effect::Event(CoreEvent::InstanceChanged {
                    instance_id: inst.task_id.clone(),
                    condition: condition(TaskState::TaskGone).to_string(),
                    run_spec_id: inst.app_id.clone(),
                    agent_id: inst.agent_id.value.clone(),
                    host: inst.place.hostname.clone(),
                    run_spec_version: inst.version.clone(),
                    timestamp: now,
                }));
            }
            self.expunge(&id, TaskState::TaskGone, Some("Agent was removed"), now);
        }
        self.reconcile_apps(now);
    }

    fn unreachable_strategy(&self, app: &str) -> UnreachableStrategy {
        self.apps
            .get(app)
            .map(|a| a.goal.unreachable_strategy)
            .unwrap_or_default()
    }

    /// Forgets an instance that ended; records failures and backoff.
    fn expunge(&mut self, id: &str, state: TaskState, message: Option<&str>, now: Timestamp) {
        let Some(inst) = self.remove_instance(id) else {
            return;
        };
        // Only this instance's probe slots (a scan of every slot per ended
        // instance made a 1,000-task restart quadratic).
        let slots = (0..inst.health_checks.len()).chain([READINESS_SLOT]);
        for slot in slots {
            let key = (id.to_string(), slot);
            self.next_probe.remove(&key);
            self.in_flight.remove(&key);
        }
        self.kill_sent.remove(id);
        self.out.push(Effect::Delete(instance_key(id)));
        let requested_kill = inst.killing_since.is_some() && !inst.killed_unhealthy;
        let failed = inst.killed_unhealthy
            || (!requested_kill && (is_failure(state) || state == TaskState::TaskKilled));
        if let Some(app) = self.apps.get_mut(&inst.app_id) {
            if failed {
                app.last_task_failure = Some(TaskFailure {
                    app_id: inst.app_id.clone(),
                    host: inst.place.hostname.clone(),
                    message: message
                        .map(str::to_string)
                        .or(inst.message.clone())
                        .unwrap_or_default(),
                    state: state.as_str().to_string(),
                    task_id: inst.task_id.clone(),
                    timestamp: now,
                    version: inst.version.clone(),
                    slave_id: inst.agent_id.value.clone(),
                });
                // The task's own failures count for backoff (TASK_FAILED,
                // TASK_FINISHED, TASK_ERROR, and health kills); a kill
                // Marathon did not ask for does not, nor does losing the
                // agent (unreachable, gone, unknown, dropped): that is not
                // the app's fault, and hundreds of tasks of a lost agent
                // would otherwise push the delay to its maximum at once.
                if counts_for_backoff(state) || inst.killed_unhealthy {
                    app.backoff = Some(Backoff::after_failure(
                        app.backoff.as_ref(),
                        &app.goal.backoff,
                        now,
                    ));
                }
                let rec = app.record();
                self.out
                    .push(Effect::Put(Record::AppRuntime(Box::new(rec))));
            }
        }
    }

    // ----- health -------------------------------------------------------

    /// Probes due now. Each is reported back with [`Scheduler::health_result`]
    /// or [`Scheduler::readiness_result`]; no probe of a slot runs twice at once.
    pub fn due_probes(&mut self, now: Timestamp) -> Vec<ProbeRequest> {
        let mut out = Vec::new();
        let readiness_apps: BTreeSet<String> = self
            .deployments
            .iter()
            .flat_map(|d| d.current_actions().iter())
            .filter(|a| {
                matches!(
                    a.kind,
                    ActionKind::RestartApplication | ActionKind::ScaleApplication
                )
            })
            .map(|a| a.app.clone())
            .collect();
        for inst in self.instances.values() {
            if !inst.is_running() || inst.killing_since.is_some() {
                continue;
            }
            let started = inst.started_at.unwrap_or(inst.staged_at);
            for (i, check) in inst.health_checks.iter().enumerate() {
                let key = (inst.task_id.clone(), i);
                if self.in_flight.contains(&key) {
                    continue;
                }
                let due = self.next_probe.get(&key).copied().unwrap_or(started);
                if now < due {
                    continue;
                }
                let port = check
                    .port
                    .or_else(|| inst.host_ports.get(check.port_index.unwrap_or(0)).copied());
                out.push(ProbeRequest {
                    task_id: inst.task_id.clone(),
                    app_id: inst.app_id.clone(),
                    host: inst.place.hostname.clone(),
                    port,
                    kind: ProbeKind::Health {
                        index: i,
                        check: check.clone(),
                    },
                    env: probe_env(inst),
                });
            }
            let needs_ready = readiness_apps.contains(&inst.app_id)
                && !inst.readiness_checks.is_empty()
                && !inst.readiness.as_ref().is_some_and(|r| r.ready);
            if needs_ready {
                let key = (inst.task_id.clone(), READINESS_SLOT);
                let due = self.next_probe.get(&key).copied().unwrap_or(started);
                if !self.in_flight.contains(&key) && now >= due {
                    if let Some(check) = inst.readiness_checks.first() {
                        let port = self
                            .apps
                            .get(&inst.app_id)
                            .and_then(|a| {
                                a.goal.port_definitions.iter().position(|p| {
                                    p.name.as_deref() == Some(check.port_name.as_str())
                                })
                            })
                            .and_then(|idx| inst.host_ports.get(idx).copied())
                            .or_else(|| inst.host_ports.first().copied());
                        out.push(ProbeRequest {
                            task_id: inst.task_id.clone(),
                            app_id: inst.app_id.clone(),
                            host: inst.place.hostname.clone(),
                            port,
                            kind: ProbeKind::Readiness(check.clone()),
                            env: probe_env(inst),
                        });
                    }
                }
            }
        }
        for p in &out {
            let (slot, interval) = match &p.kind {
                ProbeKind::Health { index, check } => (*index, check.interval_seconds),
                ProbeKind::Readiness(r) => (READINESS_SLOT, r.interval_seconds),
            };
            let key = (p.task_id.clone(), slot);
            let due = self.next_probe.get(&key).copied();
            self.in_flight.insert(key.clone());
            self.next_probe
                .insert(key, next_probe_at(due, now, interval));
        }
        out
    }

    /// The outcome of a health probe (`Err` carries the failure cause).
    pub fn health_result(
        &mut self,
        task_id: &str,
        index: usize,
        outcome: Result<(), String>,
        now: Timestamp,
    ) {
        self.in_flight.remove(&(task_id.to_string(), index));
        let Some(inst) = self.instances.get_mut(task_id) else {
            return;
        };
        let Some(check) = inst.health_checks.get(index).cloned() else {
            return;
        };
        if inst.killing_since.is_some() || !inst.is_running() {
            return;
        }
        let started = inst.started_at.unwrap_or(inst.staged_at);
        let before_alive = inst
            .health
            .get(index)
            .and_then(|h| h.as_ref())
            .map(|h| h.alive());
        let before_summary = inst.health_summary();
        let Some(slot) = inst.health.get_mut(index) else {
            return;
        };
        let mut failed_counted = false;
        match outcome {
            Ok(()) => {
                let h = slot.get_or_insert_with(HealthResult::default);
                h.consecutive_failures = 0;
                h.last_success = Some(now);
                h.first_success.get_or_insert(now);
            }
            Err(cause) => {
                let in_grace = now < started.plus_millis(secs(check.grace_period_seconds));
                let had_success = slot.as_ref().is_some_and(|h| h.first_success.is_some());
                if in_grace && !had_success {
                    // Ignored: still starting up.
                } else {
                    let h = slot.get_or_insert_with(HealthResult::default);
                    h.consecutive_failures += 1;
                    h.last_failure = Some(now);
                    h.last_failure_cause = Some(cause);
                    failed_counted = true;
                }
            }
        }
        let after_alive = slot.as_ref().map(|h| h.alive());
        let failures = slot.as_ref().map(|h| h.consecutive_failures).unwrap_or(0);
        let after_summary = inst.health_summary();
        let inst = inst.clone();
        if failed_counted {
            self.out.push(Effect::Event(CoreEvent::FailedHealthCheck {
                app_id: inst.app_id.clone(),
                instance_id: inst.task_id.clone(),
                health_check: check.raw.clone(),
                timestamp: now,
            }));
        }
        if before_alive != after_alive {
            self.out.push(Effect::Event(CoreEvent::HealthStatusChanged {
                app_id: inst.app_id.clone(),
                instance_id: inst.task_id.clone(),
                version: inst.version.clone(),
                alive: after_alive.unwrap_or(false),
                timestamp: now,
            }));
            // Persist health on every change, so a restart does not reset it.
            self.out
                .push(Effect::Put(Record::Instance(Box::new(inst.clone()))));
        }
        if before_summary != after_summary {
            self.out
                .push(Effect::Event(CoreEvent::InstanceHealthChanged {
                    instance_id: inst.task_id.clone(),
                    run_spec_id: inst.app_id.clone(),
                    run_spec_version: inst.version.clone(),
                    healthy: after_summary,
                    timestamp: now,
                }));
        }
        let max = check.max_consecutive_failures;
        let kill = failed_counted
            && ((max > 0 && failures >= max) || (max == 0 && check.protocol.is_mesos()));
        if kill {
            self.out
                .push(Effect::Event(CoreEvent::UnhealthyInstanceKill {
                    app_id: inst.app_id.clone(),
                    task_id: inst.task_id.clone(),
                    instance_id: inst.task_id.clone(),
                    version: inst.version.clone(),
                    reason: format!("{failures} consecutive health check failures"),
                    host: inst.place.hostname.clone(),
                    slave_id: inst.agent_id.value.clone(),
                    timestamp: now,
                }));
            if let Some(i) = self.instances.get_mut(task_id) {
                i.killed_unhealthy = true;
            }
            self.kill(task_id, now);
            self.reconcile(now, Some(&inst.app_id));
        }
    }

    /// A probe that gave no verdict (an ignored 1xx answer): just free the slot.
    pub fn probe_skipped(&mut self, task_id: &str, index: usize) {
        self.in_flight.remove(&(task_id.to_string(), index));
    }

    /// The outcome of a readiness probe.
    pub fn readiness_result(&mut self, task_id: &str, result: ReadinessResult, now: Timestamp) {
        self.in_flight
            .remove(&(task_id.to_string(), READINESS_SLOT));
        if let Some(inst) = self.instances.get_mut(task_id) {
            inst.readiness = Some(result);
            self.tick(now);
        }
    }

    // ----- deployments --------------------------------------------------

    /// The plan a change to `target` (every app of the new root) would run.
    pub fn preview(&self, target: &BTreeMap<String, RunSpec>, now: Timestamp) -> DeploymentPlan {
        plan::diff(uuid::Uuid::new_v4().to_string(), now, &self.targets, target)
    }

    /// Starts a deployment to `target`. A plan touching apps locked by a
    /// running deployment fails unless `force`, which cancels those.
    pub fn deploy(
        &mut self,
        target: BTreeMap<String, RunSpec>,
        force: bool,
        now: Timestamp,
    ) -> Result<DeploymentPlan, CoreError> {
        self.deploy_with(target, force, &[], now)
    }

    /// Like [`Scheduler::deploy`]; `kills` names tasks that the plan's
    /// scale-downs kill (instead of those killSelection would pick).
    pub fn deploy_with(
        &mut self,
        target: BTreeMap<String, RunSpec>,
        force: bool,
        kills: &[String],
        now: Timestamp,
    ) -> Result<DeploymentPlan, CoreError> {
        let mut plan = self.preview(&target, now);
        self.sentence(&mut plan, kills)?;
        let conflicts = self.conflicts(&plan);
        if !conflicts.is_empty() && !force {
            return Err(CoreError::Locked {
                deployments: conflicts,
            });
        }
        if conflicts.is_empty()
            && self.deployments.len() >= self.config.max_running_deployments
            && !plan.is_empty()
        {
            return Err(CoreError::TooManyDeployments(
                self.config.max_running_deployments,
            ));
        }
        for id in conflicts {
            self.force_stop(&id, now);
        }
        self.targets = target;
        self.start_plan(plan.clone(), now);
        Ok(plan)
    }

    /// Running deployments that touch an app `plan` touches.
    fn conflicts(&self, plan: &DeploymentPlan) -> Vec<String> {
        let affected = plan.affected_apps();
        self.deployments
            .iter()
            .filter(|d| {
                d.plan
                    .affected_apps()
                    .intersection(&affected)
                    .next()
                    .is_some()
            })
            .map(|d| d.plan.id.clone())
            .collect()
    }

    /// Names the tasks that the plan's scale actions kill.
    fn sentence(&self, plan: &mut DeploymentPlan, kills: &[String]) -> Result<(), CoreError> {
        let mut by_app: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for id in kills {
            let inst = self
                .instances
                .get(id)
                .ok_or_else(|| CoreError::UnknownTask(id.clone()))?;
            by_app
                .entry(inst.app_id.clone())
                .or_default()
                .push(id.clone());
        }
        for step in &mut plan.steps {
            for a in &mut step.actions {
                if a.kind == ActionKind::ScaleApplication {
                    if let Some(ids) = by_app.get(&a.app) {
                        a.sentenced = ids.clone();
                    }
                }
            }
        }
        Ok(())
    }

    fn start_plan(&mut self, plan: DeploymentPlan, now: Timestamp) {
        if plan.is_empty() {
            self.out.push(Effect::Event(CoreEvent::DeploymentSuccess {
                plan,
                timestamp: now,
            }));
            return;
        }
        let d = Deployment::new(plan, now);
        self.out
            .push(Effect::Put(Record::Deployment(Box::new(d.clone()))));
        self.add_deployment(d);
        self.tick(now);
    }

    /// Cancels a deployment. `force`: just stop it, leaving apps driven to
    /// its target without further steps. Otherwise: roll back, with a new
    /// deployment to the original of its apps, which is returned.
    pub fn cancel_deployment(
        &mut self,
        id: &str,
        force: bool,
        now: Timestamp,
    ) -> Result<Option<DeploymentPlan>, CoreError> {
        let Some(pos) = self.deployments.iter().position(|d| d.plan.id == id) else {
            return Err(CoreError::UnknownDeployment(id.to_string()));
        };
        if force {
            self.force_stop(id, now);
            self.reconcile_apps(now);
            return Ok(None);
        }
        let d = &self.deployments[pos];
        let mut target = self.targets.clone();
        for app in d.plan.affected_apps() {
            match d.plan.original.get(&app) {
                Some(spec) => {
                    target.insert(app, spec.clone());
                }
                None => {
                    target.remove(&app);
                }
            }
        }
        self.cancel_to(id, target, now).map(Some)
    }

    /// Stops a deployment and starts a new one to `target` (the rollback),
    /// which is returned. Deployments the rollback collides with stop too.
    pub fn cancel_to(
        &mut self,
        id: &str,
        target: BTreeMap<String, RunSpec>,
        now: Timestamp,
    ) -> Result<DeploymentPlan, CoreError> {
        let Some(pos) = self.deployments.iter().position(|d| d.plan.id == id) else {
            return Err(CoreError::UnknownDeployment(id.to_string()));
        };
        let d = self.remove_deployment(pos);
        self.out.push(Effect::Delete(deployment_key(id)));
        self.out.push(Effect::Event(CoreEvent::DeploymentFailed {
            plan: d.plan.clone(),
            reason: "The deployment was canceled and is rolled back".into(),
            timestamp: now,
        }));
        let plan = self.preview(&target, now);
        for c in self.conflicts(&plan) {
            self.force_stop(&c, now);
        }
        self.targets = target;
        self.start_plan(plan.clone(), now);
        Ok(plan)
    }

    /// Stops a deployment where it is; its apps go straight to their target.
    fn force_stop(&mut self, id: &str, now: Timestamp) {
        let Some(pos) = self.deployments.iter().position(|d| d.plan.id == id) else {
            return;
        };
        let d = self.remove_deployment(pos);
        self.out.push(Effect::Delete(deployment_key(id)));
        self.out.push(Effect::Event(CoreEvent::DeploymentFailed {
            plan: d.plan.clone(),
            reason: "The deployment was canceled".into(),
            timestamp: now,
        }));
        for app in d.plan.affected_apps() {
            match d.plan.target.get(&app) {
                Some(spec) => {
                    let st = self
                        .apps
                        .entry(app.clone())
                        .or_insert_with(|| AppState::new(spec.clone()));
                    st.goal = spec.clone();
                    st.stopping = false;
                    let rec = st.record();
                    self.out
                        .push(Effect::Put(Record::AppRuntime(Box::new(rec))));
                }
                None => {
                    if let Some(st) = self.apps.get_mut(&app) {
                        st.stopping = true;
                    }
                }
            }
        }
    }

    /// Applies the current step's actions to the apps.
    fn apply_step(&mut self, di: usize, now: Timestamp) {
        let d = &self.deployments[di];
        let actions = d.current_actions().to_vec();
        let plan = d.plan.clone();
        for a in &actions {
            let target = plan.target.get(&a.app).cloned();
            match a.kind {
                ActionKind::StartApplication => {
                    if let Some(spec) = target {
                        match self.apps.get_mut(&a.app) {
                            Some(st) => st.stopping = false,
                            None => {
                                let mut goal = spec;
                                goal.instances = 0;
                                self.apps.insert(a.app.clone(), AppState::new(goal));
                            }
                        }
                    }
                }
                ActionKind::ScaleApplication | ActionKind::RestartApplication => {
                    if let Some(spec) = target {
                        let st = self
                            .apps
                            .entry(a.app.clone())
                            .or_insert_with(|| AppState::new(spec.clone()));
                        if st.goal.config_version != spec.config_version
                            || st.goal.version != spec.version
                        {
                            // A new version starts without the old one's delay.
                            st.backoff = None;
                        }
                        st.goal = spec;
                        st.stopping = false;
                    }
                    for t in &a.sentenced {
                        self.kill(t, now);
                    }
                }
                ActionKind::StopApplication => {
                    if let Some(st) = self.apps.get_mut(&a.app) {
                        st.stopping = true;
                    }
                }
            }
            if let Some(st) = self.apps.get(&a.app) {
                let rec = st.record();
                self.out
                    .push(Effect::Put(Record::AppRuntime(Box::new(rec))));
            }
        }
        self.deployments[di].step_applied = true;
        let d = self.deployments[di].clone();
        self.out
            .push(Effect::Put(Record::Deployment(Box::new(d.clone()))));
        self.out.push(Effect::Event(CoreEvent::DeploymentInfo {
            plan: d.plan,
            current_step: d.current_step,
            timestamp: now,
        }));
    }

    fn action_done(&self, kind: &ActionKind, app: &str) -> bool {
        match kind {
            ActionKind::StartApplication => self.apps.contains_key(app),
            ActionKind::StopApplication => !self.apps.contains_key(app),
            ActionKind::ScaleApplication => {
                let Some(st) = self.apps.get(app) else {
                    return false;
                };
                let n = st.goal.instances as usize;
                let has_readiness = !st.goal.readiness_checks.is_empty();
                let ready = self
                    .instances_of(app)
                    .filter(|i| i.is_active() && i.is_healthy_and_ready(has_readiness))
                    .count();
                let present = self
                    .instances_of(app)
                    .filter(|i| !self.is_inactive_unreachable(i))
                    .count();
                ready >= n && present <= n
            }
            ActionKind::RestartApplication => {
                let Some(st) = self.apps.get(app) else {
                    return false;
                };
                let (old, new) = self.restart_view(st);
                let killing_old = self
                    .instances_of(app)
                    .any(|i| i.config_version != st.goal.config_version);
                restart::next_step(st.goal.instances, &st.goal.upgrade_strategy, &old, new).done
                    && !killing_old
            }
        }
    }

    fn restart_view(&self, st: &AppState) -> (Vec<OldInstance>, NewInstances) {
        let app = st.goal.id.as_str();
        let has_readiness = !st.goal.readiness_checks.is_empty();
        let mut old = Vec::new();
        let mut new = NewInstances::default();
        for i in self.instances_of(app) {
            if !i.is_active() || self.is_inactive_unreachable(i) {
                continue;
            }
            if i.config_version == st.goal.config_version {
                new.active += 1;
                if i.is_healthy_and_ready(has_readiness) {
                    new.ready += 1;
                }
            } else {
                old.push(OldInstance {
                    healthy: i.is_healthy(),
                });
            }
        }
        (old, new)
    }

    fn is_inactive_unreachable(&self, i: &Instance) -> bool {
        let Some(since) = i.unreachable_since else {
            return false;
        };
        match self.unreachable_strategy(&i.app_id) {
            UnreachableStrategy::Disabled => false,
            UnreachableStrategy::Enabled {
                inactive_after_seconds,
                ..
            } => self.now_hint >= since.plus_millis(secs(inactive_after_seconds)),
        }
    }

    fn advance_deployments(&mut self, now: Timestamp) {
        let mut di = 0;
        while di < self.deployments.len() {
            if !self.deployments[di].step_applied {
                self.apply_step(di, now);
                self.reconcile_apps(now);
            }
            let d = &self.deployments[di];
            let done = d
                .current_actions()
                .iter()
                .all(|a| self.action_done(&a.kind, &a.app));
            if !done {
                di += 1;
                continue;
            }
            let d = &mut self.deployments[di];
            let step = d.current_step;
            d.current_step += 1;
            d.step_applied = false;
            let plan = d.plan.clone();
            self.out
                .push(Effect::Event(CoreEvent::DeploymentStepSuccess {
                    plan: plan.clone(),
                    current_step: step,
                    timestamp: now,
                }));
            if self.deployments[di].current_step >= plan.steps.len() {
                self.remove_deployment(di);
                self.out.push(Effect::Delete(deployment_key(&plan.id)));
                self.out.push(Effect::Event(CoreEvent::DeploymentSuccess {
                    plan,
                    timestamp: now,
                }));
            }
            // Stay on this index: either the next step applies, or the next deployment moved here.
        }
    }

    // ----- kills and scaling ---------------------------------------------

    fn kill(&mut self, task_id: &str, now: Timestamp) {
        let Some(inst) = self.instances.get_mut(task_id) else {
            return;
        };
        if inst.killing_since.is_none() {
            inst.killing_since = Some(now);
            let rec = inst.clone();
            self.out.push(Effect::Put(Record::Instance(Box::new(rec))));
        }
        self.kill_sent.insert(task_id.to_string(), now);
        self.out.push(Effect::Kill {
            task_id: TaskId::new(inst.task_id.clone()),
            agent_id: Some(inst.agent_id.clone()),
            grace_seconds: inst.kill_grace_seconds,
        });
    }

    /// Kills tasks (`DELETE /v2/apps/{id}/tasks`, `/v2/tasks/delete`). With
    /// `scale`, their apps are scaled down by as many (a deployment, which is
    /// returned); without, they are replaced.
    pub fn kill_tasks(
        &mut self,
        task_ids: &[String],
        scale: bool,
        force: bool,
        now: Timestamp,
    ) -> Result<(Vec<Instance>, Option<DeploymentPlan>), CoreError> {
        let mut killed = Vec::new();
        for id in task_ids {
            match self.instances.get(id) {
                Some(i) => killed.push(i.clone()),
                None => return Err(CoreError::UnknownTask(id.clone())),
            }
        }
        if !scale {
            for i in &killed {
                self.kill(&i.task_id, now);
            }
            self.reconcile_apps(now);
            return Ok((killed, None));
        }
        let mut target = self.targets.clone();
        let mut by_app: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for i in &killed {
            by_app
                .entry(i.app_id.clone())
                .or_default()
                .push(i.task_id.clone());
        }
        for (app, ids) in &by_app {
            if let Some(spec) = target.get_mut(app) {
                spec.instances = spec.instances.saturating_sub(ids.len() as u32);
                spec.version = now.to_string();
            }
        }
        let ids: Vec<String> = killed.iter().map(|i| i.task_id.clone()).collect();
        let plan = self.deploy_with(target, force, &ids, now)?;
        Ok((killed, Some(plan)))
    }

    /// Decides, for every app, what to kill and how many to launch.
    fn reconcile_apps(&mut self, now: Timestamp) {
        self.reconcile(now, None);
    }

    /// [`Scheduler::reconcile_apps`] for one app (`only`) or all.
    fn reconcile(&mut self, now: Timestamp, only: Option<&str>) {
        self.now_hint = self.now_hint.max(now);
        let restarting: BTreeSet<String> = match only {
            // One app: no need to collect every action of every deployment.
            Some(id) => self
                .deployments
                .iter()
                .filter(|d| d.step_applied)
                .filter_map(|d| d.current_action_for(id))
                .filter(|a| a.kind == ActionKind::RestartApplication)
                .map(|a| a.app.clone())
                .collect(),
            None => self
                .deployments
                .iter()
                .filter(|d| d.step_applied)
                .flat_map(|d| d.current_actions().iter())
                .filter(|a| a.kind == ActionKind::RestartApplication)
                .map(|a| a.app.clone())
                .collect(),
        };
        let app_ids: Vec<String> = match only {
            Some(id) => self
                .apps
                .contains_key(id)
                .then(|| id.to_string())
                .into_iter()
                .collect(),
            None => self.apps.keys().cloned().collect(),
        };
        let mut to_kill: Vec<String> = Vec::new();
        let mut removed: Vec<String> = Vec::new();
        for id in app_ids {
            let Some(st) = self.apps.get(&id) else {
                continue;
            };
            let active: Vec<&Instance> = self
                .instances_of(&id)
                .filter(|i| i.is_active() && !self.is_inactive_unreachable(i))
                .collect();
            let wanted;
            if st.stopping {
                to_kill.extend(active.iter().map(|i| i.task_id.clone()));
                wanted = 0;
                if self.instances_of(&id).next().is_none() {
                    removed.push(id.clone());
                }
            } else if restarting.contains(&id) {
                let (old, new) = self.restart_view(st);
                let step =
                    restart::next_step(st.goal.instances, &st.goal.upgrade_strategy, &old, new);
                let old_ids: Vec<String> = active
                    .iter()
                    .filter(|i| i.config_version != st.goal.config_version)
                    .map(|i| i.task_id.clone())
                    .collect();
                to_kill.extend(
                    step.kill_old
                        .iter()
                        .filter_map(|k| old_ids.get(*k).cloned()),
                );
                wanted = step.launch;
            } else {
                let n = st.goal.instances as usize;
                if active.len() > n {
                    let candidates: Vec<KillCandidate<'_>> = active
                        .iter()
                        .map(|i| KillCandidate {
                            place: &i.place,
                            running: i.is_running(),
                            started: i.age_anchor(),
                        })
                        .collect();
                    let picked = kill::choose(
                        &st.goal.constraints,
                        st.goal.kill_selection,
                        &candidates,
                        active.len() - n,
                    );
                    to_kill.extend(picked.into_iter().map(|k| active[k].task_id.clone()));
                }
                wanted = n.saturating_sub(active.len()) as u32;
            }
            if let Some(st) = self.apps.get_mut(&id) {
                st.wanted = wanted;
                if wanted > 0 {
                    st.waiting_since.get_or_insert(now);
                } else {
                    st.waiting_since = None;
                }
                if let Some(b) = st.backoff {
                    if b.expired(&st.goal.backoff, now) {
                        st.backoff = None;
                    }
                }
            }
        }
        for t in to_kill {
            self.kill(&t, now);
        }
        for id in removed {
            self.apps.remove(&id);
            self.out.push(Effect::Delete(app_key(&id)));
            self.out.push(Effect::Event(CoreEvent::AppTerminated {
                app_id: id,
                timestamp: now,
            }));
        }
        self.update_offer_interest(now);
    }

    fn update_offer_interest(&mut self, now: Timestamp) {
        let wants = self.apps.values().any(|a| a.wanted > 0 && !a.delayed(now));
        if wants && (!self.wants_offers || self.suppressed) {
            self.out.push(Effect::Revive);
            self.suppressed = false;
        }
        if !wants && !self.suppressed {
            self.out.push(Effect::Suppress);
            self.suppressed = true;
        }
        self.wants_offers = wants;
    }

    /// The periodic pass: deployments, timeouts, kill retries, unreachable
    /// instances, backoff expiry, periodic reconciliation.
    pub fn tick(&mut self, now: Timestamp) {
        self.now_hint = self.now_hint.max(now);
        self.reconcile_apps(now);
        self.advance_deployments(now);
        // Kill retries, launch timeouts and unreachable expunges.
        let mut retry = Vec::new();
        let mut timeout = Vec::new();
        let mut expunge = Vec::new();
        for i in self.instances.values() {
            if let Some(since) = i.killing_since {
                let sent = self.kill_sent.get(&i.task_id).copied().unwrap_or(since);
                if now >= sent.plus_millis(secs(self.config.kill_retry_seconds)) {
                    retry.push(i.task_id.clone());
                }
            } else if matches!(i.state, TaskState::TaskStaging | TaskState::TaskStarting)
                && now
                    >= i.staged_at
                        .plus_millis(secs(self.config.launch_timeout_seconds))
            {
                timeout.push(i.task_id.clone());
            }
            if let (
                Some(since),
                UnreachableStrategy::Enabled {
                    expunge_after_seconds,
                    ..
                },
            ) = (i.unreachable_since, self.unreachable_strategy(&i.app_id))
            {
                if now >= since.plus_millis(secs(expunge_after_seconds)) {
                    expunge.push(i.task_id.clone());
                }
            }
        }
        for t in retry {
            if let Some(i) = self.instances.get(&t) {
                self.kill_sent.insert(t.clone(), now);
                self.out.push(Effect::Kill {
                    task_id: TaskId::new(t.clone()),
                    agent_id: Some(i.agent_id.clone()),
                    grace_seconds: i.kill_grace_seconds,
                });
            }
        }
        for t in timeout {
            if let Some(i) = self.instances.get_mut(&t) {
                i.message = Some("Task launch timed out".into());
            }
            self.kill(&t, now);
        }
        for t in expunge {
            if let Some(i) = self.instances.get(&t) {
                self.out.push(Effect::Kill {
                    task_id: TaskId::new(t.clone()),
                    agent_id: Some(i.agent_id.clone()),
                    grace_seconds: None,
                });
            }
            self.expunge(
                &t,
                TaskState::TaskUnreachable,
                Some("Unreachable instance expunged"),
                now,
            );
        }
        let reconcile_due = self
            .last_reconcile
            .is_some_and(|t| now >= t.plus_millis(secs(self.config.reconcile_interval_seconds)));
        if reconcile_due {
            self.out.push(Effect::Reconcile(Vec::new()));
            self.last_reconcile = Some(now);
        }
        self.reconcile_apps(now);
    }
}

fn probe_env(inst: &Instance) -> Vec<(String, String)> {
    let mut env = vec![
        ("HOST".to_string(), inst.place.hostname.clone()),
        ("MESOS_TASK_ID".to_string(), inst.task_id.clone()),
        ("MARATHON_APP_ID".to_string(), inst.app_id.clone()),
    ];
    for (i, p) in inst.host_ports.iter().enumerate() {
        env.push((format!("PORT{i}"), p.to_string()));
    }
    if let Some(p) = inst.host_ports.first() {
        env.push(("PORT".to_string(), p.to_string()));
    }
    env
}

#[cfg(test)]
mod status_ip_tests {
    use super::*;

    #[test]
    fn a_status_gives_the_containers_addresses_once_each() {
        let status: TaskStatus = serde_json::from_value(serde_json::json!({
            "task_id": {"value": "t"}, "state": "TASK_RUNNING",
            "container_status": {"network_infos": [
                {"name": "a", "ip_addresses": [{"protocol": "IPv4", "ip_address": "10.1.0.2"}]},
                {"name": "b", "ip_addresses": [{"ip_address": "fd00::2"}, {"ip_address": "10.1.0.2"}, {}]}
            ]}
        }))
        .unwrap();
        assert_eq!(status_ips(&status), vec!["10.1.0.2", "fd00::2"]);
        let bare: TaskStatus = serde_json::from_value(serde_json::json!({
            "task_id": {"value": "t"}, "state": "TASK_RUNNING"
        }))
        .unwrap();
        assert!(status_ips(&bare).is_empty());
    }
}
