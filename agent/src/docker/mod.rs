//! The Docker containerizer (`--containerizers mesos,docker`), through
//! bollard.
//!
//! A task with `container: {type: "DOCKER", docker: {…}}` runs under the
//! ordinary `paddock executor`, which creates, starts, follows and stops the
//! Docker container (`crate::executor::docker`). This module holds what the
//! agent and the executor share:
//!
//! - `spec`: the pure translation of a TaskInfo into Docker's create body
//!   (resources → limits, network, port mappings, `parameters`, environment,
//!   the sandbox mount, the command as Mesos overrides the image's);
//! - `engine`: connecting to the engine (`DOCKER_HOST` or the local socket)
//!   and the names and labels every container of ours carries;
//! - `supervise`: the agent-side watch: ping the engine, refuse DOCKER tasks
//!   when it is off or unreachable, and reap labelled containers whose
//!   executor is gone (after an agent restart or an executor crash);
//! - `stats`: the per-task statistics, read from the Docker container's own
//!   cgroup with Mesos's key names.

pub mod engine;
pub mod spec;
pub mod stats;
mod supervise;

use paddock_proto::container::{ContainerInfo, ContainerType};
use paddock_proto::mesos::TaskInfo;

pub use engine::{container_name, Availability};
pub use supervise::{availability, supervise};

use crate::AgentConfig;

/// The name `--containerizers` uses for this containerizer.
pub const CONTAINERIZER: &str = "docker";

/// True when the agent was started with `docker` among its containerizers.
pub fn enabled(config: &AgentConfig) -> bool {
    config
        .containerizers
        .iter()
        .any(|c| c.trim().eq_ignore_ascii_case(CONTAINERIZER))
}

/// True when the task asks for the Docker containerizer.
pub fn is_docker_task(task: &TaskInfo) -> bool {
    matches!(
        ContainerInfo::from_task(task),
        Ok(Some(ContainerInfo {
            kind: ContainerType::Docker,
            ..
        }))
    )
}

/// Whether this agent can take `task`. Only DOCKER tasks are checked:
/// `Err` is the message of the TASK_FAILED (REASON_CONTAINER_LAUNCH_FAILED)
/// the agent sends instead of launching.
pub fn admit(config: &AgentConfig, task: &TaskInfo) -> Result<(), String> {
    if !is_docker_task(task) {
        return Ok(());
    }
    if !enabled(config) {
        return Err("the Docker containerizer is not enabled on this agent \
             (start the agent with --containerizers mesos,docker)"
            .into());
    }
    if task.executor.is_some() {
        return Err(
            "DOCKER containers are supported for command tasks only, not with a custom executor"
                .into(),
        );
    }
    match availability(config) {
        Availability::Unreachable(why) => Err(why),
        Availability::Reachable | Availability::Unknown => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(containerizers: &[&str]) -> AgentConfig {
        AgentConfig {
            master: "m:5050".into(),
            bind: std::net::IpAddr::from([127, 0, 0, 1]),
            port: 0,
            hostname: "h".into(),
            advertise_ip: "127.0.0.1".into(),
            work_dir: std::path::PathBuf::from("/nonexistent/paddock-docker-admit"),
            resources: None,
            attributes: Vec::new(),
            executor_binary: "paddock".into(),
            cgroup_root: "paddock".into(),
            executor_reregister_timeout: std::time::Duration::from_secs(1),
            containerizers: containerizers.iter().map(|s| s.to_string()).collect(),
            disk_watch_interval: std::time::Duration::from_secs(15),
            enforce_disk_quota: true,
            registries: Default::default(),
            cni: Default::default(),
        }
    }

    fn docker_task() -> TaskInfo {
        TaskInfo {
            container: Some(serde_json::json!({"type": "DOCKER", "docker": {"image": "bb"}})),
            ..Default::default()
        }
    }

    #[test]
    fn docker_tasks_need_the_containerizer() {
        let err = admit(&config(&["mesos"]), &docker_task()).unwrap_err();
        assert!(err.contains("not enabled on this agent"), "{err}");
        assert!(admit(&config(&["mesos"]), &TaskInfo::default()).is_ok());
        // Not yet probed: the executor reports what it finds.
        assert!(admit(&config(&["mesos", " Docker"]), &docker_task()).is_ok());
    }

    #[test]
    fn an_unreachable_engine_refuses_docker_tasks_only() {
        let mut c = config(&["mesos", "docker"]);
        c.work_dir = std::path::PathBuf::from("/nonexistent/paddock-docker-unreachable");
        supervise::set_availability(
            &c,
            Availability::Unreachable("Docker is not reachable at unix:///x.sock".into()),
        );
        let err = admit(&c, &docker_task()).unwrap_err();
        assert!(err.contains("unix:///x.sock"), "{err}");
        assert!(admit(&c, &TaskInfo::default()).is_ok());
        supervise::set_availability(&c, Availability::Reachable);
        assert!(admit(&c, &docker_task()).is_ok());
    }

    #[test]
    fn custom_executors_are_refused() {
        let mut t = docker_task();
        t.executor = Some(Default::default());
        let err = admit(&config(&["docker"]), &t).unwrap_err();
        assert!(err.contains("custom executor"), "{err}");
    }
}
