//! Per-container statistics, named as Mesos's `ResourceStatistics` names
//! them, plus a few Paddock extras (peak memory, OOM kills, pids).

use serde::{Deserialize, Serialize};

use super::files::{read_kv, read_trimmed, read_u64_or_max};
use super::{Cgroup, Mode};
use crate::Error;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    pub timestamp: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub processes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub threads: Option<u64>,
    pub cpus_user_time_secs: f64,
    pub cpus_system_time_secs: f64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cpus_limit: Option<f64>,
    pub cpus_nr_periods: u64,
    pub cpus_nr_throttled: u64,
    pub cpus_throttled_time_secs: f64,
    pub mem_total_bytes: u64,
    /// Memory plus swap in use (v1 memory.memsw.usage_in_bytes when swap
    /// accounting is on; v2 memory.current + memory.swap.current).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mem_total_memsw_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mem_limit_bytes: Option<u64>,
    pub mem_rss_bytes: u64,
    pub mem_cache_bytes: u64,
    pub mem_anon_bytes: u64,
    pub mem_file_bytes: u64,
    pub mem_mapped_file_bytes: u64,
    pub mem_swap_bytes: u64,
    pub mem_unevictable_bytes: u64,
    /// Peak usage (v1 memory.max_usage_in_bytes, v2 memory.peak).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mem_max_usage_bytes: Option<u64>,
    /// Processes killed by the kernel's OOM killer in this container
    /// (v1 memory.oom_control / v2 memory.events `oom_kill`).
    #[serde(alias = "mem_oom_kill_count")]
    pub mem_oom_events: u64,
    pub pids_current: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pids_limit: Option<u64>,
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn count_lines(cg: &Cgroup, file: &str) -> Option<u64> {
    let dir = cg.dir_of("memory")?;
    read_trimmed(dir, file)
        .ok()
        .map(|s| s.lines().count() as u64)
}

pub fn read(cg: &Cgroup) -> Result<Stats, Error> {
    let mut s = Stats {
        timestamp: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
        processes: count_lines(cg, "cgroup.procs"),
        threads: count_lines(
            cg,
            if cg.mode == Mode::V1 {
                "tasks"
            } else {
                "cgroup.threads"
            },
        ),
        ..Default::default()
    };
    match cg.mode {
        Mode::V1 => read_v1(cg, &mut s)?,
        Mode::V2 => read_v2(cg, &mut s)?,
    }
    s.mem_oom_events = cg.oom_kills().unwrap_or(0);
    Ok(s)
}

fn read_v1(cg: &Cgroup, s: &mut Stats) -> Result<(), Error> {
    let acct = cg.need("cpuacct")?;
    let ticks = clock_ticks();
    let stat = read_kv(acct, "cpuacct.stat")?;
    s.cpus_user_time_secs = stat.get("user").copied().unwrap_or(0) as f64 / ticks;
    s.cpus_system_time_secs = stat.get("system").copied().unwrap_or(0) as f64 / ticks;
    let cpu = cg.need("cpu")?;
    let cs = read_kv(cpu, "cpu.stat")?;
    s.cpus_nr_periods = cs.get("nr_periods").copied().unwrap_or(0);
    s.cpus_nr_throttled = cs.get("nr_throttled").copied().unwrap_or(0);
    s.cpus_throttled_time_secs = cs.get("throttled_time").copied().unwrap_or(0) as f64 / 1e9;
    let quota: i64 = read_trimmed(cpu, "cpu.cfs_quota_us")?.parse().unwrap_or(-1);
    let period: i64 = read_trimmed(cpu, "cpu.cfs_period_us")?.parse().unwrap_or(0);
    if quota > 0 && period > 0 {
        s.cpus_limit = Some(quota as f64 / period as f64);
    }
    let mem = cg.need("memory")?;
    s.mem_total_bytes = read_trimmed(mem, "memory.usage_in_bytes")?
        .parse()
        .unwrap_or(0);
    let limit: u64 = read_trimmed(mem, "memory.limit_in_bytes")?
        .parse()
        .unwrap_or(u64::MAX);
    // v1 reports "no limit" as a page-rounded i64::MAX.
    s.mem_limit_bytes = (limit < (1u64 << 62)).then_some(limit);
    s.mem_total_memsw_bytes = read_trimmed(mem, "memory.memsw.usage_in_bytes")
        .ok()
        .and_then(|v| v.parse().ok());
    s.mem_max_usage_bytes = read_trimmed(mem, "memory.max_usage_in_bytes")
        .ok()
        .and_then(|v| v.parse().ok());
    let ms = read_kv(mem, "memory.stat")?;
    let get = |k: &str| {
        ms.get(&format!("total_{k}"))
            .or_else(|| ms.get(k))
            .copied()
            .unwrap_or(0)
    };
    s.mem_rss_bytes = get("rss");
    s.mem_cache_bytes = get("cache");
    s.mem_anon_bytes = get("active_anon") + get("inactive_anon");
    s.mem_file_bytes = get("active_file") + get("inactive_file");
    s.mem_mapped_file_bytes = get("mapped_file");
    s.mem_swap_bytes = get("swap");
    s.mem_unevictable_bytes = get("unevictable");
    let pids = cg.need("pids")?;
    s.pids_current = read_trimmed(pids, "pids.current")?.parse().unwrap_or(0);
    s.pids_limit = read_u64_or_max(pids, "pids.max")?;
    Ok(())
}

fn read_v2(cg: &Cgroup, s: &mut Stats) -> Result<(), Error> {
    let dir = cg.need("cpu")?;
    let cs = read_kv(dir, "cpu.stat")?;
    s.cpus_user_time_secs = cs.get("user_usec").copied().unwrap_or(0) as f64 / 1e6;
    s.cpus_system_time_secs = cs.get("system_usec").copied().unwrap_or(0) as f64 / 1e6;
    s.cpus_nr_periods = cs.get("nr_periods").copied().unwrap_or(0);
    s.cpus_nr_throttled = cs.get("nr_throttled").copied().unwrap_or(0);
    s.cpus_throttled_time_secs = cs.get("throttled_usec").copied().unwrap_or(0) as f64 / 1e6;
    let max = read_trimmed(dir, "cpu.max")?;
    let mut parts = max.split_whitespace();
    if let (Some(q), Some(p)) = (parts.next(), parts.next()) {
        if let (Ok(q), Ok(p)) = (q.parse::<f64>(), p.parse::<f64>()) {
            if p > 0.0 {
                s.cpus_limit = Some(q / p);
            }
        }
    }
    s.mem_total_bytes = read_trimmed(dir, "memory.current")?.parse().unwrap_or(0);
    s.mem_limit_bytes = read_u64_or_max(dir, "memory.max")?;
    s.mem_max_usage_bytes = read_trimmed(dir, "memory.peak")
        .ok()
        .and_then(|v| v.parse().ok());
    let ms = read_kv(dir, "memory.stat")?;
    let get = |k: &str| ms.get(k).copied().unwrap_or(0);
    s.mem_anon_bytes = get("anon");
    s.mem_file_bytes = get("file");
    s.mem_rss_bytes = get("anon");
    s.mem_cache_bytes = get("file");
    s.mem_mapped_file_bytes = get("file_mapped");
    s.mem_unevictable_bytes = get("unevictable");
    s.mem_swap_bytes = read_trimmed(dir, "memory.swap.current")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if dir.join("memory.swap.current").exists() {
        s.mem_total_memsw_bytes = Some(s.mem_total_bytes + s.mem_swap_bytes);
    }
    s.pids_current = read_trimmed(dir, "pids.current")?.parse().unwrap_or(0);
    s.pids_limit = read_u64_or_max(dir, "pids.max")?;
    Ok(())
}
