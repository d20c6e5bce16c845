//! Framework subscription, disconnection, teardown, suppress/revive and
//! reconciliation.

use std::time::{Duration, Instant};

use paddock_proto::internal::master_message::Kind;
use paddock_proto::internal::ShutdownFramework;
use paddock_proto::mesos::{now_secs, reason, AgentId, FrameworkId, FrameworkInfo, TaskState};
use paddock_proto::scheduler::ReconcileTask;

use super::agents::{master_status, update_event};
use super::{Effect, Framework, Master};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SubscribeError {
    #[error("framework_info.{0}")]
    Invalid(String),
    #[error("framework '{0}' has been torn down and cannot re-subscribe")]
    Removed(String),
}

const COMPLETED_FRAMEWORKS_KEEP: usize = 100;

impl Master {
    /// SUBSCRIBE. Returns the framework id; the caller opens the stream and
    /// sends SUBSCRIBED first.
    pub fn subscribe(
        &mut self,
        info: FrameworkInfo,
        framework_id: Option<FrameworkId>,
        suppressed_roles: &[String],
        stream_id: String,
        now: Instant,
    ) -> Result<FrameworkId, SubscribeError> {
        if info.name.trim().is_empty() {
            return Err(SubscribeError::Invalid("name is required".into()));
        }
        if let Some(t) = info.failover_timeout {
            if !t.is_finite() || t < 0.0 {
                return Err(SubscribeError::Invalid(
                    "failover_timeout must be a non-negative number of seconds".into(),
                ));
            }
        }
        let roles = info.all_roles();
        if roles
            .iter()
            .any(|r| r.is_empty() || r.contains('/') && r.ends_with('/'))
        {
            return Err(SubscribeError::Invalid(format!(
                "roles: invalid role in {roles:?}"
            )));
        }
        if roles.len() > 1 {
            return Err(SubscribeError::Invalid(
                "roles: a framework may subscribe with one role for now".into(),
            ));
        }
        let role = roles.into_iter().next().unwrap_or_else(|| "*".into());
        let id = framework_id
            .or_else(|| info.id.clone())
            .filter(|i| !i.value.is_empty());
        if let Some(id) = &id {
            if self.completed_frameworks.iter().any(|f| &f.id == id) {
                return Err(SubscribeError::Removed(id.value.clone()));
            }
        }
        let id = id.unwrap_or_else(|| {
            self.next_framework += 1;
            FrameworkId::new(format!("{}-{:04}", self.id, self.next_framework - 1))
        });
        let mut info = info;
        info.id = Some(id.clone());
        let wall = now_secs();
        let suppressed = suppressed_roles.contains(&role);
        match self.frameworks.get_mut(&id) {
            Some(fw) => {
                if fw.connected {
                    // One subscription per framework: the old stream closes.
                    self.outbox.push(Effect::CloseFramework(id.clone()));
                }
                fw.info = info;
                fw.role = role.clone();
                fw.reregistered_time = Some(wall);
                fw.connected = true;
                fw.active = true;
                fw.recovered = false;
                fw.suppressed = suppressed;
                fw.stream_id = Some(stream_id);
                fw.disconnected_at = None;
                // The role may have changed since an agent reported its tasks.
                self.allocator.add_framework(id.clone(), role);
            }
            None => {
                self.frameworks.insert(
                    id.clone(),
                    Framework {
                        id: id.clone(),
                        info,
                        role: role.clone(),
                        registered_time: wall,
                        reregistered_time: None,
                        unregistered_time: None,
                        connected: true,
                        active: true,
                        suppressed,
                        recovered: false,
                        stream_id: Some(stream_id),
                        disconnected_at: None,
                    },
                );
                self.allocator.add_framework(id.clone(), role);
            }
        }
        self.allocator.set_framework_active(&id, true);
        if suppressed {
            self.allocator.suppress(&id);
        } else {
            self.allocator.revive(&id);
        }
        let _ = now;
        tracing::info!(framework = %id, "framework subscribed");
        Ok(id)
    }

    /// The subscription stream `stream_id` broke.
    pub fn framework_disconnected(&mut self, id: &FrameworkId, stream_id: &str, now: Instant) {
        let Some(fw) = self.frameworks.get_mut(id) else {
            return;
        };
        if fw.stream_id.as_deref() != Some(stream_id) || !fw.connected {
            return;
        }
        fw.connected = false;
        fw.active = false;
        fw.disconnected_at = Some(now);
        tracing::warn!(framework = %id, "framework disconnected");
        self.allocator.set_framework_active(id, false);
        // The framework cannot use its offers any more.
        let offers: Vec<_> = self
            .offers
            .values()
            .filter(|o| &o.framework_id == id)
            .map(|o| o.id.clone())
            .collect();
        for o in offers {
            if let Some(e) = self.offers.remove(&o) {
                self.allocator
                    .recover_offered(&e.agent_id, id, &e.resources, None, now);
            }
        }
    }

    pub(super) fn expire_frameworks(&mut self, now: Instant) {
        let expired: Vec<FrameworkId> = self
            .frameworks
            .values()
            .filter(|f| !f.connected && !f.recovered)
            .filter(|f| {
                let timeout =
                    Duration::from_secs_f64(f.info.failover_timeout.unwrap_or(0.0).min(1e9));
                f.disconnected_at
                    .is_some_and(|at| now.saturating_duration_since(at) >= timeout)
            })
            .map(|f| f.id.clone())
            .collect();
        for id in expired {
            tracing::warn!(framework = %id, "failover timeout passed; removing framework");
            self.remove_framework(&id, now);
        }
    }

    /// TEARDOWN, or a failover timeout: kill everything the framework runs.
    pub fn remove_framework(&mut self, id: &FrameworkId, now: Instant) {
        self.rescind_framework_offers(id, now);
        let Some(mut fw) = self.frameworks.remove(id) else {
            return;
        };
        if fw.connected {
            self.outbox.push(Effect::CloseFramework(id.clone()));
        }
        let mut agents: Vec<AgentId> = Vec::new();
        let task_ids: Vec<_> = self
            .tasks
            .values()
            .filter(|t| &t.framework_id == id)
            .map(|t| t.info.task_id.clone())
            .collect();
        let wall = now_secs();
        for tid in task_ids {
            if let Some(mut t) = self.remove_task(&tid) {
                if !agents.contains(&t.agent_id) {
                    agents.push(t.agent_id.clone());
                }
                if !t.state.is_terminal() {
                    t.state = TaskState::TaskKilled;
                    t.statuses.push((TaskState::TaskKilled, wall));
                }
                self.archive_task(t);
            }
        }
        for agent in agents {
            self.send_agent(
                &agent,
                Kind::ShutdownFramework(ShutdownFramework {
                    framework_id: id.value.clone(),
                }),
            );
        }
        self.allocator.remove_framework(id);
        fw.connected = false;
        fw.active = false;
        fw.unregistered_time = Some(wall);
        self.completed_frameworks.push_back(fw);
        while self.completed_frameworks.len() > COMPLETED_FRAMEWORKS_KEEP {
            self.completed_frameworks.pop_front();
        }
        tracing::info!(framework = %id, "framework removed");
    }

    pub fn suppress(&mut self, id: &FrameworkId) {
        if let Some(fw) = self.frameworks.get_mut(id) {
            fw.suppressed = true;
            self.allocator.suppress(id);
        }
    }

    pub fn revive(&mut self, id: &FrameworkId) {
        if let Some(fw) = self.frameworks.get_mut(id) {
            fw.suppressed = false;
            self.allocator.revive(id);
        }
    }

    /// RECONCILE: explicit for the listed tasks, implicit (all) when empty.
    pub fn reconcile(&mut self, id: &FrameworkId, tasks: &[ReconcileTask], now: Instant) {
        let recovering = self.recovering_until.is_some_and(|until| now < until);
        if recovering && !tasks.is_empty() {
            let (known, unknown): (Vec<ReconcileTask>, Vec<ReconcileTask>) = tasks
                .iter()
                .cloned()
                .partition(|rt| self.tasks.contains_key(&rt.task_id));
            self.held_reconciliations
                .extend(unknown.into_iter().map(|rt| (id.clone(), rt)));
            if !known.is_empty() {
                self.answer_reconcile(id, &known);
            }
            return;
        }
        self.answer_reconcile(id, tasks);
    }

    /// Answers held reconciliations whose task has appeared, and all of them
    /// once the recovery window has closed.
    pub(super) fn release_held_reconciliations(&mut self, now: Instant) {
        if self.held_reconciliations.is_empty() {
            return;
        }
        let closed = self.recovering_until.is_none_or(|until| now >= until);
        let held = std::mem::take(&mut self.held_reconciliations);
        let mut still = Vec::new();
        for (fw, rt) in held {
            if closed || self.tasks.contains_key(&rt.task_id) {
                self.answer_reconcile(&fw, std::slice::from_ref(&rt));
            } else {
                still.push((fw, rt));
            }
        }
        self.held_reconciliations = still;
    }

    fn answer_reconcile(&mut self, id: &FrameworkId, tasks: &[ReconcileTask]) {
        let aware = self.frameworks.get(id).is_some_and(|f| f.partition_aware());
        let mut out = Vec::new();
        if tasks.is_empty() {
            for t in self.tasks.values().filter(|t| &t.framework_id == id) {
                out.push(master_status(
                    &t.info.task_id,
                    &t.agent_id,
                    t.state,
                    reason::RECONCILIATION,
                    "Reconciliation: latest task state",
                ));
            }
        } else {
            for rt in tasks {
                match self
                    .tasks
                    .get(&rt.task_id)
                    .filter(|t| &t.framework_id == id)
                {
                    Some(t) => out.push(master_status(
                        &t.info.task_id,
                        &t.agent_id,
                        t.state,
                        reason::RECONCILIATION,
                        "Reconciliation: latest task state",
                    )),
                    None => {
                        let state = if aware {
                            TaskState::TaskUnknown
                        } else {
                            TaskState::TaskLost
                        };
                        let agent = rt.agent_id.clone().unwrap_or_default();
                        out.push(master_status(
                            &rt.task_id,
                            &agent,
                            state,
                            reason::RECONCILIATION,
                            "Reconciliation: task is unknown",
                        ));
                    }
                }
            }
        }
        for mut s in out {
            if let Some(t) = self.tasks.get(&s.task_id) {
                s.executor_id = t.last.executor_id.clone();
            }
            self.send_framework(id, update_event(s));
        }
    }
}
