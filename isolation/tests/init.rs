//! `init::run` as the PID 1 of a real PID namespace (through the
//! `isolation-init-test` helper binary): the task sees itself as PID 2 under
//! PID 1 with a private /proc, SIGTERM sent to the init from outside reaches
//! the task, orphans are reaped, and exit codes come back.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const HELPER: &str = env!("CARGO_BIN_EXE_isolation-init-test");

fn run(script: &str) -> Output {
    Command::new(HELPER)
        .args(["sh", "-c", script])
        .output()
        .unwrap()
}

#[test]
fn task_is_pid_2_under_init_with_a_private_proc() {
    let out = run("echo $$ $PPID; ls -d /proc/[0-9]* | wc -l; cat /proc/1/cmdline | tr '\\0' ' '");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"2 1"), "pid and parent pid: {stdout}");
    // init, sh, ls, wc and maybe the expanding subshell; the host has more.
    let visible: usize = lines.get(1).unwrap().trim().parse().unwrap();
    assert!(
        visible <= 5,
        "{visible} processes visible in /proc: {stdout}"
    );
    assert!(
        lines.get(2).unwrap().contains("--as-init sh -c"),
        "/proc/1 is not the init: {stdout}"
    );
}

#[test]
fn exit_codes_and_deaths_by_signal_propagate() {
    assert_eq!(run("exit 7").status.code(), Some(7));
    assert_eq!(run("kill -KILL $$").status.code(), Some(128 + 9));
    assert_eq!(run("true").status.code(), Some(0));
    let missing = Command::new(HELPER)
        .arg("/nonexistent/paddock-no-such-program")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(missing.code(), Some(127));
}

#[test]
fn the_task_starts_with_default_signal_dispositions() {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(HELPER);
    cmd.args(["sh", "-c", "kill -INT $$; exit 3"]);
    // SAFETY: signal() is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::signal::signal(Signal::SIGINT, nix::sys::signal::SigHandler::SigIgn)
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    // An inherited SIG_IGN would let sh survive and exit 3.
    assert_eq!(cmd.status().unwrap().code(), Some(128 + 2));
}

#[test]
fn sigterm_to_init_reaches_the_task() {
    let mut child = Command::new(HELPER)
        .args([
            "sh",
            "-c",
            "trap 'echo got-term; exit 42' TERM; echo ready; while :; do sleep 0.05; done",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let init_pid: i32 = line
        .trim()
        .strip_prefix("init-host-pid ")
        .unwrap_or_else(|| panic!("helper said {line:?}"))
        .parse()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    stdout.read_line(&mut ready).unwrap();
    assert_eq!(ready.trim(), "ready");
    kill(Pid::from_raw(init_pid), Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            // SIGKILL to a namespace's init takes the whole namespace down.
            let _ = kill(Pid::from_raw(init_pid), Signal::SIGKILL);
            let _ = child.wait();
            panic!("the task did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("got-term"), "task output: {rest:?}");
    assert_eq!(status.code(), Some(42));
}

#[test]
fn orphans_are_reaped_by_init() {
    // The subshell exits at once, so its background child is reparented to
    // PID 1; once it has run, no zombie may stay behind.
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "( sh -c 'echo > {d}/ran' & ); \
         i=0; while [ ! -e {d}/ran ]; do i=$((i+1)); [ $i -gt 200 ] && exit 3; sleep 0.01; done; \
         i=0; while grep -qs ') Z ' /proc/[0-9]*/stat; do i=$((i+1)); [ $i -gt 200 ] && exit 4; sleep 0.01; done; \
         exit 0",
        d = dir.path().display()
    );
    let out = run(&script);
    assert_eq!(
        out.status.code(),
        Some(0),
        "3: the orphan never ran, 4: a zombie stayed: {out:?}"
    );
}
