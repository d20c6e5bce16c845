//! Namespaces.

use crate::Error;

/// `unshare(CLONE_NEWPID)`: the caller's *children* start in a new PID
/// namespace, the first of them as its PID 1. Call it before any thread is
/// started.
pub fn unshare_pid() -> Result<(), Error> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWPID)
        .map_err(|e| Error::Namespace(format!("unshare(CLONE_NEWPID): {e}")))
}
