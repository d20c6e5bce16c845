//! The native OCI containerizer on cgroup v2, for real: the `oci_cgroup`
//! test binary (a master, an agent and image tasks under their limits) and
//! the `oci_containers` one (a local registry, isolation, OOM, kill, private
//! network, image config) run in the user-mode-linux guest of
//! `isolation/tests/uml-v2.sh`, whose root is the host filesystem and whose
//! /sys/fs/cgroup is a cgroup2 hierarchy, with v2 expected. ~40 s. Needs
//! Debian's user-mode-linux, what those two tests need, and the `paddock`
//! binary (`cargo build -p paddock`).

#[path = "../../isolation/tests/support/uml.rs"]
mod uml;

const LIMITS: &str = "an_image_task_gets_the_cpu_memory_and_pids_limits_of_a_command_task";
const CONTAINERS: [&str; 5] = [
    "an_image_task_runs_isolated_in_the_images_rootfs",
    "a_memory_hog_in_a_container_is_oom_killed_and_reported",
    "missing_images_and_unreachable_registries_fail_the_launch_naming_the_image",
    "a_killed_container_task_is_killed_and_a_private_network_has_only_loopback",
    "the_images_env_workdir_and_user_are_honoured_and_the_command_overrides_its_entrypoint",
];

#[test]
fn image_tasks_get_their_limits_on_cgroup_v2_in_a_uml_guest() {
    let log = uml::run_in_v2_guest(&[
        uml::test_binary("oci_cgroup", LIMITS),
        uml::test_binary("oci_containers", CONTAINERS[0]),
    ]);
    uml::assert_passed(&log, &[LIMITS]);
    uml::assert_passed(&log, &CONTAINERS);
}
