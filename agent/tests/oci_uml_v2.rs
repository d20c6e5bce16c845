//! The native OCI containerizer on cgroup v2, for real: the `oci_cgroup`
//! test binary (a master, an agent and image tasks under their limits) runs
//! in the user-mode-linux guest of `isolation/tests/uml-v2.sh`, whose root
//! is the host filesystem and whose /sys/fs/cgroup is a cgroup2 hierarchy,
//! with v2 expected. Needs Debian's user-mode-linux and the `paddock`
//! binary (`cargo build -p paddock`).

#[path = "../../isolation/tests/support/uml.rs"]
mod uml;

const TEST: &str = "an_image_task_gets_the_cpu_memory_and_pids_limits_of_a_command_task";

#[test]
fn image_tasks_get_their_limits_on_cgroup_v2_in_a_uml_guest() {
    let log = uml::run_in_v2_guest(&[uml::test_binary("oci_cgroup", TEST)]);
    uml::assert_passed(&log, &[TEST]);
}
