//! `paddock dev` runs a whole cluster in one process, and the operator CLI
//! reads it: tables for people, --json for scripts, one-line errors.

use std::time::Duration;

use paddock_tests::scheduler::{command_task, Scheduler};
use paddock_tests::{free_port, http, run_cli, wait_for, Dev};
use serde_json::{json, Value};

fn dev() -> Dev {
    Dev::start(false)
}

fn cli(d: &Dev, args: &[&str]) -> (i32, String, String) {
    let out = run_cli(args, &[("PADDOCK_MASTER", d.master.clone())]);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn dev_runs_tasks_and_the_cli_shows_them() {
    let d = dev();
    let mut s = Scheduler::subscribe(&d.master, json!({"user": "root", "name": "cli-test"}));
    let offer = s.next_offer(Duration::from_secs(10));
    s.launch(
        &offer,
        vec![command_task(
            "talker",
            &offer,
            "for i in 1 2 3; do echo line-$i; sleep 0.3; done; sleep 1000",
            0.2,
            64.0,
        )],
    );
    s.wait_state("talker", "TASK_RUNNING", Duration::from_secs(20));

    let (code, out, err) = cli(&d, &["agents"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("127.0.0.1"), "{out}");
    let (code, out, _) = cli(&d, &["agents", "--json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).expect("agents --json is JSON");
    assert!(v.to_string().contains("cpus"));

    let (code, out, _) = cli(&d, &["frameworks"]);
    assert_eq!(code, 0);
    assert!(out.contains("cli-test"), "{out}");

    let (code, out, _) = cli(&d, &["tasks"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("talker") && out.contains("TASK_RUNNING"),
        "{out}"
    );

    let logs = wait_for("task logs", Duration::from_secs(10), || {
        let (code, out, _) = cli(&d, &["task", "logs", "talker"]);
        (code == 0 && out.contains("line-3")).then_some(out)
    });
    assert!(logs.contains("line-1"));

    let (code, out, err) = cli(&d, &["task", "stats", "talker"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.to_lowercase().contains("mem"), "{out}");

    let (code, _, err) = cli(&d, &["task", "kill", "talker"]);
    assert_eq!(code, 0, "{err}");
    s.wait_state("talker", "TASK_KILLED", Duration::from_secs(20));

    let (code, _, err) = cli(&d, &["task", "kill", "no-such-task"]);
    assert_ne!(code, 0);
    assert!(err.contains("no-such-task"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn cli_reports_an_unreachable_master_in_one_line() {
    let port = free_port();
    let out = run_cli(
        &["agents"],
        &[("PADDOCK_MASTER", format!("127.0.0.1:{port}"))],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(&port.to_string()), "{err}");
    let _ = http();
}

#[test]
fn dev_stops_promptly_on_sigterm_even_with_a_subscribed_framework() {
    let mut d = dev();
    let mut s = Scheduler::subscribe(&d.master, json!({"user": "root", "name": "stopper"}));
    s.next_offer(Duration::from_secs(10));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.proc.pid()),
        nix::sys::signal::Signal::SIGTERM,
    );
    let status = wait_for(
        "paddock dev to exit after SIGTERM",
        Duration::from_secs(10),
        || d.proc.child.try_wait().ok().flatten(),
    );
    assert!(status.success(), "exit status {status:?}");
}
