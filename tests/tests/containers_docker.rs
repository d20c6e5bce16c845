//! The Docker containerizer end to end: a real master and agent started with
//! `--containerizers mesos,docker`, a real dockerd (Debian's docker.io, with
//! runc), and DOCKER tasks launched through the Mesos v1 scheduler API.
//!
//! No registry and no internet: the test image `paddock-test/busybox:latest`
//! is built here from busybox-static (`docker import` of a tiny rootfs).
//! dockerd must already answer on /var/run/docker.sock (or `DOCKER_HOST`);
//! if it does not, every test fails saying how to start it.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use paddock_tests::scheduler::Scheduler;
use paddock_tests::{get_json, wait_for, Cluster};
use serde_json::{json, Value};

const RES: &str = "cpus:2;mem:1024;disk:2000;ports:[31000-31009]";
const IMAGE: &str = "paddock-test/busybox:latest";
const DOCKER: &[&str] = &["--containerizers", "mesos,docker"];

const HOW_TO_START: &str = "dockerd is not answering. CI must install and start it first:\n\
     apt-get install -y docker.io busybox-static\n\
     dockerd --host=unix:///var/run/docker.sock --default-runtime=runc \
     --exec-opt native.cgroupdriver=cgroupfs >/var/log/dockerd.log 2>&1 &\n\
     until docker info >/dev/null 2>&1; do sleep 0.2; done\n\
     (crun refuses this hybrid cgroup v1 setup; runc works)";

fn docker(args: &[&str]) -> std::process::Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run the docker CLI ({e}).\n{HOW_TO_START}"))
}

static IMAGE_READY: Mutex<bool> = Mutex::new(false);

/// dockerd answers and the test image exists (built once per run).
fn docker_ready() {
    let mut ready = IMAGE_READY.lock().unwrap_or_else(|p| p.into_inner());
    if *ready {
        return;
    }
    let info = docker(&["info", "--format", "{{.ServerVersion}}"]);
    assert!(
        info.status.success(),
        "{}\n{HOW_TO_START}",
        String::from_utf8_lossy(&info.stderr)
    );
    if !docker(&["image", "inspect", IMAGE]).status.success() {
        build_image();
    }
    *ready = true;
}

/// A rootfs with a static busybox and its applets, imported as [`IMAGE`].
fn build_image() {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox is missing: apt-get install -y busybox-static");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("rootfs");
    for d in ["bin", "tmp", "etc", "proc", "sys", "dev"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    std::fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
    let list = Command::new(root.join("bin/busybox"))
        .arg("--list")
        .output()
        .expect("busybox --list (is it static?)");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
        }
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
    )
    .expect("passwd");
    let tar = dir.path().join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .expect("tar");
    assert!(st.success(), "tar of the test rootfs failed");
    let out = docker(&[
        "import",
        "-c",
        "ENV PATH=/bin",
        "-c",
        "CMD [\"/bin/sh\"]",
        &tar.display().to_string(),
        IMAGE,
    ]);
    assert!(
        out.status.success(),
        "docker import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn framework(name: &str) -> Value {
    json!({"user": "root", "name": name, "failover_timeout": 0,
           "capabilities": [{"type": "TASK_KILLING_STATE"}]})
}

fn docker_task(
    id: &str,
    offer: &Value,
    cmd: Option<&str>,
    cpus: f64,
    mem: f64,
    docker: Value,
) -> Value {
    let mut d = json!({"image": IMAGE, "network": "HOST"});
    if let (Some(d), Some(extra)) = (d.as_object_mut(), docker.as_object()) {
        d.extend(extra.clone());
    }
    let mut t = json!({
        "name": id,
        "task_id": {"value": id},
        "agent_id": offer["agent_id"],
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}
        ],
        "container": {"type": "DOCKER", "docker": d},
        "command": {"shell": false}
    });
    if let Some(cmd) = cmd {
        t["command"] = json!({"value": cmd, "shell": true,
            "environment": {"variables": [{"name": "GREETING", "value": "hello-docker"}]}});
    }
    t
}

fn start(name: &str, agent_flags: &[&str]) -> (Cluster, Scheduler, Value) {
    docker_ready();
    let mut c = Cluster::master(&[]);
    c.add_agent(RES, agent_flags);
    let mut s = Scheduler::subscribe(&format!("127.0.0.1:{}", c.master_port), framework(name));
    let offer = s.next_offer(Duration::from_secs(10));
    (c, s, offer)
}

/// The Docker container id in a TASK_RUNNING status (label and `data`).
fn docker_id(running: &Value) -> String {
    let labels = running["labels"]["labels"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let id = labels
        .iter()
        .find(|l| l["key"] == "paddock.docker.container_id")
        .and_then(|l| l["value"].as_str())
        .unwrap_or_else(|| panic!("no container id label in {running}"))
        .to_string();
    assert_eq!(id.len(), 64, "a Docker id: {id}");
    id
}

fn container_exists(id: &str) -> bool {
    docker(&["inspect", "--type", "container", id])
        .status
        .success()
}

fn inspect(id: &str, format: &str) -> String {
    let out = docker(&["inspect", "--type", "container", "--format", format, id]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn sandbox_file(c: &Cluster, task: &str, file: &str) -> String {
    let dir = c
        .sandbox_dir(0, task)
        .unwrap_or_else(|| panic!("no sandbox for {task}"));
    std::fs::read_to_string(Path::new(&dir).join(file)).unwrap_or_default()
}

#[test]
fn docker_task_runs_with_output_in_the_sandbox_environment_and_memory_limit() {
    let (c, mut s, offer) = start("docker-run", DOCKER);
    let cmd = "echo $GREETING; echo task=$MESOS_TASK_ID sandbox=$MESOS_SANDBOX; \
               cat /sys/fs/cgroup/memory/memory.limit_in_bytes; \
               echo in-sandbox > $MESOS_SANDBOX/marker; echo oops >&2";
    s.launch(
        &offer,
        vec![docker_task(
            "hello",
            &offer,
            Some(cmd),
            0.5,
            64.0,
            json!({}),
        )],
    );
    let running = s.wait_state("hello", "TASK_RUNNING", Duration::from_secs(60));
    let id = docker_id(&running);
    // Mesos puts `docker inspect` in the status data.
    let data = running["data"].as_str().expect("status data");
    assert!(!data.is_empty());
    s.wait_state("hello", "TASK_FINISHED", Duration::from_secs(60));
    let out = sandbox_file(&c, "hello", "stdout");
    assert!(out.contains("hello-docker"), "stdout: {out}");
    assert!(
        out.contains("task=hello sandbox=/mnt/mesos/sandbox"),
        "stdout: {out}"
    );
    assert!(
        out.contains(&(64u64 << 20).to_string()),
        "memory limit in: {out}"
    );
    assert!(sandbox_file(&c, "hello", "stderr").contains("oops"));
    assert_eq!(sandbox_file(&c, "hello", "marker").trim(), "in-sandbox");
    wait_for(
        "the container to be removed",
        Duration::from_secs(20),
        || (!container_exists(&id)).then_some(()),
    );
}

#[test]
fn failures_oom_kills_missing_images_and_bad_parameters_are_reported() {
    let (_c, mut s, offer) = start("docker-fail", DOCKER);
    s.launch(
        &offer,
        vec![
            docker_task("exit3", &offer, Some("exit 3"), 0.1, 32.0, json!({})),
            docker_task(
                "hog",
                &offer,
                Some("head -c 400m /dev/zero | tail"),
                0.2,
                32.0,
                json!({}),
            ),
            json!({
                "name": "missing", "task_id": {"value": "missing"}, "agent_id": offer["agent_id"],
                "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                              {"name": "mem", "type": "SCALAR", "scalar": {"value": 32.0}}],
                "container": {"type": "DOCKER", "docker": {"image": "paddock-test/no-such-image:1"}},
                "command": {"value": "true"}
            }),
            docker_task(
                "badparam",
                &offer,
                Some("true"),
                0.1,
                32.0,
                json!({"parameters": [{"key": "restart", "value": "always"}]}),
            ),
        ],
    );
    let failed = s.wait_state("exit3", "TASK_FAILED", Duration::from_secs(60));
    assert!(
        failed["message"]
            .as_str()
            .unwrap_or("")
            .contains("status 3"),
        "{failed}"
    );
    let oom = s.wait_state("hog", "TASK_FAILED", Duration::from_secs(60));
    assert_eq!(oom["reason"], "REASON_CONTAINER_LIMITATION_MEMORY", "{oom}");
    let missing = s.wait_state("missing", "TASK_FAILED", Duration::from_secs(60));
    assert_eq!(
        missing["reason"], "REASON_CONTAINER_LAUNCH_FAILED",
        "{missing}"
    );
    assert!(
        missing["message"]
            .as_str()
            .unwrap_or("")
            .contains("paddock-test/no-such-image:1"),
        "{missing}"
    );
    let bad = s.wait_state("badparam", "TASK_FAILED", Duration::from_secs(60));
    assert_eq!(bad["reason"], "REASON_CONTAINER_LAUNCH_FAILED", "{bad}");
    assert!(
        bad["message"].as_str().unwrap_or("").contains("'restart'"),
        "{bad}"
    );
}

#[test]
fn kill_stops_the_container_with_a_grace_period_and_removes_it() {
    let (c, mut s, offer) = start("docker-kill", DOCKER);
    let cmd = "trap 'echo got-term; exit 0' TERM; echo started; while :; do sleep 0.1; done";
    s.launch(
        &offer,
        vec![docker_task(
            "polite",
            &offer,
            Some(cmd),
            0.1,
            32.0,
            json!({}),
        )],
    );
    let running = s.wait_state("polite", "TASK_RUNNING", Duration::from_secs(60));
    let id = docker_id(&running);
    assert_eq!(inspect(&id, "{{.State.Running}}"), "true");
    assert_eq!(
        inspect(&id, "{{.HostConfig.Memory}}"),
        (32u64 << 20).to_string()
    );
    assert_eq!(
        inspect(&id, "{{.HostConfig.MemorySwap}}"),
        (32u64 << 20).to_string()
    );
    assert_eq!(inspect(&id, "{{.HostConfig.CpuShares}}"), "102");
    assert_eq!(
        inspect(&id, "{{index .Config.Labels \"paddock.task_id\"}}"),
        "polite"
    );
    assert!(inspect(&id, "{{.Name}}").starts_with("/mesos-"));
    wait_for("the trap to be set", Duration::from_secs(20), || {
        sandbox_file(&c, "polite", "stdout")
            .contains("started")
            .then_some(())
    });
    s.call(
        json!({"type": "KILL", "kill": {"task_id": {"value": "polite"},
        "kill_policy": {"grace_period": {"nanoseconds": 5_000_000_000i64}}}}),
    );
    s.wait_state("polite", "TASK_KILLED", Duration::from_secs(30));
    assert!(sandbox_file(&c, "polite", "stdout").contains("got-term"));
    wait_for(
        "the container to be removed",
        Duration::from_secs(20),
        || (!container_exists(&id)).then_some(()),
    );
}

#[test]
fn docker_task_survives_an_agent_restart_and_stats_come_from_its_cgroup() {
    let (mut c, mut s, offer) = start("docker-restart", DOCKER);
    s.launch(
        &offer,
        vec![docker_task(
            "spin",
            &offer,
            Some("while :; do :; done"),
            0.2,
            64.0,
            json!({}),
        )],
    );
    let running = s.wait_state("spin", "TASK_RUNNING", Duration::from_secs(60));
    let id = docker_id(&running);
    let agent_id = offer["agent_id"]["value"].as_str().unwrap().to_string();

    c.agents[0].proc.kill9();
    assert_eq!(
        inspect(&id, "{{.State.Running}}"),
        "true",
        "died with its agent"
    );
    c.restart_agent(0);
    let again = c.wait_agent_active(0);
    assert_eq!(again["id"], agent_id.as_str());
    // The restarted agent's first orphan check has run, and kept it.
    wait_for(
        "the restarted agent's orphan check",
        Duration::from_secs(30),
        || {
            c.agents[0]
                .proc
                .log_text()
                .contains("checked for orphaned Docker containers")
                .then_some(())
        },
    );
    assert_eq!(
        inspect(&id, "{{.State.Running}}"),
        "true",
        "reaped after restart"
    );

    // Statistics are the Docker container's: its limits (not the
    // executor's), its throttling, its pids.
    let stats = wait_for(
        "throttling in /monitor/statistics",
        Duration::from_secs(30),
        || {
            let all = get_json(&c.agent_url(0, "/monitor/statistics"))?;
            let st = all
                .as_array()?
                .iter()
                .find(|e| e["executor_id"] == "spin")?["statistics"]
                .clone();
            (st["cpus_nr_throttled"].as_f64()? > 0.0).then_some(st)
        },
    );
    assert_eq!(stats["mem_limit_bytes"].as_u64(), Some(64 << 20), "{stats}");
    let limit = stats["cpus_limit"].as_f64().unwrap_or(0.0);
    assert!((limit - 0.2).abs() < 0.01, "cpus_limit {limit}");
    assert!(
        stats["cpus_user_time_secs"].as_f64().unwrap_or(0.0) > 0.0,
        "{stats}"
    );
    assert!(stats["pids_current"].as_u64().unwrap_or(0) >= 1, "{stats}");
    assert!(stats.get("mem_rss_bytes").is_some() && stats.get("mem_cache_bytes").is_some());
    assert!(stats.get("mem_max_usage_bytes").is_some() && stats.get("mem_oom_events").is_some());
    let text = c.cli_ok(&["task", "stats", "spin"]);
    assert!(text.contains("mem limit") && text.contains("64"), "{text}");

    s.call(json!({"type": "KILL", "kill": {"task_id": {"value": "spin"}}}));
    s.wait_state("spin", "TASK_KILLED", Duration::from_secs(30));
    wait_for(
        "the container to be removed",
        Duration::from_secs(20),
        || (!container_exists(&id)).then_some(()),
    );
}

#[test]
fn a_container_whose_executor_died_is_reaped_and_its_task_reported() {
    let (c, mut s, offer) = start("docker-reap", DOCKER);
    s.launch(
        &offer,
        vec![docker_task(
            "orphan",
            &offer,
            Some("exec sleep 1000"),
            0.1,
            32.0,
            json!({}),
        )],
    );
    let running = s.wait_state("orphan", "TASK_RUNNING", Duration::from_secs(60));
    let id = docker_id(&running);
    let executor_pid = running["container_status"]["executor_pid"]
        .as_i64()
        .expect("executor pid") as i32;
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(executor_pid),
        nix::sys::signal::Signal::SIGKILL,
    );
    let failed = s.next_update("orphan", Duration::from_secs(30));
    assert_eq!(failed["state"], "TASK_FAILED", "{failed}");
    wait_for("the orphan to be reaped", Duration::from_secs(30), || {
        (!container_exists(&id)).then_some(())
    });
    drop(c);
}

#[test]
fn docker_tasks_fail_clearly_when_the_containerizer_is_off() {
    let (_c, mut s, offer) = start("docker-off", &[]);
    s.launch(
        &offer,
        vec![docker_task(
            "nodocker",
            &offer,
            Some("true"),
            0.1,
            32.0,
            json!({}),
        )],
    );
    let failed = s.wait_state("nodocker", "TASK_FAILED", Duration::from_secs(30));
    assert_eq!(
        failed["reason"], "REASON_CONTAINER_LAUNCH_FAILED",
        "{failed}"
    );
    assert!(
        failed["message"]
            .as_str()
            .unwrap_or("")
            .contains("Docker containerizer is not enabled"),
        "{failed}"
    );
}

#[test]
fn bridge_port_mappings_parameters_and_dropped_capabilities() {
    let (c, mut s, offer) = start("docker-bridge", DOCKER);
    let cmd = "grep CapEff /proc/self/status; echo FROM_PARAM=$FROM_PARAM; hostname; \
               echo PORT0=$PORT0; \
               while :; do printf 'HTTP/1.0 200 OK\\r\\n\\r\\nhi-bridge' | nc -l -p 8080; done";
    let mut task = docker_task(
        "web",
        &offer,
        Some(cmd),
        0.1,
        32.0,
        json!({
            "network": "BRIDGE",
            "port_mappings": [{"host_port": 31005, "container_port": 8080, "protocol": "tcp"}],
            "parameters": [
                {"key": "cap-drop", "value": "ALL"},
                {"key": "env", "value": "FROM_PARAM=yes"},
                {"key": "label", "value": "team=qa"},
                {"key": "hostname", "value": "boxy"}
            ]
        }),
    );
    task["resources"].as_array_mut().expect("resources").push(json!(
        {"name": "ports", "type": "RANGES", "ranges": {"range": [{"begin": 31005, "end": 31005}]}}
    ));
    s.launch(&offer, vec![task]);
    let running = s.wait_state("web", "TASK_RUNNING", Duration::from_secs(60));
    let id = docker_id(&running);
    let body = wait_for("the mapped port to answer", Duration::from_secs(30), || {
        let r = paddock_tests::http()
            .get("http://127.0.0.1:31005/")
            .timeout(Duration::from_secs(2))
            .send()
            .ok()?;
        r.text().ok().filter(|t| t.contains("hi-bridge"))
    });
    assert!(body.contains("hi-bridge"));
    let out = sandbox_file(&c, "web", "stdout");
    assert!(
        out.contains("CapEff:\t0000000000000000"),
        "capabilities: {out}"
    );
    assert!(out.contains("FROM_PARAM=yes"), "{out}");
    assert!(out.contains("boxy"), "{out}");
    assert!(out.contains("PORT0=31005"), "{out}");
    assert_eq!(inspect(&id, "{{index .Config.Labels \"team\"}}"), "qa");
    assert_eq!(inspect(&id, "{{.HostConfig.NetworkMode}}"), "bridge");

    // sh is PID 1 without a TERM handler: only the SIGKILL after the grace
    // period stops it.
    let t0 = std::time::Instant::now();
    s.call(json!({"type": "KILL", "kill": {"task_id": {"value": "web"},
        "kill_policy": {"grace_period": {"nanoseconds": 2_000_000_000i64}}}}));
    s.wait_state("web", "TASK_KILLED", Duration::from_secs(30));
    assert!(
        t0.elapsed() >= Duration::from_millis(1900),
        "killed before the grace period ended: {:?}",
        t0.elapsed()
    );
    wait_for(
        "the container to be removed",
        Duration::from_secs(20),
        || (!container_exists(&id)).then_some(()),
    );
}

/// Debian's docker-registry on 127.0.0.1, killed on drop.
struct Registry {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = paddock_tests::free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("storage").display()
            ),
        )
        .expect("registry config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry is missing: apt-get install -y docker-registry");
        let url = format!("http://127.0.0.1:{port}/v2/");
        wait_for("docker-registry to answer", Duration::from_secs(20), || {
            paddock_tests::http().get(&url).send().ok().map(|_| ())
        });
        Registry {
            child,
            port,
            _dir: dir,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn images_are_pulled_when_missing_and_force_pull_always_pulls() {
    let (c, mut s, offer) = start("docker-pull", DOCKER);
    let mut registry = Registry::start();
    let remote = format!("127.0.0.1:{}/paddock-test/pulled:1", registry.port);
    for args in [
        vec!["tag", IMAGE, remote.as_str()],
        vec!["push", remote.as_str()],
        vec!["rmi", remote.as_str()],
    ] {
        let out = docker(&args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(!docker(&["image", "inspect", &remote]).status.success());
    let mut pulled = docker_task(
        "pulled",
        &offer,
        Some("echo pulled-ok"),
        0.1,
        32.0,
        json!({}),
    );
    pulled["container"]["docker"]["image"] = json!(remote);
    s.launch(&offer, vec![pulled]);
    s.wait_state("pulled", "TASK_FINISHED", Duration::from_secs(60));
    assert!(sandbox_file(&c, "pulled", "stdout").contains("pulled-ok"));
    assert!(docker(&["image", "inspect", &remote]).status.success());

    // The image is cached now, but force_pull_image goes to the registry,
    // which is gone.
    let _ = registry.child.kill();
    let _ = registry.child.wait();
    let offer = s.next_offer(Duration::from_secs(10));
    let mut forced = docker_task(
        "forced",
        &offer,
        Some("echo should-not-run"),
        0.1,
        32.0,
        json!({"force_pull_image": true}),
    );
    forced["container"]["docker"]["image"] = json!(remote);
    s.launch(&offer, vec![forced]);
    let failed = s.wait_state("forced", "TASK_FAILED", Duration::from_secs(60));
    assert_eq!(
        failed["reason"], "REASON_CONTAINER_LAUNCH_FAILED",
        "{failed}"
    );
    assert!(
        failed["message"].as_str().unwrap_or("").contains(&remote),
        "{failed}"
    );
    let _ = docker(&["rmi", &remote]);
}
