//! Status updates from agents, acknowledgements, kills and messages.

use paddock_proto::internal::master_message::Kind;
use paddock_proto::internal::{Acknowledge, FrameworkMessage, KillTask};
use paddock_proto::mesos::{
    reason, AgentId, ExecutorId, FrameworkId, KillPolicy, TaskId, TaskState, TaskStatus,
};

use super::agents::{master_status, update_event};
use super::Master;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TaskError {
    #[error("task '{0}' not found")]
    NotFound(String),
    #[error("task '{0}' is already in a terminal state")]
    Terminal(String),
}

impl Master {
    /// A status update relayed by an agent. It is forwarded to the framework
    /// with its uuid; the agent keeps retrying until the framework's
    /// acknowledgement comes back through us.
    pub fn status_update(&mut self, fw: &FrameworkId, agent: &AgentId, mut status: TaskStatus) {
        if status.uuid.as_deref().unwrap_or("").is_empty() {
            self.counters.invalid_status_updates += 1;
            tracing::warn!(task = %status.task_id, "status update without uuid dropped");
            return;
        }
        status.agent_id = Some(agent.clone());
        self.counters.valid_status_updates += 1;
        if !self.frameworks.contains_key(fw) {
            // Nobody will ever acknowledge it; stop the agent's retries.
            self.send_agent(
                agent,
                Kind::Acknowledge(Acknowledge {
                    framework_id: fw.value.clone(),
                    task_id: status.task_id.value.clone(),
                    uuid: status.uuid.clone().unwrap_or_default(),
                }),
            );
            return;
        }
        if let Some(task) = self.tasks.get_mut(&status.task_id) {
            let wall = status
                .timestamp
                .unwrap_or_else(paddock_proto::mesos::now_secs);
            if task.state != status.state || task.statuses.is_empty() {
                task.statuses.push((status.state, wall));
            }
            task.state = status.state;
            task.last = super::LastStatus::of(&status, &task.last);
            if status.state.is_terminal() && task.holds_resources {
                task.holds_resources = false;
                let (a, f, r) = (
                    task.agent_id.clone(),
                    task.framework_id.clone(),
                    task.resources.clone(),
                );
                self.allocator.release_used(&a, &f, &r);
                *self
                    .counters
                    .terminal
                    .entry(status.state.as_str())
                    .or_insert(0) += 1;
            }
        }
        self.send_framework(fw, update_event(status));
    }

    /// ACKNOWLEDGE from a framework, relayed to the agent that sent the update.
    pub fn acknowledge(&mut self, fw: &FrameworkId, agent: &AgentId, task: &TaskId, uuid: &str) {
        self.send_agent(
            agent,
            Kind::Acknowledge(Acknowledge {
                framework_id: fw.value.clone(),
                task_id: task.value.clone(),
                uuid: uuid.to_string(),
            }),
        );
        let done = self.tasks.get(task).is_some_and(|t| {
            &t.framework_id == fw && t.state.is_terminal() && t.last.uuid.as_deref() == Some(uuid)
        });
        if done {
            if let Some(t) = self.remove_task(task) {
                self.archive_task(t);
            }
        }
    }

    /// KILL from a framework. An unknown task is answered with TASK_LOST
    /// (TASK_UNKNOWN for partition-aware frameworks), as Mesos does.
    pub fn kill(&mut self, fw: &FrameworkId, task: &TaskId, policy: Option<&KillPolicy>) {
        let known = self
            .tasks
            .get(task)
            .filter(|t| &t.framework_id == fw)
            .cloned();
        match known {
            Some(t) => {
                let grace = policy
                    .and_then(|p| p.grace_period)
                    .map(|d| d.nanoseconds as f64 / 1e9)
                    .unwrap_or(0.0);
                self.send_agent(
                    &t.agent_id,
                    Kind::KillTask(KillTask {
                        framework_id: fw.value.clone(),
                        task_id: task.value.clone(),
                        grace_period_secs: grace,
                    }),
                );
            }
            None => {
                let aware = self.frameworks.get(fw).is_some_and(|f| f.partition_aware());
                let state = if aware {
                    TaskState::TaskUnknown
                } else {
                    TaskState::TaskLost
                };
                let status = master_status(
                    task,
                    &AgentId::default(),
                    state,
                    reason::RECONCILIATION,
                    "Task is unknown to the master",
                );
                self.send_framework(fw, update_event(status));
            }
        }
    }

    /// A kill asked for by an operator (CLI, UI), on behalf of the framework.
    pub fn operator_kill(&mut self, task: &TaskId) -> Result<(), TaskError> {
        let t = self
            .tasks
            .get(task)
            .ok_or_else(|| TaskError::NotFound(task.value.clone()))?;
        if t.state.is_terminal() {
            return Err(TaskError::Terminal(task.value.clone()));
        }
        let fw = t.framework_id.clone();
        self.kill(&fw, task, None);
        Ok(())
    }

    /// MESSAGE: best-effort delivery to an executor.
    pub fn framework_message(
        &mut self,
        fw: &FrameworkId,
        agent: &AgentId,
        executor: &ExecutorId,
        data: Vec<u8>,
    ) {
        self.send_agent(
            agent,
            Kind::FrameworkMessage(FrameworkMessage {
                framework_id: fw.value.clone(),
                executor_id: executor.value.clone(),
                data,
            }),
        );
    }
}
