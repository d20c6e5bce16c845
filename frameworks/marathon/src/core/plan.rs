//! Deployment plans: the diff of the apps before and after a change of the
//! root group, as Marathon's `DeploymentPlan.apply` orders it. Removed apps
//! are stopped first, new apps are started (with 0 instances), then, one
//! step per dependency level (apps without dependencies first), new and
//! scaled apps get a ScaleApplication and changed apps a RestartApplication.
//! Empty steps are dropped.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::core::spec::RunSpec;
use crate::core::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionKind {
    StartApplication,
    StopApplication,
    ScaleApplication,
    RestartApplication,
}

impl ActionKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ActionKind::StartApplication => "StartApplication",
            ActionKind::StopApplication => "StopApplication",
            ActionKind::ScaleApplication => "ScaleApplication",
            ActionKind::RestartApplication => "RestartApplication",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub kind: ActionKind,
    pub app: String,
    /// Instances named for the kill when scaling down (`DELETE …/tasks?scale=true`).
    #[serde(default)]
    pub sentenced: Vec<String>,
}

impl Action {
    pub fn new(kind: ActionKind, app: impl Into<String>) -> Action {
        Action {
            kind,
            app: app.into(),
            sentenced: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub actions: Vec<Action>,
}

/// A plan from `original` to `target` (all apps, keyed by id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentPlan {
    pub id: String,
    pub version: Timestamp,
    pub original: BTreeMap<String, RunSpec>,
    pub target: BTreeMap<String, RunSpec>,
    pub steps: Vec<Step>,
}

impl DeploymentPlan {
    /// Apps any step touches.
    pub fn affected_apps(&self) -> BTreeSet<String> {
        self.steps
            .iter()
            .flat_map(|s| s.actions.iter().map(|a| a.app.clone()))
            .collect()
    }

    /// Whether any step touches `app` (without collecting the set).
    pub fn affects(&self, app: &str) -> bool {
        self.steps
            .iter()
            .any(|s| s.actions.iter().any(|a| a.app == app))
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// The longest dependency path below each app (0 = no dependencies among
/// `apps`). Cycles are cut (validation rejects them before this).
fn levels(apps: &BTreeMap<String, RunSpec>) -> BTreeMap<String, usize> {
    fn depth(
        id: &str,
        apps: &BTreeMap<String, RunSpec>,
        memo: &mut BTreeMap<String, usize>,
        visiting: &mut BTreeSet<String>,
    ) -> usize {
        if let Some(d) = memo.get(id) {
            return *d;
        }
        if !visiting.insert(id.to_string()) {
            return 0;
        }
        let mut d = 0;
        if let Some(spec) = apps.get(id) {
            for dep in &spec.dependencies {
                for target in expand_dependency(dep, apps) {
                    if target != id {
                        d = d.max(1 + depth(&target, apps, memo, visiting));
                    }
                }
            }
        }
        visiting.remove(id);
        memo.insert(id.to_string(), d);
        d
    }
    let mut memo = BTreeMap::new();
    let mut visiting = BTreeSet::new();
    for id in apps.keys() {
        depth(id, apps, &mut memo, &mut visiting);
    }
    memo
}

/// A dependency names an app, or a group: then every app under it.
fn expand_dependency(dep: &str, apps: &BTreeMap<String, RunSpec>) -> Vec<String> {
    if apps.contains_key(dep) {
        return vec![dep.to_string()];
    }
    let prefix = format!("{}/", dep.trim_end_matches('/'));
    apps.keys()
        .filter(|k| k.starts_with(&prefix))
        .cloned()
        .collect()
}

/// Builds the plan from `original` to `target`.
pub fn diff(
    id: String,
    version: Timestamp,
    original: &BTreeMap<String, RunSpec>,
    target: &BTreeMap<String, RunSpec>,
) -> DeploymentPlan {
    let mut steps = Vec::new();
    let stops: Vec<Action> = original
        .keys()
        .filter(|k| !target.contains_key(*k))
        .map(|k| Action::new(ActionKind::StopApplication, k.clone()))
        .collect();
    steps.push(Step { actions: stops });
    let starts: Vec<Action> = target
        .keys()
        .filter(|k| !original.contains_key(*k))
        .map(|k| Action::new(ActionKind::StartApplication, k.clone()))
        .collect();
    steps.push(Step { actions: starts });
    let lv = levels(target);
    let max_level = lv.values().copied().max().unwrap_or(0);
    for level in 0..=max_level {
        let mut actions = Vec::new();
        for (app, spec) in target.iter().filter(|(k, _)| lv.get(*k) == Some(&level)) {
            match original.get(app) {
                None => {
                    if spec.instances > 0 {
                        actions.push(Action::new(ActionKind::ScaleApplication, app.clone()));
                    }
                }
                Some(old) if old.needs_restart(spec) => {
                    actions.push(Action::new(ActionKind::RestartApplication, app.clone()));
                }
                Some(old) if old.instances != spec.instances => {
                    actions.push(Action::new(ActionKind::ScaleApplication, app.clone()));
                }
                Some(_) => {}
            }
        }
        steps.push(Step { actions });
    }
    steps.retain(|s| !s.actions.is_empty());
    DeploymentPlan {
        id,
        version,
        original: original.clone(),
        target: target.clone(),
        steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(id: &str, instances: u32, deps: &[&str]) -> RunSpec {
        let mut s = RunSpec::new(id, "v1");
        s.instances = instances;
        s.cmd = Some("sleep 1000".into());
        s.dependencies = deps.iter().map(|d| d.to_string()).collect();
        s
    }

    fn map(apps: Vec<RunSpec>) -> BTreeMap<String, RunSpec> {
        apps.into_iter().map(|a| (a.id.clone(), a)).collect()
    }

    fn shape(p: &DeploymentPlan) -> Vec<Vec<String>> {
        p.steps
            .iter()
            .map(|s| {
                s.actions
                    .iter()
                    .map(|a| format!("{} {}", a.kind.as_str(), a.app))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn new_apps_start_then_scale_in_dependency_order() {
        let target = map(vec![
            app("/db", 1, &[]),
            app("/api", 2, &["/db"]),
            app("/web", 3, &["/api"]),
            app("/cache", 1, &[]),
        ]);
        let p = diff("d1".into(), Timestamp::ZERO, &BTreeMap::new(), &target);
        assert_eq!(
            shape(&p),
            vec![
                vec![
                    "StartApplication /api",
                    "StartApplication /cache",
                    "StartApplication /db",
                    "StartApplication /web"
                ],
                vec!["ScaleApplication /cache", "ScaleApplication /db"],
                vec!["ScaleApplication /api"],
                vec!["ScaleApplication /web"],
            ]
        );
        assert_eq!(p.affected_apps().len(), 4);
    }

    #[test]
    fn scale_restart_stop_and_unchanged() {
        let original = map(vec![
            app("/a", 1, &[]),
            app("/b", 1, &[]),
            app("/c", 1, &[]),
            app("/d", 1, &[]),
        ]);
        let mut b = app("/b", 1, &[]);
        b.cmd = Some("sleep 2000".into());
        b.version = "v2".into();
        let mut c = app("/c", 5, &[]);
        c.version = "v2".into();
        let target = map(vec![app("/a", 1, &[]), b, c]);
        let p = diff("d2".into(), Timestamp::ZERO, &original, &target);
        assert_eq!(
            shape(&p),
            vec![
                vec!["StopApplication /d"],
                vec!["RestartApplication /b", "ScaleApplication /c"],
            ]
        );
        assert!(!p.affected_apps().contains("/a"));
    }

    #[test]
    fn a_new_app_with_zero_instances_only_starts() {
        let p = diff(
            "d".into(),
            Timestamp::ZERO,
            &BTreeMap::new(),
            &map(vec![app("/z", 0, &[])]),
        );
        assert_eq!(shape(&p), vec![vec!["StartApplication /z"]]);
        let same = map(vec![app("/z", 0, &[])]);
        assert!(diff("d".into(), Timestamp::ZERO, &same, &same).is_empty());
    }

    #[test]
    fn group_dependencies_and_cycles() {
        let target = map(vec![
            app("/back/db", 1, &[]),
            app("/back/queue", 1, &[]),
            app("/front", 1, &["/back"]),
            app("/x", 1, &["/y"]),
            app("/y", 1, &["/x"]),
        ]);
        let lv = levels(&target);
        assert_eq!(lv["/front"], 1);
        assert_eq!(lv["/back/db"], 0);
        assert!(lv["/x"] <= 2 && lv["/y"] <= 2, "a cycle is cut, not a hang");
    }
}
