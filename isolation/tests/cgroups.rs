//! Real cgroups, real processes: limits are enforced and stats are read.
//! Runs on whatever the host has (v1 here, v2 in the UML guest test).

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use paddock_isolation::cgroups::{detect_mode, Cgroup, Limits, Mode};

/// A root per test (they run in parallel), removed by [`done`].
fn root(test: &str) -> String {
    format!("paddock-itest-{}-{test}", std::process::id())
}

/// Tears a test's root down even when the test panics half-way, so a
/// failure leaves no processes or cgroups behind.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for id in Cgroup::list(&self.0).unwrap_or_default() {
            if let Ok(cg) = Cgroup::open(&self.0, &id) {
                let _ = cg.destroy();
            }
        }
        let _ = Cgroup::remove_root(&self.0);
    }
}

fn done(cg: Cgroup, test: &str) {
    cg.destroy().unwrap();
    Cgroup::remove_root(&root(test)).unwrap();
}

fn spawn_in(cg: &Cgroup, script: &str) -> Child {
    let joiner = cg.joiner().unwrap();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: join_self only makes async-signal-safe syscalls.
    unsafe {
        cmd.pre_exec(move || joiner.join_self());
    }
    cmd.spawn().unwrap()
}

fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn detects_the_hosts_mode() {
    let mode = detect_mode().unwrap();
    // Independent of how detect_mode decides: a unified host has the root
    // cgroup.controllers file; the UML guest test says it must be v2.
    let unified = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let want = if unified { Mode::V2 } else { Mode::V1 };
    assert_eq!(mode, want);
    if std::env::var_os("PADDOCK_EXPECT_CGROUP_V2").is_some() {
        assert_eq!(mode, Mode::V2);
    }
}

#[test]
fn memory_hog_is_oom_killed_and_counted() {
    let _cleanup = Cleanup(root("oom"));
    let cg = Cgroup::create(
        &root("oom"),
        "oom",
        &Limits {
            cpus: 1.0,
            mem_bytes: 32 << 20,
            pids_max: Some(64),
        },
    )
    .unwrap();
    // tail holds everything it reads from newline-free /dev/zero.
    let mut child = spawn_in(&cg, "head -c 300m /dev/zero | tail");
    let status = child.wait().unwrap();
    // sh reports its last command, tail, killed by SIGKILL.
    assert_eq!(status.code(), Some(128 + 9), "{status:?}");
    let kills = cg.oom_kills().unwrap();
    assert!(kills > 0, "oom_kill counter is {kills}");
    let st = cg.stats().unwrap();
    assert_eq!(st.mem_limit_bytes, Some(32 << 20));
    assert!(st.mem_oom_events > 0);
    done(cg, "oom");
}

#[test]
fn busy_loop_is_throttled_to_its_quota() {
    let _cleanup = Cleanup(root("cpu"));
    let cg = Cgroup::create(
        &root("cpu"),
        "cpu",
        &Limits {
            cpus: 0.2,
            mem_bytes: 64 << 20,
            pids_max: Some(64),
        },
    )
    .unwrap();
    let mut child = spawn_in(&cg, "while :; do :; done");
    let t0 = Instant::now();
    let st = wait_until("throttling", Duration::from_secs(10), || {
        let st = cg.stats().ok()?;
        (st.cpus_nr_throttled > 2
            && st.cpus_throttled_time_secs > 0.0
            && t0.elapsed() > Duration::from_secs(1))
        .then_some(st)
    });
    let used = st.cpus_user_time_secs + st.cpus_system_time_secs;
    let wall = t0.elapsed().as_secs_f64();
    // Well under one core (0.2 asked; ticks are coarse, so allow slack).
    assert!(used / wall < 0.5, "used {used}s of cpu in {wall}s");
    assert!((st.cpus_limit.unwrap() - 0.2).abs() < 1e-6);
    let _ = child.kill();
    let _ = child.wait();
    done(cg, "cpu");
}

#[test]
fn pids_limit_bounds_a_fork_loop_and_stats_count_processes() {
    let _cleanup = Cleanup(root("pids"));
    let cg = Cgroup::create(
        &root("pids"),
        "pids",
        &Limits {
            cpus: 1.0,
            mem_bytes: 128 << 20,
            pids_max: Some(10),
        },
    )
    .unwrap();
    // 40 background sleeps under pids.max=10: a fork fails, and the shell
    // (sh exits on "Cannot fork") stops before reaching `exit 0`.
    let mut child = spawn_in(
        &cg,
        "i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done; exit 0",
    );
    let status = child.wait().unwrap();
    assert!(!status.success(), "40 forks succeeded under pids.max=10");
    let st = cg.stats().unwrap();
    // The sleeps that got a pid are still there, and no more than the limit.
    assert!(
        (5..=10).contains(&st.pids_current),
        "pids.current {} after the fork loop",
        st.pids_current
    );
    assert_eq!(st.processes, Some(st.pids_current));
    assert_eq!(st.pids_limit, Some(10));
    assert!(st.processes.unwrap_or(0) >= 2);
    assert!(st.mem_total_bytes > 0);
    cg.kill_all().unwrap();
    assert!(cg.pids().unwrap().is_empty());
    done(cg, "pids");
}

#[test]
fn open_list_and_destroy_roundtrip() {
    let r = root("keep");
    let _cleanup = Cleanup(r.clone());
    let cg = Cgroup::create(
        &r,
        "keep",
        &Limits {
            cpus: 0.5,
            mem_bytes: 64 << 20,
            pids_max: None,
        },
    )
    .unwrap();
    assert!(Cgroup::list(&r).unwrap().contains(&"keep".to_string()));
    let again = Cgroup::open(&r, "keep").unwrap();
    assert_eq!(again.id(), "keep");
    assert!(Cgroup::open(&r, "absent").is_err());
    assert!(Cgroup::create(
        &r,
        "../escape",
        &Limits {
            cpus: 1.0,
            mem_bytes: 1 << 20,
            pids_max: None
        }
    )
    .is_err());
    cg.destroy().unwrap();
    assert!(!Cgroup::list(&r).unwrap().contains(&"keep".to_string()));
    assert!(Cgroup::open(&r, "keep").is_err());
    // A second handle on a destroyed cgroup: destroying it again is fine.
    again.destroy().unwrap();
    Cgroup::remove_root(&r).unwrap();
    Cgroup::remove_root(&r).unwrap();
    assert!(Cgroup::list(&r).unwrap().is_empty());
}

#[test]
fn stats_report_sane_memory_and_mesos_key_names() {
    let _cleanup = Cleanup(root("mem"));
    let cg = Cgroup::create(
        &root("mem"),
        "mem",
        &Limits {
            cpus: 1.0,
            mem_bytes: 64 << 20,
            pids_max: Some(32),
        },
    )
    .unwrap();
    // The shell keeps ~8 MB of anonymous memory in a variable.
    let mut child = spawn_in(
        &cg,
        "x=$(head -c 8000000 /dev/zero | tr '\\0' a); while :; do sleep 1; done",
    );
    let st = wait_until("8 MB of anonymous memory", Duration::from_secs(10), || {
        let st = cg.stats().ok()?;
        // The shell and its sleep, once the variable is built. pids.current and
        // cgroup.procs are read one after the other, so a sample taken while
        // the shell forks its next sleep may count one more; wait for a steady one.
        let steady = st.pids_current == 2 && matches!(st.processes, Some(1..=2));
        (st.mem_anon_bytes >= 8_000_000 && steady).then_some(st)
    });
    assert!(st.mem_rss_bytes >= 8_000_000, "{st:?}");
    assert!(st.mem_total_bytes >= st.mem_anon_bytes, "{st:?}");
    assert!(st.mem_total_bytes < 64 << 20, "{st:?}");
    assert_eq!(st.mem_limit_bytes, Some(64 << 20));
    assert!(st.mem_max_usage_bytes.unwrap_or(u64::MAX) >= st.mem_total_bytes);
    assert_eq!(st.mem_oom_events, 0);
    // The shell, plus its `sleep 1` unless it is between two sleeps.
    assert!(matches!(st.processes, Some(1..=2)), "{st:?}");
    assert!(st.threads >= st.processes, "{st:?}");
    assert_eq!(st.pids_limit, Some(32));
    assert!(st.timestamp > 1.6e9);
    let json = serde_json::to_value(&st).unwrap();
    for key in [
        "timestamp",
        "processes",
        "threads",
        "cpus_user_time_secs",
        "cpus_system_time_secs",
        "cpus_limit",
        "cpus_nr_periods",
        "cpus_nr_throttled",
        "cpus_throttled_time_secs",
        "mem_total_bytes",
        "mem_rss_bytes",
        "mem_cache_bytes",
        "mem_limit_bytes",
        "mem_anon_bytes",
        "mem_file_bytes",
        "mem_swap_bytes",
        "mem_max_usage_bytes",
        "mem_oom_events",
        "pids_current",
        "pids_limit",
    ] {
        assert!(json.get(key).is_some(), "no {key} in {json}");
    }
    cg.kill_all().unwrap();
    let _ = child.wait();
    done(cg, "mem");
}
