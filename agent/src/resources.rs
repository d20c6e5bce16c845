//! What this host can offer: detected, then overridden by `--resources`.

use std::path::Path;

use paddock_proto::resources::{RangeSet, Resources};

/// Memory kept for the system (MB), unless the host is tiny.
const MEM_RESERVED_MB: f64 = 1024.0;
/// Disk kept for the system (MB), unless the disk is tiny.
const DISK_RESERVED_MB: f64 = 5120.0;

fn keep_some(total: f64, reserved: f64) -> f64 {
    if total > 2.0 * reserved {
        total - reserved
    } else {
        (total / 2.0).floor()
    }
}

pub fn detected(work_dir: &Path) -> Resources {
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as f64;
    let mem_mb = procfs::Current::current()
        .map(|m: procfs::Meminfo| m.mem_total as f64 / 1048576.0)
        .unwrap_or(1024.0);
    let disk_mb = nix::sys::statvfs::statvfs(work_dir)
        .map(|s| s.blocks() as f64 * s.fragment_size() as f64 / 1048576.0)
        .unwrap_or(1024.0);
    Resources::new()
        .with_scalar("cpus", cpus)
        .with_scalar("mem", keep_some(mem_mb, MEM_RESERVED_MB).floor())
        .with_scalar("disk", keep_some(disk_mb, DISK_RESERVED_MB).floor())
        .with_ranges("ports", RangeSet::new([(31000, 32000)]))
}

/// The host's resources, with every part named in `given` taking its place.
pub fn detect(given: Option<&Resources>, work_dir: &Path) -> Resources {
    let base = detected(work_dir);
    let Some(given) = given else { return base };
    merge(&base, given)
}

pub fn merge(base: &Resources, given: &Resources) -> Resources {
    let mut out = given.clone();
    for (name, v) in base.scalars() {
        if given.scalar_milli(name) == 0 {
            out.set_scalar(name, v);
        }
    }
    if given.range_set("ports").is_none() {
        if let Some(p) = base.range_set("ports") {
            out = out.with_ranges("ports", p.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_parts_override_detected_ones() {
        let base = Resources::parse("cpus:8;mem:16000;disk:90000;ports:[31000-32000]").unwrap();
        let given = Resources::parse("cpus:2;ports:[5-6]").unwrap();
        let m = merge(&base, &given);
        assert_eq!(m.scalar("cpus"), 2.0);
        assert_eq!(m.scalar("mem"), 16000.0);
        assert_eq!(m.range_set("ports").unwrap().count(), 2);
    }

    #[test]
    fn detection_finds_something() {
        let r = detected(Path::new("/"));
        assert!(r.scalar("cpus") >= 1.0);
        assert!(r.scalar("mem") > 0.0);
        assert_eq!(r.range_set("ports").unwrap().count(), 1001);
    }

    #[test]
    fn reservation_never_takes_everything() {
        assert_eq!(keep_some(1000.0, 1024.0), 500.0);
        assert_eq!(keep_some(10000.0, 1024.0), 8976.0);
    }
}
