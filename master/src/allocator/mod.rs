//! The allocator: who is offered which agent's resources. Pure: no I/O, and
//! time comes in as an argument.
//!
//! Hierarchical DRF, as Mesos does it: roles are ordered by their weighted
//! dominant share, frameworks within a role by their dominant share, and
//! each allocatable agent's whole free resources go as one offer to the
//! lowest eligible framework; shares are updated after every grant.
//! Shares live in binary heaps, so a pass costs O(agents · log frameworks)
//! rather than the O(agents · frameworks) of re-sorting per agent.

mod share;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use paddock_proto::mesos::{AgentId, FrameworkId};
use paddock_proto::resources::Resources;

use share::{dominant_share, Share};

#[derive(Debug, Clone)]
pub struct AllocatorConfig {
    /// An agent is offered only if at least this much cpu or mem is free
    /// (Mesos `--min_allocatable_resources` default `cpus:0.01|mem:32`).
    pub min_allocatable_cpus: f64,
    pub min_allocatable_mem: f64,
}

impl Default for AllocatorConfig {
    fn default() -> Self {
        AllocatorConfig {
            min_allocatable_cpus: 0.01,
            min_allocatable_mem: 32.0,
        }
    }
}

/// One offer's worth: `resources` of `agent_id` for `framework_id`.
#[derive(Debug, Clone)]
pub struct OfferGrant {
    pub framework_id: FrameworkId,
    pub agent_id: AgentId,
    pub role: String,
    pub resources: Resources,
}

#[derive(Debug, Clone, Default)]
struct AgentState {
    total: Resources,
    used: Resources,
    offered: Resources,
    active: bool,
    used_by: HashMap<FrameworkId, Resources>,
    offered_to: HashMap<FrameworkId, Resources>,
}

#[derive(Debug, Clone)]
struct FrameworkState {
    role: String,
    active: bool,
    suppressed: bool,
    /// Agents this framework declined, until when.
    filters: HashMap<AgentId, Instant>,
    used: Resources,
    offered: Resources,
}

#[derive(Debug, Clone, Default)]
struct RoleState {
    allocated: Resources,
    frameworks: usize,
}

#[derive(Debug, Clone)]
pub struct Allocator {
    config: AllocatorConfig,
    agents: BTreeMap<AgentId, AgentState>,
    frameworks: HashMap<FrameworkId, FrameworkState>,
    roles: HashMap<String, RoleState>,
    weights: HashMap<String, f64>,
    cluster: Resources,
}

fn sub_entry(map: &mut HashMap<FrameworkId, Resources>, fw: &FrameworkId, res: &Resources) {
    if let Some(r) = map.get_mut(fw) {
        r.subtract(res);
        if r.is_empty() {
            map.remove(fw);
        }
    }
}

impl Allocator {
    pub fn new(config: AllocatorConfig) -> Self {
        Allocator {
            config,
            agents: BTreeMap::new(),
            frameworks: HashMap::new(),
            roles: HashMap::new(),
            weights: HashMap::new(),
            cluster: Resources::new(),
        }
    }

    /// Adds an agent, or updates the total of one we know (usage is kept).
    pub fn add_agent(&mut self, id: AgentId, total: Resources) {
        let agent = self.agents.entry(id).or_insert_with(|| AgentState {
            active: true,
            ..Default::default()
        });
        self.cluster.subtract(&agent.total);
        self.cluster.add(&total);
        agent.total = total;
    }

    /// Forgets an agent and everything used or offered on it.
    pub fn remove_agent(&mut self, id: &AgentId) {
        let Some(agent) = self.agents.remove(id) else {
            return;
        };
        self.cluster.subtract(&agent.total);
        for (fw, r) in agent.used_by.iter() {
            self.uncharge(fw, r, true);
        }
        for (fw, r) in agent.offered_to.iter() {
            self.uncharge(fw, r, false);
        }
    }

    pub fn set_agent_active(&mut self, id: &AgentId, active: bool) {
        if let Some(a) = self.agents.get_mut(id) {
            a.active = active;
        }
    }

    pub fn add_framework(&mut self, id: FrameworkId, role: String) {
        if let Some(fw) = self.frameworks.get(&id) {
            if fw.role == role {
                return;
            }
            // A role change moves the framework's allocation with it.
            let moved = fw.used.plus(&fw.offered);
            let old = fw.role.clone();
            if let Some(r) = self.roles.get_mut(&old) {
                r.allocated.subtract(&moved);
                r.frameworks -= 1;
            }
            let r = self.roles.entry(role.clone()).or_default();
            r.allocated.add(&moved);
            r.frameworks += 1;
            if let Some(fw) = self.frameworks.get_mut(&id) {
                fw.role = role;
            }
            return;
        }
        self.roles.entry(role.clone()).or_default().frameworks += 1;
        self.frameworks.insert(
            id,
            FrameworkState {
                role,
                active: true,
                suppressed: false,
                filters: HashMap::new(),
                used: Resources::new(),
                offered: Resources::new(),
            },
        );
    }

    /// Removes a framework and frees everything it used or held.
    pub fn remove_framework(&mut self, id: &FrameworkId) {
        let Some(fw) = self.frameworks.remove(id) else {
            return;
        };
        for agent in self.agents.values_mut() {
            if let Some(r) = agent.used_by.remove(id) {
                agent.used.subtract(&r);
            }
            if let Some(r) = agent.offered_to.remove(id) {
                agent.offered.subtract(&r);
            }
        }
        if let Some(r) = self.roles.get_mut(&fw.role) {
            r.allocated.subtract(&fw.used.plus(&fw.offered));
            r.frameworks -= 1;
            if r.frameworks == 0 {
                self.roles.remove(&fw.role);
            }
        }
    }

    pub fn set_framework_active(&mut self, id: &FrameworkId, active: bool) {
        if let Some(fw) = self.frameworks.get_mut(id) {
            fw.active = active;
        }
    }

    pub fn set_weight(&mut self, role: &str, weight: f64) {
        if weight.is_finite() && weight > 0.0 {
            self.weights.insert(role.to_string(), weight);
        }
    }

    pub fn suppress(&mut self, id: &FrameworkId) {
        if let Some(fw) = self.frameworks.get_mut(id) {
            fw.suppressed = true;
        }
    }

    /// Unsuppresses and clears every filter the framework set.
    pub fn revive(&mut self, id: &FrameworkId) {
        if let Some(fw) = self.frameworks.get_mut(id) {
            fw.suppressed = false;
            fw.filters.clear();
        }
    }

    /// Takes resources off a framework's books (and its role's).
    fn uncharge(&mut self, fw: &FrameworkId, res: &Resources, used: bool) {
        let res = &res.scalars_only();
        if let Some(f) = self.frameworks.get_mut(fw) {
            if used {
                f.used.subtract(res);
            } else {
                f.offered.subtract(res);
            }
            if let Some(r) = self.roles.get_mut(&f.role) {
                r.allocated.subtract(res);
            }
        }
    }

    /// Offered resources come back unused; with `refuse`, the framework is
    /// not offered this agent again until `now + refuse`.
    pub fn recover_offered(
        &mut self,
        agent: &AgentId,
        fw: &FrameworkId,
        res: &Resources,
        refuse: Option<Duration>,
        now: Instant,
    ) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.offered.subtract(res);
            sub_entry(&mut a.offered_to, fw, res);
        }
        self.uncharge(fw, res, false);
        if let (Some(d), Some(f)) = (refuse, self.frameworks.get_mut(fw)) {
            if !d.is_zero() {
                f.filters.insert(agent.clone(), now + d);
            }
        }
    }

    /// Part of an offer is now used by launched tasks.
    pub fn offered_to_used(&mut self, agent: &AgentId, fw: &FrameworkId, res: &Resources) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.offered.subtract(res);
            sub_entry(&mut a.offered_to, fw, res);
            a.used.add(res);
            a.used_by.entry(fw.clone()).or_default().add(res);
        }
        if let Some(f) = self.frameworks.get_mut(fw) {
            let s = res.scalars_only();
            f.offered.subtract(&s);
            f.used.add(&s);
        }
    }

    /// A task ended: its resources are free.
    pub fn release_used(&mut self, agent: &AgentId, fw: &FrameworkId, res: &Resources) {
        if let Some(a) = self.agents.get_mut(agent) {
            a.used.subtract(res);
            sub_entry(&mut a.used_by, fw, res);
        }
        self.uncharge(fw, res, true);
    }

    /// Marks resources used without an offer (an agent re-registering with
    /// running tasks). Refuses to double-book.
    pub fn add_used(
        &mut self,
        agent: &AgentId,
        fw: &FrameworkId,
        res: &Resources,
    ) -> Result<(), String> {
        let a = self
            .agents
            .get_mut(agent)
            .ok_or_else(|| format!("unknown agent '{agent}'"))?;
        let free = a.total.minus(&a.used).minus(&a.offered);
        if !free.contains(res) {
            return Err(format!(
                "not available on '{agent}': {}",
                free.shortfall(res).join("; ")
            ));
        }
        a.used.add(res);
        a.used_by.entry(fw.clone()).or_default().add(res);
        if let Some(f) = self.frameworks.get_mut(fw) {
            let s = res.scalars_only();
            f.used.add(&s);
            let role = f.role.clone();
            self.roles.entry(role).or_default().allocated.add(&s);
        }
        Ok(())
    }

    fn allocatable(&self, r: &Resources) -> bool {
        r.scalar("cpus") >= self.config.min_allocatable_cpus
            || r.scalar("mem") >= self.config.min_allocatable_mem
    }

    fn weight(&self, role: &str) -> f64 {
        self.weights.get(role).copied().unwrap_or(1.0)
    }

    /// One allocation pass. The returned grants already count as offered.
    pub fn allocate(&mut self, now: Instant) -> Vec<OfferGrant> {
        let mut grants = Vec::new();
        // Drop expired filters once per pass.
        for f in self.frameworks.values_mut() {
            f.filters.retain(|_, until| *until > now);
        }
        // Per-role heaps of eligible frameworks, and a heap of roles.
        let mut fw_heaps: HashMap<String, BinaryHeap<Reverse<(Share, FrameworkId)>>> =
            HashMap::new();
        for (id, f) in &self.frameworks {
            if f.active && !f.suppressed {
                let s = dominant_share(&f.used.plus(&f.offered), &self.cluster);
                fw_heaps
                    .entry(f.role.clone())
                    .or_default()
                    .push(Reverse((Share(s), id.clone())));
            }
        }
        if fw_heaps.is_empty() {
            return grants;
        }
        let mut role_heap: BinaryHeap<Reverse<(Share, String)>> = fw_heaps
            .keys()
            .map(|role| {
                let alloc = self
                    .roles
                    .get(role)
                    .map(|r| r.allocated.clone())
                    .unwrap_or_default();
                Reverse((
                    Share(dominant_share(&alloc, &self.cluster) / self.weight(role)),
                    role.clone(),
                ))
            })
            .collect();
        let agent_ids: Vec<AgentId> = self.agents.keys().cloned().collect();
        for agent_id in agent_ids {
            let Some(agent) = self.agents.get(&agent_id) else {
                continue;
            };
            if !agent.active {
                continue;
            }
            let free = agent.total.minus(&agent.used).minus(&agent.offered);
            if !self.allocatable(&free) {
                continue;
            }
            let Some((fw_id, role)) = self.pick(&agent_id, &mut role_heap, &mut fw_heaps) else {
                continue;
            };
            // Book the grant.
            if let Some(a) = self.agents.get_mut(&agent_id) {
                a.offered.add(&free);
                a.offered_to.entry(fw_id.clone()).or_default().add(&free);
            }
            let mut fw_share = 0.0;
            let scalars = free.scalars_only();
            if let Some(f) = self.frameworks.get_mut(&fw_id) {
                f.offered.add(&scalars);
                fw_share = dominant_share(&f.used.plus(&f.offered), &self.cluster);
            }
            let role_state = self.roles.entry(role.clone()).or_default();
            role_state.allocated.add(&scalars);
            let role_share =
                dominant_share(&role_state.allocated, &self.cluster) / self.weight(&role);
            if let Some(h) = fw_heaps.get_mut(&role) {
                h.push(Reverse((Share(fw_share), fw_id.clone())));
            }
            role_heap.push(Reverse((Share(role_share), role.clone())));
            grants.push(OfferGrant {
                framework_id: fw_id,
                agent_id,
                role,
                resources: free,
            });
        }
        grants
    }

    /// The lowest-share framework (in the lowest-share role) that does not
    /// filter `agent`. The chosen entries are popped; the caller pushes them
    /// back with their new shares. Skipped entries are restored here.
    fn pick(
        &self,
        agent: &AgentId,
        role_heap: &mut BinaryHeap<Reverse<(Share, String)>>,
        fw_heaps: &mut HashMap<String, BinaryHeap<Reverse<(Share, FrameworkId)>>>,
    ) -> Option<(FrameworkId, String)> {
        let mut skipped_roles = Vec::new();
        let mut found = None;
        while let Some(Reverse((rs, role))) = role_heap.pop() {
            let Some(heap) = fw_heaps.get_mut(&role) else {
                continue;
            };
            let mut skipped = Vec::new();
            let mut chosen = None;
            while let Some(Reverse((s, id))) = heap.pop() {
                let filtered = self
                    .frameworks
                    .get(&id)
                    .is_none_or(|f| f.filters.contains_key(agent));
                if filtered {
                    skipped.push(Reverse((s, id)));
                } else {
                    chosen = Some(id);
                    break;
                }
            }
            heap.extend(skipped);
            match chosen {
                Some(id) => {
                    found = Some((id, role));
                    break;
                }
                None => skipped_roles.push(Reverse((rs, role))),
            }
        }
        role_heap.extend(skipped_roles);
        found
    }

    /// Free resources on an agent (total − used − offered).
    pub fn available(&self, agent: &AgentId) -> Resources {
        self.agents
            .get(agent)
            .map(|a| a.total.minus(&a.used).minus(&a.offered))
            .unwrap_or_default()
    }

    /// (total, used, offered) of an agent.
    pub fn agent_totals(&self, agent: &AgentId) -> Option<(Resources, Resources, Resources)> {
        self.agents
            .get(agent)
            .map(|a| (a.total.clone(), a.used.clone(), a.offered.clone()))
    }

    /// The framework's dominant share of the cluster.
    pub fn framework_share(&self, fw: &FrameworkId) -> f64 {
        self.frameworks
            .get(fw)
            .map(|f| dominant_share(&f.used.plus(&f.offered), &self.cluster))
            .unwrap_or(0.0)
    }

    /// (used, offered) of a framework.
    pub fn framework_allocation(&self, fw: &FrameworkId) -> (Resources, Resources) {
        self.frameworks
            .get(fw)
            .map(|f| (f.used.clone(), f.offered.clone()))
            .unwrap_or_default()
    }

    /// Never double-booked: on every agent used + offered fits the total and
    /// no range value is both used and offered; framework books (scalars:
    /// ranges are per agent) agree with the agents'.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut fw_used: HashMap<&FrameworkId, Resources> = HashMap::new();
        let mut fw_offered: HashMap<&FrameworkId, Resources> = HashMap::new();
        for (id, a) in &self.agents {
            let booked = a.used.plus(&a.offered);
            if !a.total.contains(&booked) {
                return Err(format!(
                    "agent {id}: used {} + offered {} exceeds total {}",
                    a.used, a.offered, a.total
                ));
            }
            for name in a.total.range_names() {
                let (u, o) = (a.used.range_set(name), a.offered.range_set(name));
                if let (Some(u), Some(o)) = (u, o) {
                    if u.union(o).count() != u.count() + o.count() {
                        return Err(format!("agent {id}: {name} {u} both used and offered {o}"));
                    }
                }
            }
            let sum = |m: &HashMap<FrameworkId, Resources>| {
                m.values().fold(Resources::new(), |acc, r| acc.plus(r))
            };
            if sum(&a.used_by) != a.used || sum(&a.offered_to) != a.offered {
                return Err(format!(
                    "agent {id}: per-framework books disagree with the agent's"
                ));
            }
            for (f, r) in &a.used_by {
                fw_used.entry(f).or_default().add(&r.scalars_only());
            }
            for (f, r) in &a.offered_to {
                fw_offered.entry(f).or_default().add(&r.scalars_only());
            }
        }
        for (id, f) in &self.frameworks {
            let u = fw_used.remove(id).unwrap_or_default();
            let o = fw_offered.remove(id).unwrap_or_default();
            if u != f.used || o != f.offered {
                return Err(format!(
                    "framework {id}: books {}/{} but agents say {u}/{o}",
                    f.used, f.offered
                ));
            }
        }
        Ok(())
    }
}
