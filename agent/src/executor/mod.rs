//! The built-in command executor (`paddock executor`).
//!
//! The agent starts it inside the container's cgroup, in its own session.
//! It puts its children in new PID and mount namespaces, subscribes to the
//! agent's executor API, runs the one task it is given, and reports its
//! states. Updates are kept until acknowledged; if the agent goes away (a
//! restart) the task keeps running and the executor re-subscribes with what
//! is still unacknowledged.
//!
//! # Dispatch
//!
//! `runner.rs` is the one place that decides how a task runs:
//! [`runner::Containerizer::for_task`] reads the task's `container` (none →
//! a command under `paddock init`; MESOS with an image → the OCI
//! containerizer in `oci/`; DOCKER → `docker.rs`), and [`runner::start`]
//! returns a [`runner::TaskControl`] (terminate with a grace period, kill)
//! while [`runner::RunnerEvent`]s (`Running`, `LaunchFailed`, `Exited`)
//! come back on a channel. The executor turns those into task states; a
//! new containerizer adds one arm there and nothing here.

mod client;
pub mod docker;
mod env;
mod networked;
pub mod oci;
pub mod runner;
mod task;
mod zygote;

use std::time::{Duration, Instant};

use paddock_proto::executor::Event;
use paddock_proto::mesos::{
    now_secs, reason, ContainerStatus, FrameworkInfo, Source, TaskInfo, TaskState, TaskStatus,
};
use tokio::sync::mpsc;

use client::AgentClient;
pub use env::ExecutorEnv;
use runner::{Containerizer, RunnerEvent, TaskControl, TaskExit};

/// How long the executor waits for a vanished agent before giving up.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The whole `paddock executor` process.
pub fn run() -> i32 {
    // Before any thread exists: mounts made for the task (an image's overlay
    // rootfs) live in a mount namespace of our own, which every later thread
    // (and the zygote) shares, so they vanish with the executor however it
    // ends. The zygote is PID 1 of the task's PID namespace.
    if let Err(e) = paddock_isolation::ns::unshare_mounts_slave() {
        eprintln!("paddock executor: running without a mount namespace: {e}");
    }
    // A memory-limited container should lose its task, not its executor.
    let _ = std::fs::write("/proc/self/oom_score_adj", "-999");
    // Still before any thread: the copy of us that becomes the task's init.
    zygote::keep(paddock_isolation::zygote::Zygote::fork().map_err(|e| e.to_string()));
    let env = match ExecutorEnv::from_env() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("paddock executor: {e}");
            return 2;
        }
    };
    // The few blocking jobs (preparing the rootfs, CNI plugins) come at the
    // launch; an idle thread would linger for tokio's default 10 s, and
    // every thread on the host is work for each container's pivot_root
    // (the kernel walks them all) while a burst of tasks starts.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_keep_alive(Duration::from_millis(200))
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("paddock executor: cannot start a runtime: {e}");
            return 2;
        }
    };
    rt.block_on(async move {
        match Executor::new(env) {
            Ok(executor) => executor.run().await,
            Err(e) => {
                eprintln!("paddock executor: {e}");
                2
            }
        }
    })
}

enum Input {
    Event(Event),
    StreamEnded(String),
    Runner(RunnerEvent),
    GraceOver,
}

struct Executor {
    env: ExecutorEnv,
    client: AgentClient,
    framework: Option<FrameworkInfo>,
    task: Option<TaskInfo>,
    /// Set from the launch until the task has exited.
    control: Option<Box<dyn TaskControl>>,
    kill_requested: bool,
    /// Sent but not yet acknowledged, oldest first.
    unacked: Vec<TaskStatus>,
    terminal_sent: bool,
    disconnected_since: Option<Instant>,
    shutdown: bool,
    /// The container's networks and addresses, once known.
    network_infos: Vec<paddock_proto::container::NetworkInfo>,
}

impl Executor {
    fn new(env: ExecutorEnv) -> Result<Self, String> {
        let client = AgentClient::new(&env)?;
        Ok(Executor {
            env,
            client,
            framework: None,
            task: None,
            control: None,
            kill_requested: false,
            unacked: Vec::new(),
            terminal_sent: false,
            disconnected_since: None,
            shutdown: false,
            network_infos: Vec::new(),
        })
    }

    async fn run(mut self) -> i32 {
        let (tx, mut rx) = mpsc::unbounded_channel::<Input>();
        self.client
            .subscribe(tx.clone(), self.task.clone(), self.unacked.clone());
        while let Some(input) = rx.recv().await {
            match input {
                Input::Event(ev) => self.on_event(ev, &tx),
                Input::StreamEnded(why) => {
                    let since = *self.disconnected_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > RECOVERY_TIMEOUT {
                        eprintln!(
                            "paddock executor: agent unreachable for too long ({why}); giving up"
                        );
                        self.kill_now();
                        return 1;
                    }
                    tracing::warn!("lost the agent ({why}); re-subscribing");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    self.client
                        .subscribe(tx.clone(), self.task.clone(), self.unacked.clone());
                }
                Input::Runner(ev) => self.on_runner(ev),
                Input::GraceOver => self.kill_now(),
            }
            if self.done() {
                return 0;
            }
        }
        0
    }

    /// Everything reported and acknowledged, or told to go with no task.
    fn done(&self) -> bool {
        (self.terminal_sent && self.unacked.is_empty()) || (self.shutdown && self.task.is_none())
    }

    fn on_event(&mut self, ev: Event, tx: &mpsc::UnboundedSender<Input>) {
        match ev {
            Event::Subscribed { subscribed } => {
                self.disconnected_since = None;
                self.framework = Some(subscribed.framework_info);
                // Anything sent while the agent was away goes again (the agent
                // dedupes by uuid).
                for st in self.unacked.clone() {
                    self.client.send_update(st);
                }
            }
            Event::Launch { launch } => self.launch(launch.task, tx),
            Event::Kill { kill } => {
                let grace = kill
                    .kill_policy
                    .as_ref()
                    .or(self.task.as_ref().and_then(|t| t.kill_policy.as_ref()))
                    .and_then(|p| p.grace_period)
                    .map(|d| Duration::from_nanos(d.nanoseconds.max(0) as u64))
                    .unwrap_or(Duration::from_secs(3));
                self.kill(grace, tx);
            }
            Event::Shutdown => {
                self.shutdown = true;
                self.kill(Duration::from_secs(3), tx);
            }
            Event::Acknowledged { acknowledged } => {
                self.unacked
                    .retain(|s| s.uuid.as_deref() != Some(acknowledged.uuid.as_str()));
            }
            Event::Error { error } => tracing::warn!("agent error: {}", error.message),
            Event::Message { .. } | Event::Heartbeat => {}
        }
    }

    fn update(&mut self, state: TaskState, why: Option<&str>, message: impl Into<String>) {
        self.update_with(state, why, message, None);
    }

    fn update_with(
        &mut self,
        state: TaskState,
        why: Option<&str>,
        message: impl Into<String>,
        decorate: Option<runner::Decorate>,
    ) {
        let Some(task) = &self.task else { return };
        let mut status = TaskStatus {
            task_id: task.task_id.clone(),
            state,
            message: Some(message.into()),
            source: Some(Source::SourceExecutor),
            reason: why.map(str::to_string),
            executor_id: Some(self.env.executor_id.clone()),
            timestamp: Some(now_secs()),
            uuid: Some(paddock_proto::mesos::new_update_uuid()),
            container_status: Some(Box::new(ContainerStatus {
                container_id: self
                    .env
                    .container_id
                    .clone()
                    .map(paddock_proto::mesos::ContainerId::new),
                executor_pid: Some(std::process::id()),
                network_infos: self.network_infos.clone(),
            })),
            ..Default::default()
        };
        if let Some(f) = decorate {
            f(&mut status);
            // The networks a containerizer reports on TASK_RUNNING go on
            // every later update too, as Mesos's do.
            if let Some(n) = status.container_status.as_ref().map(|c| &c.network_infos) {
                if !n.is_empty() {
                    self.network_infos = n.clone();
                }
            }
        }
        if state.is_terminal() {
            self.terminal_sent = true;
        }
        self.unacked.push(status.clone());
        self.client.send_update(status);
    }

    fn launch(&mut self, info: TaskInfo, tx: &mpsc::UnboundedSender<Input>) {
        if self.task.is_some() {
            tracing::warn!(task = %info.task_id, "the command executor runs one task; ignoring another");
            return;
        }
        self.task = Some(info.clone());
        // No TASK_STARTING: the framework would have to acknowledge it before
        // TASK_RUNNING could be forwarded, a full round trip on every launch.
        // Mesos made TASK_STARTING optional; frameworks must not rely on it.
        let which = match Containerizer::for_task(&info) {
            Ok(w) => w,
            Err(e) => {
                return self.update(
                    TaskState::TaskFailed,
                    Some(reason::CONTAINER_LAUNCH_FAILED),
                    e,
                )
            }
        };
        if let Containerizer::Oci(c) | Containerizer::CommandOnNetworks(c) = &which {
            // An unknown CNI network is the isolator's prepare failing in
            // Mesos: nothing is pulled or started.
            if let Err(e) = oci::networks(&self.env, c) {
                return self.update(
                    TaskState::TaskFailed,
                    Some(reason::CONTAINER_PREPARATION_FAILED),
                    e,
                );
            }
        }
        let (etx, mut erx) = mpsc::unbounded_channel();
        let forward = tx.clone();
        tokio::spawn(async move {
            while let Some(ev) = erx.recv().await {
                if forward.send(Input::Runner(ev)).is_err() {
                    break;
                }
            }
        });
        self.control = Some(runner::start(which, &self.env, &info, etx));
    }

    fn on_runner(&mut self, ev: RunnerEvent) {
        match ev {
            RunnerEvent::Running { message, decorate } => {
                if !self.terminal_sent {
                    self.update_with(TaskState::TaskRunning, None, message, decorate);
                }
            }
            RunnerEvent::LaunchFailed(message) => {
                self.control = None;
                if self.kill_requested {
                    self.update(TaskState::TaskKilled, None, "Killed before it started");
                } else {
                    self.update(
                        TaskState::TaskFailed,
                        Some(reason::CONTAINER_LAUNCH_FAILED),
                        message,
                    );
                }
            }
            RunnerEvent::Exited(exit) => {
                self.control = None;
                self.on_exit(exit);
            }
        }
    }

    fn kill(&mut self, grace: Duration, tx: &mpsc::UnboundedSender<Input>) {
        if self.terminal_sent || self.kill_requested {
            return;
        }
        let Some(control) = self.control.as_mut() else {
            if self.task.is_some() {
                self.update(TaskState::TaskKilled, None, "Killed before it started");
            }
            return;
        };
        self.kill_requested = true;
        control.terminate(grace);
        let killing = self
            .framework
            .as_ref()
            .is_some_and(|f| f.has_capability("TASK_KILLING_STATE"));
        if killing {
            self.update(TaskState::TaskKilling, None, "Sent SIGTERM");
        }
        let tx = tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let _ = tx.send(Input::GraceOver);
        });
    }

    fn kill_now(&mut self) {
        if let Some(control) = self.control.as_mut() {
            control.kill();
        }
    }

    fn on_exit(&mut self, exit: TaskExit) {
        let code = exit.code;
        let oom = self.env.oom_kills();
        if self.kill_requested {
            self.update(
                TaskState::TaskKilled,
                None,
                format!("Command terminated (status {code})"),
            );
        } else if exit.oom_killed || oom > 0 {
            self.update(
                TaskState::TaskFailed,
                Some(reason::CONTAINER_LIMITATION_MEMORY),
                exit.message.unwrap_or_else(|| {
                    format!(
                        "Memory limit exceeded: the task was OOM-killed ({oom} kill(s) in its cgroup)"
                    )
                }),
            );
        } else if code == 0 {
            self.update(
                TaskState::TaskFinished,
                None,
                exit.message
                    .unwrap_or_else(|| "Command exited with status 0".into()),
            );
        } else {
            self.update(
                TaskState::TaskFailed,
                None,
                exit.message
                    .unwrap_or_else(|| format!("Command exited with status {code}")),
            );
        }
    }
}
