//! Real cgroups, real processes: limits are enforced and stats are read.
//! Runs on whatever the host has (v1 here, v2 in the UML guest test).

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use paddock_isolation::cgroups::{detect_mode, Cgroup, Limits, Mode};

fn root() -> String {
    format!("paddock-itest-{}", std::process::id())
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
    let want = if std::env::var_os("PADDOCK_EXPECT_CGROUP_V2").is_some() {
        Mode::V2
    } else {
        mode
    };
    assert_eq!(mode, want);
}

#[test]
fn memory_hog_is_oom_killed_and_counted() {
    let cg = Cgroup::create(
        &root(),
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
    assert!(!status.success());
    let kills = cg.oom_kills().unwrap();
    assert!(kills > 0, "oom_kill counter is {kills}");
    let st = cg.stats().unwrap();
    assert_eq!(st.mem_limit_bytes, Some(32 << 20));
    assert!(st.mem_oom_kill_count > 0);
    cg.destroy().unwrap();
}

#[test]
fn busy_loop_is_throttled_to_its_quota() {
    let cg = Cgroup::create(
        &root(),
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
    cg.destroy().unwrap();
}

#[test]
fn pids_limit_bounds_a_fork_loop_and_stats_count_processes() {
    let cg = Cgroup::create(
        &root(),
        "pids",
        &Limits {
            cpus: 1.0,
            mem_bytes: 128 << 20,
            pids_max: Some(10),
        },
    )
    .unwrap();
    let mut child = spawn_in(
        &cg,
        "i=0; while [ $i -lt 40 ]; do sleep 30 & i=$((i+1)); done; wait",
    );
    let st = wait_until("the pids limit to bite", Duration::from_secs(10), || {
        let st = cg.stats().ok()?;
        (st.pids_current >= 9).then_some(st)
    });
    assert!(
        st.pids_current <= 10,
        "pids.current {} over the limit",
        st.pids_current
    );
    assert_eq!(st.pids_limit, Some(10));
    assert!(st.processes.unwrap_or(0) >= 2);
    assert!(st.mem_total_bytes > 0);
    cg.kill_all().unwrap();
    let _ = child.wait();
    assert!(cg.pids().unwrap().is_empty());
    cg.destroy().unwrap();
}

#[test]
fn open_list_and_destroy_roundtrip() {
    let r = root();
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
}
