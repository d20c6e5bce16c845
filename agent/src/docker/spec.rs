//! A TaskInfo with a DOCKER container, translated into Docker's create body.
//! Pure: no engine, no clock, so every rule is unit-tested.
//!
//! Follows Mesos's Docker containerizer:
//! - cpus → `CpuShares` (1024 per cpu, at least 2) and a CFS quota over a
//!   100 ms period; mem → `Memory` (at least 32 MB) with `MemorySwap` equal
//!   to it (no swap); a pids limit;
//! - network HOST (the default), BRIDGE, NONE or USER (the network named by
//!   the container's first `network_infos` entry); `port_mappings` become
//!   port bindings and need BRIDGE or USER, and every host port must be one
//!   of the task's `ports`;
//! - `parameters` map to the `docker run` option of the same name (see
//!   [`SUPPORTED_PARAMETERS`]); any other key is an error naming it;
//! - the environment is the task's plus MESOS_TASK_ID, MESOS_SANDBOX,
//!   MESOS_CONTAINER_NAME, HOST and PORT0..N/PORT/PORTS; the sandbox is
//!   bind-mounted at /mnt/mesos/sandbox, which is also the working dir;
//! - a shell command runs as `--entrypoint /bin/sh` with `-c CMD`; a
//!   non-shell command's value and arguments become the image's arguments
//!   (the image entrypoint stays); no command runs the image's default.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, DeviceMapping, EndpointSettings, HostConfig, Mount, MountType,
    NetworkingConfig, PortBinding, ResourcesUlimits,
};
use paddock_proto::container::{ContainerInfo, ContainerType, DockerInfo, DockerNetwork};
use paddock_proto::mesos::TaskInfo;
use paddock_proto::resources::Resources;

use super::engine::{container_name, labels};

/// Where the sandbox appears inside the container (Mesos's path).
pub const SANDBOX_MOUNT: &str = "/mnt/mesos/sandbox";
/// Processes per container, as for command tasks.
pub const PIDS_LIMIT: i64 = 4096;
/// Mesos's minimum memory for a container.
const MIN_MEM_MB: f64 = 32.0;
const MIN_CPUS: f64 = 0.01;
const CFS_PERIOD_US: i64 = 100_000;

/// The `parameters` keys we translate (docker run's long option names).
pub const SUPPORTED_PARAMETERS: &[&str] = &[
    "add-host",
    "cap-add",
    "cap-drop",
    "device",
    "dns",
    "dns-search",
    "entrypoint",
    "env",
    "group-add",
    "hostname",
    "init",
    "ipc",
    "label",
    "memory-reservation",
    "memory-swap",
    "pid",
    "pids-limit",
    "read-only",
    "security-opt",
    "shm-size",
    "stop-signal",
    "sysctl",
    "tmpfs",
    "ulimit",
    "user",
    "uts",
    "volume",
    "workdir",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("{0}")]
    Container(String),
    #[error("the task's container is not of type DOCKER")]
    NotDocker,
    #[error("container.docker.image is empty")]
    NoImage,
    #[error("container.docker.parameters: unsupported parameter '{key}' (supported: {supported})")]
    UnknownParameter { key: String, supported: String },
    #[error("container.docker.parameters: bad value '{value}' for '{key}': {why}")]
    BadParameter {
        key: String,
        value: String,
        why: String,
    },
    #[error(
        "container.docker.port_mappings: host port {0} is not among the task's ports resources"
    )]
    PortNotOffered(u32),
    #[error("container.docker.port_mappings: port mappings need network BRIDGE or USER, not {0}")]
    PortMappingsNeedBridge(&'static str),
    #[error("container.docker.port_mappings: bad protocol '{0}' (tcp, udp or tcp,udp)")]
    BadProtocol(String),
    #[error("container.docker.network USER needs container.network_infos[0].name")]
    UserNetworkWithoutName,
    #[error("container.volumes[{0}]: {1}")]
    BadVolume(usize, String),
    #[error("task.resources: {0}")]
    Resources(String),
}

/// Where the task runs: the ids that go into labels and the environment.
#[derive(Debug, Clone)]
pub struct Context<'a> {
    pub container_id: &'a str,
    pub agent_id: &'a str,
    pub framework_id: &'a str,
    pub executor_id: &'a str,
    /// The sandbox's path on the host.
    pub sandbox: &'a str,
    /// The agent's host name (`HOST`).
    pub hostname: &'a str,
}

/// Everything needed to run the container.
#[derive(Debug, Clone)]
pub struct Spec {
    pub name: String,
    pub image: String,
    pub force_pull: bool,
    pub body: ContainerCreateBody,
}

/// The DOCKER part of the task's container, or why there is none.
pub fn docker_info(task: &TaskInfo) -> Result<(ContainerInfo, DockerInfo), SpecError> {
    let info = ContainerInfo::from_task(task)
        .map_err(SpecError::Container)?
        .ok_or(SpecError::NotDocker)?;
    if info.kind != ContainerType::Docker {
        return Err(SpecError::NotDocker);
    }
    let docker = info
        .docker
        .clone()
        .ok_or_else(|| SpecError::Container("container.docker is missing".into()))?;
    if docker.image.trim().is_empty() {
        return Err(SpecError::NoImage);
    }
    Ok((info, docker))
}

pub fn build(task: &TaskInfo, ctx: &Context) -> Result<Spec, SpecError> {
    let (info, docker) = docker_info(task)?;
    let resources =
        Resources::from_mesos(&task.resources).map_err(|e| SpecError::Resources(e.to_string()))?;
    let ports: Vec<u64> = resources
        .range_set("ports")
        .map(|s| s.values().take(1000).collect())
        .unwrap_or_default();

    let mut body = ContainerCreateBody {
        image: Some(docker.image.clone()),
        working_dir: Some(SANDBOX_MOUNT.to_string()),
        ..Default::default()
    };
    let mut host = HostConfig::default();

    // Limits.
    let cpus = resources.scalar("cpus").max(MIN_CPUS);
    let mem = (resources.scalar("mem").max(MIN_MEM_MB) * 1048576.0) as i64;
    host.cpu_shares = Some(((cpus * 1024.0) as i64).max(2));
    host.cpu_period = Some(CFS_PERIOD_US);
    host.cpu_quota = Some(((cpus * CFS_PERIOD_US as f64) as i64).max(1000));
    host.memory = Some(mem);
    host.memory_swap = Some(mem);
    host.pids_limit = Some(PIDS_LIMIT);
    host.privileged = Some(docker.privileged.unwrap_or(false));

    // Network and ports.
    let (mode, net_name) = match docker.network {
        DockerNetwork::Host => ("host".to_string(), "HOST"),
        DockerNetwork::Bridge => ("bridge".to_string(), "BRIDGE"),
        DockerNetwork::None => ("none".to_string(), "NONE"),
        DockerNetwork::User => (
            info.network_infos
                .first()
                .and_then(|n| n.name.clone())
                .filter(|n| !n.is_empty())
                .ok_or(SpecError::UserNetworkWithoutName)?,
            "USER",
        ),
    };
    if !docker.port_mappings.is_empty() {
        if !matches!(docker.network, DockerNetwork::Bridge | DockerNetwork::User) {
            return Err(SpecError::PortMappingsNeedBridge(net_name));
        }
        let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        let mut exposed = Vec::new();
        for m in &docker.port_mappings {
            if !ports.contains(&u64::from(m.host_port)) {
                return Err(SpecError::PortNotOffered(m.host_port));
            }
            let protos = m.protocol.as_deref().unwrap_or("tcp").to_ascii_lowercase();
            for proto in protos.split(',') {
                if proto != "tcp" && proto != "udp" {
                    return Err(SpecError::BadProtocol(protos.clone()));
                }
                let key = format!("{}/{proto}", m.container_port);
                exposed.push(key.clone());
                bindings
                    .entry(key)
                    .or_insert_with(|| Some(Vec::new()))
                    .get_or_insert_with(Vec::new)
                    .push(PortBinding {
                        host_ip: None,
                        host_port: Some(m.host_port.to_string()),
                    });
            }
        }
        host.port_bindings = Some(bindings);
        body.exposed_ports = Some(exposed);
    }
    if docker.network == DockerNetwork::User {
        body.networking_config = Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(mode.clone(), EndpointSettings::default())])),
        });
    }
    host.network_mode = Some(mode);
    if docker.network != DockerNetwork::Host {
        body.hostname = info.hostname.clone();
    }

    // Mounts: the sandbox, then the container's volumes. The sandbox path
    // holds the task id, which may contain ':' (Chronos's do), and a bind
    // string splits on ':'; the structured mount API does not.
    let mut mounts = vec![bind_mount(ctx.sandbox, SANDBOX_MOUNT, false)];
    let mut binds = Vec::new();
    for (i, v) in info.volumes.iter().enumerate() {
        let Some(host_path) = &v.host_path else {
            continue;
        };
        if !v.container_path.starts_with('/') {
            return Err(SpecError::BadVolume(
                i,
                format!("container_path '{}' must be absolute", v.container_path),
            ));
        }
        // Mesos: a relative host path is inside the sandbox.
        let src = if host_path.starts_with('/') {
            host_path.clone()
        } else {
            format!("{}/{host_path}", ctx.sandbox)
        };
        let mode = match v.mode.as_deref().unwrap_or("RW") {
            "RW" => "rw",
            "RO" => "ro",
            other => {
                return Err(SpecError::BadVolume(
                    i,
                    format!("mode '{other}' (RW or RO)"),
                ))
            }
        };
        if src.contains(':') || v.container_path.contains(':') {
            mounts.push(bind_mount(&src, &v.container_path, mode == "ro"));
        } else {
            // A bind string, unlike a mount, creates a missing host path,
            // as Mesos's Docker containerizer (docker run -v) does.
            binds.push(format!("{src}:{}:{mode}", v.container_path));
        }
    }
    host.mounts = Some(mounts);
    host.binds = (!binds.is_empty()).then_some(binds);

    // Environment: Mesos's, then the task's (which wins).
    let mut env = vec![
        format!("MESOS_TASK_ID={}", task.task_id.value),
        format!("MESOS_SANDBOX={SANDBOX_MOUNT}"),
        format!("MESOS_CONTAINER_NAME={}", container_name(ctx.container_id)),
        format!("HOST={}", ctx.hostname),
    ];
    for (i, p) in ports.iter().enumerate() {
        env.push(format!("PORT{i}={p}"));
    }
    if let Some(p) = ports.first() {
        env.push(format!("PORT={p}"));
        let all: Vec<String> = ports.iter().map(u64::to_string).collect();
        env.push(format!("PORTS={}", all.join(",")));
    }
    if let Some(vars) = task.command.as_ref().and_then(|c| c.environment.as_ref()) {
        for v in &vars.variables {
            env.push(format!(
                "{}={}",
                v.name,
                v.value.clone().unwrap_or_default()
            ));
        }
    }
    body.env = Some(env);

    // Command.
    if let Some(cmd) = &task.command {
        let value = cmd.value.clone().filter(|v| !v.is_empty());
        if cmd.shell.unwrap_or(true) {
            if let Some(v) = value {
                body.entrypoint = Some(vec!["/bin/sh".into()]);
                body.cmd = Some(vec!["-c".into(), v]);
            }
        } else {
            let argv: Vec<String> = value.into_iter().chain(cmd.arguments.clone()).collect();
            if !argv.is_empty() {
                body.cmd = Some(argv);
            }
        }
    }

    let mut labels = HashMap::from([
        (labels::AGENT.to_string(), ctx.agent_id.to_string()),
        (labels::CONTAINER.to_string(), ctx.container_id.to_string()),
        (labels::TASK.to_string(), task.task_id.value.clone()),
        (labels::FRAMEWORK.to_string(), ctx.framework_id.to_string()),
        (labels::EXECUTOR.to_string(), ctx.executor_id.to_string()),
    ]);
    for p in &docker.parameters {
        apply_parameter(&p.key, &p.value, &mut body, &mut host, &mut labels)?;
    }
    body.labels = Some(labels);
    body.host_config = Some(host);
    Ok(Spec {
        name: container_name(ctx.container_id),
        image: docker.image.clone(),
        force_pull: docker.force_pull_image.unwrap_or(false),
        body,
    })
}

fn bad(key: &str, value: &str, why: impl Into<String>) -> SpecError {
    SpecError::BadParameter {
        key: key.to_string(),
        value: value.to_string(),
        why: why.into(),
    }
}

fn key_value<'v>(key: &str, value: &'v str) -> Result<(&'v str, &'v str), SpecError> {
    match value.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k, v)),
        _ => Err(bad(key, value, "expected NAME=VALUE")),
    }
}

fn bool_value(key: &str, value: &str) -> Result<bool, SpecError> {
    match value.to_ascii_lowercase().as_str() {
        "" | "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(bad(key, value, "expected true or false")),
    }
}

/// Docker's sizes: a number with an optional b, k, m or g suffix (1024-based).
pub fn parse_size(value: &str) -> Option<i64> {
    let v = value.trim().to_ascii_lowercase();
    let v = v.strip_suffix('b').filter(|s| !s.is_empty()).unwrap_or(&v);
    let (digits, mult) = match v.chars().last()? {
        'k' => (&v[..v.len() - 1], 1i64 << 10),
        'm' => (&v[..v.len() - 1], 1 << 20),
        'g' => (&v[..v.len() - 1], 1 << 30),
        't' => (&v[..v.len() - 1], 1 << 40),
        _ => (v, 1),
    };
    let n: f64 = digits
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
    let bytes = n * mult as f64;
    (bytes < i64::MAX as f64).then_some(bytes as i64)
}

fn push(list: &mut Option<Vec<String>>, value: &str) {
    list.get_or_insert_with(Vec::new).push(value.to_string());
}

fn apply_parameter(
    key: &str,
    value: &str,
    body: &mut ContainerCreateBody,
    host: &mut HostConfig,
    labels: &mut HashMap<String, String>,
) -> Result<(), SpecError> {
    match key {
        "env" | "e" => {
            key_value(key, value)?;
            push(&mut body.env, value);
        }
        "label" | "l" => {
            let (k, v) = key_value(key, value)?;
            if k.starts_with("paddock.") {
                return Err(bad(
                    key,
                    value,
                    "labels starting with 'paddock.' are reserved",
                ));
            }
            labels.insert(k.to_string(), v.to_string());
        }
        "volume" | "v" => {
            let parts: Vec<&str> = value.split(':').collect();
            if parts.len() < 2 || parts.len() > 3 || !parts[1].starts_with('/') {
                return Err(bad(key, value, "expected HOST:CONTAINER[:ro|rw]"));
            }
            push(&mut host.binds, value);
        }
        "user" | "u" => body.user = Some(value.to_string()),
        "workdir" | "w" => {
            if !value.starts_with('/') {
                return Err(bad(key, value, "must be an absolute path"));
            }
            body.working_dir = Some(value.to_string());
        }
        "hostname" | "h" => {
            if host.network_mode.as_deref() == Some("host") {
                return Err(bad(key, value, "cannot set a hostname with network HOST"));
            }
            body.hostname = Some(value.to_string());
        }
        "cap-add" => push(&mut host.cap_add, value),
        "cap-drop" => push(&mut host.cap_drop, value),
        "memory-swap" => {
            let n = if value.trim() == "-1" {
                -1
            } else {
                parse_size(value).ok_or_else(|| bad(key, value, "expected a size like 512m"))?
            };
            if n != -1 && host.memory.is_some_and(|m| n < m) {
                return Err(bad(key, value, "must be at least the task's mem"));
            }
            host.memory_swap = Some(n);
        }
        "memory-reservation" => {
            host.memory_reservation =
                Some(parse_size(value).ok_or_else(|| bad(key, value, "expected a size"))?)
        }
        "shm-size" => {
            host.shm_size =
                Some(parse_size(value).ok_or_else(|| bad(key, value, "expected a size"))?)
        }
        "pids-limit" => {
            let n: i64 = value
                .parse()
                .map_err(|_| bad(key, value, "expected a number"))?;
            host.pids_limit = Some(n);
        }
        "entrypoint" => body.entrypoint = Some(vec![value.to_string()]),
        "add-host" => {
            if !value.contains(':') {
                return Err(bad(key, value, "expected HOST:IP"));
            }
            push(&mut host.extra_hosts, value);
        }
        "dns" => push(&mut host.dns, value),
        "dns-search" => push(&mut host.dns_search, value),
        "group-add" => push(&mut host.group_add, value),
        "security-opt" => push(&mut host.security_opt, value),
        "sysctl" => {
            let (k, v) = key_value(key, value)?;
            host.sysctls
                .get_or_insert_with(HashMap::new)
                .insert(k.to_string(), v.to_string());
        }
        "tmpfs" => {
            let (path, opts) = value.split_once(':').unwrap_or((value, ""));
            if !path.starts_with('/') {
                return Err(bad(key, value, "expected /PATH[:OPTIONS]"));
            }
            host.tmpfs
                .get_or_insert_with(HashMap::new)
                .insert(path.to_string(), opts.to_string());
        }
        "ulimit" => {
            let (name, limits) = key_value(key, value)?;
            let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
            let num = |s: &str| {
                s.parse::<i64>()
                    .map_err(|_| bad(key, value, "expected NAME=SOFT[:HARD]"))
            };
            host.ulimits
                .get_or_insert_with(Vec::new)
                .push(ResourcesUlimits {
                    name: Some(name.to_string()),
                    soft: Some(num(soft)?),
                    hard: Some(num(hard)?),
                });
        }
        "device" => {
            let parts: Vec<&str> = value.split(':').collect();
            if parts.is_empty() || parts.len() > 3 || !parts[0].starts_with('/') {
                return Err(bad(key, value, "expected HOST[:CONTAINER[:PERMISSIONS]]"));
            }
            host.devices
                .get_or_insert_with(Vec::new)
                .push(DeviceMapping {
                    path_on_host: Some(parts[0].to_string()),
                    path_in_container: Some(parts.get(1).unwrap_or(&parts[0]).to_string()),
                    cgroup_permissions: Some(parts.get(2).unwrap_or(&"rwm").to_string()),
                });
        }
        "read-only" => host.readonly_rootfs = Some(bool_value(key, value)?),
        "init" => host.init = Some(bool_value(key, value)?),
        "ipc" => host.ipc_mode = Some(value.to_string()),
        "pid" => host.pid_mode = Some(value.to_string()),
        "uts" => host.uts_mode = Some(value.to_string()),
        "stop-signal" => body.stop_signal = Some(value.to_string()),
        _ => {
            return Err(SpecError::UnknownParameter {
                key: key.to_string(),
                supported: SUPPORTED_PARAMETERS.join(", "),
            })
        }
    }
    Ok(())
}

fn bind_mount(source: &str, target: &str, read_only: bool) -> Mount {
    Mount {
        source: Some(source.to_string()),
        target: Some(target.to_string()),
        typ: Some(MountType::BIND),
        read_only: Some(read_only),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_proto::mesos::{CommandInfo, Environment, EnvironmentVariable, TaskId};
    use paddock_proto::resources::RangeSet;
    use serde_json::json;

    fn ctx() -> Context<'static> {
        Context {
            container_id: "c1",
            agent_id: "a1",
            framework_id: "f1",
            executor_id: "e1",
            sandbox: "/work/sb",
            hostname: "agent0.test",
        }
    }

    fn task(container: serde_json::Value, command: Option<CommandInfo>) -> TaskInfo {
        TaskInfo {
            task_id: TaskId::new("t1"),
            resources: Resources::new()
                .with_scalar("cpus", 0.5)
                .with_scalar("mem", 64.0)
                .with_ranges("ports", RangeSet::new([(31000, 31001)]))
                .to_mesos(None),
            container: Some(container),
            command,
            ..Default::default()
        }
    }

    fn shell(cmd: &str) -> Option<CommandInfo> {
        Some(CommandInfo {
            value: Some(cmd.into()),
            ..Default::default()
        })
    }

    fn docker(extra: serde_json::Value) -> serde_json::Value {
        let mut d = json!({"image": "paddock-test/busybox:latest"});
        if let (Some(d), Some(e)) = (d.as_object_mut(), extra.as_object()) {
            d.extend(e.clone());
        }
        json!({"type": "DOCKER", "docker": d})
    }

    #[test]
    fn resources_become_docker_limits() {
        let s = build(&task(docker(json!({})), shell("true")), &ctx()).unwrap();
        let h = s.body.host_config.unwrap();
        assert_eq!(h.cpu_shares, Some(512));
        assert_eq!(h.cpu_quota, Some(50_000));
        assert_eq!(h.cpu_period, Some(100_000));
        assert_eq!(h.memory, Some(64 << 20));
        assert_eq!(h.memory_swap, Some(64 << 20));
        assert_eq!(h.pids_limit, Some(PIDS_LIMIT));
        assert_eq!(h.network_mode.as_deref(), Some("host"));
        assert_eq!(h.privileged, Some(false));
        assert_eq!(s.name, "mesos-c1");
        assert!(!s.force_pull);
    }

    #[test]
    fn shell_command_overrides_the_entrypoint_like_mesos() {
        let s = build(&task(docker(json!({})), shell("echo hi")), &ctx()).unwrap();
        assert_eq!(s.body.entrypoint, Some(vec!["/bin/sh".to_string()]));
        assert_eq!(
            s.body.cmd,
            Some(vec!["-c".to_string(), "echo hi".to_string()])
        );
        let argv = CommandInfo {
            value: None,
            shell: Some(false),
            arguments: vec!["a".into(), "b".into()],
            ..Default::default()
        };
        let s = build(&task(docker(json!({})), Some(argv)), &ctx()).unwrap();
        assert_eq!(s.body.entrypoint, None);
        assert_eq!(s.body.cmd, Some(vec!["a".to_string(), "b".to_string()]));
        let s = build(&task(docker(json!({})), None), &ctx()).unwrap();
        assert_eq!((s.body.entrypoint, s.body.cmd), (None, None));
    }

    #[test]
    fn environment_labels_and_sandbox() {
        let mut cmd = shell("env").unwrap();
        cmd.environment = Some(Environment {
            variables: vec![EnvironmentVariable {
                name: "FOO".into(),
                value: Some("bar".into()),
                ..Default::default()
            }],
        });
        let s = build(&task(docker(json!({})), Some(cmd)), &ctx()).unwrap();
        let env = s.body.env.unwrap();
        for want in [
            "MESOS_TASK_ID=t1",
            "MESOS_SANDBOX=/mnt/mesos/sandbox",
            "HOST=agent0.test",
            "PORT0=31000",
            "PORT1=31001",
            "PORT=31000",
            "PORTS=31000,31001",
            "FOO=bar",
        ] {
            assert!(env.iter().any(|e| e == want), "{want} missing from {env:?}");
        }
        let labels = s.body.labels.unwrap();
        assert_eq!(labels[labels::CONTAINER], "c1");
        assert_eq!(labels[labels::TASK], "t1");
        assert_eq!(labels[labels::AGENT], "a1");
        let sandbox = &s.body.host_config.unwrap().mounts.unwrap()[0];
        assert_eq!(sandbox.source.as_deref(), Some("/work/sb"));
        assert_eq!(sandbox.target.as_deref(), Some("/mnt/mesos/sandbox"));
        assert_eq!(sandbox.typ, Some(MountType::BIND));
    }

    #[test]
    fn port_mappings_need_offered_ports_and_a_bridge() {
        let pm = json!({"network": "BRIDGE",
            "port_mappings": [{"host_port": 31001, "container_port": 80, "protocol": "tcp,udp"}]});
        let s = build(&task(docker(pm), shell("true")), &ctx()).unwrap();
        let h = s.body.host_config.unwrap();
        let b = h.port_bindings.unwrap();
        assert_eq!(
            b["80/tcp"].as_ref().unwrap()[0].host_port.as_deref(),
            Some("31001")
        );
        assert!(b.contains_key("80/udp"));
        assert_eq!(h.network_mode.as_deref(), Some("bridge"));

        let off = json!({"network": "BRIDGE",
            "port_mappings": [{"host_port": 4000, "container_port": 80}]});
        assert_eq!(
            build(&task(docker(off), shell("true")), &ctx()).unwrap_err(),
            SpecError::PortNotOffered(4000)
        );
        let on_host = json!({"port_mappings": [{"host_port": 31000, "container_port": 80}]});
        assert!(matches!(
            build(&task(docker(on_host), shell("true")), &ctx()).unwrap_err(),
            SpecError::PortMappingsNeedBridge("HOST")
        ));
    }

    #[test]
    fn user_networks_need_a_name() {
        let t = task(docker(json!({"network": "USER"})), shell("true"));
        assert_eq!(
            build(&t, &ctx()).unwrap_err(),
            SpecError::UserNetworkWithoutName
        );
        let mut c = docker(json!({"network": "USER"}));
        c["network_infos"] = json!([{"name": "mynet"}]);
        let s = build(&task(c, shell("true")), &ctx()).unwrap();
        assert_eq!(
            s.body.host_config.unwrap().network_mode.as_deref(),
            Some("mynet")
        );
    }

    #[test]
    fn paths_with_colons_are_mounted_not_split() {
        let c = Context {
            sandbox: "/work/executors/ct:1796:0:job/runs/c1",
            ..ctx()
        };
        let mut t = task(docker(json!({})), shell("true"));
        if let Some(info) = t.container.as_mut() {
            info["volumes"] = json!([
                {"host_path": "data:1", "container_path": "/data", "mode": "RO"},
                {"host_path": "/tmp", "container_path": "/scratch", "mode": "RW"}
            ]);
        }
        let s = build(&t, &c).unwrap();
        let h = s.body.host_config.unwrap();
        let mounts = h.mounts.unwrap();
        assert_eq!(mounts[0].source.as_deref(), Some(c.sandbox));
        assert_eq!(
            mounts[1].source.as_deref(),
            Some("/work/executors/ct:1796:0:job/runs/c1/data:1")
        );
        assert_eq!(mounts[1].read_only, Some(true));
        assert_eq!(h.binds, Some(vec!["/tmp:/scratch:rw".to_string()]));
    }

    #[test]
    fn parameters_map_to_docker_options() {
        let p = json!({"privileged": true, "force_pull_image": true, "parameters": [
            {"key": "env", "value": "A=1"},
            {"key": "label", "value": "team=x"},
            {"key": "volume", "value": "/tmp:/data:ro"},
            {"key": "user", "value": "nobody"},
            {"key": "workdir", "value": "/data"},
            {"key": "cap-add", "value": "NET_ADMIN"},
            {"key": "cap-drop", "value": "ALL"},
            {"key": "memory-swap", "value": "128m"},
            {"key": "ulimit", "value": "nofile=1024:2048"},
            {"key": "read-only", "value": "true"},
        ]});
        let s = build(&task(docker(p), shell("true")), &ctx()).unwrap();
        assert!(s.force_pull);
        let b = &s.body;
        assert!(b.env.as_ref().unwrap().contains(&"A=1".to_string()));
        assert_eq!(b.labels.as_ref().unwrap()["team"], "x");
        assert_eq!(b.user.as_deref(), Some("nobody"));
        assert_eq!(b.working_dir.as_deref(), Some("/data"));
        let h = b.host_config.as_ref().unwrap();
        assert!(h
            .binds
            .as_ref()
            .unwrap()
            .contains(&"/tmp:/data:ro".to_string()));
        assert_eq!(h.cap_add, Some(vec!["NET_ADMIN".to_string()]));
        assert_eq!(h.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(h.memory_swap, Some(128 << 20));
        assert_eq!(h.privileged, Some(true));
        assert_eq!(h.readonly_rootfs, Some(true));
        let u = &h.ulimits.as_ref().unwrap()[0];
        assert_eq!((u.soft, u.hard), (Some(1024), Some(2048)));
    }

    #[test]
    fn bad_parameters_name_themselves() {
        let p = json!({"parameters": [{"key": "restart", "value": "always"}]});
        let err = build(&task(docker(p), shell("true")), &ctx()).unwrap_err();
        assert!(
            err.to_string().contains("unsupported parameter 'restart'"),
            "{err}"
        );
        let p = json!({"parameters": [{"key": "memory-swap", "value": "lots"}]});
        let err = build(&task(docker(p), shell("true")), &ctx()).unwrap_err();
        assert!(err.to_string().contains("'memory-swap'"), "{err}");
        let p = json!({"parameters": [{"key": "memory-swap", "value": "1m"}]});
        let err = build(&task(docker(p), shell("true")), &ctx()).unwrap_err();
        assert!(err.to_string().contains("at least"), "{err}");
        let p = json!({"parameters": [{"key": "label", "value": "paddock.task_id=x"}]});
        assert!(build(&task(docker(p), shell("true")), &ctx()).is_err());
    }

    #[test]
    fn missing_image_and_wrong_type_are_errors() {
        let t = task(json!({"type": "DOCKER", "docker": {"image": " "}}), None);
        assert_eq!(build(&t, &ctx()).unwrap_err(), SpecError::NoImage);
        let t = task(json!({"type": "MESOS"}), None);
        assert_eq!(build(&t, &ctx()).unwrap_err(), SpecError::NotDocker);
    }

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!(parse_size("512m"), Some(512 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("1GB"), Some(1 << 30));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("10k"), Some(10 << 10));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("-5m"), None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_parameters_never_panic(key in ".{0,20}", value in ".{0,40}") {
            let p = json!({"parameters": [{"key": key, "value": value}]});
            let _ = build(&task(docker(p), shell("true")), &ctx());
        }

        #[test]
        fn arbitrary_sizes_never_panic(s in ".{0,20}") {
            let _ = parse_size(&s);
        }
    }
}
