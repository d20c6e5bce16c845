//! Marathon inside a real `paddock dev` (master, agent and Marathon in one
//! process): an app with a health check runs, and after `paddock dev` is
//! stopped and started again on the same data dir the same tasks are still
//! running, still healthy (never "unknown"), and nothing was launched twice.

use std::time::Duration;

use paddock_tests::{free_port, get_json, http, kill_cgroup_tree, spawn, wait_for, Proc};
use serde_json::{json, Value};

struct Dev {
    dir: tempfile::TempDir,
    args: Vec<String>,
    proc: Option<Proc>,
    master: u16,
    marathon: u16,
    cgroup_root: String,
}

impl Dev {
    fn start() -> Dev {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("tempdir: {e}"),
        };
        let (master, agent, marathon) = (free_port(), free_port(), free_port());
        let cgroup_root = format!("paddock-mdev-{}-{master}", std::process::id());
        let args: Vec<String> = [
            "dev",
            "--data-dir",
            &dir.path().join("dev").display().to_string(),
            "--master-port",
            &master.to_string(),
            "--agent-port",
            &agent.to_string(),
            "--marathon-port",
            &marathon.to_string(),
            "--no-chronos",
            "--cgroup-root",
            &cgroup_root,
            "--resources",
            "cpus:2;mem:1024;disk:1000;ports:[31000-31009]",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut dev = Dev {
            dir,
            args,
            proc: None,
            master,
            marathon,
            cgroup_root,
        };
        dev.launch("dev.log");
        dev
    }

    fn launch(&mut self, log: &str) {
        let log = self.dir.path().join(log);
        self.proc = Some(spawn("paddock dev", &self.args, &log));
        let url = self.marathon_url("/ping");
        wait_for(
            "marathon inside paddock dev",
            Duration::from_secs(30),
            || {
                http()
                    .get(&url)
                    .send()
                    .ok()
                    .filter(|r| r.status().is_success())
            },
        );
    }

    /// SIGTERM and start again on the same data dir.
    fn restart(&mut self) {
        if let Some(mut p) = self.proc.take() {
            let status = p.terminate();
            assert!(
                status.success() || status.code().is_some(),
                "paddock dev exited with {status}"
            );
        }
        self.launch("dev.restart.log");
    }

    fn marathon_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.marathon)
    }

    fn app(&self, id: &str) -> Value {
        get_json(&self.marathon_url(&format!("/v2/apps{id}")))
            .map(|v| v["app"].clone())
            .unwrap_or(Value::Null)
    }

    fn running_in_master(&self, prefix: &str) -> Vec<String> {
        let tasks = get_json(&format!(
            "http://127.0.0.1:{}/master/tasks?limit=1000",
            self.master
        ))
        .unwrap_or(Value::Null);
        let mut ids: Vec<String> = tasks["tasks"]
            .as_array()
            .map(|ts| {
                ts.iter()
                    .filter(|t| t["state"] == "TASK_RUNNING")
                    .filter_map(|t| t["id"].as_str())
                    .filter(|id| id.starts_with(prefix))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        ids
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill9();
        }
        kill_cgroup_tree(&self.cgroup_root);
    }
}

fn task_ids(app: &Value) -> Vec<String> {
    let mut ids: Vec<String> = app["tasks"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .filter_map(|t| t["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

#[test]
fn tasks_and_health_survive_a_restart_of_paddock_dev() {
    let mut dev = Dev::start();
    let resp = http()
        .post(dev.marathon_url("/v2/apps"))
        .json(&json!({
            "id": "/dev/web", "cmd": "exec python3 -m http.server $PORT0", "instances": 2,
            "cpus": 0.1, "mem": 64,
            "healthChecks": [{"protocol": "TCP", "portIndex": 0, "gracePeriodSeconds": 60,
                              "intervalSeconds": 1, "timeoutSeconds": 1, "maxConsecutiveFailures": 3}]
        }))
        .send();
    assert_eq!(resp.map(|r| r.status().as_u16()).ok(), Some(201));
    let before = wait_for("two healthy tasks", Duration::from_secs(60), || {
        let app = dev.app("/dev/web");
        let settled = app["deployments"].as_array().is_some_and(|d| d.is_empty());
        (app["tasksHealthy"] == 2 && settled).then(|| task_ids(&app))
    });
    assert!(
        before.iter().all(|t| t.starts_with("dev_web.")),
        "{before:?}"
    );
    assert_eq!(dev.running_in_master("dev_web."), before);

    dev.restart();
    // The first answer after the restart already has the health Marathon persisted.
    let app = dev.app("/dev/web");
    assert_eq!(
        app["tasksHealthy"], 2,
        "health must not drop to unknown: {app}"
    );
    assert_eq!(task_ids(&app), before, "the same tasks after the restart");
    // Once the agent re-registered and Marathon reconciled, nothing runs twice.
    let running = wait_for(
        "the master to know the tasks again",
        Duration::from_secs(60),
        || {
            let r = dev.running_in_master("dev_web.");
            (r.len() >= 2).then_some(r)
        },
    );
    assert_eq!(running, before, "no task was relaunched or duplicated");
    let queue = get_json(&dev.marathon_url("/v2/queue")).unwrap_or(Value::Null);
    assert!(
        queue["queue"].as_array().is_some_and(|q| q.is_empty()),
        "nothing waits for a launch: {queue}"
    );
}
