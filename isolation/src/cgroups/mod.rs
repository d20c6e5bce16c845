//! One cgroup per container, on cgroup v1 (each controller its own
//! hierarchy, as on hybrid hosts) or v2 (the unified tree).
//!
//! cgroups-rs finds the hierarchies, creates and deletes the directories
//! (enabling controllers on the way down on v2) and lists processes. Limits
//! and statistics are plain file writes and reads here, so that every value
//! is exactly what the kernel documents and a malformed file is an error,
//! never a panic.

mod files;
mod stats;

use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cgroups_rs::fs::hierarchies;

use crate::Error;
use files::{read_kv, read_trimmed, write_file};
pub use stats::Stats;

/// The controllers Paddock uses. freezer (v1 only) makes teardown race-free.
const V1_CONTROLLERS: [&str; 5] = ["cpu", "cpuacct", "memory", "pids", "freezer"];
const V2_CONTROLLERS: [&str; 3] = ["cpu", "memory", "pids"];

/// The CFS period: quotas are expressed against 100 ms.
pub const CFS_PERIOD_US: u64 = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Mode {
    V1,
    V2,
}

/// v2 iff the root of /sys/fs/cgroup is itself a cgroup2 mount.
pub fn detect_mode() -> Result<Mode, Error> {
    if hierarchies::is_cgroup2_unified_mode() {
        return Ok(Mode::V2);
    }
    if Path::new("/sys/fs/cgroup/memory").exists() {
        return Ok(Mode::V1);
    }
    Err(Error::Cgroups(
        "no cgroup hierarchy found under /sys/fs/cgroup".into(),
    ))
}

/// Where the hierarchies are mounted. On v1 that comes from
/// /proc/self/mountinfo, read once per process: reading it takes the
/// kernel's global namespace lock, which a burst of container launches
/// keeps busy with their mounts, and two reads a launch were ~1.5 ms of
/// the agent's serial launch path. cgroup mounts do not move under a
/// running agent.
fn hierarchy() -> Box<dyn cgroups_rs::fs::Hierarchy> {
    static V1: std::sync::OnceLock<hierarchies::V1> = std::sync::OnceLock::new();
    if hierarchies::is_cgroup2_unified_mode() {
        return Box::new(hierarchies::V2::new());
    }
    Box::new(V1.get_or_init(hierarchies::V1::new).clone())
}

/// What a container may use.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub cpus: f64,
    pub mem_bytes: u64,
    pub pids_max: Option<u64>,
}

impl Limits {
    /// cpu.shares as Mesos computes it: 1024 per cpu, at least 2.
    pub fn shares(&self) -> u64 {
        ((self.cpus * 1024.0) as u64).max(2)
    }

    /// CFS quota in microseconds per [`CFS_PERIOD_US`], at least 1 ms.
    pub fn quota_us(&self) -> u64 {
        ((self.cpus * CFS_PERIOD_US as f64) as u64).max(1000)
    }

    /// cgroup v2 cpu.weight (1..=10000) from v1 shares, as runc maps it.
    pub fn weight(&self) -> u64 {
        let shares = self.shares().min(262_144);
        1 + ((shares - 2) * 9999) / 262_142
    }
}

fn check_id(id: &str) -> Result<(), Error> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::BadId(id.to_string()))
    }
}

/// A container's cgroup.
pub struct Cgroup {
    id: String,
    mode: Mode,
    inner: cgroups_rs::fs::Cgroup,
    /// The cgroup's directory in every hierarchy it lives in, by controller.
    dirs: Vec<(String, PathBuf)>,
}

impl std::fmt::Debug for Cgroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cgroup")
            .field("id", &self.id)
            .field("mode", &self.mode)
            .field("dirs", &self.dirs)
            .finish()
    }
}

fn controllers(mode: Mode) -> Vec<String> {
    match mode {
        Mode::V1 => V1_CONTROLLERS.iter().map(|s| s.to_string()).collect(),
        Mode::V2 => V2_CONTROLLERS.iter().map(|s| s.to_string()).collect(),
    }
}

impl Cgroup {
    /// Creates `<root>/<id>` and applies `limits`.
    pub fn create(root: &str, id: &str, limits: &Limits) -> Result<Cgroup, Error> {
        check_id(root)?;
        check_id(id)?;
        let mode = detect_mode()?;
        let path = format!("{root}/{id}");
        let inner = cgroups_rs::fs::Cgroup::new_with_specified_controllers(
            hierarchy(),
            &path,
            Some(controllers(mode)),
        )
        .map_err(|e| Error::Cgroups(format!("create {path}: {e}")))?;
        let cg = Cgroup::wrap(id, mode, inner);
        cg.update(limits)?;
        Ok(cg)
    }

    /// An existing cgroup (agent recovery, the executor reading its own).
    pub fn open(root: &str, id: &str) -> Result<Cgroup, Error> {
        check_id(root)?;
        check_id(id)?;
        let mode = detect_mode()?;
        let path = format!("{root}/{id}");
        let inner = cgroups_rs::fs::Cgroup::load_with_specified_controllers(
            hierarchy(),
            &path,
            controllers(mode),
        );
        let cg = Cgroup::wrap(id, mode, inner);
        if cg.memory_dir().is_none_or(|d| !d.exists()) {
            return Err(Error::Missing(path));
        }
        Ok(cg)
    }

    fn wrap(id: &str, mode: Mode, inner: cgroups_rs::fs::Cgroup) -> Cgroup {
        let dirs: Vec<(String, PathBuf)> = inner
            .subsystems()
            .iter()
            .map(|s| (s.controller_name(), s.to_controller().path().to_path_buf()))
            .collect();
        Cgroup {
            id: id.to_string(),
            mode,
            inner,
            dirs,
        }
    }

    /// The ids of the cgroups under `root`.
    pub fn list(root: &str) -> Result<Vec<String>, Error> {
        check_id(root)?;
        let base = match detect_mode()? {
            Mode::V1 => PathBuf::from("/sys/fs/cgroup/memory").join(root),
            Mode::V2 => PathBuf::from("/sys/fs/cgroup").join(root),
        };
        let entries = match std::fs::read_dir(&base) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(Error::Io {
                    path: base.display().to_string(),
                    op: "list",
                    source,
                })
            }
        };
        Ok(entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect())
    }

    /// Removes the directory of `root` itself in every hierarchy, once its
    /// cgroups are destroyed. Already gone is fine; an error names the
    /// directory when cgroups remain in it.
    pub fn remove_root(root: &str) -> Result<(), Error> {
        check_id(root)?;
        let mode = detect_mode()?;
        let inner = cgroups_rs::fs::Cgroup::load_with_specified_controllers(
            hierarchy(),
            root,
            controllers(mode),
        );
        let cg = Cgroup::wrap(root, mode, inner);
        for dir in cg.unique_dirs() {
            match std::fs::remove_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(Error::Io {
                        path: dir.display().to_string(),
                        op: "rmdir",
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    fn dir_of(&self, controller: &str) -> Option<&PathBuf> {
        match self.mode {
            Mode::V2 => self.dirs.first().map(|(_, d)| d),
            Mode::V1 => self
                .dirs
                .iter()
                .find(|(name, _)| name == controller)
                .map(|(_, d)| d),
        }
    }

    fn memory_dir(&self) -> Option<&PathBuf> {
        self.dir_of("memory")
    }

    fn need(&self, controller: &str) -> Result<&PathBuf, Error> {
        self.dir_of(controller)
            .ok_or_else(|| Error::Cgroups(format!("{}: no {controller} hierarchy", self.id)))
    }

    /// Applies new limits (also used when a custom executor gets more tasks).
    pub fn update(&self, limits: &Limits) -> Result<(), Error> {
        match self.mode {
            Mode::V1 => {
                let cpu = self.need("cpu")?;
                write_file(cpu, "cpu.shares", &limits.shares().to_string())?;
                write_file(cpu, "cpu.cfs_period_us", &CFS_PERIOD_US.to_string())?;
                write_file(cpu, "cpu.cfs_quota_us", &limits.quota_us().to_string())?;
                let mem = self.need("memory")?;
                // Raising memsw first keeps memsw >= mem at every step.
                let memsw = mem.join("memory.memsw.limit_in_bytes").exists();
                if memsw {
                    let _ = write_file(mem, "memory.memsw.limit_in_bytes", "-1");
                }
                write_file(mem, "memory.limit_in_bytes", &limits.mem_bytes.to_string())?;
                if memsw {
                    write_file(
                        mem,
                        "memory.memsw.limit_in_bytes",
                        &limits.mem_bytes.to_string(),
                    )?;
                }
                if let Some(p) = limits.pids_max {
                    write_file(self.need("pids")?, "pids.max", &p.to_string())?;
                }
            }
            Mode::V2 => {
                let dir = self.need("cpu")?;
                write_file(dir, "cpu.weight", &limits.weight().to_string())?;
                write_file(
                    dir,
                    "cpu.max",
                    &format!("{} {}", limits.quota_us(), CFS_PERIOD_US),
                )?;
                write_file(dir, "memory.max", &limits.mem_bytes.to_string())?;
                if dir.join("memory.swap.max").exists() {
                    write_file(dir, "memory.swap.max", "0")?;
                }
                if let Some(p) = limits.pids_max {
                    write_file(dir, "pids.max", &p.to_string())?;
                }
            }
        }
        Ok(())
    }

    /// Every distinct directory of this cgroup (v1 may mount several
    /// controllers in one hierarchy).
    fn unique_dirs(&self) -> Vec<&PathBuf> {
        let mut v: Vec<&PathBuf> = self.dirs.iter().map(|(_, d)| d).collect();
        v.sort();
        v.dedup();
        v
    }

    /// Every distinct directory of this cgroup, to join by writing to
    /// their `cgroup.procs`.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.unique_dirs().into_iter().cloned().collect()
    }

    /// Prepares a [`Joiner`] for use between fork and exec.
    pub fn joiner(&self) -> Result<Joiner, Error> {
        Joiner::for_dirs(self.unique_dirs())
    }

    /// A [`Joiner`] for every hierarchy but the cpu one on v1, and the cpu
    /// directories, for [`add_pid_to`](Self::add_pid_to) once the process
    /// has exec'd. A child joined to its cpu cgroup before exec competes
    /// for the CPU inside the crowded cgroup root while a `vfork` parent
    /// waits for its exec: under a burst of launches the agent's launch
    /// path then waited ~3 ms a launch. Memory and pids are joined before
    /// exec, so every page and process is charged to the task; only the
    /// exec's own CPU time is the agent's. On v2 (one hierarchy) the
    /// second list is empty.
    pub fn joiner_cpu_later(&self) -> Result<(Joiner, Vec<PathBuf>), Error> {
        let cpu_dirs: Vec<PathBuf> = match self.mode {
            Mode::V2 => Vec::new(),
            Mode::V1 => {
                let mut v: Vec<PathBuf> = self
                    .dirs
                    .iter()
                    .filter(|(c, _)| c == "cpu" || c == "cpuacct")
                    .map(|(_, d)| d.clone())
                    .collect();
                v.sort();
                v.dedup();
                v
            }
        };
        let early = self
            .unique_dirs()
            .into_iter()
            .filter(|d| !cpu_dirs.contains(d));
        Ok((Joiner::for_dirs(early)?, cpu_dirs))
    }

    /// Moves `pid` into the given directories of this cgroup (see
    /// [`joiner_cpu_later`](Self::joiner_cpu_later)).
    pub fn add_pid_to(dirs: &[PathBuf], pid: u32) -> Result<(), Error> {
        for d in dirs {
            write_file(d, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    pub fn add_pid(&self, pid: u32) -> Result<(), Error> {
        for d in self.unique_dirs() {
            write_file(d, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// Processes in the cgroup.
    pub fn pids(&self) -> Result<Vec<u32>, Error> {
        let dir = self
            .memory_dir()
            .ok_or_else(|| Error::Missing(self.id.clone()))?;
        let text = read_trimmed(dir, "cgroup.procs")?;
        Ok(text.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }

    pub fn stats(&self) -> Result<Stats, Error> {
        stats::read(self)
    }

    /// How many processes the kernel's OOM killer has killed here.
    ///
    /// v2: `oom_kill` in memory.events. v1: `oom_kill` in memory.oom_control
    /// (Linux >= 4.13). Older v1 kernels have no counter; there the answer
    /// is a heuristic lower bound: 1 while the cgroup is `under_oom`, else 0
    /// (the limit having been hit, memory.failcnt, alone proves no kill, as
    /// reclaim usually succeeds).
    pub fn oom_kills(&self) -> Result<u64, Error> {
        let dir = self.need("memory")?;
        let kv = match self.mode {
            Mode::V1 => read_kv(dir, "memory.oom_control")?,
            Mode::V2 => read_kv(dir, "memory.events")?,
        };
        Ok(kv
            .get("oom_kill")
            .or_else(|| kv.get("under_oom"))
            .copied()
            .unwrap_or(0))
    }

    /// SIGKILLs every process, until the cgroup is empty (at most ~5 s).
    pub fn kill_all(&self) -> Result<(), Error> {
        let deadline = Instant::now() + Duration::from_secs(5);
        let freezer = self.dir_of("freezer").cloned();
        loop {
            if self.mode == Mode::V2 {
                if let Some((_, d)) = self.dirs.first() {
                    if d.join("cgroup.kill").exists() {
                        let _ = write_file(d, "cgroup.kill", "1");
                    }
                }
            }
            if let Some(f) = &freezer {
                let _ = write_file(f, "freezer.state", "FROZEN");
            }
            let pids = match self.pids() {
                Ok(p) => p,
                Err(Error::Missing(_)) => return Ok(()),
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(())
                }
                Err(e) => return Err(e),
            };
            for p in &pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(*p as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            if let Some(f) = &freezer {
                let _ = write_file(f, "freezer.state", "THAWED");
            }
            if pids.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Cgroups(format!(
                    "{}: {} processes survived SIGKILL",
                    self.id,
                    pids.len()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills everything and removes the cgroup. Already gone is fine.
    pub fn destroy(self) -> Result<(), Error> {
        self.kill_all()?;
        let mut last = None;
        for _ in 0..50 {
            if let Err(e) = self.inner.delete() {
                last = Some(e.to_string());
            }
            if self.dirs.iter().all(|(_, d)| !d.exists()) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(Error::Cgroups(format!(
            "{}: cannot remove: {}",
            self.id,
            last.unwrap_or_else(|| "directories remain".into())
        )))
    }
}

/// Moves the calling process into a cgroup; safe between fork and exec.
pub struct Joiner {
    paths: Vec<CString>,
}

impl Joiner {
    fn for_dirs<'a>(dirs: impl IntoIterator<Item = &'a PathBuf>) -> Result<Joiner, Error> {
        let paths = dirs
            .into_iter()
            .map(|d| {
                let p = d.join("cgroup.procs");
                CString::new(p.as_os_str().as_encoded_bytes())
                    .map_err(|_| Error::Cgroups(format!("path with NUL: {}", p.display())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Joiner { paths })
    }

    /// Writes "0" (the caller) to every `cgroup.procs`, with raw syscalls
    /// only: no allocation, no locks.
    pub fn join_self(&self) -> std::io::Result<()> {
        for p in &self.paths {
            // SAFETY: `p` is a valid NUL-terminated path; open/write/close
            // are async-signal-safe.
            unsafe {
                let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let n = libc::write(fd, b"0".as_ptr().cast(), 1);
                let err = std::io::Error::last_os_error();
                libc::close(fd);
                if n != 1 {
                    return Err(err);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_mesos_arithmetic() {
        let l = Limits {
            cpus: 0.5,
            mem_bytes: 1,
            pids_max: None,
        };
        assert_eq!(l.shares(), 512);
        assert_eq!(l.quota_us(), 50_000);
        let tiny = Limits {
            cpus: 0.0001,
            mem_bytes: 1,
            pids_max: None,
        };
        assert_eq!(tiny.shares(), 2);
        assert_eq!(tiny.quota_us(), 1000);
        assert_eq!(
            Limits {
                cpus: 1.0,
                mem_bytes: 1,
                pids_max: None
            }
            .weight(),
            39
        );
    }

    #[test]
    fn ids_cannot_escape() {
        for bad in ["", "..", "a/b", "../x", "a b"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
        assert!(check_id("0b9f-ab_c.1").is_ok());
    }
}
