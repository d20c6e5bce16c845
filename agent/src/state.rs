//! The agent's shared state and its housekeeping timer.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use paddock_proto::internal::AgentMessage;
use paddock_proto::mesos::{
    AgentId, AgentInfo, ExecutorId, FrameworkId, FrameworkInfo, TaskId, TaskInfo, TaskState,
};
use paddock_proto::resources::Resources;
use tokio::sync::mpsc;

use crate::checkpoint::{Checkpoint, ContainerRecord};
use crate::updates::UpdateStream;
use crate::{AgentConfig, AgentError};

/// A live container: a cgroup, a sandbox and the executor running in them.
pub struct Container {
    pub record: ContainerRecord,
    /// The executor's event stream, while it is subscribed.
    pub executor_tx: Option<mpsc::UnboundedSender<Bytes>>,
    /// Increments on every subscription, so a stale stream's end is ignored.
    pub stream_gen: u64,
    /// Tasks waiting for the executor to subscribe.
    pub queued: Vec<TaskInfo>,
    pub started: Instant,
    pub ever_subscribed: bool,
    /// Recovered from a checkpoint and not yet re-subscribed.
    pub recovered: bool,
    /// When an unanswered kill escalates to destroying the container.
    pub kill_deadline: Option<Instant>,
    pub kill_requested: bool,
    /// KILL events for an executor that is not subscribed right now (e.g.
    /// reconnecting after an agent restart); delivered when it subscribes.
    pub pending_kills: Vec<paddock_proto::executor::KillEvent>,
}

impl Container {
    pub fn framework_id(&self) -> FrameworkId {
        self.record.framework.id.clone().unwrap_or_default()
    }

    pub fn executor_id(&self) -> &ExecutorId {
        &self.record.executor.executor_id
    }

    /// Whether this is executor `exec` of framework `fw`. The executor id
    /// is compared first and nothing is copied: every executor call and
    /// every launch looks its container up this way among all of them.
    pub fn is(&self, fw: &FrameworkId, exec: &ExecutorId) -> bool {
        self.executor_id() == exec
            && match &self.record.framework.id {
                Some(id) => id == fw,
                None => *fw == FrameworkId::default(),
            }
    }
}

#[derive(Debug, Clone)]
pub struct TaskEntry {
    pub info: TaskInfo,
    pub framework_id: FrameworkId,
    pub executor_id: ExecutorId,
    pub container_id: String,
    pub state: TaskState,
    pub statuses: Vec<(TaskState, f64)>,
}

/// A container that has ended, kept for `/state`.
#[derive(Debug, Clone)]
pub struct CompletedContainer {
    pub record: ContainerRecord,
    pub tasks: Vec<TaskEntry>,
}

pub struct Inner {
    pub agent_id: Option<AgentId>,
    pub master_id: Option<String>,
    pub master_tx: Option<mpsc::UnboundedSender<AgentMessage>>,
    pub frameworks: HashMap<FrameworkId, FrameworkInfo>,
    pub containers: HashMap<String, Container>,
    pub tasks: HashMap<TaskId, TaskEntry>,
    pub streams: HashMap<TaskId, UpdateStream>,
    pub completed: VecDeque<CompletedContainer>,
}

pub struct Agent {
    pub config: AgentConfig,
    pub total: Resources,
    pub checkpoint: Checkpoint,
    pub start_time: f64,
    /// Cancelled when this agent stops: its executor watchers end with it
    /// (the executors do not) and no new executor stream is opened.
    pub stop: tokio_util::sync::CancellationToken,
    /// The last disk measurement of each container (`disk`).
    pub disk: crate::disk::UsageBoard,
    /// Forks command executors without an exec (started at the first
    /// launch; `None` if it could not start). See `containers::launch`.
    pub launcher: std::sync::OnceLock<Option<paddock_isolation::launcher::Launcher>>,
    inner: Mutex<Inner>,
}

/// How many ended containers `/state` remembers.
const COMPLETED_KEEP: usize = 200;
/// Custom executors must subscribe within this time (Mesos: 1 min).
pub const EXECUTOR_REGISTRATION_TIMEOUT: Duration = Duration::from_secs(60);
/// HEARTBEAT events to executors.
const EXECUTOR_HEARTBEAT: Duration = Duration::from_secs(15);

impl Agent {
    pub fn new(config: AgentConfig, total: Resources) -> Result<Agent, AgentError> {
        let checkpoint =
            Checkpoint::new(&config.work_dir).map_err(|e| AgentError::Checkpoint(e.to_string()))?;
        let agent_id = checkpoint.agent_id().map(AgentId::new);
        Ok(Agent {
            config,
            total,
            checkpoint,
            start_time: paddock_proto::mesos::now_secs(),
            stop: tokio_util::sync::CancellationToken::new(),
            disk: Default::default(),
            launcher: std::sync::OnceLock::new(),
            inner: Mutex::new(Inner {
                agent_id,
                master_id: None,
                master_tx: None,
                frameworks: HashMap::new(),
                containers: HashMap::new(),
                tasks: HashMap::new(),
                streams: HashMap::new(),
                completed: VecDeque::new(),
            }),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops this agent's own work without touching tasks: watchers end and
    /// every executor event stream closes (executors retry SUBSCRIBE until an
    /// agent answers again), so the HTTP server can finish.
    pub fn stop(&self) {
        self.stop.cancel();
        let mut inner = self.lock();
        inner.master_tx = None;
        for c in inner.containers.values_mut() {
            c.executor_tx = None;
        }
    }

    /// `ip:port` as executors reach us (MESOS_AGENT_ENDPOINT).
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.config.advertise_ip, self.config.port)
    }

    pub fn pid(&self) -> String {
        format!("slave(1)@{}", self.endpoint())
    }

    pub fn agent_info(&self, inner: &Inner) -> AgentInfo {
        AgentInfo {
            hostname: self.config.hostname.clone(),
            port: Some(self.config.port as u32),
            resources: self.total.to_mesos(None),
            attributes: self.config.attributes.clone(),
            id: inner.agent_id.clone(),
        }
    }
}

impl Inner {
    pub fn send_master(&self, msg: AgentMessage) -> bool {
        self.master_tx
            .as_ref()
            .is_some_and(|tx| tx.send(msg).is_ok())
    }

    pub fn archive(&mut self, record: ContainerRecord, tasks: Vec<TaskEntry>) {
        self.completed
            .push_back(CompletedContainer { record, tasks });
        while self.completed.len() > COMPLETED_KEEP {
            self.completed.pop_front();
        }
    }
}

/// Update retries, kill escalation, executor timeouts and heartbeats.
pub async fn run_timers(agent: Arc<Agent>) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heartbeat = Instant::now();
    let recovery_deadline = Instant::now() + agent.config.executor_reregister_timeout;
    loop {
        tick.tick().await;
        let now = Instant::now();
        crate::updates::retry_due(&agent, now);
        crate::containers::check_deadlines(&agent, now, recovery_deadline);
        if now.duration_since(last_heartbeat) >= EXECUTOR_HEARTBEAT {
            last_heartbeat = now;
            let beat =
                crate::http::executor_api::encode(&paddock_proto::executor::Event::Heartbeat);
            let inner = agent.lock();
            for c in inner.containers.values() {
                if let Some(tx) = &c.executor_tx {
                    let _ = tx.send(beat.clone());
                }
            }
        }
    }
}
