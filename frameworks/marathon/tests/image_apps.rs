//! Marathon apps that run from images, end to end: a real `paddock dev`
//! (master, agent and Marathon in one process), Debian's docker-registry on
//! loopback with a busybox-static image pushed by skopeo, and apps posted to
//! `/v2/apps` in both of Marathon's container forms:
//!
//! - `{"type": "MESOS", "docker": {"image"}}`, the unified containerizer
//!   (the agent pulls the image into its own store and runs it through
//!   libcontainer);
//! - `{"type": "DOCKER", "docker": {"image", "network": "HOST"}}`, through a
//!   real dockerd (the agent runs with `--containerizers mesos,docker`).
//!
//! Each app's command probes its container from the inside and prints what
//! it sees to stdout; the test reads that stdout through the agent's
//! `/files/read` and checks the PID namespace, the image's rootfs, the
//! memory limit and the dropped capabilities. An app whose image is missing
//! from the registry must fail with a message that names the image, and
//! Marathon must stay responsive and able to delete it.
//!
//! Needs root, cgroups, the `paddock` binary (`cargo build -p paddock`), the
//! apt packages docker-registry, skopeo and busybox-static, and for the
//! DOCKER test a running dockerd (see `scripts/start-services.sh`).

use std::collections::BTreeMap;

use paddock_tests::images::{
    assert_isolated, fact, memory_limit, registry_with_image, registry_with_image_cmd,
    require_dockerd, volume_dirs, Framework, ImageDev, LAUNCH, PROBE_LINES,
};
use paddock_tests::{get_json, http, wait_for};
use serde_json::{json, Value};

/// What the marker file baked into the test image holds.
const MARKER: &str = "paddock-marathon-image-test";
const REPO: &str = "paddock/probe:1";
/// The app's `mem` (MB); the container's limit must come from it.
const MEM_MB: u64 = 64;

/// The probe, then the image Marathon announced; it keeps running so the
/// app counts one running task.
fn probe() -> String {
    format!(
        "{PROBE_LINES} echo \"image_env=$MARATHON_APP_DOCKER_IMAGE\"; echo probe-done; \
         exec /bin/busybox sleep 600"
    )
}

fn start(docker: bool) -> ImageDev {
    ImageDev::start(Framework::Marathon, "/v2/apps", docker)
}

/// An app whose command is the probe, in `container`.
fn probe_app(id: &str, container: Value) -> Value {
    json!({
        "id": id, "cmd": probe(), "instances": 1, "cpus": 0.2, "mem": MEM_MB,
        "container": container,
    })
}

fn post_app(dev: &ImageDev, app: &Value) {
    let resp = http()
        .post(dev.url("/v2/apps"))
        .json(app)
        .send()
        .unwrap_or_else(|e| panic!("POST /v2/apps: {e}"));
    let status = resp.status().as_u16();
    let body = resp.text().unwrap_or_default();
    assert_eq!(status, 201, "POST /v2/apps: {body}");
}

fn app(dev: &ImageDev, id: &str) -> Value {
    get_json(&dev.url(&format!("/v2/apps{id}")))
        .map(|v| v["app"].clone())
        .unwrap_or(Value::Null)
}

/// Posts the app, waits for `tasksRunning == 1` and returns what its task
/// saw from inside its container.
fn run_probe_app(dev: &ImageDev, app_def: Value) -> BTreeMap<String, String> {
    let id = app_def["id"].as_str().unwrap_or_default().to_string();
    post_app(dev, &app_def);
    let task = running_task(dev, &id);
    let expected_prefix = format!("{}.", id.trim_start_matches('/').replace('/', "_"));
    assert!(task.starts_with(&expected_prefix), "{task}");
    assert_eq!(
        app(dev, &id)["container"]["type"],
        app_def["container"]["type"]
    );
    dev.probe_output(&task)
}

/// Waits for `tasksRunning == 1` and returns that task's id.
fn running_task(dev: &ImageDev, id: &str) -> String {
    wait_for(&format!("{id} to have one running task"), LAUNCH, || {
        let app = app(dev, id);
        if app["tasksRunning"] != 1 {
            return None;
        }
        app["tasks"][0]["id"].as_str().map(str::to_string)
    })
}

/// DELETE the app and wait until it is gone with no deployment left and
/// no task of it running in the master.
fn delete_app(dev: &ImageDev, id: &str) {
    let resp = http()
        .delete(dev.url(&format!("/v2/apps{id}")))
        .send()
        .unwrap_or_else(|e| panic!("DELETE /v2/apps{id}: {e}"));
    assert_eq!(resp.status().as_u16(), 200, "DELETE /v2/apps{id}");
    let prefix = format!("{}.", id.trim_start_matches('/').replace('/', "_"));
    wait_for(&format!("{id} to be deleted and stopped"), LAUNCH, || {
        let gone = http()
            .get(dev.url(&format!("/v2/apps{id}")))
            .send()
            .ok()
            .is_some_and(|r| r.status().as_u16() == 404);
        let deployments = get_json(&dev.url("/v2/deployments"))?;
        let tasks = get_json(&dev.master_url("/master/tasks?limit=1000"))?;
        let running = tasks["tasks"].as_array()?.iter().any(|t| {
            t["state"] == "TASK_RUNNING"
                && t["id"].as_str().is_some_and(|id| id.starts_with(&prefix))
        });
        (gone && deployments.as_array().is_some_and(|d| d.is_empty()) && !running).then_some(())
    });
}

#[test]
fn a_mesos_container_app_runs_isolated_in_its_image() {
    let (_reg, image) = registry_with_image(MARKER, REPO);
    let dev = start(false);
    let id = "/h6img/ucr";
    let facts = run_probe_app(
        &dev,
        probe_app(id, json!({"type": "MESOS", "docker": {"image": image}})),
    );
    eprintln!("MESOS app, from inside: {facts:?}");
    assert_isolated(&facts, "MESOS app", MARKER);
    // The unified containerizer sets no_new_privs.
    assert_eq!(fact(&facts, "nonewprivs", "MESOS app"), "1");
    // The app's mem plus the command executor's 32 MB, as Mesos gives the
    // container of a command task.
    assert_eq!(
        memory_limit(&facts, "MESOS app"),
        (MEM_MB + 32) * 1024 * 1024,
        "{facts:?}"
    );
    // MARATHON_APP_DOCKER_IMAGE names the image in the MESOS form too.
    assert_eq!(facts.get("image_env"), Some(&image), "{facts:?}");
    delete_app(&dev, id);
}

#[test]
fn a_docker_container_app_runs_isolated_in_its_image() {
    require_dockerd();
    let (_reg, image) = registry_with_image(MARKER, REPO);
    let dev = start(true);
    let id = "/h6img/docker";
    let facts = run_probe_app(
        &dev,
        probe_app(
            id,
            json!({"type": "DOCKER", "docker": {"image": image, "network": "HOST"}}),
        ),
    );
    eprintln!("DOCKER app, from inside: {facts:?}");
    assert_isolated(&facts, "DOCKER app", MARKER);
    // Docker leaves no_new_privs off unless asked (as in Mesos).
    assert_eq!(fact(&facts, "nonewprivs", "DOCKER app"), "0");
    // The Docker container's own limit is the app's mem.
    assert_eq!(
        memory_limit(&facts, "DOCKER app"),
        MEM_MB * 1024 * 1024,
        "{facts:?}"
    );
    assert_eq!(facts.get("image_env"), Some(&image), "{facts:?}");
    delete_app(&dev, id);
}

/// A DOCKER app on Docker's bridge (the legacy `docker.network: BRIDGE`,
/// which Marathon reads as `networks: [{mode: container/bridge}]`) with a
/// dynamic host port: its server listens on a container port (one that is
/// free on the host) inside its own network namespace, and the host port
/// Marathon reports reaches it.
#[test]
fn a_docker_bridge_app_is_reached_through_its_mapped_host_port() {
    require_dockerd();
    let (_reg, image) = registry_with_image(MARKER, REPO);
    let dev = start(true);
    let id = "/h6img/bridge";
    let inner = paddock_tests::free_port();
    post_app(
        &dev,
        &json!({
            "id": id, "instances": 1, "cpus": 0.2, "mem": MEM_MB,
            "cmd": format!("exec /bin/busybox httpd -f -p {inner} -h /etc"),
            "container": {"type": "DOCKER", "docker": {
                "image": image, "network": "BRIDGE",
                "portMappings": [{"containerPort": inner, "hostPort": 0, "protocol": "tcp"}]}},
        }),
    );
    let port = wait_for("the bridge app's task and host port", LAUNCH, || {
        let app = app(&dev, id);
        if app["tasksRunning"] != 1 {
            return None;
        }
        app["tasks"][0]["ports"][0].as_u64()
    });
    assert!(
        (31000..=31009).contains(&port),
        "a port of the offer: {port}"
    );
    let app = app(&dev, id);
    assert_eq!(app["networks"][0]["mode"], "container/bridge", "{app}");
    let url = format!("http://127.0.0.1:{port}/paddock-marker");
    let body = wait_for(&format!("{url} to answer"), LAUNCH, || {
        http()
            .get(&url)
            .send()
            .ok()
            .filter(|r| r.status().is_success())
            .and_then(|r| r.text().ok())
    });
    assert_eq!(
        body.trim(),
        MARKER,
        "the container's server, through the mapping"
    );
    // Nothing listens on the container port on the host: the server is in
    // its own network namespace.
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", inner)).is_err(),
        "port {inner} answers on the host: the app ran on the host network"
    );
    delete_app(&dev, id);
}

#[test]
fn an_app_whose_image_is_missing_fails_naming_it_and_marathon_stays_responsive() {
    missing_image_fails_naming_it("MESOS", "/h6img/missing");
}

#[test]
fn a_docker_app_whose_image_is_missing_fails_naming_it() {
    require_dockerd();
    missing_image_fails_naming_it("DOCKER", "/h6img/missing-docker");
}

/// An app of `kind` whose image is not in the registry: the task fails,
/// the app's lastTaskFailure names the image, the deployment waits (as
/// Marathon's does) with the app in the launch queue, Marathon answers, and
/// a DELETE ends it.
fn missing_image_fails_naming_it(kind: &str, id: &str) {
    let (reg, _image) = registry_with_image(MARKER, REPO);
    let dev = start(kind == "DOCKER");
    let missing = format!("{}/paddock/not-pushed:1", reg.addr());
    let mut docker = json!({"image": missing});
    if kind == "DOCKER" {
        docker["network"] = json!("HOST");
    }
    post_app(
        &dev,
        &probe_app(id, json!({"type": kind, "docker": docker})),
    );
    let failure = wait_for("the app's lastTaskFailure", LAUNCH, || {
        let f = app(&dev, id)["lastTaskFailure"].clone();
        (!f.is_null()).then_some(f)
    });
    assert_eq!(failure["state"], "TASK_FAILED", "{failure}");
    let message = failure["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("paddock/not-pushed"),
        "the message names the image: {failure}"
    );
    let prefix = format!("{}.", id.trim_start_matches('/').replace('/', "_"));
    assert!(
        failure["taskId"]
            .as_str()
            .is_some_and(|t| t.starts_with(&prefix)),
        "{failure}"
    );
    assert_eq!(app(&dev, id)["tasksRunning"], 0);
    let deployments = get_json(&dev.url("/v2/deployments")).unwrap_or(Value::Null);
    assert!(
        deployments
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["affectedApps"][0] == id)),
        "{deployments}"
    );
    // The app is in the queue while it waits out its backoff, not while a
    // relaunch is in flight: on a loaded machine a single look often lands
    // on a relaunch (seen in 17 of 30 loaded runs), so look until it waits.
    wait_for("the app to wait in the launch queue", LAUNCH, || {
        let queue = get_json(&dev.url("/v2/queue"))?;
        queue["queue"]
            .as_array()?
            .iter()
            .any(|i| i["app"]["id"] == id)
            .then_some(())
    });
    delete_app(&dev, id);
}

/// `args` instead of `cmd` (no shell: Mesos runs the image's entrypoint, of
/// which the test image has none, with the arguments) works in both
/// container forms.
#[test]
fn apps_with_args_run_them_in_their_image_on_both_containerizers() {
    require_dockerd();
    let (_reg, image) = registry_with_image(MARKER, REPO);
    let dev = start(true);
    probe_in_both_forms(
        &dev,
        &image,
        "/h6img/args",
        Some(json!(["/bin/busybox", "sh", "-c", probe()])),
    );
}

/// Runs the probe app without `cmd` (with `args` when given) as a MESOS
/// app `<prefix>-ucr` and a DOCKER app `<prefix>-docker`, checks each from
/// inside and deletes it.
fn probe_in_both_forms(dev: &ImageDev, image: &str, prefix: &str, args: Option<Value>) {
    for (suffix, container) in [
        ("ucr", json!({"type": "MESOS", "docker": {"image": image}})),
        (
            "docker",
            json!({"type": "DOCKER", "docker": {"image": image, "network": "HOST"}}),
        ),
    ] {
        let id = format!("{prefix}-{suffix}");
        let mut def = probe_app(&id, container);
        if let Some(o) = def.as_object_mut() {
            o.remove("cmd");
        }
        if let Some(args) = &args {
            def["args"] = args.clone();
        }
        let facts = run_probe_app(dev, def);
        assert_isolated(&facts, &id, MARKER);
        assert_eq!(
            facts.get("image_env").map(String::as_str),
            Some(image),
            "{facts:?}"
        );
        delete_app(dev, &id);
    }
}

/// `forcePullImage` on a MESOS container: a relaunch pulls again, so once
/// the registry is gone the replacement task fails naming the image, while
/// an app without it is relaunched from the agent's cache.
#[test]
fn a_force_pull_mesos_app_pulls_on_every_launch() {
    let (reg, image) = registry_with_image(MARKER, REPO);
    let dev = start(false);
    let cached = "/h6img/cached";
    let forced = "/h6img/forced";
    post_app(
        &dev,
        &probe_app(cached, json!({"type": "MESOS", "docker": {"image": image}})),
    );
    post_app(
        &dev,
        &probe_app(
            forced,
            json!({"type": "MESOS", "docker": {"image": image, "forcePullImage": true}}),
        ),
    );
    let first = [running_task(&dev, cached), running_task(&dev, forced)];
    drop(reg);
    for (id, task) in [cached, forced].iter().zip(&first) {
        let resp = http()
            .delete(dev.url(&format!("/v2/apps{id}/tasks/{task}")))
            .send()
            .unwrap_or_else(|e| panic!("DELETE the task {task}: {e}"));
        assert_eq!(resp.status().as_u16(), 200, "kill {task}");
    }
    // The cached app gets a new running task from the cache.
    wait_for("the cached app's replacement", LAUNCH, || {
        let a = app(&dev, cached);
        let id = a["tasks"][0]["id"].as_str()?;
        (a["tasksRunning"] == 1 && id != first[0]).then_some(())
    });
    // The forced one cannot pull: its failure names the image.
    let failure = wait_for("the forced app's lastTaskFailure", LAUNCH, || {
        let f = app(&dev, forced)["lastTaskFailure"].clone();
        (f["state"] == "TASK_FAILED").then_some(f)
    });
    let message = failure["message"].as_str().unwrap_or_default();
    assert!(message.contains("paddock/probe"), "{failure}");
    // Once the killed task is gone, nothing of the forced app runs: every
    // relaunch needs the registry.
    let a = wait_for("the forced app's killed task to end", LAUNCH, || {
        let a = app(&dev, forced);
        let tasks = a["tasks"].as_array()?;
        tasks
            .iter()
            .all(|t| t["id"] != first[1].as_str())
            .then_some(a)
    });
    assert_eq!(a["tasksRunning"], 0, "{a}");
}

/// Host-path volumes of a MESOS container reach the task with their mode:
/// a file of the host is read through the RO one, a write there is
/// refused, and what the task writes to the RW one lands on the host.
#[test]
fn a_mesos_apps_volumes_are_mounted_with_their_modes() {
    let (_reg, image) = registry_with_image(MARKER, REPO);
    let dev = start(false);
    let (_host, ro, rw) = volume_dirs("from-host", "host-data\n");
    let id = "/h6img/volumes";
    let mut def = probe_app(
        id,
        json!({"type": "MESOS", "docker": {"image": image}, "volumes": [
            {"containerPath": "/ro", "hostPath": ro.display().to_string(), "mode": "RO"},
            {"containerPath": "/rw", "hostPath": rw.display().to_string(), "mode": "RW"},
        ]}),
    );
    def["cmd"] = json!(format!(
        "B=/bin/busybox; echo \"read=$($B cat /ro/from-host)\"; \
         if echo x 2>/dev/null > /ro/new; then echo ro_write=allowed; else echo ro_write=refused; fi; \
         echo from-task > /rw/out; echo probe-done; exec $B sleep 600"
    ));
    post_app(&dev, &def);
    let task = running_task(&dev, id);
    let facts = dev.probe_output(&task);
    assert_eq!(fact(&facts, "read", id), "host-data");
    assert_eq!(fact(&facts, "ro_write", id), "refused");
    assert!(!ro.join("new").exists());
    assert_eq!(
        std::fs::read_to_string(rw.join("out")).unwrap_or_default(),
        "from-task\n"
    );
    delete_app(&dev, id);
}

/// An app with neither `cmd` nor `args` runs its image's own command (the
/// test image's `Cmd` is the probe), in both container forms.
///
/// Marathon sends such a task a `command` with `shell: false` and neither
/// `value` nor `arguments`; the master accepts that when the container
/// names an image, as Mesos does.
#[test]
fn apps_without_a_command_run_their_images_cmd_on_both_containerizers() {
    require_dockerd();
    let probe = probe();
    let (_reg, image) = registry_with_image_cmd(
        MARKER,
        "paddock/probe-cmd:1",
        Some(&["/bin/busybox", "sh", "-c", &probe]),
    );
    let dev = start(true);
    probe_in_both_forms(&dev, &image, "/h6img/own", None);
}
