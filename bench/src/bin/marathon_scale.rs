//! Marathon at scale: one app scaled 0 → N instances (`--shape scale`) or N
//! apps of one instance each created in one `POST /v2/groups`
//! (`--shape apps`), timed from the API call until Marathon reports every
//! task running.
//!
//! `--mode dev`: a real `paddock dev` (master, one real agent, Marathon in
//! one process) running N real `sleep 3600` tasks, each with its own
//! executor. Baseline in the same run: spawning N `sh -c 'exec sleep 3600'`
//! directly and waiting until the kernel shows every `sleep` running.
//!
//! `--mode sim`: a real `paddock master` and a real `paddock marathon`
//! process, with `--agents` simulated agents (real gRPC sessions from this
//! process that answer RunTask with TASK_RUNNING): the placement part.
//!
//! cargo build --release -p paddock -p paddock-bench
//! PADDOCK_BIN=target/release/paddock target/release/marathon_scale --mode dev --shape scale --instances 1000
//! PADDOCK_BIN=target/release/paddock target/release/marathon_scale --mode sim --agents 100 --shape apps

use std::time::{Duration, Instant};

use paddock_bench::marathon_sim::{
    cpu_ticks, loadavg, no_deployments, poll, send, start_sim, wait_ready, Cluster, SimAgent,
    TICKS_PER_SECOND,
};
use paddock_bench::{arg, arg_str, Dev};
use paddock_tests::{free_port, get_json};
use serde_json::{json, Value};

/// Spawns n `sh -c 'exec sleep 3600'` and waits until all are `sleep`.
fn baseline(n: usize) -> Duration {
    let t0 = Instant::now();
    let mut children: Vec<std::process::Child> = (0..n)
        .filter_map(|_| {
            std::process::Command::new("sh")
                .args(["-c", "exec sleep 3600"])
                .spawn()
                .ok()
        })
        .collect();
    let _ = poll(Duration::from_secs(60), || {
        children
            .iter()
            .all(|c| {
                std::fs::read_to_string(format!("/proc/{}/cmdline", c.id()))
                    .is_ok_and(|s| s.starts_with("sleep"))
            })
            .then_some(())
    });
    let took = t0.elapsed();
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    took
}

/// CPU time (s) used so far by every task container under `root`:
/// executors, init, the commands.
fn containers_cpu(root: &str) -> Option<f64> {
    let ns: u64 = std::fs::read_to_string(format!("/sys/fs/cgroup/cpuacct/{root}/cpuacct.usage"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(ns as f64 / 1e9)
}

fn start_dev(resources: &str) -> Cluster {
    let marathon = free_port();
    let root = format!("paddock-h4-scale-{}", std::process::id());
    let Dev {
        proc,
        dir,
        master,
        cgroup_root,
        ..
    } = Dev::spawn(
        &root,
        resources,
        &[
            "--marathon-port",
            &marathon.to_string(),
            "--chronos-port",
            "0",
        ],
    );
    let pid = proc.pid();
    Cluster {
        master,
        marathon: format!("127.0.0.1:{marathon}"),
        procs: vec![proc],
        marathon_pid: pid,
        master_pid: pid,
        cgroup_root: Some(cgroup_root),
        runtime: None,
        stats: Default::default(),
        dir,
    }
}

fn running_of(v: &Value) -> usize {
    v["tasksRunning"].as_u64().unwrap_or(0) as usize
}

/// How many tasks Marathon reports running for the shape's apps.
fn running(c: &Cluster, shape: &str) -> Option<usize> {
    if shape == "apps" {
        // Marathon's own gauge: listing 1,000 apps 20 times a second would
        // load Marathon more than the deployment does.
        let v = get_json(&format!("http://{}/metrics", c.marathon))?;
        Some(v["gauges"]["marathon.instances.running.gauge"]["value"].as_f64()? as usize)
    } else {
        let v = get_json(&format!("http://{}/v2/apps/scale", c.marathon))?;
        Some(running_of(&v["app"]))
    }
}

fn agents_active(c: &Cluster) -> String {
    get_json(&format!("http://{}/metrics/snapshot", c.master))
        .map(|m| {
            format!(
                "active={} disconnected={}",
                m["master/slaves_active"], m["master/slaves_disconnected"]
            )
        })
        .unwrap_or_else(|| "unknown".into())
}

fn app(id: &str, instances: usize) -> Value {
    json!({"id": id, "cmd": "sleep 3600", "cpus": 0.01, "mem": 8, "instances": instances})
}

fn main() {
    let mode = arg_str("--mode", "dev");
    let shape = arg_str("--shape", "scale");
    let n = arg("--instances", 1000);
    let agents = arg("--agents", 100);
    let limit = Duration::from_secs(arg("--timeout", 120) as u64);
    let resources = arg_str(
        "--resources",
        "cpus:64;mem:65536;disk:100000;ports:[31000-32000]",
    );
    println!(
        "marathon_scale mode={mode} shape={shape} instances={n} loadavg(before)={}",
        loadavg()
    );
    let base = (mode == "dev").then(|| baseline(n));
    if let Some(b) = base {
        println!("baseline: {n} × sh -c 'exec sleep 3600' spawned directly, all running in {b:?}");
    }
    let c = if mode == "sim" {
        start_sim(agents, |i| SimAgent {
            hostname: format!("sim-{i}"),
            cpus: 32.0,
            mem: 65536.0,
            disk: 100_000.0,
            ports: (31000, 32000),
            serve_ports: false,
        })
    } else {
        start_dev(&resources)
    };
    wait_ready(&c);
    let api = format!("http://{}", c.marathon);
    let (ticks_m0, ticks_p0) = (cpu_ticks(c.marathon_pid), cpu_ticks(c.master_pid));
    let t0 = Instant::now();
    let (code, body) = if shape == "apps" {
        let apps: Vec<Value> = (0..n).map(|i| app(&format!("/many/a{i}"), 1)).collect();
        send(
            reqwest::Method::POST,
            &format!("{api}/v2/groups"),
            &json!({"id": "/many", "apps": apps}),
        )
    } else {
        let (code, body) = send(
            reqwest::Method::POST,
            &format!("{api}/v2/apps"),
            &app("/scale", 0),
        );
        assert!(code == 201, "POST /v2/apps: {code} {body}");
        poll(Duration::from_secs(30), || no_deployments(&c)).expect("the empty app deploys");
        send(
            reqwest::Method::PUT,
            &format!("{api}/v2/apps/scale"),
            &json!({"instances": n}),
        )
    };
    let t_api = Instant::now();
    assert!(
        (200..300).contains(&code),
        "the deploy call failed: {code} {body}"
    );
    // From here on the clock runs from `t_api` (after the call answered) too,
    // so the deploy call's own cost is visible separately.
    let mut first: Option<Duration> = None;
    let mut half: Option<Duration> = None;
    let mut last_seen = 0;
    let mut agents_seen = String::new();
    let mut progress = Vec::new();
    let all = poll(limit, || {
        let r = running(&c, &shape).unwrap_or(last_seen);
        last_seen = r;
        if progress.len() < t0.elapsed().as_secs() as usize {
            progress.push(r);
        }
        if r > 0 && first.is_none() {
            first = Some(t0.elapsed());
        }
        if r * 2 >= n && half.is_none() {
            half = Some(t0.elapsed());
        }
        if mode == "dev" {
            agents_seen = agents_active(&c);
        }
        (r >= n).then(|| t0.elapsed())
    });
    let (ticks_m1, ticks_p1) = (cpu_ticks(c.marathon_pid), cpu_ticks(c.master_pid));
    println!("deploy call answered in {:?}", t_api.duration_since(t0));
    println!("first task running after {first:?}, half after {half:?}");
    println!("running at each second: {progress:?}");
    match all {
        Some(d) => println!("ALL {n} RUNNING in {:.2} s (target 10 s)", d.as_secs_f64()),
        None => println!(
            "NOT all running within {limit:?}: {last_seen}/{n} running (agents: {agents_seen})"
        ),
    }
    let cpu = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.2} s", (b - a) as f64 / TICKS_PER_SECOND),
        _ => "unknown".into(),
    };
    if mode == "sim" {
        println!(
            "cpu during the deploy: marathon {} master {}; simulated agents saw {} RunTask",
            cpu(ticks_m0, ticks_m1),
            cpu(ticks_p0, ticks_p1),
            c.stats.launched.load(std::sync::atomic::Ordering::Relaxed)
        );
    } else {
        println!(
            "cpu of the paddock dev process during the deploy: {}",
            cpu(ticks_m0, ticks_m1)
        );
        if let Some(cpu) = c.cgroup_root.as_deref().and_then(containers_cpu) {
            println!(
                "cpu of the task containers (executors, init, sleep): {cpu:.2} s, {:.1} ms per task",
                cpu * 1000.0 / last_seen.max(1) as f64
            );
        }
        if let (Some(d), Some(b)) = (all, base) {
            println!(
                "ratio to the direct-spawn baseline: {:.1}x",
                d.as_secs_f64() / b.as_secs_f64()
            );
        }
    }
    println!("loadavg(after)={}", loadavg());
    let hold = arg("--hold", 0);
    if hold > 0 {
        println!(
            "holding {hold} s: master {} marathon {} pids {} {}",
            c.master, c.marathon, c.master_pid, c.marathon_pid
        );
        std::thread::sleep(Duration::from_secs(hold as u64));
    }
}
