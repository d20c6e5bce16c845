//! The native OCI containerizer: a task with `container: {type: "MESOS",
//! mesos: {image: {type: "DOCKER", docker: {name}}}}` runs in the image's
//! rootfs, through libcontainer.
//!
//! 1. The image comes from the agent's store (`store`): pulled on first use,
//!    cached after, pulled again with `cached: false`.
//! 2. Its rootfs is prepared under `<work_dir>/oci/<container>/rootfs`: an
//!    overlay (the store's layers as lower dirs, a private upper dir) where
//!    the kernel allows it, a copy otherwise. The overlay is mounted in the
//!    executor's own mount namespace, so it cannot outlive the executor.
//! 3. What runs there is decided as Mesos does (`plan`); the user is
//!    resolved in the rootfs; `paddock_isolation::oci` builds the OCI spec
//!    (namespaces, default capabilities, seccomp, the sandbox at
//!    /mnt/mesos/sandbox) into `<…>/bundle/config.json`.
//! 4. Init (the executor's zygote: single-threaded, PID 1 of the task's PID
//!    namespace) has libcontainer create and start the container in the
//!    task's cgroup, forwards signals and reaps it.
//! 5. When it has exited, the rootfs is unmounted and `<work_dir>/oci/<container>`
//!    removed.
//!
//! Every failure before the start (no image, unreachable registry, bad
//! digest, corrupt layer, bad user, …) is a `LaunchFailed` with the store's
//! or the runtime's own message.
//!
//! Networks, as Mesos's: no `network_infos` is the host network. Named
//! `network_infos` are CNI networks (`crate::network`): after the image is
//! there, the executor creates the container's network namespace and runs
//! the plugins' ADD, init is started inside that namespace (so the
//! container is), TASK_RUNNING carries the addresses, and DEL runs in the
//! cleanup, whatever ended the container. `network_infos` whose entries all
//! lack a name keep a namespace of their own with loopback only: Mesos's
//! CNI isolator ignores a NetworkInfo without a name, which would put such
//! a container on the host network, but a framework that sends one asks
//! for isolation, and silently giving it the host's interfaces is the
//! surprise issue #5 rules out.

pub mod plan;
pub mod store;

use std::path::{Path, PathBuf};

use paddock_images::{Image, ImageStore, RootfsMode};
use paddock_isolation::oci::{self as runtime, Bind, ContainerConfig, Launch};
use paddock_proto::container::ContainerInfo;
use paddock_proto::mesos::TaskInfo;
use tokio::sync::mpsc;

use crate::network::config::NetworkConfig;

use super::runner::{wait_child, ProcessControl, RunnerEvent};
use super::ExecutorEnv;

/// Overrides where the image store is (default `<work_dir>/images`).
pub const IMAGES_DIR_ENV: &str = "PADDOCK_IMAGES_DIR";

/// The directories of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    pub images: PathBuf,
    /// `<work_dir>/oci/<container>`: rootfs, upper, work, bundle, state.
    pub run: PathBuf,
    /// `<work_dir>`, where the container's CNI record and namespace are.
    pub work: PathBuf,
}

impl Dirs {
    pub fn for_env(env: &ExecutorEnv) -> Result<Dirs, String> {
        let sandbox = Path::new(&env.sandbox);
        let work = store::work_dir_of(sandbox);
        let images = match std::env::var_os(IMAGES_DIR_ENV) {
            Some(d) => PathBuf::from(d),
            None => work.as_ref().map(|w| w.join("images")).ok_or_else(|| {
                format!(
                    "cannot find the agent's work dir from the sandbox {}; set {IMAGES_DIR_ENV}",
                    sandbox.display()
                )
            })?,
        };
        let id = container_id(env);
        let run = match &work {
            Some(w) => w.join("oci").join(&id),
            None => images.join("..").join("oci").join(&id),
        };
        let work = work.unwrap_or_else(|| images.join(".."));
        Ok(Dirs { images, run, work })
    }
}

/// The container's id: the agent's container id (a uuid), else the executor id.
fn container_id(env: &ExecutorEnv) -> String {
    let raw = env
        .container_id
        .clone()
        .unwrap_or_else(|| env.executor_id.value.clone());
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The cgroup the executor runs in, from /proc/self/cgroup: the memory
/// controller's on v1, the unified one on v2.
pub fn own_cgroup(text: &str) -> Option<PathBuf> {
    let mut unified = None;
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
        if controllers.split(',').any(|c| c == "memory") {
            return Some(PathBuf::from(path));
        }
        if controllers.is_empty() {
            unified = Some(PathBuf::from(path));
        }
    }
    unified
}

/// Mesos's variables for the task, besides MESOS_SANDBOX.
fn mesos_env(env: &ExecutorEnv, task: &TaskInfo) -> Vec<(String, String)> {
    let mut v = vec![
        ("MESOS_TASK_ID".to_string(), task.task_id.value.clone()),
        ("MESOS_FRAMEWORK_ID".into(), env.framework_id.value.clone()),
        ("MESOS_EXECUTOR_ID".into(), env.executor_id.value.clone()),
        ("HOST".into(), env.hostname.clone()),
    ];
    v.extend(super::task::port_env(task));
    v
}

/// The container's bind mounts: the sandbox, then the task's volumes with a
/// host path (a relative container path is inside the sandbox, as in Mesos).
fn binds(env: &ExecutorEnv, info: &ContainerInfo) -> Result<Vec<Bind>, String> {
    let mut out = vec![Bind {
        source: PathBuf::from(&env.sandbox),
        destination: plan::SANDBOX_IN_CONTAINER.into(),
        readonly: false,
    }];
    for (i, v) in info.volumes.iter().enumerate() {
        let Some(host) = &v.host_path else { continue };
        if !host.starts_with('/') {
            return Err(format!(
                "container.volumes[{i}].host_path {host:?} is not an absolute path"
            ));
        }
        let destination = if v.container_path.starts_with('/') {
            v.container_path.clone()
        } else {
            format!("{}/{}", plan::SANDBOX_IN_CONTAINER, v.container_path)
        };
        let readonly = match v.mode.as_deref() {
            None | Some("RW") => false,
            Some("RO") => true,
            Some(other) => {
                return Err(format!(
                    "container.volumes[{i}].mode {other:?} is neither RW nor RO"
                ))
            }
        };
        out.push(Bind {
            source: PathBuf::from(host),
            destination,
            readonly,
        });
    }
    Ok(out)
}

/// Everything up to a written bundle, on a blocking thread.
fn prepare(
    env: &ExecutorEnv,
    task: &TaskInfo,
    info: &ContainerInfo,
    store: &ImageStore,
    image: &Image,
    dirs: &Dirs,
) -> Result<paddock_images::Rootfs, String> {
    if dirs.run.exists() {
        let _ = std::fs::remove_dir_all(&dirs.run);
    }
    std::fs::create_dir_all(&dirs.run)
        .map_err(|e| format!("cannot create {}: {e}", dirs.run.display()))?;
    let rootfs = store
        .prepare_rootfs(image, &dirs.run, RootfsMode::Auto)
        .map_err(|e| format!("cannot prepare the rootfs of {}: {e}", image.reference))?;
    let written = (|| {
        let p = plan::plan(task, &image.runtime_config(), &mesos_env(env, task))?;
        let ids = runtime::user::resolve_in_rootfs(&rootfs.path, p.user.as_deref())?;
        let cgroup_text = std::fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
        let cgroups_path = own_cgroup(&cgroup_text)
            .filter(|p| p != Path::new("/"))
            .ok_or("the executor is not in a task cgroup")?;
        let cgroup_view = cgroup_view(&cgroup_text, &cgroups_path)?;
        let cfg = ContainerConfig {
            rootfs: rootfs.path.clone(),
            argv: p.argv,
            env: p.env,
            cwd: p.cwd,
            ids,
            hostname: info
                .hostname
                .clone()
                .unwrap_or_else(|| env.hostname.clone()),
            binds: {
                let mut b = binds(env, info)?;
                b.extend(name_files(dirs, env));
                b
            },
            cgroups_path,
            private_network: loopback_only(info),
            cgroup_view,
        };
        runtime::write_bundle(&dirs.run.join("bundle"), &cfg)
    })();
    if let Err(e) = written {
        let _ = rootfs.release();
        return Err(e);
    }
    Ok(rootfs)
}

/// The container's `/sys/fs/cgroup` on a v1 host: its own cgroup in each
/// hierarchy that limits it, read-only (`runtime::cgroup_view`); `None`
/// on v2. A viewed hierarchy the host does not have is left out.
fn cgroup_view(proc_self_cgroup: &str, cgroups_path: &Path) -> Result<Option<Vec<Bind>>, String> {
    let mode = paddock_isolation::cgroups::detect_mode().map_err(|e| e.to_string())?;
    if mode == paddock_isolation::cgroups::Mode::V2 {
        return Ok(None);
    }
    let root = Path::new(runtime::cgroup_view::CGROUP_ROOT);
    let mut view = runtime::cgroup_view::v1_binds(proc_self_cgroup, cgroups_path, root);
    view.retain(|b| b.source.is_dir());
    Ok(Some(view))
}

/// A namespace of the container's own with loopback only: `network_infos`
/// without a single network name (see the module doc).
fn loopback_only(info: &ContainerInfo) -> bool {
    !info.network_infos.is_empty() && crate::network::requested(info).is_empty()
}

/// The CNI networks the container names, resolved in the agent's config
/// dir. The error (an unknown name, no config dir) is a preparation
/// failure, checked before anything is started.
pub fn networks(env: &ExecutorEnv, info: &ContainerInfo) -> Result<Vec<NetworkConfig>, String> {
    let names = crate::network::requested(info);
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let work = store::work_dir_of(Path::new(&env.sandbox))
        .ok_or("cannot find the agent's work dir from the sandbox, so not its CNI networks")?;
    let dirs = crate::network::published_dirs(&work)?;
    crate::network::resolve(&dirs, &names)
}

/// The CNI networks' `/etc/resolv.conf` and `/etc/hosts`, when the
/// container joined any.
pub(super) fn name_files(dirs: &Dirs, env: &ExecutorEnv) -> Vec<Bind> {
    let dir = crate::network::container_dir(&dirs.work, &container_id(env));
    crate::network::NAME_FILES
        .iter()
        .map(|(file, dest)| (dir.join(file), dest))
        .filter(|(src, _)| src.is_file())
        .map(|(source, dest)| Bind {
            source,
            destination: dest.to_string(),
            readonly: false,
        })
        .collect()
}

/// Joins the CNI networks (blocking: ADD runs the plugins).
pub(super) fn attach(
    env: &ExecutorEnv,
    info: &ContainerInfo,
    dirs: &Dirs,
) -> Result<Option<crate::network::Attached>, String> {
    let names = crate::network::requested(info);
    if names.is_empty() {
        return Ok(None);
    }
    let cni = crate::network::published_dirs(&dirs.work)?;
    let nets = crate::network::resolve(&cni, &names)?;
    let hostname = info.hostname.as_deref().unwrap_or(&env.hostname);
    crate::network::attach(&dirs.work, &container_id(env), &cni, nets, info, hostname).map(Some)
}

/// CNI DEL for the container's networks, if it joined any (the agent's
/// sweep retries from the record if this fails). The container's id is
/// the last part of `dirs.run`.
pub(super) fn release_networks(dirs: &Dirs) {
    if let Some(id) = dirs.run.file_name().and_then(|n| n.to_str()) {
        if crate::network::root(&dirs.work).join(id).exists() {
            if let Err(e) = crate::network::detach(&dirs.work, id) {
                tracing::warn!("CNI DEL for {id}: {e} (the agent will try again)");
            }
        }
    }
}

/// Unmounts the rootfs, removes the container's directory and whatever
/// libcontainer left in the v1 cgroup hierarchies the agent does not
/// manage (init cannot when it was killed with SIGKILL); runs CNI DEL for
/// the container's networks first.
fn cleanup(rootfs: Option<&paddock_images::Rootfs>, dirs: &Dirs) {
    release_networks(dirs);
    if let Some(cg) = std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|t| own_cgroup(&t))
    {
        runtime::run::remove_foreign_cgroups(Path::new("/sys/fs/cgroup"), &cg);
    }
    if let Some(r) = rootfs {
        if let Err(e) = r.release() {
            tracing::warn!("cannot release the rootfs: {e}");
        }
    }
    if let Err(e) = std::fs::remove_dir_all(&dirs.run) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("cannot remove {}: {e}", dirs.run.display());
        }
    }
}

/// Starts the container in the background; see the module doc.
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
            Ok((child, ready, rootfs, dirs, networks)) => {
                control.started(child);
                // TASK_RUNNING once libcontainer has started the container;
                // its error otherwise.
                let ready = read_ready(ready).await;
                runtime::trace::stage("executor: ready");
                let ev = match ready {
                    Ok(()) => RunnerEvent::Running {
                        message: format!(
                            "Container is running (image {})",
                            info.image().unwrap_or_default()
                        ),
                        decorate: networks.map(|n| -> super::runner::Decorate {
                            Box::new(move |st: &mut paddock_proto::mesos::TaskStatus| {
                                st.container_status
                                    .get_or_insert_with(Default::default)
                                    .network_infos = n;
                            })
                        }),
                    },
                    Err(e) => RunnerEvent::LaunchFailed(e),
                };
                let failed = matches!(ev, RunnerEvent::LaunchFailed(_));
                let _ = events.send(ev);
                let after: Box<dyn FnOnce() + Send> =
                    Box::new(move || cleanup(Some(&rootfs), &dirs));
                if failed {
                    // Reap init and clean up; the launch is already reported.
                    let (etx, _) = mpsc::unbounded_channel();
                    wait_child(child, etx, Some(after));
                } else {
                    wait_child(child, events, Some(after));
                }
            }
            Err(msg) => {
                let _ = events.send(RunnerEvent::LaunchFailed(msg));
            }
        }
    });
}

/// What init reports on its socket: `started <pid>` or `failed <why>`.
async fn read_ready(ready: std::os::unix::net::UnixStream) -> Result<(), String> {
    use tokio::io::AsyncReadExt;
    let mut rx = ready
        .set_nonblocking(true)
        .and_then(|()| tokio::net::UnixStream::from_std(ready))
        .map_err(|e| format!("the container's ready socket: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    while !buf.contains(&b'\n') && buf.len() < 64 * 1024 {
        match rx.read(&mut chunk).await {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("the container's ready socket: {e}")),
        }
    }
    let line = String::from_utf8_lossy(&buf);
    let line = line.lines().next().unwrap_or("").trim();
    match line.split_once(' ') {
        Some(("started", _)) => Ok(()),
        Some(("failed", why)) => Err(why.to_string()),
        _ => Err("the container's init exited before starting it; see the sandbox's stderr".into()),
    }
}

type Launched = (
    u32,
    std::os::unix::net::UnixStream,
    paddock_images::Rootfs,
    Dirs,
    Option<Vec<paddock_proto::container::NetworkInfo>>,
);

async fn launch(
    env: &ExecutorEnv,
    task: &TaskInfo,
    info: &ContainerInfo,
    control: &ProcessControl,
) -> Result<Launched, String> {
    runtime::trace::stage("executor: launch");
    let reference = info
        .image()
        .filter(|r| !r.is_empty())
        .ok_or("container.mesos.image names no image")?
        .to_string();
    let cached = info
        .mesos
        .as_ref()
        .and_then(|m| m.image.as_ref())
        .and_then(|i| i.cached)
        .unwrap_or(true);
    let dirs = Dirs::for_env(env)?;
    let task_config = info
        .mesos
        .as_ref()
        .and_then(|m| m.image.as_ref())
        .and_then(|i| i.docker.as_ref())
        .and_then(|d| d.config.as_ref());
    let auth = || crate::registry_auth::for_sandbox(&env.sandbox, task_config, &reference);
    let (store, image, hold) =
        store::provision_with(&dirs.images, &reference, cached, Some(&auth)).await?;
    runtime::trace::stage("executor: image found");
    if control.killed() {
        return Err("killed before it started".into());
    }
    // The plugins run on a blocking thread; most containers name no network.
    let attached = if crate::network::requested(info).is_empty() {
        Ok(None)
    } else {
        let (e, i, d) = (env.clone(), info.clone(), dirs.clone());
        tokio::task::spawn_blocking(move || attach(&e, &i, &d))
            .await
            .map_err(|e| format!("join the container networks: {e}"))
            .and_then(|r| r)
    };
    let attached = match attached {
        Ok(a) => a,
        Err(e) => {
            cleanup(None, &dirs);
            return Err(e);
        }
    };
    runtime::trace::stage("executor: networks attached");
    let (e, t, i, d) = (env.clone(), task.clone(), info.clone(), dirs.clone());
    // The store's hold ends with the rootfs prepared (or not).
    let rootfs = tokio::task::spawn_blocking(move || {
        let prepared = prepare(&e, &t, &i, &store, &image, &d);
        drop(hold);
        prepared
    })
    .await
    .map_err(|e| format!("prepare the container: {e}"))
    .and_then(|r| r);
    runtime::trace::stage("executor: bundle written");
    let rootfs = match rootfs {
        Ok(r) => r,
        Err(e) => {
            cleanup(None, &dirs);
            return Err(e);
        }
    };
    let launch = Launch {
        bundle: dirs.run.join("bundle"),
        id: container_id(env),
        state_root: dirs.run.join("state"),
        private_network: loopback_only(info),
        // The zygote's socket; init is told its fd number.
        ready_fd: None,
    };
    let netns = attached.as_ref().map(|a| a.netns.clone());
    let spawned = start_init(env, &launch, netns);
    runtime::trace::stage("executor: init spawned");
    match spawned {
        Ok((child, ready)) => Ok((
            child,
            ready,
            rootfs,
            dirs,
            attached.map(|a| a.network_infos),
        )),
        Err(e) => {
            cleanup(Some(&rootfs), &dirs);
            Err(e)
        }
    }
}

/// Has the zygote become `paddock init` in container mode (see
/// `paddock_isolation::oci::run`): the container runs what its bundle
/// says. With `netns`, init (and so the container) starts in that network
/// namespace.
fn start_init(
    env: &ExecutorEnv,
    launch: &Launch,
    netns: Option<PathBuf>,
) -> Result<(u32, std::os::unix::net::UnixStream), String> {
    let mut vars: Vec<(std::ffi::OsString, std::ffi::OsString)> =
        ["PATH", "RUST_LOG", "LANG", "TZ", runtime::trace::ENV]
            .into_iter()
            .filter_map(|k| Some((k.into(), std::env::var_os(k)?)))
            .collect();
    vars.extend(
        launch
            .to_env()
            .into_iter()
            .map(|(k, v)| (k.into(), v.into())),
    );
    let start = paddock_isolation::zygote::Start {
        argv: vec![format!("container:{}", launch.id).into()],
        env: vars,
        cwd: launch.bundle.parent().map(Path::to_path_buf),
        netns,
        ready_env: Some(runtime::run::READY_FD_ENV.to_string()),
        binds: Vec::new(),
    };
    super::zygote::start(env, &start).map_err(|e| format!("cannot start the container's init: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cgroup_is_the_memory_one_on_v1_and_the_unified_one_on_v2() {
        let v1 = "12:pids:/p/c1\n4:memory:/p/c1\n1:name=systemd:/\n0::/\n";
        assert_eq!(own_cgroup(v1), Some(PathBuf::from("/p/c1")));
        let v2 = "0::/p/c2\n";
        assert_eq!(own_cgroup(v2), Some(PathBuf::from("/p/c2")));
        assert_eq!(own_cgroup("garbage"), None);
    }

    #[test]
    fn volumes_become_binds_and_bad_ones_are_named() {
        let env = ExecutorEnv {
            agent_endpoint: "x".into(),
            framework_id: paddock_proto::mesos::FrameworkId::new("f"),
            executor_id: paddock_proto::mesos::ExecutorId::new("e"),
            sandbox: "/sb".into(),
            hostname: "h".into(),
            container_id: Some("c".into()),
            cgroup_root: None,
        };
        let info: ContainerInfo = serde_json::from_value(serde_json::json!({
            "type": "MESOS",
            "volumes": [{"container_path": "data", "host_path": "/srv/d", "mode": "RO"},
                        {"container_path": "/etc/x", "host_path": "/etc/y"}]
        }))
        .unwrap();
        let b = binds(&env, &info).unwrap();
        assert_eq!(b[0].destination, plan::SANDBOX_IN_CONTAINER);
        assert_eq!(b[1].destination, "/mnt/mesos/sandbox/data");
        assert!(b[1].readonly);
        assert_eq!(b[2].destination, "/etc/x");
        let bad: ContainerInfo = serde_json::from_value(serde_json::json!({
            "type": "MESOS",
            "volumes": [{"container_path": "d", "host_path": "rel"}]
        }))
        .unwrap();
        let err = binds(&env, &bad).unwrap_err();
        assert!(err.contains("volumes[0].host_path"), "{err}");
    }
}
