//! The executor's zygote (`paddock_isolation::zygote`): forked when the
//! executor starts, kept here until the launch that turns it into init.

use std::os::unix::net::UnixStream;
use std::sync::Mutex;

use paddock_isolation::zygote::{Start, Zygote};

use super::ExecutorEnv;

static ZYGOTE: Mutex<Option<Result<Zygote, String>>> = Mutex::new(None);

/// Keeps the zygote (or why there is none) for the launch.
pub fn keep(z: Result<Zygote, String>) {
    if let Ok(mut slot) = ZYGOTE.lock() {
        *slot = Some(z);
    }
}

/// Lets the zygote go: this task needs no init (a Docker container).
pub fn discard() {
    if let Ok(mut slot) = ZYGOTE.lock() {
        // Its socket closes, and the zygote exits.
        slot.take();
    }
}

/// Turns the zygote into init with `start`: init's pid and the socket on
/// which an OCI init reports. First it is put into every cgroup the
/// executor is in: it was forked before the agent may have moved the
/// executor into its cpu cgroup (the agent does that right after exec),
/// and init must never run outside the task's limits.
pub fn start(env: &ExecutorEnv, start: &Start) -> Result<(u32, UnixStream), String> {
    let z = ZYGOTE
        .lock()
        .ok()
        .and_then(|mut slot| slot.take())
        .unwrap_or_else(|| Err("the task's init was already used".into()))
        .map_err(|e| format!("no init for the task: {e}"))?;
    join_our_cgroups(env, z.pid())?;
    z.start(start)
        .map_err(|e| format!("cannot hand the task to its init: {e}"))
}

fn join_our_cgroups(env: &ExecutorEnv, pid: u32) -> Result<(), String> {
    let ours = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    let theirs = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map_err(|e| format!("cannot read the cgroups of init: {e}"))?;
    if ours == theirs {
        return Ok(());
    }
    let (Some(root), Some(id)) = (&env.cgroup_root, &env.container_id) else {
        // Not the agent's command executor: no task cgroup to join.
        return Ok(());
    };
    paddock_isolation::cgroups::Cgroup::open(root, id)
        .and_then(|cg| cg.add_pid(pid))
        .map_err(|e| format!("cannot put init into the task's cgroups: {e}"))
}
