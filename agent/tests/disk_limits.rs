//! Disk limits end to end: a real master and agent (`paddock` processes)
//! with a short `--disk-watch-interval`, and command tasks that write into
//! their sandboxes with dd, and a MESOS image task that writes into its
//! container's own rootfs (the overlay's upper dir). Needs root and cgroups,
//! as the other agent tests; the image test also needs Debian's
//! docker-registry, skopeo and busybox-static, as `oci_containers.rs`; the
//! DOCKER test needs a running dockerd (see `tests/tests/containers_docker.rs`
//! for how CI starts it).

use std::process::Command;
use std::time::{Duration, Instant};

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

/// The first terminal update of `task`, whatever came before it: a task
/// that fills its disk quickly may be killed before its TASK_RUNNING is out.
fn terminal_update(s: &mut Scheduler, task: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let st = s.next_update(task, deadline.saturating_duration_since(Instant::now()));
        let state = st["state"].as_str().unwrap_or_default();
        if !matches!(state, "TASK_STAGING" | "TASK_STARTING" | "TASK_RUNNING") {
            return st;
        }
    }
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
    let failed = terminal_update(&mut s, "hog");
    assert_eq!(failed["state"], "TASK_FAILED", "{failed}");
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
fn an_image_task_that_fills_its_rootfs_is_killed_with_the_disk_reason() {
    let registry = paddock_images::testing::LocalRegistry::start()
        .unwrap_or_else(|e| panic!("local registry: {e}"));
    let image = registry
        .push_busybox()
        .unwrap_or_else(|e| panic!("push busybox: {e}"));
    let (_c, mut s) = cluster("disk-oci", &["--disk-watch-interval", "300ms"]);
    let offer = s.next_offer(Duration::from_secs(10));
    // Not in the sandbox: /fill is in the container's writable layer.
    let mut t = writer("filler", &offer, 5.0, 0);
    t["command"]["value"] = json!(
        "/bin/busybox dd if=/dev/zero of=/fill bs=1M count=20 && /bin/busybox sync && /bin/busybox sleep 600"
    );
    t["container"] = json!({
        "type": "MESOS",
        "mesos": {"image": {"type": "DOCKER", "docker": {"name": image}}}
    });
    s.launch(&offer, vec![t]);
    let failed = terminal_update(&mut s, "filler");
    assert_eq!(failed["state"], "TASK_FAILED", "{failed}");
    assert_eq!(
        failed["reason"], "REASON_CONTAINER_LIMITATION_DISK",
        "{failed}"
    );
}

/// A tiny busybox image for DOCKER tasks (sh, dd, sync, sleep), imported
/// once from busybox-static.
fn docker_image() -> &'static str {
    const IMAGE: &str = "paddock-test/busybox-disk:latest";
    let ok = |args: &[&str]| {
        Command::new("docker")
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    assert!(
        ok(&["info"]),
        "dockerd is not answering; start it as tests/tests/containers_docker.rs explains"
    );
    if !ok(&["image", "inspect", IMAGE]) {
        let script = format!(
            "set -e; r=$(mktemp -d); mkdir -p $r/bin $r/tmp; cp \"$(command -v busybox)\" $r/bin/; \
             for a in sh dd sync sleep; do ln -s busybox $r/bin/$a; done; \
             tar -C $r -c . | docker import -c 'ENV PATH=/bin' - {IMAGE} >/dev/null; rm -rf $r"
        );
        let built = Command::new("sh").arg("-c").arg(&script).status();
        assert!(
            built.is_ok_and(|s| s.success()),
            "cannot import {IMAGE} (is busybox-static installed?)"
        );
    }
    IMAGE
}

#[test]
fn a_docker_task_that_fills_its_writable_layer_is_killed_with_the_disk_reason() {
    let image = docker_image();
    let (_c, mut s) = cluster(
        "disk-docker",
        &[
            "--disk-watch-interval",
            "300ms",
            "--containerizers",
            "mesos,docker",
        ],
    );
    let offer = s.next_offer(Duration::from_secs(10));
    // /fill is in the Docker container's writable layer, not the sandbox.
    let mut t = writer("dfill", &offer, 5.0, 0);
    t["command"]["value"] = json!("dd if=/dev/zero of=/fill bs=1M count=20 && sync && sleep 600");
    t["container"] = json!({"type": "DOCKER", "docker": {"image": image, "network": "HOST"}});
    s.launch(&offer, vec![t]);
    let failed = terminal_update(&mut s, "dfill");
    assert_eq!(failed["state"], "TASK_FAILED", "{failed}");
    assert_eq!(
        failed["reason"], "REASON_CONTAINER_LIMITATION_DISK",
        "{failed}"
    );
    // The Docker container is removed with its task.
    let agent_label = format!(
        "label=paddock.agent_id={}",
        failed["agent_id"]["value"].as_str().unwrap_or_default()
    );
    wait_for("the Docker container to go", WAIT, || {
        let found = Command::new("docker")
            .args(["ps", "-aq", "--filter", &agent_label, "--filter"])
            .arg("label=paddock.task_id=dfill")
            .output()
            .ok()?;
        (found.status.success() && found.stdout.trim_ascii().is_empty()).then_some(())
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
