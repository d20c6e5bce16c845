//! Building the Mesos `TaskInfo` for one instance of an app: Marathon's task
//! ids, the command (`cmd` through the shell, `args` without), the task
//! environment (PORT0..N, PORT, PORTS, HOST, MARATHON_APP_*, MESOS_TASK_ID),
//! fetch URIs, the container passed through, resources and kill policy.

use paddock_proto::mesos::{
    AgentId, CommandInfo, CommandUri, DurationInfo, Environment, EnvironmentVariable, KillPolicy,
    Label, Labels, TaskId, TaskInfo,
};
use paddock_proto::resources::Resources;

use crate::core::spec::RunSpec;
use crate::launch::ports::as_ranges;

/// `/prod/web` → `prod_web`: the app id as task ids and env names carry it.
pub fn safe_app_id(app_id: &str) -> String {
    app_id.trim_start_matches('/').replace('/', "_")
}

/// A fresh task id in Marathon's form `<app id with / as _>.<uuid>`.
pub fn new_task_id(app_id: &str) -> TaskId {
    TaskId::new(format!("{}.{}", safe_app_id(app_id), uuid::Uuid::new_v4()))
}

/// The app id a Marathon task id belongs to (`prod_web.<uuid>` → `/prod/web`),
/// also for the `<app>.instance-<uuid>._app.N` form. `None` if it has no dot.
pub fn app_id_of_task(task_id: &str) -> Option<String> {
    let base = match task_id
        .find(".instance-")
        .or_else(|| task_id.find(".marathon-"))
    {
        Some(i) => &task_id[..i],
        None => &task_id[..task_id.rfind('.')?],
    };
    if base.is_empty() {
        return None;
    }
    Some(format!("/{}", base.replace('_', "/")))
}

/// `/prod/web` → `web.prod`, Marathon's task name (the id as a hostname).
pub fn task_name(app_id: &str) -> String {
    let mut parts: Vec<&str> = app_id.split('/').filter(|s| !s.is_empty()).collect();
    parts.reverse();
    parts.join(".")
}

/// A label name as an environment variable suffix: upper case, anything
/// outside `[A-Z0-9_]` becomes `_`.
pub fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            let c = c.to_ascii_uppercase();
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Java's `Double.toString` for the values Marathon reports (1 → "1.0").
fn java_double(v: f64) -> String {
    format!("{v:?}")
}

/// The image a Mesos `ContainerInfo` names, in either form: DOCKER's
/// `docker.image` or the unified containerizer's `mesos.image.docker.name`
/// (Marathon sets MARATHON_APP_DOCKER_IMAGE for both).
fn container_image(container: &serde_json::Value) -> Option<&str> {
    container
        .pointer("/docker/image")
        .or_else(|| container.pointer("/mesos/image/docker/name"))
        .and_then(|i| i.as_str())
        .filter(|i| !i.is_empty())
}

/// The task environment Marathon sets, before the app's own `env` (which
/// wins on a name clash).
pub fn task_env(
    spec: &RunSpec,
    task_id: &TaskId,
    host: &str,
    host_ports: &[u32],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    for (i, p) in host_ports.iter().enumerate() {
        env.push((format!("PORT{i}"), p.to_string()));
        if let Some(name) = spec.port_definitions.get(i).and_then(|d| d.name.as_deref()) {
            env.push((format!("PORT_{}", env_name(name)), p.to_string()));
        }
    }
    if let Some(first) = host_ports.first() {
        env.push(("PORT".into(), first.to_string()));
        let all: Vec<String> = host_ports.iter().map(|p| p.to_string()).collect();
        env.push(("PORTS".into(), all.join(",")));
    }
    env.push(("HOST".into(), host.to_string()));
    env.push(("MESOS_TASK_ID".into(), task_id.value.clone()));
    env.push(("MARATHON_APP_ID".into(), spec.id.clone()));
    env.push(("MARATHON_APP_VERSION".into(), spec.version.clone()));
    if let Some(image) = spec.container.as_ref().and_then(container_image) {
        env.push(("MARATHON_APP_DOCKER_IMAGE".into(), image.to_string()));
    }
    env.push(("MARATHON_APP_RESOURCE_CPUS".into(), java_double(spec.cpus)));
    env.push(("MARATHON_APP_RESOURCE_MEM".into(), java_double(spec.mem)));
    env.push(("MARATHON_APP_RESOURCE_DISK".into(), java_double(spec.disk)));
    env.push((
        "MARATHON_APP_RESOURCE_GPUS".into(),
        format!("{}", spec.gpus.round() as i64),
    ));
    // Labels with long values are left out, as Marathon does (limit 512).
    let labels: Vec<(&String, &String)> =
        spec.labels.iter().filter(|(_, v)| v.len() < 512).collect();
    let names: Vec<String> = labels.iter().map(|(k, _)| env_name(k)).collect();
    env.push(("MARATHON_APP_LABELS".into(), names.join(" ")));
    for (k, v) in labels {
        env.push((format!("MARATHON_APP_LABEL_{}", env_name(k)), v.clone()));
    }
    for (k, v) in &spec.env {
        env.retain(|(name, _)| name != k);
        env.push((k.clone(), v.clone()));
    }
    env
}

/// The resources one instance takes: cpus, mem, disk, gpus and its ports.
pub fn task_resources(spec: &RunSpec, host_ports: &[u32]) -> Resources {
    let mut r = Resources::new()
        .with_scalar("cpus", spec.cpus)
        .with_scalar("mem", spec.mem)
        .with_scalar("disk", spec.disk)
        .with_scalar("gpus", spec.gpus);
    if !host_ports.is_empty() {
        r = r.with_ranges("ports", as_ranges(host_ports));
    }
    r
}

/// Fills the dynamic `host_port`s (0) of a Docker container's port
/// mappings, and of each container network's (`network_infos[]`, MESOS
/// containers), with the allocated host ports, in order. (The container
/// was translated, networks included, by `runtime::convert::container_info`.)
fn with_host_ports(container: &serde_json::Value, host_ports: &[u32]) -> serde_json::Value {
    let mut c = container.clone();
    let fill = |maps: &mut Vec<serde_json::Value>| {
        for (m, p) in maps.iter_mut().zip(host_ports) {
            if m.get("host_port").and_then(|v| v.as_u64()).unwrap_or(0) == 0 {
                m["host_port"] = serde_json::Value::from(*p);
            }
        }
    };
    if let Some(maps) = c
        .pointer_mut("/docker/port_mappings")
        .and_then(|m| m.as_array_mut())
    {
        fill(maps);
    }
    if let Some(nets) = c.get_mut("network_infos").and_then(|n| n.as_array_mut()) {
        for n in nets {
            if let Some(maps) = n.get_mut("port_mappings").and_then(|m| m.as_array_mut()) {
                fill(maps);
            }
        }
    }
    c
}

/// Everything the TaskInfo depends on besides the spec.
pub struct LaunchTarget<'a> {
    pub task_id: TaskId,
    pub agent_id: AgentId,
    pub hostname: &'a str,
    pub host_ports: &'a [u32],
    /// The role of the offer's resources (its `allocation_info`).
    pub allocation_role: Option<&'a str>,
}

pub fn build_task_info(spec: &RunSpec, target: &LaunchTarget<'_>) -> TaskInfo {
    let env = task_env(spec, &target.task_id, target.hostname, target.host_ports);
    let mut command = CommandInfo {
        environment: Some(Environment {
            variables: env
                .into_iter()
                .map(|(name, value)| EnvironmentVariable {
                    name,
                    kind: Some("VALUE".into()),
                    value: Some(value),
                })
                .collect(),
        }),
        user: spec.user.clone(),
        uris: spec
            .fetch
            .iter()
            .map(|f| CommandUri {
                value: f.uri.clone(),
                executable: Some(f.executable),
                extract: Some(f.extract),
                cache: Some(f.cache),
                output_file: f.dest_path.clone(),
            })
            .collect(),
        ..CommandInfo::default()
    };
    if let Some(cmd) = &spec.cmd {
        command.shell = Some(true);
        command.value = Some(cmd.clone());
    } else if !spec.args.is_empty() {
        command.shell = Some(false);
        if spec.container.is_none() {
            command.value = spec.args.first().cloned();
        }
        command.arguments = spec.args.clone();
    } else {
        // A container with neither cmd nor args runs its image's entrypoint.
        command.shell = Some(false);
    }
    let labels = (!spec.labels.is_empty()).then(|| Labels {
        labels: spec
            .labels
            .iter()
            .map(|(k, v)| Label {
                key: k.clone(),
                value: Some(v.clone()),
            })
            .collect(),
    });
    let discovery_ports: Vec<serde_json::Value> = target
        .host_ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let def = spec.port_definitions.get(i);
            let mut port = serde_json::json!({
                "number": p,
                "protocol": def.map(|d| d.protocol.as_str()).unwrap_or("tcp"),
            });
            if let Some(name) = def.and_then(|d| d.name.as_deref()) {
                port["name"] = serde_json::Value::from(name);
            }
            port
        })
        .collect();
    TaskInfo {
        name: task_name(&spec.id),
        task_id: target.task_id.clone(),
        agent_id: target.agent_id.clone(),
        resources: task_resources(spec, target.host_ports).to_mesos(target.allocation_role),
        command: Some(command),
        container: spec
            .container
            .as_ref()
            .map(|c| with_host_ports(c, target.host_ports)),
        kill_policy: spec.task_kill_grace_period_seconds.map(|s| KillPolicy {
            grace_period: Some(DurationInfo {
                nanoseconds: (s as i64).saturating_mul(1_000_000_000),
            }),
        }),
        labels,
        discovery: Some(serde_json::json!({
            "visibility": "FRAMEWORK",
            "name": task_name(&spec.id),
            "ports": {"ports": discovery_ports},
        })),
        ..TaskInfo::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::spec::{FetchSpec, PortSpec};

    fn spec() -> RunSpec {
        let mut s = RunSpec::new("/prod/web", "2026-12-01T05:00:00.000Z");
        s.cmd = Some("python3 -m http.server $PORT0".into());
        s.cpus = 0.5;
        s.mem = 64.0;
        s.port_definitions = vec![PortSpec::new(10000), {
            let mut p = PortSpec::new(10001);
            p.name = Some("admin-api".into());
            p
        }];
        s.labels.insert("tier".into(), "front end".into());
        s.labels.insert("big".into(), "x".repeat(600));
        s
    }

    fn env_of(t: &TaskInfo) -> std::collections::BTreeMap<String, String> {
        t.command
            .as_ref()
            .and_then(|c| c.environment.as_ref())
            .map(|e| {
                e.variables
                    .iter()
                    .map(|v| (v.name.clone(), v.value.clone().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn task_ids_follow_marathon() {
        let id = new_task_id("/prod/web");
        assert!(id.value.starts_with("prod_web."), "{id}");
        assert_eq!(id.value.len(), "prod_web.".len() + 36);
        assert_eq!(app_id_of_task(&id.value).as_deref(), Some("/prod/web"));
        assert_eq!(
            app_id_of_task("my-group_my-app.instance-abc._app.1").as_deref(),
            Some("/my-group/my-app")
        );
        assert_eq!(app_id_of_task("nodot"), None);
        assert_eq!(task_name("/prod/web"), "web.prod");
    }

    #[test]
    fn environment_has_marathons_variables() {
        let s = spec();
        let t = build_task_info(
            &s,
            &LaunchTarget {
                task_id: TaskId::new("prod_web.1"),
                agent_id: AgentId::new("a1"),
                hostname: "host1",
                host_ports: &[31000, 31001],
                allocation_role: Some("*"),
            },
        );
        let env = env_of(&t);
        assert_eq!(env["PORT0"], "31000");
        assert_eq!(env["PORT1"], "31001");
        assert_eq!(env["PORT_ADMIN_API"], "31001");
        assert_eq!(env["PORT"], "31000");
        assert_eq!(env["PORTS"], "31000,31001");
        assert_eq!(env["HOST"], "host1");
        assert_eq!(env["MESOS_TASK_ID"], "prod_web.1");
        assert_eq!(env["MARATHON_APP_ID"], "/prod/web");
        assert_eq!(env["MARATHON_APP_VERSION"], "2026-12-01T05:00:00.000Z");
        assert_eq!(env["MARATHON_APP_RESOURCE_CPUS"], "0.5");
        assert_eq!(env["MARATHON_APP_RESOURCE_MEM"], "64.0");
        assert_eq!(env["MARATHON_APP_RESOURCE_DISK"], "0.0");
        assert_eq!(env["MARATHON_APP_LABEL_TIER"], "front end");
        assert!(
            !env.contains_key("MARATHON_APP_LABEL_BIG"),
            "values ≥512 are left out"
        );
        assert_eq!(env["MARATHON_APP_LABELS"], "TIER");
        let cmd = t.command.as_ref().map(|c| (c.shell, c.value.clone()));
        assert_eq!(cmd, Some((Some(true), s.cmd.clone())));
        assert_eq!(t.name, "web.prod");
        let res = Resources::from_mesos(&t.resources).unwrap_or_default();
        assert_eq!(res.scalar("cpus"), 0.5);
        assert_eq!(res.scalar("mem"), 64.0);
        assert_eq!(res.range_set("ports").map(|r| r.count()), Some(2));
    }

    #[test]
    fn app_env_wins_and_args_skip_the_shell() {
        let mut s = spec();
        s.cmd = None;
        s.args = vec!["/bin/echo".into(), "hi".into()];
        s.env.insert("PORT".into(), "1".into());
        s.task_kill_grace_period_seconds = Some(7);
        s.fetch = vec![FetchSpec {
            uri: "http://x/y.tgz".into(),
            extract: true,
            executable: false,
            cache: false,
            dest_path: None,
        }];
        let t = build_task_info(
            &s,
            &LaunchTarget {
                task_id: TaskId::new("prod_web.2"),
                agent_id: AgentId::new("a1"),
                hostname: "h",
                host_ports: &[31000],
                allocation_role: None,
            },
        );
        assert_eq!(env_of(&t)["PORT"], "1");
        let c = t.command.clone().unwrap_or_default();
        assert_eq!(c.shell, Some(false));
        assert_eq!(c.value.as_deref(), Some("/bin/echo"));
        assert_eq!(c.arguments, vec!["/bin/echo", "hi"]);
        assert_eq!(c.uris.len(), 1);
        assert_eq!(
            t.kill_policy
                .and_then(|k| k.grace_period)
                .map(|g| g.nanoseconds),
            Some(7_000_000_000)
        );
    }

    #[test]
    fn dynamic_host_ports_go_into_port_mappings() {
        let mut s = spec();
        s.container = Some(
            serde_json::json!({"type": "DOCKER", "docker": {"image": "nginx:1",
            "network": "BRIDGE",
            "port_mappings": [{"host_port": 0, "container_port": 80}, {"host_port": 31009, "container_port": 81}]}}),
        );
        let t = build_task_info(
            &s,
            &LaunchTarget {
                task_id: TaskId::new("prod_web.4"),
                agent_id: AgentId::new("a1"),
                hostname: "h",
                host_ports: &[31002, 31009],
                allocation_role: None,
            },
        );
        let c = t.container.unwrap_or_default();
        assert_eq!(c["docker"]["port_mappings"][0]["host_port"], 31002);
        assert_eq!(c["docker"]["port_mappings"][1]["host_port"], 31009);
    }

    #[test]
    fn container_passes_through() {
        let mut s = spec();
        s.container = Some(serde_json::json!({"type": "DOCKER", "docker": {"image": "nginx:1"}}));
        let t = build_task_info(
            &s,
            &LaunchTarget {
                task_id: TaskId::new("prod_web.3"),
                agent_id: AgentId::new("a1"),
                hostname: "h",
                host_ports: &[],
                allocation_role: None,
            },
        );
        assert_eq!(
            t.container, s.container,
            "nothing to fill without port mappings"
        );
        assert_eq!(env_of(&t)["MARATHON_APP_DOCKER_IMAGE"], "nginx:1");
        assert!(!env_of(&t).contains_key("PORT"));
    }

    fn launch(s: &RunSpec) -> TaskInfo {
        build_task_info(
            s,
            &LaunchTarget {
                task_id: TaskId::new("prod_web.7"),
                agent_id: AgentId::new("a1"),
                hostname: "h",
                host_ports: &[31005],
                allocation_role: None,
            },
        )
    }

    /// The TaskInfo container of an app as posted: normalized, made a
    /// RunSpec, launched.
    fn posted_container(posted: serde_json::Value) -> serde_json::Value {
        let mut app: crate::model::AppDefinition = match serde_json::from_value(posted) {
            Ok(a) => a,
            Err(e) => panic!("{e}"),
        };
        app.normalize(&crate::model::PathId::parse("/"), "*");
        let s = crate::runtime::convert::run_spec(&app);
        launch(&s).container.unwrap_or_default()
    }

    /// The whole path: an app as posted (legacy `docker.network`), its
    /// normalized form, the RunSpec, the TaskInfo.
    #[test]
    fn a_posted_bridge_app_launches_on_dockers_bridge() {
        let posted = serde_json::json!({"id": "/web", "cmd": "nginx", "container": {
            "type": "DOCKER",
            "docker": {"image": "nginx:1", "network": "BRIDGE",
                       "portMappings": [{"containerPort": 80, "hostPort": 0}]}}});
        let c = posted_container(posted);
        assert_eq!(c["docker"]["network"], "BRIDGE", "{c}");
        assert_eq!(c["docker"]["port_mappings"][0]["container_port"], 80);
        assert_eq!(c["docker"]["port_mappings"][0]["host_port"], 31005);
    }

    /// The whole path for a MESOS app on a named container network: the
    /// network reaches the TaskInfo with its port mapping's host port.
    #[test]
    fn a_posted_mesos_app_on_a_container_network_names_it_on_the_task() {
        let posted = serde_json::json!({"id": "/web", "cmd": "httpd", "container": {
            "type": "MESOS", "docker": {"image": "bb:1"},
            "portMappings": [{"containerPort": 80, "hostPort": 0}]},
            "networks": [{"mode": "container", "name": "h2net"}]});
        let c = posted_container(posted);
        assert_eq!(c["type"], "MESOS", "{c}");
        assert_eq!(c["network_infos"][0]["name"], "h2net", "{c}");
        let m = &c["network_infos"][0]["port_mappings"][0];
        assert_eq!(m["container_port"], 80, "{c}");
        assert_eq!(m["host_port"], 31005, "{c}");
        assert_eq!(c["mesos"]["image"]["docker"]["name"], "bb:1");
    }

    #[test]
    fn the_unified_containerizers_image_is_in_the_environment() {
        let mut s = spec();
        s.container = Some(serde_json::json!({"type": "MESOS",
            "mesos": {"image": {"type": "DOCKER", "docker": {"name": "127.0.0.1:5000/bb:1"}}}}));
        let t = build_task_info(
            &s,
            &LaunchTarget {
                task_id: TaskId::new("prod_web.5"),
                agent_id: AgentId::new("a1"),
                hostname: "h",
                host_ports: &[],
                allocation_role: None,
            },
        );
        assert_eq!(
            env_of(&t)["MARATHON_APP_DOCKER_IMAGE"],
            "127.0.0.1:5000/bb:1"
        );
        assert_eq!(t.container, s.container);
        // A MESOS container without an image (volumes only) sets nothing.
        s.container = Some(serde_json::json!({"type": "MESOS", "volumes": []}));
        let t = build_task_info(
            &s,
            &LaunchTarget {
                task_id: TaskId::new("prod_web.6"),
                agent_id: AgentId::new("a1"),
                hostname: "h",
                host_ports: &[],
                allocation_role: None,
            },
        );
        assert!(!env_of(&t).contains_key("MARATHON_APP_DOCKER_IMAGE"));
    }
}
