//! Statistics of a Docker task, read from the Docker container's own cgroup
//! (not the executor's), so they carry Mesos's key names and the limits
//! Docker applied, exactly as for command tasks.
//!
//! The cgroup is found from the container's init process
//! (`docker inspect` → `State.Pid` → `/proc/PID/cgroup`): `/docker/<id>` with
//! the cgroupfs driver, `/system.slice/docker-<id>.scope` with systemd. It is
//! remembered, so a `/monitor/statistics` call costs no engine round trip
//! for tasks already seen.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use paddock_isolation::cgroups::{Cgroup, Stats};

use super::engine::{self, container_name};

/// The memory cgroup's path in a `/proc/PID/cgroup` text: the v1 line that
/// names the memory controller, else the v2 (`0::`) line.
pub fn memory_cgroup_path(text: &str) -> Option<String> {
    let mut unified = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        if controllers.split(',').any(|c| c == "memory") {
            return Some(path.to_string());
        }
        if controllers.is_empty() {
            unified = Some(path.to_string());
        }
    }
    unified
}

/// `/docker/<id>` → ("docker", "<id>"): a parent one level below the
/// hierarchy's root and a leaf, as `Cgroup::open` takes them.
pub fn split_cgroup_path(path: &str) -> Option<(String, String)> {
    let trimmed = path.trim_matches('/');
    let (parent, leaf) = trimmed.split_once('/')?;
    if parent.is_empty() || leaf.is_empty() || leaf.contains('/') {
        return None;
    }
    Some((parent.to_string(), leaf.to_string()))
}

/// The cgroup (parent, leaf) of the running container of `container_id`.
pub async fn container_cgroup(
    docker: &bollard::Docker,
    container_id: &str,
) -> Option<(String, String)> {
    let inspect = docker
        .inspect_container(&container_name(container_id), None)
        .await
        .map_err(|e| {
            if !engine::is_not_found(&e) {
                tracing::debug!(
                    container = container_id,
                    "docker inspect: {}",
                    engine::describe(&e)
                );
            }
        })
        .ok()?;
    let pid = inspect.state?.pid.filter(|p| *p > 0)?;
    let text = tokio::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .await
        .ok()?;
    split_cgroup_path(&memory_cgroup_path(&text)?)
}

/// Where each Docker task's cgroup is, by Mesos container id: found once
/// with `docker inspect`, dropped when the cgroup is gone.
static CGROUPS: Mutex<BTreeMap<String, (String, String)>> = Mutex::new(BTreeMap::new());

fn cached(container_id: &str) -> Option<(String, String)> {
    CGROUPS.lock().ok()?.get(container_id).cloned()
}

fn remember(container_id: &str, cgroup: Option<(String, String)>) {
    if let Ok(mut m) = CGROUPS.lock() {
        match cgroup {
            Some(c) => m.insert(container_id.to_string(), c),
            None => m.remove(container_id),
        };
    }
}

fn read_cgroup(cgroup: (String, String)) -> Option<Stats> {
    Cgroup::open(&cgroup.0, &cgroup.1).ok()?.stats().ok()
}

/// The statistics of the Docker task in container `container_id`, if its
/// Docker container is running. `docker` is connected on first need.
pub async fn read(docker: &mut Option<bollard::Docker>, container_id: &str) -> Option<Stats> {
    if let Some(cg) = cached(container_id) {
        let found = tokio::task::spawn_blocking(move || read_cgroup(cg))
            .await
            .ok()
            .flatten();
        if found.is_some() {
            return found;
        }
        remember(container_id, None);
    }
    if docker.is_none() {
        *docker = engine::connect().await.ok();
    }
    let cg = container_cgroup(docker.as_ref()?, container_id).await?;
    remember(container_id, Some(cg.clone()));
    tokio::task::spawn_blocking(move || read_cgroup(cg))
        .await
        .ok()
        .flatten()
}

/// Statistics of every running Docker task of `agent`, by Mesos container
/// id; empty when Docker is not enabled or not reachable.
pub async fn read_all(agent: &crate::state::Agent) -> HashMap<String, Stats> {
    if !super::enabled(&agent.config) {
        return HashMap::new();
    }
    let ids: Vec<String> = {
        let inner = agent.lock();
        inner
            .containers
            .iter()
            .filter(|(_, c)| c.record.tasks.iter().any(super::is_docker_task))
            .map(|(cid, _)| cid.clone())
            .collect()
    };
    let mut docker = None;
    let mut out = HashMap::new();
    for id in ids {
        if let Some(s) = read(&mut docker, &id).await {
            out.insert(id, s);
        }
    }
    // Forget containers that have gone.
    if let (Ok(mut m), inner) = (CGROUPS.lock(), agent.lock()) {
        m.retain(|cid, _| inner.containers.contains_key(cid));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_memory_cgroup_on_v1_and_v2() {
        let v1 =
            "9:name=systemd:/docker/abc\n4:memory:/docker/abc\n1:cpu,cpuacct:/docker/abc\n0::/";
        assert_eq!(memory_cgroup_path(v1).as_deref(), Some("/docker/abc"));
        let v2 = "0::/system.slice/docker-abc.scope\n";
        assert_eq!(
            memory_cgroup_path(v2).as_deref(),
            Some("/system.slice/docker-abc.scope")
        );
        assert_eq!(memory_cgroup_path("garbage"), None);
    }

    #[test]
    fn splits_parent_and_leaf() {
        assert_eq!(
            split_cgroup_path("/docker/abc"),
            Some(("docker".into(), "abc".into()))
        );
        assert_eq!(split_cgroup_path("/a/b/c"), None);
        assert_eq!(split_cgroup_path("/"), None);
        assert_eq!(split_cgroup_path("/docker"), None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_proc_text_never_panics(s in "(?s).{0,200}") {
            if let Some(p) = memory_cgroup_path(&s) {
                let _ = split_cgroup_path(&p);
            }
        }
    }
}
