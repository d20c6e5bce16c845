//! Shared helpers for Paddock's benchmark programs (see `src/bin/`): their
//! command line ([`args`]), a `paddock dev` per run and the cleanup of its
//! cgroups ([`dev`]), a standalone master ([`master`]), image tasks and
//! the warm-up pull ([`image_tasks`]), simulated agents and a master +
//! Marathon for them ([`marathon_sim`]), the `runc` baseline ([`runc`]),
//! latency summaries and process memory readings. Figures go in
//! BENCHMARKS.md with the exact command that produced them.

pub mod args;
pub mod dev;
pub mod image_tasks;
pub mod marathon_sim;
pub mod master;
pub mod runc;

use std::time::Duration;

pub use args::{arg, arg_str};
pub use dev::{clean_cgroup_root, Dev};
pub use master::start_master;

/// p50/p90/p99/max of a set of durations, in milliseconds.
pub fn summary(samples: &mut [Duration]) -> String {
    samples.sort();
    let pick = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples
            .get(i)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or(f64::NAN)
    };
    format!(
        "n={} p50={:.1}ms p90={:.1}ms p99={:.1}ms max={:.1}ms",
        samples.len(),
        pick(0.5),
        pick(0.9),
        pick(0.99),
        pick(1.0)
    )
}

/// Resident set size of a process, in bytes (VmRSS).
pub fn rss_bytes(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
