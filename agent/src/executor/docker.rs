//! The executor's side of the Docker containerizer: one task in one Docker
//! container, driven through bollard.
//!
//! [`launch`] builds the container from the task (`crate::docker::spec`),
//! pulls the image when it is missing (always with `force_pull_image`),
//! creates `mesos-<container id>` with our labels, starts it, follows its
//! logs into the sandbox's `stdout`/`stderr`, and waits for it. What happens
//! comes back as [`DockerEvent`]s through the callback; the executor turns
//! them into task states:
//! - [`DockerEvent::Running`] → TASK_RUNNING, carrying the Docker container
//!   id (a `paddock.docker.container_id` status label) and, as Mesos does,
//!   the `docker inspect` JSON array in the status `data` (base64);
//! - [`DockerEvent::LaunchFailed`] → TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED
//!   (bad parameters, unreachable engine, an image that cannot be pulled: the
//!   message names the image);
//! - [`DockerEvent::Exited`] → TASK_FINISHED (0), TASK_FAILED (non-zero, or
//!   OOM-killed → REASON_CONTAINER_LIMITATION_MEMORY), or TASK_KILLED after a
//!   kill.
//!
//! A kill is `docker stop` with the grace period (the image's stop signal,
//! SIGTERM by default, then SIGKILL); the container is removed once it has
//! exited and its logs are drained.

use std::io::Write;
use std::time::Duration;

use base64::Engine;
use bollard::container::LogOutput;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
};
use bollard::Docker;
use futures::StreamExt;
use paddock_proto::mesos::{Label, Labels, TaskInfo, TaskStatus};
use tokio::sync::mpsc;

use super::ExecutorEnv;
use crate::docker::engine::{self, describe, is_not_found};
use crate::docker::spec::{self, Context, Spec};
use crate::registry_auth::PullAuth;

/// The status label that carries the Docker container id.
pub const CONTAINER_ID_LABEL: &str = "paddock.docker.container_id";
/// How long the log follower may lag behind the container's exit.
const LOG_DRAIN: Duration = Duration::from_secs(5);
/// Headroom over the grace period for `docker stop` to answer.
const STOP_SLACK: Duration = Duration::from_secs(30);

/// What happened to the task's container.
#[derive(Debug, Clone)]
pub enum DockerEvent {
    Running {
        docker_id: String,
        /// `docker inspect` of the container, as JSON.
        inspect: String,
    },
    LaunchFailed(String),
    Exited(Exit),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Exit {
    pub code: i64,
    pub oom_killed: bool,
    /// Docker's own error, when it has one (e.g. the runtime failed).
    pub error: Option<String>,
}

impl Exit {
    /// The message of the terminal update.
    pub fn message(&self) -> String {
        match (&self.error, self.oom_killed) {
            (_, true) => format!(
                "Memory limit exceeded: the container was OOM-killed (exit status {})",
                self.code
            ),
            (Some(e), _) if !e.is_empty() => {
                format!("Container exited with status {}: {e}", self.code)
            }
            _ => format!("Container exited with status {}", self.code),
        }
    }
}

enum Control {
    Stop(Duration),
    Kill,
}

/// The running task's handle: stop and kill go to its Docker container.
pub struct DockerTask {
    control: mpsc::UnboundedSender<Control>,
}

impl DockerTask {
    /// `docker stop` with `grace` (stop signal, then SIGKILL).
    pub fn stop(&self, grace: Duration) {
        let _ = self.control.send(Control::Stop(grace));
    }

    /// SIGKILL now.
    pub fn kill(&self) {
        let _ = self.control.send(Control::Kill);
    }
}

/// Decorates a TASK_RUNNING status as Mesos's Docker executor does.
pub fn decorate_running(status: &mut TaskStatus, docker_id: &str, inspect: &str) {
    let labels = status.labels.get_or_insert_with(Labels::default);
    labels.labels.push(Label {
        key: CONTAINER_ID_LABEL.into(),
        value: Some(docker_id.into()),
    });
    status.data = Some(base64::engine::general_purpose::STANDARD.encode(inspect.as_bytes()));
}

/// `fromImage` for a pull: a reference without a tag or digest means
/// `:latest` (the API would pull every tag otherwise).
pub fn pull_reference(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.contains(':') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// Starts the task's container in the background; `on` hears what happens.
pub fn launch(
    env: &ExecutorEnv,
    task: &TaskInfo,
    on: impl Fn(DockerEvent) + Send + Sync + 'static,
) -> DockerTask {
    let (tx, rx) = mpsc::unbounded_channel();
    let container_id = env
        .container_id
        .clone()
        .unwrap_or_else(|| env.executor_id.value.clone());
    let agent_id = std::env::var("MESOS_SLAVE_ID").unwrap_or_default();
    let ctx = Context {
        container_id: &container_id,
        agent_id: &agent_id,
        framework_id: &env.framework_id.value,
        executor_id: &env.executor_id.value,
        sandbox: &env.sandbox,
        hostname: &env.hostname,
    };
    match spec::build(task, &ctx).map_err(|e| e.to_string()) {
        Ok(spec) => {
            let sandbox = env.sandbox.clone();
            tokio::spawn(async move { run(spec, sandbox, rx, on).await });
        }
        Err(e) => on(DockerEvent::LaunchFailed(e)),
    }
    DockerTask { control: tx }
}

async fn run(
    spec: Spec,
    sandbox: String,
    mut control: mpsc::UnboundedReceiver<Control>,
    on: impl Fn(DockerEvent) + Send + Sync + 'static,
) {
    let docker = match engine::probe().await {
        Ok(d) => d,
        Err(e) => return on(DockerEvent::LaunchFailed(e)),
    };
    // A kill that arrives while pulling or creating ends the launch.
    let prepared = tokio::select! {
        r = prepare(&docker, &spec, &sandbox) => r,
        _ = control.recv() => {
            // Killed (or the executor is going away) before it started.
            let _ = remove(&docker, &spec.name).await;
            return on(DockerEvent::LaunchFailed(format!(
                "killed before Docker container {} started", spec.name
            )));
        }
    };
    let docker_id = match prepared {
        Ok(id) => id,
        Err(e) => {
            let _ = remove(&docker, &spec.name).await;
            return on(DockerEvent::LaunchFailed(e));
        }
    };
    let inspect = docker
        .inspect_container(&docker_id, None)
        .await
        .ok()
        .and_then(|i| serde_json::to_string(&[i]).ok())
        .unwrap_or_else(|| "[]".into());
    on(DockerEvent::Running {
        docker_id: docker_id.clone(),
        inspect,
    });
    let logs = tokio::spawn(follow_logs(docker.clone(), docker_id.clone(), sandbox));
    let mut open = true;
    let waiting = wait(&docker, &docker_id);
    tokio::pin!(waiting);
    let exit = loop {
        tokio::select! {
            exit = &mut waiting => break exit,
            c = control.recv(), if open => match c {
                Some(Control::Stop(grace)) => {
                    let d = docker.clone();
                    let id = docker_id.clone();
                    tokio::spawn(async move { stop(&d, &id, grace).await });
                }
                Some(Control::Kill) => {
                    let d = docker.clone();
                    let id = docker_id.clone();
                    tokio::spawn(async move { stop(&d, &id, Duration::ZERO).await });
                }
                // The executor dropped its handle: keep waiting; if it
                // dies, the agent's reaper removes the container.
                None => open = false,
            },
        }
    };
    let _ = tokio::time::timeout(LOG_DRAIN, logs).await;
    if let Err(e) = remove(&docker, &docker_id).await {
        tracing::warn!(docker = %docker_id, "cannot remove the container: {e}");
    }
    on(DockerEvent::Exited(exit));
}

/// Pulls if needed, then creates and starts the container; its Docker id.
/// Pulls the image if it must (with the agent's --docker-config for its
/// registry, resolved only then: resolving parses the reference, ~50 ms in
/// a fresh executor) and creates the container.
async fn prepare(docker: &Docker, spec: &Spec, sandbox: &str) -> Result<String, String> {
    let have = match docker.inspect_image(&spec.image).await {
        Ok(_) => true,
        Err(e) if is_not_found(&e) => false,
        Err(e) => {
            return Err(format!(
                "cannot inspect image '{}': {}",
                spec.image,
                describe(&e)
            ))
        }
    };
    if spec.force_pull || !have {
        let auth = crate::registry_auth::for_sandbox(sandbox, None, &spec.image)?;
        pull(docker, &spec.image, &auth).await?;
    }
    let created = docker
        .create_container(
            Some(
                CreateContainerOptionsBuilder::new()
                    .name(&spec.name)
                    .build(),
            ),
            spec.body.clone(),
        )
        .await
        .map_err(|e| {
            format!(
                "cannot create Docker container {} from image '{}': {}",
                spec.name,
                spec.image,
                describe(&e)
            )
        })?;
    docker
        .start_container(&created.id, None)
        .await
        .map_err(|e| {
            format!(
                "cannot start Docker container {} (image '{}'): {}",
                spec.name,
                spec.image,
                describe(&e)
            )
        })?;
    Ok(created.id)
}

async fn pull(docker: &Docker, image: &str, auth: &PullAuth) -> Result<(), String> {
    let reference = pull_reference(image);
    let opts = CreateImageOptionsBuilder::new()
        .from_image(&reference)
        .build();
    tracing::info!(image, registry = %auth.registry, credentials = ?auth.source, "docker pull");
    let mut progress = docker.create_image(Some(opts), None, auth.docker_credentials());
    let failed = |err: String| {
        if is_auth_failure(&err) {
            auth.refused(image, &err)
        } else {
            format!("cannot pull image '{image}': {err}")
        }
    };
    while let Some(item) = progress.next().await {
        match item {
            Ok(info) => {
                if let Some(err) = info.error_detail.and_then(|d| d.message) {
                    return Err(failed(err));
                }
            }
            Err(e) => return Err(failed(describe(&e))),
        }
    }
    // Some engines report a failed pull only by not having the image.
    docker.inspect_image(image).await.map(|_| ()).map_err(|e| {
        format!(
            "image '{image}' is not available after pulling: {}",
            describe(&e)
        )
    })
}

/// Waits for the container to exit; transient engine errors are retried.
/// Whether the engine's pull error is the registry refusing us (dockerd's
/// wording: "no basic auth credentials", "unauthorized: authentication
/// required", "denied: …", "… 401 Unauthorized").
pub fn is_auth_failure(err: &str) -> bool {
    let e = err.to_ascii_lowercase();
    [
        "unauthorized",
        "authentication required",
        "no basic auth credentials",
        "denied",
        "401",
    ]
    .iter()
    .any(|w| e.contains(w))
}

async fn wait(docker: &Docker, id: &str) -> Exit {
    let mut attempts = 0;
    loop {
        let mut stream = docker.wait_container(id, None);
        let waited = stream.next().await;
        match waited {
            Some(Ok(_)) | Some(Err(bollard::errors::Error::DockerContainerWaitError { .. })) => {}
            Some(Err(e)) if is_not_found(&e) => {
                return Exit {
                    code: -1,
                    oom_killed: false,
                    error: Some("the Docker container vanished".into()),
                }
            }
            other => {
                attempts += 1;
                let why = match other {
                    Some(Err(e)) => describe(&e),
                    _ => "the wait stream ended".into(),
                };
                tracing::warn!(docker = %id, "waiting for the container: {why}");
                if attempts > 60 {
                    return Exit {
                        code: -1,
                        oom_killed: false,
                        error: Some(format!("lost the Docker container: {why}")),
                    };
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        }
        match docker.inspect_container(id, None).await {
            Ok(i) => return exit_of(&i),
            Err(e) => {
                return Exit {
                    code: -1,
                    oom_killed: false,
                    error: Some(format!(
                        "cannot inspect the exited container: {}",
                        describe(&e)
                    )),
                }
            }
        }
    }
}

/// The exit, from `docker inspect` of a stopped container.
pub fn exit_of(i: &ContainerInspectResponse) -> Exit {
    let state = i.state.clone().unwrap_or_default();
    Exit {
        code: state.exit_code.unwrap_or(-1),
        oom_killed: state.oom_killed.unwrap_or(false),
        error: state.error.filter(|e| !e.is_empty()),
    }
}

async fn stop(docker: &Docker, id: &str, grace: Duration) {
    let secs = grace.as_secs_f64().ceil() as i32;
    let d = docker.clone().with_timeout(grace + STOP_SLACK);
    let opts = StopContainerOptionsBuilder::new().t(secs.max(0)).build();
    if let Err(e) = d.stop_container(id, Some(opts)).await {
        // 304: already stopped.
        if !matches!(
            e,
            bollard::errors::Error::DockerResponseServerError {
                status_code: 304,
                ..
            }
        ) && !is_not_found(&e)
        {
            tracing::warn!(docker = %id, "docker stop: {}", describe(&e));
        }
    }
}

async fn remove(docker: &Docker, id: &str) -> Result<(), String> {
    let opts = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build();
    match docker.remove_container(id, Some(opts)).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(describe(&e)),
    }
}

/// Copies the container's output into the sandbox until it exits.
async fn follow_logs(docker: Docker, id: String, sandbox: String) {
    let open = |name: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(std::path::Path::new(&sandbox).join(name))
    };
    let (mut out, mut err) = match (open("stdout"), open("stderr")) {
        (Ok(o), Ok(e)) => (o, e),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!("cannot open the sandbox's log files: {e}");
            return;
        }
    };
    let opts = LogsOptionsBuilder::new()
        .follow(true)
        .stdout(true)
        .stderr(true)
        .build();
    let mut logs = docker.logs(&id, Some(opts));
    while let Some(item) = logs.next().await {
        let written = match item {
            Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                out.write_all(&message)
            }
            Ok(LogOutput::StdErr { message }) => err.write_all(&message),
            Ok(LogOutput::StdIn { .. }) => Ok(()),
            Err(e) => {
                tracing::warn!(docker = %id, "log stream: {}", describe(&e));
                break;
            }
        };
        if let Err(e) = written {
            tracing::warn!("cannot write the task's output to the sandbox: {e}");
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::ContainerState;

    #[test]
    fn the_engines_auth_failures_are_recognised() {
        for e in [
            "Head \"http://127.0.0.1:5000/v2/x/manifests/1\": no basic auth credentials",
            "unauthorized: authentication required",
            "pull access denied for x, repository does not exist or may require 'docker login'",
        ] {
            assert!(is_auth_failure(e), "{e}");
        }
        assert!(!is_auth_failure(
            "manifest for x:1 not found: manifest unknown"
        ));
    }

    #[test]
    fn untagged_images_pull_latest() {
        assert_eq!(pull_reference("busybox"), "busybox:latest");
        assert_eq!(pull_reference("busybox:1.36"), "busybox:1.36");
        assert_eq!(
            pull_reference("127.0.0.1:5000/bb"),
            "127.0.0.1:5000/bb:latest"
        );
        assert_eq!(
            pull_reference("127.0.0.1:5000/bb:v1"),
            "127.0.0.1:5000/bb:v1"
        );
        assert_eq!(pull_reference("bb@sha256:abc"), "bb@sha256:abc");
    }

    #[test]
    fn exits_read_from_inspect() {
        let i = ContainerInspectResponse {
            state: Some(ContainerState {
                exit_code: Some(137),
                oom_killed: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let e = exit_of(&i);
        assert!(e.oom_killed);
        assert_eq!(e.code, 137);
        assert!(e.message().contains("OOM"), "{}", e.message());
        let ok = Exit {
            code: 3,
            oom_killed: false,
            error: None,
        };
        assert_eq!(ok.message(), "Container exited with status 3");
    }

    #[test]
    fn running_status_carries_the_container_id() {
        let mut st = TaskStatus::default();
        decorate_running(&mut st, "abc", "[{}]");
        let l = &st.labels.unwrap().labels[0];
        assert_eq!(
            (l.key.as_str(), l.value.as_deref()),
            (CONTAINER_ID_LABEL, Some("abc"))
        );
        let data = base64::engine::general_purpose::STANDARD
            .decode(st.data.unwrap())
            .unwrap();
        assert_eq!(data, b"[{}]");
    }
}
