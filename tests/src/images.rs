//! What the image tests of Marathon (`frameworks/marathon/tests/image_apps.rs`)
//! and Chronos (`frameworks/chronos/tests/image_jobs.rs`) share: a local
//! registry with a busybox probe image, a `paddock dev` with one built-in
//! framework (DOCKER tasks too, when asked), sandbox files through the
//! agent's `/files/read`, and the probe's `key=value` output and what it
//! must show. Behind the `images` feature (it needs `paddock-images`'s
//! test support).

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{free_port, get_json, kill_cgroup_tree, spawn, wait_for, Proc};
use paddock_images::testing::{busybox_image, layer_tar, Entry, LocalRegistry};

/// Image pulls and container starts on a loaded 2-core machine.
pub const LAUNCH: Duration = Duration::from_secs(120);

/// Docker's 14 default capabilities (CHOWN, DAC_OVERRIDE, FSETID, FOWNER,
/// MKNOD, NET_RAW, SETGID, SETUID, SETFCAP, SETPCAP, NET_BIND_SERVICE,
/// SYS_CHROOT, KILL, AUDIT_WRITE), which both containerizers give.
pub const DOCKER_DEFAULT_CAPS: u64 = 0xa804_25fb;

/// The busybox test image plus a layer with `/etc/paddock-marker`
/// (holding `marker`), pushed as `repo` to a fresh local registry. Returns
/// the registry (alive while it is held) and the image reference.
pub fn registry_with_image(marker: &str, repo: &str) -> (LocalRegistry, String) {
    registry_with_image_cmd(marker, repo, None)
}

/// [`registry_with_image`] whose image config has `Cmd` = `cmd` (busybox's
/// default is `["sh"]`).
pub fn registry_with_image_cmd(
    marker: &str,
    repo: &str,
    cmd: Option<&[&str]>,
) -> (LocalRegistry, String) {
    let reg = LocalRegistry::start().unwrap_or_else(|e| panic!("local registry: {e}"));
    let mut image = busybox_image().unwrap_or_else(|e| panic!("busybox image: {e}"));
    if let Some(cmd) = cmd {
        image.runtime["Cmd"] = serde_json::json!(cmd);
    }
    image.layer_tars.push(layer_tar(&[
        Entry::file("etc/paddock-marker", format!("{marker}\n")),
        Entry::dir("proc"),
        Entry::dir("sys"),
        Entry::dir("dev"),
    ]));
    let reference = reg
        .push_image(&image, repo)
        .unwrap_or_else(|e| panic!("push the probe image: {e}"));
    (reg, reference)
}

/// Two host directories for volume tests, `ro` holding `ro/<file>` with
/// `content`, and `rw` empty; removed when the TempDir is dropped.
pub fn volume_dirs(
    file: &str,
    content: &str,
) -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let host = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let (ro, rw) = (host.path().join("ro"), host.path().join("rw"));
    for d in [&ro, &rw] {
        std::fs::create_dir(d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
    }
    std::fs::write(ro.join(file), content).unwrap_or_else(|e| panic!("write: {e}"));
    (host, ro, rw)
}

/// Fails the test, saying how to start it, unless dockerd answers.
pub fn require_dockerd() {
    let info = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(Stdio::null())
        .output();
    assert!(
        info.as_ref().is_ok_and(|o| o.status.success()),
        "dockerd is not answering; start it as scripts/start-services.sh does: {info:?}"
    );
}

/// Which built-in framework the `paddock dev` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framework {
    Marathon,
    Chronos,
}

/// A `paddock dev` with one built-in framework, on its own ports, data dir
/// and cgroup root; killed, and its tasks (its Docker containers included)
/// cleaned up, when dropped.
pub struct ImageDev {
    proc: Option<Proc>,
    dir: tempfile::TempDir,
    pub master: u16,
    pub agent: u16,
    /// Marathon's or Chronos's port.
    pub framework: u16,
    cgroup_root: String,
    /// The agent runs DOCKER tasks too.
    docker: bool,
}

impl ImageDev {
    /// Starts it and waits until the framework answers `ready_path`. With
    /// `docker`, the agent also runs DOCKER tasks, and the Docker
    /// containers of this dev's tasks are removed on drop.
    pub fn start(framework: Framework, ready_path: &str, docker: bool) -> ImageDev {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let (master, agent, port) = (free_port(), free_port(), free_port());
        let cgroup_root = format!("paddock-h6-img-{}-{master}", std::process::id());
        let (on, off) = match framework {
            Framework::Marathon => ("--marathon-port", "--no-chronos"),
            Framework::Chronos => ("--chronos-port", "--no-marathon"),
        };
        let mut args: Vec<String> = vec![
            "dev".into(),
            "--data-dir".into(),
            dir.path().join("dev").display().to_string(),
            "--master-port".into(),
            master.to_string(),
            "--agent-port".into(),
            agent.to_string(),
            on.into(),
            port.to_string(),
            off.into(),
            "--cgroup-root".into(),
            cgroup_root.clone(),
            "--resources".into(),
            "cpus:2;mem:1024;disk:2000;ports:[31000-31009]".into(),
        ];
        if docker {
            args.extend(["--containerizers".into(), "mesos,docker".into()]);
        }
        let proc = spawn("paddock dev", &args, &dir.path().join("dev.log"));
        let dev = ImageDev {
            proc: Some(proc),
            dir,
            master,
            agent,
            framework: port,
            cgroup_root,
            docker,
        };
        let url = dev.url(ready_path);
        wait_for("the framework inside paddock dev", LAUNCH, || {
            get_json(&url)
        });
        dev
    }

    /// A URL of the framework's API.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.framework)
    }

    pub fn agent_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.agent)
    }

    pub fn master_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.master)
    }

    /// The sandbox directory of `task` (its executor has the task's id).
    pub fn sandbox(&self, task: &str) -> Option<String> {
        let state = get_json(&self.agent_url("/state"))?;
        let frameworks = state["frameworks"].as_array().into_iter().flatten();
        let completed = state["completed_frameworks"]
            .as_array()
            .into_iter()
            .flatten();
        frameworks
            .chain(completed)
            .flat_map(|fw| {
                let live = fw["executors"].as_array().into_iter().flatten();
                let done = fw["completed_executors"].as_array().into_iter().flatten();
                live.chain(done).cloned().collect::<Vec<_>>()
            })
            .find(|ex| ex["id"] == task)
            .and_then(|ex| ex["directory"].as_str().map(str::to_string))
    }

    /// A sandbox file through the agent's `/files/read`.
    pub fn sandbox_file(&self, task: &str, file: &str) -> Option<String> {
        let dir = self.sandbox(task)?;
        let url = self.agent_url(&format!(
            "/files/read?path={dir}/{file}&offset=0&length=100000"
        ));
        get_json(&url).and_then(|v| v["data"].as_str().map(str::to_string))
    }

    /// The probe's `key=value` lines from `task`'s stdout, once it has
    /// printed `probe-done`.
    pub fn probe_output(&self, task: &str) -> BTreeMap<String, String> {
        let out = wait_for(
            &format!("the probe's output in {task}'s stdout"),
            LAUNCH,
            || {
                self.sandbox_file(task, "stdout")
                    .filter(|s| s.contains("probe-done"))
            },
        );
        out.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect()
    }
}

impl Drop for ImageDev {
    fn drop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill9();
            if std::thread::panicking() {
                eprintln!("---- paddock dev ----\n{}", p.log_text());
            }
        }
        kill_cgroup_tree(&self.cgroup_root);
        if self.docker {
            remove_docker_containers(self.dir.path());
        }
    }
}

/// Removes the Docker containers a killed `paddock dev` left behind (a new
/// agent would reap only those of its own agent id): those whose sandbox,
/// bind-mounted into them, is under that dev's `data_dir`.
///
/// Only that dev's: the other tests of the binary run their own `paddock
/// dev` on the same engine at the same time, and removing one of their
/// containers (as matching on a task-id fragment all of them share did)
/// kills that task, maybe before its output reached its sandbox.
fn remove_docker_containers(data_dir: &std::path::Path) {
    let Ok(out) = Command::new("docker")
        .args(["ps", "-aq", "--filter", "label=paddock.task_id"])
        .stdin(Stdio::null())
        .output()
    else {
        return;
    };
    for id in String::from_utf8_lossy(&out.stdout).lines() {
        let mounts = Command::new("docker")
            .args([
                "inspect",
                "--format",
                "{{range .Mounts}}{{println .Source}}{{end}}",
                id,
            ])
            .stdin(Stdio::null())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default();
        let ours = mounts
            .lines()
            .any(|m| std::path::Path::new(m.trim()).starts_with(data_dir));
        if ours {
            let _ = Command::new("docker")
                .args(["rm", "-f", id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A `key` of the probe's output, or a failure naming what is missing.
pub fn fact(facts: &BTreeMap<String, String>, key: &str, what: &str) -> String {
    facts
        .get(key)
        .cloned()
        .unwrap_or_else(|| panic!("{what}: no {key} in {facts:?}"))
}

/// What the probe shows in every image task: its own PID namespace (the
/// shell is PID 1 and sees only a handful of processes: itself, ls, grep),
/// the image's rootfs (the marker is there, the host's os-release is not)
/// and Docker's default capabilities instead of root's full set.
pub fn assert_isolated(facts: &BTreeMap<String, String>, what: &str, marker: &str) {
    assert_eq!(fact(facts, "pid", what), "1", "{what}: {facts:?}");
    let procs: usize = fact(facts, "procs", what).parse().unwrap_or(usize::MAX);
    assert!(procs <= 5, "{what}: {procs} pids visible: {facts:?}");
    assert_eq!(fact(facts, "marker", what), marker, "{what}: {facts:?}");
    assert_eq!(
        fact(facts, "os_release", what),
        "absent",
        "{what}: {facts:?}"
    );
    let capeff = fact(facts, "capeff", what);
    let capeff = u64::from_str_radix(&capeff, 16)
        .unwrap_or_else(|e| panic!("{what}: CapEff {capeff:?}: {e}"));
    assert_eq!(
        capeff, DOCKER_DEFAULT_CAPS,
        "{what}: CapEff {capeff:#x}: {facts:?}"
    );
}

/// The probe's shell lines for [`assert_isolated`] and the memory limit
/// (`memlimit`, or `unreadable`, and the memory cgroup in `memcgroup`).
pub const PROBE_LINES: &str = "B=/bin/busybox; \
    echo \"pid=$$\"; \
    echo \"procs=$($B ls /proc | $B grep -c '^[0-9][0-9]*$')\"; \
    echo \"marker=$($B cat /etc/paddock-marker 2>/dev/null || echo missing)\"; \
    if [ -e /etc/os-release ] || [ -e /usr/lib/os-release ]; then echo os_release=present; else echo os_release=absent; fi; \
    echo \"root=$($B ls / | $B tr '\\n' ' ')\"; \
    echo \"capeff=$($B grep CapEff /proc/self/status | $B cut -f2)\"; \
    echo \"nonewprivs=$($B grep NoNewPrivs /proc/self/status | $B cut -f2)\"; \
    M=unreadable; \
    for f in /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max; do \
      if [ -r $f ]; then M=$($B cat $f); break; fi; \
    done; \
    echo \"memlimit=$M\"; \
    echo \"memcgroup=$($B grep -E '^[0-9]+:(memory)?:' /proc/self/cgroup | $B head -n1 | $B cut -d: -f3)\";";

/// The host-side memory limit of the cgroup the probe said it is in
/// (cgroup v1 memory controller or the v2 unified hierarchy).
fn host_memory_limit(cgroup: &str) -> Option<u64> {
    let rel = cgroup.trim_start_matches('/');
    ["/sys/fs/cgroup/memory", "/sys/fs/cgroup"]
        .iter()
        .find_map(|base| {
            let dir = std::path::Path::new(base).join(rel);
            ["memory.limit_in_bytes", "memory.max"]
                .iter()
                .find_map(|f| std::fs::read_to_string(dir.join(f)).ok())
        })
        .and_then(|s| s.trim().parse().ok())
}

/// The container's memory limit in bytes: read inside when the container
/// sees its cgroup, otherwise through the cgroup it reports.
pub fn memory_limit(facts: &BTreeMap<String, String>, what: &str) -> u64 {
    match facts.get("memlimit").map(String::as_str) {
        Some("unreadable") | None => {
            let cgroup = facts.get("memcgroup").cloned().unwrap_or_default();
            assert!(
                !cgroup.is_empty() && cgroup != "/",
                "{what}: neither a readable limit nor a cgroup path: {facts:?}"
            );
            host_memory_limit(&cgroup)
                .unwrap_or_else(|| panic!("{what}: no memory limit on the host for {cgroup}"))
        }
        Some(v) => v
            .parse()
            .unwrap_or_else(|e| panic!("{what}: memlimit {v:?}: {e}")),
    }
}
