//! The allocator's invariants, checked from scratch over both sets of books.

use std::collections::{BTreeMap, HashMap};

use paddock_proto::mesos::{AgentId, FrameworkId};
use paddock_proto::resources::Resources;

use super::books::Books;
use super::AgentState;

/// Sums the per-framework books, failing if two of them share a range
/// value (a port given to two frameworks at once).
fn disjoint_sum<'a>(
    parts: impl Iterator<Item = &'a Resources>,
    what: &str,
    agent: &AgentId,
) -> Result<Resources, String> {
    let mut sum = Resources::new();
    for r in parts {
        for name in r.range_names() {
            if let (Some(have), Some(new)) = (sum.range_set(name), r.range_set(name)) {
                if have.union(new).count() != have.count() + new.count() {
                    return Err(format!("agent {agent}: {name} {new} {what} twice"));
                }
            }
        }
        sum.add(r);
    }
    Ok(sum)
}

/// Per agent: used + offered fit in the total, no range value is held
/// twice (by two frameworks, or used and offered at once), and the agent's
/// sums equal its per-framework books. Per framework: its scalar books
/// equal the sum over agents; per role: the sum over its frameworks; the
/// cluster total is the sum of agent totals.
pub(super) fn check(agents: &BTreeMap<AgentId, AgentState>, books: &Books) -> Result<(), String> {
    let mut fw_used: HashMap<&FrameworkId, Resources> = HashMap::new();
    let mut fw_offered: HashMap<&FrameworkId, Resources> = HashMap::new();
    let mut cluster = Resources::new();
    for (id, a) in agents {
        cluster.add(&a.total.scalars_only());
        let used = disjoint_sum(a.used_by.values(), "used", id)?;
        let offered = disjoint_sum(a.offered_to.values(), "offered", id)?;
        if used != a.used || offered != a.offered {
            return Err(format!(
                "agent {id}: per-framework books {used} / {offered} disagree with the agent's {} / {}",
                a.used, a.offered
            ));
        }
        let booked = disjoint_sum([&a.used, &a.offered].into_iter(), "used and offered", id)?;
        if !a.total.contains(&booked) {
            return Err(format!(
                "agent {id}: used {} + offered {} exceeds total {}",
                a.used, a.offered, a.total
            ));
        }
        if a.used_by
            .values()
            .chain(a.offered_to.values())
            .any(Resources::is_empty)
        {
            return Err(format!("agent {id}: an empty per-framework entry"));
        }
        for (f, r) in &a.used_by {
            fw_used.entry(f).or_default().add(&r.scalars_only());
        }
        for (f, r) in &a.offered_to {
            fw_offered.entry(f).or_default().add(&r.scalars_only());
        }
    }
    if cluster != books.cluster {
        return Err(format!(
            "cluster total {} but agents add up to {cluster}",
            books.cluster
        ));
    }
    let mut roles: HashMap<&str, (Resources, usize)> = HashMap::new();
    for (id, f) in &books.frameworks {
        let u = fw_used.remove(id).unwrap_or_default();
        let o = fw_offered.remove(id).unwrap_or_default();
        if u != f.used || o != f.offered {
            return Err(format!(
                "framework {id}: books {} / {} but agents say {u} / {o}",
                f.used, f.offered
            ));
        }
        let r = roles.entry(f.role.as_str()).or_default();
        r.0.add(&u);
        r.0.add(&o);
        r.1 += 1;
    }
    if let Some(f) = fw_offered.keys().next() {
        return Err(format!("offers held by unknown framework {f}"));
    }
    fw_used.retain(|_, u| !u.is_empty());
    for (f, u) in &fw_used {
        if books.unowned.get(*f) != Some(u) {
            return Err(format!("unknown framework {f} uses {u} off the books"));
        }
    }
    if books.unowned.len() != fw_used.len() {
        return Err("unowned books name frameworks that use nothing".into());
    }
    if roles.len() != books.roles.len() {
        return Err(format!(
            "{} roles on the books but frameworks are in {}",
            books.roles.len(),
            roles.len()
        ));
    }
    for (name, (alloc, n)) in roles {
        let r = books
            .roles
            .get(name)
            .ok_or(format!("role {name} missing"))?;
        if r.allocated != alloc || r.frameworks != n {
            return Err(format!(
                "role {name}: books {} ({} frameworks) but frameworks add up to {alloc} ({n})",
                r.allocated, r.frameworks
            ));
        }
    }
    Ok(())
}
