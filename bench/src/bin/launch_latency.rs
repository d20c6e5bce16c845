//! Launch latency on `paddock dev`: from ACCEPT to TASK_RUNNING for
//! `sleep` command tasks, over N tasks launched in waves.
//!
//! Baseline, measured in the same run: spawning `sh -c 'exec sleep 1000'`
//! directly and waiting until the kernel shows `sleep` running — the floor
//! any launcher pays on this machine.
//!
//! cargo build --release -p paddock -p paddock-bench
//! target/release/launch_latency --tasks 1000 --wave 25

use std::collections::HashMap;
use std::time::{Duration, Instant};

use paddock_bench::{arg, summary, Dev};
use paddock_tests::scheduler::{command_task, Scheduler};

use serde_json::json;

fn baseline(n: usize) -> Vec<Duration> {
    let mut out = Vec::new();
    for _ in 0..n {
        let t0 = Instant::now();
        let mut child = std::process::Command::new("sh")
            .args(["-c", "exec sleep 1000"])
            .spawn()
            .expect("spawn sh");
        let pid = child.id();
        // Spin (no sleep between polls) so the baseline's resolution is fine.
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let cmd = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if cmd.starts_with("sleep") {
                break;
            }
        }
        out.push(t0.elapsed());
        let _ = child.kill();
        let _ = child.wait();
    }
    out
}

fn main() {
    let total = arg("--tasks", 1000);
    let wave = arg("--wave", 25);
    let dev = Dev::start(
        &format!("paddock-bench-{}", std::process::id()),
        "cpus:64;mem:65536;disk:10000;ports:[31000-32000]",
        &["--marathon-port", "0", "--chronos-port", "0"],
    );
    let mut s = Scheduler::subscribe(
        &dev.master,
        json!({"user": "root", "name": "launch-latency"}),
    );
    let mut latencies = Vec::new();
    let mut launched = 0;
    while launched < total {
        let n = wave.min(total - launched);
        // Use an offer big enough for the whole wave; decline the others.
        let offer = loop {
            let o = s.next_offer(Duration::from_secs(30));
            let scalar = |name: &str| {
                o["resources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|r| r["name"] == name)
                    .and_then(|r| r["scalar"]["value"].as_f64())
                    .unwrap_or(0.0)
            };
            if scalar("cpus") >= 0.011 * n as f64 && scalar("mem") >= 8.0 * n as f64 {
                break o;
            }
            s.call(json!({"type": "DECLINE", "decline": {"offer_ids": [o["id"]], "filters": {"refuse_seconds": 0}}}));
        };
        let ids: Vec<String> = (launched..launched + n)
            .map(|i| format!("lat-{i}"))
            .collect();
        let tasks = ids
            .iter()
            .map(|id| command_task(id, &offer, "exec sleep 1000", 0.01, 8.0))
            .collect();
        let t0 = Instant::now();
        let code = s.launch(&offer, tasks);
        assert_eq!(code, 202);
        let mut started: HashMap<String, Duration> = HashMap::new();
        while started.len() < n {
            // Every update is acknowledged, as a framework must: the agent
            // forwards a task's next update only after the previous one.
            let e = s.next_event("UPDATE", Duration::from_secs(60));
            let st = &e["update"]["status"];
            let elapsed = t0.elapsed();
            s.ack(st);
            if st["state"] == "TASK_RUNNING" {
                if let Some(id) = st["task_id"]["value"].as_str() {
                    started.entry(id.to_string()).or_insert(elapsed);
                }
            }
        }
        latencies.extend(started.values().copied());
        for id in &ids {
            s.call(json!({"type": "KILL", "kill": {"task_id": {"value": id}}}));
        }
        for id in &ids {
            s.wait_state(id, "TASK_KILLED", Duration::from_secs(60));
        }
        launched += n;
    }
    let mut base = baseline(100);
    println!(
        "paddock accept->TASK_RUNNING (waves of {wave}): {}",
        summary(&mut latencies)
    );
    println!(
        "baseline sh -c 'exec sleep' spawn->running:   {}",
        summary(&mut base)
    );
    let p50 = latencies[latencies.len() / 2].as_secs_f64();
    let b50 = base[base.len() / 2].as_secs_f64();
    println!("ratio p50 paddock/baseline: {:.1}x", p50 / b50);
    dev.stop();
}
