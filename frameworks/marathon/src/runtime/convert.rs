//! Translations between the API's model and the core: app definitions into
//! [`RunSpec`]s (with the Mesos `ContainerInfo` built from Marathon's
//! container JSON), and the core's instances, failures and deployments into
//! the API's views.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::core::deployment::Deployment;
use crate::core::instance::{Instance, ReadinessResult};
use crate::core::plan::Step;
use crate::core::spec::{
    BackoffStrategy, FetchSpec, HealthCheckSpec, HealthProtocol, KillSelection, PortSpec,
    ReadinessCheckSpec, RunSpec, UnreachableStrategy, UpgradeStrategy,
};
use crate::core::TaskFailure;
use crate::launch::constraints::Constraint;
use crate::model::{
    self, AppDefinition, CurrentAction, DeploymentAction, DeploymentStep, DeploymentView, EnvValue,
    Group, HealthResult, IpAddress, PathId, ReadinessCheckResult, ReadinessResponse, TaskView,
    Timestamp,
};

fn nonneg(v: i64) -> u64 {
    v.max(0) as u64
}

/// Every app of the tree as a RunSpec, keyed by id. Group dependencies
/// apply to every app below the group.
pub fn run_specs(root: &Group) -> BTreeMap<String, RunSpec> {
    let mut out = BTreeMap::new();
    collect(root, &[], &mut out);
    out
}

fn collect(g: &Group, inherited: &[String], out: &mut BTreeMap<String, RunSpec>) {
    let mut deps: Vec<String> = inherited.to_vec();
    deps.extend(g.dependencies.iter().map(|d| d.to_string()));
    for app in g.apps.values() {
        let mut spec = run_spec(app);
        for d in &deps {
            if !spec.dependencies.contains(d) {
                spec.dependencies.push(d.clone());
            }
        }
        out.insert(spec.id.clone(), spec);
    }
    for sub in g.groups.values() {
        collect(sub, &deps, out);
    }
}

fn protocol(p: &str) -> HealthProtocol {
    match p.to_ascii_uppercase().as_str() {
        "HTTPS" => HealthProtocol::Https,
        "TCP" => HealthProtocol::Tcp,
        "COMMAND" => HealthProtocol::Command,
        "MESOS_HTTP" => HealthProtocol::MesosHttp,
        "MESOS_HTTPS" => HealthProtocol::MesosHttps,
        "MESOS_TCP" => HealthProtocol::MesosTcp,
        "MESOS_COMMAND" => HealthProtocol::MesosCommand,
        _ => HealthProtocol::Http,
    }
}

/// One app definition as the scheduler sees it.
pub fn run_spec(app: &AppDefinition) -> RunSpec {
    let id = app.id.to_string();
    let version = app.version.to_string();
    let mut spec = RunSpec::new(id, version);
    spec.config_version = app.version_info().last_config_change_at.to_string();
    spec.instances = app.instances.clamp(0, i64::from(u32::MAX)) as u32;
    spec.cpus = app.cpus;
    spec.mem = app.mem;
    spec.disk = app.disk;
    spec.gpus = app.gpus.max(0) as f64;
    spec.cmd = app.cmd.clone().filter(|c| !c.is_empty());
    spec.args = app.args.clone().unwrap_or_default();
    spec.env = app
        .env
        .iter()
        .filter_map(|(k, v)| match v {
            EnvValue::Value(s) => Some((k.clone(), s.clone())),
            EnvValue::Secret { .. } => None,
        })
        .collect();
    spec.labels = app.labels.clone();
    spec.port_definitions = if app.host_networking() {
        app.port_definitions()
            .iter()
            .map(|d| PortSpec {
                port: d.port.clamp(0, 65535) as u32,
                host_port: None,
                protocol: d.protocol.clone(),
                name: d.name.clone(),
                labels: d.labels.clone(),
            })
            .collect()
    } else {
        app.port_mappings()
            .iter()
            .filter(|m| m.host_port.is_some())
            .map(|m| PortSpec {
                port: m.service_port.clamp(0, 65535) as u32,
                host_port: m
                    .host_port
                    .filter(|p| *p > 0)
                    .map(|p| p.clamp(0, 65535) as u32),
                protocol: m.protocol.clone(),
                name: m.name.clone(),
                labels: m.labels.clone(),
            })
            .collect()
    };
    spec.require_ports = app.require_ports;
    spec.constraints = app
        .constraints
        .iter()
        .filter_map(|c| Constraint::parse(&c.0).ok())
        .collect();
    spec.health_checks = app
        .health_checks
        .iter()
        .map(|h| HealthCheckSpec {
            protocol: protocol(&h.protocol),
            grace_period_seconds: nonneg(h.grace_period_seconds),
            interval_seconds: nonneg(h.interval_seconds),
            timeout_seconds: nonneg(h.timeout_seconds),
            max_consecutive_failures: h.max_consecutive_failures.clamp(0, i64::from(u32::MAX))
                as u32,
            port_index: h.port_index.map(|i| i.max(0) as usize),
            port: h.port.filter(|p| *p > 0).map(|p| p.clamp(0, 65535) as u32),
            path: h.path.clone(),
            ignore_http1xx: h.ignore_http1xx.unwrap_or(false),
            command: h.command.as_ref().map(|c| c.value.clone()),
            raw: serde_json::to_value(h).unwrap_or(Value::Null),
        })
        .collect();
    spec.readiness_checks = app
        .readiness_checks
        .iter()
        .map(|r| ReadinessCheckSpec {
            name: r.name.clone(),
            https: r.protocol.eq_ignore_ascii_case("HTTPS"),
            path: r.path.clone(),
            port_name: r.port_name.clone(),
            interval_seconds: nonneg(r.interval_seconds),
            timeout_seconds: nonneg(r.timeout_seconds),
            http_status_codes_for_ready: r.http_status_codes_for_ready.clone(),
            preserve_last_response: r.preserve_last_response,
        })
        .collect();
    spec.upgrade_strategy = UpgradeStrategy {
        minimum_health_capacity: app.upgrade_strategy.minimum_health_capacity,
        maximum_over_capacity: app.upgrade_strategy.maximum_over_capacity,
    };
    spec.backoff = BackoffStrategy {
        backoff_seconds: app.backoff_seconds.max(0) as f64,
        backoff_factor: app.backoff_factor,
        max_launch_delay_seconds: app.max_launch_delay_seconds.max(0) as f64,
    };
    spec.kill_selection = match app.kill_selection {
        model::KillSelection::YoungestFirst => KillSelection::YoungestFirst,
        model::KillSelection::OldestFirst => KillSelection::OldestFirst,
    };
    spec.task_kill_grace_period_seconds = app.task_kill_grace_period_seconds.map(nonneg);
    spec.unreachable_strategy = match app.unreachable_strategy {
        model::UnreachableStrategy::Disabled => UnreachableStrategy::Disabled,
        model::UnreachableStrategy::Enabled {
            inactive_after_seconds,
            expunge_after_seconds,
        } => UnreachableStrategy::Enabled {
            inactive_after_seconds: nonneg(inactive_after_seconds),
            expunge_after_seconds: nonneg(expunge_after_seconds),
        },
    };
    spec.dependencies = app.dependencies.iter().map(|d| d.to_string()).collect();
    spec.user = app.user.clone();
    spec.fetch = app
        .fetch
        .iter()
        .map(|f| FetchSpec {
            uri: f.uri.clone(),
            extract: f.extract,
            executable: f.executable,
            cache: f.cache,
            dest_path: f.dest_path.clone(),
        })
        .chain(app.uris.iter().map(|u| FetchSpec {
            uri: u.clone(),
            extract: true,
            executable: false,
            cache: false,
            dest_path: None,
        }))
        .collect();
    spec.container = app
        .container
        .as_ref()
        .and_then(|c| serde_json::to_value(c).ok())
        .map(|c| container_info(&c, &app.networks));
    if let Some(info) = spec.container.as_mut() {
        pull_config_secret(app, info);
    }
    spec.accepted_resource_roles = app.accepted_resource_roles.clone().unwrap_or_default();
    // Everything else that is configuration: a change restarts the app.
    let mut opaque = serde_json::to_value(app).unwrap_or(Value::Null);
    if let Some(o) = opaque.as_object_mut() {
        for k in ["instances", "version", "versionInfo"] {
            o.remove(k);
        }
    }
    spec.opaque = opaque;
    spec
}

fn str_field<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// `container.docker.pullConfig: {"secret": NAME}` → the image's Mesos
/// `Image.Docker.config`: a REFERENCE secret named by the app's
/// `secrets[NAME].source` (validation makes sure NAME exists), which the
/// agent resolves under its `--secrets-dir`.
fn pull_config_secret(app: &AppDefinition, info: &mut Value) {
    let name = app
        .container
        .as_ref()
        .and_then(|c| c.docker.as_ref())
        .and_then(|d| d.pull_config.as_ref())
        .and_then(|p| p.get("secret"))
        .and_then(Value::as_str);
    let source = name
        .and_then(|n| app.secrets.get(n))
        .and_then(|s| s.get("source"))
        .and_then(Value::as_str);
    if let (Some(source), Some(docker)) = (source, info.pointer_mut("/mesos/image/docker")) {
        docker["config"] = json!({"type": "REFERENCE", "reference": {"name": source}});
    }
}

/// The CNI network Marathon puts a MESOS container in `container/bridge`
/// mode on (Marathon's `--mesos_bridge_name` default).
pub const MESOS_BRIDGE_NETWORK: &str = "mesos-bridge";

/// The app's `networks` (Marathon 1.5+; legacy `docker.network` and
/// `ipAddress` are folded into them by the model) on the ContainerInfo:
/// - DOCKER: `container/bridge` → Docker's `BRIDGE`; `container` →
///   `USER` with the network's name in `network_infos`; `host` (the
///   default) leaves `HOST`;
/// - MESOS: every `container` network becomes a `network_infos` entry
///   with its name, `container/bridge` the [`MESOS_BRIDGE_NETWORK`] one,
///   each with the `portMappings` that have a host port and name that
///   network (or none), as Marathon does; the agent's CNI isolator joins
///   them. Host networking adds nothing.
fn with_networks(info: &mut Value, c: &Value, networks: &[model::Network]) {
    let first = networks.first();
    if info["type"] == "DOCKER" {
        let docker_network = match first.map(|n| n.mode.as_str()) {
            Some("container/bridge") => "BRIDGE",
            Some("container") => "USER",
            _ => return,
        };
        info["docker"]["network"] = Value::from(docker_network);
        if let Some(name) = first.and_then(|n| n.name.as_deref()) {
            if docker_network == "USER" {
                info["network_infos"] = json!([{ "name": name }]);
            }
        }
        return;
    }
    let mappings = c
        .get("portMappings")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let infos: Vec<Value> = networks
        .iter()
        .filter_map(|n| match n.mode.as_str() {
            "container" => n.name.clone().map(|name| (name, true)),
            "container/bridge" => Some((MESOS_BRIDGE_NETWORK.to_string(), false)),
            _ => None,
        })
        .map(|(name, named)| {
            let ports: Vec<Value> = mappings
                .iter()
                .filter(|m| m.get("hostPort").is_some_and(|h| !h.is_null()))
                .filter(|m| {
                    let on: Vec<&str> = m
                        .get("networkNames")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    on.is_empty() || !named || on.contains(&name.as_str())
                })
                .map(|m| {
                    json!({
                        "host_port": m.get("hostPort").and_then(Value::as_u64).unwrap_or(0),
                        "container_port": m.get("containerPort").and_then(Value::as_u64).unwrap_or(0),
                        "protocol": str_field(m, "protocol").unwrap_or("tcp"),
                    })
                })
                .collect();
            let mut v = json!({ "name": name });
            if !ports.is_empty() {
                v["port_mappings"] = Value::Array(ports);
            }
            v
        })
        .collect();
    if !infos.is_empty() {
        info["network_infos"] = Value::Array(infos);
    }
}

/// Marathon's container JSON (and the app's `networks`) → a Mesos v1
/// `ContainerInfo`.
pub fn container_info(c: &Value, networks: &[model::Network]) -> Value {
    let kind = str_field(c, "type").unwrap_or("MESOS").to_ascii_uppercase();
    let volumes: Vec<Value> = c
        .get("volumes")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter_map(|v| {
                    let container_path = str_field(v, "containerPath")?;
                    let mut out = json!({
                        "container_path": container_path,
                        "mode": str_field(v, "mode").unwrap_or("RW").to_ascii_uppercase(),
                    });
                    if let Some(h) = str_field(v, "hostPath") {
                        out["host_path"] = Value::from(h);
                    }
                    Some(out)
                })
                .collect()
        })
        .unwrap_or_default();
    let image = c
        .pointer("/docker/image")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut info = json!({ "type": kind, "volumes": volumes });
    if kind == "DOCKER" {
        let docker = c.get("docker").cloned().unwrap_or(Value::Null);
        let network = str_field(&docker, "network")
            .unwrap_or("HOST")
            .to_ascii_uppercase();
        let parameters: Vec<Value> = docker
            .get("parameters")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .map(|p| json!({"key": str_field(p, "key").unwrap_or(""), "value": str_field(p, "value").unwrap_or("")}))
                    .collect()
            })
            .unwrap_or_default();
        let mappings: Vec<Value> = c
            .get("portMappings")
            .or_else(|| docker.get("portMappings"))
            .and_then(Value::as_array)
            .map(|ms| {
                ms.iter()
                    .filter(|m| m.get("hostPort").is_some_and(|h| !h.is_null()))
                    .map(|m| {
                        json!({
                            "host_port": m.get("hostPort").and_then(Value::as_u64).unwrap_or(0),
                            "container_port": m.get("containerPort").and_then(Value::as_u64).unwrap_or(0),
                            "protocol": str_field(m, "protocol").unwrap_or("tcp"),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        info["docker"] = json!({
            "image": image,
            "network": network,
            "privileged": docker.get("privileged").and_then(Value::as_bool).unwrap_or(false),
            "force_pull_image": docker.get("forcePullImage").and_then(Value::as_bool).unwrap_or(false),
            "parameters": parameters,
            "port_mappings": mappings,
        });
    } else if !image.is_empty() {
        let mut image = json!({"type": "DOCKER", "docker": {"name": image}});
        // Marathon's forcePullImage on a MESOS container: pull again.
        if c.pointer("/docker/forcePullImage").and_then(Value::as_bool) == Some(true) {
            image["cached"] = Value::from(false);
        }
        info["mesos"] = json!({ "image": image });
    }
    with_networks(&mut info, c, networks);
    info
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap_or(Timestamp::ZERO)
}

fn readiness_view(task_id: &str, r: &ReadinessResult) -> ReadinessCheckResult {
    ReadinessCheckResult {
        name: r.name.clone(),
        task_id: task_id.to_string(),
        ready: r.ready,
        last_response: r
            .last_response
            .as_ref()
            .map(|(status, content_type, body)| ReadinessResponse {
                status: *status,
                content_type: content_type.clone(),
                body: body.clone(),
            }),
    }
}

pub fn readiness_results(instances: &[&Instance]) -> Vec<ReadinessCheckResult> {
    instances
        .iter()
        .filter_map(|i| i.readiness.as_ref().map(|r| readiness_view(&i.task_id, r)))
        .collect()
}

/// An instance as `/v2/tasks` shows it.
pub fn task_view(i: &Instance) -> TaskView {
    TaskView {
        id: i.task_id.clone(),
        app_id: PathId::parse(&i.app_id),
        host: i.place.hostname.clone(),
        ports: i.host_ports.clone(),
        service_ports: i.service_ports.clone(),
        slave_id: i.agent_id.value.clone(),
        staged_at: Some(i.staged_at),
        started_at: i.started_at,
        version: ts(&i.version),
        state: i.state.as_str().to_string(),
        ip_addresses: i
            .ip_addresses
            .iter()
            .map(|ip| IpAddress {
                ip_address: ip.clone(),
                protocol: if ip.contains(':') { "IPv6" } else { "IPv4" }.to_string(),
            })
            .collect(),
        health_check_results: i
            .health
            .iter()
            .flatten()
            .map(|h| HealthResult {
                alive: h.alive(),
                consecutive_failures: h.consecutive_failures,
                first_success: h.first_success,
                last_failure: h.last_failure,
                last_success: h.last_success,
                last_failure_cause: h.last_failure_cause.clone(),
                instance_id: i.task_id.clone(),
            })
            .collect(),
        local_volumes: Vec::new(),
        region: i.place.region.clone(),
        zone: i.place.zone.clone(),
        role: Some("*".to_string()),
    }
}

pub fn task_failure(f: &TaskFailure) -> model::TaskFailure {
    model::TaskFailure {
        app_id: PathId::parse(&f.app_id),
        host: f.host.clone(),
        message: f.message.clone(),
        state: f.state.clone(),
        task_id: f.task_id.clone(),
        timestamp: f.timestamp,
        version: ts(&f.version),
        slave_id: Some(f.slave_id.clone()),
    }
}

pub fn step_view(step: &Step) -> DeploymentStep {
    DeploymentStep {
        actions: step
            .actions
            .iter()
            .map(|a| DeploymentAction {
                action: a.kind.as_str().to_string(),
                app: PathId::parse(&a.app),
            })
            .collect(),
    }
}

/// A running deployment; `readiness` gives an app's readiness results.
pub fn deployment_view(
    d: &Deployment,
    readiness: &dyn Fn(&str) -> Vec<ReadinessCheckResult>,
) -> DeploymentView {
    DeploymentView {
        id: d.plan.id.clone(),
        version: d.plan.version,
        affected_apps: d
            .plan
            .affected_apps()
            .iter()
            .map(|a| PathId::parse(a))
            .collect(),
        affected_pods: Vec::new(),
        steps: d.plan.steps.iter().map(step_view).collect(),
        current_actions: d
            .current_actions()
            .iter()
            .map(|a| CurrentAction {
                action: a.kind.as_str().to_string(),
                app: PathId::parse(&a.app),
                readiness_check_results: readiness(&a.app),
            })
            .collect(),
        current_step: (d.current_step + 1).min(d.total_steps().max(1)) as u32,
        total_steps: d.total_steps() as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(json: Value) -> AppDefinition {
        match serde_json::from_value(json) {
            Ok(a) => a,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn an_app_becomes_a_run_spec() {
        let mut a = app(json!({
            "id": "/prod/web",
            "cmd": "python3 -m http.server $PORT0",
            "instances": 3,
            "cpus": 0.5,
            "mem": 64,
            "env": {"A": "1", "S": {"secret": "x"}},
            "labels": {"tier": "fe"},
            "constraints": [["hostname", "UNIQUE"]],
            "portDefinitions": [{"port": 10001, "name": "http"}],
            "healthChecks": [{"protocol": "TCP", "portIndex": 0, "gracePeriodSeconds": 5}],
            "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.2},
            "killSelection": "OLDEST_FIRST",
            "unreachableStrategy": "disabled",
            "dependencies": ["/prod/db"],
            "uris": ["http://x/y.tgz"]
        }));
        a.version = ts("2026-01-01T00:00:00.000Z");
        let s = run_spec(&a);
        assert_eq!(s.id, "/prod/web");
        assert_eq!(s.version, "2026-01-01T00:00:00.000Z");
        assert_eq!(s.config_version, s.version);
        assert_eq!(s.instances, 3);
        assert_eq!(s.cpus, 0.5);
        assert_eq!(s.env.get("A").map(String::as_str), Some("1"));
        assert!(!s.env.contains_key("S"), "secrets are not plain env");
        assert_eq!(s.constraints.len(), 1);
        assert_eq!(s.port_definitions.len(), 1);
        assert_eq!(s.port_definitions[0].port, 10001);
        assert_eq!(s.health_checks[0].protocol, HealthProtocol::Tcp);
        assert_eq!(s.health_checks[0].grace_period_seconds, 5);
        assert_eq!(s.upgrade_strategy.maximum_over_capacity, 0.2);
        assert_eq!(s.kill_selection, KillSelection::OldestFirst);
        assert_eq!(s.unreachable_strategy, UnreachableStrategy::Disabled);
        assert_eq!(s.dependencies, vec!["/prod/db".to_string()]);
        assert_eq!(s.fetch.len(), 1);
        // A scale changes nothing else; a command change does.
        let mut scaled = a.clone();
        scaled.instances = 5;
        assert!(!s.needs_restart(&run_spec(&scaled)));
        let mut changed = a.clone();
        changed.cmd = Some("sleep 1".into());
        assert!(s.needs_restart(&run_spec(&changed)));
    }

    #[test]
    fn a_pull_config_becomes_the_images_reference_secret() {
        let a = app(json!({
            "id": "/p", "cmd": "x",
            "secrets": {"reg": {"source": "/registry/creds"}},
            "container": {"type": "MESOS",
                "docker": {"image": "127.0.0.1:5000/x:1", "pullConfig": {"secret": "reg"}}}
        }));
        let info = run_spec(&a).container.unwrap();
        assert_eq!(
            info["mesos"]["image"]["docker"]["config"],
            json!({"type": "REFERENCE", "reference": {"name": "/registry/creds"}})
        );
        assert_eq!(
            info["mesos"]["image"]["docker"]["name"],
            "127.0.0.1:5000/x:1"
        );
        let plain = app(json!({"id": "/p", "cmd": "x",
            "container": {"type": "MESOS", "docker": {"image": "x"}}}));
        let info = run_spec(&plain).container.unwrap();
        assert!(info["mesos"]["image"]["docker"].get("config").is_none());
    }

    #[test]
    fn docker_containers_become_container_info() {
        let c = json!({
            "type": "DOCKER",
            "docker": {"image": "nginx:1", "network": "BRIDGE", "privileged": true,
                       "parameters": [{"key": "label", "value": "a=b"}], "forcePullImage": true},
            "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}],
            "volumes": [{"containerPath": "/data", "hostPath": "/srv", "mode": "RO"}]
        });
        let info = container_info(&c, &[]);
        assert_eq!(info["type"], "DOCKER");
        assert_eq!(info["docker"]["image"], "nginx:1");
        assert_eq!(info["docker"]["network"], "BRIDGE");
        assert_eq!(info["docker"]["privileged"], true);
        assert_eq!(info["docker"]["force_pull_image"], true);
        assert_eq!(info["docker"]["port_mappings"][0]["container_port"], 80);
        assert_eq!(info["volumes"][0]["host_path"], "/srv");
        assert_eq!(info["volumes"][0]["mode"], "RO");
        let mesos = container_info(
            &json!({"type": "MESOS", "docker": {"image": "alpine"}}),
            &[],
        );
        assert_eq!(mesos["mesos"]["image"]["docker"]["name"], "alpine");
        assert!(mesos["mesos"]["image"].get("cached").is_none());
        assert!(mesos.get("network_infos").is_none(), "host networking");
    }

    fn nets(v: Value) -> Vec<model::Network> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_docker_app_on_a_container_network_is_not_put_on_the_host_network() {
        let c = json!({"type": "DOCKER", "docker": {"image": "nginx:1"},
            "portMappings": [{"containerPort": 80, "hostPort": 0}]});
        let bridge = container_info(&c, &nets(json!([{"mode": "container/bridge"}])));
        assert_eq!(bridge["docker"]["network"], "BRIDGE");
        assert!(bridge.get("network_infos").is_none());
        let user = container_info(&c, &nets(json!([{"mode": "container", "name": "dcos"}])));
        assert_eq!(user["docker"]["network"], "USER");
        assert_eq!(user["network_infos"][0]["name"], "dcos");
        let host = container_info(&c, &nets(json!([{"mode": "host"}])));
        assert_eq!(host["docker"]["network"], "HOST");
        assert_eq!(container_info(&c, &[])["docker"]["network"], "HOST");
    }

    #[test]
    fn a_mesos_app_on_container_networks_names_them_with_their_port_mappings() {
        let c = json!({"type": "MESOS", "docker": {"image": "bb:1"},
        "portMappings": [
            {"containerPort": 80, "hostPort": 0, "networkNames": ["blue"]},
            {"containerPort": 81, "hostPort": 31081},
            {"containerPort": 9000}
        ]});
        let info = container_info(
            &c,
            &nets(json!([{"mode": "container", "name": "blue"},
                         {"mode": "container", "name": "green"}])),
        );
        let infos = info["network_infos"].as_array().unwrap();
        assert_eq!(infos.len(), 2, "{info}");
        assert_eq!(infos[0]["name"], "blue");
        assert_eq!(infos[0]["port_mappings"].as_array().unwrap().len(), 2);
        assert_eq!(infos[0]["port_mappings"][1]["host_port"], 31081);
        assert_eq!(infos[1]["name"], "green");
        assert_eq!(infos[1]["port_mappings"][0]["container_port"], 81);
        assert_eq!(info["mesos"]["image"]["docker"]["name"], "bb:1");
        let bridge = container_info(&c, &nets(json!([{"mode": "container/bridge"}])));
        assert_eq!(bridge["network_infos"][0]["name"], MESOS_BRIDGE_NETWORK);
        assert_eq!(
            bridge["network_infos"][0]["port_mappings"][0]["container_port"],
            80
        );
        let host = container_info(&c, &nets(json!([{"mode": "host"}])));
        assert!(host.get("network_infos").is_none());
    }

    #[test]
    fn force_pull_image_on_a_mesos_container_means_an_uncached_image() {
        let c = json!({"type": "MESOS", "docker": {"image": "bb:1", "forcePullImage": true}});
        let info = container_info(&c, &[]);
        assert_eq!(info["mesos"]["image"]["cached"], false);
        assert_eq!(info["mesos"]["image"]["docker"]["name"], "bb:1");
        let c = json!({"type": "MESOS", "docker": {"image": "bb:1", "forcePullImage": false}});
        assert!(container_info(&c, &[])["mesos"]["image"]
            .get("cached")
            .is_none());
    }

    #[test]
    fn group_dependencies_reach_their_apps() {
        let mut root = Group::empty_root(Timestamp::ZERO);
        let mut back = Group::empty(PathId::parse("/back"), Timestamp::ZERO);
        back.dependencies = vec![PathId::parse("/infra")];
        let db = app(json!({"id": "/back/db", "cmd": "x"}));
        back.apps.insert(db.id.clone(), db);
        root.groups.insert(back.id.clone(), back);
        let specs = run_specs(&root);
        assert_eq!(specs["/back/db"].dependencies, vec!["/infra".to_string()]);
    }
}
