//! Starting a process without copying the caller's address space.
//!
//! `std::process::Command` falls back to `fork` as soon as a `pre_exec`
//! hook is set, and the agent needs one: an executor must be in its own
//! session and in its cgroups *before* it runs its first instruction, or
//! the pages it touches while starting are charged to the agent. `fork` of
//! the agent copies the page tables of a process of a hundred megabytes
//! and dozens of threads, and `exec` then throws the copy away: measured on
//! a 1,000-task burst it was ~8% of all the CPU the launches used, and it
//! ran on the agent's serial launch path.
//!
//! [`spawn`] does what `posix_spawn` does inside glibc: `clone` with
//! `CLONE_VM | CLONE_VFORK`, so the child runs on a small stack of its own
//! in the caller's memory and the caller waits until the child has called
//! `execve` (or failed). In between the child makes only raw,
//! async-signal-safe system calls: it resets every caught signal to its
//! default (its handler table is a copy, the caller's is untouched),
//! installs the stdio descriptors, changes directory, starts a session,
//! joins the cgroups and unblocks signals. Everything that allocates (the
//! argv, the environment, the PATH search) happens before, in the caller.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

use crate::cgroups::Joiner;

/// The child's stack. It runs a handful of system calls, nothing more.
const STACK: usize = 64 * 1024;

/// A process to start; see [`spawn`].
#[derive(Debug)]
pub struct Spawn {
    program: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: Option<CString>,
    new_session: bool,
}

/// A string with a NUL byte cannot reach `execve`; `what` names it.
fn c_string(what: &str, s: &OsStr) -> std::io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{what} contains a NUL byte"),
        )
    })
}

impl Spawn {
    /// `program` is run with `argv` (argv\[0\] included). A name without a
    /// '/' is looked up in `search_path` (a PATH value), as `execvp` does.
    pub fn new(
        program: impl AsRef<OsStr>,
        argv: &[impl AsRef<OsStr>],
        search_path: Option<&OsStr>,
    ) -> std::io::Result<Spawn> {
        let program = program.as_ref();
        let resolved = resolve(Path::new(program), search_path).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{}: not found in PATH", program.to_string_lossy()),
            )
        })?;
        let argv = argv
            .iter()
            .map(|a| c_string("an argument", a.as_ref()))
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Spawn {
            program: c_string("the program path", resolved.as_os_str())?,
            argv,
            envp: Vec::new(),
            cwd: None,
            new_session: false,
        })
    }

    /// Adds `key=value` to the (otherwise empty) environment.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> std::io::Result<()> {
        let (key, value) = (key.as_ref(), value.as_ref());
        if key.is_empty() || key.as_bytes().contains(&b'=') {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("bad environment variable name '{}'", key.to_string_lossy()),
            ));
        }
        let mut kv = OsString::from(key);
        kv.push("=");
        kv.push(value);
        let what = format!("environment variable {}", key.to_string_lossy());
        self.envp.push(c_string(&what, &kv)?);
        Ok(())
    }

    /// The child's working directory.
    pub fn current_dir(&mut self, dir: &Path) -> std::io::Result<()> {
        self.cwd = Some(c_string("the working directory", dir.as_os_str())?);
        Ok(())
    }

    /// The child calls `setsid`: its own session and process group.
    pub fn new_session(&mut self) {
        self.new_session = true;
    }
}

/// `program` itself when it has a '/', else the first executable file of
/// that name in `search_path`.
fn resolve(program: &Path, search_path: Option<&OsStr>) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if program.as_os_str().as_bytes().contains(&b'/') {
        return Some(program.to_path_buf());
    }
    if program.as_os_str().is_empty() {
        return None;
    }
    let default = OsString::from("/usr/local/bin:/usr/bin:/bin");
    let path = search_path.map(OsStr::to_os_string).unwrap_or(default);
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The standard descriptors of the child.
#[derive(Debug, Clone, Copy)]
pub struct Stdio<'a> {
    pub stdin: BorrowedFd<'a>,
    pub stdout: BorrowedFd<'a>,
    pub stderr: BorrowedFd<'a>,
}

/// What the child needs, all of it prepared by the caller.
struct Child<'a> {
    program: &'a CStr,
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
    cwd: Option<&'a CStr>,
    new_session: bool,
    stdio: [libc::c_int; 3],
    mask: libc::sigset_t,
    joiner: Option<&'a Joiner>,
    /// The errno of the step that failed, 0 while none has.
    error: AtomicI32,
}

/// Starts `spec` and returns its pid once it has called `execve`. The
/// caller must reap it (the agent's pidfd watcher does). With `joiner` the
/// child is in those cgroups before `execve`.
pub fn spawn(spec: &Spawn, stdio: Stdio<'_>, joiner: Option<&Joiner>) -> std::io::Result<u32> {
    let program = spec.program.as_c_str();
    let nul = std::iter::once(std::ptr::null());
    // SAFETY: builds a plain, empty signal set: the child unblocks all.
    let mask = unsafe {
        let mut m: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut m);
        m
    };
    let child = Child {
        program,
        argv: spec
            .argv
            .iter()
            .map(|a| a.as_ptr())
            .chain(nul.clone())
            .collect(),
        envp: spec.envp.iter().map(|e| e.as_ptr()).chain(nul).collect(),
        cwd: spec.cwd.as_deref(),
        new_session: spec.new_session,
        stdio: [
            stdio.stdin.as_raw_fd(),
            stdio.stdout.as_raw_fd(),
            stdio.stderr.as_raw_fd(),
        ],
        mask,
        joiner,
        error: AtomicI32::new(0),
    };
    let mut stack = vec![0u8; STACK];
    // SAFETY: all-signals sets and masks are plain data; the old mask is
    // restored below on every path.
    let old = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        old
    };
    // The stack grows down; x86-64 and aarch64 want it 16-byte aligned.
    let top = (stack.as_mut_ptr() as usize + STACK) & !15;
    // SAFETY: CLONE_VM | CLONE_VFORK suspends this thread until the child
    // has exec'd or exited, so `child` and `stack` outlive every use the
    // child makes of them; the child only makes async-signal-safe calls.
    let pid = unsafe {
        libc::clone(
            child_main,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            &child as *const Child<'_> as *mut libc::c_void,
        )
    };
    let clone_error = std::io::Error::last_os_error();
    // SAFETY: restores the mask saved above.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    drop(stack);
    if pid < 0 {
        return Err(clone_error);
    }
    match child.error.load(Ordering::SeqCst) {
        0 => Ok(pid as u32),
        errno => {
            // The child has exited without exec'ing; reap it here.
            let mut status = 0;
            // SAFETY: waits for our own child, which has already exited.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            Err(std::io::Error::from_raw_os_error(errno))
        }
    }
}

/// Runs in the child, on its own stack, in the caller's memory.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Child` that `spawn` keeps alive until we exec.
    let c = unsafe { &*(arg as *const Child<'_>) };
    let fail = |errno: libc::c_int| -> libc::c_int {
        c.error.store(errno.max(1), Ordering::SeqCst);
        // SAFETY: _exit never returns and runs no atexit handlers.
        unsafe { libc::_exit(127) }
    };
    let errno = || {
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO)
    };
    // SAFETY: every call below is a raw, async-signal-safe system call on
    // values the caller prepared; none allocates or takes a lock.
    unsafe {
        // Caught signals back to their defaults (this table is our copy),
        // and SIGPIPE too, which Rust programs ignore.
        for sig in 1..libc::SIGRTMAX() {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) != 0 {
                continue;
            }
            let ignored = old.sa_sigaction == libc::SIG_IGN && sig != libc::SIGPIPE;
            if old.sa_sigaction != libc::SIG_DFL && !ignored {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
        for (target, &fd) in c.stdio.iter().enumerate() {
            let target = target as libc::c_int;
            let ok = if fd == target {
                libc::fcntl(fd, libc::F_SETFD, 0) == 0
            } else {
                libc::dup2(fd, target) == target
            };
            if !ok {
                return fail(errno());
            }
        }
        if let Some(dir) = c.cwd {
            if libc::chdir(dir.as_ptr()) != 0 {
                return fail(errno());
            }
        }
        if c.new_session && libc::setsid() < 0 {
            return fail(errno());
        }
        if let Some(j) = c.joiner {
            if let Err(e) = j.join_self() {
                return fail(e.raw_os_error().unwrap_or(libc::EIO));
            }
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &c.mask, std::ptr::null_mut());
        libc::execve(c.program.as_ptr(), c.argv.as_ptr(), c.envp.as_ptr());
        fail(errno())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    fn run(spec: &Spawn, out: &std::fs::File) -> std::io::Result<i32> {
        let null = std::fs::File::open("/dev/null")?;
        let stdio = Stdio {
            stdin: null.as_fd(),
            stdout: out.as_fd(),
            stderr: out.as_fd(),
        };
        let pid = spawn(spec, stdio, None)? as libc::pid_t;
        let mut status = 0;
        // SAFETY: waits for the child spawned just above.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        Ok(libc::WEXITSTATUS(status))
    }

    #[test]
    fn the_child_gets_its_argv_env_cwd_stdout_and_session() {
        let dir = tempfile::tempdir().unwrap();
        let out = std::fs::File::create(dir.path().join("out")).unwrap();
        let mut s = Spawn::new(
            "sh",
            &[
                "sh",
                "-c",
                "echo \"$1 $GREETING $(pwd)\"; [ $$ -eq $(cut -d' ' -f6 /proc/$$/stat) ]",
                "sh",
                "arg1",
            ],
            std::env::var_os("PATH").as_deref(),
        )
        .unwrap();
        s.env("GREETING", "hello").unwrap();
        s.env("PATH", "/usr/bin:/bin").unwrap();
        s.current_dir(dir.path()).unwrap();
        s.new_session();
        assert_eq!(run(&s, &out).unwrap(), 0, "the child leads its own session");
        let text = std::fs::read_to_string(dir.path().join("out")).unwrap();
        assert_eq!(text.trim(), format!("arg1 hello {}", dir.path().display()));
    }

    #[test]
    fn a_missing_program_or_directory_is_an_error_not_a_child() {
        let out = tempfile::tempfile().unwrap();
        let err = Spawn::new("no-such-program-here", &["x"], Some(OsStr::new("/bin"))).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
        let s = Spawn::new("/no/such/file", &["x"], None).unwrap();
        let e = run(&s, &out).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}");
        let mut s = Spawn::new("/bin/true", &["true"], None).unwrap();
        s.current_dir(Path::new("/no/such/dir")).unwrap();
        let e = run(&s, &out).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}");
    }

    /// A cgroup `<root>/c1` for one test, removed (root too) when dropped.
    struct TestCgroup {
        cg: Option<crate::cgroups::Cgroup>,
        root: String,
    }

    impl TestCgroup {
        fn new(tag: &str) -> TestCgroup {
            let root = format!("paddock-spawn-{tag}-{}", std::process::id());
            let limits = crate::cgroups::Limits {
                cpus: 0.1,
                mem_bytes: 64 << 20,
                pids_max: None,
            };
            let cg = crate::cgroups::Cgroup::create(&root, "c1", &limits).unwrap();
            TestCgroup { cg: Some(cg), root }
        }

        fn cg(&self) -> &crate::cgroups::Cgroup {
            self.cg.as_ref().unwrap()
        }

        /// How /proc/PID/cgroup ends for a member.
        fn suffix(&self) -> String {
            format!("/{}/c1", self.root)
        }
    }

    impl Drop for TestCgroup {
        fn drop(&mut self) {
            if let Some(cg) = self.cg.take() {
                let _ = cg.destroy();
            }
            for d in std::fs::read_dir("/sys/fs/cgroup")
                .into_iter()
                .flatten()
                .flatten()
            {
                let _ = std::fs::remove_dir(d.path().join(&self.root));
            }
        }
    }

    #[test]
    fn the_child_is_in_its_cgroups_before_it_runs() {
        let tcg = TestCgroup::new("early");
        let joiner = tcg.cg().joiner().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = std::fs::File::create(dir.path().join("out")).unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        let s = Spawn::new("/bin/cat", &["cat", "/proc/self/cgroup"], None).unwrap();
        let stdio = Stdio {
            stdin: null.as_fd(),
            stdout: out.as_fd(),
            stderr: out.as_fd(),
        };
        let pid = spawn(&s, stdio, Some(&joiner)).unwrap() as libc::pid_t;
        let mut status = 0;
        // SAFETY: waits for the child spawned just above.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        let text = std::fs::read_to_string(dir.path().join("out")).unwrap();
        let memory = text
            .lines()
            .find(|l| l.contains(":memory:") || l.starts_with("0::"))
            .unwrap_or_default();
        assert!(memory.ends_with(&tcg.suffix()), "{text}");
    }

    #[test]
    fn cpu_joined_after_exec_ends_in_every_hierarchy() {
        let tcg = TestCgroup::new("late");
        let (joiner, later) = tcg.cg().joiner_cpu_later().unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        let s = Spawn::new("/bin/sleep", &["sleep", "5"], None).unwrap();
        let stdio = Stdio {
            stdin: null.as_fd(),
            stdout: null.as_fd(),
            stderr: null.as_fd(),
        };
        let pid = spawn(&s, stdio, Some(&joiner)).unwrap();
        let before = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        crate::cgroups::Cgroup::add_pid_to(&later, pid).unwrap();
        let after = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        // SAFETY: kills and reaps the child spawned above.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
            libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0);
        }
        let want = tcg.suffix();
        let line = |text: &str, c: &str| {
            text.lines()
                .find(|l| {
                    l.split(':')
                        .nth(1)
                        .is_some_and(|cs| cs.split(',').any(|x| x == c))
                })
                .unwrap_or_default()
                .to_string()
        };
        if later.is_empty() {
            // v2: one hierarchy, joined before exec.
            assert!(before.trim().ends_with(&want), "{before}");
            return;
        }
        for c in ["memory", "pids", "freezer"] {
            assert!(
                line(&before, c).ends_with(&want),
                "{c} before exec: {before}"
            );
        }
        assert!(
            !line(&before, "cpu").ends_with(&want),
            "cpu joined early: {before}"
        );
        for c in ["cpu", "cpuacct", "memory", "pids"] {
            assert!(line(&after, c).ends_with(&want), "{c} after: {after}");
        }
    }

    #[test]
    fn nul_bytes_are_refused_before_anything_starts() {
        let mut s = Spawn::new("/bin/true", &["true"], None).unwrap();
        let e = s.env("A", OsStr::from_bytes(b"x\0y")).unwrap_err();
        assert!(e.to_string().contains("environment variable A"), "{e}");
        assert!(s.env("A=B", "x").is_err());
        assert!(Spawn::new("/bin/true", &[OsStr::from_bytes(b"a\0")], None).is_err());
    }

    #[test]
    fn ignored_sigpipe_and_blocked_signals_do_not_reach_the_child() {
        // Rust ignores SIGPIPE; the test thread blocks SIGUSR1 here. The
        // child must see neither (SigIgn and SigBlk are hex masks).
        // SAFETY: blocks a signal on this test thread only.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGUSR1);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        }
        let dir = tempfile::tempdir().unwrap();
        let out = std::fs::File::create(dir.path().join("out")).unwrap();
        let s = Spawn::new(
            "/bin/sh",
            &["sh", "-c", "grep -E '^Sig(Ign|Blk)' /proc/self/status"],
            None,
        )
        .unwrap();
        assert_eq!(run(&s, &out).unwrap(), 0);
        let text = std::fs::read_to_string(dir.path().join("out")).unwrap();
        for line in text.lines() {
            let mask = u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap();
            assert_eq!(mask & (1 << (libc::SIGPIPE - 1)), 0, "{line}");
            assert_eq!(mask & (1 << (libc::SIGUSR1 - 1)), 0, "{line}");
        }
    }
}
