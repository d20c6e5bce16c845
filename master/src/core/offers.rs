//! Turning allocations into offers, and ACCEPT / DECLINE / rescind.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use paddock_proto::internal::master_message::Kind;
use paddock_proto::internal::RunTask;
use paddock_proto::mesos::{
    now_secs, reason, AgentId, AllocationInfo, ExecutorId, Filters, FrameworkId, Offer, OfferId,
    TaskInfo, TaskState,
};
use paddock_proto::resources::Resources;
use paddock_proto::scheduler::{Accept, ErrorEvent, Event, Offers, Rescind};

use super::agents::{master_status, update_event};
use super::{Master, OfferEntry, Task};

/// Mesos caps refuse_seconds at a year.
const MAX_REFUSE_SECS: f64 = 31_536_000.0;

impl Master {
    /// One allocation pass; sends the resulting offers.
    pub fn allocate(&mut self, now: Instant) {
        let started = Instant::now();
        let grants = self.allocator.allocate(now);
        self.counters.allocation_runs += 1;
        self.counters.allocation_last_ms = started.elapsed().as_secs_f64() * 1000.0;
        let mut by_fw: BTreeMap<FrameworkId, Vec<Offer>> = BTreeMap::new();
        for g in grants {
            let connected = self
                .frameworks
                .get(&g.framework_id)
                .is_some_and(|f| f.connected);
            let Some(agent) = self.agents.get(&g.agent_id).filter(|_| connected) else {
                self.allocator.recover_offered(
                    &g.agent_id,
                    &g.framework_id,
                    &g.resources,
                    None,
                    now,
                );
                continue;
            };
            self.next_offer += 1;
            let id = OfferId::new(format!("{}-O{}", self.id, self.next_offer - 1));
            let offer = Offer {
                id: id.clone(),
                framework_id: g.framework_id.clone(),
                agent_id: g.agent_id.clone(),
                hostname: agent.hostname.clone(),
                allocation_info: Some(AllocationInfo {
                    role: Some(g.role.clone()),
                }),
                resources: g.resources.to_mesos(Some(&g.role)),
                attributes: agent.attributes.clone(),
                executor_ids: self.executors_on(&g.framework_id, &g.agent_id),
            };
            self.offers.insert(
                id.clone(),
                OfferEntry {
                    id,
                    framework_id: g.framework_id.clone(),
                    agent_id: g.agent_id.clone(),
                    resources: g.resources,
                    created: now,
                },
            );
            by_fw.entry(g.framework_id).or_default().push(offer);
        }
        for (fw, offers) in by_fw {
            self.counters.offers_sent += offers.len() as u64;
            self.send_framework(
                &fw,
                Event::Offers {
                    offers: Offers { offers },
                },
            );
        }
    }

    fn executors_on(&self, fw: &FrameworkId, agent: &AgentId) -> Vec<ExecutorId> {
        if !self.has_custom_executors(fw) {
            return Vec::new();
        }
        let set: HashSet<ExecutorId> = self
            .tasks
            .values()
            .filter(|t| &t.framework_id == fw && &t.agent_id == agent && !t.state.is_terminal())
            .filter_map(|t| t.info.executor.clone())
            .collect();
        set.into_iter().collect()
    }

    fn refuse_for(&self, filters: Option<&Filters>) -> Option<Duration> {
        let secs = filters
            .and_then(|f| f.refuse_seconds)
            .unwrap_or(self.config.default_refuse.as_secs_f64());
        if !secs.is_finite() || secs <= 0.0 {
            return None;
        }
        Some(Duration::from_secs_f64(secs.min(MAX_REFUSE_SECS)))
    }

    /// DECLINE: the offers' resources return, filtered for refuse_seconds.
    pub fn decline(
        &mut self,
        fw: &FrameworkId,
        ids: &[OfferId],
        filters: Option<&Filters>,
        now: Instant,
    ) {
        let refuse = self.refuse_for(filters);
        for id in ids {
            let belongs = self.offers.get(id).is_some_and(|o| &o.framework_id == fw);
            if !belongs {
                continue;
            }
            if let Some(entry) = self.offers.remove(id) {
                self.counters.offers_declined += 1;
                self.allocator
                    .recover_offered(&entry.agent_id, fw, &entry.resources, refuse, now);
            }
        }
    }

    /// ACCEPT with LAUNCH operations. Problems with individual tasks are
    /// reported as task updates, never as a failed call, because some drivers
    /// abort on any non-2xx answer.
    pub fn accept(&mut self, fw: &FrameworkId, accept: Accept, now: Instant) {
        let refuse = self.refuse_for(accept.filters.as_ref());
        let all_tasks: Vec<TaskInfo> = accept
            .operations
            .iter()
            .filter_map(|op| op.launch.as_ref())
            .flat_map(|l| l.task_infos.iter().cloned())
            .collect();

        // Validate the offers as a set.
        let mut problem = None;
        let mut agent: Option<AgentId> = None;
        if accept.offer_ids.is_empty() {
            problem = Some("no offer ids given".to_string());
        }
        let mut seen = HashSet::new();
        for id in &accept.offer_ids {
            if !seen.insert(id.clone()) {
                problem = Some(format!("offer '{id}' is given twice"));
                break;
            }
            match self.offers.get(id) {
                None => {
                    problem = Some(format!(
                        "offer '{id}' is no longer valid (unknown, rescinded or used)"
                    ));
                    break;
                }
                Some(o) if &o.framework_id != fw => {
                    problem = Some(format!("offer '{id}' belongs to another framework"));
                    break;
                }
                Some(o) => match &agent {
                    Some(a) if a != &o.agent_id => {
                        problem = Some("offers span more than one agent".to_string());
                        break;
                    }
                    _ => agent = Some(o.agent_id.clone()),
                },
            }
        }
        if let Some(msg) = problem {
            // Valid offers named in a bad call go back, unfiltered.
            for id in &accept.offer_ids {
                if self.offers.get(id).is_some_and(|o| &o.framework_id == fw) {
                    if let Some(e) = self.offers.remove(id) {
                        self.allocator
                            .recover_offered(&e.agent_id, fw, &e.resources, None, now);
                    }
                }
            }
            self.drop_tasks(fw, &all_tasks, &msg);
            return;
        }
        let Some(agent) = agent else { return };
        let mut offered = Resources::new();
        for id in &accept.offer_ids {
            if let Some(e) = self.offers.remove(id) {
                offered.add(&e.resources);
            }
        }
        let mut remaining = offered.clone();
        let mut launched_ids: HashSet<String> = HashSet::new();
        let mut running_executors: HashSet<ExecutorId> =
            self.executors_on(fw, &agent).into_iter().collect();

        for op in &accept.operations {
            match op.kind.as_str() {
                "LAUNCH" => {
                    let tasks = op
                        .launch
                        .as_ref()
                        .map(|l| l.task_infos.clone())
                        .unwrap_or_default();
                    for task in tasks {
                        match self.validate_task(
                            fw,
                            &agent,
                            &task,
                            &remaining,
                            &launched_ids,
                            &running_executors,
                        ) {
                            Ok(needed) => {
                                remaining.subtract(&needed);
                                launched_ids.insert(task.task_id.value.clone());
                                if let Some(e) = &task.executor {
                                    running_executors.insert(e.executor_id.clone());
                                }
                                self.launch(fw, &agent, task, needed, now);
                            }
                            Err(msg) => self.task_error(fw, &agent, &task, &msg),
                        }
                    }
                }
                "LAUNCH_GROUP" => {
                    self.send_framework(
                        fw,
                        Event::Error {
                            error: ErrorEvent {
                                message: "LAUNCH_GROUP is not supported yet; use LAUNCH".into(),
                            },
                        },
                    );
                }
                other => {
                    self.send_framework(
                        fw,
                        Event::Error {
                            error: ErrorEvent {
                                message: format!(
                                    "offer operation '{other}' is not supported; only LAUNCH is"
                                ),
                            },
                        },
                    );
                }
            }
        }
        if !remaining.is_empty() {
            self.allocator
                .recover_offered(&agent, fw, &remaining, refuse, now);
        }
    }

    /// The resources a task needs from the offer, or why it cannot launch.
    fn validate_task(
        &self,
        fw: &FrameworkId,
        agent: &AgentId,
        task: &TaskInfo,
        remaining: &Resources,
        launched: &HashSet<String>,
        running_executors: &HashSet<ExecutorId>,
    ) -> Result<Resources, String> {
        let id = &task.task_id.value;
        if id.is_empty() {
            return Err("task_id is empty".into());
        }
        if self.tasks.contains_key(&task.task_id) || launched.contains(id) {
            return Err(format!("Task ID '{id}' is already in use"));
        }
        if !task.agent_id.value.is_empty() && &task.agent_id != agent {
            return Err(format!(
                "task agent_id '{}' does not match the offer's agent '{}'",
                task.agent_id, agent
            ));
        }
        match (&task.command, &task.executor) {
            (None, None) => {
                return Err(
                    "task must set exactly one of 'command' or 'executor'; it sets neither".into(),
                )
            }
            (Some(_), Some(_)) => {
                return Err(
                    "task must set exactly one of 'command' or 'executor'; it sets both".into(),
                )
            }
            // An image task without a shell may leave both empty: the
            // image's entrypoint and cmd run, as in Mesos.
            (Some(c), None)
                if c.value.as_deref().unwrap_or("").is_empty()
                    && c.arguments.is_empty()
                    && !(c.shell == Some(false) && has_image(task.container.as_ref())) =>
            {
                return Err("task command has no 'value'".into())
            }
            _ => {}
        }
        let mut needed =
            Resources::from_mesos(&task.resources).map_err(|e| format!("task resources: {e}"))?;
        if needed.is_empty() {
            return Err("task uses no resources; it must ask for some cpus or mem".into());
        }
        if let Some(exec) = &task.executor {
            if exec.executor_id.value.is_empty() {
                return Err("executor.executor_id is empty".into());
            }
            if !running_executors.contains(&exec.executor_id) {
                let er = Resources::from_mesos(&exec.resources)
                    .map_err(|e| format!("executor resources: {e}"))?;
                needed.add(&er);
            }
        }
        if !remaining.contains(&needed) {
            return Err(format!(
                "Task uses more resources than the offer has left: {}",
                remaining.shortfall(&needed).join("; ")
            ));
        }
        let _ = fw;
        Ok(needed)
    }

    fn launch(
        &mut self,
        fw: &FrameworkId,
        agent: &AgentId,
        mut task: TaskInfo,
        needed: Resources,
        now: Instant,
    ) {
        let _ = now;
        task.agent_id = agent.clone();
        if let Some(e) = task.executor.as_mut() {
            if e.framework_id.is_none() {
                e.framework_id = Some(fw.clone());
            }
        }
        let framework = self.frameworks.get(fw);
        let role = framework
            .map(|f| f.role.clone())
            .unwrap_or_else(|| "*".into());
        let mut info = framework.map(|f| f.info.clone()).unwrap_or_default();
        info.id = Some(fw.clone());
        self.allocator.offered_to_used(agent, fw, &needed);
        let wall = now_secs();
        self.insert_task(Task {
            info: super::TaskMeta::of(&task),
            framework_id: fw.clone(),
            agent_id: agent.clone(),
            state: TaskState::TaskStaging,
            role,
            resources: needed,
            statuses: vec![(TaskState::TaskStaging, wall)],
            last: Default::default(),
            holds_resources: true,
        });
        self.counters.tasks_launched += 1;
        let framework_json = serde_json::to_string(&info).unwrap_or_default();
        let task_json = serde_json::to_string(&task).unwrap_or_default();
        self.send_agent(
            agent,
            Kind::RunTask(RunTask {
                framework_json,
                task_json,
            }),
        );
    }

    fn task_error(&mut self, fw: &FrameworkId, agent: &AgentId, task: &TaskInfo, msg: &str) {
        tracing::info!(framework = %fw, task = %task.task_id, "rejected launch: {msg}");
        let status = master_status(
            &task.task_id,
            agent,
            TaskState::TaskError,
            reason::TASK_INVALID,
            msg,
        );
        self.send_framework(fw, update_event(status));
    }

    /// Tasks of an ACCEPT whose offers were invalid: TASK_DROPPED for
    /// partition-aware frameworks, TASK_LOST otherwise (as Mesos does).
    fn drop_tasks(&mut self, fw: &FrameworkId, tasks: &[TaskInfo], msg: &str) {
        let aware = self.frameworks.get(fw).is_some_and(|f| f.partition_aware());
        let state = if aware {
            TaskState::TaskDropped
        } else {
            TaskState::TaskLost
        };
        for t in tasks {
            let status = master_status(&t.task_id, &t.agent_id, state, reason::INVALID_OFFERS, msg);
            self.send_framework(fw, update_event(status));
        }
    }

    /// Takes back one outstanding offer and tells its framework.
    pub fn rescind_offer(&mut self, id: &OfferId, now: Instant) {
        if let Some(e) = self.offers.remove(id) {
            self.counters.offers_rescinded += 1;
            let fw = e.framework_id.clone();
            self.allocator
                .recover_offered(&e.agent_id, &fw, &e.resources, None, now);
            self.send_framework(
                &fw,
                Event::Rescind {
                    rescind: Rescind {
                        offer_id: id.clone(),
                    },
                },
            );
        }
    }

    pub(super) fn rescind_agent_offers(&mut self, agent: &AgentId, now: Instant) {
        let ids: Vec<OfferId> = self
            .offers
            .values()
            .filter(|o| &o.agent_id == agent)
            .map(|o| o.id.clone())
            .collect();
        for id in ids {
            self.rescind_offer(&id, now);
        }
    }

    pub(super) fn rescind_framework_offers(&mut self, fw: &FrameworkId, now: Instant) {
        let ids: Vec<OfferId> = self
            .offers
            .values()
            .filter(|o| &o.framework_id == fw)
            .map(|o| o.id.clone())
            .collect();
        for id in ids {
            self.rescind_offer(&id, now);
        }
    }

    pub(super) fn expire_offers(&mut self, now: Instant) {
        let Some(timeout) = self.config.offer_timeout else {
            return;
        };
        let ids: Vec<OfferId> = self
            .offers
            .values()
            .filter(|o| now.saturating_duration_since(o.created) >= timeout)
            .map(|o| o.id.clone())
            .collect();
        for id in ids {
            self.rescind_offer(&id, now);
        }
    }

    /// Lost-task status for use by callers outside this module.
    pub fn lost_status(&self, task: &TaskInfo, msg: &str) -> paddock_proto::mesos::TaskStatus {
        master_status(
            &task.task_id,
            &task.agent_id,
            TaskState::TaskLost,
            reason::INVALID_OFFERS,
            msg,
        )
    }
}

/// Whether a task's `container` names an image (Docker's or the unified
/// containerizer's form).
fn has_image(container: Option<&serde_json::Value>) -> bool {
    let Some(c) = container else {
        return false;
    };
    let named = |v: &serde_json::Value| v.as_str().is_some_and(|s| !s.is_empty());
    named(&c["docker"]["image"]) || named(&c["mesos"]["image"]["docker"]["name"])
}
