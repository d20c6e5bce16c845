//! The master's state machine: agents, frameworks, offers and tasks.
//!
//! Every method takes the current time as an argument and, instead of doing
//! I/O, pushes [`Effect`]s onto an outbox that the server drains after each
//! call. That keeps the scheduling logic unit-testable without sockets.

pub mod agents;
mod frameworks;
mod offers;
pub mod tasks;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use paddock_proto::internal::MasterMessage;
use paddock_proto::mesos::{
    AgentId, Attribute, FrameworkId, FrameworkInfo, OfferId, TaskId, TaskInfo, TaskState,
};
use paddock_proto::resources::Resources;
use paddock_proto::scheduler::Event;

use crate::allocator::{Allocator, AllocatorConfig};
use crate::config::MasterConfig;

pub use frameworks::SubscribeError;

/// Something the server must do on the core's behalf.
#[derive(Debug)]
pub enum Effect {
    /// Send an event on the framework's subscription stream.
    ToFramework(FrameworkId, Event),
    /// Send a message to an agent over its gRPC session.
    ToAgent(AgentId, MasterMessage),
    /// Close the framework's subscription stream.
    CloseFramework(FrameworkId),
}

#[derive(Debug, Clone)]
pub struct Agent {
    pub id: AgentId,
    pub hostname: String,
    pub ip: String,
    pub port: u32,
    pub total: Resources,
    pub attributes: Vec<Attribute>,
    pub version: String,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    /// The gRPC session is up.
    pub connected: bool,
    /// Not yet declared unreachable.
    pub reachable: bool,
    pub last_seen: Instant,
    /// Increments on every (re)registration so a stale session's end does
    /// not disconnect a newer one.
    pub session: u64,
}

#[derive(Debug, Clone)]
pub struct Framework {
    pub id: FrameworkId,
    pub info: FrameworkInfo,
    pub role: String,
    pub registered_time: f64,
    pub reregistered_time: Option<f64>,
    pub unregistered_time: Option<f64>,
    pub connected: bool,
    pub active: bool,
    pub suppressed: bool,
    /// Known only from an agent's report; it has not subscribed to us yet.
    pub recovered: bool,
    pub stream_id: Option<String>,
    pub disconnected_at: Option<Instant>,
}

impl Framework {
    pub fn partition_aware(&self) -> bool {
        self.info.has_capability("PARTITION_AWARE")
    }
}

#[derive(Debug, Clone)]
pub struct Task {
    pub info: TaskMeta,
    pub framework_id: FrameworkId,
    pub agent_id: AgentId,
    pub state: TaskState,
    pub role: String,
    pub resources: Resources,
    pub statuses: Vec<(TaskState, f64)>,
    /// What the master keeps of the latest status: its uuid (to match the
    /// acknowledgement), the executor and the health.
    pub last: LastStatus,
    /// Resources are still counted against the agent.
    pub holds_resources: bool,
}

#[derive(Debug, Clone, Default)]
pub struct LastStatus {
    pub uuid: Option<String>,
    pub executor_id: Option<paddock_proto::mesos::ExecutorId>,
    pub healthy: Option<bool>,
    /// The container's networks and addresses (CNI), from the latest
    /// status that had them: Mesos-DNS and Marathon read them in
    /// `/master/state`. Boxed: most tasks have none.
    pub networks: Option<Box<Vec<paddock_proto::container::NetworkInfo>>>,
}

impl LastStatus {
    /// What to keep of `s`; the networks stay those of `before` when `s`
    /// carries none (a terminal update may not).
    pub fn of(s: &paddock_proto::mesos::TaskStatus, before: &LastStatus) -> LastStatus {
        let networks = s
            .container_status
            .as_ref()
            .filter(|c| !c.network_infos.is_empty())
            .map(|c| Box::new(c.network_infos.clone()))
            .or_else(|| before.networks.clone());
        LastStatus {
            uuid: s.uuid.clone(),
            executor_id: s.executor_id.clone(),
            healthy: s.healthy,
            networks,
        }
    }
}

/// What the master keeps of a launched TaskInfo: the fields `/master/state`
/// shows. The command, data, checks and resource list went to the agent; a
/// full TaskInfo is ~800 bytes even when mostly empty, and the master may
/// hold 100k of them. Rarely set fields live behind one box.
#[derive(Debug, Clone, Default)]
pub struct TaskMeta {
    pub task_id: TaskId,
    pub name: String,
    pub executor: Option<paddock_proto::mesos::ExecutorId>,
    pub extras: Option<Box<TaskExtras>>,
}

#[derive(Debug, Clone, Default)]
pub struct TaskExtras {
    pub labels: Option<paddock_proto::mesos::Labels>,
    pub discovery: Option<serde_json::Value>,
    pub container: Option<serde_json::Value>,
}

impl TaskMeta {
    pub fn of(info: &TaskInfo) -> TaskMeta {
        let has_extras =
            info.labels.is_some() || info.discovery.is_some() || info.container.is_some();
        TaskMeta {
            task_id: info.task_id.clone(),
            name: info.name.clone(),
            executor: info.executor.as_ref().map(|e| e.executor_id.clone()),
            extras: has_extras.then(|| {
                Box::new(TaskExtras {
                    labels: info.labels.clone(),
                    discovery: info.discovery.clone(),
                    container: info.container.clone(),
                })
            }),
        }
    }
}

/// An outstanding offer. The `Offer` message itself went to the framework;
/// the master keeps only what it needs to validate, rescind or show it.
#[derive(Debug, Clone)]
pub struct OfferEntry {
    pub id: OfferId,
    pub framework_id: FrameworkId,
    pub agent_id: AgentId,
    pub resources: Resources,
    pub created: Instant,
}

/// Counters reported by `/metrics/snapshot`.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub valid_status_updates: u64,
    pub invalid_status_updates: u64,
    pub agent_registrations: u64,
    pub agent_reregistrations: u64,
    pub agent_removals: u64,
    pub offers_sent: u64,
    pub offers_declined: u64,
    pub offers_rescinded: u64,
    pub tasks_launched: u64,
    pub allocation_runs: u64,
    pub allocation_last_ms: f64,
    pub terminal: BTreeMap<&'static str, u64>,
}

pub struct Master {
    pub id: String,
    pub config: MasterConfig,
    pub start_time: f64,
    pub allocator: Allocator,
    pub agents: HashMap<AgentId, Agent>,
    pub frameworks: HashMap<FrameworkId, Framework>,
    pub completed_frameworks: VecDeque<Framework>,
    pub offers: HashMap<OfferId, OfferEntry>,
    /// Boxed: a map slot is then 32 bytes, not ~330, and the table (kept
    /// at a power of two, and doubled while it grows) costs far less.
    pub tasks: HashMap<TaskId, Box<Task>>,
    pub completed_tasks: VecDeque<Box<Task>>,
    pub counters: Counters,
    /// Live tasks with a custom executor, per framework: offers list those
    /// executors, and most frameworks have none, so the scan is skipped.
    custom_executor_tasks: HashMap<FrameworkId, usize>,
    next_agent: u64,
    next_framework: u64,
    next_offer: u64,
    outbox: Vec<Effect>,
    /// After a restart, agents re-register with their tasks during this
    /// window; reconciliation of a task not seen yet waits for it.
    recovering_until: Option<Instant>,
    /// Explicit reconciliation waiting for the window to close.
    held_reconciliations: Vec<(FrameworkId, paddock_proto::scheduler::ReconcileTask)>,
}

/// How many finished tasks and frameworks `/master/state` keeps.
const COMPLETED_KEEP: usize = 1000;

impl Master {
    pub fn new(id: String, config: MasterConfig) -> Self {
        let mut allocator = Allocator::new(AllocatorConfig::default());
        for (role, w) in &config.weights {
            allocator.set_weight(role, *w);
        }
        Master {
            id,
            config,
            start_time: paddock_proto::mesos::now_secs(),
            allocator,
            agents: HashMap::new(),
            frameworks: HashMap::new(),
            completed_frameworks: VecDeque::new(),
            offers: HashMap::new(),
            tasks: HashMap::new(),
            completed_tasks: VecDeque::new(),
            counters: Counters::default(),
            custom_executor_tasks: HashMap::new(),
            next_agent: 0,
            next_framework: 0,
            next_offer: 0,
            outbox: Vec::new(),
            recovering_until: None,
            held_reconciliations: Vec::new(),
        }
    }

    /// This master follows an earlier one on the same data dir: for
    /// `window`, a reconciled task that no agent has reported yet is not
    /// declared unknown (its agent may still be re-registering); the answer
    /// waits until the task shows up or the window closes. Without this, a
    /// framework would replace tasks that are still running.
    pub fn start_recovery_window(&mut self, now: Instant, window: Duration) {
        self.recovering_until = Some(now + window);
    }

    /// Takes the effects produced since the last call.
    pub fn drain(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.outbox)
    }

    fn emit(&mut self, effect: Effect) {
        self.outbox.push(effect);
    }

    fn send_framework(&mut self, fw: &FrameworkId, event: Event) {
        if self.frameworks.get(fw).is_some_and(|f| f.connected) {
            self.emit(Effect::ToFramework(fw.clone(), event));
        }
    }

    fn send_agent(&mut self, agent: &AgentId, msg: paddock_proto::internal::master_message::Kind) {
        if self.agents.get(agent).is_some_and(|a| a.connected) {
            self.emit(Effect::ToAgent(
                agent.clone(),
                MasterMessage { kind: Some(msg) },
            ));
        }
    }

    /// Periodic housekeeping: unreachable agents, offer timeouts, framework
    /// failover timeouts.
    pub fn tick(&mut self, now: Instant) {
        self.release_held_reconciliations(now);
        self.check_agent_timeouts(now);
        self.expire_offers(now);
        self.expire_frameworks(now);
    }

    pub fn heartbeat_interval(&self) -> Duration {
        self.config.framework_heartbeat
    }

    fn insert_task(&mut self, task: Task) {
        if task.info.executor.is_some() {
            *self
                .custom_executor_tasks
                .entry(task.framework_id.clone())
                .or_insert(0) += 1;
        }
        if let Some(old) = self.tasks.insert(task.info.task_id.clone(), Box::new(task)) {
            self.forget_executor_task(&old);
        }
    }

    fn remove_task(&mut self, id: &TaskId) -> Option<Box<Task>> {
        let t = self.tasks.remove(id)?;
        self.forget_executor_task(&t);
        Some(t)
    }

    fn forget_executor_task(&mut self, t: &Task) {
        if t.info.executor.is_some() {
            if let Some(n) = self.custom_executor_tasks.get_mut(&t.framework_id) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.custom_executor_tasks.remove(&t.framework_id);
                }
            }
        }
    }

    fn has_custom_executors(&self, fw: &FrameworkId) -> bool {
        self.custom_executor_tasks.contains_key(fw)
    }

    fn archive_task(&mut self, task: Box<Task>) {
        self.completed_tasks.push_back(task);
        while self.completed_tasks.len() > COMPLETED_KEEP {
            self.completed_tasks.pop_front();
        }
    }
}

#[cfg(test)]
mod tests;
