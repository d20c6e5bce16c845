//! A running deployment: its plan and how far it got.

use serde::{Deserialize, Serialize};

use crate::core::plan::{Action, DeploymentPlan};
use crate::core::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub plan: DeploymentPlan,
    /// Index of the step being executed (0-based; the API shows it 1-based).
    pub current_step: usize,
    /// Whether the current step's actions were applied to the apps.
    pub step_applied: bool,
    pub started_at: Timestamp,
}

impl Deployment {
    pub fn new(plan: DeploymentPlan, now: Timestamp) -> Deployment {
        Deployment {
            plan,
            current_step: 0,
            step_applied: false,
            started_at: now,
        }
    }

    pub fn current_actions(&self) -> &[Action] {
        self.plan
            .steps
            .get(self.current_step)
            .map(|s| s.actions.as_slice())
            .unwrap_or(&[])
    }

    /// The current action for `app`, if its step is the current one.
    pub fn current_action_for(&self, app: &str) -> Option<&Action> {
        self.current_actions().iter().find(|a| a.app == app)
    }

    pub fn total_steps(&self) -> usize {
        self.plan.steps.len()
    }
}
