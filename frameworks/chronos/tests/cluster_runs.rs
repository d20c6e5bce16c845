//! The Chronos runtime on a real cluster: a `paddock master` and a
//! `paddock agent` as processes (from paddock-tests), Chronos in-process via
//! [`paddock_chronos::run`]. Jobs run as real tasks; restarts of Chronos
//! while a job is due never run a slot twice.
//!
//! Needs the `paddock` binary (`cargo build -p paddock`).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{assert_each_slot_ran_once, lines, Api};
use paddock_chronos::{run, ChronosConfig};
use paddock_tests::{free_port, get_json, wait_for, Cluster};
use serde_json::json;

/// Chronos in this process, on its own runtime thread.
struct Chronos {
    api: Api,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl Chronos {
    fn start(master_port: u16, data_dir: &Path) -> Chronos {
        let port = free_port();
        let config = ChronosConfig::new(
            format!("127.0.0.1:{master_port}"),
            "127.0.0.1".parse().unwrap(),
            port,
            data_dir,
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(run(config, async move {
                let _ = rx.await;
            }))
            .map_err(|e| e.to_string())
        });
        let c = Chronos {
            api: Api { port },
            stop: Some(tx),
            thread: Some(thread),
        };
        wait_for("the chronos API", Duration::from_secs(20), || {
            get_json(&c.api.url("/v1/scheduler/jobs"))
        });
        c
    }

    fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let r = t.join().expect("chronos thread");
            assert!(r.is_ok(), "chronos stopped with {r:?}");
        }
    }
}

impl Drop for Chronos {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn cluster() -> Cluster {
    let mut c = Cluster::master(&[]);
    c.add_agent("cpus:2;mem:1024;disk:1000;ports:[31000-31009]", &[]);
    c
}

#[test]
fn scheduled_dependent_and_failing_jobs_run_as_tasks() {
    let cluster = cluster();
    let out: PathBuf = cluster.dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let mut chronos = Chronos::start(cluster.master_port, &cluster.dir.path().join("chronos"));
    let tick_log = out.join("tick.log");
    // tick's first run comes after `after` (its dependent) exists: a run
    // that starts at once can finish before the next POST lands, and the
    // dependent would miss that success.
    let first = jiff::Timestamp::now() + jiff::SignedDuration::from_secs(2);
    chronos.api.post(
        "/v1/scheduler/iso8601",
        json!({"name": "tick", "schedule": format!("R3/{first}/PT2S"), "cpus": 0.1, "mem": 32,
               "command": format!("echo \"$CHRONOS_JOB_RUN_TIME\" >> {}", tick_log.display())}),
    );
    chronos.api.post(
        "/v1/scheduler/dependency",
        json!({"name": "after", "parents": ["tick"], "cpus": 0.1, "mem": 32,
               "command": format!("echo after >> {}", out.join("after.log").display())}),
    );
    chronos.api.post(
        "/v1/scheduler/iso8601",
        json!({"name": "flaky", "schedule": "R1//PT1H", "command": "exit 3", "cpus": 0.1, "mem": 32,
               "retries": 1, "retryBackoffSeconds": 1}),
    );
    chronos
        .api
        .wait_count("tick", "successCount", 3, Duration::from_secs(60));
    chronos
        .api
        .wait_count("after", "successCount", 3, Duration::from_secs(30));
    chronos
        .api
        .wait_count("flaky", "errorCount", 1, Duration::from_secs(30));

    let runs = chronos.api.runs("tick");
    assert_eq!(runs.len(), 3, "{runs:?}");
    let mut scheduled: Vec<i64> = runs
        .iter()
        .map(|r| r["scheduled"].as_i64().unwrap())
        .collect();
    scheduled.sort();
    assert_eq!(scheduled[1] - scheduled[0], 2000);
    assert_eq!(scheduled[2] - scheduled[1], 2000);
    for r in &runs {
        assert_eq!(r["state"], "SUCCEEDED", "{r}");
        assert_eq!(r["exitStatus"], 0, "{r}");
        assert!(r["taskId"].as_str().unwrap().starts_with("ct:"));
        assert!(!r["agentId"].as_str().unwrap_or("").is_empty());
        eprintln!(
            "tick slot {}: launched after {} ms, TASK_RUNNING after {} ms",
            r["scheduledTime"],
            r["started"].as_i64().unwrap() - r["scheduled"].as_i64().unwrap(),
            r["running"].as_i64().unwrap() - r["scheduled"].as_i64().unwrap()
        );
    }
    // Each slot ran once, as the task itself saw it.
    let seen = lines(&tick_log);
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (3, 3), "{seen:?}");
    assert_eq!(lines(&out.join("after.log")).len(), 3);
    assert_eq!(
        chronos.api.job("tick")["schedule"]
            .as_str()
            .unwrap()
            .split('/')
            .next(),
        Some("R0")
    );

    let flaky = chronos.api.runs("flaky");
    assert_eq!(flaky.len(), 1);
    assert_eq!(flaky[0]["state"], "FAILED");
    assert_eq!(flaky[0]["attempt"], 1);
    assert_eq!(flaky[0]["exitStatus"], 3);
    assert_eq!(flaky[0]["attempts"].as_array().unwrap().len(), 1);
    chronos.stop();
}

#[test]
fn restarts_while_a_job_is_due_never_run_a_slot_twice() {
    let cluster = cluster();
    let out = cluster.dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let data = cluster.dir.path().join("chronos");
    let log = out.join("every.log");
    let mut chronos = Chronos::start(cluster.master_port, &data);
    chronos.api.post(
        "/v1/scheduler/iso8601",
        json!({"name": "every", "schedule": "R//PT1S", "cpus": 0.1, "mem": 32,
               "command": format!("echo \"$CHRONOS_JOB_RUN_TIME\" >> {}", log.display())}),
    );
    // Restart Chronos at different points of the one-second cycle, each
    // time after at least one more success.
    let mut successes = 0;
    for pause_ms in [1300u64, 700, 2100, 450, 1600] {
        successes += 1;
        chronos
            .api
            .wait_count("every", "successCount", successes, Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(pause_ms));
        chronos.stop();
        chronos = Chronos::start(cluster.master_port, &data);
    }
    chronos.api.wait_count(
        "every",
        "successCount",
        successes + 2,
        Duration::from_secs(30),
    );
    // Stop scheduling, let the last run finish.
    chronos.api.post(
        "/v1/scheduler/iso8601",
        json!({"name": "every", "schedule": "R//PT1S", "disabled": true, "cpus": 0.1, "mem": 32,
               "command": "true"}),
    );
    wait_for("the last run to end", Duration::from_secs(30), || {
        chronos
            .api
            .runs("every")
            .iter()
            .all(|r| !matches!(r["state"].as_str(), Some("STAGING" | "RUNNING" | "PENDING")))
            .then_some(())
    });
    let succeeded = assert_each_slot_ran_once(&chronos.api, "every", &log);
    assert!(succeeded as i64 >= successes + 2);
    chronos.stop();
}
