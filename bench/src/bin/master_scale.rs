//! Master scale: N simulated agents (real gRPC sessions from this process,
//! answering RunTask with TASK_RUNNING) and T tasks launched through the
//! real scheduler API; reports the master's RSS and `/master/state` time.
//!
//! Baseline in the same run: the master's RSS right after start, and the
//! time of `/master/state` on the empty cluster.
//!
//! cargo build --release -p paddock -p paddock-bench
//! target/release/master_scale --agents 10000 --tasks 100000

use std::sync::Arc;
use std::time::{Duration, Instant};

use paddock_bench::marathon_sim::{run_agent, SimAgent, SimStats};
use paddock_bench::{arg, rss_bytes, start_master};
use paddock_tests::scheduler::{command_task, Scheduler};
use paddock_tests::{get_json, http, wait_for};
use serde_json::json;

/// What each simulated agent offers (it answers RunTask with TASK_RUNNING).
fn sim_agent(n: usize) -> SimAgent {
    SimAgent {
        hostname: format!("sim-{n}"),
        cpus: 32.0,
        mem: 262144.0,
        disk: 1_000_000.0,
        ports: (31000, 32000),
        serve_ports: false,
    }
}

fn time_state(master: &str) -> (Duration, usize) {
    let t0 = Instant::now();
    let body = http()
        .get(format!("http://{master}/master/state"))
        .timeout(Duration::from_secs(120))
        .send()
        .and_then(|r| r.bytes())
        .map(|b| b.len())
        .unwrap_or(0);
    (t0.elapsed(), body)
}

fn main() {
    let agents = arg("--agents", 10_000);
    let tasks = arg("--tasks", 100_000);
    let per_conn = 100;
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut master_proc, master) = start_master(
        dir.path(),
        dir.path(),
        &["--agent-timeout", "60s", "--offer-timeout", "0s"],
    );
    let base_rss = rss_bytes(master_proc.pid()).unwrap_or(0);
    let (base_state, _) = time_state(&master);

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let stats: Arc<SimStats> = Arc::default();
    let t0 = Instant::now();
    rt.block_on(async {
        for c in 0..agents.div_ceil(per_conn) {
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{master}"))
                .expect("endpoint")
                .connect()
                .await
                .expect("connect");
            for i in 0..per_conn.min(agents - c * per_conn) {
                let n = c * per_conn + i;
                tokio::spawn(run_agent(channel.clone(), sim_agent(n), stats.clone()));
            }
        }
    });
    let _guard = rt.enter();
    wait_for("agents to register", Duration::from_secs(300), || {
        let m = get_json(&format!("http://{master}/metrics/snapshot"))?;
        (m["master/slaves_active"].as_f64()? as usize >= agents).then_some(())
    });
    let registered_in = t0.elapsed();
    let agents_rss = rss_bytes(master_proc.pid()).unwrap_or(0);

    let mut s = Scheduler::subscribe(&master, json!({"user": "root", "name": "scale"}));
    let per_offer = tasks.div_ceil(agents);
    let mut launched = 0;
    let t1 = Instant::now();
    while launched < tasks {
        let e = s.next_event("OFFERS", Duration::from_secs(120));
        for offer in e["offers"]["offers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            if launched >= tasks {
                s.call(json!({"type": "DECLINE", "decline": {"offer_ids": [offer["id"]], "filters": {"refuse_seconds": 3600}}}));
                continue;
            }
            let n = per_offer.min(tasks - launched);
            let batch = (0..n)
                .map(|i| {
                    command_task(
                        &format!("t-{}", launched + i),
                        &offer,
                        "sleep 1000",
                        0.1,
                        64.0,
                    )
                })
                .collect();
            s.launch(&offer, batch);
            launched += n;
        }
    }
    wait_for("tasks to run", Duration::from_secs(600), || {
        let m = get_json(&format!("http://{master}/metrics/snapshot"))?;
        (m["master/tasks_running"].as_f64()? as usize >= tasks).then_some(())
    });
    let launched_in = t1.elapsed();
    let rss = rss_bytes(master_proc.pid()).unwrap_or(0);
    let (state_time, state_len) = time_state(&master);
    println!("agents={agents} tasks={tasks} registered_in={registered_in:?} launched_running_in={launched_in:?}");
    println!(
        "master RSS: {:.1} MB (empty master: {:.1} MB; agents registered, no framework: {:.1} MB)",
        rss as f64 / 1e6,
        base_rss as f64 / 1e6,
        agents_rss as f64 / 1e6
    );
    println!(
        "/master/state: {:.0} ms for {:.1} MB (empty: {:.1} ms)",
        state_time.as_secs_f64() * 1000.0,
        state_len as f64 / 1e6,
        base_state.as_secs_f64() * 1000.0
    );
    master_proc.kill9();
}
