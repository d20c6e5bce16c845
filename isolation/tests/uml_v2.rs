//! cgroup v2, for real: `tests/uml-v2.sh` boots a user-mode-linux guest
//! (Debian's `user-mode-linux`) whose root is the host filesystem, mounts a
//! cgroup2 hierarchy in it, and runs this crate's `cgroups` and `init` test
//! binaries there with v2 expected. The same tests that prove enforcement on
//! the v1 host (OOM kill, CFS throttling, pids.max, stats, teardown) then
//! prove it through the v2 files (memory.max, memory.events, cpu.max,
//! cpu.stat, pids.max).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The newest `<name>-<hash>` test executable next to this one (cargo
/// builds every integration test of the crate before running any) that
/// holds the test `marker`, so a same-named test of another crate in the
/// shared target directory is never picked.
fn test_binary(name: &str, marker: &str) -> PathBuf {
    let me = std::env::current_exe().unwrap();
    let dir = me.parent().unwrap();
    let prefix = format!("{name}-");
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(&prefix) && !n.contains('.')
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    found.sort();
    let want = format!("{marker}: test");
    found
        .into_iter()
        .rev()
        .map(|(_, p)| p)
        .find(|p| {
            Command::new(p)
                .arg("--list")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(&want))
        })
        .unwrap_or_else(|| panic!("no {name} test binary with {marker} in {}", dir.display()))
}

#[test]
fn cgroup_v2_in_uml_guest() {
    if !Path::new("/usr/bin/linux.uml").exists() && !Path::new("/usr/bin/linux").exists() {
        panic!(
            "user-mode-linux is not installed: `apt-get install user-mode-linux` \
             (scripts/setup.sh does) to test cgroup v2 in a guest"
        );
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/uml-v2.sh");
    let out = Command::new("sh")
        .arg(&script)
        .arg(test_binary(
            "cgroups",
            "memory_hog_is_oom_killed_and_counted",
        ))
        .arg(test_binary("init", "sigterm_to_init_reaches_the_task"))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the tests failed inside the cgroup v2 guest ({:?}):\n{log}\n{err}",
        out.status
    );
    let controllers = log.lines().next().unwrap_or_default();
    for c in ["cpu", "memory", "pids"] {
        assert!(controllers.contains(c), "{controllers}");
    }
    // The guest really ran them, in v2 mode.
    for t in [
        "detects_the_hosts_mode",
        "memory_hog_is_oom_killed_and_counted",
        "busy_loop_is_throttled_to_its_quota",
        "pids_limit_bounds_a_fork_loop_and_stats_count_processes",
        "stats_report_sane_memory_and_mesos_key_names",
        "open_list_and_destroy_roundtrip",
        "sigterm_to_init_reaches_the_task",
        "task_is_pid_2_under_init_with_a_private_proc",
    ] {
        assert!(log.contains(&format!("test {t} ... ok")), "{t}:\n{log}");
    }
}
