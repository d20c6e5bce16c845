//! Statistics of a Docker task, read from the Docker container's own cgroup
//! (not the executor's), so they carry Mesos's key names and the limits
//! Docker applied, exactly as for command tasks.
//!
//! The cgroup is found from the container's init process
//! (`docker inspect` → `State.Pid` → `/proc/PID/cgroup`): `/docker/<id>` with
//! the cgroupfs driver, `/system.slice/docker-<id>.scope` with systemd.

use std::collections::HashMap;

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

/// The statistics of the Docker task in container `container_id`, if its
/// Docker container is running.
pub async fn read(docker: &bollard::Docker, container_id: &str) -> Option<Stats> {
    let (parent, leaf) = container_cgroup(docker, container_id).await?;
    tokio::task::spawn_blocking(move || Cgroup::open(&parent, &leaf).ok()?.stats().ok())
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
    if ids.is_empty() {
        return HashMap::new();
    }
    let Ok(docker) = engine::connect().await else {
        return HashMap::new();
    };
    let mut out = HashMap::new();
    for id in ids {
        if let Some(s) = read(&docker, &id).await {
            out.insert(id, s);
        }
    }
    out
}

/// OOM kills recorded in the container's cgroup (while it still exists).
pub fn oom_kills(cgroup: &(String, String)) -> u64 {
    Cgroup::open(&cgroup.0, &cgroup.1)
        .and_then(|c| c.oom_kills())
        .unwrap_or(0)
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
