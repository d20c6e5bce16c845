//! Simulated agents for the scale benchmarks (`marathon_scale`,
//! `marathon_health`, `master_scale`): real gRPC sessions to a real
//! master that answer RunTask with TASK_RUNNING and KillTask with
//! TASK_KILLED. With `serve_ports`, each task's "process" is a tiny
//! keep-alive HTTP/1.1 listener on 127.0.0.1 at the task's host ports, so
//! Marathon's HTTP and TCP health checks have something real to probe.
//! Also the benches' shared plumbing: a real master with a standalone
//! `paddock marathon`, polling with a deadline, CPU and load readings.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::master::start_master;
use paddock_tests::{free_port, get_json, http, spawn, Proc};
use serde_json::Value;

use paddock_proto::internal::agent_link_client::AgentLinkClient;
use paddock_proto::internal::agent_message::Kind as Up;
use paddock_proto::internal::master_message::Kind as Down;
use paddock_proto::internal::{AgentMessage, Heartbeat, Register, StatusUpdate};
use paddock_proto::mesos::{
    new_update_uuid, AgentId, Source, TaskId, TaskInfo, TaskState, TaskStatus,
};
use paddock_proto::resources::{RangeSet, Resources};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio_stream::wrappers::UnboundedReceiverStream;

/// What one simulated agent offers and how its tasks behave.
#[derive(Clone)]
pub struct SimAgent {
    pub hostname: String,
    pub cpus: f64,
    pub mem: f64,
    pub disk: f64,
    pub ports: (u64, u64),
    /// Serve HTTP on each task's host ports.
    pub serve_ports: bool,
}

/// Counters the bench reads.
#[derive(Default)]
pub struct SimStats {
    pub running: AtomicUsize,
    pub launched: AtomicUsize,
    pub killed: AtomicUsize,
    pub http_requests: AtomicUsize,
    pub connections: AtomicUsize,
    pub bind_failures: AtomicUsize,
}

fn status(task: &TaskId, agent: &AgentId, state: TaskState) -> TaskStatus {
    TaskStatus {
        task_id: task.clone(),
        state,
        source: Some(Source::SourceExecutor),
        agent_id: Some(agent.clone()),
        uuid: Some(new_update_uuid()),
        timestamp: Some(paddock_proto::mesos::now_secs()),
        ..Default::default()
    }
}

fn send_status(tx: &mpsc::UnboundedSender<AgentMessage>, fw: &str, st: &TaskStatus) {
    let _ = tx.send(AgentMessage {
        kind: Some(Up::StatusUpdate(StatusUpdate {
            framework_id: fw.to_string(),
            status_json: serde_json::to_string(st).unwrap_or_default(),
        })),
    });
}

fn host_ports(task: &TaskInfo) -> Vec<u16> {
    task.resources
        .iter()
        .filter(|r| r.name == "ports")
        .filter_map(|r| r.ranges.as_ref())
        .flat_map(|r| r.range.iter())
        .flat_map(|r| r.begin..=r.end)
        .filter_map(|p| u16::try_from(p).ok())
        .collect()
}

/// Answers every request on one connection with `200 ok`, keep-alive.
async fn serve_conn(mut sock: tokio::net::TcpStream, stats: Arc<SimStats>) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            stats.http_requests.fetch_add(1, Ordering::Relaxed);
            let reply =
                b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok";
            if sock.write_all(reply).await.is_err() {
                return;
            }
        }
    }
}

/// Binds the task's ports and serves them until aborted.
async fn serve_task(ports: Vec<u16>, stats: Arc<SimStats>) -> Vec<AbortHandle> {
    let mut handles = Vec::new();
    for port in ports {
        let Ok(listener) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await else {
            stats.bind_failures.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let stats = stats.clone();
        handles.push(
            tokio::spawn(async move {
                while let Ok((sock, _)) = listener.accept().await {
                    let _ = sock.set_nodelay(true);
                    stats.connections.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(serve_conn(sock, stats.clone()));
                }
            })
            .abort_handle(),
        );
    }
    handles
}

/// Runs one simulated agent session on a shared HTTP/2 channel until the
/// master closes it.
pub async fn run_agent(channel: tonic::transport::Channel, sim: SimAgent, stats: Arc<SimStats>) {
    let mut client = AgentLinkClient::new(channel);
    let (tx, rx) = mpsc::unbounded_channel();
    let resources = Resources::new()
        .with_scalar("cpus", sim.cpus)
        .with_scalar("mem", sim.mem)
        .with_scalar("disk", sim.disk)
        .with_ranges("ports", RangeSet::new([sim.ports]));
    let reg = Register {
        hostname: sim.hostname.clone(),
        port: 5051,
        resources_json: serde_json::to_string(&resources.to_mesos(None)).unwrap_or_default(),
        attributes_json: "[]".into(),
        version: "sim".into(),
        ..Default::default()
    };
    let _ = tx.send(AgentMessage {
        kind: Some(Up::Register(reg)),
    });
    let Ok(resp) = client.session(UnboundedReceiverStream::new(rx)).await else {
        eprintln!("simulated agent {}: session failed", sim.hostname);
        return;
    };
    let mut inbound = resp.into_inner();
    let mut agent_id = AgentId::default();
    let hb = tx.clone();
    let beat = tokio::spawn(async move {
        let mut seq = 0;
        loop {
            tokio::time::sleep(Duration::from_millis(900)).await;
            seq += 1;
            let msg = AgentMessage {
                kind: Some(Up::Heartbeat(Heartbeat { sequence: seq })),
            };
            if hb.send(msg).is_err() {
                return;
            }
        }
    });
    let served: Arc<Mutex<HashMap<TaskId, Vec<AbortHandle>>>> = Arc::default();
    while let Ok(Some(msg)) = inbound.message().await {
        match msg.kind {
            Some(Down::Registered(r)) => agent_id = AgentId::new(r.agent_id),
            Some(Down::RunTask(run)) => {
                let Ok(task) = serde_json::from_str::<TaskInfo>(&run.task_json) else {
                    continue;
                };
                let fw: serde_json::Value =
                    serde_json::from_str(&run.framework_json).unwrap_or_default();
                let fw = fw["id"]["value"].as_str().unwrap_or_default().to_string();
                stats.launched.fetch_add(1, Ordering::Relaxed);
                let (tx, stats, served, agent_id) =
                    (tx.clone(), stats.clone(), served.clone(), agent_id.clone());
                let serve = sim.serve_ports;
                tokio::spawn(async move {
                    if serve {
                        let handles = serve_task(host_ports(&task), stats.clone()).await;
                        if let Ok(mut s) = served.lock() {
                            s.insert(task.task_id.clone(), handles);
                        }
                    }
                    stats.running.fetch_add(1, Ordering::Relaxed);
                    send_status(
                        &tx,
                        &fw,
                        &status(&task.task_id, &agent_id, TaskState::TaskRunning),
                    );
                });
            }
            Some(Down::KillTask(k)) => {
                let task = TaskId::new(k.task_id);
                if let Ok(mut s) = served.lock() {
                    for h in s.remove(&task).unwrap_or_default() {
                        h.abort();
                    }
                }
                let _ = stats
                    .running
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| r.checked_sub(1));
                stats.killed.fetch_add(1, Ordering::Relaxed);
                send_status(
                    &tx,
                    &k.framework_id,
                    &status(&task, &agent_id, TaskState::TaskKilled),
                );
            }
            _ => {}
        }
    }
    beat.abort();
}

/// Starts `n` simulated agents against `master` (100 sessions per HTTP/2
/// connection) on the current runtime; `make(i)` describes agent `i`.
pub async fn start_agents(
    master: &str,
    n: usize,
    make: impl Fn(usize) -> SimAgent,
    stats: Arc<SimStats>,
) -> Result<(), String> {
    let per_conn = 100;
    for c in 0..n.div_ceil(per_conn) {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{master}"))
            .map_err(|e| format!("endpoint: {e}"))?
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(|e| format!("connect to {master}: {e}"))?;
        for i in c * per_conn..n.min((c + 1) * per_conn) {
            tokio::spawn(run_agent(channel.clone(), make(i), stats.clone()));
        }
    }
    Ok(())
}

/// utime + stime of a process, in clock ticks (/proc/PID/stat fields 14, 15).
pub fn cpu_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    // Fields after the command name start at field 3 (state).
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The clock-tick rate of [`cpu_ticks`]: /proc reports in USER_HZ, which
/// Linux fixes at 100 on every architecture it exposes to user space.
pub const TICKS_PER_SECOND: f64 = 100.0;

/// The first three fields of /proc/loadavg.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Polls `f` every 50 ms until it returns Some or `limit` passes.
pub fn poll<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn send(method: reqwest::Method, url: &str, body: &Value) -> (u16, String) {
    match http()
        .request(method, url)
        .timeout(Duration::from_secs(60))
        .json(body)
        .send()
    {
        Ok(r) => (r.status().as_u16(), r.text().unwrap_or_default()),
        Err(e) => (0, e.to_string()),
    }
}

/// The processes of one run and where Marathon answers.
pub struct Cluster {
    pub master: String,
    pub marathon: String,
    pub procs: Vec<Proc>,
    /// The process Marathon runs in (the whole `paddock dev` in dev mode).
    pub marathon_pid: i32,
    pub master_pid: i32,
    pub cgroup_root: Option<String>,
    pub runtime: Option<tokio::runtime::Runtime>,
    pub stats: Arc<SimStats>,
    pub dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in &mut self.procs {
            p.kill9();
        }
        if let Some(root) = &self.cgroup_root {
            crate::dev::clean_cgroup_root(root);
        }
    }
}

pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// A real master and a real standalone Marathon, with `agents` simulated
/// agents made by `make`.
pub fn start_sim(agents: usize, make: impl Fn(usize) -> SimAgent) -> Cluster {
    let dir = tempfile::tempdir().expect("tempdir");
    let marathon = free_port();
    let marathon_dir = dir.path().join("marathon");
    let (master_proc, master) = start_master(dir.path(), &dir.path().join("master"), &[]);
    let stats: Arc<SimStats> = Arc::default();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(start_agents(&master, agents, make, stats.clone()))
        .expect("simulated agents connect");
    poll(Duration::from_secs(60), || {
        let m = get_json(&format!("http://{master}/metrics/snapshot"))?;
        (m["master/slaves_active"].as_f64()? as usize >= agents).then_some(())
    })
    .expect("the simulated agents register");
    let args = strings(&[
        "marathon",
        "--master",
        &master,
        "--bind",
        "127.0.0.1",
        "--port",
        &marathon.to_string(),
        "--data-dir",
        &marathon_dir.display().to_string(),
    ]);
    let marathon_proc = spawn("marathon", &args, &dir.path().join("marathon.log"));
    Cluster {
        master,
        marathon: format!("127.0.0.1:{marathon}"),
        marathon_pid: marathon_proc.pid(),
        master_pid: master_proc.pid(),
        procs: vec![marathon_proc, master_proc],
        cgroup_root: None,
        runtime: Some(rt),
        stats,
        dir,
    }
}

/// Waits until Marathon answers and is subscribed to the master.
pub fn wait_ready(c: &Cluster) {
    poll(Duration::from_secs(60), || {
        get_json(&format!("http://{}/v2/info", c.marathon))?;
        let f = get_json(&format!("http://{}/master/frameworks", c.master))?;
        f["frameworks"]
            .as_array()?
            .iter()
            .any(|f| f["name"] == "marathon" && f["active"] == true)
            .then_some(())
    })
    .expect("marathon subscribes");
}

pub fn no_deployments(c: &Cluster) -> Option<()> {
    let d = get_json(&format!("http://{}/v2/deployments", c.marathon))?;
    d.as_array()?.is_empty().then_some(())
}
