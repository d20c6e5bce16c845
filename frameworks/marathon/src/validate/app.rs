//! The rules of an app definition and of a whole group tree. Input is a normalized app
//! (see `AppDefinition::normalize`), so ids are absolute and defaults are filled.

use super::Violation;
use crate::model::{
    AppDefinition, Group, PathId, UnreachableStrategy, HEALTH_PROTOCOLS, RESERVED_SEGMENTS,
    SEGMENT_PATTERN,
};
use std::collections::BTreeSet;

/// Marathon's executor pattern.
const EXECUTOR_PATTERN: &str = r"^(|\/\/cmd|\/?[^\/]+(\/[^\/]+)*)$";

const CMD_ARGS_CONTAINER: &str =
    "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.";
const PORT_INDEX: &str =
    "Health check port indices must address an element of the ports array or container port mappings.";

fn min<T: PartialOrd + std::fmt::Display>(out: &mut Vec<Violation>, path: &str, v: T, lo: T) {
    if v < lo {
        out.push(Violation::new(
            path,
            format!("got {v}, expected {lo} or more"),
        ));
    }
}

fn fmt_f(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        v.to_string()
    }
}

fn minf(out: &mut Vec<Violation>, path: &str, v: f64, lo: f64) {
    if v.is_nan() || v < lo {
        out.push(Violation::new(
            path,
            format!("got {}, expected {} or more", fmt_f(v), fmt_f(lo)),
        ));
    }
}

fn one_of(out: &mut Vec<Violation>, path: &str, v: &str, allowed: &[&str]) {
    if !allowed.contains(&v) {
        out.push(Violation::new(
            path,
            format!("is not one of ({})", allowed.join(", ")),
        ));
    }
}

/// Problems with an id used as an app id (or a dependency).
pub(crate) fn id_violations(path: &str, id: &PathId, is_app: bool) -> Vec<Violation> {
    let mut out = Vec::new();
    if !id.invalid_segments().is_empty() {
        out.push(Violation::new(
            path,
            format!("must fully match regular expression '{SEGMENT_PATTERN}'"),
        ));
    }
    if is_app {
        if id.is_root() {
            out.push(Violation::new(
                path,
                "Path must contain at least one path element",
            ));
        } else if RESERVED_SEGMENTS.contains(&id.name()) {
            out.push(Violation::new(
                path,
                format!(
                    "must not end with {}",
                    RESERVED_SEGMENTS.map(|s| format!("'{s}'")).join(", ")
                ),
            ));
        }
    }
    out
}

/// Every rule of one app. Paths are relative to the app (`/cpus`); the caller prefixes them
/// when the app sits inside a larger document (`/apps(0)/cpus`).
pub fn validate_app(app: &AppDefinition) -> Vec<Violation> {
    let mut out = id_violations("/id", &app.id, true);

    let cmd = app.cmd.as_deref().is_some_and(|c| !c.is_empty());
    let args = app.args.as_ref().is_some_and(|a| !a.is_empty());
    if !((cmd ^ args) || (!(cmd || args) && app.container.is_some())) {
        out.push(Violation::new("/", CMD_ARGS_CONTAINER));
    }

    min(&mut out, "/instances", app.instances, 0);
    minf(&mut out, "/cpus", app.cpus, 0.0);
    minf(&mut out, "/mem", app.mem, 0.0);
    minf(&mut out, "/disk", app.disk, 0.0);
    min(&mut out, "/gpus", app.gpus, 0);
    min(&mut out, "/backoffSeconds", app.backoff_seconds, 0);
    minf(&mut out, "/backoffFactor", app.backoff_factor, 1.0);
    min(
        &mut out,
        "/maxLaunchDelaySeconds",
        app.max_launch_delay_seconds,
        0,
    );
    if let Some(g) = app.task_kill_grace_period_seconds {
        min(&mut out, "/taskKillGracePeriodSeconds", g, 0);
    }

    match regex::Regex::new(EXECUTOR_PATTERN) {
        Ok(re) if !re.is_match(&app.executor) => out.push(Violation::new(
            "/executor",
            format!("must fully match regular expression '{EXECUTOR_PATTERN}'"),
        )),
        _ => {}
    }

    upgrade_strategy(app, &mut out);

    for (i, c) in app.constraints.iter().enumerate() {
        if let Err(msg) = c.parse() {
            out.push(Violation::new(format!("/constraints({i})"), msg));
        }
    }

    ports(app, &mut out);
    health_checks(app, &mut out);
    readiness_checks(app, &mut out);

    if let UnreachableStrategy::Enabled {
        inactive_after_seconds,
        expunge_after_seconds,
    } = app.unreachable_strategy
    {
        min(
            &mut out,
            "/unreachableStrategy/inactiveAfterSeconds",
            inactive_after_seconds,
            0,
        );
        min(
            &mut out,
            "/unreachableStrategy/expungeAfterSeconds",
            expunge_after_seconds,
            0,
        );
        if inactive_after_seconds > expunge_after_seconds {
            out.push(Violation::new(
                "/unreachableStrategy",
                "inactiveAfterSeconds must be less or equal to expungeAfterSeconds",
            ));
        }
    }

    for (i, d) in app.dependencies.iter().enumerate() {
        out.extend(id_violations(&format!("/dependencies({i})"), d, false));
    }

    for (i, f) in app.fetch.iter().enumerate() {
        if f.uri.is_empty() {
            out.push(Violation::new(
                format!("/fetch({i})/uri"),
                "must not be empty",
            ));
        } else if f.uri.len() > 1024 {
            out.push(Violation::new(
                format!("/fetch({i})/uri"),
                format!("got {} characters, expected 1024 or fewer", f.uri.len()),
            ));
        }
    }

    for (name, v) in &app.env {
        if let crate::model::EnvValue::Secret { secret } = v {
            if !app.secrets.contains_key(secret) {
                out.push(Violation::new(
                    format!("/env/{name}"),
                    format!("references an undefined secret named '{secret}'"),
                ));
            }
        }
    }

    if let Some(roles) = &app.accepted_resource_roles {
        for (i, r) in roles.iter().enumerate() {
            if !role_is_valid(r) {
                out.push(Violation::new(
                    format!("/acceptedResourceRoles({i})"),
                    format!("'{r}' is not a valid role"),
                ));
            }
        }
    }
    if let Some(r) = &app.role {
        if !role_is_valid(r) {
            out.push(Violation::new(
                "/role",
                format!("'{r}' is not a valid role"),
            ));
        }
    }

    networks(app, &mut out);
    container(app, &mut out);
    out
}

/// Mesos role names: `*`, or non-empty, not `.`/`..`, no leading `-`, no `/` at the ends,
/// no whitespace or `//`.
fn role_is_valid(r: &str) -> bool {
    r == "*"
        || (!r.is_empty()
            && r != "."
            && r != ".."
            && !r.starts_with('-')
            && !r.starts_with('/')
            && !r.ends_with('/')
            && !r.contains("//")
            && !r.contains('*')
            && !r.chars().any(|c| c.is_whitespace() || c.is_control()))
}

fn upgrade_strategy(app: &AppDefinition, out: &mut Vec<Violation>) {
    let u = app.upgrade_strategy;
    for (name, v) in [
        ("minimumHealthCapacity", u.minimum_health_capacity),
        ("maximumOverCapacity", u.maximum_over_capacity),
    ] {
        let path = format!("/upgradeStrategy/{name}");
        if v.is_nan() || v < 0.0 {
            out.push(Violation::new(path, "is less than 0"));
        } else if v > 1.0 {
            out.push(Violation::new(path, "is greater than 1"));
        }
    }
    if app.is_resident() && u.maximum_over_capacity != 0.0 {
        out.push(Violation::new(
            "/upgradeStrategy/maximumOverCapacity",
            "got ".to_string()
                + &fmt_f(u.maximum_over_capacity)
                + ", expected 0.0 for resident apps",
        ));
    }
}

fn port_in_range(out: &mut Vec<Violation>, path: String, p: i64) {
    if !(0..=65535).contains(&p) {
        out.push(Violation::new(
            path,
            format!("got {p}, expected between 0 and 65535"),
        ));
    }
}

fn ports(app: &AppDefinition, out: &mut Vec<Violation>) {
    let defs = app.port_definitions();
    let mut names = BTreeSet::new();
    let mut numbers = BTreeSet::new();
    for (i, d) in defs.iter().enumerate() {
        port_in_range(out, format!("/portDefinitions({i})/port"), d.port);
        one_of(
            out,
            &format!("/portDefinitions({i})/protocol"),
            &d.protocol,
            &["tcp", "udp", "udp,tcp"],
        );
        if let Some(n) = &d.name {
            if !names.insert(n.clone()) {
                out.push(Violation::new(
                    "/portDefinitions",
                    "Port names must be unique.",
                ));
            }
        }
        if d.port != 0 && !numbers.insert(d.port) {
            out.push(Violation::new("/portDefinitions", "Ports must be unique."));
        }
    }
    for (i, m) in app.port_mappings().iter().enumerate() {
        let p = format!("/container/portMappings({i})");
        port_in_range(out, format!("{p}/containerPort"), m.container_port);
        if let Some(h) = m.host_port {
            port_in_range(out, format!("{p}/hostPort"), h);
        }
        port_in_range(out, format!("{p}/servicePort"), m.service_port);
        one_of(
            out,
            &format!("{p}/protocol"),
            &m.protocol,
            &["tcp", "udp", "udp,tcp"],
        );
    }
}

fn health_checks(app: &AppDefinition, out: &mut Vec<Violation>) {
    let host_ports = app.host_port_count() as i64;
    for (i, hc) in app.health_checks.iter().enumerate() {
        let p = format!("/healthChecks({i})");
        one_of(
            out,
            &format!("{p}/protocol"),
            &hc.protocol,
            &HEALTH_PROTOCOLS,
        );
        let command = hc.protocol == "COMMAND";
        if command && hc.command.as_ref().is_none_or(|c| c.value.is_empty()) {
            out.push(Violation::new(
                format!("{p}/command"),
                "must be defined for COMMAND health checks",
            ));
        }
        if !command && hc.command.is_some() {
            out.push(Violation::new(
                format!("{p}/command"),
                "is only allowed for COMMAND health checks",
            ));
        }
        if hc.path.is_some() && !hc.is_http() && HEALTH_PROTOCOLS.contains(&hc.protocol.as_str()) {
            out.push(Violation::new(
                format!("{p}/path"),
                "is only allowed for HTTP, HTTPS, MESOS_HTTP and MESOS_HTTPS health checks",
            ));
        }
        if hc.port.is_some() && hc.port_index.is_some() {
            out.push(Violation::new(
                p.clone(),
                "Health check must specify either port or portIndex, not both",
            ));
        }
        if let Some(port) = hc.port {
            port_in_range(out, format!("{p}/port"), port);
        }
        if !command {
            if let Some(idx) = hc.port_index {
                if idx < 0 || idx >= host_ports.max(app.port_mappings().len() as i64) {
                    out.push(Violation::new(p.clone(), PORT_INDEX));
                }
            }
        }
        min(
            out,
            &format!("{p}/gracePeriodSeconds"),
            hc.grace_period_seconds,
            0,
        );
        min(out, &format!("{p}/intervalSeconds"), hc.interval_seconds, 1);
        min(out, &format!("{p}/timeoutSeconds"), hc.timeout_seconds, 1);
        min(
            out,
            &format!("{p}/maxConsecutiveFailures"),
            hc.max_consecutive_failures,
            0,
        );
        min(out, &format!("{p}/delaySeconds"), hc.delay_seconds, 0);
        if let Some(ip) = &hc.ip_protocol {
            one_of(out, &format!("{p}/ipProtocol"), ip, &["IPv4", "IPv6"]);
        }
        if hc.ignore_http1xx.is_some()
            && !hc.is_http()
            && HEALTH_PROTOCOLS.contains(&hc.protocol.as_str())
        {
            out.push(Violation::new(
                format!("{p}/ignoreHttp1xx"),
                "is only allowed for HTTP health checks",
            ));
        }
    }
}

fn readiness_checks(app: &AppDefinition, out: &mut Vec<Violation>) {
    if app.readiness_checks.len() > 1 {
        out.push(Violation::new(
            "/readinessChecks",
            "Only one readiness check is supported",
        ));
    }
    let names: BTreeSet<&str> = app
        .port_definitions()
        .iter()
        .filter_map(|d| d.name.as_deref())
        .collect();
    let mapping_names: BTreeSet<&str> = app
        .port_mappings()
        .iter()
        .filter_map(|m| m.name.as_deref())
        .collect();
    for (i, rc) in app.readiness_checks.iter().enumerate() {
        let p = format!("/readinessChecks({i})");
        one_of(
            out,
            &format!("{p}/protocol"),
            &rc.protocol,
            &["HTTP", "HTTPS"],
        );
        if rc.name.is_empty() {
            out.push(Violation::new(format!("{p}/name"), "must not be empty"));
        }
        min(out, &format!("{p}/intervalSeconds"), rc.interval_seconds, 1);
        min(out, &format!("{p}/timeoutSeconds"), rc.timeout_seconds, 1);
        if rc.timeout_seconds >= rc.interval_seconds {
            out.push(Violation::new(
                p.clone(),
                "timeoutSeconds must be less than intervalSeconds",
            ));
        }
        if !names.contains(rc.port_name.as_str()) && !mapping_names.contains(rc.port_name.as_str())
        {
            out.push(Violation::new(
                format!("{p}/portName"),
                "The given portName must be the name of a port definition or port mapping",
            ));
        }
        if rc.http_status_codes_for_ready.is_empty() {
            out.push(Violation::new(
                format!("{p}/httpStatusCodesForReady"),
                "must not be empty",
            ));
        }
    }
}

fn networks(app: &AppDefinition, out: &mut Vec<Violation>) {
    for (i, n) in app.networks.iter().enumerate() {
        one_of(
            out,
            &format!("/networks({i})/mode"),
            &n.mode,
            &["host", "container", "container/bridge"],
        );
        // No default network name here (Marathon's --default_network_name):
        // a nameless container network would run on the host's.
        if n.mode == "container" && n.name.as_deref().is_none_or(|s| s.trim().is_empty()) {
            out.push(Violation::new(
                format!("/networks({i})/name"),
                "a container network needs a name (the agent's CNI network, or Docker's user network)",
            ));
        }
    }
    let host = app.networks.iter().filter(|n| n.mode == "host").count();
    if host > 0 && app.networks.len() > 1 {
        out.push(Violation::new(
            "/networks",
            "Host networks may not have more than one network",
        ));
    }
    if app
        .networks
        .iter()
        .filter(|n| n.mode == "container/bridge")
        .count()
        > 0
        && app.networks.len() > 1
    {
        out.push(Violation::new(
            "/networks",
            "Bridge networking may not be combined with other networks",
        ));
    }
}

fn container(app: &AppDefinition, out: &mut Vec<Violation>) {
    let Some(c) = &app.container else { return };
    one_of(out, "/container/type", &c.kind, &["DOCKER", "MESOS"]);
    match &c.docker {
        Some(d) if d.image.trim().is_empty() => out.push(Violation::new(
            "/container/docker/image",
            "must not be empty",
        )),
        None if c.kind == "DOCKER" => {
            out.push(Violation::new("/container/docker", "must not be empty"))
        }
        _ => {}
    }
    if let Some(pull) = c.docker.as_ref().and_then(|d| d.pull_config.as_ref()) {
        pull_config(app, &c.kind, pull, out);
    }
    for (i, v) in c.volumes.iter().enumerate() {
        let p = format!("/container/volumes({i})");
        if v.container_path.is_empty() {
            out.push(Violation::new(
                format!("{p}/containerPath"),
                "must not be empty",
            ));
        }
        one_of(out, &format!("{p}/mode"), &v.mode, &["RO", "RW"]);
    }
}

/// `container.docker.pullConfig: {"secret": NAME}`: NAME must be one of the
/// app's `secrets`, and only the Mesos containerizer pulls with it.
fn pull_config(
    app: &AppDefinition,
    kind: &str,
    pull: &serde_json::Value,
    out: &mut Vec<Violation>,
) {
    let path = "/container/docker/pullConfig";
    let secret = pull.get("secret");
    match secret.and_then(serde_json::Value::as_str) {
        _ if !pull.is_object() => out.push(Violation::new(path, "must be an object with a secret")),
        None if secret.is_none() => out.push(Violation::new(
            format!("{path}/secret"),
            "container.docker.pullConfig.secret must name one of the app's secrets",
        )),
        None => out.push(Violation::new(
            format!("{path}/secret"),
            "container.docker.pullConfig.secret must be a string",
        )),
        Some(name) if !app.secrets.contains_key(name) => out.push(Violation::new(
            format!("{path}/secret"),
            format!(
                "container.docker.pullConfig.secret references an undefined secret named '{name}'"
            ),
        )),
        Some(_) if kind == "DOCKER" => out.push(Violation::new(
            path,
            "pullConfig is not supported with Docker containerizer",
        )),
        Some(_) => {}
    }
}

/// Rules across a whole tree: app ids must not collide with group ids, apps and groups must
/// sit below their group, and dependencies must not form a cycle.
pub fn validate_root(root: &Group) -> Vec<Violation> {
    let mut out = Vec::new();
    let groups: BTreeSet<&PathId> = root
        .transitive_groups()
        .into_iter()
        .map(|g| &g.id)
        .collect();
    for app in root.transitive_apps() {
        if groups.contains(&app.id) {
            out.push(Violation::new(
                "/",
                format!(
                    "Groups and Applications may not have the same identifier: {}",
                    app.id
                ),
            ));
        }
    }
    for g in root.transitive_groups() {
        for child in g.groups.keys() {
            if !child.is_child_of(&g.id) {
                out.push(Violation::new(
                    "/groups",
                    format!("Identifier is not child of '{}'", g.id),
                ));
            }
        }
        for id in g.apps.keys() {
            if !(id.is_child_of(&g.id) && id.segments().len() == g.id.segments().len() + 1) {
                out.push(Violation::new(
                    "/apps",
                    format!("Identifier is not child of '{}'", g.id),
                ));
            }
        }
    }
    if root.dependency_cycle().is_some() {
        out.push(Violation::new(
            "/",
            "Dependency graph has cyclic dependencies.",
        ));
    }
    out
}
