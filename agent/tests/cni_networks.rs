//! CNI networks for MESOS containers (with an image or without), end to end with Debian's
//! containernetworking-plugins (/usr/lib/cni: bridge, host-local, tuning).
//!
//! Everything runs inside a network namespace the test creates
//! (`paddock-h2-<pid>`): the test thread enters it before it starts the
//! registry, master and agent, so they and the bridge the plugin creates
//! live there, never in the host's namespace. The namespace is deleted at
//! the end, pass or fail.
//!
//! Needs root, cgroups, iproute2, the apt packages docker-registry, skopeo,
//! busybox-static and containernetworking-plugins.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use paddock_images::testing::LocalRegistry;
use paddock_tests::scheduler::{command_task, Scheduler};
use paddock_tests::{get_json, wait_for, Cluster};
use serde_json::{json, Value};

const RES: &str = "cpus:2;mem:1024;disk:2000;ports:[31000-31009]";
const LAUNCH: Duration = Duration::from_secs(90);
const PLUGINS: &str = "/usr/lib/cni";
const SUBNET_PREFIX: &str = "10.88.42.";

/// A network namespace of the test's own; the creating thread is moved
/// into it, and back out (and the namespace deleted) on drop.
struct TestNetns {
    name: String,
    original: std::fs::File,
}

impl TestNetns {
    fn enter(tag: &str) -> TestNetns {
        let name = format!("paddock-h2-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "ip netns add {name}");
        let lo = Command::new("ip")
            .args(["netns", "exec", &name, "ip", "link", "set", "lo", "up"])
            .status()
            .is_ok_and(|s| s.success());
        let original = std::fs::File::open("/proc/thread-self/ns/net").expect("own netns");
        let guard = TestNetns { name, original };
        assert!(lo, "loopback up in {}", guard.name);
        let ns = std::fs::File::open(format!("/run/netns/{}", guard.name)).expect("open netns");
        nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        guard
    }

    /// `ip ARGS` inside the namespace.
    fn ip(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "ip"])
            .args(args)
            .output()
            .expect("ip");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = nix::sched::setns(self.original.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET);
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// The CNI config dir: `h2net` (bridge + host-local, chained with
/// tuning in a conflist), IPAM leases under `ipam`.
fn cni_config(dir: &Path, bridge: &str) -> PathBuf {
    let conf = dir.join("cni");
    std::fs::create_dir_all(&conf).expect("cni dir");
    let list = json!({
        "cniVersion": "0.4.0",
        "name": "h2net",
        "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": true, "ipMasq": false,
             "ipam": {"type": "host-local", "subnet": format!("{SUBNET_PREFIX}0/24"),
                      "dataDir": dir.join("ipam").display().to_string()},
             "dns": {"nameservers": [format!("{SUBNET_PREFIX}53")], "search": ["paddock.test"]}},
            {"type": "tuning"}
        ]
    });
    std::fs::write(conf.join("10-h2net.conflist"), list.to_string()).expect("write conflist");
    std::fs::write(conf.join("README"), "not a network").expect("write readme");
    conf
}

fn image_task(id: &str, offer: &Value, image: &str, cmd: &str) -> Value {
    let mut t = command_task(id, offer, cmd, 0.5, 32.0);
    t["container"] = json!({
        "type": "MESOS",
        "mesos": {"image": {"type": "DOCKER", "docker": {"name": image}}}
    });
    t
}

/// A file of `task`'s sandbox, once it is there and not empty.
fn sandbox_file(c: &Cluster, task: &str, file: &str) -> String {
    wait_for(&format!("{file} of {task}"), LAUNCH, || {
        c.sandbox_file(0, task, file).filter(|t| !t.is_empty())
    })
}

/// The IPs of `network` in a status's container_status.
fn status_ips(status: &Value, network: &str) -> Vec<String> {
    status["container_status"]["network_infos"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["name"] == network)
        .flat_map(|n| n["ip_addresses"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["ip_address"].as_str().map(str::to_string))
        .collect()
}

/// Container records left under `<work_dir>/networks` (cni.json is the
/// agent's published config, not a container).
fn records(work_dir: &Path) -> Vec<String> {
    std::fs::read_dir(work_dir.join("networks"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until the network of the container holding `ip` is given back:
/// no record, no veth, no IPAM lease (the CNI DEL ran).
fn wait_released(what: &str, work: &Path, ns: &TestNetns, tmp: &Path, ip: &str) {
    let lease = tmp.join("ipam").join("h2net").join(ip);
    wait_for(what, LAUNCH, || {
        (records(work).is_empty() && veths(ns).is_empty() && !lease.exists()).then_some(())
    });
}

fn veths(ns: &TestNetns) -> Vec<String> {
    ns.ip(&["-o", "link", "show", "type", "veth"])
        .lines()
        .map(str::to_string)
        .collect()
}

/// The framework kills `task` (launched on `offer`'s agent) and waits for
/// TASK_KILLED, which it returns.
fn kill(s: &mut Scheduler, task: &str, offer: &Value) -> Value {
    let (code, body) = s.call_full(&mut json!({
        "type": "KILL",
        "kill": {"task_id": {"value": task}, "agent_id": offer["agent_id"]}
    }));
    assert_eq!(code, 202, "{body}");
    s.wait_state(task, "TASK_KILLED", LAUNCH)
}

/// A cluster in its own network namespace with `h2net` configured. Fields
/// drop in order: the framework, the cluster, the registry, then the
/// namespace.
struct Setup {
    s: Scheduler,
    c: Cluster,
    _reg: LocalRegistry,
    image: String,
    tmp: tempfile::TempDir,
    conf_flag: String,
    work: PathBuf,
    ns: TestNetns,
}

fn setup(tag: &str, bridge: &str) -> Setup {
    setup_with(tag, bridge, &[])
}

fn setup_with(tag: &str, bridge: &str, master_args: &[&str]) -> Setup {
    let ns = TestNetns::enter(tag);
    let reg = LocalRegistry::start().unwrap_or_else(|e| panic!("local registry: {e}"));
    let image = reg
        .push_busybox()
        .unwrap_or_else(|e| panic!("push busybox: {e}"));
    let tmp = tempfile::tempdir().expect("tempdir");
    let conf_flag = cni_config(tmp.path(), bridge).display().to_string();
    let mut c = Cluster::master(master_args);
    c.add_agent(
        RES,
        &[
            "--network-cni-config-dir",
            &conf_flag,
            "--network-cni-plugins-dir",
            PLUGINS,
        ],
    );
    let work = c.agents[0].work_dir.clone();
    let s = Scheduler::subscribe(
        &format!("127.0.0.1:{}", c.master_port),
        json!({"user": "root", "name": format!("cni-{tag}"), "failover_timeout": 0}),
    );
    Setup {
        s,
        c,
        _reg: reg,
        image,
        tmp,
        conf_flag,
        work,
        ns,
    }
}

#[test]
fn a_container_on_a_bridge_network_gets_an_address_and_gives_it_back() {
    let Setup {
        mut s,
        c,
        _reg,
        image,
        tmp,
        conf_flag,
        work,
        ns,
    } = setup("bridge", "ph2br0");
    let flags = get_json(&c.agent_url(0, "/flags")).expect("agent /flags");
    assert_eq!(flags["flags"]["network_cni_config_dir"], conf_flag.as_str());
    assert_eq!(flags["flags"]["network_cni_plugins_dir"], PLUGINS);

    // On the network: an address from the subnet, on eth0 inside, in the
    // status.
    let offer = s.next_offer(Duration::from_secs(10));
    let mut t = image_task(
        "web",
        &offer,
        &image,
        "B=/bin/busybox; S=/mnt/mesos/sandbox; $B cat /etc/resolv.conf > $S/resolv; \
         $B cat /etc/hosts > $S/hosts; $B ip -4 addr show > $S/addr; \
         $B ls /sys/class/net > $S/ifaces; exec $B sleep 600",
    );
    t["container"]["network_infos"] = json!([{"name": "h2net"}]);
    s.launch(&offer, vec![t]);
    let running = s.wait_state("web", "TASK_RUNNING", LAUNCH);
    let ips = status_ips(&running, "h2net");
    assert_eq!(ips.len(), 1, "one address on h2net: {running}");
    let ip = ips[0].clone();
    assert!(ip.starts_with(SUBNET_PREFIX), "{ip} from the subnet");
    assert_eq!(
        running["container_status"]["network_infos"][0]["ip_addresses"][0]["protocol"],
        "IPv4"
    );
    // The master's state shows it where Mesos-DNS looks: the TASK_RUNNING
    // status's container_status.
    let state = get_json(&c.url("/master/state")).expect("master state");
    let task = state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["tasks"].as_array().cloned().unwrap_or_default())
        .find(|t| t["id"] == "web")
        .expect("web in /master/state");
    let shown = task["statuses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|st| st["state"] == "TASK_RUNNING")
        .map(|st| status_ips(st, "h2net"))
        .unwrap_or_default();
    assert_eq!(shown, vec![ip.clone()], "{task}");
    let addr = sandbox_file(&c, "web", "addr");
    let eth0 = addr
        .split("\n")
        .skip_while(|l| !l.contains(": eth0"))
        .take(3)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        eth0.contains(&format!("inet {ip}/24")),
        "eth0 has {ip}: {addr}"
    );
    let ifaces = sandbox_file(&c, "web", "ifaces");
    assert_eq!(ifaces, "eth0\nlo\n", "only eth0 and loopback inside");
    // The network's DNS, and the container's name on its address.
    let resolv = sandbox_file(&c, "web", "resolv");
    assert!(
        resolv.contains(&format!("nameserver {SUBNET_PREFIX}53\n"))
            && resolv.contains("search paddock.test"),
        "{resolv}"
    );
    let hosts = sandbox_file(&c, "web", "hosts");
    assert!(hosts.contains(&format!("{ip} agent0.test\n")), "{hosts}");
    // The host side: the bridge and one veth in it, the lease on disk.
    assert_eq!(veths(&ns).len(), 1, "{:?}", veths(&ns));
    assert!(ns.ip(&["-o", "link", "show", "ph2br0"]).contains("ph2br0"));
    let lease = tmp.path().join("ipam").join("h2net").join(&ip);
    assert!(lease.exists(), "host-local lease {}", lease.display());
    assert_eq!(records(&work).len(), 1);

    // Killed by the framework: DEL runs, the veth, the netns and the lease go.
    let killed = kill(&mut s, "web", &offer);
    assert_eq!(killed["state"], "TASK_KILLED");
    wait_released("the CNI DEL after the kill", &work, &ns, tmp.path(), &ip);

    // A task that ends by itself gives its address back too.
    let offer = s.next_offer(Duration::from_secs(10));
    let mut t = image_task("once", &offer, &image, "/bin/busybox ip -4 addr show eth0");
    t["container"]["network_infos"] = json!([{"name": "h2net"}]);
    s.launch(&offer, vec![t]);
    let running = s.wait_state("once", "TASK_RUNNING", LAUNCH);
    let once_ip = status_ips(&running, "h2net");
    assert_eq!(once_ip.len(), 1, "{running}");
    let done = s.wait_state("once", "TASK_FINISHED", LAUNCH);
    assert_eq!(done["state"], "TASK_FINISHED", "{done}");
    assert_eq!(
        status_ips(&done, "h2net"),
        once_ip,
        "later updates keep the address"
    );
    wait_released(
        "the CNI DEL after the exit",
        &work,
        &ns,
        tmp.path(),
        &once_ip[0],
    );

    // An unknown network fails the task before anything starts, naming the
    // network and the config dir.
    let offer = s.next_offer(Duration::from_secs(10));
    let mut t = image_task("lost", &offer, &image, "true");
    t["container"]["network_infos"] = json!([{"name": "no-such-net"}]);
    s.launch(&offer, vec![t]);
    let failed = s.wait_state("lost", "TASK_FAILED", LAUNCH);
    assert_eq!(
        failed["reason"], "REASON_CONTAINER_PREPARATION_FAILED",
        "{failed}"
    );
    let msg = failed["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("no-such-net") && msg.contains(&conf_flag),
        "{msg}"
    );
    assert!(records(&work).is_empty());
    // Drop in order: the namespace goes last.
    drop(s);
    drop(c);
    drop(_reg);
    drop(ns);
}

#[test]
fn a_command_task_without_an_image_joins_the_network_too() {
    let Setup {
        mut s,
        c,
        _reg,
        tmp,
        work,
        ns,
        ..
    } = setup("command", "ph2br4");
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let offer = s.next_offer(Duration::from_secs(10));
    // The host's file system and tools, the container's network.
    let mut t = command_task(
        "cmd",
        &offer,
        "S=$MESOS_SANDBOX; cat /etc/resolv.conf > $S/resolv; cat /etc/hosts > $S/hosts; \
         ip -4 addr show > $S/addr; ip -o link show > $S/links; exec sleep 600",
        0.2,
        32.0,
    );
    t["container"] = json!({"type": "MESOS", "network_infos": [{"name": "h2net"}]});
    s.launch(&offer, vec![t]);
    let running = s.wait_state("cmd", "TASK_RUNNING", LAUNCH);
    let ips = status_ips(&running, "h2net");
    assert_eq!(ips.len(), 1, "one address on h2net: {running}");
    let ip = ips[0].clone();
    assert!(ip.starts_with(SUBNET_PREFIX), "{ip} from the subnet");
    let addr = sandbox_file(&c, "cmd", "addr");
    assert!(addr.contains(&format!("inet {ip}/24")), "{addr}");
    let links = sandbox_file(&c, "cmd", "links");
    let names: Vec<&str> = links
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n))
        .collect();
    assert_eq!(names, ["lo", "eth0"], "only loopback and eth0: {links}");
    let resolv = sandbox_file(&c, "cmd", "resolv");
    assert!(
        resolv.contains(&format!("nameserver {SUBNET_PREFIX}53\n")),
        "{resolv}"
    );
    let hosts = sandbox_file(&c, "cmd", "hosts");
    assert!(hosts.contains(&format!("{ip} agent0.test\n")), "{hosts}");
    // The binds are the task's alone: the host's file is unchanged.
    assert_eq!(
        std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        host_resolv
    );
    assert_eq!(veths(&ns).len(), 1, "{:?}", veths(&ns));
    kill(&mut s, "cmd", &offer);
    wait_released("the CNI DEL after the kill", &work, &ns, tmp.path(), &ip);
    drop(s);
    drop(c);
    drop(_reg);
    drop(ns);
}

#[test]
fn the_agent_releases_the_network_of_an_executor_that_was_killed() {
    let Setup {
        mut s,
        c,
        _reg,
        image,
        tmp,
        work,
        ns,
        ..
    } = setup("sweep", "ph2br1");
    let offer = s.next_offer(Duration::from_secs(10));
    let mut t = image_task("victim", &offer, &image, "exec /bin/busybox sleep 600");
    t["container"]["network_infos"] = json!([{"name": "h2net"}]);
    s.launch(&offer, vec![t]);
    let running = s.wait_state("victim", "TASK_RUNNING", LAUNCH);
    let ip = status_ips(&running, "h2net");
    assert_eq!(ip.len(), 1, "{running}");
    let lease = tmp.path().join("ipam").join("h2net").join(&ip[0]);
    assert!(lease.exists());
    let pid = running["container_status"]["executor_pid"]
        .as_i64()
        .expect("executor pid");
    // The executor dies without its cleanup; the agent notices and DELs.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the executor");
    let ended = s.wait_state("victim", "TASK_FAILED", LAUNCH);
    assert_eq!(ended["state"], "TASK_FAILED");
    wait_released("the agent's CNI DEL", &work, &ns, tmp.path(), &ip[0]);
    drop(s);
    drop(c);
    drop(_reg);
    drop(ns);
}

/// The app's tasks at `path` (`/v2/apps/ID/tasks` or `/v2/tasks`).
fn marathon_tasks(port: u16, path: &str) -> Vec<Value> {
    get_json(&format!("http://127.0.0.1:{port}{path}"))
        .and_then(|v| v["tasks"].as_array().cloned())
        .unwrap_or_default()
}

#[test]
fn a_marathon_app_on_a_container_network_shows_its_task_addresses() {
    // Nothing listens in a fresh namespace: any free port is free there.
    let marathon_port = paddock_tests::free_port();
    let port_flag = marathon_port.to_string();
    let Setup {
        s,
        c,
        _reg,
        image,
        tmp,
        work,
        ns,
        ..
    } = setup_with("marathon", "ph2br2", &["--marathon-port", &port_flag]);
    drop(s);
    let app = json!({
        "id": "/cni-web", "cmd": "exec /bin/busybox sleep 600",
        "cpus": 0.2, "mem": 32, "instances": 1,
        "container": {"type": "MESOS", "docker": {"image": image}},
        "networks": [{"mode": "container", "name": "h2net"}]
    });
    let url = |p: &str| format!("http://127.0.0.1:{marathon_port}{p}");
    wait_for("Marathon to answer", LAUNCH, || get_json(&url("/v2/info")));
    let resp = paddock_tests::http()
        .post(url("/v2/apps"))
        .json(&app)
        .send()
        .expect("POST /v2/apps");
    let code = resp.status().as_u16();
    assert_eq!(code, 201, "{}", resp.text().unwrap_or_default());
    let task = wait_for("the app's task with its address", LAUNCH, || {
        marathon_tasks(marathon_port, "/v2/apps/cni-web/tasks")
            .into_iter()
            .find(|t| {
                t["state"] == "TASK_RUNNING"
                    && t["ipAddresses"].as_array().is_some_and(|a| !a.is_empty())
            })
    });
    let ips = task["ipAddresses"].as_array().cloned().unwrap_or_default();
    assert_eq!(ips.len(), 1, "{task}");
    let ip = ips[0]["ipAddress"].as_str().unwrap_or_default().to_string();
    assert!(ip.starts_with(SUBNET_PREFIX), "{task}");
    assert_eq!(ips[0]["protocol"], "IPv4");
    let all = marathon_tasks(marathon_port, "/v2/tasks");
    assert!(
        all.iter()
            .any(|t| t["ipAddresses"][0]["ipAddress"] == ip.as_str()),
        "/v2/tasks: {all:?}"
    );
    assert!(tmp.path().join("ipam").join("h2net").join(&ip).exists());
    let del = paddock_tests::http()
        .delete(url("/v2/apps/cni-web"))
        .send()
        .expect("DELETE the app");
    assert!(del.status().is_success(), "DELETE: {}", del.status());
    wait_released(
        "the CNI DEL after the app is deleted",
        &work,
        &ns,
        tmp.path(),
        &ip,
    );
    drop(c);
    drop(_reg);
    drop(ns);
}

/// `iptables -t nat -S` inside the namespace.
fn nat_rules(ns: &TestNetns) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.name, "iptables", "-t", "nat", "-S"])
        .output()
        .expect("iptables");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_host_port_reaches_the_container_through_the_portmap_plugin() {
    let Setup {
        mut s,
        c,
        _reg,
        image,
        tmp,
        work,
        ns,
        ..
    } = setup("portmap", "ph2br3");
    let list = json!({
        "cniVersion": "0.4.0",
        "name": "h2pm",
        "plugins": [
            {"type": "bridge", "bridge": "ph2br3", "isGateway": true, "ipMasq": false,
             "ipam": {"type": "host-local", "subnet": "10.88.43.0/24",
                      "dataDir": tmp.path().join("ipam").display().to_string()}},
            {"type": "portmap", "capabilities": {"portMappings": true}}
        ]
    });
    // Read at each launch: a new file needs no agent restart.
    std::fs::write(
        tmp.path().join("cni").join("20-h2pm.conflist"),
        list.to_string(),
    )
    .expect("write conflist");
    let offer = s.next_offer(Duration::from_secs(10));
    let mut t = image_task(
        "served",
        &offer,
        &image,
        "B=/bin/busybox; $B mkdir -p /www; echo served-from-the-container > /www/index.html; \
         exec $B httpd -f -p 8080 -h /www",
    );
    t["container"]["network_infos"] = json!([{"name": "h2pm",
        "port_mappings": [{"host_port": 31001, "container_port": 8080, "protocol": "tcp"}]}]);
    s.launch(&offer, vec![t]);
    let running = s.wait_state("served", "TASK_RUNNING", LAUNCH);
    let ips = status_ips(&running, "h2pm");
    assert_eq!(ips.len(), 1, "{running}");
    assert_eq!(
        running["container_status"]["network_infos"][0]["port_mappings"][0]["host_port"],
        31001
    );
    // The host side of the namespace reaches the container through the
    // host port on the bridge's own address.
    let body = wait_for("the page through host port 31001", LAUNCH, || {
        let r = paddock_tests::http()
            .get("http://10.88.43.1:31001/index.html")
            .send()
            .ok()?;
        r.status().is_success().then(|| r.text().ok()).flatten()
    });
    assert_eq!(body, "served-from-the-container\n");
    assert!(nat_rules(&ns).contains("31001"), "{}", nat_rules(&ns));
    kill(&mut s, "served", &offer);
    wait_for("the mapping to go with the CNI DEL", LAUNCH, || {
        (records(&work).is_empty() && !nat_rules(&ns).contains("31001")).then_some(())
    });
    drop(s);
    drop(c);
    drop(_reg);
    drop(ns);
}
