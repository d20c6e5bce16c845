//! Containers: a cgroup, a sandbox and an executor process per executor.
//!
//! A command task gets the built-in command executor (`paddock executor`);
//! a task with an ExecutorInfo gets that executor, reused for later tasks
//! with the same id. Executors run in their own session (pymesos executors
//! `killpg(0)` on shutdown) and are watched through a pidfd, so the same
//! code waits for executors this agent started and for ones it recovered.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use paddock_isolation::cgroups::{Cgroup, Limits};
use paddock_proto::executor::{Event as ExecEvent, KillEvent, LaunchEvent};
use paddock_proto::internal::agent_message::Kind;
use paddock_proto::internal::{AgentMessage, ExecutorExited};
use paddock_proto::mesos::{
    reason, CommandInfo, DurationInfo, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo,
    KillPolicy, Source, TaskId, TaskInfo, TaskState, TaskStatus,
};
use paddock_proto::resources::Resources;

use crate::checkpoint::ContainerRecord;
use crate::http::executor_api::encode;
use crate::state::{Agent, Container, Inner, TaskEntry, EXECUTOR_REGISTRATION_TIMEOUT};
use crate::updates;

/// What the command executor itself may use on top of its task (as Mesos).
const COMMAND_EXECUTOR_CPUS: f64 = 0.1;
const COMMAND_EXECUTOR_MEM_MB: f64 = 32.0;
/// Processes per container.
const PIDS_MAX: u64 = 4096;
/// Default kill grace period for tasks that name none.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3);
/// How long past the grace period an unanswered kill waits before the
/// agent destroys the container itself.
const KILL_ESCALATION: Duration = Duration::from_secs(5);

fn status(task: &TaskId, state: TaskState, why: &str, message: impl Into<String>) -> TaskStatus {
    TaskStatus {
        task_id: task.clone(),
        state,
        reason: Some(why.to_string()),
        message: Some(message.into()),
        source: Some(Source::SourceAgent),
        ..Default::default()
    }
}

fn report(agent: &Agent, inner: &mut Inner, fw: &FrameworkId, st: TaskStatus) {
    if let Err(e) = updates::enqueue(agent, inner, fw, st) {
        tracing::error!("{e}");
    }
}

fn limits_for(executor: &ExecutorInfo, command: bool, tasks: &[TaskInfo]) -> Limits {
    let mut r = Resources::from_mesos(&executor.resources).unwrap_or_default();
    for t in tasks {
        r.add(&Resources::from_mesos(&t.resources).unwrap_or_default());
    }
    let (mut cpus, mut mem) = (r.scalar("cpus"), r.scalar("mem"));
    if command {
        cpus += COMMAND_EXECUTOR_CPUS;
        mem += COMMAND_EXECUTOR_MEM_MB;
    }
    Limits {
        cpus: cpus.max(0.01),
        mem_bytes: (mem.max(32.0) * 1048576.0) as u64,
        pids_max: Some(PIDS_MAX),
    }
}

fn command_executor_info(agent: &Agent, fw: &FrameworkId, task: &TaskInfo) -> ExecutorInfo {
    ExecutorInfo {
        executor_id: ExecutorId::new(task.task_id.value.clone()),
        framework_id: Some(fw.clone()),
        name: Some(format!(
            "Command Executor (Task: {}) (Command: sh -c '{}')",
            task.task_id,
            task.command
                .as_ref()
                .and_then(|c| c.value.clone())
                .unwrap_or_default()
                .chars()
                .take(40)
                .collect::<String>()
        )),
        source: Some(task.task_id.value.clone()),
        command: Some(CommandInfo {
            value: Some(agent.config.executor_binary.display().to_string()),
            arguments: vec!["paddock".into(), "executor".into()],
            shell: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// RunTask from the master.
pub fn run_task(agent: &Arc<Agent>, framework: FrameworkInfo, task: TaskInfo) {
    let Some(fw) = framework.id.clone() else {
        tracing::error!(task = %task.task_id, "RunTask without a framework id");
        return;
    };
    let mut inner = agent.lock();
    inner.frameworks.insert(fw.clone(), framework.clone());
    if inner.tasks.contains_key(&task.task_id) {
        let st = status(
            &task.task_id,
            TaskState::TaskError,
            reason::TASK_INVALID,
            "task id already in use on this agent",
        );
        report(agent, &mut inner, &fw, st);
        return;
    }
    let (executor, command) = match &task.executor {
        Some(e) => {
            let mut e = e.clone();
            e.framework_id = Some(fw.clone());
            (e, false)
        }
        None => (command_executor_info(agent, &fw, &task), true),
    };
    let existing = inner
        .containers
        .iter()
        .find(|(_, c)| c.is(&fw, &executor.executor_id))
        .map(|(id, _)| id.clone());
    let entry = |cid: &str| TaskEntry {
        info: task.clone(),
        framework_id: fw.clone(),
        executor_id: executor.executor_id.clone(),
        container_id: cid.to_string(),
        state: TaskState::TaskStaging,
        statuses: vec![(TaskState::TaskStaging, paddock_proto::mesos::now_secs())],
    };
    if let Some(cid) = existing {
        inner.tasks.insert(task.task_id.clone(), entry(&cid));
        let Some(c) = inner.containers.get_mut(&cid) else {
            return;
        };
        c.record.tasks.push(task.clone());
        let limits = limits_for(
            &c.record.executor,
            c.record.command_executor,
            &c.record.tasks,
        );
        if let Ok(cg) = Cgroup::open(&agent.config.cgroup_root, &cid) {
            if let Err(e) = cg.update(&limits) {
                tracing::warn!(container = %cid, "cannot grow the container: {e}");
            }
        }
        let _ = agent.checkpoint.save_container(&c.record);
        match &c.executor_tx {
            Some(tx) => {
                let ev = ExecEvent::Launch {
                    launch: Box::new(LaunchEvent {
                        framework_info: framework,
                        task,
                    }),
                };
                let _ = tx.send(encode(&ev));
            }
            None => c.queued.push(task),
        }
        return;
    }

    let cid = uuid::Uuid::new_v4().to_string();
    inner.tasks.insert(task.task_id.clone(), entry(&cid));
    let agent_id = inner.agent_id.clone().unwrap_or_default();
    let sandbox = agent
        .config
        .work_dir
        .join("slaves")
        .join(&agent_id.value)
        .join("frameworks")
        .join(&fw.value)
        .join("executors")
        .join(&executor.executor_id.value)
        .join("runs")
        .join(&cid);
    let record = ContainerRecord {
        container_id: cid.clone(),
        framework,
        executor,
        command_executor: command,
        sandbox,
        pid: None,
        pid_start: None,
        tasks: vec![task.clone()],
    };
    match launch(agent, &inner, &record) {
        Ok(pid) => {
            let mut record = record;
            record.pid = Some(pid);
            if let Err(e) = agent.checkpoint.save_container(&record) {
                tracing::error!(container = %cid, "cannot checkpoint the container: {e}");
            }
            inner.containers.insert(
                cid.clone(),
                Container {
                    record,
                    executor_tx: None,
                    stream_gen: 0,
                    queued: vec![task],
                    started: Instant::now(),
                    ever_subscribed: false,
                    recovered: false,
                    kill_deadline: None,
                    kill_requested: false,
                    pending_kills: Vec::new(),
                },
            );
            drop(inner);
            watch(agent.clone(), cid, pid);
        }
        Err(msg) => {
            tracing::warn!(task = %task.task_id, "launch failed: {msg}");
            agent.checkpoint.remove_container(&cid);
            let st = status(
                &task.task_id,
                TaskState::TaskFailed,
                reason::CONTAINER_LAUNCH_FAILED,
                msg,
            );
            report(agent, &mut inner, &fw, st);
            if let Some(t) = inner.tasks.remove(&task.task_id) {
                inner.archive(record, vec![t]);
            }
        }
    }
}

/// Creates the cgroup and sandbox and starts the executor. Returns its pid.
fn launch(agent: &Agent, inner: &Inner, record: &ContainerRecord) -> Result<u32, String> {
    paddock_isolation::oci::trace::stage("agent: launch");
    for task in &record.tasks {
        crate::docker::admit(&agent.config, task)?;
    }
    std::fs::create_dir_all(&record.sandbox)
        .map_err(|e| format!("cannot create sandbox {}: {e}", record.sandbox.display()))?;
    agent
        .checkpoint
        .save_container(record)
        .map_err(|e| format!("cannot checkpoint the container: {e}"))?;
    let limits = limits_for(&record.executor, record.command_executor, &record.tasks);
    let cgroup = Cgroup::create(&agent.config.cgroup_root, &record.container_id, &limits)
        .map_err(|e| format!("cannot create the container's cgroup: {e}"))?;
    let cmd_info = record.executor.command.clone().unwrap_or_default();
    let env = executor_env(agent, inner, record, &cmd_info);
    if record.command_executor {
        if let Some(pid) = launch_forked(agent, record, &cgroup, &env) {
            paddock_isolation::oci::trace::stage("agent: spawned");
            return Ok(pid);
        }
    }
    let (joiner, cpu_later) = cgroup.joiner_cpu_later().map_err(|e| e.to_string())?;
    let open = |name: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(record.sandbox.join(name))
            .map_err(|e| format!("cannot open sandbox {name}: {e}"))
    };
    let (stdout, stderr) = (open("stdout")?, open("stderr")?);
    let search = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str());
    let spawned = executor_spawn(agent, record, &cmd_info, search.map(std::ffi::OsStr::new))
        .and_then(|mut spec| {
            for (k, v) in &env {
                spec.env(k, v)?;
            }
            spec.current_dir(&record.sandbox)?;
            spec.new_session();
            let null = std::fs::File::open("/dev/null")?;
            let stdio = paddock_isolation::spawn::Stdio {
                stdin: null.as_fd(),
                stdout: stdout.as_fd(),
                stderr: stderr.as_fd(),
            };
            paddock_isolation::oci::trace::stage("agent: spawn");
            let pid = paddock_isolation::spawn::spawn(&spec, stdio, Some(&joiner))?;
            if let Err(e) = Cgroup::add_pid_to(&cpu_later, pid) {
                // Never leave an executor outside its CPU limits.
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid as i32), None);
                return Err(std::io::Error::other(format!(
                    "cannot join its cpu cgroup: {e}"
                )));
            }
            Ok(pid)
        });
    match spawned {
        Ok(pid) => {
            paddock_isolation::oci::trace::stage("agent: spawned");
            // The watcher reaps it, and records its start time first.
            Ok(pid)
        }
        Err(e) => {
            let _ = cgroup.destroy();
            Err(format!("cannot start the executor: {e}"))
        }
    }
}

/// Our command executor, forked by the launcher (`paddock_isolation::launcher`)
/// instead of exec'd: its pid, or `None` to spawn it the usual way (no
/// launcher, or it is gone).
fn launch_forked(
    agent: &Agent,
    record: &ContainerRecord,
    cgroup: &Cgroup,
    env: &[(String, String)],
) -> Option<u32> {
    use paddock_isolation::launcher::{Launch, Launcher};
    let launcher = agent.launcher.get_or_init(|| {
        match Launcher::start(&agent.config.executor_binary) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start the executor launcher; executors are spawned with exec");
                None
            }
        }
    });
    let launch = Launch {
        env: env.iter().map(|(k, v)| (k.into(), v.into())).collect(),
        cwd: record.sandbox.clone(),
        stdout: record.sandbox.join("stdout"),
        stderr: record.sandbox.join("stderr"),
        cgroups: cgroup.dirs(),
    };
    paddock_isolation::oci::trace::stage("agent: spawn");
    match launcher.as_ref()?.launch(&launch) {
        Ok(pid) => Some(pid),
        Err(e) => {
            tracing::warn!(container = %record.container_id, error = %e, "the launcher could not start the executor; spawning it");
            None
        }
    }
}

/// The program and argv of an executor: ours, or a custom one's command
/// (`sh -c VALUE`, or VALUE with its arguments when `shell` is false).
fn executor_spawn(
    agent: &Agent,
    record: &ContainerRecord,
    cmd_info: &CommandInfo,
    search: Option<&std::ffi::OsStr>,
) -> std::io::Result<paddock_isolation::spawn::Spawn> {
    use paddock_isolation::spawn::Spawn;
    let value = cmd_info.value.clone().unwrap_or_default();
    if record.command_executor {
        let bin = agent.config.executor_binary.as_os_str();
        Spawn::new(bin, &[bin, std::ffi::OsStr::new("executor")], None)
    } else if cmd_info.shell.unwrap_or(true) {
        Spawn::new("/bin/sh", &["sh", "-c", value.as_str()], None)
    } else {
        let mut argv = vec![value.clone()];
        argv.extend(cmd_info.arguments.iter().skip(1).cloned());
        Spawn::new(&value, &argv, search)
    }
}

/// The environment an executor starts with: the agent's own few variables
/// and Mesos's, and a custom executor's command environment.
fn executor_env(
    agent: &Agent,
    inner: &Inner,
    record: &ContainerRecord,
    cmd_info: &CommandInfo,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        "PATH",
        "LANG",
        "LC_ALL",
        "TZ",
        "RUST_LOG",
        "HOME",
        "DOCKER_HOST",
        paddock_isolation::oci::trace::ENV,
    ]
    .iter()
    .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?)))
    .collect();
    if std::env::var_os("PATH").is_none() {
        env.push((
            "PATH".into(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ));
    }
    let fw = record.framework.id.clone().unwrap_or_default();
    let dir = record.sandbox.display().to_string();
    let agent_id = inner.agent_id.clone().unwrap_or_default();
    let mut set = |k: &str, v: String| {
        env.retain(|(key, _)| key != k);
        env.push((k.to_string(), v));
    };
    set("MESOS_FRAMEWORK_ID", fw.value);
    set(
        "MESOS_EXECUTOR_ID",
        record.executor.executor_id.value.clone(),
    );
    set("MESOS_DIRECTORY", dir.clone());
    set("MESOS_SANDBOX", dir);
    set("MESOS_AGENT_ENDPOINT", agent.endpoint());
    set("MESOS_SLAVE_ID", agent_id.value);
    set("MESOS_SLAVE_PID", agent.pid());
    set("MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD", "5secs".into());
    set("PADDOCK_AGENT_HOSTNAME", agent.config.hostname.clone());
    if record.command_executor {
        set("MESOS_HTTP_COMMAND_EXECUTOR", "1".into());
        set("PADDOCK_CONTAINER_ID", record.container_id.clone());
        set("PADDOCK_CGROUP_ROOT", agent.config.cgroup_root.clone());
    } else if let Some(vars) = &cmd_info.environment {
        for v in &vars.variables {
            set(&v.name, v.value.clone().unwrap_or_default());
        }
    }
    env
}

/// /proc/PID/stat field 22: the start time, to tell a pid from its reuse.
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After "(comm)", field 3 (state) is index 0, so field 22 is index 19.
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Waits for `pid` to exit (pidfd, or /proc polling where pidfds are not
/// available) and reaps it if it is our child: its exit code, or 128 plus
/// the signal that killed it.
pub(crate) async fn wait_exit(pid: u32) -> Option<i32> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_int, 0) };
    let start = process_start(pid);
    if fd >= 0 {
        // SAFETY: the fd was just returned to us and is owned only here.
        let owned = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // SAFETY: the AsyncFd owns the pidfd, so it stays open while registered.
        let registered = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE)
        };
        match registered {
            Ok(afd) => {
                let _ = afd.readable().await;
            }
            Err(_) => poll_exit(pid, start).await,
        }
    } else {
        poll_exit(pid, start).await;
    }
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    match waitpid(
        nix::unistd::Pid::from_raw(pid as i32),
        Some(WaitPidFlag::WNOHANG),
    ) {
        Ok(WaitStatus::Exited(_, code)) => Some(code),
        Ok(WaitStatus::Signaled(_, sig, _)) => Some(128 + sig as i32),
        _ => None,
    }
}

async fn poll_exit(pid: u32, start: Option<u64>) {
    while start.is_some() && process_start(pid) == start {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Watches an executor and cleans up after it.
pub fn watch(agent: Arc<Agent>, cid: String, pid: u32) {
    tokio::spawn(async move {
        record_start(&agent, &cid, pid).await;
        let code = tokio::select! {
            code = wait_exit(pid) => code,
            _ = agent.stop.cancelled() => return,
        };
        tracing::info!(container = %cid, pid, code = ?code, "executor exited");
        executor_exited(&agent, &cid, code);
    });
}

/// Checkpoints a new executor's start time, which tells its pid from a
/// reuse after an agent restart. Read here, off the launch path: reading
/// /proc/PID/stat of a process that is still loading waited several ms a
/// launch under a burst. The pid cannot be reused meanwhile: only the
/// watcher reaps it. Until then the record has no start time, and a
/// recovering agent would treat the executor as gone.
async fn record_start(agent: &Arc<Agent>, cid: &str, pid: u32) {
    let known = agent
        .lock()
        .containers
        .get(cid)
        .is_some_and(|c| c.record.pid_start.is_some());
    if known {
        return;
    }
    let start = tokio::task::spawn_blocking(move || process_start(pid))
        .await
        .ok()
        .flatten();
    let mut inner = agent.lock();
    if let Some(c) = inner.containers.get_mut(cid) {
        if c.record.pid == Some(pid) && c.record.pid_start.is_none() {
            c.record.pid_start = start;
            if let Err(e) = agent.checkpoint.save_container(&c.record) {
                tracing::error!(container = %cid, "cannot checkpoint the container: {e}");
            }
        }
    }
}

/// The executor is gone: tasks without a terminal update get one, the
/// container is destroyed and the master told.
pub fn executor_exited(agent: &Arc<Agent>, cid: &str, code: Option<i32>) {
    let mut inner = agent.lock();
    let Some(c) = inner.containers.remove(cid) else {
        return;
    };
    let fw = c.framework_id();
    let oom = Cgroup::open(&agent.config.cgroup_root, cid)
        .and_then(|cg| cg.oom_kills())
        .unwrap_or(0);
    let mut ended = Vec::new();
    for t in &c.record.tasks {
        let Some(entry) = inner.tasks.get(&t.task_id).cloned() else {
            continue;
        };
        if !entry.state.is_terminal() {
            let st = if oom > 0 {
                let limit = limits_for(
                    &c.record.executor,
                    c.record.command_executor,
                    &c.record.tasks,
                )
                .mem_bytes;
                status(
                    &t.task_id,
                    TaskState::TaskFailed,
                    reason::CONTAINER_LIMITATION_MEMORY,
                    format!(
                        "Memory limit exceeded: the container's limit is {} MB",
                        limit / 1048576
                    ),
                )
            } else if c.kill_requested {
                status(
                    &t.task_id,
                    TaskState::TaskKilled,
                    reason::EXECUTOR_TERMINATED,
                    "Killed by the agent",
                )
            } else if !c.ever_subscribed && !c.recovered {
                status(&t.task_id, TaskState::TaskFailed, reason::EXECUTOR_TERMINATED, format!("Executor exited before registering (status {code:?}); see the sandbox's stderr"))
            } else {
                let why = if c.record.command_executor {
                    reason::COMMAND_EXECUTOR_FAILED
                } else {
                    reason::EXECUTOR_TERMINATED
                };
                status(
                    &t.task_id,
                    TaskState::TaskFailed,
                    why,
                    format!("Executor terminated (status {code:?})"),
                )
            };
            let mut st = st;
            st.executor_id = Some(c.executor_id().clone());
            report(agent, &mut inner, &fw, st);
        }
        if let Some(entry) = inner.tasks.remove(&t.task_id) {
            ended.push(entry);
        }
    }
    inner.send_master(AgentMessage {
        kind: Some(Kind::ExecutorExited(ExecutorExited {
            framework_id: fw.value.clone(),
            executor_id: c.executor_id().value.clone(),
            status: code.unwrap_or(-1),
        })),
    });
    agent.checkpoint.remove_container(cid);
    inner.archive(c.record, ended);
    drop(inner);
    let root = agent.config.cgroup_root.clone();
    let cid = cid.to_string();
    tokio::task::spawn_blocking(move || {
        if let Ok(cg) = Cgroup::open(&root, &cid) {
            if let Err(e) = cg.destroy() {
                tracing::warn!(container = %cid, "cannot destroy cgroup: {e}");
            }
        }
    });
}

/// SIGKILLs everything in the container; its watcher then reports.
fn destroy(agent: &Agent, cid: &str) {
    let root = agent.config.cgroup_root.clone();
    let cid = cid.to_string();
    tokio::task::spawn_blocking(move || match Cgroup::open(&root, &cid) {
        Ok(cg) => {
            if let Err(e) = cg.kill_all() {
                tracing::warn!(container = %cid, "kill: {e}");
            }
        }
        Err(e) => tracing::warn!(container = %cid, "kill: {e}"),
    });
}

/// A limit the agent watches itself (disk) was exceeded: the container's
/// unfinished tasks fail with `why` and `message` and the container is
/// destroyed (SIGKILL to its cgroup); its watcher then finds those tasks
/// already terminal and reports nothing more for them.
pub fn fail_for_limitation(agent: &Arc<Agent>, cid: &str, why: &str, message: &str) {
    let mut inner = agent.lock();
    let Some(c) = inner.containers.get_mut(cid) else {
        return;
    };
    c.kill_requested = true;
    let (fw, exec) = (c.framework_id(), c.executor_id().clone());
    let tasks: Vec<TaskId> = c.record.tasks.iter().map(|t| t.task_id.clone()).collect();
    for task in tasks {
        if inner
            .tasks
            .get(&task)
            .is_some_and(|t| !t.state.is_terminal())
        {
            let mut st = status(&task, TaskState::TaskFailed, why, message);
            st.executor_id = Some(exec.clone());
            report(agent, &mut inner, &fw, st);
        }
    }
    drop(inner);
    destroy(agent, cid);
}

fn grace_of(policy: Option<&KillPolicy>) -> Option<Duration> {
    policy
        .and_then(|p| p.grace_period)
        .map(|d| Duration::from_nanos(d.nanoseconds.max(0) as u64))
}

/// KillTask from the master.
pub fn kill_task(agent: &Arc<Agent>, fw: &FrameworkId, task: &TaskId, grace_override: f64) {
    let mut inner = agent.lock();
    let Some(entry) = inner.tasks.get(task).cloned() else {
        let st = status(
            task,
            TaskState::TaskLost,
            reason::TASK_UNKNOWN,
            "Cannot kill a task this agent does not know",
        );
        report(agent, &mut inner, fw, st);
        return;
    };
    if entry.state.is_terminal() {
        return;
    }
    let grace = if grace_override > 0.0 {
        Some(Duration::from_secs_f64(grace_override))
    } else {
        grace_of(entry.info.kill_policy.as_ref())
    };
    let Some(c) = inner.containers.get_mut(&entry.container_id) else {
        return;
    };
    if let Some(pos) = c.queued.iter().position(|t| &t.task_id == task) {
        c.queued.remove(pos);
        let only = c.record.tasks.len() == 1;
        let st = status(
            task,
            TaskState::TaskKilled,
            reason::TASK_KILLED_DURING_LAUNCH,
            "Killed before the executor started it",
        );
        report(agent, &mut inner, fw, st);
        if only {
            if let Some(c) = inner.containers.get_mut(&entry.container_id) {
                c.kill_requested = true;
            }
            destroy(agent, &entry.container_id);
        }
        return;
    }
    let deadline = Instant::now() + grace.unwrap_or(DEFAULT_GRACE) + KILL_ESCALATION;
    c.kill_deadline = Some(c.kill_deadline.map_or(deadline, |d| d.min(deadline)));
    c.kill_requested = true;
    let kill = KillEvent {
        task_id: task.clone(),
        kill_policy: grace.map(|g| KillPolicy {
            grace_period: Some(DurationInfo {
                nanoseconds: g.as_nanos() as i64,
            }),
        }),
    };
    match &c.executor_tx {
        Some(tx) => {
            let _ = tx.send(encode(&ExecEvent::Kill { kill }));
        }
        None => c.pending_kills.push(kill),
    }
}

/// ShutdownFramework: every executor of the framework goes.
pub fn shutdown_framework(agent: &Arc<Agent>, fw: &FrameworkId) {
    let mut inner = agent.lock();
    let deadline = Instant::now() + Duration::from_secs(5);
    for c in inner
        .containers
        .values_mut()
        .filter(|c| &c.framework_id() == fw)
    {
        c.kill_requested = true;
        c.kill_deadline = Some(deadline);
        if let Some(tx) = &c.executor_tx {
            let _ = tx.send(encode(&ExecEvent::Shutdown));
        }
    }
    inner.frameworks.remove(fw);
}

/// Kill escalation and executor (re)registration timeouts.
pub fn check_deadlines(agent: &Arc<Agent>, now: Instant, recovery_deadline: Instant) {
    let mut to_destroy = Vec::new();
    {
        let mut inner = agent.lock();
        for (cid, c) in inner.containers.iter_mut() {
            if c.kill_deadline.is_some_and(|d| d <= now) {
                c.kill_deadline = None;
                to_destroy.push(cid.clone());
            } else if !c.ever_subscribed
                && !c.recovered
                && now.duration_since(c.started) > EXECUTOR_REGISTRATION_TIMEOUT
            {
                c.ever_subscribed = true;
                to_destroy.push(cid.clone());
            } else if c.recovered && c.executor_tx.is_none() && now >= recovery_deadline {
                c.recovered = false;
                c.ever_subscribed = true;
                tracing::warn!(container = %cid, "executor did not reconnect after the agent restarted");
                to_destroy.push(cid.clone());
            }
        }
    }
    for cid in to_destroy {
        destroy(agent, &cid);
    }
}

/// Rebuilds containers from the checkpoint after a restart.
pub fn recover(agent: &Arc<Agent>) {
    let mut inner = agent.lock();
    let latest = updates::recover(agent, &mut inner);
    let state_of = |task: &TaskId| {
        latest
            .iter()
            .find(|(_, t, _)| t == task)
            .map(|(_, _, s)| *s)
            .unwrap_or(TaskState::TaskStaging)
    };
    let mut dead = Vec::new();
    for record in agent.checkpoint.containers() {
        let fw = record.framework.id.clone().unwrap_or_default();
        inner
            .frameworks
            .insert(fw.clone(), record.framework.clone());
        for t in &record.tasks {
            inner.tasks.insert(
                t.task_id.clone(),
                TaskEntry {
                    info: t.clone(),
                    framework_id: fw.clone(),
                    executor_id: record.executor.executor_id.clone(),
                    container_id: record.container_id.clone(),
                    state: state_of(&t.task_id),
                    statuses: vec![(state_of(&t.task_id), paddock_proto::mesos::now_secs())],
                },
            );
        }
        let alive = record
            .pid
            .is_some_and(|p| record.pid_start.is_some() && process_start(p) == record.pid_start);
        let cid = record.container_id.clone();
        let pid = record.pid;
        tracing::info!(container = %cid, alive, "recovering container");
        inner.containers.insert(
            cid.clone(),
            Container {
                record,
                executor_tx: None,
                stream_gen: 0,
                queued: Vec::new(),
                started: Instant::now(),
                ever_subscribed: true,
                recovered: true,
                kill_deadline: None,
                kill_requested: false,
                pending_kills: Vec::new(),
            },
        );
        match (alive, pid) {
            (true, Some(pid)) => watch(agent.clone(), cid.clone(), pid),
            _ => dead.push(cid),
        }
    }
    drop(inner);
    for cid in dead {
        executor_exited(agent, &cid, None);
    }
}
