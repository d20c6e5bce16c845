//! Namespaces.

use crate::Error;

/// `unshare(CLONE_NEWPID)`: the caller's *children* start in a new PID
/// namespace, the first of them as its PID 1. Call it before any thread is
/// started.
pub fn unshare_pid() -> Result<(), Error> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID)
        .map_err(|e| Error::Namespace(format!("unshare(CLONE_NEWPID): {e}")))
}

/// `unshare(CLONE_NEWNS)` with every mount made a slave: mounts the host
/// makes later still appear here, mounts made here (a container's overlay
/// rootfs) never reach the host and vanish with the last process of the
/// namespace. Call it before any thread is started.
pub fn unshare_mounts_slave() -> Result<(), Error> {
    use nix::mount::{mount, MsFlags};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| Error::Namespace(format!("unshare(CLONE_NEWNS): {e}")))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(|e| Error::Namespace(format!("make / a slave mount: {e}")))
}
