//! A task's init without an `exec`: the executor forks a copy of itself
//! at its start, while it is still single-threaded, and that copy waits
//! until the launch tells it what to run. It then becomes `paddock init`
//! (the same [`crate::init::run`]) in the same process.
//!
//! Why: every `exec` of the paddock binary pays the dynamic loader's
//! relocation of the whole binary and the page faults of a fresh address
//! space, ~2 ms of CPU. An executor used to exec init on every launch;
//! over a 1,000-task burst on two cores that was ~8% of all the CPU. A fork
//! of a process that has only just started costs a fraction of that.
//!
//! Why at the start: after its runtime starts, the executor has threads,
//! and a fork of a threaded process may inherit a lock that some other
//! thread held. The zygote is forked before any thread exists, so what it
//! inherits is consistent.
//!
//! The zygote is PID 1 of a new PID namespace when that can be made; the
//! caller's own later children are not (the caller returns to its own
//! namespace for children, so it can still start threads). The forwarded
//! signals are blocked in the zygote from its first instruction, so a
//! SIGTERM that comes before init is ready stays pending instead of being
//! dropped (PID 1 of a namespace ignores a signal it has no handler for, and
//! a kill right after a launch would otherwise wait out the grace period).
//!
//! The launch is one message on a socket pair: init's argv, its complete
//! environment, its working directory, and optionally a network namespace
//! to enter and files to bind over the host's (in a mount namespace of
//! init's own). The zygote's end of the socket stays open in init (and is
//! closed on exec): with `ready_env`, its fd number is exported in that
//! variable, so the OCI init reports `started`/`failed` on it.

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use crate::wire::{EnvReader, EnvTags, MAX_MESSAGE};
use crate::Error;

/// What init is to run; see the module doc.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Start {
    /// Init's argv after `--`: a command (`sh -c …`), or `container:ID`.
    pub argv: Vec<OsString>,
    /// Init's whole environment.
    pub env: Vec<(OsString, OsString)>,
    pub cwd: Option<PathBuf>,
    /// A network namespace file to enter first.
    pub netns: Option<PathBuf>,
    /// Export the socket's fd number in this variable.
    pub ready_env: Option<String>,
    /// Files or directories (source, destination) to bind over the host's
    /// in a mount namespace of init's own: a command task's
    /// `/etc/resolv.conf` and `/etc/hosts` on its CNI networks.
    pub binds: Vec<(PathBuf, PathBuf)>,
}

/// The forked copy, waiting for its [`Start`].
#[derive(Debug)]
pub struct Zygote {
    pid: u32,
    sock: UnixStream,
}

impl Zygote {
    /// Forks the zygote. Call it before the process starts any thread.
    /// The zygote is PID 1 of a new PID namespace, or runs without one
    /// when that cannot be made (as for a non-root caller).
    pub fn fork() -> Result<Zygote, Error> {
        use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow};
        let err = |what: &str, e: nix::Error| Error::Namespace(format!("zygote: {what}: {e}"));
        let (ours, theirs) =
            UnixStream::pair().map_err(|e| Error::Namespace(format!("zygote: socketpair: {e}")))?;
        let mut old = SigSet::empty();
        sigprocmask(
            SigmaskHow::SIG_BLOCK,
            Some(&crate::init::forwarded_set()),
            Some(&mut old),
        )
        .map_err(|e| err("block signals", e))?;
        let own_ns = unshare_pid_keeping_own()
            .map_err(|e| eprintln!("paddock executor: running without a PID namespace: {e}"))
            .ok();
        // SAFETY: the caller has no other thread (the contract of this
        // function), so the child inherits no lock held elsewhere.
        let forked = match unsafe { nix::unistd::fork() } {
            Ok(nix::unistd::ForkResult::Child) => {
                drop(ours);
                drop(own_ns);
                std::process::exit(serve(theirs));
            }
            Ok(nix::unistd::ForkResult::Parent { child }) => Ok(child),
            Err(e) => Err(e),
        };
        // The parent, forked or not: its own mask, and its own namespace
        // for children again (a thread can only be made where the children
        // would be).
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
        let back = own_ns.map(|ns| nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWPID));
        let child = forked.map_err(|e| err("fork", e))?;
        if let Some(Err(e)) = back {
            return Err(err("return to our PID namespace", e));
        }
        Ok(Zygote {
            pid: child.as_raw() as u32,
            sock: ours,
        })
    }

    /// The zygote's pid (init's, once started).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Has the zygote become init with `start`. Returns init's pid and the
    /// socket, on which an OCI init reports (see `ready_env`).
    pub fn start(mut self, start: &Start) -> std::io::Result<(u32, UnixStream)> {
        let msg = encode(start);
        self.sock.write_all(&msg)?;
        Ok((self.pid, self.sock))
    }
}

/// `unshare(CLONE_NEWPID)`, returning our own PID namespace to go back to.
fn unshare_pid_keeping_own() -> Result<OwnedFd, Error> {
    let own = std::fs::File::open("/proc/self/ns/pid")
        .map_err(|e| Error::Namespace(format!("open /proc/self/ns/pid: {e}")))?;
    crate::ns::unshare_pid()?;
    Ok(OwnedFd::from(own))
}

const TAG_ARG: u8 = 1;
const ENV: EnvTags = EnvTags { name: 2, value: 3 };
const TAG_CWD: u8 = 4;
const TAG_NETNS: u8 = 5;
const TAG_READY_ENV: u8 = 6;
const TAG_BIND_SOURCE: u8 = 7;
const TAG_BIND_TARGET: u8 = 8;

fn encode(s: &Start) -> Vec<u8> {
    let mut m = crate::wire::Message::default();
    for a in &s.argv {
        m.field(TAG_ARG, a.as_bytes());
    }
    m.env(ENV, &s.env);
    if let Some(c) = &s.cwd {
        m.field(TAG_CWD, c.as_os_str().as_bytes());
    }
    if let Some(n) = &s.netns {
        m.field(TAG_NETNS, n.as_os_str().as_bytes());
    }
    if let Some(r) = &s.ready_env {
        m.field(TAG_READY_ENV, r.as_bytes());
    }
    for (src, dst) in &s.binds {
        m.field(TAG_BIND_SOURCE, src.as_os_str().as_bytes());
        m.field(TAG_BIND_TARGET, dst.as_os_str().as_bytes());
    }
    m.into_bytes()
}

/// Parses a message body (without its length prefix).
fn decode(body: &[u8]) -> Result<Start, String> {
    let mut s = Start::default();
    let mut env = EnvReader::default();
    let mut source: Option<PathBuf> = None;
    for (tag, bytes) in crate::wire::fields(body)? {
        if env.take(ENV, tag, bytes)? {
            continue;
        }
        let os = || OsString::from_vec(bytes.to_vec());
        match tag {
            TAG_ARG => s.argv.push(os()),
            TAG_CWD => s.cwd = Some(PathBuf::from(os())),
            TAG_NETNS => s.netns = Some(PathBuf::from(os())),
            TAG_READY_ENV => {
                s.ready_env =
                    Some(String::from_utf8(bytes.to_vec()).map_err(|_| "ready_env is not UTF-8")?)
            }
            TAG_BIND_SOURCE if source.is_none() => source = Some(PathBuf::from(os())),
            TAG_BIND_TARGET => {
                let src = source.take().ok_or("a bind target without its source")?;
                s.binds.push((src, PathBuf::from(os())));
            }
            TAG_BIND_SOURCE => return Err("two bind sources in a row".into()),
            other => return Err(format!("unknown field {other}")),
        }
    }
    if source.is_some() {
        return Err("a bind source without its target".into());
    }
    s.env = env.finish()?;
    Ok(s)
}

/// The zygote: waits for its start and runs init; the exit code.
fn serve(mut sock: UnixStream) -> i32 {
    let fail = |sock: &mut UnixStream, why: &str| {
        eprintln!("paddock init: {why}");
        let _ = writeln!(sock, "failed {}", why.replace('\n', " "));
        125
    };
    let body = match crate::wire::read_message(&mut sock, MAX_MESSAGE) {
        // End of file before a start: the executor needed no init (or died).
        Ok(None) => return 0,
        Ok(Some(b)) => b,
        Err(e) => return fail(&mut sock, &format!("cannot read the launch: {e}")),
    };
    let start = match decode(&body) {
        Ok(s) => s,
        Err(e) => return fail(&mut sock, &format!("bad launch message: {e}")),
    };
    if let Err(e) = become_init(&start, &sock) {
        return fail(&mut sock, &e);
    }
    crate::forked::set_argv1("executor", "init");
    let argv: Vec<String> = start
        .argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // From here the socket belongs to init: the OCI init takes its fd
    // (named in `ready_env`) and closes it once it has reported. It is
    // close-on-exec, so no task inherits it.
    let _ = sock.into_raw_fd();
    crate::init::run(&argv)
}

/// Takes on init's environment, directory and network namespace.
fn become_init(start: &Start, sock: &UnixStream) -> Result<(), String> {
    crate::forked::take_environment(&start.env)?;
    if let Some(name) = &start.ready_env {
        std::env::set_var(name, sock.as_raw_fd().to_string());
    }
    if let Some(dir) = &start.cwd {
        std::env::set_current_dir(dir).map_err(|e| format!("cd {}: {e}", dir.display()))?;
    }
    if let Some(ns) = &start.netns {
        enter_netns(ns)?;
    }
    if !start.binds.is_empty() {
        bind_files(&start.binds)?;
    }
    Ok(())
}

/// A mount namespace of init's own (a slave of the executor's, so nothing
/// made here goes back), with each source bound over its destination.
fn bind_files(binds: &[(PathBuf, PathBuf)]) -> Result<(), String> {
    crate::ns::unshare_mounts_slave().map_err(|e| e.to_string())?;
    for (src, dst) in binds {
        nix::mount::mount(
            Some(src.as_path()),
            dst.as_path(),
            None::<&str>,
            nix::mount::MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| format!("bind {} over {}: {e}", src.display(), dst.display()))?;
    }
    Ok(())
}

fn enter_netns(path: &Path) -> Result<(), String> {
    let f = std::fs::File::open(path)
        .map_err(|e| format!("open network namespace {}: {e}", path.display()))?;
    nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("enter network namespace {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_round_trips_and_bad_messages_are_named() {
        let s = Start {
            argv: vec![
                "sh".into(),
                "-c".into(),
                OsString::from_vec(vec![0xff, b'x']),
            ],
            env: vec![("A".into(), "1".into()), ("B".into(), "".into())],
            cwd: Some("/sb".into()),
            netns: Some("/run/netns/x".into()),
            ready_env: Some("R".into()),
            binds: vec![("/w/hosts".into(), "/etc/hosts".into())],
        };
        let msg = encode(&s);
        assert_eq!(
            u32::from_le_bytes([msg[0], msg[1], msg[2], msg[3]]) as usize,
            msg.len() - 4
        );
        assert_eq!(decode(&msg[4..]).unwrap(), s);
        assert!(decode(&msg[4..msg.len() - 1])
            .unwrap_err()
            .contains("longer"));
        assert!(decode(&[ENV.value, 0, 0, 0, 0])
            .unwrap_err()
            .contains("without its name"));
        assert!(decode(&[ENV.name, 0, 0, 0, 0])
            .unwrap_err()
            .contains("without its value"));
        assert!(decode(&[ENV.name, 0, 0, 0, 0, ENV.name, 0, 0, 0, 0])
            .unwrap_err()
            .contains("in a row"));
        assert!(decode(&[9, 0, 0, 0, 0]).unwrap_err().contains("unknown"));
        assert!(decode(&[TAG_BIND_TARGET, 0, 0, 0, 0])
            .unwrap_err()
            .contains("without its source"));
        assert!(decode(&[TAG_BIND_SOURCE, 0, 0, 0, 0])
            .unwrap_err()
            .contains("without its target"));
        assert!(decode(&[1, 0]).unwrap_err().contains("truncated"));
    }
}
