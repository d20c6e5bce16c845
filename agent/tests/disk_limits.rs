//! Disk limits end to end: a real master and agent (`paddock` processes)
//! with a short `--disk-watch-interval`, and command tasks that write into
//! their sandboxes with dd. Needs root and cgroups, as the other agent tests.

use std::time::Duration;

use paddock_tests::scheduler::{command_task, Scheduler};
use paddock_tests::{get_json, wait_for, Cluster};
use serde_json::{json, Value};

const RES: &str = "cpus:2;mem:1024;disk:2000;ports:[31000-31009]";
const MB: u64 = 1 << 20;
const WAIT: Duration = Duration::from_secs(30);

fn cluster(name: &str, agent_flags: &[&str]) -> (Cluster, Scheduler) {
    let mut c = Cluster::master(&[]);
    c.add_agent(RES, agent_flags);
    let s = Scheduler::subscribe(
        &format!("127.0.0.1:{}", c.master_port),
        json!({"user": "root", "name": name, "failover_timeout": 0}),
    );
    (c, s)
}

/// A command task with `disk` MB that writes `write_mb` into its sandbox
/// (allocated for real: data, then fsync) and then sleeps.
fn writer(id: &str, offer: &Value, disk: f64, write_mb: u64) -> Value {
    let cmd =
        format!("dd if=/dev/zero of=blob bs=1M count={write_mb} conv=fsync 2>dd.err && sleep 600");
    let mut t = command_task(id, offer, &cmd, 0.2, 64.0);
    if let Some(r) = t["resources"].as_array_mut() {
        r.push(json!({"name": "disk", "type": "SCALAR", "scalar": {"value": disk}}));
    }
    t
}

/// The task's state in the agent's own /state.
fn agent_task_state(c: &Cluster, task: &str) -> Option<String> {
    let state = get_json(&c.agent_url(0, "/state"))?;
    for fw in state["frameworks"].as_array()? {
        for ex in fw["executors"].as_array().into_iter().flatten() {
            for t in ex["tasks"].as_array().into_iter().flatten() {
                if t["id"] == task {
                    return t["state"].as_str().map(str::to_string);
                }
            }
        }
    }
    None
}

/// The /monitor/statistics entry of `task`'s executor once `ready` holds.
fn statistics_when(c: &Cluster, task: &str, ready: impl Fn(&Value) -> bool) -> Value {
    wait_for(&format!("statistics of {task}"), WAIT, || {
        let all = get_json(&c.agent_url(0, "/monitor/statistics"))?;
        let entry = all
            .as_array()?
            .iter()
            .find(|e| e["executor_id"] == task)?
            .clone();
        ready(&entry["statistics"]).then_some(entry["statistics"].clone())
    })
}

fn used(stats: &Value) -> u64 {
    stats["disk_used_bytes"].as_u64().unwrap_or(0)
}

#[test]
fn a_task_that_writes_past_its_disk_is_killed_with_the_disk_reason() {
    let (c, mut s) = cluster("disk-hog", &["--disk-watch-interval", "300ms"]);
    let offer = s.next_offer(Duration::from_secs(10));
    s.launch(&offer, vec![writer("hog", &offer, 5.0, 20)]);
    s.wait_state("hog", "TASK_RUNNING", WAIT);
    let failed = s.wait_state("hog", "TASK_FAILED", WAIT);
    assert_eq!(
        failed["reason"], "REASON_CONTAINER_LIMITATION_DISK",
        "{failed}"
    );
    assert_eq!(failed["source"], "SOURCE_AGENT", "{failed}");
    let message = failed["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("limit of 5.0 MB"),
        "the message names the limit: {message}"
    );
    assert!(message.contains("Disk usage"), "{message}");
    // The container is destroyed: its executor goes from the agent.
    wait_for("the hog's container to go", WAIT, || {
        let all = get_json(&c.agent_url(0, "/monitor/statistics"))?;
        (!all.as_array()?.iter().any(|e| e["executor_id"] == "hog")).then_some(())
    });
}

#[test]
fn a_task_within_its_disk_keeps_running_and_its_usage_is_reported() {
    let (c, mut s) = cluster("disk-ok", &["--disk-watch-interval", "300ms"]);
    let offer = s.next_offer(Duration::from_secs(10));
    s.launch(&offer, vec![writer("small", &offer, 50.0, 3)]);
    s.wait_state("small", "TASK_RUNNING", WAIT);
    let stats = statistics_when(&c, "small", |st| used(st) >= 3 * MB);
    assert_eq!(stats["disk_limit_bytes"], 50 * MB, "{stats}");
    assert!(used(&stats) < 50 * MB, "{stats}");
    // A check that measured 3 MB has decided already: under the limit.
    assert_eq!(
        agent_task_state(&c, "small").as_deref(),
        Some("TASK_RUNNING")
    );
    let flags = get_json(&c.agent_url(0, "/flags")).expect("/flags");
    assert_eq!(
        flags["flags"]["container_disk_watch_interval"], "0.3secs",
        "{flags}"
    );
}

#[test]
fn without_enforcement_a_task_over_its_disk_is_only_reported() {
    let (c, mut s) = cluster(
        "disk-lenient",
        &[
            "--disk-watch-interval",
            "300ms",
            "--enforce-disk-quota=false",
        ],
    );
    let offer = s.next_offer(Duration::from_secs(10));
    s.launch(&offer, vec![writer("over", &offer, 2.0, 6)]);
    s.wait_state("over", "TASK_RUNNING", WAIT);
    let stats = statistics_when(&c, "over", |st| used(st) >= 6 * MB);
    assert_eq!(stats["disk_limit_bytes"], 2 * MB, "{stats}");
    assert_eq!(
        agent_task_state(&c, "over").as_deref(),
        Some("TASK_RUNNING")
    );
}
