//! What a container sees at `/sys/fs/cgroup` on a v1 (or hybrid) host.
//!
//! libcontainer's own answer to a `cgroup` mount on v1 is a tmpfs with one
//! cgroup mount (in the container's cgroup namespace) for every hierarchy
//! of the host, each read-write, plus a cgroup directory created in every
//! hierarchy. That is ten mounts a container on a stock host, and most of
//! them show hierarchies that nothing inside a task reads. A container
//! here sees only the hierarchies the agent limits it with (cpu, cpuacct,
//! memory, pids): its own cgroup in each,
//! bind-mounted **read-only**, so a task running as root can read its
//! limits (a JVM sizes itself from them) but cannot raise them.
//!
//! On v2 the container keeps the namespaced cgroup2 mount of the default
//! mounts, which is one mount and already read-only.

use std::path::{Path, PathBuf};

use super::spec::Bind;

/// Where hosts mount their cgroup hierarchies, and where a container sees
/// them.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The v1 controllers whose hierarchy a container sees.
pub const VIEWED_V1: [&str; 4] = ["cpu", "cpuacct", "memory", "pids"];

/// The read-only binds of the container's own cgroup `cgroups_path` (its
/// spec's `cgroupsPath`, which libcontainer uses in every hierarchy), in
/// the hierarchies that the executor's `/proc/self/cgroup` lists: one per
/// viewed hierarchy, named as the host names it
/// (`memory`, or `cpu,cpuacct` when co-mounted), plus one per controller
/// of a co-mounted hierarchy, so `/sys/fs/cgroup/cpu` exists either way
/// (the host has symlinks for that; spec mounts cannot make symlinks).
/// Named hierarchies (`name=systemd`) and the cgroup2 line are skipped.
pub fn v1_binds(proc_self_cgroup: &str, cgroups_path: &Path, host_root: &Path) -> Vec<Bind> {
    let rel = cgroups_path.strip_prefix("/").unwrap_or(cgroups_path);
    let mut out = Vec::new();
    for line in proc_self_cgroup.lines() {
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(_)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let viewed: Vec<&str> = controllers
            .split(',')
            .filter(|c| VIEWED_V1.contains(c))
            .collect();
        if viewed.is_empty() || controllers.contains('/') {
            continue;
        }
        let source: PathBuf = host_root.join(controllers).join(rel);
        let mut names = vec![controllers];
        if controllers.contains(',') {
            names.extend(viewed);
        }
        for name in names {
            out.push(Bind {
                source: source.clone(),
                destination: format!("{CGROUP_ROOT}/{name}"),
                readonly: true,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEPARATE: &str = "12:blkio:/paddock/c1\n\
        11:memory:/paddock/c1\n\
        10:cpu:/paddock/c1\n\
        9:cpuacct:/paddock/c1\n\
        8:pids:/paddock/c1\n\
        7:devices:/paddock/c1\n\
        1:name=systemd:/init.scope\n\
        0::/init.scope\n";

    fn dests(b: &[Bind]) -> Vec<&str> {
        b.iter().map(|b| b.destination.as_str()).collect()
    }

    #[test]
    fn only_the_limiting_hierarchies_are_seen_read_only() {
        let b = v1_binds(
            SEPARATE,
            Path::new("/paddock/c1"),
            Path::new("/sys/fs/cgroup"),
        );
        assert_eq!(
            dests(&b),
            [
                "/sys/fs/cgroup/memory",
                "/sys/fs/cgroup/cpu",
                "/sys/fs/cgroup/cpuacct",
                "/sys/fs/cgroup/pids"
            ]
        );
        assert!(b.iter().all(|b| b.readonly));
        assert_eq!(b[0].source, Path::new("/sys/fs/cgroup/memory/paddock/c1"));
    }

    #[test]
    fn a_comounted_hierarchy_is_seen_under_each_name() {
        // The cpu line still shows the agent's cgroup (a join not made
        // yet): the container's cgroup is cgroupsPath all the same.
        let b = v1_binds(
            "4:cpu,cpuacct:/paddock\n3:net_cls,net_prio:/\n",
            Path::new("/paddock/c1"),
            Path::new("/h"),
        );
        assert_eq!(
            dests(&b),
            [
                "/sys/fs/cgroup/cpu,cpuacct",
                "/sys/fs/cgroup/cpu",
                "/sys/fs/cgroup/cpuacct"
            ]
        );
        assert!(b
            .iter()
            .all(|b| b.source == Path::new("/h/cpu,cpuacct/paddock/c1")));
    }

    #[test]
    fn garbage_lines_are_skipped() {
        let b = v1_binds(
            "nonsense\n5:memory\n6:pids/../x:/\n:::\n",
            Path::new("/c"),
            Path::new("/h"),
        );
        assert!(b.is_empty(), "{b:?}");
    }
}
