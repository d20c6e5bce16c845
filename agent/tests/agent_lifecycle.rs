//! The agent against a test double of the master's side of the gRPC link:
//! real command executors, real cgroups, real processes (run as root).
//!
//! The double registers the agent, records what it sends and acknowledges
//! every status update the way a framework behind the master would.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::Stream;
use paddock_agent::{AgentConfig, AgentError};
use paddock_isolation::cgroups::Cgroup;
use paddock_proto::internal::agent_link_server::{AgentLink, AgentLinkServer};
use paddock_proto::internal::agent_message::Kind as Up;
use paddock_proto::internal::master_message::Kind as Down;
use paddock_proto::internal::{
    Acknowledge, AgentMessage, ExecutorExited, KillTask, MasterMessage, Register, Registered,
    RunTask,
};
use paddock_proto::mesos::{
    AgentId, CommandInfo, FrameworkId, FrameworkInfo, Source, TaskId, TaskInfo, TaskState,
    TaskStatus,
};
use paddock_proto::resources::Resources;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tonic::{Request, Response, Status, Streaming};

const AGENT_ID: &str = "test-agent-1";
const FW: &str = "fw-1";
const HOSTNAME: &str = "test-host";

#[derive(Default)]
struct Log {
    registers: Vec<Register>,
    updates: Vec<(String, TaskStatus)>,
    exited: Vec<ExecutorExited>,
    heartbeats: u64,
    to_agent: Option<mpsc::UnboundedSender<Result<MasterMessage, Status>>>,
}

#[derive(Clone, Default)]
struct FakeMaster {
    log: Arc<Mutex<Log>>,
}

type MasterStream = Pin<Box<dyn Stream<Item = Result<MasterMessage, Status>> + Send>>;

fn down(kind: Down) -> Result<MasterMessage, Status> {
    Ok(MasterMessage { kind: Some(kind) })
}

#[tonic::async_trait]
impl AgentLink for FakeMaster {
    type SessionStream = MasterStream;

    async fn session(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<MasterStream>, Status> {
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::unbounded_channel();
        let log = self.log.clone();
        tokio::spawn(async move {
            while let Ok(Some(msg)) = inbound.message().await {
                let mut l = log.lock().unwrap();
                match msg.kind {
                    Some(Up::Register(r)) => {
                        let id = if r.agent_id.is_empty() {
                            AGENT_ID.to_string()
                        } else {
                            r.agent_id.clone()
                        };
                        l.registers.push(r);
                        let _ = tx.send(down(Down::Registered(Registered {
                            agent_id: id,
                            master_id: "fake-master".into(),
                            heartbeat_interval_ms: 100,
                        })));
                        l.to_agent = Some(tx.clone());
                    }
                    Some(Up::Heartbeat(_)) => l.heartbeats += 1,
                    Some(Up::StatusUpdate(u)) => {
                        let st: TaskStatus = serde_json::from_str(&u.status_json).unwrap();
                        if let Some(uuid) = &st.uuid {
                            let _ = tx.send(down(Down::Acknowledge(Acknowledge {
                                framework_id: u.framework_id.clone(),
                                task_id: st.task_id.value.clone(),
                                uuid: uuid.clone(),
                            })));
                        }
                        l.updates.push((u.framework_id, st));
                    }
                    Some(Up::ExecutorExited(e)) => l.exited.push(e),
                    None => {}
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::UnboundedReceiverStream::new(rx),
        )))
    }
}

type AgentRun = (
    oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), AgentError>>,
);

struct Harness {
    master: FakeMaster,
    master_addr: SocketAddr,
    work: tempfile::TempDir,
    port: u16,
    cgroup_root: String,
    agent: Option<AgentRun>,
    http: reqwest::Client,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn command_task(id: &str, cmd: &str, resources: &str) -> TaskInfo {
    TaskInfo {
        name: id.into(),
        task_id: TaskId::new(id),
        agent_id: AgentId::new(AGENT_ID),
        resources: Resources::parse(resources).unwrap().to_mesos(None),
        command: Some(CommandInfo {
            value: Some(cmd.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn process_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
    })
}

impl Harness {
    async fn new(name: &str) -> Harness {
        let master = FakeMaster::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let master_addr = listener.local_addr().unwrap();
        let svc = AgentLinkServer::new(master.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        Harness {
            master,
            master_addr,
            work: tempfile::tempdir().unwrap(),
            port: free_port(),
            cgroup_root: format!("paddock-agent-test-{}-{name}", std::process::id()),
            agent: None,
            http: reqwest::Client::new(),
        }
    }

    fn config(&self) -> AgentConfig {
        AgentConfig {
            master: self.master_addr.to_string(),
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: self.port,
            hostname: HOSTNAME.into(),
            advertise_ip: "127.0.0.1".into(),
            work_dir: self.work.path().to_path_buf(),
            resources: Some(Resources::parse("cpus:2;mem:1024;disk:1000").unwrap()),
            attributes: Vec::new(),
            executor_binary: PathBuf::from(env!("CARGO_BIN_EXE_paddock-agent-test-exec")),
            cgroup_root: self.cgroup_root.clone(),
            executor_reregister_timeout: Duration::from_secs(15),
            containerizers: vec!["mesos".into()],
            disk_watch_interval: std::time::Duration::from_secs(15),
            enforce_disk_quota: true,
            registries: Default::default(),
            cni: Default::default(),
        }
    }

    /// Starts an agent and waits until it has registered `registrations`
    /// times in all.
    async fn start_agent(&mut self, registrations: usize) -> Register {
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(paddock_agent::run(self.config(), async move {
            let _ = rx.await;
        }));
        self.agent = Some((tx, handle));
        let log = self.master.log.clone();
        wait_for("registration", Duration::from_secs(20), || {
            log.lock()
                .unwrap()
                .registers
                .get(registrations - 1)
                .cloned()
        })
        .await
    }

    /// Stops the agent; `run` must return even with executors subscribed.
    async fn stop_agent(&mut self) {
        let (tx, handle) = self.agent.take().unwrap();
        let _ = tx.send(());
        let result = tokio::time::timeout(Duration::from_secs(10), handle)
            .await
            .expect("the agent did not stop within 10 s")
            .unwrap();
        assert!(result.is_ok(), "{result:?}");
    }

    fn send(&self, kind: Down) {
        let l = self.master.log.lock().unwrap();
        l.to_agent.as_ref().unwrap().send(down(kind)).unwrap();
    }

    fn framework() -> FrameworkInfo {
        FrameworkInfo {
            user: "root".into(),
            name: "agent-test".into(),
            id: Some(FrameworkId::new(FW)),
            ..Default::default()
        }
    }

    fn run_task(&self, task: &TaskInfo) {
        self.send(Down::RunTask(RunTask {
            framework_json: serde_json::to_string(&Self::framework()).unwrap(),
            task_json: serde_json::to_string(task).unwrap(),
        }));
    }

    fn kill(&self, task: &str, grace_secs: f64) {
        self.send(Down::KillTask(KillTask {
            framework_id: FW.into(),
            task_id: task.into(),
            grace_period_secs: grace_secs,
        }));
    }

    /// The task's updates as the master saw them, one per uuid, in order.
    fn updates(&self, task: &str) -> Vec<TaskStatus> {
        let l = self.master.log.lock().unwrap();
        let mut seen = std::collections::HashSet::new();
        l.updates
            .iter()
            .filter(|(_, s)| s.task_id.value == task)
            .filter(|(_, s)| seen.insert(s.uuid.clone()))
            .map(|(_, s)| s.clone())
            .collect()
    }

    async fn wait_state(&self, task: &str, state: TaskState, timeout: Duration) -> TaskStatus {
        wait_for(&format!("{task} {state}"), timeout, || {
            self.updates(task).into_iter().find(|s| s.state == state)
        })
        .await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn sandbox_file(&self, executor: &str, name: &str) -> PathBuf {
        let runs = self.work.path().join(format!(
            "slaves/{AGENT_ID}/frameworks/{FW}/executors/{executor}/runs"
        ));
        let run = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap();
        run.path().join(name)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        for id in Cgroup::list(&self.cgroup_root).unwrap_or_default() {
            if let Ok(cg) = Cgroup::open(&self.cgroup_root, &id) {
                let _ = cg.destroy();
            }
        }
        for ctrl in ["cpu", "cpuacct", "memory", "pids", "freezer", ""] {
            let _ = std::fs::remove_dir(
                PathBuf::from("/sys/fs/cgroup")
                    .join(ctrl)
                    .join(&self.cgroup_root),
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn command_task_runs_reports_and_is_cleaned_up() {
    let mut h = Harness::new("echo").await;
    let first = h.start_agent(1).await;
    assert_eq!(first.agent_id, "", "a fresh agent registers without an id");
    assert_eq!(first.hostname, HOSTNAME);
    let id_file = h.work.path().join("meta/agent_id");
    wait_for("the checkpointed agent id", Duration::from_secs(5), || {
        (std::fs::read_to_string(&id_file).ok()?.trim() == AGENT_ID).then_some(())
    })
    .await;
    let log = h.master.log.clone();
    wait_for("heartbeats", Duration::from_secs(5), || {
        (log.lock().unwrap().heartbeats >= 2).then_some(())
    })
    .await;

    let (code, _) = h.get("/health").await;
    assert_eq!(code, 200);
    let (code, state) = h.get("/state").await;
    assert_eq!(code, 200);
    assert_eq!(state["id"], AGENT_ID);
    assert_eq!(state["resources"]["cpus"], 2.0);
    assert_eq!(state["resources"]["ports"], "[31000-32000]");

    h.run_task(&command_task(
        "t-echo",
        "echo hello; echo $PORT0 $PORT $PORTS $MESOS_TASK_ID $HOST",
        "cpus:0.1;mem:32;ports:[31005-31006]",
    ));
    let done = h
        .wait_state("t-echo", TaskState::TaskFinished, Duration::from_secs(30))
        .await;
    assert_eq!(
        done.message.as_deref(),
        Some("Command exited with status 0")
    );
    let states: Vec<TaskState> = h.updates("t-echo").iter().map(|s| s.state).collect();
    assert_eq!(states, [TaskState::TaskRunning, TaskState::TaskFinished]);
    for s in h.updates("t-echo") {
        assert_eq!(s.agent_id, Some(AgentId::new(AGENT_ID)), "{s:?}");
        assert_eq!(s.executor_id.as_ref().unwrap().value, "t-echo");
        assert!(!s.uuid.clone().unwrap_or_default().is_empty());
        assert_eq!(s.source, Some(Source::SourceExecutor));
    }
    let running = h
        .wait_state("t-echo", TaskState::TaskRunning, Duration::ZERO)
        .await;
    assert!(running
        .container_status
        .and_then(|c| c.executor_pid)
        .is_some());

    let stdout = h.sandbox_file("t-echo", "stdout");
    let text = std::fs::read_to_string(&stdout).unwrap();
    assert!(
        text.contains("hello\n31005 31005 31005,31006 t-echo test-host\n"),
        "{text}"
    );

    // Acknowledged to the end: the executor exits, the master hears of it,
    // and the update stream, the container record and the cgroup go.
    wait_for("ExecutorExited", Duration::from_secs(15), || {
        log.lock()
            .unwrap()
            .exited
            .iter()
            .any(|e| e.executor_id == "t-echo" && e.status == 0)
            .then_some(())
    })
    .await;
    let meta = h.work.path().join("meta");
    wait_for("checkpoint cleanup", Duration::from_secs(10), || {
        let streams = walk_files(&meta.join("updates"));
        let containers = walk_files(&meta.join("containers"));
        (streams.is_empty() && containers.is_empty()).then_some(())
    })
    .await;
    let root = h.cgroup_root.clone();
    wait_for("cgroup removal", Duration::from_secs(10), || {
        Cgroup::list(&root).unwrap().is_empty().then_some(())
    })
    .await;

    // The sandbox stays readable through /files, and only the sandbox.
    let path = stdout.display().to_string();
    let (code, read) = h.get(&format!("/files/read?path={path}&offset=0")).await;
    assert_eq!(code, 200);
    assert!(
        read["data"].as_str().unwrap().starts_with("hello\n"),
        "{read}"
    );
    let (code, end) = h.get(&format!("/files/read?path={path}&offset=-1")).await;
    assert_eq!(code, 200);
    assert_eq!(end["offset"], text.len() as u64);
    let (code, body) = h.get("/files/read?path=/etc/passwd").await;
    assert_eq!(code, 403, "{body}");
    assert!(body["message"].is_string());
    let dir = stdout.parent().unwrap().display().to_string();
    let (code, listing) = h.get(&format!("/files/browse?path={dir}")).await;
    assert_eq!(code, 200);
    assert!(listing
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["path"].as_str().unwrap().ends_with("/stdout")));

    let (_, state) = h.get("/state").await;
    let completed = &state["completed_frameworks"][0]["completed_executors"];
    let fw = state["frameworks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == FW)
        .map(|f| &f["completed_executors"])
        .unwrap_or(completed);
    assert!(
        fw.as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == "t-echo" && e["completed_tasks"][0]["state"] == "TASK_FINISHED"),
        "{state}"
    );
    h.stop_agent().await;
}

fn walk_files(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        if e.path().is_dir() {
            out.extend(walk_files(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_failure_and_unknown_tasks_are_reported() {
    let mut h = Harness::new("kill").await;
    h.start_agent(1).await;

    h.run_task(&command_task("t-fail", "exit 3", "cpus:0.1;mem:32"));
    let failed = h
        .wait_state("t-fail", TaskState::TaskFailed, Duration::from_secs(30))
        .await;
    assert_eq!(
        failed.message.as_deref(),
        Some("Command exited with status 3")
    );

    h.run_task(&command_task("t-sleep", "sleep 1000", "cpus:0.1;mem:32"));
    let running = h
        .wait_state("t-sleep", TaskState::TaskRunning, Duration::from_secs(30))
        .await;
    let executor = running.container_status.unwrap().executor_pid.unwrap();
    assert!(process_alive(executor));
    let asked = Instant::now();
    h.kill("t-sleep", 2.0);
    let killed = h
        .wait_state("t-sleep", TaskState::TaskKilled, Duration::from_secs(10))
        .await;
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(killed.source, Some(Source::SourceExecutor));
    wait_for("the executor to exit", Duration::from_secs(10), || {
        (!process_alive(executor)).then_some(())
    })
    .await;

    h.kill("t-nobody", 0.0);
    let lost = h
        .wait_state("t-nobody", TaskState::TaskLost, Duration::from_secs(10))
        .await;
    assert_eq!(lost.reason.as_deref(), Some("REASON_TASK_UNKNOWN"));
    assert_eq!(lost.agent_id, Some(AgentId::new(AGENT_ID)));
    h.stop_agent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_hog_fails_with_memory_limitation() {
    let mut h = Harness::new("oom").await;
    h.start_agent(1).await;
    // tail keeps everything it reads from newline-free /dev/zero.
    h.run_task(&command_task(
        "t-hog",
        "head -c 400m /dev/zero | tail",
        "cpus:0.5;mem:32",
    ));
    let failed = h
        .wait_state("t-hog", TaskState::TaskFailed, Duration::from_secs(60))
        .await;
    assert_eq!(
        failed.reason.as_deref(),
        Some("REASON_CONTAINER_LIMITATION_MEMORY"),
        "{failed:?}"
    );
    h.stop_agent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tasks_outlive_an_agent_restart_and_can_still_be_killed() {
    let mut h = Harness::new("restart").await;
    h.start_agent(1).await;
    h.run_task(&command_task("t-long", "sleep 1000", "cpus:0.1;mem:32"));
    let running = h
        .wait_state("t-long", TaskState::TaskRunning, Duration::from_secs(30))
        .await;
    let executor = running.container_status.unwrap().executor_pid.unwrap();

    let (code, stats) = h.get("/monitor/statistics").await;
    assert_eq!(code, 200);
    let entry = stats
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["executor_id"] == "t-long")
        .cloned()
        .unwrap_or_else(|| panic!("{stats}"));
    assert_eq!(entry["framework_id"], FW);
    assert_eq!(entry["statistics"]["mem_limit_bytes"], 64 << 20);
    assert!(entry["statistics"]["timestamp"].as_f64().unwrap() > 0.0);

    h.run_task(&command_task("t-doomed", "sleep 1000", "cpus:0.1;mem:32"));
    let doomed = h
        .wait_state("t-doomed", TaskState::TaskRunning, Duration::from_secs(30))
        .await
        .container_status
        .unwrap()
        .executor_pid
        .unwrap();

    h.stop_agent().await;
    assert!(process_alive(executor), "the executor died with the agent");
    // One executor dies while no agent is there to see it.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(doomed as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_for("the doomed executor to die", Duration::from_secs(5), || {
        (!process_alive(doomed)).then_some(())
    })
    .await;

    let again = h.start_agent(2).await;
    assert_eq!(again.agent_id, AGENT_ID);
    let mut listed: Vec<(&str, &str, &str)> = again
        .tasks
        .iter()
        .map(|t| {
            (
                t.framework_id.as_str(),
                t.state.as_str(),
                t.executor_id.as_str(),
            )
        })
        .collect();
    listed.sort();
    // The dead one is listed too, as Mesos does, in its latest state: its
    // TASK_FAILED is not acknowledged yet.
    assert_eq!(
        listed,
        [
            (FW, "TASK_FAILED", "t-doomed"),
            (FW, "TASK_RUNNING", "t-long")
        ]
    );
    // The next agent finds it dead, fails its task and destroys its container.
    let failed = h
        .wait_state("t-doomed", TaskState::TaskFailed, Duration::from_secs(10))
        .await;
    assert_eq!(failed.source, Some(Source::SourceAgent), "{failed:?}");
    assert_eq!(failed.agent_id, Some(AgentId::new(AGENT_ID)));
    let long = again.tasks.iter().find(|t| t.executor_id == "t-long");
    let info: TaskInfo = serde_json::from_str(&long.unwrap().task_json).unwrap();
    assert_eq!(info.task_id.value, "t-long");
    assert!(process_alive(executor));

    let asked = Instant::now();
    h.kill("t-long", 1.0);
    let killed = h
        .wait_state("t-long", TaskState::TaskKilled, Duration::from_secs(15))
        .await;
    // The re-subscribed executor carried out the kill; the agent did not
    // have to escalate.
    assert_eq!(killed.source, Some(Source::SourceExecutor), "{killed:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    wait_for("the executor to exit", Duration::from_secs(10), || {
        (!process_alive(executor)).then_some(())
    })
    .await;
    let root = h.cgroup_root.clone();
    wait_for(
        "both containers' cgroups to go",
        Duration::from_secs(10),
        || Cgroup::list(&root).unwrap().is_empty().then_some(()),
    )
    .await;
    h.stop_agent().await;
}

/// The interpreter with pymesos 0.3.15 (scripts/setup-python.sh), if any.
fn pymesos_python() -> Option<String> {
    if let Ok(p) = std::env::var("PADDOCK_PYTHON") {
        return Some(p);
    }
    let venv = "/opt/paddock-venv/bin/python";
    std::path::Path::new(venv)
        .exists()
        .then(|| venv.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pymesos_custom_executor_is_reused_and_its_updates_get_agent_ids() {
    let python =
        pymesos_python().expect("no pymesos: run scripts/setup-python.sh (or set PADDOCK_PYTHON)");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/python/pymesos_executor.py")
        .canonicalize()
        .unwrap();
    let mut h = Harness::new("pymesos").await;
    h.start_agent(1).await;
    let executor = paddock_proto::mesos::ExecutorInfo {
        executor_id: paddock_proto::mesos::ExecutorId::new("echo-exec"),
        name: Some("echo".into()),
        command: Some(CommandInfo {
            value: Some(format!("{python} {}", script.display())),
            ..Default::default()
        }),
        resources: Resources::parse("cpus:0.1;mem:32").unwrap().to_mesos(None),
        ..Default::default()
    };
    use base64::Engine;
    for n in 1..=2 {
        let mut task = command_task(&format!("t-py{n}"), "", "cpus:0.1;mem:32");
        task.command = None;
        task.executor = Some(executor.clone());
        task.data = Some(base64::engine::general_purpose::STANDARD.encode(format!("hello-{n}")));
        // The second task arrives while the executor is still starting: it
        // waits in the queue and is launched on the same executor.
        h.run_task(&task);
    }
    for n in 1..=2 {
        let task = format!("t-py{n}");
        h.wait_state(&task, TaskState::TaskFinished, Duration::from_secs(30))
            .await;
        let states: Vec<TaskState> = h.updates(&task).iter().map(|s| s.state).collect();
        assert_eq!(states, [TaskState::TaskRunning, TaskState::TaskFinished]);
        for s in h.updates(&task) {
            // pymesos leaves agent_id out; the agent adds it.
            assert_eq!(s.agent_id, Some(AgentId::new(AGENT_ID)), "{s:?}");
            assert_eq!(s.executor_id.as_ref().unwrap().value, "echo-exec");
        }
    }
    let stdout = h.sandbox_file("echo-exec", "stdout");
    let text = std::fs::read_to_string(&stdout).unwrap();
    assert!(
        text.contains("hello-1") && text.contains("hello-2"),
        "{text}"
    );
    let runs = stdout.parent().unwrap().parent().unwrap();
    assert_eq!(std::fs::read_dir(runs).unwrap().count(), 1, "one executor");

    // The container grew with the second task: executor + two tasks.
    let (_, stats) = h.get("/monitor/statistics").await;
    let entry = stats
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["executor_id"] == "echo-exec")
        .cloned()
        .unwrap_or_else(|| panic!("{stats}"));
    assert_eq!(entry["statistics"]["mem_limit_bytes"], 96 << 20);

    // Shutting the framework down ends the executor (pymesos killpg(0)s its
    // own session; this test process survives that only because the agent
    // started it in a session of its own).
    h.send(Down::ShutdownFramework(
        paddock_proto::internal::ShutdownFramework {
            framework_id: FW.into(),
        },
    ));
    let log = h.master.log.clone();
    wait_for("ExecutorExited", Duration::from_secs(20), || {
        log.lock()
            .unwrap()
            .exited
            .iter()
            .any(|e| e.executor_id == "echo-exec")
            .then_some(())
    })
    .await;
    h.stop_agent().await;
}
