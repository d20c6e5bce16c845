//! The CPU cost of Marathon's health checks: one app of N instances on
//! simulated agents whose tasks are real keep-alive HTTP listeners on
//! 127.0.0.1 (one port per task, served by this process). Marathon runs as
//! its own `paddock marathon` process, so its CPU time (utime + stime from
//! /proc/PID/stat) is Marathon's alone.
//!
//! Baseline in the same run: the same app and task count without health
//! checks, over a window of the same length. Then the app gets an HTTP (or
//! TCP) health check, Marathon replaces the tasks, and once all are healthy
//! the second window is measured.
//!
//! cargo build --release -p paddock -p paddock-bench
//! PADDOCK_BIN=target/release/paddock target/release/marathon_health --tasks 1000 --interval 10 --window 60

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use paddock_bench::marathon_sim::{
    cpu_ticks, loadavg, no_deployments, poll, send, start_sim, wait_ready, Cluster, SimAgent,
    TICKS_PER_SECOND,
};
use paddock_bench::{arg, arg_str};
use paddock_tests::get_json;
use serde_json::{json, Value};

/// Ports tasks get: above the kernel's ephemeral range (32768–60999), so a
/// task's listener never collides with an outgoing connection.
const PORT_BASE: u64 = 61000;

struct Window {
    marathon_cpu: f64,
    master_cpu: f64,
    requests: usize,
    connections: usize,
    secs: f64,
}

impl Window {
    fn pct(&self) -> f64 {
        self.marathon_cpu / self.secs * 100.0
    }
}

fn measure(c: &Cluster, secs: u64) -> Window {
    let (m0, p0) = (cpu_ticks(c.marathon_pid), cpu_ticks(c.master_pid));
    let r0 = c.stats.http_requests.load(Ordering::Relaxed);
    let k0 = c.stats.connections.load(Ordering::Relaxed);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let elapsed = t0.elapsed().as_secs_f64();
    let (m1, p1) = (cpu_ticks(c.marathon_pid), cpu_ticks(c.master_pid));
    let ticks = |a: Option<u64>, b: Option<u64>| {
        a.zip(b)
            .map(|(a, b)| b.saturating_sub(a) as f64 / TICKS_PER_SECOND)
            .unwrap_or(f64::NAN)
    };
    Window {
        marathon_cpu: ticks(m0, m1),
        master_cpu: ticks(p0, p1),
        requests: c.stats.http_requests.load(Ordering::Relaxed) - r0,
        connections: c.stats.connections.load(Ordering::Relaxed) - k0,
        secs: elapsed,
    }
}

fn app_state(c: &Cluster) -> Option<Value> {
    let v = get_json(&format!("http://{}/v2/apps/hc", c.marathon))?;
    Some(v["app"].clone())
}

/// Waits until the app runs `n` tasks of its latest version (all healthy
/// when `healthy`) and no deployment is left.
fn settle(c: &Cluster, n: usize, healthy: bool, limit: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    poll(limit, || {
        let a = app_state(c)?;
        let count = |k: &str| a[k].as_u64().unwrap_or(0) as usize;
        let ok = count("tasksRunning") == n && (!healthy || count("tasksHealthy") == n);
        ok.then_some(())?;
        no_deployments(c)?;
        Some(t0.elapsed())
    })
}

fn main() {
    let tasks = arg("--tasks", 1000);
    let agents = arg("--agents", 10);
    let interval = arg("--interval", 10);
    let window = arg("--window", 60) as u64;
    let protocol = arg_str("--protocol", "HTTP");
    let limit = Duration::from_secs(arg("--timeout", 180) as u64);
    // Room for every task twice (the replacement runs next to the old one).
    let per_agent = (2 * tasks).div_ceil(agents) as u64 + 10;
    println!(
        "marathon_health tasks={tasks} agents={agents} protocol={protocol} interval={interval}s window={window}s loadavg(before)={}",
        loadavg()
    );
    let c = start_sim(agents, |i| SimAgent {
        hostname: "127.0.0.1".into(),
        cpus: 1000.0,
        mem: 1_000_000.0,
        disk: 100_000.0,
        ports: (
            PORT_BASE + i as u64 * per_agent,
            PORT_BASE + (i as u64 + 1) * per_agent - 1,
        ),
        serve_ports: true,
    });
    wait_ready(&c);
    let api = format!("http://{}", c.marathon);
    let mut app = json!({
        "id": "/hc",
        "cmd": "sleep 3600",
        "cpus": 0.01,
        "mem": 8,
        "instances": tasks,
        "portDefinitions": [{"port": 0, "protocol": "tcp"}],
        "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 1}
    });
    let (code, body) = send(reqwest::Method::POST, &format!("{api}/v2/apps"), &app);
    assert!(code == 201, "POST /v2/apps: {code} {body}");
    let took = settle(&c, tasks, false, limit).expect("the app runs every task");
    println!("{tasks} tasks without health checks running after {took:?}");
    let base = measure(&c, window);

    let mut check = json!({
        "protocol": protocol,
        "portIndex": 0,
        "gracePeriodSeconds": 60,
        "intervalSeconds": interval,
        "timeoutSeconds": 5,
        "maxConsecutiveFailures": 3
    });
    if protocol.starts_with("HTTP") {
        check["path"] = json!("/health");
    }
    app["healthChecks"] = json!([check]);
    let (code, body) = send(
        reqwest::Method::PUT,
        &format!("{api}/v2/apps/hc"),
        &json!({"healthChecks": app["healthChecks"]}),
    );
    assert!(
        (200..300).contains(&code),
        "PUT /v2/apps/hc with health checks: {code} {body}"
    );
    let took = settle(&c, tasks, true, limit).expect("every task becomes healthy");
    println!("{tasks} tasks with health checks all healthy after {took:?}");
    let checked = measure(&c, window);
    let unhealthy = app_state(&c)
        .map(|a| a["tasksUnhealthy"].as_u64().unwrap_or(0))
        .unwrap_or(0);

    let line = |name: &str, w: &Window| {
        println!(
            "{name}: marathon cpu {:.2} s over {:.1} s = {:.2}% of one core; master {:.2} s; served {} HTTP requests ({:.1}/s) on {} new connections",
            w.marathon_cpu,
            w.secs,
            w.pct(),
            w.master_cpu,
            w.requests,
            w.requests as f64 / w.secs,
            w.connections
        );
    };
    line("baseline (no health checks)", &base);
    line(&format!("{protocol} checks every {interval}s"), &checked);
    println!(
        "health checks of {tasks} tasks cost {:.2}% of one core (target < 10%); {unhealthy} unhealthy; bind failures {}",
        checked.pct() - base.pct(),
        c.stats.bind_failures.load(Ordering::Relaxed)
    );
    println!("loadavg(after)={}", loadavg());
}
