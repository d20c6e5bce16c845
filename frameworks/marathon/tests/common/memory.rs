//! A small in-memory [`MarathonBackend`] for the API tests: every deployment finishes at once
//! (tasks appear TASK_RUNNING immediately), except for apps labelled `hold=true`, whose
//! deployments stay until cancelled, so that locks and rollbacks can be tested. Apps created
//! with the label `queued=true` sit in the launch queue with a backoff delay.

use paddock_marathon::api::{BackendError, DeployRequest, MarathonBackend};
use paddock_marathon::model::{
    AppDefinition, AppEmbed, AppStatus, DeploymentAction, DeploymentRef, DeploymentStep,
    DeploymentView, Group, IpAddress, PathId, ProcessedOffersSummary, QueueDelay, QueueItem,
    RejectSummary, TaskView, Timestamp,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Mem {
    target: Arc<Group>,
    tasks: BTreeMap<String, TaskView>,
    deployments: Vec<DeploymentView>,
    delayed: BTreeSet<PathId>,
    next_port: u32,
    seq: u64,
}

#[derive(Default)]
pub struct MemoryBackend {
    mem: Mutex<Mem>,
}

fn lock(m: &Mutex<Mem>) -> std::sync::MutexGuard<'_, Mem> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn held(app: &AppDefinition) -> bool {
    app.labels.get("hold").is_some_and(|v| v == "true")
}

fn steps(old: &Group, new: &Group, restart: &[PathId]) -> (Vec<PathId>, Vec<DeploymentStep>) {
    let mut affected = Vec::new();
    let mut actions = Vec::new();
    for a in old.transitive_apps() {
        if new.app(&a.id).is_none() {
            affected.push(a.id.clone());
            actions.push(DeploymentAction {
                action: "StopApplication".into(),
                app: a.id.clone(),
            });
        }
    }
    for a in new.transitive_apps() {
        let action = match old.app(&a.id) {
            None => Some("StartApplication"),
            Some(o) if restart.contains(&a.id) || o.needs_restart(a) => Some("RestartApplication"),
            Some(o) if o.instances != a.instances => Some("ScaleApplication"),
            _ => None,
        };
        if let Some(name) = action {
            affected.push(a.id.clone());
            actions.push(DeploymentAction {
                action: name.into(),
                app: a.id.clone(),
            });
        }
    }
    let steps = if actions.is_empty() {
        Vec::new()
    } else {
        vec![DeploymentStep { actions }]
    };
    (affected, steps)
}

impl MemoryBackend {
    pub fn new() -> Arc<MemoryBackend> {
        Arc::new(MemoryBackend {
            mem: Mutex::new(Mem {
                next_port: 31000,
                ..Default::default()
            }),
        })
    }

    /// Puts an app in the launch queue with a backoff delay.
    pub fn delay(&self, app: &str) {
        lock(&self.mem).delayed.insert(PathId::parse(app));
    }

    fn new_task(m: &mut Mem, app: &AppDefinition, now: Timestamp) -> TaskView {
        m.seq += 1;
        let ports: Vec<u32> = (0..app.host_port_count())
            .map(|_| {
                m.next_port += 1;
                m.next_port
            })
            .collect();
        TaskView {
            id: format!("{}.instance-{:08}._app.1", app.id.safe_name(), m.seq),
            app_id: app.id.clone(),
            host: "127.0.0.1".into(),
            ports,
            service_ports: app.service_ports(),
            slave_id: "agent-1".into(),
            staged_at: Some(now),
            started_at: Some(now),
            version: app.version,
            state: "TASK_RUNNING".into(),
            ip_addresses: vec![IpAddress {
                ip_address: "127.0.0.1".into(),
                protocol: "IPv4".into(),
            }],
            health_check_results: Vec::new(),
            local_volumes: Vec::new(),
            region: None,
            zone: None,
            role: app.role.clone(),
        }
    }

    /// Makes the tasks match `target`: removed apps lose their tasks, restarted apps get new
    /// ones, counts follow `instances` (the `kill` list goes first, then the youngest).
    fn converge(m: &mut Mem, old: &Group, target: &Group, req: &DeployRequest, now: Timestamp) {
        m.tasks.retain(|_, t| target.app(&t.app_id).is_some());
        m.tasks.retain(|id, _| !req.kill.contains(id));
        for app in target.transitive_apps() {
            let restart = req.restart.contains(&app.id)
                || old.app(&app.id).is_some_and(|o| o.needs_restart(app));
            if restart {
                m.tasks.retain(|_, t| t.app_id != app.id);
            }
            let mut mine: Vec<String> = m
                .tasks
                .values()
                .filter(|t| t.app_id == app.id)
                .map(|t| t.id.clone())
                .collect();
            let want = app.instances.max(0) as usize;
            while mine.len() > want {
                if let Some(id) = mine.pop() {
                    m.tasks.remove(&id);
                }
            }
            for _ in mine.len()..want {
                let t = Self::new_task(m, app, now);
                m.tasks.insert(t.id.clone(), t);
            }
        }
    }
}

impl MarathonBackend for MemoryBackend {
    fn app_status(&self, app: &PathId, embed: AppEmbed) -> AppStatus {
        let m = lock(&self.mem);
        let tasks: Vec<TaskView> = m
            .tasks
            .values()
            .filter(|t| t.app_id == *app)
            .cloned()
            .collect();
        AppStatus {
            tasks_staged: 0,
            tasks_running: tasks.len() as u32,
            tasks_healthy: 0,
            tasks_unhealthy: 0,
            deployments: m
                .deployments
                .iter()
                .filter(|d| d.affected_apps.contains(app))
                .map(|d| DeploymentRef { id: d.id.clone() })
                .collect(),
            tasks: if embed.tasks { tasks } else { Vec::new() },
            last_task_failure: None,
            readiness_check_results: Vec::new(),
            task_stats: None,
        }
    }

    fn tasks(&self) -> Vec<TaskView> {
        lock(&self.mem).tasks.values().cloned().collect()
    }

    fn deployments(&self) -> Vec<DeploymentView> {
        lock(&self.mem).deployments.clone()
    }

    fn queue(&self, now: Timestamp, last_unused_offers: bool) -> Vec<QueueItem> {
        let m = lock(&self.mem);
        m.delayed
            .iter()
            .filter_map(|id| m.target.app(id))
            .map(|app| QueueItem {
                app: app.clone(),
                count: app.instances.max(0) as u32,
                delay: QueueDelay {
                    time_left_seconds: 10,
                    overdue: false,
                },
                since: now,
                processed_offers_summary: ProcessedOffersSummary {
                    processed_offers_count: 3,
                    unused_offers_count: 3,
                    last_unused_offer_at: Some(now),
                    last_used_offer_at: None,
                    reject_summary_last_offers: vec![RejectSummary {
                        reason: "InsufficientMemory".into(),
                        declined: 3,
                        processed: 3,
                    }],
                    reject_summary_launch_attempt: vec![],
                },
                last_unused_offers: last_unused_offers.then(Vec::new),
            })
            .collect()
    }

    fn framework_id(&self) -> Option<String> {
        Some("memory-framework".into())
    }

    fn deploy(
        &self,
        target: Arc<Group>,
        req: DeployRequest,
        now: Timestamp,
    ) -> Result<DeploymentView, BackendError> {
        let mut m = lock(&self.mem);
        let old = m.target.clone();
        let (affected, steps) = steps(&old, &target, &req.restart);
        let conflicts: Vec<String> = m
            .deployments
            .iter()
            .filter(|d| d.affected_apps.iter().any(|a| affected.contains(a)))
            .map(|d| d.id.clone())
            .collect();
        if !conflicts.is_empty() && !req.force {
            return Err(BackendError::Locked {
                deployment_ids: conflicts,
            });
        }
        m.deployments.retain(|d| !conflicts.contains(&d.id));
        m.seq += 1;
        let view = DeploymentView {
            id: format!("deployment-{:04}", m.seq),
            version: now,
            affected_apps: affected.clone(),
            affected_pods: Vec::new(),
            total_steps: steps.len() as u32,
            current_step: if steps.is_empty() { 0 } else { 1 },
            current_actions: Vec::new(),
            steps,
        };
        Self::converge(&mut m, &old, &target, &req, now);
        for app in target.transitive_apps() {
            if app.labels.get("queued").is_some_and(|v| v == "true") && old.app(&app.id).is_none() {
                m.delayed.insert(app.id.clone());
            }
        }
        let hold = affected
            .iter()
            .any(|a| target.app(a).or(old.app(a)).is_some_and(held));
        if hold {
            m.deployments.push(view.clone());
        }
        m.target = target;
        Ok(view)
    }

    fn preview(&self, target: &Group, _now: Timestamp) -> Vec<DeploymentStep> {
        let m = lock(&self.mem);
        steps(&m.target, target, &[]).1
    }

    fn kill_tasks(
        &self,
        task_ids: &[String],
        _wipe: bool,
        now: Timestamp,
    ) -> Result<Vec<TaskView>, BackendError> {
        let mut m = lock(&self.mem);
        let mut killed = Vec::new();
        for id in task_ids {
            let mut t = m
                .tasks
                .remove(id)
                .ok_or_else(|| BackendError::UnknownTask(id.clone()))?;
            t.state = "TASK_KILLED".into();
            killed.push(t);
        }
        let target = m.target.clone();
        Self::converge(&mut m, &target, &target, &DeployRequest::default(), now);
        Ok(killed)
    }

    fn cancel_deployment(
        &self,
        id: &str,
        rollback: Option<Arc<Group>>,
        now: Timestamp,
    ) -> Result<Option<DeploymentView>, BackendError> {
        {
            let mut m = lock(&self.mem);
            let before = m.deployments.len();
            m.deployments.retain(|d| d.id != id);
            if m.deployments.len() == before {
                return Err(BackendError::UnknownDeployment(id.to_string()));
            }
        }
        match rollback {
            None => Ok(None),
            Some(target) => {
                let req = DeployRequest {
                    force: true,
                    ..Default::default()
                };
                let view = self.deploy(target, req, now)?;
                // A rollback runs to completion here.
                lock(&self.mem).deployments.retain(|d| d.id != view.id);
                Ok(Some(view))
            }
        }
    }

    fn reset_delay(&self, app: &PathId, _now: Timestamp) -> Result<(), BackendError> {
        if lock(&self.mem).delayed.remove(app) {
            Ok(())
        } else {
            Err(BackendError::NotInQueue(app.clone()))
        }
    }
}

impl MemoryBackend {
    pub fn tasks_len(&self) -> usize {
        lock(&self.mem).tasks.len()
    }
}
