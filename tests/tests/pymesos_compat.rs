//! An existing Mesos framework runs unchanged: pymesos 0.3.15 (from PyPI)
//! subscribes, launches command tasks, and acknowledges their updates.
//! The Python environment comes from scripts/setup-python.sh
//! (PADDOCK_PYTHON points at its interpreter).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use paddock_tests::{get_json, wait_for, Cluster};

fn python() -> String {
    std::env::var("PADDOCK_PYTHON").unwrap_or_else(|_| {
        panic!("PADDOCK_PYTHON is not set: run scripts/setup-python.sh and export PADDOCK_PYTHON=/opt/paddock-venv/bin/python (scripts/test.sh does both)")
    })
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(name)
}

#[test]
fn pymesos_scheduler_launches_command_tasks_and_acknowledges() {
    let mut c = Cluster::master(&[]);
    c.add_agent("cpus:2;mem:1024;disk:1000;ports:[31000-31009]", &[]);
    let out = Command::new(python())
        .arg(script("pymesos_framework.py"))
        .arg(format!("127.0.0.1:{}", c.master_port))
        .args([
            "--tasks",
            "3",
            "--cmd",
            "echo hello from pymesos",
            "--timeout",
            "90",
        ])
        .output()
        .expect("run pymesos framework");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pymesos framework failed\nstdout:\n{stdout}\nstderr:\n{stderr}\n{}",
        c.logs()
    );
    let finished = stdout
        .lines()
        .filter(|l| l.contains("TASK_FINISHED"))
        .count();
    assert_eq!(finished, 3, "{stdout}");
    assert!(
        stdout
            .lines()
            .filter(|l| l.contains("TASK_RUNNING"))
            .all(|l| l.contains("\"has_uuid\": true") || l.contains("\"has_uuid\":true")),
        "{stdout}"
    );
    // pymesos acknowledged every update: the master archived all three tasks
    // and the framework tore itself down on exit.
    wait_for(
        "the framework to be torn down",
        Duration::from_secs(10),
        || {
            let fws = get_json(&c.url("/master/frameworks"))?;
            let done = fws["completed_frameworks"]
                .as_array()?
                .iter()
                .any(|f| f["name"].as_str().is_some());
            (done && fws["frameworks"].as_array()?.is_empty()).then_some(())
        },
    );
}

#[test]
fn pymesos_custom_executor_runs_and_reports() {
    let mut c = Cluster::master(&[]);
    c.add_agent("cpus:2;mem:1024;disk:1000;ports:[31000-31009]", &[]);
    let out = Command::new(python())
        .arg(script("pymesos_framework.py"))
        .arg(format!("127.0.0.1:{}", c.master_port))
        .args(["--tasks", "2", "--executor", "--timeout", "90"])
        .output()
        .expect("run pymesos executor framework");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "pymesos executor framework failed\nstdout:\n{stdout}\nstderr:\n{stderr}\n{}",
        c.logs()
    );
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.contains("TASK_FINISHED"))
            .count(),
        2,
        "{stdout}"
    );
}
