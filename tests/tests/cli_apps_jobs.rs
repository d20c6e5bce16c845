//! The `paddock app …`, `paddock deployments` and `paddock job …` commands
//! against a real `paddock dev` with Marathon and Chronos: what people see
//! in the tables, what scripts get from --json, and one-line errors.

use std::time::Duration;

use paddock_tests::{get_json, http, run_cli, wait_for, Dev};
use serde_json::Value;

fn dev() -> Dev {
    Dev::start(true)
}

/// Runs the CLI against `d`: (exit code, stdout, stderr).
fn cli(d: &Dev, args: &[&str]) -> (i32, String, String) {
    let out = run_cli(
        args,
        &[
            ("PADDOCK_MASTER", d.master.clone()),
            ("PADDOCK_MARATHON", d.marathon.clone()),
            ("PADDOCK_CHRONOS", d.chronos.clone()),
        ],
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cli_json(d: &Dev, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, out, err) = cli(d, &all);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} --json: {e}: {out}"))
}

fn one_line_error(code: i32, err: &str) {
    assert_ne!(code, 0, "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.starts_with("paddock: "), "{err}");
}

fn app_json<'a>(apps: &'a Value, id: &str) -> Option<&'a Value> {
    apps.as_array()?.iter().find(|a| a["id"] == id)
}

#[test]
fn apps_run_scale_and_go_away_with_wait() {
    let d = dev();
    let (code, out, err) = cli(
        &d,
        &[
            "app",
            "run",
            "--id",
            "/web",
            "--cmd",
            "sleep 1000",
            "--instances",
            "1",
            "--cpus",
            "0.1",
            "--mem",
            "32",
            "--wait",
            "--timeout",
            "60s",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("created app '/web'"), "{out}");
    assert!(out.contains("finished in"), "{out}");

    let (code, out, err) = cli(&d, &["app", "list"]);
    assert_eq!(code, 0, "{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with("/web "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains("1/1") && row.contains("Running"), "{out}");

    // The app as a file, replaced with more instances.
    let file = d.dir.path().join("web.json");
    std::fs::write(
        &file,
        r#"{"id": "/web", "cmd": "sleep 1000", "instances": 1, "cpus": 0.1, "mem": 32}"#,
    )
    .unwrap();
    let (code, out, err) = cli(&d, &["app", "run", &file.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("updated app '/web'"), "{out}");

    let (code, out, err) = cli(
        &d,
        &["app", "scale", "/web", "2", "--wait", "--timeout", "60s"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let tasks = cli_json(&d, &["app", "tasks", "/web"]);
    assert_eq!(tasks.as_array().map(Vec::len), Some(2), "{tasks}");
    let apps = cli_json(&d, &["app", "list"]);
    let web = app_json(&apps, "/web").unwrap_or_else(|| panic!("{apps}"));
    assert_eq!(web["instances"], 2, "{web}");

    let versions = cli_json(&d, &["app", "versions", "/web"]);
    assert!(
        versions.as_array().is_some_and(|v| !v.is_empty()),
        "{versions}"
    );

    let (code, out, err) = cli(&d, &["deployments"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("ID "), "{out}");

    let (code, out, err) = cli(
        &d,
        &["app", "destroy", "/web", "--wait", "--timeout", "60s"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let apps = cli_json(&d, &["app", "list"]);
    assert!(app_json(&apps, "/web").is_none(), "{apps}");

    let (code, _, err) = cli(&d, &["app", "show", "/web"]);
    one_line_error(code, &err);
    assert!(err.contains("/web"), "{err}");
}

#[test]
fn a_forced_change_fails_the_wait_it_cancels() {
    let d = dev();
    let (code, _, err) = cli(
        &d,
        &[
            "app",
            "run",
            "--id",
            "/big",
            "--cmd",
            "sleep 1000",
            "--instances",
            "1",
            "--cpus",
            "0.1",
            "--mem",
            "32",
            "--wait",
            "--timeout",
            "60s",
        ],
    );
    assert_eq!(code, 0, "{err}");
    // 100 instances never fit on the agent: this deployment stays.
    let waiter = std::process::Command::new(paddock_tests::paddock_bin())
        .args(["app", "scale", "/big", "100", "--wait", "--timeout", "120s"])
        .env("PADDOCK_MARATHON", &d.marathon)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the big deployment", Duration::from_secs(20), || {
        let ds = get_json(&format!("http://{}/v2/deployments", d.marathon))?;
        (!ds.as_array()?.is_empty()).then_some(())
    });
    let (code, out, err) = cli(&d, &["app", "scale", "/big", "1"]);
    assert_ne!(code, 0, "{out}");
    one_line_error(code, &err);
    assert!(err.contains("--force"), "{err}");
    let (code, _, err) = cli(&d, &["app", "scale", "/big", "1", "--force"]);
    assert_eq!(code, 0, "{err}");
    let done = waiter.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(!done.status.success(), "{err}");
    one_line_error(done.status.code().unwrap_or(-1), &err);
    // Marathon's event stream told why (not just that it vanished).
    assert!(err.contains("failed: ") && err.contains("cancel"), "{err}");
}

#[test]
fn bad_apps_get_one_line_with_each_field() {
    let d = dev();
    let (code, _, err) = cli(
        &d,
        &[
            "app", "run", "--id", "/bad", "--cmd", "true", "--cpus", "-1", "--mem", "-5",
        ],
    );
    one_line_error(code, &err);
    assert!(err.contains("/cpus") && err.contains("/mem"), "{err}");
    let (code, _, err) = cli(&d, &["app", "run", "--id", "/Bad_Id", "--cmd", "true"]);
    one_line_error(code, &err);
    assert!(err.contains("/id"), "{err}");
}

#[test]
fn jobs_add_list_run_and_show_their_runs_and_logs() {
    let d = dev();
    // Starts far ahead, so only the manual run below runs it.
    let job = d.dir.path().join("hello.json");
    std::fs::write(
        &job,
        r#"{"name": "hello", "command": "echo hello-from-job", "schedule": "R/2030-01-01T00:00:00Z/P1D",
            "cpus": 0.1, "mem": 32, "owner": "ops@example.com"}"#,
    )
    .unwrap();
    let (code, out, err) = cli(&d, &["job", "add", &job.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("saved job 'hello'"), "{out}");

    let child = d.dir.path().join("child.json");
    std::fs::write(
        &child,
        r#"{"name": "child", "command": "true", "parents": ["hello"], "cpus": 0.1, "mem": 32}"#,
    )
    .unwrap();
    let (code, _, err) = cli(&d, &["job", "add", &child.display().to_string()]);
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = cli(&d, &["job", "list"]);
    assert_eq!(code, 0, "{err}");
    let row = out
        .lines()
        .find(|l| l.starts_with("hello "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains("2030-01-01 00:00:00 UTC"), "{out}");
    assert!(row.contains("fresh"), "{out}");
    let child_row = out
        .lines()
        .find(|l| l.starts_with("child "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(child_row.contains("after hello"), "{out}");

    let (code, out, err) = cli(&d, &["job", "graph"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("hello") && out.contains("└── child"), "{out}");

    let (code, out, err) = cli(&d, &["job", "run", "hello"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("run of job 'hello' requested"), "{out}");

    let runs = wait_for("hello's run to succeed", Duration::from_secs(30), || {
        let runs = cli_json(&d, &["job", "runs", "hello"]);
        runs.as_array()?
            .iter()
            .any(|r| r["state"] == "SUCCEEDED")
            .then_some(runs)
    });
    assert!(runs[0]["taskId"].is_string(), "{runs}");
    let (code, out, err) = cli(&d, &["job", "runs", "hello"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("#  SCHEDULED"), "{out}");
    assert!(out.contains("SUCCEEDED"), "{out}");

    let logs = wait_for("the run's stdout", Duration::from_secs(10), || {
        let (code, out, _) = cli(&d, &["job", "logs", "hello"]);
        (code == 0 && out.contains("hello-from-job")).then_some(out)
    });
    assert_eq!(logs.trim(), "hello-from-job");

    let shown = cli_json(&d, &["job", "show", "hello"]);
    assert_eq!(shown["owner"], "ops@example.com");
    let list = cli_json(&d, &["job", "list"]);
    let hello = list
        .as_array()
        .and_then(|l| l.iter().find(|r| r["name"] == "hello"))
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(hello["successCount"], 1, "{hello}");

    let (code, _, err) = cli(&d, &["job", "delete", "child"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli(&d, &["job", "show", "child"]);
    one_line_error(code, &err);
    assert!(err.contains("child"), "{err}");
    let _ = http();
}
