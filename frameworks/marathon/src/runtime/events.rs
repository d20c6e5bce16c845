//! The core's events as the event bus's [`MarathonEvent`]s. Deployment
//! events carry heavy plans, with the original and target trees the
//! runtime remembers per deployment.

use std::sync::Arc;

use crate::core::effects::CoreEvent;
use crate::core::plan::DeploymentPlan;
use crate::events::{MarathonEvent, PlanEvent};
use crate::model::{DeploymentStep, Group, HealthCheck, IpAddress, PathId, Timestamp};
use crate::runtime::convert::step_view;

/// Finds the trees of a plan (`original`, `target`).
pub trait PlanTrees {
    fn trees(&self, plan_id: &str) -> (Arc<Group>, Arc<Group>);
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap_or(Timestamp::ZERO)
}

fn plan_event(plan: &DeploymentPlan, trees: &dyn PlanTrees) -> PlanEvent {
    let (original, target) = trees.trees(&plan.id);
    PlanEvent {
        id: plan.id.clone(),
        version: plan.version,
        steps: plan.steps.iter().map(step_view).collect(),
        original,
        target,
    }
}

fn step(plan: &DeploymentPlan, index: usize) -> DeploymentStep {
    plan.steps.get(index).map(step_view).unwrap_or_default()
}

/// The bus event for a core event, with the time it happened.
pub fn to_marathon(ev: &CoreEvent, trees: &dyn PlanTrees) -> (MarathonEvent, Timestamp) {
    match ev {
        CoreEvent::StatusUpdate {
            slave_id,
            task_id,
            task_status,
            message,
            app_id,
            host,
            ports,
            ip_addresses,
            version,
            timestamp,
        } => (
            MarathonEvent::StatusUpdate {
                slave_id: slave_id.clone(),
                task_id: task_id.clone(),
                task_status: task_status.clone(),
                message: message.clone(),
                app_id: PathId::parse(app_id),
                host: host.clone(),
                ip_addresses: ip_addresses
                    .iter()
                    .map(|ip| IpAddress {
                        ip_address: ip.clone(),
                        protocol: if ip.contains(':') { "IPv6" } else { "IPv4" }.to_string(),
                    })
                    .collect(),
                ports: ports.clone(),
                version: ts(version),
            },
            *timestamp,
        ),
        CoreEvent::InstanceChanged {
            instance_id,
            condition,
            run_spec_id,
            agent_id,
            host,
            run_spec_version,
            timestamp,
        } => (
            MarathonEvent::InstanceChanged {
                instance_id: instance_id.clone(),
                condition: condition.clone(),
                run_spec_id: PathId::parse(run_spec_id),
                agent_id: agent_id.clone(),
                host: host.clone(),
                run_spec_version: ts(run_spec_version),
            },
            *timestamp,
        ),
        CoreEvent::UnknownInstanceTerminated {
            instance_id,
            run_spec_id,
            condition,
            timestamp,
        } => (
            MarathonEvent::UnknownInstanceTerminated {
                instance_id: instance_id.clone(),
                run_spec_id: PathId::parse(run_spec_id),
                condition: condition.clone(),
            },
            *timestamp,
        ),
        CoreEvent::HealthStatusChanged {
            app_id,
            instance_id,
            version,
            alive,
            timestamp,
        } => (
            MarathonEvent::HealthStatusChanged {
                app_id: PathId::parse(app_id),
                instance_id: instance_id.clone(),
                version: ts(version),
                alive: *alive,
            },
            *timestamp,
        ),
        CoreEvent::InstanceHealthChanged {
            instance_id,
            run_spec_id,
            run_spec_version,
            healthy,
            timestamp,
        } => (
            MarathonEvent::InstanceHealthChanged {
                instance_id: instance_id.clone(),
                run_spec_id: PathId::parse(run_spec_id),
                run_spec_version: ts(run_spec_version),
                healthy: *healthy,
            },
            *timestamp,
        ),
        CoreEvent::FailedHealthCheck {
            app_id,
            instance_id,
            health_check,
            timestamp,
        } => (
            MarathonEvent::FailedHealthCheck {
                app_id: PathId::parse(app_id),
                instance_id: instance_id.clone(),
                health_check: serde_json::from_value::<HealthCheck>(health_check.clone())
                    .unwrap_or_default(),
            },
            *timestamp,
        ),
        CoreEvent::UnhealthyInstanceKill {
            app_id,
            task_id,
            instance_id,
            version,
            reason,
            host,
            slave_id,
            timestamp,
        } => (
            MarathonEvent::UnhealthyInstanceKill {
                app_id: PathId::parse(app_id),
                task_id: task_id.clone(),
                instance_id: instance_id.clone(),
                version: ts(version),
                reason: reason.clone(),
                host: host.clone(),
                slave_id: Some(slave_id.clone()),
            },
            *timestamp,
        ),
        CoreEvent::DeploymentInfo {
            plan,
            current_step,
            timestamp,
        } => (
            MarathonEvent::DeploymentInfo {
                plan: plan_event(plan, trees),
                current_step: step(plan, *current_step),
            },
            *timestamp,
        ),
        CoreEvent::DeploymentStepSuccess {
            plan,
            current_step,
            timestamp,
        } => (
            MarathonEvent::DeploymentStepSuccess {
                plan: plan_event(plan, trees),
                current_step: step(plan, *current_step),
            },
            *timestamp,
        ),
        CoreEvent::DeploymentStepFailure {
            plan,
            current_step,
            timestamp,
        } => (
            MarathonEvent::DeploymentStepFailure {
                plan: plan_event(plan, trees),
                current_step: step(plan, *current_step),
            },
            *timestamp,
        ),
        CoreEvent::DeploymentSuccess { plan, timestamp } => (
            MarathonEvent::DeploymentSuccess {
                id: plan.id.clone(),
                plan: plan_event(plan, trees),
            },
            *timestamp,
        ),
        CoreEvent::DeploymentFailed {
            plan,
            reason,
            timestamp,
        } => (
            MarathonEvent::DeploymentFailed {
                id: plan.id.clone(),
                plan: plan_event(plan, trees),
                reason: Some(reason.clone()),
            },
            *timestamp,
        ),
        CoreEvent::AppTerminated { app_id, timestamp } => (
            MarathonEvent::AppTerminated {
                app_id: PathId::parse(app_id),
            },
            *timestamp,
        ),
    }
}
