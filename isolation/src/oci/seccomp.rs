//! The default seccomp profile of a container, comparable to Docker's: every
//! system call is allowed except those that reach past the container (kernel
//! modules, kexec, mounts, the clock, swap, reboot, keyrings, BPF, perf,
//! ptrace, file handles, new user namespaces, …), which fail with EPERM.
//!
//! Docker's profile is an allow-list that also denies these; a deny-list
//! keeps new, harmless system calls working on newer kernels. Names the
//! kernel or libseccomp does not know are skipped by libcontainer.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompOperator, LinuxSyscall,
};

/// Always EPERM.
pub const DENIED: &[&str] = &[
    // kernel modules and kexec
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "query_module",
    "get_kernel_syms",
    "kexec_load",
    "kexec_file_load",
    // mounts (no CAP_SYS_ADMIN in the default set) and the root
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    // namespaces: entering another one
    "setns",
    // swap, reboot, accounting, quotas
    "swapon",
    "swapoff",
    "reboot",
    "acct",
    "quotactl",
    "quotactl_fd",
    "nfsservctl",
    // time
    "settimeofday",
    "stime",
    "clock_settime",
    "clock_settime64",
    "clock_adjtime",
    "clock_adjtime64",
    // tracing and other processes' memory
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "perf_event_open",
    "bpf",
    "lookup_dcookie",
    "fanotify_init",
    // keyrings (not namespaced)
    "keyctl",
    "add_key",
    "request_key",
    // file handles (open_by_handle_at broke out of Docker in 2014)
    "open_by_handle_at",
    "name_to_handle_at",
    // raw I/O, old and obscure interfaces
    "iopl",
    "ioperm",
    "uselib",
    "userfaultfd",
    "vm86",
    "vm86old",
    "_sysctl",
    "sysfs",
    "ustat",
    "syslog",
    "vhangup",
    "pciconfig_read",
    "pciconfig_write",
    "pciconfig_iobase",
    // NUMA policy of the host
    "mbind",
    "set_mempolicy",
    "migrate_pages",
    "move_pages",
    // io_uring bypasses seccomp for the operations it runs
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
];

const CLONE_NEWUSER: u64 = libc::CLONE_NEWUSER as u64;
const EPERM: u32 = libc::EPERM as u32;
const ENOSYS: u32 = libc::ENOSYS as u32;

fn rule(names: &[&str], errno: u32, args: Option<Vec<LinuxSeccompArg>>) -> LinuxSyscall {
    let mut s = LinuxSyscall::default();
    s.set_names(names.iter().map(|n| n.to_string()).collect())
        .set_action(LinuxSeccompAction::ScmpActErrno)
        .set_errno_ret(Some(errno))
        .set_args(args);
    s
}

/// `(arg[index] & mask) == mask`.
fn has_flag(index: usize, mask: u64) -> LinuxSeccompArg {
    LinuxSeccompArgBuilder::default()
        .index(index)
        .value(mask)
        .value_two(mask)
        .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
        .build()
        .unwrap_or_default()
}

/// The profile.
pub fn default_profile() -> LinuxSeccomp {
    let syscalls = vec![
        rule(DENIED, EPERM, None),
        // A new user namespace would give back every capability inside it.
        rule(&["unshare"], EPERM, Some(vec![has_flag(0, CLONE_NEWUSER)])),
        rule(&["clone"], EPERM, Some(vec![has_flag(0, CLONE_NEWUSER)])),
        // clone3 passes its flags in memory, out of seccomp's sight; ENOSYS
        // makes libc fall back to clone, which is checked (as Docker does).
        rule(&["clone3"], ENOSYS, None),
    ];
    let mut p = LinuxSeccomp::default();
    p.set_default_action(LinuxSeccompAction::ScmpActAllow)
        .set_architectures(Some(architectures()))
        .set_syscalls(Some(syscalls));
    p
}

fn architectures() -> Vec<Arch> {
    if cfg!(target_arch = "x86_64") {
        vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
    } else if cfg!(target_arch = "aarch64") {
        vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]
    } else {
        vec![Arch::ScmpArchNative]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dangerous_calls_are_denied_with_eperm() {
        let p = default_profile();
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActAllow);
        let rules = p.syscalls().clone().unwrap_or_default();
        let denied: Vec<&String> = rules
            .iter()
            .filter(|r| r.args().is_none() && r.errno_ret() == Some(EPERM))
            .flat_map(|r| r.names())
            .collect();
        for must in [
            "kexec_load",
            "init_module",
            "finit_module",
            "delete_module",
            "mount",
            "umount2",
            "pivot_root",
            "swapon",
            "swapoff",
            "reboot",
            "ptrace",
            "bpf",
            "perf_event_open",
            "keyctl",
            "add_key",
            "request_key",
            "open_by_handle_at",
            "acct",
            "settimeofday",
            "clock_settime",
        ] {
            assert!(denied.iter().any(|d| *d == must), "{must} is not denied");
        }
        let unshare = rules
            .iter()
            .find(|r| r.names().iter().any(|n| n == "unshare"))
            .and_then(|r| r.args().clone())
            .unwrap_or_default();
        assert_eq!(unshare.len(), 1);
        assert_eq!(unshare[0].value(), CLONE_NEWUSER);
    }

    #[test]
    fn the_profile_serializes_as_oci_json() {
        let v = serde_json::to_value(default_profile()).unwrap_or_default();
        assert_eq!(v["defaultAction"], "SCMP_ACT_ALLOW");
        assert_eq!(v["syscalls"][1]["args"][0]["op"], "SCMP_CMP_MASKED_EQ");
    }
}
