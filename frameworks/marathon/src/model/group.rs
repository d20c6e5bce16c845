//! The group tree rooted at `/`: apps and sub-groups by id, with the tree operations the API
//! and the deployment planner need, version stamping, dependency checks and service-port
//! assignment.

use super::{AppDefinition, PathId, Timestamp, SERVICE_PORT_MAX, SERVICE_PORT_MIN};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A group: apps and sub-groups keyed by their absolute ids.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Group {
    pub id: PathId,
    pub apps: BTreeMap<PathId, AppDefinition>,
    pub groups: BTreeMap<PathId, Group>,
    pub dependencies: Vec<PathId>,
    pub version: Timestamp,
    /// Marathon ≥1.9; written only when set (0.13.0 clients reject the key).
    pub enforce_role: bool,
}

/// Service ports ran out while assigning them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("all service ports in [{SERVICE_PORT_MIN}, {SERVICE_PORT_MAX}] are in use")]
pub struct PortsExhausted;

impl Group {
    /// An empty group with this id.
    pub fn empty(id: PathId, version: Timestamp) -> Group {
        Group {
            id,
            version,
            ..Default::default()
        }
    }

    /// The empty root group.
    pub fn empty_root(version: Timestamp) -> Group {
        Group::empty(PathId::root(), version)
    }

    /// The group with this id, if it exists (`/` is `self` for the root).
    pub fn group(&self, id: &PathId) -> Option<&Group> {
        if !id.starts_with(&self.id) {
            return None;
        }
        let mut g = self;
        for level in self.id.segments().len()..id.segments().len() {
            g = g.child_at(level, &id.segments()[level])?;
        }
        Some(g)
    }

    /// The direct sub-group whose segment at `level` is `name` (no allocation).
    fn child_at(&self, level: usize, name: &str) -> Option<&Group> {
        self.groups
            .values()
            .find(|c| c.id.segments().get(level).is_some_and(|s| s == name))
    }

    fn child_at_mut(&mut self, level: usize, name: &str) -> Option<&mut Group> {
        self.groups
            .values_mut()
            .find(|c| c.id.segments().get(level).is_some_and(|s| s == name))
    }

    fn group_mut_or_create(&mut self, id: &PathId, version: Timestamp) -> &mut Group {
        let mut g = self;
        for i in g.id.segments().len()..id.segments().len() {
            let next = PathId::root().child_path(&id.segments()[..=i]);
            g = g
                .groups
                .entry(next.clone())
                .or_insert_with(|| Group::empty(next, version));
        }
        g
    }

    /// The app with this id anywhere below this group.
    pub fn app(&self, id: &PathId) -> Option<&AppDefinition> {
        self.group(&id.parent())?.apps.get(id)
    }

    /// Inserts or replaces an app, creating the groups on its path (stamped with `version`).
    pub fn put_app(&mut self, app: AppDefinition, version: Timestamp) {
        let parent = app.id.parent();
        let g = self.group_mut_or_create(&parent, version);
        g.apps.insert(app.id.clone(), app);
    }

    /// Removes an app; returns it if it existed.
    pub fn remove_app(&mut self, id: &PathId) -> Option<AppDefinition> {
        self.group_mut(&id.parent())?.apps.remove(id)
    }

    /// The group with this id, mutable.
    pub fn group_mut(&mut self, id: &PathId) -> Option<&mut Group> {
        if !id.starts_with(&self.id) {
            return None;
        }
        let mut g = self;
        for level in g.id.segments().len()..id.segments().len() {
            g = g.child_at_mut(level, &id.segments()[level])?;
        }
        Some(g)
    }

    /// Replaces (or creates) the sub-tree at `group.id`.
    pub fn put_group(&mut self, group: Group, version: Timestamp) {
        if group.id == self.id {
            *self = group;
            return;
        }
        let parent = group.id.parent();
        let g = self.group_mut_or_create(&parent, version);
        g.groups.insert(group.id.clone(), group);
    }

    /// Removes a sub-group (the root cannot be removed; removing `/` empties it instead).
    pub fn remove_group(&mut self, id: &PathId) -> Option<Group> {
        if id.is_root() {
            let old = std::mem::replace(self, Group::empty(self.id.clone(), self.version));
            return Some(old);
        }
        self.group_mut(&id.parent())?.groups.remove(id)
    }

    /// Every app in this group and below, in id order per group.
    pub fn transitive_apps(&self) -> Vec<&AppDefinition> {
        let mut out = Vec::new();
        self.collect_apps(&mut out);
        out
    }

    fn collect_apps<'a>(&'a self, out: &mut Vec<&'a AppDefinition>) {
        out.extend(self.apps.values());
        for g in self.groups.values() {
            g.collect_apps(out);
        }
    }

    /// Mutable visit of every app in the tree.
    pub fn for_each_app_mut(&mut self, f: &mut dyn FnMut(&mut AppDefinition)) {
        for a in self.apps.values_mut() {
            f(a);
        }
        for g in self.groups.values_mut() {
            g.for_each_app_mut(f);
        }
    }

    /// Every group in this tree (this one first).
    pub fn transitive_groups(&self) -> Vec<&Group> {
        let mut out = vec![self];
        for g in self.groups.values() {
            out.extend(g.transitive_groups());
        }
        out
    }

    /// Number of apps below this group.
    pub fn app_count(&self) -> usize {
        self.apps.len() + self.groups.values().map(Group::app_count).sum::<usize>()
    }

    /// Stamps versions as Marathon does when `self` replaces `previous`: each app keeps its
    /// version if unchanged, else gets `now` (see [`AppDefinition::stamp_version`]); a group
    /// whose content changed gets `now`.
    pub fn stamp_versions(&mut self, previous: &Group, now: Timestamp) {
        self.for_each_app_mut(&mut |app| {
            let prev = previous.app(&app.id);
            app.stamp_version(prev, now);
        });
        self.stamp_group_versions(previous, now);
    }

    fn stamp_group_versions(&mut self, previous: &Group, now: Timestamp) -> bool {
        let mut changed = false;
        let ids: Vec<PathId> = self.groups.keys().cloned().collect();
        for id in ids {
            if let Some(g) = self.groups.get_mut(&id) {
                changed |= g.stamp_group_versions(previous, now);
            }
        }
        match previous.group(&self.id) {
            Some(p) => {
                // After stamping, an app keeps its previous version iff it did not change.
                changed |= p.apps.len() != self.apps.len()
                    || p.apps
                        .iter()
                        .zip(self.apps.iter())
                        .any(|((ka, a), (kb, b))| {
                            ka != kb || a.version != b.version || a.version_info != b.version_info
                        })
                    || p.dependencies != self.dependencies
                    || p.enforce_role != self.enforce_role
                    || p.groups.keys().ne(self.groups.keys());
                self.version = if changed { now } else { p.version };
            }
            None => {
                changed = true;
                self.version = now;
            }
        }
        changed
    }

    /// Assigns service ports to port definitions (and container port mappings) declared as 0,
    /// unique across the tree, from Marathon's default range 10000–20000. An app that already
    /// had a port at that index in `previous` keeps it if it is still free.
    pub fn assign_service_ports(&mut self, previous: &Group) -> Result<(), PortsExhausted> {
        let mut used: BTreeSet<u32> = BTreeSet::new();
        for app in self.transitive_apps() {
            used.extend(app.service_ports().into_iter().filter(|p| *p != 0));
        }
        let mut next = SERVICE_PORT_MIN;
        let mut failed = false;
        self.for_each_app_mut(&mut |app| {
            let old: Vec<u32> = previous
                .app(&app.id)
                .map(|p| p.service_ports())
                .unwrap_or_default();
            let host = app.host_networking();
            let mut slots: Vec<&mut i64> = if host {
                app.port_definitions
                    .iter_mut()
                    .flatten()
                    .map(|d| &mut d.port)
                    .collect()
            } else {
                app.container
                    .iter_mut()
                    .flat_map(|c| c.port_mappings.iter_mut().flatten())
                    .map(|m| &mut m.service_port)
                    .collect()
            };
            for (i, slot) in slots.iter_mut().enumerate() {
                if **slot != 0 {
                    continue;
                }
                if let Some(&p) = old.get(i).filter(|p| **p != 0 && !used.contains(p)) {
                    used.insert(p);
                    **slot = i64::from(p);
                    continue;
                }
                while next <= SERVICE_PORT_MAX && used.contains(&next) {
                    next += 1;
                }
                if next > SERVICE_PORT_MAX {
                    failed = true;
                    return;
                }
                used.insert(next);
                **slot = i64::from(next);
            }
        });
        if failed {
            Err(PortsExhausted)
        } else {
            Ok(())
        }
    }

    /// Ids of apps (and groups) that take part in a dependency cycle, if any.
    pub fn dependency_cycle(&self) -> Option<Vec<PathId>> {
        let any = self
            .transitive_apps()
            .iter()
            .any(|a| !a.dependencies.is_empty())
            || self
                .transitive_groups()
                .iter()
                .any(|g| !g.dependencies.is_empty());
        if !any {
            return None;
        }
        let mut edges: BTreeMap<PathId, Vec<PathId>> = BTreeMap::new();
        for app in self.transitive_apps() {
            edges
                .entry(app.id.clone())
                .or_default()
                .extend(app.dependencies.iter().cloned());
        }
        for g in self.transitive_groups() {
            edges
                .entry(g.id.clone())
                .or_default()
                .extend(g.dependencies.iter().cloned());
        }
        // Iterative DFS with colours: 1 = on stack, 2 = done.
        let mut colour: BTreeMap<PathId, u8> = BTreeMap::new();
        for start in edges.keys() {
            if colour.contains_key(start) {
                continue;
            }
            let mut stack: Vec<(PathId, usize)> = vec![(start.clone(), 0)];
            colour.insert(start.clone(), 1);
            while let Some((node, idx)) = stack.pop() {
                let next = edges.get(&node).and_then(|e| e.get(idx)).cloned();
                match next {
                    Some(n) => {
                        stack.push((node, idx + 1));
                        match colour.get(&n) {
                            Some(1) => {
                                let mut cycle: Vec<PathId> =
                                    stack.iter().map(|(p, _)| p.clone()).collect();
                                if let Some(pos) = cycle.iter().position(|p| *p == n) {
                                    cycle.drain(..pos);
                                }
                                return Some(cycle);
                            }
                            Some(_) => {}
                            None => {
                                colour.insert(n.clone(), 1);
                                stack.push((n, 0));
                            }
                        }
                    }
                    None => {
                        colour.insert(node, 2);
                    }
                }
            }
        }
        None
    }

    /// Multiplies `instances` of every app below this group by `factor` (rounded up, as Marathon).
    pub fn scale_by(&mut self, factor: f64) {
        self.for_each_app_mut(&mut |app| {
            app.instances = ((app.instances as f64) * factor).ceil().max(0.0) as i64;
        });
    }
}

impl PathId {
    fn child_path(&self, segments: &[String]) -> PathId {
        let mut p = self.clone();
        for s in segments {
            p = p.child(s);
        }
        p
    }
}

/// The JSON form of a group, Marathon's GroupInfo: `{id, apps, groups, pods, dependencies, version}`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GroupWire {
    id: PathId,
    #[serde(default)]
    apps: Vec<AppDefinition>,
    #[serde(default)]
    groups: Vec<GroupWire>,
    #[serde(default)]
    pods: Vec<serde_json::Value>,
    #[serde(default)]
    dependencies: Vec<PathId>,
    #[serde(default)]
    version: Timestamp,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    enforce_role: bool,
}

impl From<GroupWire> for Group {
    fn from(w: GroupWire) -> Group {
        Group {
            apps: w.apps.into_iter().map(|a| (a.id.clone(), a)).collect(),
            groups: w
                .groups
                .into_iter()
                .map(|g| (g.id.clone(), Group::from(g)))
                .collect(),
            id: w.id,
            dependencies: w.dependencies,
            version: w.version,
            enforce_role: w.enforce_role,
        }
    }
}

impl Serialize for Group {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        GroupView {
            group: self,
            apps: true,
            groups: true,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Group {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        GroupWire::deserialize(d).map(Group::from)
    }
}

/// A borrowed view of a group that can leave out apps or sub-groups (the `embed` options).
pub struct GroupView<'a> {
    pub group: &'a Group,
    pub apps: bool,
    pub groups: bool,
}

impl Serialize for GroupView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let g = self.group;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &g.id)?;
        let apps: Vec<&AppDefinition> = if self.apps {
            g.apps.values().collect()
        } else {
            Vec::new()
        };
        m.serialize_entry("apps", &apps)?;
        let groups: Vec<GroupView<'_>> = if self.groups {
            g.groups
                .values()
                .map(|c| GroupView {
                    group: c,
                    apps: self.apps,
                    groups: true,
                })
                .collect()
        } else {
            Vec::new()
        };
        m.serialize_entry("groups", &groups)?;
        m.serialize_entry("pods", &[] as &[serde_json::Value])?;
        m.serialize_entry("dependencies", &g.dependencies)?;
        m.serialize_entry("version", &g.version)?;
        if g.enforce_role {
            m.serialize_entry("enforceRole", &true)?;
        }
        m.end()
    }
}
