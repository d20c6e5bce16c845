//! Launch latency of image containers: ACCEPT → TASK_RUNNING for a
//! MESOS-container task from a cached busybox image on `paddock dev`,
//! against `runc run --detach` of the same image's rootfs (a bundle made by
//! `runc spec`), measured side by side: one Paddock launch, then one runc
//! launch, N times.
//!
//! Needs root, docker-registry, skopeo, busybox-static and runc.
//!
//! cargo build --release -p paddock -p paddock-bench
//! PADDOCK_BIN=target/release/paddock target/release/oci_launch --tasks 50
//!
//! With `PADDOCK_LAUNCH_TRACE=1` the agent, executor and init print a
//! timestamp at each launch stage, and this prints the median time from
//! the ACCEPT to each stage.

use std::path::Path;
use std::time::{Duration, Instant};

use paddock_bench::image_tasks::{image_task, warm_up};
use paddock_bench::{arg, runc, summary, Dev};
use paddock_images::testing::LocalRegistry;
use paddock_tests::scheduler::Scheduler;
use serde_json::json;

/// Each task's share.
const CPUS: f64 = 0.1;
const MEM: f64 = 32.0;

fn now_us() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

/// Every `paddock-trace <µs> <pid> <stage>` line under `dir` (dev.log and
/// the sandboxes' stderr files), as (µs, stage).
fn trace_lines(dir: &Path) -> Vec<(u128, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(t) = e.file_type() else { continue };
            let name = e.file_name();
            if t.is_dir() && name != "images" && name != "oci" {
                stack.push(e.path());
            } else if t.is_file() && (name == "stderr" || name == "dev.log") {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                for l in text.lines() {
                    let Some(rest) = l.strip_prefix("paddock-trace ") else {
                        continue;
                    };
                    let mut f = rest.splitn(3, ' ');
                    if let (Some(us), Some(_pid), Some(stage)) = (f.next(), f.next(), f.next()) {
                        if let Ok(us) = us.parse() {
                            out.push((us, stage.to_string()));
                        }
                    }
                }
            }
        }
    }
    out.sort();
    out
}

/// For launches that did not overlap (`windows`: accept and TASK_RUNNING
/// in µs), the median offset of each traced stage from the accept.
fn trace_report(dir: &Path, windows: &[(u128, u128)]) {
    let lines = trace_lines(dir);
    let mut per_stage: Vec<(String, Vec<f64>)> = Vec::new();
    for &(start, end) in windows {
        for (us, stage) in lines.iter().filter(|(us, _)| *us >= start && *us <= end) {
            let ms = (*us - start) as f64 / 1000.0;
            match per_stage.iter_mut().find(|(s, _)| s == stage) {
                Some((_, v)) => v.push(ms),
                None => per_stage.push((stage.clone(), vec![ms])),
            }
        }
    }
    for (_, v) in per_stage.iter_mut() {
        v.sort_by(f64::total_cmp);
    }
    per_stage.sort_by(|a, b| a.1[a.1.len() / 2].total_cmp(&b.1[b.1.len() / 2]));
    println!("median ms from ACCEPT (n launches seen):");
    for (stage, v) in &per_stage {
        println!("  {:>8.1}  {stage} ({})", v[v.len() / 2], v.len());
    }
}

/// One `runc run --detach` of `bundle`, then its removal.
fn runc_once(bundle: &Path, id: &str, log: &Path) -> Duration {
    let elapsed = runc::run_detached(bundle, id, log);
    runc::remove(id);
    elapsed
}

fn main() {
    let total = arg("--tasks", 50);
    let registry = LocalRegistry::start().unwrap_or_else(|e| panic!("registry: {e}"));
    let image = registry
        .push_busybox()
        .unwrap_or_else(|e| panic!("push: {e}"));
    let dev = Dev::start(
        &format!("paddock-bench-oci-{}", std::process::id()),
        "cpus:8;mem:8192;disk:10000;ports:[31000-32000]",
        &[],
    );
    let dir = &dev.dir;
    let mut s = Scheduler::subscribe(&dev.master, json!({"user": "root", "name": "oci-launch"}));
    warm_up(&mut s, &image, CPUS, MEM);

    let rootfs = runc::rootfs_of(dir.path(), &image);
    let bundle = runc::bundle(
        dir.path(),
        &rootfs.path,
        &runc::BundleOptions {
            name: "runc-bundle",
            readonly: false,
            host_network: false,
            memory_limit: None,
        },
    );

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let mut windows = Vec::new();
    for i in 0..total {
        let offer = s.next_offer(Duration::from_secs(30));
        let id = format!("oci-{i}");
        let task = image_task(
            &id,
            &offer,
            &image,
            "exec /bin/busybox sleep 1000",
            CPUS,
            MEM,
        );
        let (t0, accept_us) = (Instant::now(), now_us());
        assert_eq!(s.launch(&offer, vec![task]), 202);
        loop {
            let e = s.next_event("UPDATE", Duration::from_secs(60));
            let st = &e["update"]["status"];
            let elapsed = t0.elapsed();
            s.ack(st);
            if st["task_id"]["value"] != id.as_str() {
                continue;
            }
            match st["state"].as_str() {
                Some("TASK_RUNNING") => {
                    ours.push(elapsed);
                    windows.push((accept_us, accept_us + elapsed.as_micros()));
                    break;
                }
                Some(other) => panic!("{id}: {other}: {st}"),
                None => {}
            }
        }
        s.call(json!({"type": "KILL", "kill": {"task_id": {"value": &id}}}));
        s.wait_state(&id, "TASK_KILLED", Duration::from_secs(60));
        theirs.push(runc_once(
            &bundle,
            &format!("paddock-bench-runc-{}-{i}", std::process::id()),
            &dir.path().join("runc.log"),
        ));
    }
    println!(
        "paddock accept->TASK_RUNNING (cached image): {}",
        summary(&mut ours)
    );
    println!(
        "runc run --detach (same rootfs):            {}",
        summary(&mut theirs)
    );
    let p50 = ours[ours.len() / 2].as_secs_f64();
    let r50 = theirs[theirs.len() / 2].as_secs_f64();
    println!("ratio p50 paddock/runc: {:.2}x", p50 / r50);
    if std::env::var_os("PADDOCK_LAUNCH_TRACE").is_some() {
        trace_report(dir.path(), &windows);
    }
    dev.stop();
}
