//! Prints the resident memory of a scheduler core holding N jobs (default
//! 10,000), each with a few finished runs in memory, for BENCHMARKS.md:
//! `cargo run --release -p paddock-chronos --example memory -- 10000`.

use paddock_chronos::core::{Core, Sandbox, TaskUpdate};
use paddock_chronos::model::Job;
use paddock_chronos::schedule::to_millis;
use paddock_chronos::validate::{validate, Endpoint};

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let before = rss_kib();
    let start = "2026-01-15T12:00:00Z";
    let mut now = to_millis(start.parse().unwrap());
    let mut core = Core::new();
    for i in 0..n {
        let mut job = Job::named(&format!("job-{i:05}"));
        job.command = format!("/usr/local/bin/report --part {i} --verbose");
        job.owner = "ops@example.com".into();
        job.schedule = Some("* * * * *".into());
        job.schedule_time_zone = "Europe/Berlin".into();
        if let Err(e) = validate(&mut job, Endpoint::Iso8601, &core, start.parse().unwrap()) {
            eprintln!("job {i}: {e}");
            return;
        }
        core.put_job(job, &[], now);
    }
    let _ = core.take_changes();
    let defined = rss_kib();
    // Ten minutes of every job running every minute.
    for _ in 0..10 {
        now += 60_000;
        core.tick(now);
        for k in core.launchable(now) {
            let Some(tid) = core.next_task_id(&k) else {
                continue;
            };
            core.mark_launched(
                &k,
                &tid,
                "agent-0123456789abcdef-S0",
                Sandbox::default(),
                now,
            );
            core.task_update(
                &TaskUpdate {
                    task_id: tid,
                    state: "TASK_FINISHED".into(),
                    message: Some("Command exited with status 0".into()),
                    reason: None,
                    agent_id: None,
                    executor_id: None,
                    container_id: None,
                    timestamp: None,
                },
                now + 500,
            );
        }
        let _ = core.take_changes();
    }
    let ran = rss_kib();
    println!(
        "{n} jobs: {:.1} MiB defined, {:.1} MiB after 10 runs each ({} runs in memory)",
        (defined.saturating_sub(before)) as f64 / 1024.0,
        (ran.saturating_sub(before)) as f64 / 1024.0,
        core.all_runs().count()
    );
}
