//! Bulk launch of image containers: N MESOS-container tasks from a cached
//! busybox image on one agent of `paddock dev` (the real master and
//! agent), launched in as few ACCEPTs as the offers allow, and the wall
//! time from the first ACCEPT until every task is TASK_RUNNING. Issue #5's
//! target is 1,000 tasks in under 10 s (Mesos 1.7: 30.7 s).
//!
//! Meanwhile a thread polls the agent's `/health` and the master's
//! `/master/slaves`: the slowest answer and whether the agent ever went
//! inactive show whether the launches starve the agent's runtime and its
//! heartbeats.
//!
//! With `PADDOCK_LAUNCH_TRACE=1` (see `paddock_isolation::oci::trace`) it
//! also prints, for each launch stage, when the first, median and last
//! task passed it, from the first ACCEPT.
//!
//! Needs root, docker-registry, skopeo and busybox-static.
//!
//! With `--runc 1` it first starts as many `runc run --detach` containers
//! of the same rootfs (host network, read-only root, a memory limit), as
//! many at a time as there are CPUs, and prints Paddock's time against
//! theirs: a baseline taken on the same machine minutes apart, which the
//! noise of a shared host affects alike. runc does strictly less (no
//! scheduler, no executor, no status updates).
//!
//! cargo build --release -p paddock -p paddock-bench
//! PADDOCK_BIN=target/release/paddock target/release/oci_bulk --tasks 1000 --timeout 120 [--runc 1]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use paddock_bench::image_tasks::{image_task, warm_up};
use paddock_bench::{arg, runc, Dev};
use paddock_images::testing::LocalRegistry;
use paddock_tests::get_json;
use paddock_tests::scheduler::Scheduler;
use serde_json::{json, Value};

const CPUS: f64 = 0.01;
const MEM: f64 = 8.0;

/// A scalar resource of an offer.
fn scalar(offer: &Value, name: &str) -> f64 {
    offer["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["name"] == name)
        .filter_map(|r| r["scalar"]["value"].as_f64())
        .sum()
}

/// Acknowledges updates off the event loop, so the loop's timestamps are
/// not delayed by the acknowledgements' round trips.
fn acker(s: &Scheduler) -> mpsc::Sender<Value> {
    let (tx, rx) = mpsc::channel::<Value>();
    let (master, fw, stream) = (
        s.master.clone(),
        s.framework_id.clone(),
        s.stream_id.clone(),
    );
    std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        for st in rx {
            let call = json!({
                "type": "ACKNOWLEDGE",
                "framework_id": {"value": fw},
                "acknowledge": {
                    "agent_id": st["agent_id"],
                    "task_id": st["task_id"],
                    "uuid": st["uuid"],
                }
            });
            let _ = client
                .post(format!("http://{master}/api/v1/scheduler"))
                .header("Content-Type", "application/json")
                .header("Mesos-Stream-Id", &stream)
                .body(call.to_string())
                .send();
        }
    });
    tx
}

/// What the watcher saw while the launches ran.
#[derive(Debug, Default)]
struct Watch {
    slowest_health: Duration,
    health_failures: usize,
    agent_inactive_seen: bool,
    polls: usize,
}

fn watch(agent: String, master: String, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Watch> {
    std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        let mut w = Watch::default();
        while !stop.load(Ordering::Relaxed) {
            let t0 = Instant::now();
            match client.get(format!("http://{agent}/health")).send() {
                Ok(r) if r.status().is_success() => {}
                _ => w.health_failures += 1,
            }
            w.slowest_health = w.slowest_health.max(t0.elapsed());
            if let Some(s) = get_json(&format!("http://{master}/master/slaves")) {
                let active = s["slaves"][0]["active"].as_bool().unwrap_or(false);
                w.agent_inactive_seen |= !active;
            }
            w.polls += 1;
            std::thread::sleep(Duration::from_millis(200));
        }
        w
    })
}

/// `paddock-trace <µs> <pid> <stage>` lines of dev.log and the sandboxes'
/// stderr files, as (stage, offsets in ms from `t0_us`), in stage order.
fn stage_spread(dir: &std::path::Path, t0_us: u128) -> Vec<(String, Vec<f64>)> {
    let mut files = vec![dir.join("dev.log")];
    let mut stack = vec![dir.join("agent").join("slaves")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(_) if e.file_name() == "stderr" => files.push(e.path()),
                _ => {}
            }
        }
    }
    let mut stages: Vec<(String, Vec<f64>)> = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        for l in text
            .lines()
            .filter_map(|l| l.strip_prefix("paddock-trace "))
        {
            let mut it = l.splitn(3, ' ');
            let (Some(us), Some(_), Some(stage)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            let Ok(us) = us.parse::<u128>() else { continue };
            let ms = us.saturating_sub(t0_us) as f64 / 1000.0;
            match stages.iter_mut().find(|(s, _)| s == stage) {
                Some((_, v)) => v.push(ms),
                None => stages.push((stage.to_string(), vec![ms])),
            }
        }
    }
    for (_, v) in stages.iter_mut() {
        v.sort_by(f64::total_cmp);
    }
    stages.sort_by(|a, b| a.1[a.1.len() / 2].total_cmp(&b.1[b.1.len() / 2]));
    stages
}

/// CPU seconds (user + system) of process `pid`, from /proc/PID/stat.
fn process_cpu(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15; `after` starts at field 3.
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds used in the containers' cgroups (executors, inits, tasks).
fn containers_cpu(cgroup_root: &str) -> f64 {
    [
        "/sys/fs/cgroup/cpuacct",
        "/sys/fs/cgroup/cpu,cpuacct",
        "/sys/fs/cgroup/cpu",
    ]
    .iter()
    .find_map(|b| std::fs::read_to_string(format!("{b}/{cgroup_root}/cpuacct.usage")).ok())
    .and_then(|v| v.trim().parse::<f64>().ok())
    .map(|ns| ns / 1e9)
    .unwrap_or(f64::NAN)
}

/// The host's steal and idle time so far, in seconds over all CPUs, from
/// the first line of /proc/stat (fields 8 and 4). Steal is time the
/// hypervisor gave this VM's CPUs to someone else: on a shared host it
/// explains runs in which the same work takes twice the CPU.
fn host_steal_idle() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    let at = |i: usize| f.get(i).copied().unwrap_or(0.0) / 100.0;
    (at(7), at(3))
}

/// Waits (up to `limit`) until the CPUs are at least 80% idle over 2 s: a
/// teardown of many containers keeps the machine busy after a burst.
fn wait_quiet(limit: Duration) {
    let t0 = Instant::now();
    let cpus = runc::parallelism() as f64;
    while t0.elapsed() < limit {
        let (_, idle0) = host_steal_idle();
        std::thread::sleep(Duration::from_secs(2));
        let (_, idle1) = host_steal_idle();
        if (idle1 - idle0) / (2.0 * cpus) > 0.8 {
            return;
        }
    }
}

/// The runc baseline: `total` containers of `image`'s rootfs, then their
/// removal and a quiet machine again.
fn runc_baseline(dev_dir: &std::path::Path, image: &str, total: usize) -> Duration {
    let rootfs = runc::rootfs_of(dev_dir, image);
    let bundle = runc::bundle(
        dev_dir,
        &rootfs.path,
        &runc::BundleOptions {
            name: "runc-bulk",
            readonly: true,
            host_network: true,
            memory_limit: Some((MEM * 1024.0 * 1024.0) as u64 * 4),
        },
    );
    let prefix = format!("paddock-bench-runcbulk-{}", std::process::id());
    let logs = dev_dir.join("runc-logs");
    std::fs::create_dir_all(&logs).expect("runc log dir");
    let took = runc::burst(&bundle, &prefix, total, &logs);
    runc::remove_burst(&prefix, total);
    wait_quiet(Duration::from_secs(120));
    took
}

fn main() {
    let total = arg("--tasks", 1000);
    let with_runc = arg("--runc", 0) > 0;
    let limit = Duration::from_secs(arg("--timeout", 120) as u64);
    let registry = LocalRegistry::start().unwrap_or_else(|e| panic!("registry: {e}"));
    let image = registry
        .push_busybox()
        .unwrap_or_else(|e| panic!("push: {e}"));
    let cgroup_root = format!("paddock-bench-ocibulk-{}", std::process::id());
    let resources = format!(
        "cpus:{};mem:{};disk:100000;ports:[31000-32000]",
        (total as f64 * CPUS).ceil() + 2.0,
        (total as f64 * MEM).ceil() + 1024.0
    );
    let dev = Dev::start(&cgroup_root, &resources, &[]);
    let master = dev.master.clone();
    let mut s = Scheduler::subscribe(&master, json!({"user": "root", "name": "oci-bulk"}));
    warm_up(&mut s, &image, CPUS, MEM);
    let runc_took = with_runc.then(|| runc_baseline(dev.dir.path(), &image, total));

    let acks = acker(&s);
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch(
        format!("127.0.0.1:{}", dev.agent_port),
        master.clone(),
        stop.clone(),
    );
    let mut state: HashMap<String, String> = HashMap::new();
    let (mut launched, mut running, mut failed) = (0usize, 0usize, 0usize);
    let mut accepts = 0;
    let cpu0 = (process_cpu(dev.proc.pid()), containers_cpu(&cgroup_root));
    let host0 = host_steal_idle();
    let t0 = Instant::now();
    let t0_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    let mut all_running = None;
    while t0.elapsed() < limit && running + failed < total {
        // Offers come back as resources free up; take each one whole.
        let left = limit.saturating_sub(t0.elapsed()) + Duration::from_secs(1);
        let e = s.next_matching("an offer or an update", left, |e| {
            e["type"] == "UPDATE" || e["type"] == "OFFERS"
        });
        if e["type"] == "OFFERS" {
            let Some(offer) = e["offers"]["offers"].get(0).cloned() else {
                continue;
            };
            let fit = ((scalar(&offer, "cpus") / CPUS).floor() as usize)
                .min((scalar(&offer, "mem") / MEM).floor() as usize)
                .min(total - launched);
            if fit == 0 {
                continue;
            }
            let tasks: Vec<Value> = (launched..launched + fit)
                .map(|i| {
                    image_task(
                        &format!("bulk-{i}"),
                        &offer,
                        &image,
                        "exec /bin/busybox sleep 1000",
                        CPUS,
                        MEM,
                    )
                })
                .collect();
            assert_eq!(s.launch(&offer, tasks), 202);
            launched += fit;
            accepts += 1;
            continue;
        }
        let st = &e["update"]["status"];
        let Some(id) = st["task_id"]["value"].as_str() else {
            continue;
        };
        if st.get("uuid").is_some() {
            let _ = acks.send(st.clone());
        }
        let new = st["state"].as_str().unwrap_or("").to_string();
        let old = state.insert(id.to_string(), new.clone());
        if old.as_deref() == Some(new.as_str()) {
            continue;
        }
        match new.as_str() {
            "TASK_RUNNING" => running += 1,
            "TASK_STAGING" | "TASK_STARTING" => {}
            other => {
                failed += 1;
                eprintln!("{id}: {other}: {}", st["message"]);
            }
        }
        if running == total {
            all_running = Some(t0.elapsed());
        }
    }
    let cpu1 = (process_cpu(dev.proc.pid()), containers_cpu(&cgroup_root));
    let host1 = host_steal_idle();
    stop.store(true, Ordering::Relaxed);
    let w = watcher.join().expect("watcher");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    match all_running {
        Some(d) => println!(
            "{total} container tasks launched ({accepts} ACCEPTs), all TASK_RUNNING after {:.2} s ({:.0} tasks/s)",
            d.as_secs_f64(),
            total as f64 / d.as_secs_f64()
        ),
        None => println!(
            "NOT DONE within {limit:?}: {launched} launched, {running} TASK_RUNNING, {failed} failed"
        ),
    }
    println!(
        "agent /health slowest {:.0} ms over {} polls ({} failed); agent inactive at the master: {}",
        w.slowest_health.as_secs_f64() * 1000.0,
        w.polls,
        w.health_failures,
        w.agent_inactive_seen
    );
    println!("loadavg at the end: {}", load.trim());
    println!(
        "CPU during the launches: paddock dev (master + agent) {:.1} s, containers (executors, inits, tasks) {:.1} s",
        cpu1.0 - cpu0.0,
        cpu1.1 - cpu0.1
    );
    if let (Some(r), Some(d)) = (runc_took, all_running) {
        println!(
            "runc baseline: {total} x runc run --detach, {} at a time, all running after {:.2} s; paddock/runc {:.2}x",
            runc::parallelism(),
            r.as_secs_f64(),
            d.as_secs_f64() / r.as_secs_f64()
        );
    }
    println!(
        "host during the launches: steal {:.1} s, idle {:.1} s (over all CPUs)",
        host1.0 - host0.0,
        host1.1 - host0.1
    );
    if std::env::var_os("PADDOCK_LAUNCH_TRACE").is_some() {
        println!("stage: first / median / last ms from the first ACCEPT (count)");
        for (stage, v) in stage_spread(dev.dir.path(), t0_us) {
            println!(
                "  {stage:<26} {:>8.0} {:>8.0} {:>8.0} ({})",
                v[0],
                v[v.len() / 2],
                v[v.len() - 1],
                v.len()
            );
        }
    }
    dev.stop();
}
