//! Mesos's `ContainerInfo` (`mesos.proto`), typed. `TaskInfo::container`
//! stays raw JSON on the wire so that fields we do not model pass through
//! untouched; [`ContainerInfo::from_task`] reads the typed view.
//!
//! Two forms reach an agent:
//! - `{"type":"DOCKER","docker":{"image":…,"network":"HOST"|"BRIDGE"|"NONE"|"USER",
//!   "port_mappings":[…],"privileged":…,"parameters":[{key,value}],"force_pull_image":…}}`
//!   for the Docker containerizer;
//! - `{"type":"MESOS","mesos":{"image":{"type":"DOCKER","docker":{"name":…}}}}`
//!   for the native (unified) containerizer, which runs images without Docker.

use serde::{Deserialize, Serialize};

use crate::mesos::TaskInfo;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContainerType {
    Docker,
    #[default]
    Mesos,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ContainerInfo {
    #[serde(rename = "type", default)]
    pub kind: ContainerType,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesos: Option<MesosInfo>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_infos: Vec<NetworkInfo>,
}

impl ContainerInfo {
    /// The task's container, if it has one; an error names what is wrong.
    pub fn from_task(task: &TaskInfo) -> Result<Option<ContainerInfo>, String> {
        match &task.container {
            None => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|e| format!("invalid container info: {e}")),
        }
    }

    /// The image reference the task asks for, in either form.
    pub fn image(&self) -> Option<&str> {
        match self.kind {
            ContainerType::Docker => self.docker.as_ref().map(|d| d.image.as_str()),
            ContainerType::Mesos => self
                .mesos
                .as_ref()
                .and_then(|m| m.image.as_ref())
                .and_then(Image::reference),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DockerNetwork {
    #[default]
    Host,
    Bridge,
    None,
    User,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DockerInfo {
    pub image: String,
    #[serde(default)]
    pub network: DockerNetwork,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_pull_image: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PortMapping {
    pub host_port: u32,
    pub container_port: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Parameter {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MesosInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Image>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ImageType {
    Appc,
    #[default]
    Docker,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Image {
    #[serde(rename = "type", default)]
    pub kind: ImageType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerImage>,
    /// Use the cached copy when there is one (Mesos's default: true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached: Option<bool>,
}

impl Image {
    pub fn reference(&self) -> Option<&str> {
        self.docker.as_ref().map(|d| d.name.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct DockerImage {
    pub name: String,
    /// Mesos's `Image.Docker.config`: a Docker `config.json` with the
    /// registry credentials for this image, as a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Secret>,
}

/// Mesos's `Secret`: either a reference to an entry of the agent's secret
/// store (`REFERENCE`) or the secret itself (`VALUE`, base64 in JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Secret {
    #[serde(rename = "type", default)]
    pub kind: SecretType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<SecretReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<SecretValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SecretType {
    #[default]
    Unknown,
    Reference,
    Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SecretReference {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// The secret's bytes, base64 as Mesos's JSON writes `bytes`. Its Debug
/// form never shows them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SecretValue {
    #[serde(default)]
    pub data: String,
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretValue(*** {} bytes of base64)", self.data.len())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Volume {
    pub container_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    /// "RW" or "RO".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NetworkInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// In a task's request: addresses asked for; in
    /// `TaskStatus.container_status`: the addresses the container got.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<IpAddress>,
    /// Host ports mapped into the container on this network (CNI's
    /// `portmap` plugin).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
}

/// Mesos's `NetworkInfo.IPAddress`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct IpAddress {
    /// "IPv4" or "IPv6".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_docker_config_secret_is_read_and_its_value_never_debug_printed() {
        let v = serde_json::json!({"type":"MESOS","mesos":{"image":{"type":"DOCKER","docker":{
            "name":"reg:5000/x","config":{"type":"VALUE","value":{"data":"c2VjcmV0"}}}}}});
        let c: ContainerInfo = serde_json::from_value(v).unwrap();
        let d = c.mesos.unwrap().image.unwrap().docker.unwrap();
        let secret = d.config.unwrap();
        assert_eq!(secret.kind, SecretType::Value);
        assert_eq!(secret.value.as_ref().unwrap().data, "c2VjcmV0");
        assert!(!format!("{secret:?}").contains("c2VjcmV0"));
        let r: Secret = serde_json::from_value(
            serde_json::json!({"type":"REFERENCE","reference":{"name":"/a/b","key":"k"}}),
        )
        .unwrap();
        let reference = r.reference.unwrap();
        assert_eq!(
            (reference.name.as_str(), reference.key.as_deref()),
            ("/a/b", Some("k"))
        );
    }

    #[test]
    fn both_forms_name_their_image() {
        let docker: ContainerInfo = serde_json::from_value(serde_json::json!({
            "type": "DOCKER",
            "docker": {"image": "busybox:1", "network": "BRIDGE",
                       "port_mappings": [{"host_port": 31000, "container_port": 80}]}
        }))
        .unwrap();
        assert_eq!(docker.image(), Some("busybox:1"));
        assert_eq!(docker.docker.unwrap().network, DockerNetwork::Bridge);
        let mesos: ContainerInfo = serde_json::from_value(serde_json::json!({
            "type": "MESOS",
            "mesos": {"image": {"type": "DOCKER", "docker": {"name": "127.0.0.1:5000/bb"}}}
        }))
        .unwrap();
        assert_eq!(mesos.image(), Some("127.0.0.1:5000/bb"));
    }

    #[test]
    fn a_bad_container_is_an_error_naming_it() {
        let task = TaskInfo {
            container: Some(serde_json::json!({"type": "PODMAN"})),
            ..Default::default()
        };
        let err = ContainerInfo::from_task(&task).unwrap_err();
        assert!(err.contains("container"), "{err}");
    }
}
