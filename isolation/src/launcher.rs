//! Executors without an `exec`: a small, single-threaded helper process
//! that the agent starts once, and that forks a new executor for every
//! launch. The fork runs the executor's code in the helper's already
//! loaded copy of the binary.
//!
//! Why: an `exec` of the paddock binary costs ~2 ms of CPU, most of it the
//! dynamic loader relocating the binary and the page faults of a fresh
//! address space. On a 1,000-task burst on two cores, the executors'
//! loading was ~11% of all the CPU the launches used. The agent itself
//! cannot fork an executor (it has dozens of threads, and a fork of a
//! threaded process may inherit a lock another thread held); the launcher
//! has no thread, ever.
//!
//! The new executor is the *agent's* child (`clone` with `CLONE_PARENT`),
//! exactly as a spawned one: the agent waits for it and reaps it, and the
//! launcher never has children. The child first joins the task's cgroups
//! (so every page it touches is the task's), then starts its own session,
//! takes the sandbox's files as stdout and stderr, changes directory,
//! takes its environment, and renames itself in `ps` to `paddock
//! executor`. A failure there is printed on the agent's stderr and the
//! child exits with 127, which the agent sees as an executor that died.
//!
//! When the launcher is gone, the agent spawns executors with `exec` as
//! before.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::wire::{EnvReader, EnvTags, MAX_MESSAGE};

/// The variable that names the launcher's socket fd.
pub const FD_ENV: &str = "PADDOCK_LAUNCHER_FD";
/// The launcher's argv\[1\]. Its children rename it to "executor".
pub const ARG: &str = "executor-launcher";

/// A fork takes well under a millisecond; the launcher is gone by then.
const REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
const ENV: EnvTags = EnvTags { name: 1, value: 2 };
const TAG_CWD: u8 = 3;
const TAG_STDOUT: u8 = 4;
const TAG_STDERR: u8 = 5;
const TAG_CGROUP: u8 = 6;

/// One executor to start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launch {
    /// Its whole environment.
    pub env: Vec<(OsString, OsString)>,
    pub cwd: PathBuf,
    /// Files opened for appending (created if missing).
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    /// Cgroup directories to join first (their `cgroup.procs`).
    pub cgroups: Vec<PathBuf>,
}

fn encode(l: &Launch) -> Vec<u8> {
    let mut m = crate::wire::Message::default();
    m.env(ENV, &l.env);
    m.field(TAG_CWD, l.cwd.as_os_str().as_bytes());
    m.field(TAG_STDOUT, l.stdout.as_os_str().as_bytes());
    m.field(TAG_STDERR, l.stderr.as_os_str().as_bytes());
    for c in &l.cgroups {
        m.field(TAG_CGROUP, c.as_os_str().as_bytes());
    }
    m.into_bytes()
}

fn decode(body: &[u8]) -> Result<Launch, String> {
    let mut l = Launch::default();
    let mut env = EnvReader::default();
    for (tag, bytes) in crate::wire::fields(body)? {
        if env.take(ENV, tag, bytes)? {
            continue;
        }
        let path = || PathBuf::from(OsString::from_vec(bytes.to_vec()));
        match tag {
            TAG_CWD => l.cwd = path(),
            TAG_STDOUT => l.stdout = path(),
            TAG_STDERR => l.stderr = path(),
            TAG_CGROUP => l.cgroups.push(path()),
            other => return Err(format!("unknown field {other}")),
        }
    }
    l.env = env.finish()?;
    for (name, p) in [
        ("cwd", &l.cwd),
        ("stdout", &l.stdout),
        ("stderr", &l.stderr),
    ] {
        if p.as_os_str().is_empty() {
            return Err(format!("no {name}"));
        }
    }
    Ok(l)
}

/// The agent's handle on its launcher.
#[derive(Debug)]
pub struct Launcher {
    /// `None` once the launcher is gone.
    conn: Mutex<Option<UnixStream>>,
    pid: u32,
}

impl Launcher {
    /// Starts `program ARG` with the socket as an inherited fd.
    pub fn start(program: &Path) -> std::io::Result<Launcher> {
        use std::os::unix::process::CommandExt;
        let (ours, theirs) = UnixStream::pair()?;
        let fd = theirs.as_raw_fd();
        let mut cmd = std::process::Command::new(program);
        cmd.arg(ARG)
            .env(FD_ENV, fd.to_string())
            .stdin(std::process::Stdio::null());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // The launcher's end stays open across exec; it dies with
                // the agent.
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0
                    || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        drop(theirs);
        // A launcher that stops answering must not hang the agent's launch
        // path: after this long it counts as gone, and executors are
        // spawned with exec.
        ours.set_read_timeout(Some(REPLY_TIMEOUT))?;
        ours.set_write_timeout(Some(REPLY_TIMEOUT))?;
        let pid = child.id();
        std::thread::Builder::new()
            .name("launcher-reaper".into())
            .spawn(move || {
                let status = child.wait();
                tracing::warn!(
                    ?status,
                    "the executor launcher exited; executors are spawned with exec from now on"
                );
            })?;
        Ok(Launcher {
            conn: Mutex::new(Some(ours)),
            pid,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Starts an executor; its pid. An error means the launcher is gone
    /// (from now on every call fails at once) or could not fork.
    pub fn launch(&self, l: &Launch) -> std::io::Result<u32> {
        let gone = || std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the launcher is gone");
        let mut slot = self.conn.lock().map_err(|_| gone())?;
        let conn = slot.as_mut().ok_or_else(gone)?;
        let mut reply = [0u8; 4];
        let sent = conn
            .write_all(&encode(l))
            .and_then(|()| conn.read_exact(&mut reply));
        if let Err(e) = sent {
            *slot = None;
            return Err(e);
        }
        match i32::from_le_bytes(reply) {
            pid if pid > 0 => Ok(pid as u32),
            errno => Err(std::io::Error::from_raw_os_error(-errno)),
        }
    }
}

/// The launcher's main loop, on the socket named in [`FD_ENV`]:
/// `child_main` is what every forked executor runs. Returns at end of
/// file (the agent is gone).
pub fn serve(child_main: fn() -> i32) -> i32 {
    let Some(fd) = std::env::var(FD_ENV)
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
        .filter(|fd| *fd > 2)
    else {
        eprintln!("paddock {ARG}: {FD_ENV} names no socket");
        return 2;
    };
    std::env::remove_var(FD_ENV);
    // SAFETY: the agent passed us this fd for exactly this use; owned once.
    let mut sock = UnixStream::from(unsafe { OwnedFd::from_raw_fd(fd) });
    // SAFETY: F_SETFD on an fd we own: no executor inherits it.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    loop {
        let body = match crate::wire::read_message(&mut sock, MAX_MESSAGE) {
            Ok(Some(b)) => b,
            Ok(None) => return 0,
            Err(e) => {
                eprintln!("paddock {ARG}: {e}");
                return 1;
            }
        };
        let reply = match decode(&body) {
            Ok(l) => fork_executor(&l, &sock, child_main),
            Err(e) => {
                eprintln!("paddock {ARG}: bad launch: {e}");
                -libc::EINVAL
            }
        };
        if sock.write_all(&reply.to_le_bytes()).is_err() {
            return 1;
        }
    }
}

/// Forks the executor as the agent's child: its pid, or -errno.
fn fork_executor(l: &Launch, sock: &UnixStream, child_main: fn() -> i32) -> i32 {
    // SAFETY: a fork (no CLONE_VM) of this single-threaded process; the
    // child gets its own copy of everything and never returns here.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid < 0 {
        return -std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
    }
    if pid > 0 {
        return pid as i32;
    }
    // SAFETY: closing our copy of the launcher's socket in the child.
    unsafe { libc::close(sock.as_raw_fd()) };
    if let Err(e) = become_executor(l) {
        eprintln!("paddock {ARG}: cannot start an executor: {e}");
        // SAFETY: _exit ends the child without running the launcher's
        // exit handlers.
        unsafe { libc::_exit(127) };
    }
    std::process::exit(child_main())
}

fn become_executor(l: &Launch) -> Result<(), String> {
    for dir in &l.cgroups {
        std::fs::write(dir.join("cgroup.procs"), "0")
            .map_err(|e| format!("join cgroup {}: {e}", dir.display()))?;
    }
    nix::unistd::setsid().map_err(|e| format!("setsid: {e}"))?;
    let open = |p: &Path| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .map_err(|e| format!("open {}: {e}", p.display()))
    };
    let null = std::fs::File::open("/dev/null").map_err(|e| format!("open /dev/null: {e}"))?;
    let (out, err) = (open(&l.stdout)?, open(&l.stderr)?);
    for (f, target) in [
        (null.as_raw_fd(), 0),
        (out.as_raw_fd(), 1),
        (err.as_raw_fd(), 2),
    ] {
        // SAFETY: dup2 onto the standard descriptors of this process.
        if unsafe { libc::dup2(f, target) } != target {
            return Err(format!("dup2: {}", std::io::Error::last_os_error()));
        }
    }
    std::env::set_current_dir(&l.cwd).map_err(|e| format!("cd {}: {e}", l.cwd.display()))?;
    crate::forked::take_environment(&l.env)?;
    crate::forked::set_argv1(ARG, "executor");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_launch_round_trips_and_bad_ones_are_named() {
        let l = Launch {
            env: vec![("A".into(), "1".into())],
            cwd: "/sb".into(),
            stdout: "/sb/stdout".into(),
            stderr: "/sb/stderr".into(),
            cgroups: vec!["/sys/fs/cgroup/memory/p/c".into()],
        };
        let bytes = encode(&l);
        let body = crate::wire::read_message(&mut &bytes[..], MAX_MESSAGE)
            .unwrap()
            .unwrap();
        assert_eq!(decode(&body).unwrap(), l);
        let mut m = crate::wire::Message::default();
        m.field(TAG_CWD, b"/x");
        let b = m.into_bytes();
        assert!(decode(&b[4..]).unwrap_err().contains("no stdout"));
        let mut m = crate::wire::Message::default();
        m.field(ENV.value, b"v");
        let b = m.into_bytes();
        assert!(decode(&b[4..]).unwrap_err().contains("without its name"));
    }
}
