//! `paddock top --once` against a real master and agent: a running task
//! shows with a non-negative CPU% and its memory limit, as JSON and as a
//! table.
//!
//! Needs root and cgroups.

use std::time::Duration;

use paddock_tests::scheduler::{command_task, Scheduler};
use paddock_tests::{run_cli, Cluster};
use serde_json::{json, Value};

#[test]
fn top_once_shows_a_running_task_with_its_usage() {
    let mut c = Cluster::master(&[]);
    c.add_agent("cpus:2;mem:1024;disk:1000;ports:[31000-31009]", &[]);
    let master = format!("127.0.0.1:{}", c.master_port);
    let mut s = Scheduler::subscribe(
        &master,
        json!({"user": "root", "name": "top", "failover_timeout": 0}),
    );
    let offer = s.next_offer(Duration::from_secs(10));
    // A busy loop (capped at half a core) and an idle task.
    s.launch(
        &offer,
        vec![
            command_task("spinner", &offer, "while :; do :; done", 0.5, 64.0),
            command_task("sleeper", &offer, "sleep 600", 0.1, 32.0),
        ],
    );
    s.wait_state("spinner", "TASK_RUNNING", Duration::from_secs(30));
    s.wait_state("sleeper", "TASK_RUNNING", Duration::from_secs(30));

    let out = run_cli(
        &[
            "top",
            "--once",
            "--interval",
            "1s",
            "--json",
            "--master",
            &master,
        ],
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().expect("an array of rows");
    let row = |id: &str| {
        rows.iter()
            .find(|r| r["task_id"] == id)
            .unwrap_or_else(|| panic!("no row for {id}: {rows:?}"))
    };
    let spin = row("spinner");
    let cpu = spin["cpu_percent"]
        .as_f64()
        .expect("a CPU% after two samples");
    assert!(cpu >= 0.0, "{spin}");
    // The task's 64 MB plus the command executor's 32 MB.
    assert_eq!(spin["mem_limit_bytes"], json!(96 * 1024 * 1024), "{spin}");
    assert!(
        spin["pids_current"].as_u64().is_some_and(|p| p >= 1),
        "{spin}"
    );
    assert!(row("sleeper")["cpu_percent"].as_f64().unwrap() >= 0.0);
    // Busiest first: the spinner runs flat out against its cap.
    assert_eq!(rows[0]["task_id"], "spinner", "{rows:?}");

    // The table: a header and one line per task, no escape codes.
    let out = run_cli(
        &["top", "--once", "--interval", "500ms", "--master", &master],
        &[],
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!text.contains('\x1b'), "{text:?}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("TASK"), "{text}");
    let spinner = lines
        .iter()
        .find(|l| l.starts_with("spinner"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        spinner.contains("agent0.test") && spinner.contains("96.0 MiB"),
        "{spinner}"
    );

    // Without --once it redraws in place (clear + home) at each interval.
    let mut live = std::process::Command::new(paddock_tests::paddock_bin())
        .args(["top", "--interval", "200ms", "--master", &master])
        .stdout(std::process::Stdio::piped())
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("start paddock top");
    let mut stdout = live.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let screens = loop {
        let text = String::from_utf8_lossy(&seen).to_string();
        let screens: Vec<String> = text
            .split("\x1b[H\x1b[2J")
            .skip(1)
            .map(str::to_string)
            .collect();
        // Two whole screens: a third one has begun.
        if screens.len() >= 3 {
            break screens;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(!left.is_zero(), "no redraws after 20s: {text:?}");
        if let Ok(chunk) = rx.recv_timeout(left) {
            seen.extend(chunk);
        }
    };
    let _ = live.kill();
    let _ = live.wait();
    for screen in &screens[..2] {
        assert!(screen.starts_with("paddock top: 2 tasks"), "{screen:?}");
        assert!(screen.contains("\nspinner "), "{screen:?}");
    }

    // A master that is not there: one line, non-zero.
    let port = paddock_tests::free_port();
    let out = run_cli(
        &["top", "--once", "--master", &format!("127.0.0.1:{port}")],
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("connection refused"), "{err}");
}
