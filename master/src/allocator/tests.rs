//! Allocator tests: DRF fairness, weights, filters, and a property test
//! that no resource is ever double-booked.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use paddock_proto::mesos::{AgentId, FrameworkId};
use paddock_proto::resources::{RangeSet, Resources};
use proptest::prelude::*;

use super::*;

fn res(cpus: f64, mem: f64) -> Resources {
    Resources::new()
        .with_scalar("cpus", cpus)
        .with_scalar("mem", mem)
}

fn fw(s: &str) -> FrameworkId {
    FrameworkId::new(s)
}

fn ag(s: &str) -> AgentId {
    AgentId::new(s)
}

/// Each round, whoever gets the offer launches one task of its demand if it
/// fits, else declines the agent for a long while. Returns tasks per framework.
fn run_rounds(a: &mut Allocator, demands: &[(FrameworkId, Resources)], now: Instant) -> Vec<usize> {
    let mut counts = vec![0; demands.len()];
    for _ in 0..1000 {
        let grants = a.allocate(now);
        if grants.is_empty() {
            break;
        }
        for g in grants {
            let i = demands
                .iter()
                .position(|(f, _)| f == &g.framework_id)
                .unwrap();
            let need = &demands[i].1;
            if g.resources.contains(need) {
                a.offered_to_used(&g.agent_id, &g.framework_id, need);
                let rest = g.resources.minus(need);
                a.recover_offered(&g.agent_id, &g.framework_id, &rest, None, now);
                counts[i] += 1;
            } else {
                a.recover_offered(
                    &g.agent_id,
                    &g.framework_id,
                    &g.resources,
                    Some(Duration::from_secs(3600)),
                    now,
                );
            }
            a.check_invariants().unwrap();
        }
    }
    counts
}

#[test]
fn drf_paper_example() {
    // 9 CPUs, 18 GB; A's tasks need <1 CPU, 4 GB>, B's <3 CPU, 1 GB>.
    let mut a = Allocator::new(AllocatorConfig::default());
    a.add_agent(ag("s1"), res(9.0, 18432.0));
    a.add_framework(fw("a"), "*".into());
    a.add_framework(fw("b"), "*".into());
    let counts = run_rounds(
        &mut a,
        &[(fw("a"), res(1.0, 4096.0)), (fw("b"), res(3.0, 1024.0))],
        Instant::now(),
    );
    assert_eq!(counts, vec![3, 2]);
    let (sa, sb) = (a.framework_share(&fw("a")), a.framework_share(&fw("b")));
    assert!(
        (sa - 2.0 / 3.0).abs() < 1e-9 && (sb - 2.0 / 3.0).abs() < 1e-9,
        "{sa} {sb}"
    );
}

#[test]
fn role_weights_divide_the_cluster() {
    let mut a = Allocator::new(AllocatorConfig::default());
    a.add_agent(ag("s1"), res(30.0, 1e6));
    a.add_framework(fw("heavy"), "gold".into());
    a.add_framework(fw("light"), "bronze".into());
    a.set_weight("gold", 2.0);
    let counts = run_rounds(
        &mut a,
        &[(fw("heavy"), res(1.0, 1.0)), (fw("light"), res(1.0, 1.0))],
        Instant::now(),
    );
    assert_eq!(counts[0] + counts[1], 30);
    assert!((19..=21).contains(&counts[0]), "{counts:?}");
}

#[test]
fn declined_agents_are_filtered_until_the_refusal_expires() {
    let t0 = Instant::now();
    let mut a = Allocator::new(AllocatorConfig::default());
    a.add_agent(ag("s1"), res(1.0, 128.0));
    a.add_framework(fw("f"), "*".into());
    let g = a.allocate(t0).pop().unwrap();
    a.recover_offered(
        &g.agent_id,
        &g.framework_id,
        &g.resources,
        Some(Duration::from_secs(5)),
        t0,
    );
    assert!(a.allocate(t0 + Duration::from_secs(4)).is_empty());
    assert_eq!(a.allocate(t0 + Duration::from_secs(6)).len(), 1);
}

#[test]
fn filtered_framework_yields_to_the_next() {
    let t0 = Instant::now();
    let mut a = Allocator::new(AllocatorConfig::default());
    a.add_agent(ag("s1"), res(1.0, 128.0));
    a.add_framework(fw("a"), "*".into());
    a.add_framework(fw("b"), "*".into());
    let g = a.allocate(t0).pop().unwrap();
    assert_eq!(g.framework_id, fw("a"));
    a.recover_offered(
        &g.agent_id,
        &g.framework_id,
        &g.resources,
        Some(Duration::from_secs(5)),
        t0,
    );
    let g = a.allocate(t0).pop().unwrap();
    assert_eq!(g.framework_id, fw("b"));
}

#[test]
fn suppress_revive_and_inactive_parties_get_nothing() {
    let t0 = Instant::now();
    let mut a = Allocator::new(AllocatorConfig::default());
    a.add_agent(ag("s1"), res(1.0, 128.0));
    a.add_framework(fw("f"), "*".into());
    a.suppress(&fw("f"));
    assert!(a.allocate(t0).is_empty());
    a.revive(&fw("f"));
    let g = a.allocate(t0).pop().unwrap();
    a.recover_offered(
        &g.agent_id,
        &g.framework_id,
        &g.resources,
        Some(Duration::from_secs(60)),
        t0,
    );
    a.revive(&fw("f"));
    assert_eq!(a.allocate(t0).len(), 1, "revive clears filters");
    a.remove_framework(&fw("f"));
    a.add_framework(fw("g"), "*".into());
    a.set_agent_active(&ag("s1"), false);
    assert!(a.allocate(t0).is_empty());
    a.set_agent_active(&ag("s1"), true);
    a.set_framework_active(&fw("g"), false);
    assert!(a.allocate(t0).is_empty());
    a.set_framework_active(&fw("g"), true);
    assert_eq!(a.allocate(t0).len(), 1);
    a.check_invariants().unwrap();
}

#[test]
fn tiny_leftovers_are_not_offered() {
    let mut a = Allocator::new(AllocatorConfig::default());
    a.add_agent(ag("s1"), res(0.005, 16.0));
    a.add_framework(fw("f"), "*".into());
    assert!(a.allocate(Instant::now()).is_empty());
}

#[test]
fn add_used_refuses_to_double_book() {
    let mut a = Allocator::new(AllocatorConfig::default());
    a.add_agent(ag("s1"), res(2.0, 128.0));
    a.add_framework(fw("f"), "*".into());
    a.add_used(&ag("s1"), &fw("f"), &res(1.5, 64.0)).unwrap();
    assert!(a.add_used(&ag("s1"), &fw("f"), &res(1.0, 1.0)).is_err());
    a.check_invariants().unwrap();
}

#[test]
fn shares_are_updated_after_every_grant_within_one_pass() {
    let mut a = Allocator::new(AllocatorConfig::default());
    for i in 0..4 {
        a.add_agent(ag(&format!("s{i}")), res(4.0, 4096.0));
    }
    a.add_framework(fw("a"), "*".into());
    a.add_framework(fw("b"), "*".into());
    let grants = a.allocate(Instant::now());
    let to: Vec<&str> = grants
        .iter()
        .map(|g| g.framework_id.value.as_str())
        .collect();
    assert_eq!(to, ["a", "b", "a", "b"]);
    assert_eq!(a.framework_share(&fw("a")), 0.5);
    a.check_invariants().unwrap();
}

#[test]
fn roles_are_balanced_before_frameworks() {
    // Three frameworks in "many", one in "one": hierarchical DRF gives each
    // role half the agents; flat DRF would give "solo" only a quarter.
    let mut a = Allocator::new(AllocatorConfig::default());
    for i in 0..8 {
        a.add_agent(ag(&format!("s{i}")), res(4.0, 4096.0));
    }
    for f in ["m1", "m2", "m3"] {
        a.add_framework(fw(f), "many".into());
    }
    a.add_framework(fw("solo"), "one".into());
    let grants = a.allocate(Instant::now());
    assert_eq!(grants.len(), 8);
    let count = |f: &str| grants.iter().filter(|g| g.framework_id == fw(f)).count();
    assert_eq!(count("solo"), 4);
    assert_eq!(count("m1") + count("m2") + count("m3"), 4);
    assert!(grants
        .iter()
        .all(|g| (g.role == "one") == (g.framework_id == fw("solo"))));
    assert_eq!(a.role_share("one"), 0.5);
}

#[test]
fn a_role_change_carries_the_allocation() {
    let mut a = Allocator::new(AllocatorConfig::default());
    a.add_agent(ag("s1"), res(4.0, 4096.0));
    a.add_agent(ag("s2"), res(4.0, 4096.0));
    a.add_framework(fw("f"), "x".into());
    a.add_framework(fw("g"), "y".into());
    a.add_used(&ag("s1"), &fw("f"), &res(2.0, 1024.0)).unwrap();
    a.add_framework(fw("f"), "y".into());
    assert_eq!(a.role_share("x"), 0.0);
    assert_eq!(a.role_share("y"), 0.25);
    a.check_invariants().unwrap();
}

#[test]
fn usage_of_a_framework_not_yet_added_is_kept_for_it() {
    let mut a = Allocator::new(AllocatorConfig::default());
    a.add_agent(ag("s1"), res(4.0, 4096.0));
    a.add_used(&ag("s1"), &fw("late"), &res(3.0, 1024.0))
        .unwrap();
    a.check_invariants().unwrap();
    assert_eq!(a.available(&ag("s1")).scalar("cpus"), 1.0);
    a.add_framework(fw("late"), "*".into());
    assert_eq!(a.framework_allocation(&fw("late")).0.scalar("cpus"), 3.0);
    assert_eq!(a.framework_share(&fw("late")), 0.75);
    a.check_invariants().unwrap();
    a.release_used(&ag("s1"), &fw("late"), &res(3.0, 1024.0));
    assert_eq!(a.framework_share(&fw("late")), 0.0);
    a.check_invariants().unwrap();
}

#[test]
fn recovering_more_than_was_offered_frees_nothing_else() {
    let t0 = Instant::now();
    let mut a = Allocator::new(AllocatorConfig::default());
    a.add_agent(ag("s1"), res(4.0, 4096.0));
    a.add_framework(fw("a"), "*".into());
    a.add_framework(fw("b"), "*".into());
    a.add_used(&ag("s1"), &fw("b"), &res(2.0, 2048.0)).unwrap();
    let g = a.allocate(t0).pop().unwrap();
    assert_eq!(g.framework_id, fw("a"));
    // A confused caller: "a" returns the whole agent, "b" releases twice.
    a.recover_offered(&ag("s1"), &fw("a"), &res(4.0, 4096.0), None, t0);
    a.release_used(&ag("s1"), &fw("a"), &res(2.0, 2048.0));
    a.offered_to_used(&ag("s1"), &fw("a"), &res(1.0, 1.0));
    a.check_invariants().unwrap();
    assert_eq!(a.available(&ag("s1")), res(2.0, 2048.0));
    a.release_used(&ag("s1"), &fw("b"), &res(2.0, 2048.0));
    a.release_used(&ag("s1"), &fw("b"), &res(2.0, 2048.0));
    a.check_invariants().unwrap();
    assert_eq!(a.available(&ag("s1")), res(4.0, 4096.0));
}

#[test]
fn huge_refusals_are_capped_not_a_panic() {
    let t0 = Instant::now();
    let mut a = Allocator::new(AllocatorConfig::default());
    a.add_agent(ag("s1"), res(1.0, 128.0));
    a.add_framework(fw("f"), "*".into());
    let g = a.allocate(t0).pop().unwrap();
    a.recover_offered(
        &g.agent_id,
        &g.framework_id,
        &g.resources,
        Some(Duration::MAX),
        t0,
    );
    assert!(a
        .allocate(t0 + MAX_REFUSE - Duration::from_secs(1))
        .is_empty());
    assert_eq!(
        a.allocate(t0 + MAX_REFUSE + Duration::from_secs(1)).len(),
        1
    );
}

#[test]
fn zero_refusal_sets_no_filter() {
    let t0 = Instant::now();
    let mut a = Allocator::new(AllocatorConfig::default());
    a.add_agent(ag("s1"), res(1.0, 128.0));
    a.add_framework(fw("f"), "*".into());
    let g = a.allocate(t0).pop().unwrap();
    a.recover_offered(
        &g.agent_id,
        &g.framework_id,
        &g.resources,
        Some(Duration::ZERO),
        t0,
    );
    assert_eq!(a.allocate(t0).len(), 1);
}

#[test]
fn removing_an_agent_or_framework_clears_their_books() {
    let t0 = Instant::now();
    let mut a = Allocator::new(AllocatorConfig::default());
    a.add_agent(ag("s1"), res(4.0, 4096.0));
    a.add_agent(ag("s2"), res(4.0, 4096.0));
    a.add_framework(fw("f"), "*".into());
    let grants = a.allocate(t0);
    assert_eq!(grants.len(), 2);
    a.offered_to_used(&ag("s1"), &fw("f"), &res(1.0, 1.0));
    a.remove_agent(&ag("s2"));
    assert_eq!(a.framework_allocation(&fw("f")).1, res(3.0, 4095.0));
    assert_eq!(a.framework_share(&fw("f")), 1.0);
    a.check_invariants().unwrap();
    a.remove_framework(&fw("f"));
    assert_eq!(a.agent_totals(&ag("s1")).unwrap().1, Resources::new());
    assert_eq!(a.available(&ag("s1")), res(4.0, 4096.0));
    a.check_invariants().unwrap();
}

#[derive(Debug, Clone)]
enum Op {
    AddAgent(u8),
    RemoveAgent(u8),
    AddFramework(u8, u8),
    RemoveFramework(u8),
    /// Advance the clock by this many seconds, then allocate.
    Allocate(u8),
    /// Accept part of an outstanding grant: a fraction of cpus/mem, some ports.
    Accept(u8, u8, u8),
    Decline(u8, u8),
    Release(u8),
    Suppress(u8),
    Revive(u8),
    ActivateAgent(u8, bool),
    ActivateFramework(u8, bool),
    /// An agent reports a task: part of what is free, or (when the flag is
    /// set) its whole total, which must be refused unless nothing is booked.
    AddUsed(u8, u8, u8, u8, bool),
    /// A confused caller returns an agent's whole total for a framework
    /// that holds nothing there.
    Bogus(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0u8..8).prop_map(Op::AddAgent),
        1 => (0u8..8).prop_map(Op::RemoveAgent),
        1 => (0u8..5, 0u8..2).prop_map(|(f, r)| Op::AddFramework(f, r)),
        1 => (0u8..5).prop_map(Op::RemoveFramework),
        3 => (0u8..4).prop_map(Op::Allocate),
        3 => (any::<u8>(), 0u8..=100, 0u8..10).prop_map(|(g, p, n)| Op::Accept(g, p, n)),
        2 => (any::<u8>(), 0u8..10).prop_map(|(g, s)| Op::Decline(g, s)),
        1 => any::<u8>().prop_map(Op::Release),
        1 => (0u8..5).prop_map(Op::Suppress),
        1 => (0u8..5).prop_map(Op::Revive),
        1 => (0u8..8, any::<bool>()).prop_map(|(a, b)| Op::ActivateAgent(a, b)),
        1 => (0u8..5, any::<bool>()).prop_map(|(f, b)| Op::ActivateFramework(f, b)),
        1 => (0u8..8, 0u8..5, 0u8..=100, 0u8..10, any::<bool>())
            .prop_map(|(a, f, p, n, all)| Op::AddUsed(a, f, p, n, all)),
        1 => (0u8..8, 0u8..5).prop_map(|(a, f)| Op::Bogus(a, f)),
    ]
}

fn agent_res(i: u8) -> Resources {
    Resources::new()
        .with_scalar("cpus", 1.0 + i as f64)
        .with_scalar("mem", 256.0 * (1 + i as u64) as f64)
        .with_ranges("ports", RangeSet::new([(31000, 31000 + 4 * i as u64 + 3)]))
}

/// `frac` of the cpus and mem of `r` and its first `nports` ports.
fn part_of(r: &Resources, pct: u8, nports: u8) -> Resources {
    let frac = pct as f64 / 100.0;
    let mut take = Resources::new()
        .with_scalar("cpus", (r.scalar("cpus") * frac * 1000.0).floor() / 1000.0)
        .with_scalar("mem", (r.scalar("mem") * frac).floor());
    if let Some(p) = r.range_set("ports") {
        take = take.with_ranges("ports", p.take(nports as u64));
    }
    take
}

/// The test's own idea of who may be offered what.
#[derive(Default)]
struct Model {
    clock: u64,
    agents: HashMap<AgentId, Resources>,
    inactive_agents: HashSet<AgentId>,
    /// role, active, suppressed
    frameworks: HashMap<FrameworkId, (String, bool, bool)>,
    /// (framework, agent) → filtered until this second.
    filters: HashMap<(FrameworkId, AgentId), u64>,
    grants: Vec<OfferGrant>,
    used: Vec<(AgentId, FrameworkId, Resources)>,
}

impl Model {
    fn booked(&self, agent: &AgentId) -> (Resources, u64) {
        let mut booked = Resources::new();
        let mut ports = 0;
        let held = self
            .grants
            .iter()
            .filter(|g| &g.agent_id == agent)
            .map(|g| &g.resources)
            .chain(self.used.iter().filter(|u| &u.0 == agent).map(|u| &u.2));
        for r in held {
            booked.add(r);
            ports += r.range_set("ports").map(|p| p.count()).unwrap_or(0);
        }
        (booked, ports)
    }

    fn eligible(&self, f: &FrameworkId, agent: &AgentId) -> bool {
        self.frameworks
            .get(f)
            .is_some_and(|(_, active, suppressed)| *active && !suppressed)
            && self
                .filters
                .get(&(f.clone(), agent.clone()))
                .is_none_or(|until| *until <= self.clock)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// Whatever frameworks and agents do, used + outstanding offers never
    /// exceed an agent's total and no port is handed out twice; offers go
    /// only to eligible frameworks on active agents, no allocatable agent
    /// is left unoffered while someone could take it, and the heap
    /// allocator picks exactly what the linear-scan reference picks.
    #[test]
    fn never_double_books(ops in proptest::collection::vec(op(), 1..200)) {
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        let mut a = Allocator::new(AllocatorConfig::default());
        let mut m = Model::default();
        let fwid = |f: u8| fw(&format!("f{f}"));
        let agid = |i: u8| ag(&format!("s{i}"));
        for op in ops {
            match op {
                Op::AddAgent(i) => {
                    if let Entry::Vacant(e) = m.agents.entry(agid(i)) {
                        a.add_agent(agid(i), agent_res(i));
                        e.insert(agent_res(i));
                    }
                }
                Op::RemoveAgent(i) => {
                    let id = agid(i);
                    a.remove_agent(&id);
                    m.agents.remove(&id);
                    m.inactive_agents.remove(&id);
                    m.grants.retain(|g| g.agent_id != id);
                    m.used.retain(|u| u.0 != id);
                }
                Op::AddFramework(f, r) => {
                    a.add_framework(fwid(f), format!("role{r}"));
                    m.frameworks.entry(fwid(f)).or_insert((String::new(), true, false)).0 = format!("role{r}");
                }
                Op::RemoveFramework(f) => {
                    let id = fwid(f);
                    a.remove_framework(&id);
                    m.frameworks.remove(&id);
                    m.filters.retain(|k, _| k.0 != id);
                    m.grants.retain(|g| g.framework_id != id);
                    m.used.retain(|u| u.1 != id);
                }
                Op::Allocate(dt) => {
                    m.clock += dt as u64;
                    let mut reference = a.clone();
                    let expected = reference.allocate_linear(at(m.clock));
                    let got = a.allocate(at(m.clock));
                    prop_assert_eq!(&got, &expected, "heap and linear sorters disagree");
                    for g in &got {
                        prop_assert!(m.eligible(&g.framework_id, &g.agent_id), "offer to ineligible {:?}", g);
                        prop_assert!(!m.inactive_agents.contains(&g.agent_id), "offer of inactive {}", g.agent_id);
                        prop_assert_eq!(Some(&g.role), m.frameworks.get(&g.framework_id).map(|f| &f.0));
                    }
                    m.grants.extend(got);
                    for id in m.agents.keys() {
                        if a.is_allocatable(id) && !m.inactive_agents.contains(id) {
                            prop_assert!(
                                !m.frameworks.keys().any(|f| m.eligible(f, id)),
                                "agent {} left idle", id
                            );
                        }
                    }
                }
                Op::Accept(g, pct, nports) => {
                    if m.grants.is_empty() { continue; }
                    let g = m.grants.remove(g as usize % m.grants.len());
                    let take = part_of(&g.resources, pct, nports);
                    a.offered_to_used(&g.agent_id, &g.framework_id, &take);
                    a.recover_offered(&g.agent_id, &g.framework_id, &g.resources.minus(&take), None, at(m.clock));
                    m.used.push((g.agent_id, g.framework_id, take));
                }
                Op::Decline(g, secs) => {
                    if m.grants.is_empty() { continue; }
                    let g = m.grants.remove(g as usize % m.grants.len());
                    a.recover_offered(&g.agent_id, &g.framework_id, &g.resources, Some(Duration::from_secs(secs as u64)), at(m.clock));
                    if secs > 0 && m.frameworks.contains_key(&g.framework_id) {
                        m.filters.insert((g.framework_id, g.agent_id), m.clock + secs as u64);
                    }
                }
                Op::Release(u) => {
                    if m.used.is_empty() { continue; }
                    let (agent, f, r) = m.used.remove(u as usize % m.used.len());
                    a.release_used(&agent, &f, &r);
                }
                Op::Suppress(f) => {
                    a.suppress(&fwid(f));
                    if let Some(s) = m.frameworks.get_mut(&fwid(f)) { s.2 = true; }
                }
                Op::Revive(f) => {
                    a.revive(&fwid(f));
                    if let Some(s) = m.frameworks.get_mut(&fwid(f)) { s.2 = false; }
                    if m.frameworks.contains_key(&fwid(f)) {
                        m.filters.retain(|k, _| k.0 != fwid(f));
                    }
                }
                Op::ActivateAgent(i, on) => {
                    a.set_agent_active(&agid(i), on);
                    if m.agents.contains_key(&agid(i)) {
                        if on { m.inactive_agents.remove(&agid(i)); } else { m.inactive_agents.insert(agid(i)); }
                    }
                }
                Op::ActivateFramework(f, on) => {
                    a.set_framework_active(&fwid(f), on);
                    if let Some(s) = m.frameworks.get_mut(&fwid(f)) { s.1 = on; }
                }
                Op::AddUsed(i, f, pct, nports, all) => {
                    let Some(total) = m.agents.get(&agid(i)).cloned() else {
                        prop_assert!(a.add_used(&agid(i), &fwid(f), &agent_res(i)).is_err());
                        continue;
                    };
                    let free = total.minus(&m.booked(&agid(i)).0);
                    let want = if all { total.clone() } else { part_of(&free, pct, nports) };
                    let fits = free.contains(&want);
                    let r = a.add_used(&agid(i), &fwid(f), &want);
                    prop_assert_eq!(r.is_ok(), fits, "add_used {} on {}: {:?}", want, agid(i), r);
                    if fits {
                        m.used.push((agid(i), fwid(f), want));
                    }
                }
                Op::Bogus(i, f) => {
                    let (id, f) = (agid(i), fwid(f));
                    let holds = m.grants.iter().any(|g| g.agent_id == id && g.framework_id == f)
                        || m.used.iter().any(|u| u.0 == id && u.1 == f);
                    if holds { continue; }
                    let before = a.available(&id);
                    a.recover_offered(&id, &f, &agent_res(i), None, at(m.clock));
                    a.release_used(&id, &f, &agent_res(i));
                    a.offered_to_used(&id, &f, &agent_res(i));
                    prop_assert_eq!(a.available(&id), before);
                }
            }
            prop_assert!(a.check_invariants().is_ok(), "{:?}", a.check_invariants());
            // Independently of the allocator's own books:
            for (id, total) in &m.agents {
                let (booked, ports) = m.booked(id);
                prop_assert!(total.contains(&booked), "agent {id}: booked {booked} of {total}");
                let distinct = booked.range_set("ports").map(|p| p.count()).unwrap_or(0);
                prop_assert_eq!(distinct, ports, "a port was handed out twice on {}", id);
                prop_assert_eq!(a.available(id), total.minus(&booked));
            }
        }
    }
}
