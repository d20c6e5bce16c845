//! The launcher forks real executors: as the caller's own children, in
//! their cgroups, sessions, directories and files, renamed in `ps`.

use std::path::Path;
use std::time::{Duration, Instant};

use paddock_isolation::cgroups::{Cgroup, Limits};
use paddock_isolation::launcher::{Launch, Launcher};

/// Removes the test's cgroup root however the test ends.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(cg) = Cgroup::open(&self.0, "c1") {
            let _ = cg.destroy();
        }
        let _ = Cgroup::remove_root(&self.0);
    }
}

/// Blocks until `pid` exits: our child, so `waitpid` sees it (nextest's
/// timeout bounds a hang).
fn wait_exit(pid: u32) -> i32 {
    use nix::sys::wait::{waitpid, WaitStatus};
    match waitpid(nix::unistd::Pid::from_raw(pid as i32), None) {
        Ok(WaitStatus::Exited(_, code)) => code,
        other => panic!("waitpid({pid}): {other:?} (not our child?)"),
    }
}

#[test]
fn executors_are_our_children_in_their_cgroups_sessions_and_files() {
    let root = format!("paddock-launcher-test-{}", std::process::id());
    let _cleanup = Cleanup(root.clone());
    let limits = Limits {
        cpus: 0.5,
        mem_bytes: 64 << 20,
        pids_max: Some(16),
    };
    let cg = Cgroup::create(&root, "c1", &limits).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let launcher =
        Launcher::start(Path::new(env!("CARGO_BIN_EXE_isolation-launcher-test"))).unwrap();
    let launch = Launch {
        env: vec![("GREETING".into(), "hello".into())],
        cwd: dir.path().to_path_buf(),
        stdout: dir.path().join("stdout"),
        stderr: dir.path().join("stderr"),
        cgroups: cg.dirs(),
    };
    let pid = launcher.launch(&launch).unwrap();
    assert_ne!(pid, launcher.pid());
    // Our child (CLONE_PARENT), so we reap it, with its own exit code.
    assert_eq!(wait_exit(pid), 7);
    let out = std::fs::read_to_string(dir.path().join("stdout")).unwrap();
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(field("ppid"), std::process::id().to_string(), "{out}");
    assert_eq!(
        field("sid"),
        pid.to_string(),
        "leads its own session: {out}"
    );
    assert_eq!(field("cwd"), dir.path().display().to_string());
    assert_eq!(field("greeting"), "hello");
    assert_eq!(
        field("launcher-fd"),
        "false",
        "the launcher's variable is gone"
    );
    assert!(
        field("argv").ends_with(" executor"),
        "renamed for ps: {out}"
    );
    let want = format!("/{root}/c1");
    for controller in ["memory", "pids", "cpu"] {
        let line = out
            .lines()
            .find(|l| {
                l.starts_with("0::")
                    || l.split(':')
                        .nth(1)
                        .is_some_and(|cs| cs.split(',').any(|c| c == controller))
            })
            .unwrap_or_default();
        assert!(line.ends_with(&want), "{controller}: {out}");
    }
    let err = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    assert_eq!(err.trim(), "to stderr");

    // A launch whose directory does not exist: the child says why on the
    // launcher's stderr and exits 127; the launcher keeps serving.
    let bad = Launch {
        cwd: dir.path().join("missing"),
        ..launch.clone()
    };
    let pid = launcher.launch(&bad).unwrap();
    assert_eq!(wait_exit(pid), 127);
    let again = launcher.launch(&launch).unwrap();
    assert_eq!(wait_exit(again), 7);
}

#[test]
fn a_launcher_that_is_gone_fails_every_launch_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // /bin/true exits at once: it never serves.
    let launcher = Launcher::start(Path::new("/bin/true")).unwrap();
    let launch = Launch {
        env: Vec::new(),
        cwd: dir.path().to_path_buf(),
        stdout: dir.path().join("o"),
        stderr: dir.path().join("e"),
        cgroups: Vec::new(),
    };
    let started = Instant::now();
    assert!(launcher.launch(&launch).is_err());
    assert!(launcher.launch(&launch).is_err());
    assert!(started.elapsed() < Duration::from_secs(5));
}
