//! The app definition (`AppDefinition` in Marathon): every field of Marathon 1.6–1.10 with its
//! default, read from and written to Marathon's camelCase JSON. Deprecated input forms
//! (`ports`, `uris`, `ipAddress`, `docker.network`, `docker.portMappings`) are read and folded
//! into their current forms by [`AppDefinition::normalize`]; like Marathon, they are never written.

use super::checks::{HealthCheck, Labels, ReadinessCheck};
use super::container::{Container, Network, PortMapping};
use super::{Constraint, PathId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Marathon's default service-port range (`--local_port_min` .. `--local_port_max`).
pub const SERVICE_PORT_MIN: u32 = 10000;
pub const SERVICE_PORT_MAX: u32 = 20000;

/// An environment value: a plain string or a secret reference `{"secret": "name"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EnvValue {
    Value(String),
    Secret { secret: String },
}

/// A `fetch[]` artifact, downloaded into the sandbox before the task starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchUri {
    pub uri: String,
    #[serde(default = "yes")]
    pub extract: bool,
    #[serde(default)]
    pub executable: bool,
    #[serde(default)]
    pub cache: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest_path: Option<String>,
}

fn yes() -> bool {
    true
}

impl FetchUri {
    pub fn new(uri: &str) -> FetchUri {
        FetchUri {
            uri: uri.to_string(),
            extract: true,
            executable: false,
            cache: false,
            dest_path: None,
        }
    }
}

/// A `portDefinitions[]` entry. Port 0 asks for a dynamic host port and an assigned service port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortDefinition {
    #[serde(default)]
    pub port: i64,
    #[serde(default = "tcp")]
    pub protocol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub labels: Labels,
}

fn tcp() -> String {
    "tcp".into()
}

impl PortDefinition {
    pub fn new(port: i64) -> PortDefinition {
        PortDefinition {
            port,
            protocol: tcp(),
            name: None,
            labels: Labels::new(),
        }
    }
}

/// `upgradeStrategy`: how much capacity a rolling deployment keeps and may add.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStrategy {
    #[serde(default = "one")]
    pub minimum_health_capacity: f64,
    #[serde(default = "one")]
    pub maximum_over_capacity: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for UpgradeStrategy {
    fn default() -> Self {
        UpgradeStrategy {
            minimum_health_capacity: 1.0,
            maximum_over_capacity: 1.0,
        }
    }
}

impl UpgradeStrategy {
    /// The default for resident apps (persistent volumes).
    pub const RESIDENT: UpgradeStrategy = UpgradeStrategy {
        minimum_health_capacity: 0.5,
        maximum_over_capacity: 0.0,
    };
}

/// `killSelection`: which instances go first on scale-down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KillSelection {
    #[default]
    YoungestFirst,
    OldestFirst,
}

/// `unreachableStrategy`: `"disabled"` or `{inactiveAfterSeconds, expungeAfterSeconds}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnreachableStrategy {
    Disabled,
    Enabled {
        inactive_after_seconds: i64,
        expunge_after_seconds: i64,
    },
}

impl Default for UnreachableStrategy {
    fn default() -> Self {
        UnreachableStrategy::Enabled {
            inactive_after_seconds: 0,
            expunge_after_seconds: 0,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UnreachableEnabled {
    #[serde(default)]
    inactive_after_seconds: i64,
    #[serde(default)]
    expunge_after_seconds: i64,
}

impl Serialize for UnreachableStrategy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            UnreachableStrategy::Disabled => s.serialize_str("disabled"),
            UnreachableStrategy::Enabled {
                inactive_after_seconds,
                expunge_after_seconds,
            } => UnreachableEnabled {
                inactive_after_seconds,
                expunge_after_seconds,
            }
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for UnreachableStrategy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Word(String),
            Object(UnreachableEnabled),
        }
        match Wire::deserialize(d)? {
            Wire::Word(w) if w.eq_ignore_ascii_case("disabled") => {
                Ok(UnreachableStrategy::Disabled)
            }
            Wire::Word(w) => Err(serde::de::Error::custom(format!(
                "unknown unreachableStrategy '{w}'"
            ))),
            Wire::Object(o) => Ok(UnreachableStrategy::Enabled {
                inactive_after_seconds: o.inactive_after_seconds,
                expunge_after_seconds: o.expunge_after_seconds,
            }),
        }
    }
}

/// `versionInfo`: when the app was last scaled and last changed in any other way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    pub last_scaling_at: Timestamp,
    pub last_config_change_at: Timestamp,
}

/// An app definition. `Default` gives Marathon's defaults for every field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AppDefinition {
    pub id: PathId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub env: BTreeMap<String, EnvValue>,
    pub instances: i64,
    pub cpus: f64,
    pub mem: f64,
    pub disk: f64,
    pub gpus: i64,
    pub executor: String,
    pub constraints: Vec<Constraint>,
    /// Deprecated input; folded into `fetch`.
    #[serde(skip_serializing)]
    pub uris: Vec<String>,
    pub fetch: Vec<FetchUri>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub store_urls: Vec<String>,
    /// Deprecated input; folded into `portDefinitions`.
    #[serde(skip_serializing)]
    pub ports: Option<Vec<i64>>,
    /// `None` for apps on container networks (their ports are `container.portMappings`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_definitions: Option<Vec<PortDefinition>>,
    pub require_ports: bool,
    pub backoff_seconds: i64,
    pub backoff_factor: f64,
    pub max_launch_delay_seconds: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    pub health_checks: Vec<HealthCheck>,
    pub readiness_checks: Vec<ReadinessCheck>,
    pub dependencies: Vec<PathId>,
    pub upgrade_strategy: UpgradeStrategy,
    pub labels: Labels,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_resource_roles: Option<Vec<String>>,
    /// Deprecated input; folded into `networks`.
    #[serde(skip_serializing)]
    pub ip_address: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub residency: Option<serde_json::Value>,
    pub secrets: BTreeMap<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_kill_grace_period_seconds: Option<i64>,
    pub kill_selection: KillSelection,
    pub unreachable_strategy: UnreachableStrategy,
    pub networks: Vec<Network>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tty: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executor_resources: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_limits: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<serde_json::Value>,
    pub version: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_info: Option<VersionInfo>,
}

impl Default for AppDefinition {
    fn default() -> Self {
        AppDefinition {
            id: PathId::default(),
            cmd: None,
            args: None,
            user: None,
            env: BTreeMap::new(),
            instances: 1,
            cpus: 1.0,
            mem: 128.0,
            disk: 0.0,
            gpus: 0,
            executor: String::new(),
            constraints: Vec::new(),
            uris: Vec::new(),
            fetch: Vec::new(),
            store_urls: Vec::new(),
            ports: None,
            port_definitions: None,
            require_ports: false,
            backoff_seconds: 1,
            backoff_factor: 1.15,
            max_launch_delay_seconds: 300,
            container: None,
            health_checks: Vec::new(),
            readiness_checks: Vec::new(),
            dependencies: Vec::new(),
            upgrade_strategy: UpgradeStrategy::default(),
            labels: Labels::new(),
            accepted_resource_roles: None,
            ip_address: None,
            residency: None,
            secrets: BTreeMap::new(),
            task_kill_grace_period_seconds: None,
            kill_selection: KillSelection::default(),
            unreachable_strategy: UnreachableStrategy::default(),
            networks: Vec::new(),
            role: None,
            tty: None,
            executor_resources: None,
            resource_limits: None,
            check: None,
            version: Timestamp::ZERO,
            version_info: None,
        }
    }
}

impl AppDefinition {
    /// A minimal command app with Marathon's defaults, already normalized.
    pub fn command(id: &str, cmd: &str) -> AppDefinition {
        let mut app = AppDefinition {
            id: PathId::parse(id),
            cmd: Some(cmd.to_string()),
            ..Default::default()
        };
        app.normalize(&PathId::root(), "*");
        app
    }

    /// Whether the app uses host networking (the default, and what `portDefinitions` need).
    pub fn host_networking(&self) -> bool {
        self.networks.iter().all(|n| n.mode == "host")
    }

    /// Whether the app has persistent volumes (a "resident" app).
    pub fn is_resident(&self) -> bool {
        self.container
            .as_ref()
            .is_some_and(|c| c.volumes.iter().any(|v| v.persistent.is_some()))
    }

    /// Brings an app read from the API into the form Marathon stores:
    /// - the id (and dependency ids) resolved against `base` (the enclosing group);
    /// - `uris` → `fetch`, `ports` → `portDefinitions`, `ipAddress` / `docker.network` → `networks`,
    ///   `docker.portMappings` → `container.portMappings`;
    /// - default `networks` `[{"mode":"host"}]`, and for host networking the default
    ///   `portDefinitions` `[{"port":0,"name":"default"}]`;
    /// - constraint operators upper-cased, health checks filled in, `role` defaulted.
    pub fn normalize(&mut self, base: &PathId, default_role: &str) {
        self.id = self.id.canonical(base);
        let parent = self.id.parent();
        self.dependencies = self
            .dependencies
            .iter()
            .map(|d| d.canonical(&parent))
            .collect();
        if !self.uris.is_empty() && self.fetch.is_empty() {
            self.fetch = self.uris.iter().map(|u| FetchUri::new(u)).collect();
        }
        self.uris.clear();
        if let Some(ip) = self.ip_address.take() {
            if self.networks.is_empty() {
                let name = ip
                    .get("networkName")
                    .and_then(|n| n.as_str())
                    .map(str::to_string);
                self.networks.push(Network {
                    mode: "container".into(),
                    name,
                    labels: Labels::new(),
                });
            }
        }
        if let Some(docker) = self.container.as_mut().and_then(|c| c.docker.as_mut()) {
            let legacy_network = docker.network.take();
            let legacy_mappings = docker.port_mappings.take();
            if self.networks.is_empty() {
                match legacy_network
                    .as_deref()
                    .map(str::to_ascii_uppercase)
                    .as_deref()
                {
                    Some("BRIDGE") => self.networks.push(Network {
                        mode: "container/bridge".into(),
                        name: None,
                        labels: Labels::new(),
                    }),
                    Some("USER") => self.networks.push(Network {
                        mode: "container".into(),
                        name: None,
                        labels: Labels::new(),
                    }),
                    _ => {}
                }
            }
            if let (Some(m), Some(c)) = (legacy_mappings, self.container.as_mut()) {
                if c.port_mappings.is_none() {
                    c.port_mappings = Some(m);
                }
            }
        }
        if self.networks.is_empty() {
            self.networks.push(Network::host());
        }
        if self.host_networking() {
            if let Some(ports) = self.ports.take() {
                if self.port_definitions.is_none() {
                    self.port_definitions =
                        Some(ports.into_iter().map(PortDefinition::new).collect());
                }
            }
            if self.port_definitions.is_none() {
                let mut d = PortDefinition::new(0);
                d.name = Some("default".into());
                self.port_definitions = Some(vec![d]);
            }
            if let Some(c) = self.container.as_mut() {
                c.port_mappings = None;
            }
        } else {
            self.ports = None;
            self.port_definitions = None;
            if let Some(c) = self.container.as_mut() {
                if c.port_mappings.is_none() {
                    c.port_mappings = Some(Vec::new());
                }
                for m in c.port_mappings.iter_mut().flatten() {
                    if m.protocol.is_empty() {
                        m.protocol = "tcp".into();
                    }
                }
            }
        }
        if let Some(c) = self.container.as_mut() {
            c.kind = c.kind.to_ascii_uppercase();
            for v in &mut c.volumes {
                if v.mode.is_empty() {
                    v.mode = "RW".into();
                }
            }
        }
        self.constraints = self
            .constraints
            .iter()
            .map(Constraint::normalized)
            .collect();
        for hc in &mut self.health_checks {
            hc.normalize();
        }
        if self.role.is_none() {
            self.role = Some(default_role.to_string());
        }
    }

    /// Port definitions, empty for container networking.
    pub fn port_definitions(&self) -> &[PortDefinition] {
        self.port_definitions.as_deref().unwrap_or(&[])
    }

    /// Port mappings of a container-networked app.
    pub fn port_mappings(&self) -> &[PortMapping] {
        self.container
            .as_ref()
            .and_then(|c| c.port_mappings.as_deref())
            .unwrap_or(&[])
    }

    /// The service ports: `portDefinitions[].port`, or `container.portMappings[].servicePort`.
    pub fn service_ports(&self) -> Vec<u32> {
        if self.host_networking() {
            self.port_definitions()
                .iter()
                .map(|p| p.port.clamp(0, 65535) as u32)
                .collect()
        } else {
            self.port_mappings()
                .iter()
                .map(|m| m.service_port.clamp(0, 65535) as u32)
                .collect()
        }
    }

    /// How many host ports a task of this app needs (one per port definition, or per
    /// port mapping with a hostPort).
    pub fn host_port_count(&self) -> usize {
        if self.host_networking() {
            self.port_definitions().len()
        } else {
            self.port_mappings()
                .iter()
                .filter(|m| m.host_port.is_some())
                .count()
        }
    }

    /// The definition without its version fields, for comparing configurations.
    fn config_only(&self) -> AppDefinition {
        AppDefinition {
            version: Timestamp::ZERO,
            version_info: None,
            ..self.clone()
        }
    }

    /// Equality of everything but `instances` (when `ignore_instances`) and the versions,
    /// without cloning when the versions already agree (the common case in a big tree).
    fn config_eq(&self, other: &AppDefinition, ignore_instances: bool) -> bool {
        let versions_agree =
            self.version == other.version && self.version_info == other.version_info;
        let instances_agree = !ignore_instances || self.instances == other.instances;
        if versions_agree && instances_agree {
            return self == other;
        }
        let mut a = self.config_only();
        if ignore_instances {
            a.instances = other.instances;
        }
        a == other.config_only()
    }

    /// True if `self` and `other` differ only in `instances` (and versions).
    pub fn is_only_scale_change(&self, other: &AppDefinition) -> bool {
        self.instances != other.instances && self.config_eq(other, true)
    }

    /// True if the configurations (everything but versions) are equal.
    pub fn same_config(&self, other: &AppDefinition) -> bool {
        self.config_eq(other, false)
    }

    /// True if going from `self` to `other` needs new tasks (anything but instances changed).
    pub fn needs_restart(&self, other: &AppDefinition) -> bool {
        !self.config_eq(other, true)
    }

    /// Sets `version`/`versionInfo` for this definition as the successor of `previous` at `now`:
    /// unchanged config keeps the previous version; a pure scale moves `lastScalingAt`;
    /// anything else moves both.
    pub fn stamp_version(&mut self, previous: Option<&AppDefinition>, now: Timestamp) {
        match previous {
            Some(p) if p.same_config(self) => {
                self.version = p.version;
                self.version_info = p.version_info;
            }
            Some(p) if p.is_only_scale_change(self) => {
                let config = p
                    .version_info
                    .map(|v| v.last_config_change_at)
                    .unwrap_or(p.version);
                self.version = now;
                self.version_info = Some(VersionInfo {
                    last_scaling_at: now,
                    last_config_change_at: config,
                });
            }
            _ => {
                self.version = now;
                self.version_info = Some(VersionInfo {
                    last_scaling_at: now,
                    last_config_change_at: now,
                });
            }
        }
    }

    /// The version info, falling back to `version` for both times.
    pub fn version_info(&self) -> VersionInfo {
        self.version_info.unwrap_or(VersionInfo {
            last_scaling_at: self.version,
            last_config_change_at: self.version,
        })
    }
}
