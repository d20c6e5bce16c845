//! A command task on CNI networks: Mesos's `network/cni` isolator for a
//! MESOS container without an image. The command runs on the host's file
//! system as any command task, but in a network namespace of its own that
//! the named networks' plugins set up (`crate::network::attach`, the same
//! as for an image container), with the networks' `/etc/resolv.conf` and
//! `/etc/hosts` bound over the host's in a mount namespace of init's own.
//! Its addresses go in TASK_RUNNING's `container_status.network_infos`;
//! when it ends, or the launch fails after the attach, DEL runs and the
//! namespace goes.

use paddock_proto::container::ContainerInfo;
use paddock_proto::mesos::TaskInfo;
use tokio::sync::mpsc;

use super::oci::{release_networks, Dirs};
use super::runner::{wait_child, ProcessControl, RunnerEvent};
use super::ExecutorEnv;

/// Starts the task in the background; see the module doc.
pub fn start(
    env: &ExecutorEnv,
    task: &TaskInfo,
    info: &ContainerInfo,
    control: ProcessControl,
    events: mpsc::UnboundedSender<RunnerEvent>,
) {
    let (env, task, info) = (env.clone(), task.clone(), info.clone());
    tokio::spawn(async move {
        match launch(&env, &task, &info, &control).await {
            Ok((pid, dirs, network_infos)) => {
                control.started(pid);
                let _ = events.send(RunnerEvent::Running {
                    message: "Command is running on its container networks".into(),
                    decorate: Some(Box::new(move |st| {
                        st.container_status
                            .get_or_insert_with(Default::default)
                            .network_infos = network_infos;
                    })),
                });
                wait_child(pid, events, Some(Box::new(move || release_networks(&dirs))));
            }
            Err(msg) => {
                let _ = events.send(RunnerEvent::LaunchFailed(msg));
            }
        }
    });
}

type Launched = (u32, Dirs, Vec<paddock_proto::container::NetworkInfo>);

async fn launch(
    env: &ExecutorEnv,
    task: &TaskInfo,
    info: &ContainerInfo,
    control: &ProcessControl,
) -> Result<Launched, String> {
    let dirs = Dirs::for_env(env)?;
    let (e, i, d) = (env.clone(), info.clone(), dirs.clone());
    let attached = tokio::task::spawn_blocking(move || super::oci::attach(&e, &i, &d))
        .await
        .map_err(|e| format!("join the container networks: {e}"))??
        .ok_or("the container names no CNI network")?;
    if control.killed() {
        release_networks(&dirs);
        return Err("killed before it started".into());
    }
    let binds = super::oci::name_files(&dirs, env)
        .into_iter()
        .map(|b| (b.source, b.destination.into()))
        .collect();
    match super::task::spawn_in(env, task, Some(attached.netns), binds) {
        Ok(pid) => Ok((pid, dirs, attached.network_infos)),
        Err(e) => {
            release_networks(&dirs);
            Err(e)
        }
    }
}
