//! The allocator: who is offered which agent's resources. Pure: no I/O, and
//! time comes in as an argument.
//!
//! Hierarchical DRF, as Mesos does it: roles are ordered by their weighted
//! dominant share, frameworks within a role by their dominant share, and
//! each allocatable agent's whole free resources go as one offer to the
//! lowest eligible framework; shares are updated after every grant.
//!
//! The books are kept twice: per agent (total, used, offered, and who holds
//! what, ranges included) and per framework and role (scalars, for the
//! shares). `check_invariants` verifies they agree and that nothing is
//! booked twice. Inputs that do not match the books (recovering more than
//! was offered, releasing what was never used) are clamped to what the
//! framework actually holds on that agent, so a caller's mistake can never
//! make room that is not there.

mod books;
mod invariants;
mod share;
mod sorter;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use paddock_proto::mesos::{AgentId, FrameworkId};
use paddock_proto::resources::Resources;

use books::{Books, FrameworkState, Hold};
use sorter::{HeapSorter, LinearSorter, Sorter};

/// Mesos caps `refuse_seconds` at a year.
pub const MAX_REFUSE: Duration = Duration::from_secs(365 * 24 * 3600);

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
#[derive(Debug, Clone, PartialEq)]
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

impl AgentState {
    fn free(&self) -> Resources {
        let mut free = self.total.clone();
        free.subtract(&self.used);
        free.subtract(&self.offered);
        free
    }

    /// Takes up to `res` off what `fw` holds here (`hold` says which book);
    /// returns what was actually taken.
    fn take(&mut self, fw: &FrameworkId, res: &Resources, hold: Hold) -> Resources {
        let (per_fw, all) = match hold {
            Hold::Used => (&mut self.used_by, &mut self.used),
            Hold::Offered => (&mut self.offered_to, &mut self.offered),
        };
        let Some(held) = per_fw.get_mut(fw) else {
            return Resources::new();
        };
        let taken = intersection(held, res);
        held.subtract(&taken);
        if held.is_empty() {
            per_fw.remove(fw);
        }
        all.subtract(&taken);
        taken
    }

    fn put(&mut self, fw: &FrameworkId, res: &Resources, hold: Hold) {
        if res.is_empty() {
            return;
        }
        let (per_fw, all) = match hold {
            Hold::Used => (&mut self.used_by, &mut self.used),
            Hold::Offered => (&mut self.offered_to, &mut self.offered),
        };
        per_fw.entry(fw.clone()).or_default().add(res);
        all.add(res);
    }
}

/// What `a` and `b` have in common (per scalar the minimum, per range set
/// the intersection).
fn intersection(a: &Resources, b: &Resources) -> Resources {
    a.minus(&a.minus(b))
}

#[derive(Debug, Clone)]
pub struct Allocator {
    config: AllocatorConfig,
    agents: BTreeMap<AgentId, AgentState>,
    books: Books,
}

impl Allocator {
    pub fn new(config: AllocatorConfig) -> Self {
        Allocator {
            config,
            agents: BTreeMap::new(),
            books: Books::default(),
        }
    }

    /// Adds an agent (active), or updates the total of one we know (usage
    /// and activity are kept).
    pub fn add_agent(&mut self, id: AgentId, total: Resources) {
        let agent = self.agents.entry(id).or_insert_with(|| AgentState {
            active: true,
            ..Default::default()
        });
        self.books.cluster.subtract(&agent.total.scalars_only());
        self.books.cluster.add(&total.scalars_only());
        agent.total = total;
    }

    /// Forgets an agent and everything used or offered on it.
    pub fn remove_agent(&mut self, id: &AgentId) {
        let Some(agent) = self.agents.remove(id) else {
            return;
        };
        self.books.cluster.subtract(&agent.total.scalars_only());
        for (fw, r) in &agent.used_by {
            self.books.uncharge(fw, r, Hold::Used);
        }
        for (fw, r) in &agent.offered_to {
            self.books.uncharge(fw, r, Hold::Offered);
        }
    }

    /// Inactive (disconnected, unreachable) agents get no offers.
    pub fn set_agent_active(&mut self, id: &AgentId, active: bool) {
        if let Some(a) = self.agents.get_mut(id) {
            a.active = active;
        }
    }

    /// Adds a framework (active, not suppressed) in `role`, or moves a known
    /// one to `role` together with its allocation.
    pub fn add_framework(&mut self, id: FrameworkId, role: String) {
        let books = &mut self.books;
        if let Some(fw) = books.frameworks.get_mut(&id) {
            if fw.role == role {
                return;
            }
            let moved = fw.used.plus(&fw.offered);
            let old = std::mem::replace(&mut fw.role, role.clone());
            if let Some(r) = books.roles.get_mut(&old) {
                r.allocated.subtract(&moved);
                r.frameworks -= 1;
                if r.frameworks == 0 {
                    books.roles.remove(&old);
                }
            }
            let r = books.roles.entry(role).or_default();
            r.allocated.add(&moved);
            r.frameworks += 1;
            return;
        }
        let used = books.unowned.remove(&id).unwrap_or_default();
        let r = books.roles.entry(role.clone()).or_default();
        r.frameworks += 1;
        r.allocated.add(&used);
        books.frameworks.insert(
            id,
            FrameworkState {
                role,
                active: true,
                suppressed: false,
                filters: HashMap::new(),
                used,
                offered: Resources::new(),
            },
        );
    }

    /// Removes a framework and frees everything it used or held on every
    /// agent.
    pub fn remove_framework(&mut self, id: &FrameworkId) {
        for agent in self.agents.values_mut() {
            if let Some(r) = agent.used_by.remove(id) {
                agent.used.subtract(&r);
            }
            if let Some(r) = agent.offered_to.remove(id) {
                agent.offered.subtract(&r);
            }
        }
        self.books.unowned.remove(id);
        let Some(fw) = self.books.frameworks.remove(id) else {
            return;
        };
        if let Some(r) = self.books.roles.get_mut(&fw.role) {
            r.allocated.subtract(&fw.used);
            r.allocated.subtract(&fw.offered);
            r.frameworks -= 1;
            if r.frameworks == 0 {
                self.books.roles.remove(&fw.role);
            }
        }
    }

    /// Disconnected frameworks get no offers.
    pub fn set_framework_active(&mut self, id: &FrameworkId, active: bool) {
        if let Some(fw) = self.books.frameworks.get_mut(id) {
            fw.active = active;
        }
    }

    /// A role's DRF weight (default 1). Non-positive or non-finite weights
    /// are ignored.
    pub fn set_weight(&mut self, role: &str, weight: f64) {
        if weight.is_finite() && weight > 0.0 {
            self.books.weights.insert(role.to_string(), weight);
        }
    }

    pub fn suppress(&mut self, id: &FrameworkId) {
        if let Some(fw) = self.books.frameworks.get_mut(id) {
            fw.suppressed = true;
        }
    }

    /// Unsuppresses and clears every filter the framework set.
    pub fn revive(&mut self, id: &FrameworkId) {
        if let Some(fw) = self.books.frameworks.get_mut(id) {
            fw.suppressed = false;
            fw.filters.clear();
        }
    }

    /// Offered resources come back unused (decline, rescind, timeout, or the
    /// unused part of an accept). With `Some(d)`, `d > 0`, the framework is
    /// not offered this agent again until `now + d` (`d` capped at a year).
    /// Only what the framework holds in offers on the agent is taken back.
    pub fn recover_offered(
        &mut self,
        agent: &AgentId,
        fw: &FrameworkId,
        res: &Resources,
        refuse: Option<Duration>,
        now: Instant,
    ) {
        if let Some(a) = self.agents.get_mut(agent) {
            let taken = a.take(fw, res, Hold::Offered);
            self.books.uncharge(fw, &taken, Hold::Offered);
        }
        if let (Some(d), Some(f)) = (refuse, self.books.frameworks.get_mut(fw)) {
            if !d.is_zero() {
                if let Some(until) = now.checked_add(d.min(MAX_REFUSE)) {
                    f.filters.insert(agent.clone(), until);
                }
            }
        }
    }

    /// Offered resources are now used by launched tasks. Only what the
    /// framework holds in offers on the agent moves.
    pub fn offered_to_used(&mut self, agent: &AgentId, fw: &FrameworkId, res: &Resources) {
        if let Some(a) = self.agents.get_mut(agent) {
            let taken = a.take(fw, res, Hold::Offered);
            a.put(fw, &taken, Hold::Used);
            self.books.offered_to_used(fw, &taken);
        }
    }

    /// Used resources are released (a task ended). Only what the framework
    /// uses on the agent is released.
    pub fn release_used(&mut self, agent: &AgentId, fw: &FrameworkId, res: &Resources) {
        if let Some(a) = self.agents.get_mut(agent) {
            let taken = a.take(fw, res, Hold::Used);
            self.books.uncharge(fw, &taken, Hold::Used);
        }
    }

    /// Marks resources used without an offer (an agent re-registering with
    /// running tasks). Refuses to double-book. The framework need not be
    /// known yet: its usage is kept aside until `add_framework`.
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
        let free = a.free();
        if !free.contains(res) {
            return Err(format!(
                "not available on '{agent}': {}",
                free.shortfall(res).join("; ")
            ));
        }
        a.put(fw, res, Hold::Used);
        self.books.charge(fw, res, Hold::Used);
        Ok(())
    }

    fn allocatable(&self, r: &Resources) -> bool {
        r.scalar("cpus") >= self.config.min_allocatable_cpus
            || r.scalar("mem") >= self.config.min_allocatable_mem
    }

    /// One allocation pass: each active agent's free resources, if at least
    /// the minimum allocatable, go as one offer to the lowest-share eligible
    /// framework (see `sorter`). The returned grants already count as
    /// offered. O(agents · log frameworks).
    pub fn allocate(&mut self, now: Instant) -> Vec<OfferGrant> {
        self.expire_filters(now);
        let mut sorter = HeapSorter::new(&self.books);
        self.pass(&mut sorter)
    }

    /// The same pass with every share recomputed from the books for every
    /// agent, O(agents · frameworks): the reference `allocate` must agree
    /// with, and the benchmark's baseline. Not for production use.
    #[doc(hidden)]
    pub fn allocate_linear(&mut self, now: Instant) -> Vec<OfferGrant> {
        self.expire_filters(now);
        self.pass(&mut LinearSorter)
    }

    fn expire_filters(&mut self, now: Instant) {
        for f in self.books.frameworks.values_mut() {
            f.filters.retain(|_, until| *until > now);
        }
    }

    fn pass(&mut self, sorter: &mut impl Sorter) -> Vec<OfferGrant> {
        let mut grants = Vec::new();
        if !self
            .books
            .frameworks
            .values()
            .any(|f| f.active && !f.suppressed)
        {
            return grants;
        }
        let (min_cpus, min_mem) = (
            self.config.min_allocatable_cpus,
            self.config.min_allocatable_mem,
        );
        let books = &mut self.books;
        for (agent_id, agent) in self.agents.iter_mut() {
            if !agent.active {
                continue;
            }
            let free = agent.free();
            if free.scalar("cpus") < min_cpus && free.scalar("mem") < min_mem {
                continue;
            }
            let Some(fw_id) = sorter.pick(agent_id, books) else {
                continue;
            };
            let Some(role) = books.frameworks.get(&fw_id).map(|f| f.role.clone()) else {
                continue;
            };
            agent.put(&fw_id, &free, Hold::Offered);
            books.charge(&fw_id, &free, Hold::Offered);
            sorter.granted(&fw_id, books);
            grants.push(OfferGrant {
                framework_id: fw_id,
                agent_id: agent_id.clone(),
                role,
                resources: free,
            });
        }
        grants
    }

    /// Free resources on an agent (total − used − offered).
    pub fn available(&self, agent: &AgentId) -> Resources {
        self.agents
            .get(agent)
            .map(AgentState::free)
            .unwrap_or_default()
    }

    /// Whether `available(agent)` is worth an offer.
    pub fn is_allocatable(&self, agent: &AgentId) -> bool {
        self.allocatable(&self.available(agent))
    }

    /// (total, used, offered) of an agent.
    pub fn agent_totals(&self, agent: &AgentId) -> Option<(Resources, Resources, Resources)> {
        self.agents
            .get(agent)
            .map(|a| (a.total.clone(), a.used.clone(), a.offered.clone()))
    }

    /// The framework's dominant share of the cluster (used + offered).
    pub fn framework_share(&self, fw: &FrameworkId) -> f64 {
        self.books
            .frameworks
            .get(fw)
            .map(|f| self.books.framework_share(f))
            .unwrap_or(0.0)
    }

    /// The role's dominant share of the cluster divided by its weight.
    pub fn role_share(&self, role: &str) -> f64 {
        self.books.role_share(role)
    }

    /// (used, offered) of a framework, scalars only.
    pub fn framework_allocation(&self, fw: &FrameworkId) -> (Resources, Resources) {
        self.books
            .frameworks
            .get(fw)
            .map(|f| (f.used.clone(), f.offered.clone()))
            .unwrap_or_default()
    }

    /// Never double-booked, and the two sets of books agree: see
    /// `invariants`.
    pub fn check_invariants(&self) -> Result<(), String> {
        invariants::check(&self.agents, &self.books)
    }
}
