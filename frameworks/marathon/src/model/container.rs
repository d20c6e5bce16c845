//! `container`: DOCKER or MESOS with an image, volumes and port mappings, as Marathon
//! accepts and shows it. `runtime::convert::container_info` and
//! `launch::task_info` turn it into the task's Mesos `ContainerInfo`;
//! `tests/image_apps.rs` runs both forms end to end.

use super::checks::Labels;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Container {
    /// `DOCKER` (default) or `MESOS`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerContainer>,
    pub volumes: Vec<Volume>,
    /// Only emitted for non-host networking, as Marathon does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_mappings: Option<Vec<PortMapping>>,
}

impl Default for Container {
    fn default() -> Self {
        Container {
            kind: "DOCKER".into(),
            docker: None,
            volumes: Vec::new(),
            port_mappings: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct DockerContainer {
    pub image: String,
    /// Legacy (≤1.4) docker network: BRIDGE, HOST, USER, NONE. Read, turned into `networks`.
    #[serde(skip_serializing)]
    pub network: Option<String>,
    /// Legacy place of the port mappings; moved to `container.portMappings` on read.
    #[serde(skip_serializing)]
    pub port_mappings: Option<Vec<PortMapping>>,
    pub privileged: bool,
    pub parameters: Vec<DockerParameter>,
    pub force_pull_image: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_config: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerParameter {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct PortMapping {
    pub container_port: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i64>,
    pub service_port: i64,
    pub protocol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Volume {
    pub container_path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    /// RO or RW.
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistent: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<serde_json::Value>,
}

/// `networks[]` entry: mode `host`, `container` (with a name) or `container/bridge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    #[serde(default = "default_network_mode")]
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
}

fn default_network_mode() -> String {
    "container".into()
}

impl Network {
    pub fn host() -> Network {
        Network {
            mode: "host".into(),
            name: None,
            labels: Labels::new(),
        }
    }
}
