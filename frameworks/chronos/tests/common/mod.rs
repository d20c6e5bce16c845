//! What the Chronos end-to-end tests (`cluster_runs.rs`, `dev_e2e.rs`)
//! share: Chronos's REST API at a port (post a job, read a job's counters
//! and runs, wait for a counter with a deadline), the lines a job's
//! command appended to a file, and the check that no slot ran twice.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use paddock_tests::{get_json, http};
use serde_json::Value;

/// Chronos's API on 127.0.0.1.
pub struct Api {
    pub port: u16,
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// POSTs a job definition; Chronos answers 204.
    pub fn post(&self, path: &str, body: Value) {
        let r = http()
            .post(self.url(path))
            .json(&body)
            .send()
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        assert_eq!(
            r.status().as_u16(),
            204,
            "{path} {body}: {}",
            r.text().unwrap_or_default()
        );
    }

    /// The job, or null when Chronos does not answer or has no such job.
    pub fn job(&self, name: &str) -> Value {
        get_json(&self.url(&format!("/v1/scheduler/job/{name}"))).unwrap_or(Value::Null)
    }

    /// A counter of the job (`successCount`, `errorCount`), 0 when absent.
    pub fn count(&self, name: &str, field: &str) -> i64 {
        self.job(name)[field].as_i64().unwrap_or(0)
    }

    /// The job's runs, newest first.
    pub fn runs(&self, name: &str) -> Vec<Value> {
        get_json(&self.url(&format!("/v1/scheduler/job/{name}/runs")))
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    /// Waits until the job's `field` is at least `at_least`; at the
    /// deadline, fails showing every job and its runs.
    pub fn wait_count(&self, name: &str, field: &str, at_least: i64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.count(name, field) < at_least {
            if Instant::now() > deadline {
                let jobs = get_json(&self.url("/v1/scheduler/jobs"));
                let runs: Vec<(String, Vec<Value>)> = jobs
                    .iter()
                    .flat_map(|j| j.as_array().cloned().unwrap_or_default())
                    .filter_map(|j| j["name"].as_str().map(String::from))
                    .map(|n| (n.clone(), self.runs(&n)))
                    .collect();
                panic!("timed out waiting for {name}.{field} >= {at_least}\njobs: {jobs:?}\nruns: {runs:#?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The lines of `path` (what the jobs' commands appended), none when it
/// does not exist yet.
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// Checks, from `log` (one line per run: the `$CHRONOS_JOB_RUN_TIME` the
/// task saw), that no slot of `job` ran twice and that every run Chronos
/// counts as succeeded really ran. Returns how many runs succeeded.
pub fn assert_each_slot_ran_once(api: &Api, job: &str, log: &Path) -> usize {
    let seen = lines(log);
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), unique.len(), "a slot ran twice: {seen:?}");
    let succeeded: BTreeSet<String> = api
        .runs(job)
        .iter()
        .filter(|r| r["state"] == "SUCCEEDED")
        .map(|r| r["scheduledTime"].as_str().unwrap_or("").to_string())
        .collect();
    let seen: BTreeSet<String> = seen.into_iter().collect();
    assert!(
        succeeded.is_subset(&seen),
        "runs counted as succeeded that never ran: {:?}",
        succeeded.difference(&seen).collect::<Vec<_>>()
    );
    succeeded.len()
}
