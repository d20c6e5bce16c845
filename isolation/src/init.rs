//! `paddock init -- ARGV…`: the PID 1 of a task's PID namespace.
//!
//! It gives the task a private /proc (so `ps` shows only the task), forwards
//! termination signals to the task's process group (a shell as PID 1 would
//! ignore SIGTERM), reaps every orphan, and exits with the task's status.
//! Single-threaded and synchronous on purpose. For an image task (the
//! executor sets `PADDOCK_OCI_BUNDLE`), it has libcontainer run the OCI
//! bundle instead and supervises that container (`oci::run`).

use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::sys::signal::{kill, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// The signals init passes on to the task.
pub const FORWARDED: [Signal; 6] = [
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

pub(crate) fn forwarded_set() -> SigSet {
    let mut set = SigSet::empty();
    for sig in FORWARDED {
        set.add(sig);
    }
    set
}

/// The forwarded signals that are pending (sent, still blocked).
fn pending_forwarded() -> Vec<Signal> {
    let mut raw = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigpending fills the set it is given.
    if unsafe { libc::sigpending(raw.as_mut_ptr()) } != 0 {
        return Vec::new();
    }
    // SAFETY: initialised by the successful call above.
    let raw = unsafe { raw.assume_init() };
    FORWARDED
        .into_iter()
        // SAFETY: reads a valid, initialised set.
        .filter(|s| unsafe { libc::sigismember(&raw, *s as libc::c_int) } == 1)
        .collect()
}

/// Mounts a fresh /proc in a private mount namespace. Only meaningful as
/// PID 1 of a new PID namespace, as root.
fn private_proc() -> Result<(), String> {
    use nix::mount::{mount, MsFlags};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("unshare(CLONE_NEWNS): {e}"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("make / private: {e}"))?;
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| format!("mount /proc: {e}"))
}

/// Runs `argv` as the task and returns the exit code to exit with:
/// the task's own, or 128 + the signal that killed it.
pub fn run(argv: &[String]) -> i32 {
    // Spawned as /proc/self/exe, the process is named "exe" in ps and top.
    // SAFETY: PR_SET_NAME copies a NUL-terminated name of at most 16 bytes.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, c"paddock-init".as_ptr());
    }
    let Some((program, args)) = argv.split_first() else {
        eprintln!("paddock init: no command given");
        return 127;
    };
    // The executor runs with a negative OOM score so that a memory-limited
    // task, not its supervisor, is chosen; the task gets the normal one.
    let _ = std::fs::write("/proc/self/oom_score_adj", "0");
    // An image task: libcontainer runs the container (which mounts its own
    // /proc), init supervises it.
    let launch = crate::oci::Launch::from_env();
    if launch.is_none() && nix::unistd::getpid().as_raw() == 1 && nix::unistd::geteuid().is_root() {
        if let Err(e) = private_proc() {
            eprintln!("paddock init: no private /proc: {e}");
        }
    }
    if let Some(launch) = launch {
        // libcontainer's processes must not inherit the blocked mask; what
        // came early is passed on once the container runs.
        let early = pending_forwarded();
        let _ =
            nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&forwarded_set()), None);
        return match launch {
            Ok(l) => crate::oci::run::run(&l, &early),
            Err(e) => {
                eprintln!("paddock init: {e}");
                125
            }
        };
    }

    let all = SigSet::all();
    if let Err(e) = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), None) {
        eprintln!("paddock init: cannot block signals: {e}");
        return 127;
    }
    let mut cmd = Command::new(program);
    cmd.args(args);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            // Whatever the init inherited as ignored (nohup's SIGHUP, a
            // shell's SIGINT) is default again for the task.
            for sig in Signal::iterator() {
                if sig != Signal::SIGKILL && sig != Signal::SIGSTOP {
                    let _ = nix::sys::signal::signal(sig, SigHandler::SigDfl);
                }
            }
            let empty = SigSet::empty();
            nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&empty), None)
                .map_err(std::io::Error::from)?;
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let child = match cmd.spawn() {
        Ok(c) => Pid::from_raw(c.id() as i32),
        Err(e) => {
            eprintln!("paddock init: cannot run {program}: {e}");
            return if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
        }
    };
    loop {
        let sig = match all.wait() {
            Ok(s) => s,
            Err(_) => continue,
        };
        if FORWARDED.contains(&sig) {
            // The task leads its own session, so its process group id is its pid.
            if kill(Pid::from_raw(-child.as_raw()), sig).is_err() {
                let _ = kill(child, sig);
            }
            continue;
        }
        if sig != Signal::SIGCHLD {
            continue;
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) if pid == child => return code,
                Ok(WaitStatus::Signaled(pid, s, _)) if pid == child => return 128 + s as i32,
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
}
