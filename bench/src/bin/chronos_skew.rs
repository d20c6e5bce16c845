//! Chronos skew on `paddock dev`: N jobs (default 1,000), each due every
//! minute, run for M minutes (default 2); for every scheduled run, how late
//! it was against its nominal time.
//!
//! Two layouts, each on its own fresh `paddock dev` (`--layout` picks one,
//! default both):
//! - `same`: every job is due at the same instant each minute (the hard
//!   case: N launches at once on one agent);
//! - `spread`: job i is due at `i * 60 s / N` into each minute (1,000 jobs
//!   each due every minute, at different times).
//!
//! Three figures per run, all from Chronos's own records (one clock, this
//! machine's):
//! - scheduled -> ACCEPT answered by the master: Chronos's own contribution
//!   (its `launch.lateness` histogram in `/metrics`);
//! - scheduled -> TASK_RUNNING, as stamped by the executor (the status's
//!   timestamp, `runningReported` in the runs API): end to end;
//! - scheduled -> TASK_RUNNING received by Chronos (`running`).
//!
//! A run that started before its slot is counted and reported (it must not
//! happen). The baseline in the same run is the machine's bare spawn of
//! `sh -c true` (the floor any launcher pays per task), and the load
//! average is printed at start and end since the machine is shared.
//!
//! cargo build --release -p paddock -p paddock-bench
//! PADDOCK_BIN=target/release/paddock target/release/chronos_skew --jobs 1000 --minutes 2
//! (`--layout same|spread|both`, `--keep-logs DIR` keeps each `paddock dev` log)

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use paddock_bench::{arg, arg_str, clean_cgroup_root, summary, Dev};
use paddock_tests::{free_port, get_json, http, wait_for};
use serde_json::{json, Value};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn iso(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| format!("{t:.3}"))
        .unwrap_or_default()
}

fn ms(d: i64) -> Duration {
    Duration::from_millis(u64::try_from(d).unwrap_or(0))
}

/// The floor: spawning `sh -c true` and waiting for it, per task.
fn baseline(n: usize) -> Vec<Duration> {
    (0..n)
        .filter_map(|_| {
            let t0 = Instant::now();
            let status = std::process::Command::new("sh")
                .args(["-c", "true"])
                .status()
                .ok()?;
            status.success().then(|| t0.elapsed())
        })
        .collect()
}

/// One layout's figures.
struct Figures {
    launch: Vec<Duration>,
    launch_metric: Value,
    running: Vec<Duration>,
    received: Vec<Duration>,
    runs: usize,
    expected: usize,
    early: usize,
    never_running: usize,
    post_time: Duration,
}

fn run_layout(layout: &str, jobs: usize, minutes: usize) -> Figures {
    let cp = free_port();
    let mut dev = Dev::start(
        &format!("paddock-h3-skew-{}-{cp}", std::process::id()),
        "cpus:64;mem:65536;disk:100000;ports:[31000-32000]",
        &["--marathon-port", "0", "--chronos-port", &cp.to_string()],
    );
    let chronos = format!("http://127.0.0.1:{cp}");
    wait_for("chronos", Duration::from_secs(30), || {
        get_json(&format!("{chronos}/v1/scheduler/jobs"))
    });

    // The first slot is far enough ahead for every POST to land before it
    // (each POST is one fsync'd transaction), on a whole second.
    let lead = 10_000 + 20 * jobs as i64;
    let start = (now_ms() + lead).div_euclid(1000) * 1000 + 1000;
    let client = http();
    let t_post = Instant::now();
    for i in 0..jobs {
        let at = match layout {
            "same" => start,
            _ => start + (i as i64 * 60_000) / jobs as i64,
        };
        let body = json!({
            "name": format!("skew-{i:05}"),
            "command": "true",
            "schedule": format!("R{minutes}/{}/PT1M", iso(at)),
            "epsilon": "PT30S",
            "owner": "bench@example.com",
            "cpus": 0.01,
            "mem": 8,
            "disk": 1,
        });
        let r = client
            .post(format!("{chronos}/v1/scheduler/iso8601"))
            .json(&body)
            .send()
            .expect("POST /v1/scheduler/iso8601");
        assert!(
            r.status().is_success(),
            "job {i}: {} {}",
            r.status(),
            r.text().unwrap_or_default()
        );
    }
    let post_time = t_post.elapsed();
    assert!(
        now_ms() < start,
        "posting took {post_time:?}, past the first slot; raise the lead"
    );
    // Wait for the last slot, then for every run to end.
    let spread = match layout {
        "same" => 0,
        _ => ((jobs as i64 - 1) * 60_000) / jobs as i64,
    };
    let last = start + (minutes as i64 - 1) * 60_000 + spread + 1000;
    while now_ms() < last {
        std::thread::sleep(Duration::from_millis(500));
    }
    // Bounded: runs still unfinished then are reported as such.
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        let idle = get_json(&format!("{chronos}/metrics")).is_some_and(|m| {
            m["gauges"]["runs.active"]["value"].as_u64() == Some(0)
                && m["gauges"]["runs.queued"]["value"].as_u64() == Some(0)
        });
        if idle {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let metrics = get_json(&format!("{chronos}/metrics")).unwrap_or(Value::Null);
    let mut f = Figures {
        launch: Vec::new(),
        launch_metric: metrics["histograms"]["launch.lateness"].clone(),
        running: Vec::new(),
        received: Vec::new(),
        runs: 0,
        expected: jobs * minutes,
        early: 0,
        never_running: 0,
        post_time,
    };
    for i in 0..jobs {
        let url = format!("{chronos}/v1/scheduler/job/skew-{i:05}/runs");
        let runs = get_json(&url).unwrap_or(Value::Null);
        for r in runs.as_array().into_iter().flatten() {
            if r["kind"] != "scheduled" {
                continue;
            }
            let Some(sched) = r["scheduled"].as_i64() else {
                continue;
            };
            f.runs += 1;
            let started = r["started"].as_i64();
            if started.is_some_and(|s| s < sched)
                || r["runningReported"].as_i64().is_some_and(|s| s < sched)
            {
                f.early += 1;
            }
            if let Some(s) = started {
                f.launch.push(ms(s - sched));
            }
            match (r["runningReported"].as_i64(), r["running"].as_i64()) {
                (Some(rep), Some(got)) => {
                    f.running.push(ms(rep - sched));
                    f.received.push(ms(got - sched));
                }
                (None, Some(got)) => f.received.push(ms(got - sched)),
                _ => f.never_running += 1,
            }
        }
    }
    dev.proc.terminate();
    clean_cgroup_root(&dev.cgroup_root);
    let log = dev.log();
    let keep = arg_str("--keep-logs", "");
    if !keep.is_empty() {
        let to = std::path::Path::new(&keep).join(format!("chronos_skew-{layout}-dev.log"));
        if let Err(e) = std::fs::copy(&log, &to) {
            eprintln!("cannot keep {}: {e}", log.display());
        }
    }
    f
}

fn main() {
    let jobs = arg("--jobs", 1000);
    let minutes = arg("--minutes", 2).max(1);
    let layout = arg_str("--layout", "both");
    let layouts: Vec<&str> = match layout.as_str() {
        "same" => vec!["same"],
        "spread" => vec!["spread"],
        _ => vec!["spread", "same"],
    };
    println!("loadavg at start: {}", loadavg());
    let mut base = baseline(200);
    println!(
        "baseline sh -c true spawn+wait:              {}",
        summary(&mut base)
    );
    for l in layouts {
        let mut f = run_layout(l, jobs, minutes);
        println!(
            "== layout {l}: {jobs} jobs x {minutes} min; {} of {} scheduled runs recorded; posting took {:?}",
            f.runs, f.expected, f.post_time
        );
        println!(
            "scheduled -> ACCEPT answered (chronos /metrics): {}",
            f.launch_metric
        );
        println!(
            "scheduled -> launch placed (run.started):    {}",
            summary(&mut f.launch)
        );
        println!(
            "scheduled -> TASK_RUNNING (executor stamp):  {}",
            summary(&mut f.running)
        );
        println!(
            "scheduled -> TASK_RUNNING received:          {}",
            summary(&mut f.received)
        );
        println!(
            "runs started before their slot: {}; runs never RUNNING: {}",
            f.early, f.never_running
        );
        println!("loadavg after layout {l}: {}", loadavg());
    }
}
