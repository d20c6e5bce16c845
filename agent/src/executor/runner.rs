//! The dispatch point: which containerizer starts a task, and the one shape
//! in which every containerizer reports back to the executor.
//!
//! - no `container` → [`Containerizer::Command`]: `paddock init -- sh -c CMD`
//!   on the host's file system (`task.rs`);
//! - `container: {type: MESOS, network_infos: [{name}]}` without an image →
//!   [`Containerizer::CommandOnNetworks`]: the same command, in a network
//!   namespace on those CNI networks (`networked.rs`);
//! - `container: {type: MESOS, mesos: {image}}` → [`Containerizer::Oci`]:
//!   the image's rootfs from the store, run by libcontainer (`oci/`);
//! - `container: {type: DOCKER, docker: {image}}` → [`Containerizer::Docker`]:
//!   a Docker container through bollard (`docker.rs`).
//!
//! [`start`] returns a [`TaskControl`] at once; what happens next arrives as
//! [`RunnerEvent`]s: exactly one `Running` or `LaunchFailed`, and after
//! `Running`, exactly one `Exited`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use paddock_proto::container::{ContainerInfo, ContainerType};
use paddock_proto::mesos::{TaskInfo, TaskStatus};
use tokio::sync::mpsc;

use super::ExecutorEnv;

/// How a task is run.
#[derive(Debug, Clone, PartialEq)]
pub enum Containerizer {
    /// A command on the host's file system.
    Command,
    /// A command on the host's file system, on the CNI networks its
    /// container names.
    CommandOnNetworks(ContainerInfo),
    /// An image through the native OCI containerizer.
    Oci(ContainerInfo),
    /// An image through the Docker engine.
    Docker(ContainerInfo),
}

impl Containerizer {
    /// Picks the containerizer from the task's `container`. A MESOS
    /// container without an image runs as a command, as in Mesos.
    pub fn for_task(task: &TaskInfo) -> Result<Containerizer, String> {
        match ContainerInfo::from_task(task)? {
            None => Ok(Containerizer::Command),
            Some(c) if c.kind == ContainerType::Docker => Ok(Containerizer::Docker(c)),
            Some(c) if c.image().is_some() => Ok(Containerizer::Oci(c)),
            Some(c) if !crate::network::requested(&c).is_empty() => {
                Ok(Containerizer::CommandOnNetworks(c))
            }
            Some(_) => Ok(Containerizer::Command),
        }
    }
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskExit {
    /// The exit status, or 128 + the signal that killed it.
    pub code: i32,
    /// The containerizer saw an OOM kill (the executor also checks the cgroup).
    pub oom_killed: bool,
    /// A message for the terminal update, when the containerizer has a better one.
    pub message: Option<String>,
}

/// Adds containerizer data (labels, `data`) to the TASK_RUNNING status.
pub type Decorate = Box<dyn FnOnce(&mut TaskStatus) + Send>;

/// What a containerizer tells the executor.
pub enum RunnerEvent {
    Running {
        message: String,
        decorate: Option<Decorate>,
    },
    /// Nothing runs: TASK_FAILED with REASON_CONTAINER_LAUNCH_FAILED.
    LaunchFailed(String),
    Exited(TaskExit),
}

impl std::fmt::Debug for RunnerEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunnerEvent::Running { message, .. } => write!(f, "Running({message})"),
            RunnerEvent::LaunchFailed(m) => write!(f, "LaunchFailed({m})"),
            RunnerEvent::Exited(e) => write!(f, "Exited({e:?})"),
        }
    }
}

/// Stops a task, whatever runs it.
pub trait TaskControl: Send {
    /// The graceful stop (SIGTERM). The executor calls [`kill`](Self::kill)
    /// when `grace` is over.
    fn terminate(&mut self, grace: Duration);
    /// Stops it now (SIGKILL). Before the task has started, the launch is
    /// abandoned.
    fn kill(&mut self);
}

/// Starts `task` with `which`.
pub fn start(
    which: Containerizer,
    env: &ExecutorEnv,
    task: &TaskInfo,
    events: mpsc::UnboundedSender<RunnerEvent>,
) -> Box<dyn TaskControl> {
    match which {
        Containerizer::Command => {
            let control = ProcessControl::default();
            match super::task::spawn(env, task) {
                Ok(pid) => {
                    control.started(pid);
                    let _ = events.send(RunnerEvent::Running {
                        message: "Command is running".into(),
                        decorate: None,
                    });
                    wait_child(pid, events, None);
                }
                Err(e) => {
                    let _ = events.send(RunnerEvent::LaunchFailed(e));
                }
            }
            Box::new(control)
        }
        Containerizer::CommandOnNetworks(info) => {
            let control = ProcessControl::default();
            super::networked::start(env, task, &info, control.clone(), events);
            Box::new(control)
        }
        Containerizer::Oci(info) => {
            let control = ProcessControl::default();
            super::oci::start(env, task, &info, control.clone(), events);
            Box::new(control)
        }
        Containerizer::Docker(_) => {
            super::zygote::discard();
            start_docker(env, task, events)
        }
    }
}

/// The Docker arm (`docker.rs` is the Docker containerizer's).
fn start_docker(
    env: &ExecutorEnv,
    task: &TaskInfo,
    events: mpsc::UnboundedSender<RunnerEvent>,
) -> Box<dyn TaskControl> {
    use super::docker::{decorate_running, launch, DockerEvent};
    let handle = launch(env, task, move |ev| {
        let ev = match ev {
            DockerEvent::Running { docker_id, inspect } => RunnerEvent::Running {
                message: format!("Docker container {docker_id} is running"),
                decorate: Some(Box::new(move |st: &mut TaskStatus| {
                    decorate_running(st, &docker_id, &inspect)
                })),
            },
            DockerEvent::LaunchFailed(m) => RunnerEvent::LaunchFailed(m),
            DockerEvent::Exited(exit) => RunnerEvent::Exited(TaskExit {
                code: i32::try_from(exit.code).unwrap_or(-1),
                oom_killed: exit.oom_killed,
                message: Some(exit.message()),
            }),
        };
        let _ = events.send(ev);
    });
    struct Docker(super::docker::DockerTask);
    impl TaskControl for Docker {
        fn terminate(&mut self, grace: Duration) {
            self.0.stop(grace);
        }
        fn kill(&mut self) {
            self.0.kill();
        }
    }
    Box::new(Docker(handle))
}

#[derive(Debug, Default)]
struct ProcessState {
    pid: Option<i32>,
    killed: bool,
}

/// Signals a process that may not have started yet: a kill before the
/// start is remembered, and the start then abandons the launch.
#[derive(Debug, Clone, Default)]
pub struct ProcessControl {
    state: Arc<Mutex<ProcessState>>,
}

impl ProcessControl {
    fn lock(&self) -> std::sync::MutexGuard<'_, ProcessState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the started child; SIGKILLs it at once if a kill came first.
    pub fn started(&self, pid: u32) {
        let mut st = self.lock();
        st.pid = Some(pid as i32);
        if st.killed {
            if let Some(pid) = st.pid {
                signal(pid, Signal::SIGKILL);
            }
        }
    }

    /// True once a kill was asked for.
    pub fn killed(&self) -> bool {
        self.lock().killed
    }

    /// The process has exited: nothing more to signal.
    pub fn exited(&self) {
        self.lock().pid = None;
    }
}

impl TaskControl for ProcessControl {
    fn terminate(&mut self, _grace: Duration) {
        let mut st = self.lock();
        match st.pid {
            Some(pid) => signal(pid, Signal::SIGTERM),
            None => st.killed = true,
        }
    }

    fn kill(&mut self) {
        let mut st = self.lock();
        st.killed = true;
        if let Some(pid) = st.pid {
            // init is PID 1 of its namespace: its death takes every task
            // process with it.
            signal(pid, Signal::SIGKILL);
        }
    }
}

fn signal(pid: i32, sig: Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
}

/// Waits for init (`pid`, our child) and reports its exit; `after` runs
/// first (the OCI path's cleanup).
pub fn wait_child(
    pid: u32,
    events: mpsc::UnboundedSender<RunnerEvent>,
    after: Option<Box<dyn FnOnce() + Send>>,
) {
    tokio::spawn(async move {
        let code = crate::containers::wait_exit(pid).await.unwrap_or_else(|| {
            tracing::warn!(pid, "cannot learn how the task's init exited");
            -1
        });
        if let Some(f) = after {
            // Inline: no thread can be started any more (see above).
            f();
        }
        let _ = events.send(RunnerEvent::Exited(TaskExit {
            code,
            oom_killed: false,
            message: None,
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_container(v: serde_json::Value) -> TaskInfo {
        TaskInfo {
            container: Some(v),
            ..Default::default()
        }
    }

    #[test]
    fn the_container_picks_the_containerizer() {
        assert_eq!(
            Containerizer::for_task(&TaskInfo::default()).unwrap(),
            Containerizer::Command
        );
        let mesos = with_container(serde_json::json!({
            "type": "MESOS",
            "mesos": {"image": {"type": "DOCKER", "docker": {"name": "busybox"}}}
        }));
        assert!(matches!(
            Containerizer::for_task(&mesos).unwrap(),
            Containerizer::Oci(c) if c.image() == Some("busybox")
        ));
        let docker = with_container(serde_json::json!({
            "type": "DOCKER", "docker": {"image": "busybox"}
        }));
        assert!(matches!(
            Containerizer::for_task(&docker).unwrap(),
            Containerizer::Docker(_)
        ));
        let bare = with_container(serde_json::json!({"type": "MESOS"}));
        assert_eq!(
            Containerizer::for_task(&bare).unwrap(),
            Containerizer::Command
        );
        let networked = with_container(serde_json::json!({
            "type": "MESOS", "network_infos": [{"name": "h2net"}]
        }));
        assert!(matches!(
            Containerizer::for_task(&networked).unwrap(),
            Containerizer::CommandOnNetworks(_)
        ));
        // An unnamed entry is no CNI network: the host's, as before.
        let unnamed = with_container(serde_json::json!({
            "type": "MESOS", "network_infos": [{}]
        }));
        assert_eq!(
            Containerizer::for_task(&unnamed).unwrap(),
            Containerizer::Command
        );
        let bad = with_container(serde_json::json!({"type": "RKT"}));
        assert!(Containerizer::for_task(&bad).is_err());
    }

    #[test]
    fn a_kill_before_the_start_is_remembered() {
        let mut c = ProcessControl::default();
        c.terminate(Duration::from_secs(1));
        assert!(c.killed());
        let c2 = ProcessControl::default();
        assert!(!c2.killed());
    }
}
