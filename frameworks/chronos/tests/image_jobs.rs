//! Chronos jobs that run from images, end to end: a real `paddock dev`
//! (master, agent and Chronos in one process), Debian's docker-registry on
//! loopback with a busybox-static image pushed by skopeo, and jobs posted
//! to `/v1/scheduler/iso8601` with Chronos's container block
//! `{"type": "MESOS"|"DOCKER", "image", "network", "forcePullImage"}`, run
//! at once with `PUT /v1/scheduler/job/{name}`.
//!
//! The job's command probes its container from the inside and prints what
//! it sees; the test reads the run's stdout through the agent's
//! `/files/read` and checks that it ran in the image's rootfs, in its own
//! PID namespace, under its memory limit, with dropped capabilities, and
//! that Chronos recorded the success. A job whose image is missing fails
//! with a message naming it.
//!
//! Needs root, cgroups, the `paddock` binary (`cargo build -p paddock`), the
//! apt packages docker-registry, skopeo and busybox-static, and for the
//! DOCKER test a running dockerd (see `scripts/start-services.sh`).

use paddock_tests::images::{
    assert_isolated, fact, memory_limit, registry_with_image, require_dockerd, volume_dirs,
    Framework, ImageDev, LAUNCH, PROBE_LINES,
};
use paddock_tests::{get_json, http, wait_for};
use serde_json::{json, Value};

const MARKER: &str = "paddock-chronos-image-test";
const REPO: &str = "paddock/job-probe:1";
const MEM_MB: u64 = 64;
/// A schedule that never comes due during the test: runs are manual.
const NEVER: &str = "R1/2099-01-01T00:00:00Z/PT24H";

fn start(docker: bool) -> ImageDev {
    ImageDev::start(Framework::Chronos, "/v1/scheduler/jobs", docker)
}

fn post_job(dev: &ImageDev, name: &str, container: Value) {
    let job = json!({
        "name": name, "schedule": NEVER, "retries": 0, "owner": "",
        "command": format!("{PROBE_LINES} echo \"job=$CHRONOS_JOB_NAME\"; echo probe-done"),
        "cpus": 0.2, "mem": MEM_MB, "container": container,
    });
    post(dev, &job);
}

fn post(dev: &ImageDev, job: &Value) {
    let resp = http()
        .post(dev.url("/v1/scheduler/iso8601"))
        .json(job)
        .send()
        .unwrap_or_else(|e| panic!("POST /v1/scheduler/iso8601: {e}"));
    let status = resp.status().as_u16();
    let body = resp.text().unwrap_or_default();
    assert_eq!(status, 204, "POST /v1/scheduler/iso8601: {body}");
}

fn job(dev: &ImageDev, name: &str) -> Value {
    get_json(&dev.url(&format!("/v1/scheduler/job/{name}"))).unwrap_or(Value::Null)
}

fn ended_runs(dev: &ImageDev, name: &str) -> Option<Vec<Value>> {
    get_json(&dev.url(&format!("/v1/scheduler/job/{name}/runs"))).map(|r| ended(&r))
}

/// `PUT /v1/scheduler/job/{name}` (run it now), then that run once it ended.
fn run_once(dev: &ImageDev, name: &str) -> Value {
    let before = ended_runs(dev, name).map(|r| r.len()).unwrap_or(0);
    let resp = http()
        .put(dev.url(&format!("/v1/scheduler/job/{name}")))
        .send()
        .unwrap_or_else(|e| panic!("PUT /v1/scheduler/job/{name}: {e}"));
    let status = resp.status().as_u16();
    assert!(
        (200..300).contains(&status),
        "PUT /v1/scheduler/job/{name}: {status} {}",
        resp.text().unwrap_or_default()
    );
    wait_for(&format!("the new run of {name} to end"), LAUNCH, || {
        let runs = ended_runs(dev, name)?;
        (runs.len() > before).then(|| runs[0].clone())
    })
}

/// Runs `name` once; checks that Chronos recorded a success and, from the
/// run's output, that it ran inside the image. Returns the probe's facts.
fn assert_runs_in_image(
    dev: &ImageDev,
    name: &str,
    what: &str,
) -> std::collections::BTreeMap<String, String> {
    let run = run_once(dev, name);
    assert_eq!(run["state"], "SUCCEEDED", "{run}");
    assert_eq!(run["taskState"], "TASK_FINISHED", "{run}");
    let j = job(dev, name);
    assert_eq!(j["successCount"], 1, "{j}");
    assert_eq!(j["errorCount"], 0, "{j}");
    let task = run["taskId"]
        .as_str()
        .unwrap_or_else(|| panic!("no taskId in {run}"))
        .to_string();
    let facts = dev.probe_output(&task);
    eprintln!("{what}, from inside: {facts:?}");
    assert_isolated(&facts, what, MARKER);
    assert_eq!(fact(&facts, "job", what), name, "Chronos's environment");
    facts
}

#[test]
fn a_mesos_container_job_runs_once_inside_its_image() {
    let (_reg, image) = registry_with_image(MARKER, REPO);
    let dev = start(false);
    let name = "h6job-ucr";
    post_job(
        &dev,
        name,
        json!({"type": "MESOS", "image": image, "forcePullImage": false}),
    );
    let j = job(&dev, name);
    assert_eq!(j["container"]["type"], "MESOS", "{j}");
    assert_eq!(j["container"]["image"], image.as_str(), "{j}");
    let facts = assert_runs_in_image(&dev, name, "MESOS job");
    // The job's mem plus the command executor's 32 MB.
    assert_eq!(
        memory_limit(&facts, "MESOS job"),
        (MEM_MB + 32) * 1024 * 1024
    );
}

/// Chronos's task ids (`ct:<due>:<attempt>:<job>`) put colons into the
/// sandbox path; the Docker containerizer mounts it with the mount API, as
/// a `src:dst` bind string would be split on them.
#[test]
fn a_docker_container_job_runs_once_inside_its_image() {
    require_dockerd();
    let (_reg, image) = registry_with_image(MARKER, REPO);
    let dev = start(true);
    let name = "h6job-docker";
    post_job(
        &dev,
        name,
        json!({"type": "DOCKER", "image": image, "network": "HOST"}),
    );
    let facts = assert_runs_in_image(&dev, name, "DOCKER job");
    assert_eq!(memory_limit(&facts, "DOCKER job"), MEM_MB * 1024 * 1024);
}

#[test]
fn a_job_whose_image_is_missing_fails_naming_it() {
    let (reg, _image) = registry_with_image(MARKER, REPO);
    let dev = start(false);
    let name = "h6job-missing";
    let missing = format!("{}/paddock/not-pushed:1", reg.addr());
    post_job(&dev, name, json!({"type": "MESOS", "image": missing}));
    let run = run_once(&dev, name);
    assert_eq!(run["state"], "FAILED", "{run}");
    assert_eq!(run["taskState"], "TASK_FAILED", "{run}");
    let message = run["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("paddock/not-pushed"),
        "the message names the image: {run}"
    );
    let j = job(&dev, name);
    assert_eq!(j["errorCount"], 1, "{j}");
    assert_eq!(j["successCount"], 0, "{j}");
}

/// `forcePullImage` on a MESOS job means a pull on every run: once the
/// registry is gone, the job that forces pulls fails saying so, and the
/// same image without it still runs from the agent's cache.
#[test]
fn a_force_pull_mesos_job_pulls_every_run_and_a_cached_one_does_not() {
    let (reg, image) = registry_with_image(MARKER, REPO);
    let dev = start(false);
    let (cached, forced) = ("h6job-cached", "h6job-forced");
    post_job(
        &dev,
        cached,
        json!({"type": "MESOS", "image": image, "forcePullImage": false}),
    );
    post_job(
        &dev,
        forced,
        json!({"type": "MESOS", "image": image, "forcePullImage": true}),
    );
    for name in [cached, forced] {
        let run = run_once(&dev, name);
        assert_eq!(run["state"], "SUCCEEDED", "{run}");
    }
    drop(reg);
    let run = run_once(&dev, cached);
    assert_eq!(run["state"], "SUCCEEDED", "from the cache: {run}");
    let run = run_once(&dev, forced);
    assert_eq!(run["state"], "FAILED", "a pull was forced: {run}");
    let message = run["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("paddock/job-probe"),
        "the message names the image: {run}"
    );
    assert_eq!(job(&dev, cached)["successCount"], 2);
    assert_eq!(job(&dev, forced)["successCount"], 1);
    assert_eq!(job(&dev, forced)["errorCount"], 1);
}

/// Chronos's volumes (`mode` in either case) reach a MESOS job: it reads
/// the host's file through the RO one, cannot write there, and its output
/// written to the RW one lands on the host.
#[test]
fn a_mesos_jobs_volumes_are_mounted_with_their_modes() {
    let (_reg, image) = registry_with_image(MARKER, REPO);
    let dev = start(false);
    let (_host, ro, rw) = volume_dirs("input", "job-input\n");
    let name = "h6job-volumes";
    let job = json!({
        "name": name, "schedule": NEVER, "retries": 0, "owner": "", "cpus": 0.2, "mem": MEM_MB,
        "command": "B=/bin/busybox; $B cat /in/input > /out/copy && ! $B touch /in/new 2>/dev/null",
        "container": {"type": "MESOS", "image": image, "volumes": [
            {"containerPath": "/in", "hostPath": ro.display().to_string(), "mode": "ro"},
            {"containerPath": "/out", "hostPath": rw.display().to_string(), "mode": "RW"},
        ]},
    });
    post(&dev, &job);
    let run = run_once(&dev, name);
    assert_eq!(
        run["state"], "SUCCEEDED",
        "the copy worked, the RO write failed: {run}"
    );
    assert_eq!(
        std::fs::read_to_string(rw.join("copy")).unwrap_or_default(),
        "job-input\n"
    );
    assert!(!ro.join("new").exists());
}

/// The runs in a list of Chronos runs (newest first) that have ended.
fn ended(runs: &Value) -> Vec<Value> {
    runs.as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            matches!(
                r["state"].as_str(),
                Some("SUCCEEDED" | "FAILED" | "KILLED" | "SKIPPED")
            )
        })
        .cloned()
        .collect()
}
