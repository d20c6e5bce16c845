//! Agent registration, heartbeats, disconnection and partition handling.

use std::time::Instant;

use paddock_proto::internal::master_message::Kind;
use paddock_proto::internal::KillTask;
use paddock_proto::mesos::{
    now_secs, reason, AgentId, Attribute, FrameworkId, FrameworkInfo, Source, TaskInfo, TaskState,
    TaskStatus, TimeInfo,
};
use paddock_proto::resources::Resources;

use super::{Agent, Framework, Master, Task};

/// What an agent tells us when it (re)registers.
#[derive(Debug, Clone)]
pub struct AgentRegistration {
    pub agent_id: String,
    pub hostname: String,
    pub ip: String,
    pub port: u32,
    pub resources: Resources,
    pub attributes: Vec<Attribute>,
    pub tasks: Vec<(FrameworkId, TaskInfo, TaskState)>,
    pub version: String,
}

impl Master {
    /// Registers or re-registers an agent. Returns its id and session number.
    pub fn register_agent(&mut self, reg: AgentRegistration, now: Instant) -> (AgentId, u64) {
        let id = if reg.agent_id.is_empty() {
            self.next_agent += 1;
            AgentId::new(format!("{}-S{}", self.id, self.next_agent - 1))
        } else {
            AgentId::new(reg.agent_id.clone())
        };
        let wall = now_secs();
        let session = match self.agents.get_mut(&id) {
            Some(agent) => {
                self.counters.agent_reregistrations += 1;
                agent.hostname = reg.hostname.clone();
                agent.ip = reg.ip.clone();
                agent.port = reg.port;
                agent.total = reg.resources.clone();
                agent.attributes = reg.attributes.clone();
                agent.version = reg.version.clone();
                agent.reregistered_time = Some(wall);
                agent.connected = true;
                agent.reachable = true;
                agent.last_seen = now;
                agent.session += 1;
                agent.session
            }
            None => {
                if reg.agent_id.is_empty() {
                    self.counters.agent_registrations += 1;
                } else {
                    self.counters.agent_reregistrations += 1;
                }
                self.agents.insert(
                    id.clone(),
                    Agent {
                        id: id.clone(),
                        hostname: reg.hostname.clone(),
                        ip: reg.ip.clone(),
                        port: reg.port,
                        total: reg.resources.clone(),
                        attributes: reg.attributes.clone(),
                        version: reg.version.clone(),
                        registered_time: wall,
                        reregistered_time: None,
                        connected: true,
                        reachable: true,
                        last_seen: now,
                        session: 1,
                    },
                );
                1
            }
        };
        self.allocator.add_agent(id.clone(), reg.resources.clone());
        self.allocator.set_agent_active(&id, true);
        self.reconcile_agent_tasks(&id, reg.tasks);
        tracing::info!(agent = %id, hostname = %reg.hostname, resources = %reg.resources, "agent registered");
        (id, session)
    }

    /// Matches the tasks an agent reports against what we know.
    fn reconcile_agent_tasks(
        &mut self,
        agent: &AgentId,
        reported: Vec<(FrameworkId, TaskInfo, TaskState)>,
    ) {
        let wall = now_secs();
        for (fw_id, info, state) in reported {
            let task_id = info.task_id.clone();
            let resources = Resources::from_mesos(&info.resources).unwrap_or_default();
            if let Some(task) = self.tasks.get_mut(&task_id) {
                let was_unreachable = task.state == TaskState::TaskUnreachable;
                task.agent_id = agent.clone();
                task.state = state;
                let (fw, res) = (task.framework_id.clone(), task.resources.clone());
                if !task.holds_resources && !state.is_terminal() {
                    task.holds_resources = true;
                    if let Err(e) = self.allocator.add_used(agent, &fw, &res) {
                        tracing::warn!(task = %task_id, "re-registered task does not fit: {e}");
                    }
                } else if task.holds_resources && state.is_terminal() {
                    // It ended while we were apart; its update is on its way.
                    task.holds_resources = false;
                    self.allocator.release_used(agent, &fw, &res);
                }
                if was_unreachable {
                    let status = master_status(
                        &task_id,
                        agent,
                        state,
                        reason::RECONCILIATION,
                        "agent re-registered",
                    );
                    let fw = self.tasks.get(&task_id).map(|t| t.framework_id.clone());
                    if let Some(fw) = fw {
                        self.send_framework(&fw, update_event(status));
                    }
                }
                continue;
            }
            let was_lost = self
                .completed_tasks
                .iter()
                .any(|t| t.info.task_id == task_id && t.state == TaskState::TaskLost);
            if was_lost {
                // A non-partition-aware framework was told TASK_LOST; the task
                // must not come back from the dead.
                self.send_agent(
                    agent,
                    Kind::KillTask(KillTask {
                        framework_id: fw_id.value.clone(),
                        task_id: task_id.value.clone(),
                        grace_period_secs: 0.0,
                    }),
                );
                continue;
            }
            // Adopt the task (for example after a master restart).
            if !self.frameworks.contains_key(&fw_id) {
                self.frameworks.insert(
                    fw_id.clone(),
                    Framework {
                        id: fw_id.clone(),
                        info: FrameworkInfo {
                            id: Some(fw_id.clone()),
                            ..Default::default()
                        },
                        role: "*".into(),
                        registered_time: wall,
                        reregistered_time: None,
                        unregistered_time: None,
                        connected: false,
                        active: false,
                        suppressed: false,
                        recovered: true,
                        stream_id: None,
                        disconnected_at: None,
                    },
                );
                self.allocator.add_framework(fw_id.clone(), "*".into());
                self.allocator.set_framework_active(&fw_id, false);
            }
            let role = self
                .frameworks
                .get(&fw_id)
                .map(|f| f.role.clone())
                .unwrap_or_else(|| "*".into());
            let holds = !state.is_terminal();
            if holds {
                if let Err(e) = self.allocator.add_used(agent, &fw_id, &resources) {
                    tracing::warn!(task = %task_id, "adopted task does not fit: {e}");
                }
            }
            self.insert_task(Task {
                info: super::TaskMeta::of(&info),
                framework_id: fw_id,
                agent_id: agent.clone(),
                state,
                role,
                resources,
                statuses: vec![(state, wall)],
                last: Default::default(),
                holds_resources: holds,
            });
        }
    }

    pub fn agent_heartbeat(&mut self, agent: &AgentId, session: u64, now: Instant) {
        if let Some(a) = self.agents.get_mut(agent) {
            if a.session == session {
                a.last_seen = now;
            }
        }
    }

    /// The agent's gRPC session ended. Its tasks keep their state until the
    /// agent comes back or the timeout declares it unreachable.
    pub fn agent_disconnected(&mut self, agent: &AgentId, session: u64, now: Instant) {
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        if a.session != session || !a.connected {
            return;
        }
        a.connected = false;
        tracing::warn!(agent = %agent, "agent disconnected");
        self.allocator.set_agent_active(agent, false);
        self.rescind_agent_offers(agent, now);
    }

    pub(super) fn check_agent_timeouts(&mut self, now: Instant) {
        let timeout = self.config.agent_timeout;
        let expired: Vec<AgentId> = self
            .agents
            .values()
            .filter(|a| a.reachable && now.saturating_duration_since(a.last_seen) > timeout)
            .map(|a| a.id.clone())
            .collect();
        for id in expired {
            self.mark_unreachable(&id, now);
        }
    }

    /// Declares an agent unreachable: offers are rescinded, and its tasks are
    /// reported TASK_UNREACHABLE to partition-aware frameworks and TASK_LOST
    /// to the rest.
    pub fn mark_unreachable(&mut self, agent: &AgentId, now: Instant) {
        let Some(a) = self.agents.get_mut(agent) else {
            return;
        };
        a.reachable = false;
        a.connected = false;
        a.session += 1;
        self.counters.agent_removals += 1;
        tracing::warn!(agent = %agent, "agent unreachable");
        self.rescind_agent_offers(agent, now);
        self.allocator.remove_agent(agent);
        let on_agent: Vec<_> = self
            .tasks
            .values()
            .filter(|t| &t.agent_id == agent && !t.state.is_terminal())
            .map(|t| t.info.task_id.clone())
            .collect();
        let wall = now_secs();
        for task_id in on_agent {
            let Some(mut task) = self.remove_task(&task_id) else {
                continue;
            };
            let aware = self
                .frameworks
                .get(&task.framework_id)
                .is_some_and(|f| f.partition_aware());
            let state = if aware {
                TaskState::TaskUnreachable
            } else {
                TaskState::TaskLost
            };
            let mut status = master_status(
                &task_id,
                agent,
                state,
                reason::AGENT_REMOVED,
                "agent is unreachable",
            );
            if aware {
                status.unreachable_time = Some(TimeInfo {
                    nanoseconds: (wall * 1e9) as i64,
                });
            }
            task.state = state;
            task.holds_resources = false;
            task.statuses.push((state, wall));
            task.last = super::LastStatus::of(&status, &task.last);
            let fw = task.framework_id.clone();
            if aware {
                self.insert_task(*task);
            } else {
                self.archive_task(task);
            }
            self.send_framework(&fw, update_event(status));
        }
    }
}

/// A status generated by the master: no uuid, so it is not acknowledged.
pub(super) fn master_status(
    task: &paddock_proto::mesos::TaskId,
    agent: &AgentId,
    state: TaskState,
    why: &str,
    message: &str,
) -> TaskStatus {
    TaskStatus {
        task_id: task.clone(),
        state,
        message: Some(message.to_string()),
        source: Some(Source::SourceMaster),
        reason: Some(why.to_string()),
        agent_id: if agent.value.is_empty() {
            None
        } else {
            Some(agent.clone())
        },
        timestamp: Some(now_secs()),
        ..Default::default()
    }
}

pub(super) fn update_event(status: TaskStatus) -> paddock_proto::scheduler::Event {
    paddock_proto::scheduler::Event::Update {
        update: paddock_proto::scheduler::Update { status },
    }
}
