//! Per-container disk limits, as Mesos's posix/disk isolator: every
//! `--disk-watch-interval` the agent measures what each container holds on
//! disk and kills a container that holds more than its `disk`
//! (TASK_FAILED, REASON_CONTAINER_LIMITATION_DISK).
//!
//! - `usage`: the walker (allocated blocks, hard links once, no symlinks
//!   followed, no mounts entered, bounded);
//! - `policy`: the pure part: a container's limit, over or not, the message;
//! - `watch`: the periodic loop, off the async runtime.
//!
//! What is measured per container: its sandbox; for a MESOS image task the
//! container's directory `<work_dir>/oci/<container>` (the overlay's upper
//! and work dirs, or the copied rootfs when overlay is not available); for a
//! DOCKER task also the container's writable layer as the engine reports it
//! (`SizeRw`). The last measurement is kept here for `/monitor/statistics`
//! (`disk_used_bytes`, `disk_limit_bytes`).

pub mod policy;
pub mod usage;
mod watch;

use std::collections::HashMap;
use std::sync::Mutex;

pub use watch::run;

/// The last measurement of one container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measured {
    pub used_bytes: u64,
    pub limit_bytes: Option<u64>,
}

/// The last measurement of every live container, by container id.
#[derive(Debug, Default)]
pub struct UsageBoard(Mutex<HashMap<String, Measured>>);

impl UsageBoard {
    pub fn get(&self, container_id: &str) -> Option<Measured> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(container_id)
            .copied()
    }

    /// Replaces everything: containers that are gone are forgotten.
    fn replace(&self, all: HashMap<String, Measured>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = all;
    }
}
