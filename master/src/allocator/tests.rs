//! Allocator tests: DRF fairness, weights, filters, and a property test
//! that no resource is ever double-booked.

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

#[derive(Debug, Clone)]
enum Op {
    AddAgent(u8),
    RemoveAgent(u8),
    AddFramework(u8, u8),
    RemoveFramework(u8),
    Allocate(u16),
    /// Accept part of an outstanding grant: a fraction of cpus/mem, some ports.
    Accept(u8, u8, u8),
    Decline(u8, u8),
    Release(u8),
    Suppress(u8),
    Revive(u8),
    Activate(u8, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..8).prop_map(Op::AddAgent),
        (0u8..8).prop_map(Op::RemoveAgent),
        (0u8..5, 0u8..2).prop_map(|(f, r)| Op::AddFramework(f, r)),
        (0u8..5).prop_map(Op::RemoveFramework),
        (0u16..20).prop_map(Op::Allocate),
        (any::<u8>(), 0u8..=100, 0u8..10).prop_map(|(g, p, n)| Op::Accept(g, p, n)),
        (any::<u8>(), 0u8..10).prop_map(|(g, s)| Op::Decline(g, s)),
        any::<u8>().prop_map(Op::Release),
        (0u8..5).prop_map(Op::Suppress),
        (0u8..5).prop_map(Op::Revive),
        (0u8..8, any::<bool>()).prop_map(|(a, b)| Op::Activate(a, b)),
    ]
}

fn agent_res(i: u8) -> Resources {
    Resources::new()
        .with_scalar("cpus", 1.0 + i as f64)
        .with_scalar("mem", 256.0 * (1 + i as u64) as f64)
        .with_ranges("ports", RangeSet::new([(31000, 31000 + 4 * i as u64 + 3)]))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// Whatever frameworks and agents do, used + outstanding offers never
    /// exceed an agent's total and no port is handed out twice.
    #[test]
    fn never_double_books(ops in proptest::collection::vec(op(), 1..200)) {
        let t0 = Instant::now();
        let mut a = Allocator::new(AllocatorConfig::default());
        let mut grants: Vec<OfferGrant> = Vec::new();
        let mut used: Vec<(AgentId, FrameworkId, Resources)> = Vec::new();
        let mut agents_total: std::collections::HashMap<AgentId, Resources> = Default::default();
        for op in ops {
            match op {
                Op::AddAgent(i) => {
                    let id = ag(&format!("s{i}"));
                    if let std::collections::hash_map::Entry::Vacant(e) = agents_total.entry(id.clone()) {
                        a.add_agent(id, agent_res(i));
                        e.insert(agent_res(i));
                    }
                }
                Op::RemoveAgent(i) => {
                    let id = ag(&format!("s{i}"));
                    a.remove_agent(&id);
                    agents_total.remove(&id);
                    grants.retain(|g| g.agent_id != id);
                    used.retain(|u| u.0 != id);
                }
                Op::AddFramework(f, r) => a.add_framework(fw(&format!("f{f}")), format!("role{r}")),
                Op::RemoveFramework(f) => {
                    let id = fw(&format!("f{f}"));
                    a.remove_framework(&id);
                    grants.retain(|g| g.framework_id != id);
                    used.retain(|u| u.1 != id);
                }
                Op::Allocate(secs) => grants.extend(a.allocate(t0 + Duration::from_secs(secs as u64))),
                Op::Accept(g, pct, nports) => {
                    if grants.is_empty() { continue; }
                    let g = grants.remove(g as usize % grants.len());
                    let frac = pct as f64 / 100.0;
                    let mut take = Resources::new()
                        .with_scalar("cpus", (g.resources.scalar("cpus") * frac * 1000.0).floor() / 1000.0)
                        .with_scalar("mem", (g.resources.scalar("mem") * frac).floor());
                    if let Some(p) = g.resources.range_set("ports") {
                        take = take.with_ranges("ports", p.take(nports as u64));
                    }
                    a.offered_to_used(&g.agent_id, &g.framework_id, &take);
                    a.recover_offered(&g.agent_id, &g.framework_id, &g.resources.minus(&take), None, t0);
                    used.push((g.agent_id, g.framework_id, take));
                }
                Op::Decline(g, secs) => {
                    if grants.is_empty() { continue; }
                    let g = grants.remove(g as usize % grants.len());
                    a.recover_offered(&g.agent_id, &g.framework_id, &g.resources, Some(Duration::from_secs(secs as u64)), t0);
                }
                Op::Release(u) => {
                    if used.is_empty() { continue; }
                    let (agent, f, r) = used.remove(u as usize % used.len());
                    a.release_used(&agent, &f, &r);
                }
                Op::Suppress(f) => a.suppress(&fw(&format!("f{f}"))),
                Op::Revive(f) => a.revive(&fw(&format!("f{f}"))),
                Op::Activate(i, on) => a.set_agent_active(&ag(&format!("s{i}")), on),
            }
            prop_assert!(a.check_invariants().is_ok(), "{:?}", a.check_invariants());
            // Independently of the allocator's own books:
            for (id, total) in &agents_total {
                let mut booked = Resources::new();
                let mut ports = 0;
                for g in grants.iter().filter(|g| &g.agent_id == id) {
                    booked.add(&g.resources);
                    ports += g.resources.range_set("ports").map(|p| p.count()).unwrap_or(0);
                }
                for (_, _, r) in used.iter().filter(|u| &u.0 == id) {
                    booked.add(r);
                    ports += r.range_set("ports").map(|p| p.count()).unwrap_or(0);
                }
                prop_assert!(total.contains(&booked), "agent {id}: booked {booked} of {total}");
                let distinct = booked.range_set("ports").map(|p| p.count()).unwrap_or(0);
                prop_assert_eq!(distinct, ports, "a port was handed out twice on {}", id);
            }
        }
    }
}
