//! End to end on a real `paddock dev` (master, agent and the built-in
//! Chronos in one process): a scheduled job and its dependent run as tasks,
//! and `paddock dev` is killed with SIGKILL and restarted while the job is
//! due, several times: no slot ever runs twice, as the tasks themselves
//! record.
//!
//! Needs the `paddock` binary (`cargo build -p paddock`); skipped, saying
//! so, when that binary has no `--chronos-port`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{assert_each_slot_ran_once, lines, Api};
use paddock_tests::{free_port, get_json, kill_cgroup_tree, paddock_bin, spawn, wait_for, Proc};
use serde_json::{json, Value};

/// How long a job's counter may take to move on a loaded machine.
const WAIT: Duration = Duration::from_secs(60);

struct Dev {
    args: Vec<String>,
    dir: PathBuf,
    proc: Proc,
    /// The built-in Chronos.
    api: Api,
    restarts: usize,
    cgroup_root: String,
}

impl Drop for Dev {
    /// On failure, the logs of the earlier incarnations (the one that
    /// crashed is usually the interesting one); always, kills the tasks
    /// left behind.
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The running incarnation's log is printed by its Proc.
            let earlier = std::iter::once("dev.log".to_string())
                .chain((1..self.restarts).map(|n| format!("dev.{n}.log")));
            for name in earlier.take(self.restarts) {
                let log = self.dir.join(name);
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                eprintln!("---- {} ----\n{text}", log.display());
            }
        }
        self.proc.kill9();
        kill_cgroup_tree(&self.cgroup_root);
    }
}

impl Dev {
    fn start(dir: &Path, cgroup_root: &str) -> Dev {
        let chronos = free_port();
        let args: Vec<String> = [
            "dev",
            "--data-dir",
            &dir.join("data").display().to_string(),
            "--master-port",
            &free_port().to_string(),
            "--agent-port",
            &free_port().to_string(),
            "--chronos-port",
            &chronos.to_string(),
            "--marathon-port",
            "0",
            "--cgroup-root",
            cgroup_root,
            "--resources",
            "cpus:2;mem:1024;disk:1000;ports:[31000-31009]",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let proc = spawn("paddock dev", &args, &dir.join("dev.log"));
        let dev = Dev {
            args,
            dir: dir.to_path_buf(),
            proc,
            api: Api { port: chronos },
            restarts: 0,
            cgroup_root: cgroup_root.to_string(),
        };
        dev.wait_ready();
        dev
    }

    fn wait_ready(&self) {
        wait_for("chronos in paddock dev", Duration::from_secs(60), || {
            get_json(&self.api.url("/v1/scheduler/jobs"))
        });
    }

    /// SIGKILL, like a crash, then the same command line again.
    fn crash_and_restart(&mut self) {
        self.proc.kill9();
        self.restarts += 1;
        let log = self.dir.join(format!("dev.{}.log", self.restarts));
        self.proc = spawn("paddock dev", &self.args, &log);
        self.wait_ready();
    }
}

fn has_chronos_flag() -> bool {
    Command::new(paddock_bin())
        .args(["dev", "--help"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("--chronos-port"))
        .unwrap_or(false)
}

#[test]
fn crashes_of_paddock_dev_while_a_job_is_due_never_run_a_slot_twice() {
    if !has_chronos_flag() {
        eprintln!(
            "SKIPPED: {} has no `dev --chronos-port`; rebuild it with `cargo build -p paddock`",
            paddock_bin().display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cgroup_root = format!("paddock-chronos-e2e-{}", std::process::id());
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let log = out.join("every.log");
    let child_log = out.join("child.log");
    let mut dev = Dev::start(dir.path(), &cgroup_root);
    dev.api.post(
        "/v1/scheduler/iso8601",
        // ALLOW: a run the crash leaves stuck in TASK_STAGING (see the
        // staging timeout) does not hold back the next slots.
        json!({"name": "every", "schedule": "R//PT1S", "cpus": 0.1, "mem": 32, "owner": "", "disabled": false,
               "concurrencyPolicy": "ALLOW",
               "command": format!("echo \"$CHRONOS_JOB_RUN_TIME\" >> {}", log.display())}),
    );
    dev.api.post(
        "/v1/scheduler/dependency",
        json!({"name": "child", "parents": ["every"], "cpus": 0.1, "mem": 32,
               "command": format!("echo ran >> {}", child_log.display())}),
    );
    dev.api.wait_count("every", "successCount", 2, WAIT);
    dev.api.wait_count("child", "successCount", 1, WAIT);
    // Crash at different points of the one-second cycle.
    for pause_ms in [350u64, 900, 1500] {
        let before = dev.api.count("every", "successCount");
        std::thread::sleep(Duration::from_millis(pause_ms));
        dev.crash_and_restart();
        dev.api
            .wait_count("every", "successCount", before + 2, WAIT);
    }
    // Stop scheduling and let the last runs end.
    dev.api.post(
        "/v1/scheduler/iso8601",
        json!({"name": "every", "schedule": "R//PT1S", "disabled": true, "cpus": 0.1, "mem": 32,
               "command": "true"}),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let live: Vec<Value> = ["every", "child"]
            .iter()
            .flat_map(|j| dev.api.runs(j))
            // A STAGING task never started: it writes nothing.
            .filter(|r| matches!(r["state"].as_str(), Some("RUNNING" | "PENDING")))
            .collect();
        if live.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "runs still live: {live:#?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_each_slot_ran_once(&dev.api, "every", &log);
    assert!(dev.api.count("every", "successCount") >= 8);
    assert!(dev.api.count("child", "successCount") >= 1);
    assert!(!lines(&child_log).is_empty());
}
