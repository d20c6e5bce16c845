//! `paddock init` as the supervisor of an OCI container: it creates the
//! private network namespace when asked, has libcontainer create and start
//! the container from the bundle, forwards termination signals to the
//! container's init, reaps, and returns the container's exit status.
//!
//! It runs in init because init is single-threaded: libcontainer forks
//! with raw clone calls, which are only safe in a process without threads.
//! The container stays in the task's cgroup (the spec's `cgroupsPath` is
//! the cgroup the executor runs in), so the agent's limits, statistics and
//! OOM detection see it. `delete` is not used: it would remove that cgroup.

use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// The bundle directory (with `config.json`).
pub const BUNDLE_ENV: &str = "PADDOCK_OCI_BUNDLE";
/// The container id (letters, digits, `-`, `_`, `.`).
pub const ID_ENV: &str = "PADDOCK_OCI_ID";
/// libcontainer's state directory.
pub const STATE_ENV: &str = "PADDOCK_OCI_STATE";
/// `private` for a network namespace of the container's own.
pub const NETWORK_ENV: &str = "PADDOCK_OCI_NETWORK";
/// An fd on which init reports the start: `started <pid>\n` once the
/// container runs, or `failed <message>\n`.
pub const READY_FD_ENV: &str = "PADDOCK_OCI_READY_FD";

/// The cgroup controllers the agent manages itself (never removed here).
const AGENT_CONTROLLERS: [&str; 5] = ["cpu", "cpuacct", "memory", "pids", "freezer"];

const FORWARDED: [Signal; 6] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// What init needs to run a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub bundle: PathBuf,
    pub id: String,
    pub state_root: PathBuf,
    pub private_network: bool,
    /// Where to report the start (see [`READY_FD_ENV`]).
    pub ready_fd: Option<i32>,
}

impl Launch {
    /// The launch described by init's environment, if any.
    pub fn from_env() -> Option<Result<Launch, String>> {
        let bundle = std::env::var_os(BUNDLE_ENV)?;
        let get = |k: &str| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{k} is not set"))
        };
        Some((|| {
            Ok(Launch {
                bundle: PathBuf::from(bundle),
                id: get(ID_ENV)?,
                state_root: PathBuf::from(get(STATE_ENV)?),
                private_network: std::env::var(NETWORK_ENV).is_ok_and(|v| v == "private"),
                ready_fd: std::env::var(READY_FD_ENV)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .filter(|fd| *fd > 2),
            })
        })())
    }

    /// The environment that [`from_env`](Self::from_env) reads.
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            (BUNDLE_ENV, self.bundle.display().to_string()),
            (ID_ENV, self.id.clone()),
            (STATE_ENV, self.state_root.display().to_string()),
            (
                NETWORK_ENV,
                if self.private_network {
                    "private"
                } else {
                    "host"
                }
                .into(),
            ),
        ];
        if let Some(fd) = self.ready_fd {
            env.push((READY_FD_ENV, fd.to_string()));
        }
        env
    }
}

/// A new network namespace for the caller, with loopback up.
pub fn private_network() -> Result<(), String> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("unshare(CLONE_NEWNET): {e}"))?;
    loopback_up()
}

fn loopback_up() -> Result<(), String> {
    // SAFETY: a plain socket used only for the interface ioctls below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(format!(
            "socket for loopback: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: ifreq is plain data; zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (i, b) in b"lo".iter().enumerate() {
        req.ifr_name[i] = *b as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write `req`, which is a
    // valid ifreq for the duration of the calls.
    let res = unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(())
            }
        }
    };
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    res.map_err(|e| format!("bring loopback up: {e}"))
}

/// Creates and starts the container; its pid. `seccomp`: attach the
/// default program just before the exec (`seccomp_filter`).
fn start(launch: &Launch, seccomp: bool) -> Result<Pid, String> {
    super::trace::stage("init: build");
    let program = if seccomp {
        Some(super::seccomp_filter::default_program()?)
    } else {
        None
    };
    let mut container = ContainerBuilder::new(launch.id.clone(), SyscallType::default())
        .with_executor(super::seccomp_filter::Exec::new(program))
        .with_root_path(&launch.state_root)
        .map_err(|e| format!("container state dir {}: {e}", launch.state_root.display()))?
        .as_init(&launch.bundle)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .map_err(|e| format!("cannot create the container: {e}"))?;
    super::trace::stage("init: created");
    container
        .start()
        .map_err(|e| format!("cannot start the container: {e}"))?;
    super::trace::stage("init: started");
    container
        .pid()
        .map(|p| Pid::from_raw(p.as_raw()))
        .ok_or_else(|| "the container started without a pid".to_string())
}

/// Takes the ready fd (closed on exec, so the container never sees it).
fn ready_file(launch: &Launch) -> Option<std::fs::File> {
    use std::os::fd::FromRawFd;
    let fd = launch.ready_fd?;
    // SAFETY: the executor passed this fd to us for exactly this use; we
    // take ownership once.
    let file = unsafe { std::fs::File::from_raw_fd(fd) };
    // SAFETY: F_SETFD on an fd we own.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    Some(file)
}

fn report(ready: &mut Option<std::fs::File>, line: &str) {
    use std::io::Write;
    if let Some(mut f) = ready.take() {
        let one_line = line.replace('\n', " ");
        let _ = writeln!(f, "{one_line}");
    }
}

/// Runs the launch to its end; the exit code for init to exit with.
/// `early`: signals that came before init could pass them on; they go to
/// the container as soon as it runs.
pub fn run(launch: &Launch, early: &[Signal]) -> i32 {
    super::trace::stage("init: run");
    let mut ready = ready_file(launch);
    if launch.private_network {
        if let Err(e) = private_network() {
            eprintln!("paddock init: {e}");
            report(&mut ready, &format!("failed {e}"));
            return 125;
        }
    }
    let spec = oci_spec::runtime::Spec::load(launch.bundle.join("config.json")).ok();
    let cgroup = spec
        .as_ref()
        .and_then(|s| s.linux().as_ref()?.cgroups_path().clone());
    let seccomp = spec.as_ref().is_some_and(super::seccomp_filter::wanted);
    let pid = match start(launch, seccomp) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("paddock init: {e}");
            report(&mut ready, &format!("failed {e}"));
            cleanup(launch, cgroup.as_deref());
            return 125;
        }
    };
    report(&mut ready, &format!("started {pid}"));
    for sig in early {
        let _ = kill(pid, *sig);
    }
    let code = supervise(pid);
    cleanup(launch, cgroup.as_deref());
    code
}

/// Forwards signals to the container's init and reaps until it exits.
fn supervise(pid: Pid) -> i32 {
    let all = SigSet::all();
    if let Err(e) = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), None) {
        eprintln!("paddock init: cannot block signals: {e}");
    }
    loop {
        // The container may have exited before the signals were blocked.
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) if p == pid => return code,
                Ok(WaitStatus::Signaled(p, s, _)) if p == pid => return 128 + s as i32,
                Ok(WaitStatus::StillAlive) => break,
                // ECHILD: nothing left to wait for (it was reaped or never ours).
                Err(nix::errno::Errno::ECHILD) => return 255,
                Err(_) => break,
                Ok(_) => continue,
            }
        }
        let sig = match all.wait() {
            Ok(s) => s,
            Err(_) => continue,
        };
        if FORWARDED.contains(&sig) {
            let _ = kill(pid, sig);
        }
    }
}

/// Removes libcontainer's state and the cgroup directories it created in
/// v1 hierarchies the agent does not manage (devices, blkio, cpuset, …).
fn cleanup(launch: &Launch, cgroup: Option<&Path>) {
    let _ = std::fs::remove_dir_all(launch.state_root.join(&launch.id));
    if let Some(c) = cgroup {
        remove_foreign_cgroups(Path::new(CGROUP_MOUNT), c);
    }
}

const CGROUP_MOUNT: &str = "/sys/fs/cgroup";

/// Removes the directories libcontainer made for the container's cgroup
/// `cgroup` (relative to each hierarchy's root, as in the spec) in the v1
/// hierarchies under `mount` that the agent does not manage (devices,
/// blkio, cpuset, …). Init does this when the container exits; the
/// executor does it again after init has gone, because an init killed
/// with SIGKILL (the end of a kill's grace period) cleans up nothing, and
/// every killed task would leave empty directories behind. Directories
/// that still hold processes stay (rmdir fails); on v2 there is nothing
/// to do (one tree, the agent's).
pub fn remove_foreign_cgroups(mount: &Path, cgroup: &Path) {
    let Some(rel) = cgroup.strip_prefix("/").ok() else {
        return;
    };
    if rel.as_os_str().is_empty() || mount.join("cgroup.controllers").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(mount) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        let agent_owned = name.split(',').any(|c| AGENT_CONTROLLERS.contains(&c));
        if !is_dir || agent_owned || name == "unified" || name == "systemd" {
            continue;
        }
        let dir = e.path().join(rel);
        if dir.is_dir() {
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_launch_round_trips_through_the_environment() {
        let l = Launch {
            bundle: "/b".into(),
            id: "c-1".into(),
            state_root: "/s".into(),
            private_network: true,
            ready_fd: Some(3),
        };
        let env = l.to_env();
        assert!(env.contains(&(NETWORK_ENV, "private".to_string())));
        assert!(env.contains(&(BUNDLE_ENV, "/b".to_string())));
        assert!(env.contains(&(READY_FD_ENV, "3".to_string())));
    }

    #[test]
    fn foreign_v1_cgroup_dirs_are_removed_and_the_agents_are_kept() {
        let m = tempfile::tempdir().unwrap();
        for h in ["devices", "blkio", "memory", "cpu,cpuacct", "systemd"] {
            std::fs::create_dir_all(m.path().join(h).join("root/c1")).unwrap();
        }
        // A directory that is not empty (processes, on a real cgroupfs) stays.
        std::fs::create_dir_all(m.path().join("cpuset/root/c1/busy")).unwrap();
        remove_foreign_cgroups(m.path(), Path::new("/root/c1"));
        for gone in ["devices", "blkio"] {
            assert!(!m.path().join(gone).join("root/c1").exists(), "{gone}");
            assert!(m.path().join(gone).join("root").exists(), "{gone} parent");
        }
        for kept in ["memory", "cpu,cpuacct", "systemd", "cpuset"] {
            assert!(m.path().join(kept).join("root/c1").exists(), "{kept}");
        }
        // v2 (cgroup.controllers at the mount) is left alone, and so is "/".
        std::fs::write(m.path().join("cgroup.controllers"), "").unwrap();
        std::fs::create_dir_all(m.path().join("devices/root/c2")).unwrap();
        remove_foreign_cgroups(m.path(), Path::new("/root/c2"));
        assert!(m.path().join("devices/root/c2").exists());
    }
}
