//! The scheduling view of an app: everything the core and the offer matcher
//! need to place, launch, check and replace its tasks. The API's model
//! converts an `AppDefinition` into a [`RunSpec`]; the core never sees JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::launch::constraints::Constraint;

/// One app, as the scheduler needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    /// Absolute path id, e.g. `/prod/web`.
    pub id: String,
    /// The app version (ISO-8601 timestamp), reported as MARATHON_APP_VERSION.
    pub version: String,
    /// When the configuration last changed (`versionInfo.lastConfigChangeAt`);
    /// a restart gives a new one. Instances launched under another config
    /// version are "old" and get replaced by a rolling restart.
    pub config_version: String,
    pub instances: u32,
    pub cpus: f64,
    pub mem: f64,
    pub disk: f64,
    #[serde(default)]
    pub gpus: f64,
    #[serde(default)]
    pub cmd: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Declared ports; `port` is the service port (0 when none was assigned).
    #[serde(default)]
    pub port_definitions: Vec<PortSpec>,
    #[serde(default)]
    pub require_ports: bool,
    #[serde(default)]
    pub constraints: Vec<Constraint>,
    #[serde(default)]
    pub health_checks: Vec<HealthCheckSpec>,
    #[serde(default)]
    pub readiness_checks: Vec<ReadinessCheckSpec>,
    #[serde(default)]
    pub upgrade_strategy: UpgradeStrategy,
    #[serde(default)]
    pub backoff: BackoffStrategy,
    #[serde(default)]
    pub kill_selection: KillSelection,
    #[serde(default)]
    pub task_kill_grace_period_seconds: Option<u64>,
    #[serde(default)]
    pub unreachable_strategy: UnreachableStrategy,
    /// Absolute ids of the apps this one depends on.
    #[serde(default)]
    pub dependencies: Vec<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub fetch: Vec<FetchSpec>,
    /// A Mesos `ContainerInfo` (v1 JSON), passed through unchanged.
    #[serde(default)]
    pub container: Option<serde_json::Value>,
    /// Roles whose resources this app may use; empty = any offered role.
    #[serde(default)]
    pub accepted_resource_roles: Vec<String>,
    /// Fields the scheduler does not interpret but whose change still means a
    /// new configuration (and therefore a restart), e.g. secrets or networks.
    #[serde(default)]
    pub opaque: serde_json::Value,
}

impl RunSpec {
    /// A minimal spec with Marathon's defaults, for tests and conversions.
    pub fn new(id: impl Into<String>, version: impl Into<String>) -> RunSpec {
        let version = version.into();
        RunSpec {
            id: id.into(),
            config_version: version.clone(),
            version,
            instances: 1,
            cpus: 1.0,
            mem: 128.0,
            disk: 0.0,
            gpus: 0.0,
            cmd: None,
            args: Vec::new(),
            env: BTreeMap::new(),
            labels: BTreeMap::new(),
            port_definitions: Vec::new(),
            require_ports: false,
            constraints: Vec::new(),
            health_checks: Vec::new(),
            readiness_checks: Vec::new(),
            upgrade_strategy: UpgradeStrategy::default(),
            backoff: BackoffStrategy::default(),
            kill_selection: KillSelection::default(),
            task_kill_grace_period_seconds: None,
            unreachable_strategy: UnreachableStrategy::default(),
            dependencies: Vec::new(),
            user: None,
            fetch: Vec::new(),
            container: None,
            accepted_resource_roles: Vec::new(),
            opaque: serde_json::Value::Null,
        }
    }

    /// True when `other` differs from `self` in anything but the instance
    /// count and the version (a new config version counts as a change): its
    /// tasks must be replaced (a restart).
    pub fn needs_restart(&self, other: &RunSpec) -> bool {
        let mut a = self.clone();
        let mut b = other.clone();
        a.instances = 0;
        b.instances = 0;
        a.version.clear();
        b.version.clear();
        a != b
    }

    /// Service ports, one per port definition.
    pub fn service_ports(&self) -> Vec<u32> {
        self.port_definitions.iter().map(|p| p.port).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSpec {
    /// The service port (0 = none assigned).
    pub port: u32,
    /// A fixed host port (a container port mapping's non-zero `hostPort`).
    #[serde(default)]
    pub host_port: Option<u32>,
    #[serde(default = "default_protocol")]
    pub protocol: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

fn default_protocol() -> String {
    "tcp".to_string()
}

impl PortSpec {
    pub fn new(port: u32) -> PortSpec {
        PortSpec {
            port,
            host_port: None,
            protocol: default_protocol(),
            name: None,
            labels: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchSpec {
    pub uri: String,
    #[serde(default = "yes")]
    pub extract: bool,
    #[serde(default)]
    pub executable: bool,
    #[serde(default)]
    pub cache: bool,
    #[serde(default)]
    pub dest_path: Option<String>,
}

fn yes() -> bool {
    true
}

/// Health-check protocols. `MESOS_*` checks are run by the framework as well
/// (the agent does not run checks), against the same host and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HealthProtocol {
    #[default]
    Http,
    Https,
    Tcp,
    Command,
    MesosHttp,
    MesosHttps,
    MesosTcp,
    MesosCommand,
}

impl HealthProtocol {
    /// Checks Mesos would run on the agent. For them `maxConsecutiveFailures`
    /// 0 means "kill on the first failure" instead of "never kill".
    pub fn is_mesos(self) -> bool {
        matches!(
            self,
            HealthProtocol::MesosHttp
                | HealthProtocol::MesosHttps
                | HealthProtocol::MesosTcp
                | HealthProtocol::MesosCommand
                | HealthProtocol::Command
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheckSpec {
    pub protocol: HealthProtocol,
    pub grace_period_seconds: u64,
    pub interval_seconds: u64,
    pub timeout_seconds: u64,
    pub max_consecutive_failures: u32,
    /// Index into the task's host ports; used when `port` is `None`.
    pub port_index: Option<usize>,
    /// A fixed port; takes precedence over `port_index`.
    pub port: Option<u32>,
    pub path: Option<String>,
    pub ignore_http1xx: bool,
    /// The COMMAND check's shell command.
    pub command: Option<String>,
    /// The check as it appears in the app's JSON (for events).
    #[serde(default)]
    pub raw: serde_json::Value,
}

impl Default for HealthCheckSpec {
    fn default() -> Self {
        HealthCheckSpec {
            protocol: HealthProtocol::Http,
            grace_period_seconds: 300,
            interval_seconds: 60,
            timeout_seconds: 20,
            max_consecutive_failures: 3,
            port_index: None,
            port: None,
            path: None,
            ignore_http1xx: false,
            command: None,
            raw: serde_json::Value::Null,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadinessCheckSpec {
    pub name: String,
    /// HTTP or HTTPS.
    pub https: bool,
    pub path: String,
    pub port_name: String,
    pub interval_seconds: u64,
    pub timeout_seconds: u64,
    pub http_status_codes_for_ready: Vec<u16>,
    pub preserve_last_response: bool,
}

impl Default for ReadinessCheckSpec {
    fn default() -> Self {
        ReadinessCheckSpec {
            name: "readinessCheck".into(),
            https: false,
            path: "/".into(),
            port_name: "http-api".into(),
            interval_seconds: 30,
            timeout_seconds: 10,
            http_status_codes_for_ready: vec![200],
            preserve_last_response: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UpgradeStrategy {
    pub minimum_health_capacity: f64,
    pub maximum_over_capacity: f64,
}

impl Default for UpgradeStrategy {
    fn default() -> Self {
        UpgradeStrategy {
            minimum_health_capacity: 1.0,
            maximum_over_capacity: 1.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BackoffStrategy {
    pub backoff_seconds: f64,
    pub backoff_factor: f64,
    pub max_launch_delay_seconds: f64,
}

impl Default for BackoffStrategy {
    fn default() -> Self {
        BackoffStrategy {
            backoff_seconds: 1.0,
            backoff_factor: 1.15,
            max_launch_delay_seconds: 300.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KillSelection {
    #[default]
    YoungestFirst,
    OldestFirst,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum UnreachableStrategy {
    Disabled,
    Enabled {
        inactive_after_seconds: u64,
        expunge_after_seconds: u64,
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
