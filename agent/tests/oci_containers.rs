//! The native OCI containerizer end to end: a real master and agent, Debian's
//! docker-registry on loopback with a busybox-static image pushed by skopeo,
//! and MESOS-container tasks checked from inside their containers.
//!
//! Needs root, cgroups, and the apt packages docker-registry, skopeo,
//! busybox-static (and libseccomp-dev to build).

use std::time::Duration;

use paddock_images::testing::LocalRegistry;
use paddock_tests::scheduler::{command_task, Scheduler};
use paddock_tests::Cluster;
use serde_json::{json, Value};

const RES: &str = "cpus:2;mem:1024;disk:2000;ports:[31000-31009]";
const LAUNCH: Duration = Duration::from_secs(90);

fn registry() -> (LocalRegistry, String) {
    let reg = LocalRegistry::start().unwrap_or_else(|e| panic!("local registry: {e}"));
    let image = reg
        .push_busybox()
        .unwrap_or_else(|e| panic!("push busybox: {e}"));
    (reg, image)
}

fn cluster(name: &str) -> (Cluster, Scheduler) {
    let mut c = Cluster::master(&[]);
    c.add_agent(RES, &[]);
    let s = Scheduler::subscribe(
        &format!("127.0.0.1:{}", c.master_port),
        json!({"user": "root", "name": name, "failover_timeout": 0}),
    );
    (c, s)
}

/// A MESOS-container task from `image`.
fn image_task(id: &str, offer: &Value, image: &str, cmd: &str, mem: f64) -> Value {
    let mut t = command_task(id, offer, cmd, 0.5, mem);
    t["container"] = json!({
        "type": "MESOS",
        "mesos": {"image": {"type": "DOCKER", "docker": {"name": image}}}
    });
    t
}

/// A file of `task`'s sandbox, through the agent's /files/read.
fn sandbox_file(c: &Cluster, task: &str, file: &str) -> String {
    c.sandbox_file(0, task, file)
        .unwrap_or_else(|| panic!("cannot read {file} of {task}"))
}

/// What the probe task records about its container, one file each.
const PROBE: &str = "B=/bin/busybox; cd /mnt/mesos/sandbox; \
    $B cat /proc/1/cmdline | $B tr '\\0' ' ' > pid1; \
    $B ps -o pid,args > ps; \
    $B grep -E '^(CapEff|CapBnd|CapPrm|NoNewPrivs|Seccomp):' /proc/self/status > status; \
    $B cat /etc/hello > hello; \
    if [ -e /etc/os-release ] || [ -e /usr/bin ]; then echo present; else echo absent; fi > host_files; \
    $B ls / > rootls; \
    echo \"$MESOS_SANDBOX\" > mesos_sandbox; \
    if $B mkdir -p /tmp/m && $B mount -t tmpfs t /tmp/m 2> mount_err; then echo mounted; else echo refused; fi > mount; \
    if $B unshare -U true 2> userns_err; then echo allowed; else echo refused; fi > userns; \
    $B hostname > hostname; \
    $B id -u > uid; \
    echo written-inside > from_container; \
    $B sleep 0";

#[test]
fn an_image_task_runs_isolated_in_the_images_rootfs() {
    let (_reg, image) = registry();
    let (c, mut s) = cluster("oci-probe");
    let offer = s.next_offer(Duration::from_secs(10));
    s.launch(
        &offer,
        vec![image_task("probe", &offer, &image, PROBE, 64.0)],
    );
    let running = s.wait_state("probe", "TASK_RUNNING", LAUNCH);
    assert!(
        running["message"]
            .as_str()
            .is_some_and(|m| m.contains(&image)),
        "{running}"
    );
    let done = s.wait_state("probe", "TASK_FINISHED", LAUNCH);
    assert_eq!(done["state"], "TASK_FINISHED", "{done}");

    // PID 1 of the container is the task itself, and it sees nothing else
    // of the host's processes.
    let pid1 = sandbox_file(&c, "probe", "pid1");
    assert!(pid1.starts_with("/bin/sh -c B=/bin/busybox"), "{pid1}");
    let ps = sandbox_file(&c, "probe", "ps");
    assert!(ps.lines().count() <= 4, "only the task's processes: {ps}");
    assert!(!ps.contains("paddock"), "{ps}");

    // The image's rootfs, not the host's.
    assert_eq!(sandbox_file(&c, "probe", "hello"), "hello from paddock\n");
    assert_eq!(sandbox_file(&c, "probe", "host_files"), "absent\n");
    let rootls = sandbox_file(&c, "probe", "rootls");
    assert!(rootls.contains("bin") && rootls.contains("mnt"), "{rootls}");

    // The sandbox is mounted at /mnt/mesos/sandbox: a file written there is
    // the agent's sandbox file.
    assert_eq!(
        sandbox_file(&c, "probe", "from_container"),
        "written-inside\n"
    );
    assert_eq!(
        sandbox_file(&c, "probe", "mesos_sandbox"),
        "/mnt/mesos/sandbox\n"
    );

    // Docker's default capabilities, no new privileges, a seccomp filter.
    let status = sandbox_file(&c, "probe", "status");
    assert!(status.contains("CapEff:\t00000000a80425fb"), "{status}");
    assert!(status.contains("CapBnd:\t00000000a80425fb"), "{status}");
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    assert!(status.contains("Seccomp:\t2"), "{status}");
    assert_eq!(sandbox_file(&c, "probe", "uid"), "0\n");
    let mount = sandbox_file(&c, "probe", "mount");
    assert_eq!(
        mount,
        "refused\n",
        "mount must be refused: {}",
        sandbox_file(&c, "probe", "mount_err")
    );
    // A new user namespace needs no capability; only seccomp stops it.
    let userns_err = sandbox_file(&c, "probe", "userns_err");
    assert_eq!(
        sandbox_file(&c, "probe", "userns"),
        "refused\n",
        "{userns_err}"
    );
    assert!(
        userns_err.contains("Operation not permitted"),
        "{userns_err}"
    );
    assert_eq!(sandbox_file(&c, "probe", "hostname"), "agent0.test\n");

    // Nothing of the container is left on the agent.
    let oci = c.agents[0].work_dir.join("oci");
    let left: Vec<_> = std::fs::read_dir(&oci)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_memory_hog_in_a_container_is_oom_killed_and_reported() {
    let (_reg, image) = registry();
    let (_c, mut s) = cluster("oci-oom");
    let offer = s.next_offer(Duration::from_secs(10));
    // tail keeps everything it reads from newline-free /dev/zero in memory.
    s.launch(
        &offer,
        vec![image_task(
            "hog",
            &offer,
            &image,
            "/bin/busybox head -c 400m /dev/zero | /bin/busybox tail",
            32.0,
        )],
    );
    s.wait_state("hog", "TASK_RUNNING", LAUNCH);
    let failed = s.wait_state("hog", "TASK_FAILED", LAUNCH);
    assert_eq!(
        failed["reason"], "REASON_CONTAINER_LIMITATION_MEMORY",
        "{failed}"
    );
}

#[test]
fn missing_images_and_unreachable_registries_fail_the_launch_naming_the_image() {
    let (reg, _image) = registry();
    let (_c, mut s) = cluster("oci-bad");
    let missing = format!("{}/no-such-image:1", reg.addr());
    let unreachable = "127.0.0.1:1/busybox:test".to_string();
    for (id, image) in [("missing", &missing), ("unreachable", &unreachable)] {
        let offer = s.next_offer(Duration::from_secs(10));
        s.launch(&offer, vec![image_task(id, &offer, image, "true", 32.0)]);
        let failed = s.wait_state(id, "TASK_FAILED", LAUNCH);
        assert_eq!(
            failed["reason"], "REASON_CONTAINER_LAUNCH_FAILED",
            "{failed}"
        );
        let msg = failed["message"].as_str().unwrap_or_default();
        assert!(msg.contains(image.as_str()), "{id}: {msg}");
    }
}

#[test]
fn a_killed_container_task_is_killed_and_a_private_network_has_only_loopback() {
    let (_reg, image) = registry();
    let (c, mut s) = cluster("oci-kill");
    let offer = s.next_offer(Duration::from_secs(10));
    let mut t = image_task(
        "netns",
        &offer,
        &image,
        "/bin/busybox ls /sys/class/net > /mnt/mesos/sandbox/ifaces; exec /bin/busybox sleep 600",
        32.0,
    );
    // A NetworkInfo without a name: no CNI network, a namespace of its own.
    t["container"]["network_infos"] = json!([{}]);
    s.launch(&offer, vec![t]);
    s.wait_state("netns", "TASK_RUNNING", LAUNCH);
    let ifaces = paddock_tests::wait_for("the interface list", LAUNCH, || {
        let text = std::panic::catch_unwind(|| sandbox_file(&c, "netns", "ifaces")).ok()?;
        (!text.is_empty()).then_some(text)
    });
    assert_eq!(ifaces, "lo\n", "only loopback in a private network");
    let (code, body) = s.call_full(&mut json!({
        "type": "KILL",
        "kill": {"task_id": {"value": "netns"}, "agent_id": offer["agent_id"]}
    }));
    assert_eq!(code, 202, "{body}");
    let killed = s.wait_state("netns", "TASK_KILLED", LAUNCH);
    assert_eq!(killed["state"], "TASK_KILLED", "{killed}");
}

/// stdout of `task`, once it holds `want`.
fn stdout_with(c: &Cluster, task: &str, want: &str) -> String {
    paddock_tests::wait_for(&format!("{want:?} in {task}'s stdout"), LAUNCH, || {
        let text = std::panic::catch_unwind(|| sandbox_file(c, task, "stdout")).ok()?;
        text.contains(want).then_some(text)
    })
}

#[test]
fn the_images_env_workdir_and_user_are_honoured_and_the_command_overrides_its_entrypoint() {
    use paddock_images::testing::{busybox_image, layer_tar, Entry};
    let reg = LocalRegistry::start().unwrap_or_else(|e| panic!("local registry: {e}"));
    let mut img = busybox_image().unwrap_or_else(|e| panic!("busybox image: {e}"));
    img.layer_tars.push(layer_tar(&[
        Entry::file(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n",
        ),
        Entry::file("etc/group", "root:x:0:\napp:x:1000:\nextra:x:2000:app\n"),
        Entry::dir("srv"),
    ]));
    img.runtime = json!({
        "Entrypoint": ["/bin/sh", "-c"],
        "Cmd": ["echo greet=$GREETING cwd=$(pwd) uid=$(/bin/busybox id -u) gid=$(/bin/busybox id -g) groups=$(/bin/busybox id -G) home=$HOME"],
        "Env": ["PATH=/bin", "GREETING=hello"],
        "WorkingDir": "/srv",
        "User": "app"
    });
    let image = reg
        .push_image(&img, "app:1")
        .unwrap_or_else(|e| panic!("push: {e}"));
    let (c, mut s) = cluster("oci-config");

    // (A task without a command value, which would run Entrypoint + Cmd,
    // is refused by the master today; plan.rs's unit tests cover it.)
    // A shell command replaces Entrypoint and Cmd; Env, WorkingDir and User stay.
    let offer = s.next_offer(Duration::from_secs(10));
    s.launch(
        &offer,
        vec![image_task(
            "shell",
            &offer,
            &image,
            "echo override=$GREETING in $(pwd) as $(/bin/busybox id -u):$(/bin/busybox id -g) groups=$(/bin/busybox id -G) home=$HOME",
            32.0,
        )],
    );
    s.wait_state("shell", "TASK_FINISHED", LAUNCH);
    let out = stdout_with(&c, "shell", "override=");
    assert!(
        out.contains("override=hello in /srv as 1000:1000 groups=1000 2000 home=/home/app"),
        "{out}"
    );

    // The argv form: value + arguments[1..]; task variables win over the image's.
    let offer = s.next_offer(Duration::from_secs(10));
    let mut argv = image_task("argv", &offer, &image, "", 32.0);
    argv["command"] = json!({
        "shell": false,
        "value": "/bin/busybox",
        "arguments": ["busybox", "sh", "-c", "echo argv-form $GREETING"],
        "environment": {"variables": [{"name": "GREETING", "value": "from-task"}]}
    });
    s.launch(&offer, vec![argv]);
    s.wait_state("argv", "TASK_FINISHED", LAUNCH);
    let out = stdout_with(&c, "argv", "argv-form");
    assert!(out.contains("argv-form from-task"), "{out}");
}
