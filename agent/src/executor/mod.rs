//! The built-in command executor (`paddock executor`).
//!
//! The agent starts it inside the container's cgroup, in its own session.
//! It puts its children in a new PID namespace, subscribes to the agent's
//! executor API, runs the one task it is given under `paddock init`, and
//! reports its states. Updates are kept until acknowledged; if the agent
//! goes away (a restart) the task keeps running and the executor re-subscribes
//! with what is still unacknowledged.

mod client;
pub mod docker;
mod env;
mod task;

use std::time::{Duration, Instant};

use paddock_proto::executor::Event;
use paddock_proto::mesos::{
    now_secs, reason, ContainerStatus, FrameworkInfo, Source, TaskInfo, TaskState, TaskStatus,
};
use tokio::sync::mpsc;

use client::AgentClient;
pub use env::ExecutorEnv;

/// How long the executor waits for a vanished agent before giving up.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The whole `paddock executor` process.
pub fn run() -> i32 {
    // Before any thread exists: children go into a new PID namespace.
    if let Err(e) = paddock_isolation::ns::unshare_pid() {
        eprintln!("paddock executor: running without a PID namespace: {e}");
    }
    // A memory-limited container should lose its task, not its executor.
    let _ = std::fs::write("/proc/self/oom_score_adj", "-999");
    let env = match ExecutorEnv::from_env() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("paddock executor: {e}");
            return 2;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("paddock executor: cannot start a runtime: {e}");
            return 2;
        }
    };
    rt.block_on(async move { Executor::new(env).run().await })
}

enum Input {
    Event(Event),
    StreamEnded(String),
    Exited(std::process::ExitStatus),
    GraceOver,
}

struct Executor {
    env: ExecutorEnv,
    client: AgentClient,
    framework: Option<FrameworkInfo>,
    task: Option<TaskInfo>,
    init_pid: Option<i32>,
    kill_requested: bool,
    /// Sent but not yet acknowledged, oldest first.
    unacked: Vec<TaskStatus>,
    terminal_sent: bool,
    disconnected_since: Option<Instant>,
    shutdown: bool,
}

impl Executor {
    fn new(env: ExecutorEnv) -> Self {
        let client = AgentClient::new(&env);
        Executor {
            env,
            client,
            framework: None,
            task: None,
            init_pid: None,
            kill_requested: false,
            unacked: Vec::new(),
            terminal_sent: false,
            disconnected_since: None,
            shutdown: false,
        }
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
                Input::Exited(status) => self.on_exit(status),
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
        let Some(task) = &self.task else { return };
        let status = TaskStatus {
            task_id: task.task_id.clone(),
            state,
            message: Some(message.into()),
            source: Some(Source::SourceExecutor),
            reason: why.map(str::to_string),
            executor_id: Some(self.env.executor_id.clone()),
            timestamp: Some(now_secs()),
            uuid: Some(paddock_proto::mesos::new_update_uuid()),
            container_status: Some(ContainerStatus {
                container_id: self
                    .env
                    .container_id
                    .clone()
                    .map(paddock_proto::mesos::ContainerId::new),
                executor_pid: Some(std::process::id()),
            }),
            ..Default::default()
        };
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
        match task::spawn(&self.env, &info) {
            Ok(mut child) => {
                self.init_pid = child.id().map(|p| p as i32);
                let tx = tx.clone();
                tokio::spawn(async move {
                    if let Ok(status) = child.wait().await {
                        let _ = tx.send(Input::Exited(status));
                    }
                });
                self.update(TaskState::TaskRunning, None, "Command is running");
            }
            Err(e) => self.update(
                TaskState::TaskFailed,
                Some(reason::CONTAINER_LAUNCH_FAILED),
                e,
            ),
        }
    }

    fn kill(&mut self, grace: Duration, tx: &mpsc::UnboundedSender<Input>) {
        if self.terminal_sent || self.kill_requested {
            return;
        }
        let Some(pid) = self.init_pid else {
            if self.task.is_some() {
                self.update(TaskState::TaskKilled, None, "Killed before it started");
            }
            return;
        };
        self.kill_requested = true;
        let killing = self
            .framework
            .as_ref()
            .is_some_and(|f| f.has_capability("TASK_KILLING_STATE"));
        if killing {
            self.update(TaskState::TaskKilling, None, "Sent SIGTERM");
        }
        signal(pid, nix::sys::signal::Signal::SIGTERM);
        let tx = tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let _ = tx.send(Input::GraceOver);
        });
    }

    fn kill_now(&mut self) {
        if let Some(pid) = self.init_pid {
            // init is PID 1 of the namespace: its death takes every task
            // process with it.
            signal(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }

    fn on_exit(&mut self, status: std::process::ExitStatus) {
        use std::os::unix::process::ExitStatusExt;
        self.init_pid = None;
        let code = status
            .code()
            .or(status.signal().map(|s| 128 + s))
            .unwrap_or(-1);
        let oom = self.env.oom_kills();
        if self.kill_requested {
            self.update(
                TaskState::TaskKilled,
                None,
                format!("Command terminated (status {code})"),
            );
        } else if oom > 0 {
            self.update(
                TaskState::TaskFailed,
                Some(reason::CONTAINER_LIMITATION_MEMORY),
                format!(
                    "Memory limit exceeded: the task was OOM-killed ({oom} kill(s) in its cgroup)"
                ),
            );
        } else if code == 0 {
            self.update(
                TaskState::TaskFinished,
                None,
                "Command exited with status 0",
            );
        } else {
            self.update(
                TaskState::TaskFailed,
                None,
                format!("Command exited with status {code}"),
            );
        }
    }
}

fn signal(pid: i32, sig: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
}
