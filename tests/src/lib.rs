//! Helpers for Paddock's cross-crate integration tests: start real `paddock`
//! processes on loopback with their own ports, data dirs and cgroup roots,
//! poll against deadlines, and speak the Mesos v1 scheduler API as a
//! framework would; with the `images` feature, the image tests' registry,
//! probe image and `paddock dev` ([`images`]).

#[cfg(feature = "images")]
pub mod images;
pub mod scheduler;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `paddock` binary under test: `$PADDOCK_BIN`, or the one cargo built
/// next to this test executable.
pub fn paddock_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PADDOCK_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/<test> -> target/debug/paddock
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("paddock");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p paddock` first (scripts/test.sh does)",
        bin.display()
    );
    bin
}

fn wait_master_health(port: u16) {
    let url = format!("http://127.0.0.1:{port}/health");
    wait_for("master /health", Duration::from_secs(20), || {
        http()
            .get(&url)
            .send()
            .ok()
            .filter(|r| r.status().is_success())
    });
}

/// A free TCP port on 127.0.0.1, below the kernel's ephemeral range.
///
/// A port the kernel handed out for `bind(0)` is an ephemeral port, which an
/// outgoing connection may take as its source port once the test's server
/// has stopped; a test that restarts a server on the same port then fails
/// with "address in use". Ports in 20000..30000 are never picked as source
/// ports (and stay clear of the 31000+ ranges tasks get from offers); a
/// per-process counter spreads parallel tests apart.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(7919)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
    for _ in 0..200 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20000 + (seed.wrapping_add(n.wrapping_mul(104_729)) % 10000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A child process that is killed (SIGKILL) and reaped when dropped.
pub struct Proc {
    pub child: Child,
    pub name: String,
    pub log: PathBuf,
}

impl Proc {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// SIGKILL, like a crash.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.pid()),
            nix::sys::signal::Signal::SIGTERM,
        );
        self.child.wait().expect("wait")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- log of {} ----\n{}", self.name, self.log_text());
        }
    }
}

/// Starts `paddock ARGS…` with its output in `log`.
pub fn spawn(name: &str, args: &[String], log: &Path) -> Proc {
    let out = std::fs::File::create(log).expect("log file");
    let err = out.try_clone().expect("log file");
    let child = Command::new(paddock_bin())
        .args(args)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn paddock");
    Proc {
        child,
        name: name.to_string(),
        log: log.to_path_buf(),
    }
}

/// Polls `f` until it returns Some, or panics with `what` at the deadline.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

pub fn get_json(url: &str) -> Option<Value> {
    let r = http().get(url).send().ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().ok()
}

/// A master and some agents, each a real process, torn down on drop.
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub master: Proc,
    pub master_port: u16,
    pub master_args: Vec<String>,
    pub agents: Vec<AgentProc>,
    pub cgroup_root: String,
}

pub struct AgentProc {
    pub proc: Proc,
    pub port: u16,
    pub work_dir: PathBuf,
    pub args: Vec<String>,
}

impl Cluster {
    /// Starts a master with `master_args` appended to its flags.
    pub fn master(master_args: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let mut args: Vec<String> = vec![
            "master".into(),
            "--bind".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--data-dir".into(),
            dir.path().join("master").display().to_string(),
        ];
        // The built-in frameworks would all want :8080 and :4400; tests
        // that need them pass their own free ports.
        if !master_args.contains(&"--marathon-port") {
            args.extend(["--marathon-port".into(), "0".into()]);
        }
        if !master_args.contains(&"--chronos-port") {
            args.extend(["--chronos-port".into(), "0".into()]);
        }
        args.extend(master_args.iter().map(|s| s.to_string()));
        let master = spawn("master", &args, &dir.path().join("master.log"));
        wait_master_health(port);
        let cgroup_root = format!("paddock-test-{}-{}", std::process::id(), port);
        Cluster {
            dir,
            master,
            master_port: port,
            master_args: args,
            agents: Vec::new(),
            cgroup_root,
        }
    }

    /// Kills the master (SIGKILL, like a crash) and starts it again with
    /// the same flags, port and data dir; waits until it answers /health.
    pub fn restart_master(&mut self) {
        self.master.kill9();
        let log = self.dir.path().join("master.restart.log");
        self.master = spawn("master", &self.master_args, &log);
        wait_master_health(self.master_port);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.master_port, path)
    }

    /// Starts an agent and waits until the master lists it as active.
    pub fn add_agent(&mut self, resources: &str, extra: &[&str]) -> usize {
        let n = self.agents.len();
        let port = free_port();
        let work_dir = self.dir.path().join(format!("agent{n}"));
        let mut args: Vec<String> = vec![
            "agent".into(),
            "--master".into(),
            format!("127.0.0.1:{}", self.master_port),
            "--bind".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--work-dir".into(),
            work_dir.display().to_string(),
            "--resources".into(),
            resources.into(),
            "--cgroup-root".into(),
            format!("{}-a{n}", self.cgroup_root),
            "--hostname".into(),
            format!("agent{n}.test"),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let log = self.dir.path().join(format!("agent{n}.log"));
        let proc = spawn(&format!("agent{n}"), &args, &log);
        self.agents.push(AgentProc {
            proc,
            port,
            work_dir,
            args,
        });
        self.wait_agent_active(n);
        n
    }

    pub fn wait_agent_active(&self, n: usize) -> Value {
        let host = format!("agent{n}.test");
        wait_for(
            &format!("agent {n} to register"),
            Duration::from_secs(30),
            || {
                let slaves = get_json(&self.url("/master/slaves"))?;
                slaves["slaves"]
                    .as_array()?
                    .iter()
                    .find(|s| s["hostname"] == host.as_str() && s["active"] == true)
                    .cloned()
            },
        )
    }

    /// Restarts agent `n` with the same flags and work dir.
    pub fn restart_agent(&mut self, n: usize) {
        let log = self.dir.path().join(format!("agent{n}.restart.log"));
        let args = self.agents[n].args.clone();
        self.agents[n].proc = spawn(&format!("agent{n}"), &args, &log);
    }

    pub fn agent_url(&self, n: usize, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.agents[n].port, path)
    }

    /// `paddock ARGS` against this cluster's master; its stdout, once it
    /// has succeeded (a failure panics with its output).
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = run_cli(
            args,
            &[("PADDOCK_MASTER", format!("127.0.0.1:{}", self.master_port))],
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "paddock {args:?} failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    }

    /// The sandbox directory of the executor that is `task` (its id) or
    /// runs it, live or completed, from agent `n`'s `/state`.
    pub fn sandbox_dir(&self, n: usize, task: &str) -> Option<String> {
        let state = get_json(&self.agent_url(n, "/state"))?;
        let list = |v: &Value, key: &str| v[key].as_array().cloned().unwrap_or_default();
        let frameworks = [
            list(&state, "frameworks"),
            list(&state, "completed_frameworks"),
        ];
        // The last match: a reused id's newest executor is listed last.
        frameworks
            .into_iter()
            .flatten()
            .flat_map(|fw| [list(&fw, "executors"), list(&fw, "completed_executors")])
            .flatten()
            .filter(|ex| {
                let tasks = [list(ex, "tasks"), list(ex, "completed_tasks")];
                ex["id"] == task || tasks.into_iter().flatten().any(|t| t["id"] == task)
            })
            .filter_map(|ex| ex["directory"].as_str().map(str::to_string))
            .next_back()
    }

    /// A file of `task`'s sandbox on agent `n`, through `/files/read`;
    /// `None` while the sandbox or the file is not there.
    pub fn sandbox_file(&self, n: usize, task: &str, file: &str) -> Option<String> {
        let dir = self.sandbox_dir(n, task)?;
        let url = self.agent_url(
            n,
            &format!("/files/read?path={dir}/{file}&offset=0&length=100000"),
        );
        get_json(&url)?["data"].as_str().map(str::to_string)
    }

    /// Every master log and agent log, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = format!("== master ==\n{}\n", self.master.log_text());
        for (i, a) in self.agents.iter().enumerate() {
            s.push_str(&format!("== agent{i} ==\n{}\n", a.proc.log_text()));
        }
        s
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
        for a in &mut self.agents {
            a.proc.kill9();
        }
        // Tasks outlive agents by design; clean up what the test left behind.
        kill_cgroup_tree(&self.cgroup_root);
    }
}

/// Kills every process in cgroups whose name starts with `prefix` and
/// removes them (best effort, for test cleanup).
pub fn kill_cgroup_tree(prefix: &str) {
    // Every v1 hierarchy the agent joins (cpu, cpuacct, freezer, memory,
    // pids, ...), then the v2 root; a task's processes die in the first.
    let root = Path::new("/sys/fs/cgroup");
    let mut bases: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    bases.sort();
    bases.push(root.to_path_buf());
    for base in bases {
        let Ok(entries) = std::fs::read_dir(&base) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if !name.starts_with(prefix) {
                continue;
            }
            kill_dir(&e.path());
        }
    }
}

fn kill_dir(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.path().is_dir() {
                kill_dir(&e.path());
            }
        }
    }
    for _ in 0..50 {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        let pids: Vec<i32> = procs
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        if pids.is_empty() {
            break;
        }
        for p in pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_dir(dir);
}

/// Runs `paddock ARGS…` to completion (for CLI tests).
pub fn run_cli(args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let mut cmd = Command::new(paddock_bin());
    cmd.args(args).stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run paddock")
}

/// A whole `paddock dev` (master, agent and, when asked, Marathon and
/// Chronos) on free ports with its own data dir and cgroup root; killed,
/// and its tasks' cgroups cleaned up, when dropped.
pub struct Dev {
    pub proc: Proc,
    /// `host:port` of the master.
    pub master: String,
    /// `host:port` of Marathon and Chronos; empty when they are off.
    pub marathon: String,
    pub chronos: String,
    pub cgroup_root: String,
    pub dir: tempfile::TempDir,
}

impl Dev {
    /// Starts it and waits until the agent is registered (and the
    /// frameworks answer, with `frameworks`).
    pub fn start(frameworks: bool) -> Dev {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mp, ap) = (free_port(), free_port());
        let (marathon_port, chronos_port) = if frameworks {
            (free_port(), free_port())
        } else {
            (0, 0)
        };
        let cgroup_root = format!("paddock-test-dev-{}-{mp}", std::process::id());
        let args: Vec<String> = [
            "dev",
            "--data-dir",
            &dir.path().display().to_string(),
            "--master-port",
            &mp.to_string(),
            "--agent-port",
            &ap.to_string(),
            "--marathon-port",
            &marathon_port.to_string(),
            "--chronos-port",
            &chronos_port.to_string(),
            "--cgroup-root",
            &cgroup_root,
            "--resources",
            "cpus:2;mem:1024;disk:1000;ports:[31000-31009]",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let proc = spawn("dev", &args, &dir.path().join("dev.log"));
        let at = |port: u16| {
            if port == 0 {
                String::new()
            } else {
                format!("127.0.0.1:{port}")
            }
        };
        let d = Dev {
            proc,
            master: at(mp),
            marathon: at(marathon_port),
            chronos: at(chronos_port),
            cgroup_root,
            dir,
        };
        wait_for("paddock dev's agent", Duration::from_secs(30), || {
            let s = get_json(&format!("http://{}/master/slaves", d.master))?;
            (s["slaves"].as_array()?.len() == 1).then_some(())
        });
        if frameworks {
            for url in [
                format!("http://{}/v2/apps", d.marathon),
                format!("http://{}/v1/scheduler/jobs", d.chronos),
            ] {
                wait_for(&url, Duration::from_secs(30), || get_json(&url));
            }
        }
        d
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.proc.log_text());
        }
        self.proc.kill9();
        kill_cgroup_tree(&self.cgroup_root);
    }
}
