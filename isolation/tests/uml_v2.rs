//! cgroup v2, for real: `tests/uml-v2.sh` boots a user-mode-linux guest
//! (Debian's `user-mode-linux`) whose root is the host filesystem, mounts a
//! cgroup2 hierarchy in it, and runs this crate's `cgroups` and `init` test
//! binaries there with v2 expected. The same tests that prove enforcement on
//! the v1 host (OOM kill, CFS throttling, pids.max, stats, teardown) then
//! prove it through the v2 files (memory.max, memory.events, cpu.max,
//! cpu.stat, pids.max).

#[path = "support/uml.rs"]
mod uml;

#[test]
fn cgroup_v2_in_uml_guest() {
    let log = uml::run_in_v2_guest(&[
        uml::test_binary("cgroups", "memory_hog_is_oom_killed_and_counted"),
        uml::test_binary("init", "sigterm_to_init_reaches_the_task"),
    ]);
    // The guest really ran them, in v2 mode.
    uml::assert_passed(
        &log,
        &[
            "detects_the_hosts_mode",
            "memory_hog_is_oom_killed_and_counted",
            "busy_loop_is_throttled_to_its_quota",
            "pids_limit_bounds_a_fork_loop_and_stats_count_processes",
            "stats_report_sane_memory_and_mesos_key_names",
            "open_list_and_destroy_roundtrip",
            "sigterm_to_init_reaches_the_task",
            "task_is_pid_2_under_init_with_a_private_proc",
        ],
    );
}
