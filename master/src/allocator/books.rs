//! The framework and role side of the books: what each framework and role
//! holds (scalars only: ranges of different agents do not add up), its
//! filters, and the cluster total the shares are taken over.

use std::collections::HashMap;
use std::time::Instant;

use paddock_proto::mesos::{AgentId, FrameworkId};
use paddock_proto::resources::Resources;

use super::share::dominant_share;

#[derive(Debug, Clone)]
pub(super) struct FrameworkState {
    pub role: String,
    pub active: bool,
    pub suppressed: bool,
    /// Agents this framework declined, until when.
    pub filters: HashMap<AgentId, Instant>,
    pub used: Resources,
    pub offered: Resources,
}

#[derive(Debug, Clone, Default)]
pub(super) struct RoleState {
    /// Used + offered of every framework in the role, active or not.
    pub allocated: Resources,
    pub frameworks: usize,
}

/// Whether resources are used by tasks or held in an outstanding offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hold {
    Used,
    Offered,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Books {
    pub frameworks: HashMap<FrameworkId, FrameworkState>,
    pub roles: HashMap<String, RoleState>,
    pub weights: HashMap<String, f64>,
    /// Scalar totals of every agent, active or not.
    pub cluster: Resources,
    /// Used resources of frameworks not (yet) added: an agent re-registered
    /// with tasks of a framework that has not subscribed again. Taken over
    /// by `add_framework`.
    pub unowned: HashMap<FrameworkId, Resources>,
}

impl Books {
    pub fn weight(&self, role: &str) -> f64 {
        self.weights.get(role).copied().unwrap_or(1.0)
    }

    pub fn framework_share(&self, f: &FrameworkState) -> f64 {
        dominant_share(&[&f.used, &f.offered], &self.cluster)
    }

    /// The role's dominant share divided by its weight.
    pub fn role_share(&self, role: &str) -> f64 {
        match self.roles.get(role) {
            Some(r) => dominant_share(&[&r.allocated], &self.cluster) / self.weight(role),
            None => 0.0,
        }
    }

    /// Active, not suppressed, and not filtering `agent` (expired filters
    /// are dropped at the start of every pass).
    pub fn eligible(&self, id: &FrameworkId, agent: &AgentId) -> bool {
        self.frameworks
            .get(id)
            .is_some_and(|f| f.active && !f.suppressed && !f.filters.contains_key(agent))
    }

    /// Adds `res` (scalars are taken) to the framework's and its role's
    /// books, or to the unowned books for a framework we do not know.
    pub fn charge(&mut self, fw: &FrameworkId, res: &Resources, hold: Hold) {
        let s = res.scalars_only();
        if s.is_empty() {
            return;
        }
        match self.frameworks.get_mut(fw) {
            Some(f) => {
                match hold {
                    Hold::Used => f.used.add(&s),
                    Hold::Offered => f.offered.add(&s),
                }
                if let Some(r) = self.roles.get_mut(&f.role) {
                    r.allocated.add(&s);
                }
            }
            None if hold == Hold::Used => self.unowned.entry(fw.clone()).or_default().add(&s),
            None => {}
        }
    }

    /// The reverse of `charge`.
    pub fn uncharge(&mut self, fw: &FrameworkId, res: &Resources, hold: Hold) {
        let s = res.scalars_only();
        match self.frameworks.get_mut(fw) {
            Some(f) => {
                match hold {
                    Hold::Used => f.used.subtract(&s),
                    Hold::Offered => f.offered.subtract(&s),
                }
                if let Some(r) = self.roles.get_mut(&f.role) {
                    r.allocated.subtract(&s);
                }
            }
            None if hold == Hold::Used => {
                if let Some(u) = self.unowned.get_mut(fw) {
                    u.subtract(&s);
                    if u.is_empty() {
                        self.unowned.remove(fw);
                    }
                }
            }
            None => {}
        }
    }

    /// Moves offered resources to used on the framework's books (the role's
    /// allocation does not change).
    pub fn offered_to_used(&mut self, fw: &FrameworkId, res: &Resources) {
        if let Some(f) = self.frameworks.get_mut(fw) {
            let s = res.scalars_only();
            f.offered.subtract(&s);
            f.used.add(&s);
        }
    }
}
