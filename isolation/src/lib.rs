//! Task isolation on Linux, and nothing about tasks themselves.
//!
//! This crate owns cgroups v1 and v2 (`cgroups`: create with cpu, memory and
//! pids limits, join from `pre_exec`, statistics with Mesos key names, OOM
//! detection, teardown), the PID and mount namespaces (`ns`), `init`, the
//! tiny PID 1 that runs inside every task's PID namespace, and `oci`, the
//! OCI runtime spec of image containers (capabilities, seccomp, mounts,
//! user) and their launch through libcontainer from init, and `spawn`, which
//! starts a process in its cgroups without copying the caller's memory
//! (`CLONE_VM | CLONE_VFORK`), and `zygote`, the early fork of the executor
//! that becomes a task's init without an `exec`, and `launcher`, the agent's
//! single-threaded helper that forks executors without an `exec` (`wire`
//! is their message format, `forked` what both do to take on their role). It has no async code, so the executor can use
//! it before its runtime starts.

pub mod cgroups;
pub mod forked;
pub mod init;
pub mod launcher;
pub mod ns;
pub mod oci;
pub mod spawn;
pub mod wire;
pub mod zygote;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cgroup {path}: {op}: {source}")]
    Io {
        path: String,
        op: &'static str,
        source: std::io::Error,
    },
    #[error("cgroup '{0}' does not exist")]
    Missing(String),
    #[error("cgroups: {0}")]
    Cgroups(String),
    #[error("namespace: {0}")]
    Namespace(String),
    #[error("invalid cgroup id '{0}': use letters, digits, '-', '_' and '.'")]
    BadId(String),
}
