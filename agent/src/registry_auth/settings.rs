//! The agent's registry settings (`--docker-config`, `--insecure-registries`,
//! `--secrets-dir`), and how they reach the executors: the agent writes them
//! to `<work_dir>/meta/registries.json` (mode 0600, replaced by rename) when
//! it starts, and each `paddock executor` reads them from the work dir its
//! sandbox lies in, at launch. Nothing about them goes through the
//! environment, so credentials never show in `/proc/<pid>/environ`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::docker_config::{DockerConfig, MAX_CONFIG_BYTES};
use super::AuthError;

/// The file under the work dir.
pub const FILE: &str = "meta/registries.json";

/// The agent's registry flags, validated.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrySettings {
    /// The Docker config's JSON text (validated when the flags are read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_config: Option<String>,
    /// Where `--docker-config` came from, for `/flags`: its path, or
    /// `inline JSON`. Never the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_config_source: Option<String>,
    /// `host[:port]` entries reached over plain HTTP (besides loopback,
    /// which always is).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub insecure_registries: Vec<String>,
    /// Where `REFERENCE` secrets are files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_dir: Option<PathBuf>,
}

impl std::fmt::Debug for RegistrySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrySettings")
            .field("docker_config", &self.docker_config_source)
            .field("insecure_registries", &self.insecure_registries)
            .field("secrets_dir", &self.secrets_dir)
            .finish()
    }
}

fn flag_error(flag: &'static str, reason: impl Into<String>) -> AuthError {
    AuthError::Flag {
        flag,
        reason: reason.into(),
    }
}

impl RegistrySettings {
    /// From the flags. `docker_config` is a JSON object or the path of a
    /// file holding one (as Mesos's `--docker_config`); `insecure` entries
    /// are `host[:port]`; `secrets_dir` must be a directory.
    pub fn from_flags(
        docker_config: Option<&str>,
        insecure: &[String],
        secrets_dir: Option<PathBuf>,
    ) -> Result<RegistrySettings, AuthError> {
        let mut s = RegistrySettings::default();
        if let Some(raw) = docker_config.map(str::trim).filter(|r| !r.is_empty()) {
            let (text, source) = if raw.starts_with('{') {
                (raw.to_string(), "inline JSON".to_string())
            } else {
                let meta = std::fs::metadata(raw).map_err(|e| {
                    flag_error("--docker-config", format!("cannot read {raw}: {e}"))
                })?;
                if meta.len() > MAX_CONFIG_BYTES as u64 {
                    return Err(flag_error(
                        "--docker-config",
                        format!("{raw} is larger than {MAX_CONFIG_BYTES} bytes"),
                    ));
                }
                let text = std::fs::read_to_string(raw).map_err(|e| {
                    flag_error("--docker-config", format!("cannot read {raw}: {e}"))
                })?;
                (text, raw.to_string())
            };
            DockerConfig::parse(text.as_bytes(), "--docker-config")?;
            s.docker_config = Some(text);
            s.docker_config_source = Some(source);
        }
        for entry in insecure {
            let e = entry.trim();
            if e.is_empty() {
                continue;
            }
            let valid = !e.contains("://")
                && !e.contains('/')
                && !e.chars().any(|c| c.is_whitespace() || c.is_control());
            if !valid {
                return Err(flag_error(
                    "--insecure-registries",
                    format!("{e:?} is not host or host:port"),
                ));
            }
            s.insecure_registries.push(e.to_ascii_lowercase());
        }
        if let Some(dir) = secrets_dir {
            if !dir.is_dir() {
                return Err(flag_error(
                    "--secrets-dir",
                    format!("{} is not a directory", dir.display()),
                ));
            }
            s.secrets_dir = Some(dir);
        }
        Ok(s)
    }

    /// The agent's Docker config, parsed (validated by `from_flags`; a
    /// config that no longer parses counts as none).
    pub fn agent_config(&self) -> Option<DockerConfig> {
        let text = self.docker_config.as_ref()?;
        match DockerConfig::parse(text.as_bytes(), "--docker-config") {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!("ignoring the agent's docker config: {e}");
                None
            }
        }
    }

    /// Writes the settings for the executors under `work_dir`.
    pub fn write(&self, work_dir: &Path) -> std::io::Result<()> {
        let path = work_dir.join(FILE);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("json.tmp.{}", std::process::id()));
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    }

    /// The settings the agent wrote under `work_dir`; none written means
    /// the defaults (anonymous pulls, loopback only insecure).
    pub fn read(work_dir: &Path) -> Result<RegistrySettings, String> {
        let path = work_dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("invalid {}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RegistrySettings::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    const CONFIG: &str = r#"{"auths":{"127.0.0.1:5000":{"username":"u","password":"hunter2"}}}"#;

    #[test]
    fn the_docker_config_is_json_or_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let inline = RegistrySettings::from_flags(Some(CONFIG), &[], None).unwrap();
        assert_eq!(inline.docker_config_source.as_deref(), Some("inline JSON"));
        let file = dir.path().join("config.json");
        std::fs::write(&file, CONFIG).unwrap();
        let from_file =
            RegistrySettings::from_flags(Some(&file.display().to_string()), &[], None).unwrap();
        assert_eq!(from_file.docker_config, inline.docker_config);
        assert_eq!(
            from_file.docker_config_source,
            Some(file.display().to_string())
        );
        let creds = from_file.agent_config().unwrap();
        assert!(creds.credentials_for("127.0.0.1:5000").is_some());
        assert!(!format!("{from_file:?}").contains("hunter2"));
    }

    #[test]
    fn bad_flags_are_named() {
        let e = RegistrySettings::from_flags(Some("/nonexistent/c.json"), &[], None).unwrap_err();
        assert!(e.to_string().contains("--docker-config"), "{e}");
        let e = RegistrySettings::from_flags(Some(r#"{"auths":{"r":{"auth":"!"}}}"#), &[], None)
            .unwrap_err();
        assert!(e.to_string().contains("--docker-config"), "{e}");
        let e = RegistrySettings::from_flags(None, &["http://reg:5000".into()], None).unwrap_err();
        assert!(e.to_string().contains("--insecure-registries"), "{e}");
        let e = RegistrySettings::from_flags(None, &[], Some("/nonexistent".into())).unwrap_err();
        assert!(e.to_string().contains("--secrets-dir"), "{e}");
        let ok =
            RegistrySettings::from_flags(None, &["Reg:5000".into(), " ".into()], None).unwrap();
        assert_eq!(ok.insecure_registries, vec!["reg:5000"]);
    }

    #[test]
    fn settings_round_trip_through_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            RegistrySettings::read(dir.path()).unwrap(),
            RegistrySettings::default()
        );
        let s = RegistrySettings::from_flags(
            Some(CONFIG),
            &["reg:5000".into()],
            Some(dir.path().to_path_buf()),
        )
        .unwrap();
        s.write(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");
        assert_eq!(RegistrySettings::read(dir.path()).unwrap(), s);
    }
}
