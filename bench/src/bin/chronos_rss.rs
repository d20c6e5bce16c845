//! Chronos memory: N defined jobs (default 10,000) in a standalone
//! `paddock chronos --master …` process, against a real `paddock master`.
//! Reports the Chronos process's VmRSS and VmHWM from /proc/<pid>/status.
//!
//! Baseline in the same run: the same process, subscribed, with 0 jobs.
//!
//! The jobs are a mix: 60 % ISO 8601 (`R/<tomorrow>/PT…` in a few IANA
//! zones), 20 % cron (daily at 03:00 Berlin time), 20 % dependent jobs
//! with one or two parents. No slot comes due during the run, so what is
//! measured is the definitions and their scheduler state, not runs.
//!
//! cargo build --release -p paddock -p paddock-bench
//! PADDOCK_BIN=target/release/paddock target/release/chronos_rss --jobs 10000

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use paddock_bench::{arg, start_master};
use paddock_tests::{free_port, get_json, http, spawn, wait_for};
use serde_json::{json, Value};

/// (VmRSS, VmHWM) in bytes.
fn memory(pid: i32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mb(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The body of job `i`: scheduled (ISO or cron) or dependent.
fn job(i: usize, tomorrow: &str) -> (&'static str, Value) {
    let name = format!("rss-{i:05}");
    let mut body = json!({
        "name": name,
        "command": format!("/usr/local/bin/nightly-report --part {i} --output /data/reports/{i}.csv"),
        "owner": "ops@example.com",
        "ownerName": "Ops team",
        "description": format!("Nightly report, part {i}"),
        "cpus": 0.1,
        "mem": 64,
        "disk": 16,
        "retries": 2,
        "environmentVariables": [
            {"name": "REPORT_PART", "value": i.to_string()},
            {"name": "REPORT_ENV", "value": "production"},
        ],
    });
    let zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo"];
    match i % 10 {
        0 | 1 if i >= 10 => {
            // Dependent: one or two scheduled parents defined earlier.
            let p1 = format!("rss-{:05}", (i / 10) * 10 - 8 + (i % 2) * 4);
            let mut parents = vec![p1];
            if i.is_multiple_of(20) {
                parents.push(format!("rss-{:05}", (i / 10) * 10 - 5));
            }
            body["parents"] = json!(parents);
            ("dependency", body)
        }
        2 | 3 => {
            body["schedule"] = json!("0 3 * * *");
            body["scheduleTimeZone"] = json!("Europe/Berlin");
            ("iso8601", body)
        }
        k => {
            let period = ["PT1H", "P1D", "PT15M", "P1W", "PT6H", "P1M"][k % 6];
            body["schedule"] = json!(format!("R/{tomorrow}T0{}:30:00/{period}", k % 8));
            body["scheduleTimeZone"] = json!(zones[i % zones.len()]);
            body["epsilon"] = json!("PT5M");
            ("iso8601", body)
        }
    }
}

fn main() {
    let jobs = arg("--jobs", 10_000);
    println!("loadavg at start: {}", loadavg());
    let dir = tempfile::tempdir().expect("tempdir");
    let cp = free_port();
    let (mut master, master_addr) = start_master(dir.path(), &dir.path().join("master"), &[]);
    let chronos_args: Vec<String> = [
        "chronos",
        "--master",
        &master_addr,
        "--bind",
        "127.0.0.1",
        "--port",
        &cp.to_string(),
        "--data-dir",
        &dir.path().join("chronos").display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut chronos = spawn("chronos", &chronos_args, &dir.path().join("chronos.log"));
    let api = format!("http://127.0.0.1:{cp}");
    wait_for("chronos to subscribe", Duration::from_secs(30), || {
        let f = get_json(&format!("http://{master_addr}/master/frameworks"))?;
        let subscribed = f["frameworks"]
            .as_array()?
            .iter()
            .any(|fw| fw["name"] == "chronos");
        (subscribed && get_json(&format!("{api}/v1/scheduler/jobs")).is_some()).then_some(())
    });
    // Let it settle (the first reconcile, allocator passes) before the baseline.
    std::thread::sleep(Duration::from_secs(2));
    let pid = chronos.pid();
    let (base_rss, base_hwm) = memory(pid);

    let tomorrow = {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        jiff::Timestamp::from_second(secs + 86_400)
            .map(|t| t.strftime("%Y-%m-%d").to_string())
            .unwrap_or_default()
    };
    let client = http();
    let t0 = Instant::now();
    for i in 0..jobs {
        let (endpoint, body) = job(i, &tomorrow);
        let r = client
            .post(format!("{api}/v1/scheduler/{endpoint}"))
            .json(&body)
            .send()
            .expect("POST a job");
        assert!(
            r.status().is_success(),
            "job {i}: {} {}",
            r.status(),
            r.text().unwrap_or_default()
        );
    }
    let posted_in = t0.elapsed();
    let (rss, hwm) = memory(pid);
    // A full listing (what job-sync scripts and the UI fetch) on top.
    let t1 = Instant::now();
    let listed = client
        .get(format!("{api}/v1/scheduler/jobs"))
        .timeout(Duration::from_secs(120))
        .send()
        .and_then(|r| r.json::<Value>())
        .ok()
        .and_then(|v| v.as_array().map(Vec::len))
        .unwrap_or(0);
    let list_time = t1.elapsed();
    let (rss_listed, hwm_listed) = memory(pid);
    assert_eq!(listed, jobs, "GET /v1/scheduler/jobs lists every job");

    println!("jobs={jobs} posted_in={posted_in:?} (one POST each)");
    println!(
        "chronos with 0 jobs:        VmRSS {:.1} MB  VmHWM {:.1} MB",
        mb(base_rss),
        mb(base_hwm)
    );
    println!(
        "chronos with {jobs} jobs:   VmRSS {:.1} MB  VmHWM {:.1} MB  (+{:.1} MB, {:.2} KB per job)",
        mb(rss),
        mb(hwm),
        mb(rss.saturating_sub(base_rss)),
        rss.saturating_sub(base_rss) as f64 / 1024.0 / jobs.max(1) as f64
    );
    println!(
        "after GET /v1/scheduler/jobs ({listed} jobs, {list_time:?}): VmRSS {:.1} MB  VmHWM {:.1} MB",
        mb(rss_listed),
        mb(hwm_listed)
    );
    println!(
        "ratio RSS {jobs} jobs / 0 jobs: {:.1}x",
        rss as f64 / base_rss.max(1) as f64
    );
    println!("loadavg at end: {}", loadavg());
    chronos.terminate();
    master.terminate();
}
