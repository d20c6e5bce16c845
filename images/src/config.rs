//! The parts of an image config the containerizer needs.

use oci_spec::image::ImageConfiguration;
use serde::{Deserialize, Serialize};

/// Entrypoint, Cmd, Env, WorkingDir, User and ExposedPorts of an image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `KEY=value` strings, in the image's order.
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
    /// `80/tcp`, `53/udp`, sorted.
    pub exposed_ports: Vec<String>,
    pub os: String,
    pub architecture: String,
}

impl RuntimeConfig {
    pub fn from_image_config(cfg: &ImageConfiguration) -> RuntimeConfig {
        let mut rc = RuntimeConfig {
            os: cfg.os().to_string(),
            architecture: cfg.architecture().to_string(),
            ..RuntimeConfig::default()
        };
        if let Some(c) = cfg.config() {
            rc.entrypoint = c.entrypoint().clone().unwrap_or_default();
            rc.cmd = c.cmd().clone().unwrap_or_default();
            rc.env = c.env().clone().unwrap_or_default();
            rc.working_dir = c.working_dir().clone().filter(|w| !w.is_empty());
            rc.user = c.user().clone().filter(|u| !u.is_empty());
            let mut ports = c.exposed_ports().clone().unwrap_or_default();
            ports.sort();
            rc.exposed_ports = ports;
        }
        rc
    }

    /// The argv the image runs when the task gives no command: Entrypoint
    /// followed by Cmd.
    pub fn default_argv(&self) -> Vec<String> {
        self.entrypoint
            .iter()
            .chain(self.cmd.iter())
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_fields_are_read() {
        let json = r#"{"architecture":"amd64","os":"linux",
          "config":{"Entrypoint":["/bin/sh","-c"],"Cmd":["echo hi"],"Env":["PATH=/bin","A=b"],
                    "WorkingDir":"/srv","User":"1000:1000","ExposedPorts":{"8080/tcp":{},"53/udp":{}}},
          "rootfs":{"type":"layers","diff_ids":[]},"container_config":{"Hostname":"x"},"docker_version":"20"}"#;
        let cfg = crate::media::parse_config(json.as_bytes(), "config").unwrap();
        let rc = RuntimeConfig::from_image_config(&cfg);
        assert_eq!(rc.default_argv(), vec!["/bin/sh", "-c", "echo hi"]);
        assert_eq!(rc.env, vec!["PATH=/bin", "A=b"]);
        assert_eq!(rc.working_dir.as_deref(), Some("/srv"));
        assert_eq!(rc.user.as_deref(), Some("1000:1000"));
        assert_eq!(rc.exposed_ports, vec!["53/udp", "8080/tcp"]);
        assert_eq!(
            (rc.os.as_str(), rc.architecture.as_str()),
            ("linux", "amd64")
        );
    }
}
