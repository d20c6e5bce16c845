//! Issue #5 for image tasks: a MESOS-container task (the native OCI
//! containerizer, libcontainer) lives under the same cgroup limits as a
//! command task, on cgroup v1 and v2. A real master and agent run a
//! busybox-static image imported into the agent's store beforehand (no
//! registry), and every limit is checked from inside the container and
//! from the task's cgroup outside it: the CFS quota (cpu.max on v2) is set
//! and throttles a busy loop, pids.max bounds a fork loop, a memory hog is
//! OOM-killed and counted (memory.events on v2, memory.oom_control and
//! memory.failcnt on v1), the task is PID 1 of its own PID namespace, the
//! agent's /monitor/statistics report the same values, and the cgroup is
//! gone once the task has ended.
//!
//! Runs on the host (v1 here) and, through `oci_uml_v2.rs`, inside a
//! user-mode-linux guest with a cgroup2 hierarchy (`PADDOCK_EXPECT_CGROUP_V2=1`).
//! Needs root, cgroups and busybox-static.

use std::path::{Path, PathBuf};
use std::time::Duration;

use paddock_images::testing::busybox_image;
use paddock_images::ImageStore;
use paddock_tests::scheduler::{command_task, Scheduler};
use paddock_tests::{get_json, wait_for, Cluster};
use serde_json::{json, Value};

const RES: &str = "cpus:2;mem:1024;disk:2000;ports:[31000-31009]";
const LAUNCH: Duration = Duration::from_secs(90);
/// How long a limit may take to show its effect (a UML guest is slow).
const EFFECT: Duration = Duration::from_secs(60);
const IMAGE: &str = "paddock.test/busybox:cgroup";

/// The command executor's share on top of its task, as Mesos (and
/// agent/src/containers.rs) adds it.
const EXECUTOR_CPUS: f64 = 0.1;
const EXECUTOR_MEM_MB: u64 = 32;
/// The agent's pids.max for every container.
const AGENT_PIDS_MAX: u64 = 4096;
const CFS_PERIOD_US: u64 = 100_000;
/// The hog's memory. The executor and init are charged to the container
/// too (~70 MB of RSS in a debug build): with less, the OOM killer picks
/// the executor, the largest process, instead of the hog.
const HOG_MB: u64 = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    V1,
    V2,
}

fn mode() -> Mode {
    let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if std::env::var("PADDOCK_EXPECT_CGROUP_V2").is_ok_and(|v| v == "1") {
        assert!(
            v2,
            "PADDOCK_EXPECT_CGROUP_V2=1 but /sys/fs/cgroup is not cgroup2"
        );
    }
    if v2 {
        Mode::V2
    } else {
        Mode::V1
    }
}

/// The task cgroup's directory for `controller` (the one tree on v2).
fn cgroup_dir(mode: Mode, root: &str, cid: &str, controller: &str) -> PathBuf {
    match mode {
        Mode::V2 => Path::new("/sys/fs/cgroup").join(root).join(cid),
        Mode::V1 => Path::new("/sys/fs/cgroup")
            .join(controller)
            .join(root)
            .join(cid),
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `key value` lines (memory.events, cpu.stat, pids.events, oom_control).
fn kv(path: &Path, key: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Imports the busybox image into `<work_dir>/images`, where the
/// executor's store looks (the agent is not running yet).
fn import_image(work_dir: &Path) -> String {
    let img = busybox_image().unwrap_or_else(|e| panic!("busybox image: {e}"));
    std::fs::create_dir_all(work_dir).unwrap();
    let archive = work_dir.join("busybox.tar");
    std::fs::write(&archive, img.oci_archive(IMAGE)).unwrap();
    let store = ImageStore::open(work_dir.join("images")).unwrap();
    let images = store.import(&archive).unwrap();
    std::fs::remove_file(&archive).unwrap();
    assert_eq!(images.len(), 1, "{images:?}");
    images[0].reference.clone()
}

/// A MESOS-container task from `image`.
fn image_task(id: &str, offer: &Value, image: &str, cmd: &str, cpus: f64, mem: f64) -> Value {
    let mut t = command_task(id, offer, cmd, cpus, mem);
    t["container"] = json!({
        "type": "MESOS",
        "mesos": {"image": {"type": "DOCKER", "docker": {"name": image}}}
    });
    t
}

/// `(container id, sandbox dir)` of `task`'s executor, from the agent's /state.
fn container_of(c: &Cluster, task: &str) -> (String, PathBuf) {
    let state = get_json(&c.agent_url(0, "/state")).expect("agent /state");
    for fw in state["frameworks"].as_array().into_iter().flatten() {
        for ex in fw["executors"].as_array().into_iter().flatten() {
            if ex["id"] == task {
                let cid = ex["container"].as_str().unwrap_or_default().to_string();
                let dir = ex["directory"].as_str().unwrap_or_default();
                return (cid, PathBuf::from(dir));
            }
        }
    }
    panic!("no live executor for {task} in {state}");
}

/// The sandbox file `name`, once the task has written a line to it.
fn wait_file(sandbox: &Path, name: &str) -> String {
    let p = sandbox.join(name);
    wait_for(&format!("{}", p.display()), EFFECT, || {
        std::fs::read_to_string(&p)
            .ok()
            .filter(|t| t.ends_with('\n'))
    })
}

/// `statistics` of container `cid` from the agent's /monitor/statistics.
fn statistics(c: &Cluster, cid: &str) -> Value {
    let all = get_json(&c.agent_url(0, "/monitor/statistics")).expect("/monitor/statistics");
    all.as_array()
        .into_iter()
        .flatten()
        .find(|e| e["container_id"] == cid)
        .map(|e| e["statistics"].clone())
        .unwrap_or_else(|| panic!("no statistics for {cid} in {all}"))
}

/// Nothing of container `cid` is left in any cgroup hierarchy, including
/// the ones libcontainer joins on v1 (devices, blkio, cpuset, …).
fn assert_cgroup_gone(mode: Mode, root: &str, cid: &str) {
    let mut dirs = Vec::new();
    match mode {
        Mode::V2 => dirs.push(cgroup_dir(mode, root, cid, "")),
        Mode::V1 => {
            for e in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
                dirs.push(e.path().join(root).join(cid));
            }
        }
    }
    let gone = || dirs.iter().all(|d| !d.exists()).then_some(());
    wait_for("the task's cgroup to be removed", EFFECT, gone);
}

/// What the probe task records, then the phases the test gates with files
/// in its sandbox: a busy loop until `stop-cpu`, a fork loop after
/// `go-fork`, the end after `go-end`. Only shell builtins run while a
/// limit is being hit.
const PROBE: &str = "B=/bin/busybox; cd /mnt/mesos/sandbox; \
    echo $$ > pid; \
    $B cat /proc/1/cmdline | $B tr '\\0' ' ' > pid1; \
    $B ps -o pid,args > ps; \
    $B cat /proc/self/cgroup > cgroup_inside; \
    if [ -e /sys/fs/cgroup/cgroup.controllers ]; then \
      $B cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max > limits_inside 2>&1; \
    else \
      $B cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max > limits_inside 2>&1; \
    fi; \
    L=/sys/fs/cgroup/memory/memory.limit_in_bytes; [ -e $L ] || L=/sys/fs/cgroup/memory.max; \
    v=$($B cat $L); if ( echo $v > $L ) 2> cgroup_write_err; then echo written; else echo refused; fi > cgroup_write; \
    $B ls /sys/fs/cgroup > cgroup_ls; \
    $B grep ' / ' /proc/mounts > root_mount; \
    if echo scratch > /tmp/w 2> rootfs_err; then echo writable; else echo read-only; fi > rootfs; \
    $B grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status > status; \
    $B mknod /tmp/loop0 b 7 0 2> dev_err; \
    if $B dd if=/tmp/loop0 of=/dev/null bs=1 count=1 2>> dev_err; then echo opened; else echo refused; fi > dev; \
    echo ok > ready; \
    while [ ! -e stop-cpu ]; do :; done; \
    while [ ! -e go-fork ]; do $B sleep 0.1; done; \
    ( n=0; while [ $n -lt 1000 ]; do $B sleep 8 & n=$((n+1)); echo $n > forked; done ) 2> fork_err; \
    echo ok > fork-done; \
    while [ ! -e go-end ]; do :; done; \
    echo finished > finished";

#[test]
fn an_image_task_gets_the_cpu_memory_and_pids_limits_of_a_command_task() {
    let mode = mode();
    let mut c = Cluster::master(&[]);
    let image = import_image(&c.dir.path().join("agent0"));
    c.add_agent(RES, &[]);
    let root = format!("{}-a0", c.cgroup_root);
    let mut s = Scheduler::subscribe(
        &format!("127.0.0.1:{}", c.master_port),
        json!({"user": "root", "name": "oci-cgroup", "failover_timeout": 0}),
    );
    let offer = s.next_offer(Duration::from_secs(10));
    // Two tasks at once: the probe (0.5 cpus, 64 MB) and a memory hog
    // whose shell outlives the OOM kill of its dd. dd fills its 300 MB
    // buffer in one read(2) from /dev/zero: no code page of its own is
    // refaulted meanwhile, so reclaim soon stops making progress and the
    // OOM killer runs. (A `head | tail` pipeline can keep reclaim busy
    // refaulting its text pages for a minute on cgroup v2 under UML.)
    let hog = "B=/bin/busybox; cd /mnt/mesos/sandbox; \
        $B dd if=/dev/zero of=/dev/null bs=300M count=1 2> dd_err; echo $? > hog_status; \
        while [ ! -e go-end ]; do $B sleep 0.1; done";
    s.launch(
        &offer,
        vec![
            image_task("probe", &offer, &image, PROBE, 0.5, 64.0),
            image_task("hog", &offer, &image, hog, 0.5, HOG_MB as f64),
        ],
    );
    s.wait_state("probe", "TASK_RUNNING", LAUNCH);
    let (cid, sandbox) = container_of(&c, "probe");
    let dir = |ctl: &str| cgroup_dir(mode, &root, &cid, ctl);
    assert!(
        dir("memory").is_dir(),
        "{} is missing",
        dir("memory").display()
    );
    assert_eq!(wait_file(&sandbox, "ready"), "ok\n");

    // PID 1 of a PID namespace of its own: the task's shell, alone with
    // its children.
    assert_eq!(read(&sandbox.join("pid")), "1\n");
    let pid1 = read(&sandbox.join("pid1"));
    assert!(pid1.starts_with("/bin/sh -c B=/bin/busybox"), "{pid1}");
    let ps = read(&sandbox.join("ps"));
    assert!(ps.lines().count() <= 4, "only the task's processes: {ps}");
    assert!(!ps.contains("paddock"), "{ps}");
    // A cgroup namespace: the task cgroup is its root.
    let inside = read(&sandbox.join("cgroup_inside"));
    assert!(
        inside.lines().all(|l| l.ends_with(":/")),
        "the container sees its cgroup as /: {inside}"
    );
    // The image's rootfs is writable (an overlay or a copy).
    println!("rootfs: {}", read(&sandbox.join("root_mount")).trim());
    assert_eq!(
        read(&sandbox.join("rootfs")),
        "writable\n",
        "{} (root mount: {})",
        read(&sandbox.join("rootfs_err")),
        read(&sandbox.join("root_mount"))
    );

    // The seccomp filter, and a device cgroup that refuses to open a
    // device beyond the defaults (a node of it may be made, as in Docker;
    // it could come with the image as well): on v1 the devices
    // controller, on v2 an eBPF program attached to the cgroup.
    let status = read(&sandbox.join("status"));
    assert!(status.contains("Seccomp:\t2"), "{status}");
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    let dev_err = read(&sandbox.join("dev_err"));
    assert_eq!(
        read(&sandbox.join("dev")),
        "refused\n",
        "the container opened a block device (7:0): no device cgroup ({dev_err})"
    );
    assert!(dev_err.contains("Operation not permitted"), "{dev_err}");

    // The limits, as the agent computes them for a command task.
    let quota = ((0.5 + EXECUTOR_CPUS) * CFS_PERIOD_US as f64) as u64;
    let mem = (64 + EXECUTOR_MEM_MB) * 1024 * 1024;
    let limits = match mode {
        Mode::V2 => {
            assert_eq!(
                read(&dir("cpu").join("cpu.max")),
                format!("{quota} {CFS_PERIOD_US}\n")
            );
            assert_eq!(read(&dir("memory").join("memory.max")), format!("{mem}\n"));
            format!("{quota} {CFS_PERIOD_US}\n{mem}\n{AGENT_PIDS_MAX}\n")
        }
        Mode::V1 => {
            assert_eq!(
                read(&dir("cpu").join("cpu.cfs_quota_us")),
                format!("{quota}\n")
            );
            assert_eq!(
                read(&dir("cpu").join("cpu.cfs_period_us")),
                format!("{CFS_PERIOD_US}\n")
            );
            assert_eq!(
                read(&dir("memory").join("memory.limit_in_bytes")),
                format!("{mem}\n")
            );
            format!("{quota}\n{mem}\n{AGENT_PIDS_MAX}\n")
        }
    };
    assert_eq!(
        read(&dir("pids").join("pids.max")),
        format!("{AGENT_PIDS_MAX}\n")
    );
    // The same values inside, through the container's /sys/fs/cgroup.
    assert_eq!(read(&sandbox.join("limits_inside")), limits);
    // ... which a task running as root can read but not raise.
    assert_eq!(
        read(&sandbox.join("cgroup_write")),
        "refused\n",
        "the container could write its own memory limit"
    );
    let write_err = read(&sandbox.join("cgroup_write_err"));
    assert!(write_err.contains("Read-only file system"), "{write_err}");
    // On v1 it sees only the hierarchies that limit it.
    let seen = read(&sandbox.join("cgroup_ls"));
    if mode == Mode::V1 {
        assert!(seen.lines().any(|l| l == "memory"), "{seen}");
        assert!(
            seen.lines().all(|l| l
                .split(',')
                .all(|c| ["cpu", "cpuacct", "memory", "pids"].contains(&c))),
            "{seen}"
        );
    } else {
        assert!(seen.lines().any(|l| l == "memory.max"), "{seen}");
    }

    // The busy loop is throttled to its quota.
    let cpu_stat = dir("cpu").join("cpu.stat");
    let throttled = wait_for("CFS throttling of the busy loop", EFFECT, || {
        kv(&cpu_stat, "nr_throttled").filter(|n| *n > 0)
    });
    assert!(throttled > 0);
    // /monitor/statistics reads the same cgroup.
    let st = statistics(&c, &cid);
    assert_eq!(st["cpus_limit"].as_f64(), Some(quota as f64 / 1e5), "{st}");
    assert_eq!(st["mem_limit_bytes"].as_u64(), Some(mem), "{st}");
    assert_eq!(st["pids_limit"].as_u64(), Some(AGENT_PIDS_MAX), "{st}");
    assert!(st["cpus_nr_throttled"].as_u64() >= Some(throttled), "{st}");
    // The executor, init and the container's shell at least.
    assert!(st["processes"].as_u64() >= Some(3), "{st}");
    assert!(st["pids_current"].as_u64() >= Some(3), "{st}");
    assert!(st["mem_total_bytes"].as_u64() > Some(0), "{st}");
    assert!(st["mem_anon_bytes"].as_u64() > Some(0), "{st}");
    assert!(st["threads"].as_u64() >= st["processes"].as_u64(), "{st}");
    let cpu_secs = |v: &Value| {
        v["cpus_user_time_secs"].as_f64().unwrap_or(0.0)
            + v["cpus_system_time_secs"].as_f64().unwrap_or(0.0)
    };
    assert!(cpu_secs(&st) > 0.0, "the busy loop used no cpu time: {st}");
    // `paddock task stats` shows that same entry.
    let text = c.cli_ok(&["task", "stats", "probe", "--json"]);
    let shown: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(shown["container_id"], cid.as_str(), "{shown}");
    let shown = &shown["statistics"];
    assert_eq!(shown["cpus_limit"], st["cpus_limit"], "{shown}");
    assert_eq!(shown["mem_limit_bytes"], st["mem_limit_bytes"], "{shown}");
    assert_eq!(shown["pids_limit"], st["pids_limit"], "{shown}");
    std::fs::write(sandbox.join("stop-cpu"), "").unwrap();

    // pids.max bounds a fork loop of the container. The agent's 4096 would
    // take more memory than the task has, so the test lowers it to a few
    // dozen above what runs now; every process of the container counts.
    let pids = dir("pids");
    let current: u64 = read(&pids.join("pids.current")).trim().parse().unwrap();
    let room = 24;
    std::fs::write(pids.join("pids.max"), (current + room).to_string()).unwrap();
    std::fs::write(sandbox.join("go-fork"), "").unwrap();
    wait_file(&sandbox, "fork-done");
    let forked: u64 = read(&sandbox.join("forked")).trim().parse().unwrap();
    let fork_err = read(&sandbox.join("fork_err"));
    // At most `room` (the subshell takes one; the executor's idle thread
    // may exit meanwhile and give one back), out of 1,000 tried.
    assert!(
        forked <= room,
        "{forked} forks under a limit of {room} more"
    );
    assert!(forked >= room / 2, "only {forked} forks: {fork_err}");
    assert!(fork_err.contains("fork"), "{fork_err}");
    let refused = kv(&pids.join("pids.events"), "max").unwrap_or(0);
    assert!(refused > 0, "pids.events counts no refused fork");
    std::fs::write(pids.join("pids.max"), AGENT_PIDS_MAX.to_string()).unwrap();

    // The memory hog: dd is OOM-killed (137), its shell lives on,
    // the kill is counted in the cgroup and the statistics, and the task
    // fails with the memory limitation once it ends.
    let (hog_cid, hog_sandbox) = container_of(&c, "hog");
    assert_eq!(wait_file(&hog_sandbox, "hog_status"), "137\n");
    let hog_mem = cgroup_dir(mode, &root, &hog_cid, "memory");
    match mode {
        Mode::V2 => {
            let events = hog_mem.join("memory.events");
            assert!(kv(&events, "oom_kill") >= Some(1), "{}", read(&events));
            assert!(kv(&events, "max") >= Some(1), "{}", read(&events));
        }
        Mode::V1 => {
            let oom = hog_mem.join("memory.oom_control");
            assert!(kv(&oom, "oom_kill") >= Some(1), "{}", read(&oom));
            // The peak reached the limit (this host's kernel leaves
            // memory.failcnt at 0 even then, so the peak is the witness).
            let num = |f: &str| read(&hog_mem.join(f)).trim().parse::<u64>().unwrap();
            let (peak, limit) = (
                num("memory.max_usage_in_bytes"),
                num("memory.limit_in_bytes"),
            );
            assert!(
                peak >= limit || num("memory.failcnt") > 0,
                "the memory limit {limit} was never hit (peak {peak})"
            );
        }
    }
    let hog_st = statistics(&c, &hog_cid);
    assert!(hog_st["mem_oom_events"].as_u64() >= Some(1), "{hog_st}");
    assert_eq!(
        hog_st["mem_limit_bytes"].as_u64(),
        Some((HOG_MB + EXECUTOR_MEM_MB) * 1024 * 1024),
        "{hog_st}"
    );

    std::fs::write(sandbox.join("go-end"), "").unwrap();
    std::fs::write(hog_sandbox.join("go-end"), "").unwrap();
    let done = s.wait_state("probe", "TASK_FINISHED", LAUNCH);
    assert_eq!(done["state"], "TASK_FINISHED", "{done}");
    assert_eq!(read(&sandbox.join("finished")), "finished\n");
    let failed = s.wait_state("hog", "TASK_FAILED", LAUNCH);
    assert_eq!(
        failed["reason"], "REASON_CONTAINER_LIMITATION_MEMORY",
        "{failed}"
    );

    // Nothing is left: no cgroup in any hierarchy, no container directory.
    assert_cgroup_gone(mode, &root, &cid);
    assert_cgroup_gone(mode, &root, &hog_cid);
    let oci = c.agents[0].work_dir.join("oci");
    let left = || {
        let n = std::fs::read_dir(&oci).map(|d| d.count()).unwrap_or(0);
        (n == 0).then_some(())
    };
    wait_for("the containers' directories to be removed", EFFECT, left);
}
