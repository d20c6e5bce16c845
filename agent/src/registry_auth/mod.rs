//! Registry credentials and plain-HTTP registries for image tasks, as Mesos
//! has them: the agent's `--docker-config` and `--insecure-registries`, and
//! a task's own `container.mesos.image.docker.config` secret (`VALUE`, or a
//! `REFERENCE` to a file under `--secrets-dir`).
//!
//! [`for_image`] is the pure decision both containerizers use: the task's
//! config wins for the image's registry, then the agent's. Credentials are
//! never logged or put in a message.

pub mod docker_config;
pub mod secret;
pub mod settings;

use paddock_images::{Credentials, ImageError, ImageRef};
use paddock_proto::container::Secret;

pub use docker_config::DockerConfig;
pub use settings::RegistrySettings;

/// Where a task's registry config is, in Mesos's JSON.
pub const TASK_CONFIG_FIELD: &str = "container.mesos.image.docker.config";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A Docker config that does not parse; `field` is the entry.
    #[error("{what}: invalid Docker config{}: {reason}", if field.is_empty() { String::new() } else { format!(" at {field}") })]
    DockerConfig {
        what: String,
        field: String,
        reason: String,
    },
    /// A secret that cannot be resolved.
    #[error("{field}: {reason}")]
    Secret { field: String, reason: String },
    /// A bad agent flag.
    #[error("{flag}: {reason}")]
    Flag { flag: &'static str, reason: String },
}

/// Where a pull's credentials came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthSource {
    /// The task's `container.mesos.image.docker.config`.
    Task,
    /// The agent's `--docker-config`.
    Agent,
    /// Neither has an entry for the registry: an anonymous pull.
    Anonymous,
}

/// How to pull one image.
#[derive(Clone, PartialEq, Eq)]
pub struct PullAuth {
    /// The registry as written in the reference (`docker.io`,
    /// `127.0.0.1:5000`).
    pub registry: String,
    pub credentials: Option<Credentials>,
    pub source: AuthSource,
    /// Plain HTTP allowed (listed in `--insecure-registries`, or loopback).
    pub insecure: bool,
}

impl std::fmt::Debug for PullAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullAuth")
            .field("registry", &self.registry)
            .field("credentials", &self.credentials)
            .field("source", &self.source)
            .field("insecure", &self.insecure)
            .finish()
    }
}

/// The credentials and transport for pulling `image`: the task's config
/// (`task_config`, resolved with the agent's secrets dir) when it has an
/// entry for the image's registry, else the agent's `--docker-config`.
/// An error (a secret that cannot be resolved, a config that does not
/// parse) names the task's field, and the task must fail with it.
pub fn for_image(
    settings: &RegistrySettings,
    task_config: Option<&Secret>,
    image: &str,
) -> Result<PullAuth, AuthError> {
    // A reference that does not parse is the pull's own error to report.
    let (registry, insecure) = match ImageRef::parse(image) {
        Ok(r) => (
            r.registry().to_string(),
            r.is_insecure(&settings.insecure_registries),
        ),
        Err(_) => (String::new(), false),
    };
    let mut auth = PullAuth {
        registry,
        credentials: None,
        source: AuthSource::Anonymous,
        insecure,
    };
    if let Some(secret) = task_config {
        let bytes = secret::resolve(secret, settings.secrets_dir.as_deref(), TASK_CONFIG_FIELD)?;
        let config = DockerConfig::parse(&bytes, TASK_CONFIG_FIELD)?;
        if let Some(c) = config.credentials_for(&auth.registry) {
            auth.credentials = Some(c.clone());
            auth.source = AuthSource::Task;
            return Ok(auth);
        }
    }
    if let Some(c) = settings
        .agent_config()
        .and_then(|c| c.credentials_for(&auth.registry).cloned())
    {
        auth.credentials = Some(c);
        auth.source = AuthSource::Agent;
    }
    Ok(auth)
}

/// [`for_image`] in an executor: the agent's settings come from the work
/// dir that `sandbox` lies in (none there: anonymous, loopback-only plain
/// HTTP). The error is the message the task fails with.
pub fn for_sandbox(
    sandbox: &str,
    task_config: Option<&Secret>,
    image: &str,
) -> Result<PullAuth, String> {
    let settings = match crate::executor::oci::store::work_dir_of(std::path::Path::new(sandbox)) {
        Some(work) => RegistrySettings::read(&work)?,
        None => RegistrySettings::default(),
    };
    for_image(&settings, task_config, image).map_err(|e| format!("image {image}: {e}"))
}

impl PullAuth {
    /// bollard's form, for the Docker engine's pull (`serveraddress` is the
    /// registry); `None` for an anonymous pull.
    pub fn docker_credentials(&self) -> Option<bollard::auth::DockerCredentials> {
        let mut c = bollard::auth::DockerCredentials {
            serveraddress: Some(self.registry.clone()),
            ..Default::default()
        };
        match self.credentials.as_ref()? {
            Credentials::Basic { username, password } => {
                c.username = Some(username.clone());
                c.password = Some(password.clone());
            }
            Credentials::Bearer(t) => c.registrytoken = Some(t.clone()),
        }
        Some(c)
    }

    /// What to say when the registry refused us.
    pub fn refused(&self, image: &str, reason: &str) -> String {
        let how = match self.source {
            AuthSource::Task => format!("with the credentials of the task's {TASK_CONFIG_FIELD}"),
            AuthSource::Agent => "with the credentials of the agent's --docker-config".into(),
            AuthSource::Anonymous => format!(
                "without credentials (neither the agent's --docker-config nor the task's \
                 {TASK_CONFIG_FIELD} has an entry for {})",
                self.registry
            ),
        };
        format!(
            "authentication failed for registry {} pulling image {image} {how}: {reason}",
            self.registry
        )
    }

    /// The message for a failed store pull: an auth failure says which
    /// registry refused and which credentials were tried.
    pub fn pull_error(&self, image: &str, e: &ImageError) -> String {
        match e {
            ImageError::Unauthorized { reason, .. } => self.refused(image, reason),
            other => format!("cannot pull image {image}: {other}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use paddock_proto::container::{SecretType, SecretValue};

    fn config(reg: &str, user: &str) -> String {
        serde_json::json!({"auths": {reg: {"username": user, "password": "hunter2"}}}).to_string()
    }

    fn value_secret(text: &str) -> Secret {
        Secret {
            kind: SecretType::Value,
            value: Some(SecretValue {
                data: base64::engine::general_purpose::STANDARD.encode(text),
            }),
            reference: None,
        }
    }

    fn user_of(a: &PullAuth) -> Option<&str> {
        match &a.credentials {
            Some(Credentials::Basic { username, .. }) => Some(username),
            _ => None,
        }
    }

    #[test]
    fn the_task_config_wins_for_its_registry_then_the_agents() {
        let settings =
            RegistrySettings::from_flags(Some(&config("127.0.0.1:5000", "agent")), &[], None)
                .unwrap();
        let none = for_image(&settings, None, "127.0.0.1:5000/x:1").unwrap();
        assert_eq!(
            (user_of(&none), none.source),
            (Some("agent"), AuthSource::Agent)
        );
        assert!(none.insecure, "loopback is plain HTTP");
        let task = value_secret(&config("127.0.0.1:5000", "task"));
        let a = for_image(&settings, Some(&task), "127.0.0.1:5000/x:1").unwrap();
        assert_eq!((user_of(&a), a.source), (Some("task"), AuthSource::Task));
        // The task's config has no entry for this registry: the agent's.
        let other = value_secret(&config("reg.example", "task"));
        let a = for_image(&settings, Some(&other), "127.0.0.1:5000/x:1").unwrap();
        assert_eq!(a.source, AuthSource::Agent);
        let a = for_image(&settings, Some(&other), "reg.example/x").unwrap();
        assert_eq!((user_of(&a), a.insecure), (Some("task"), false));
        let a = for_image(&RegistrySettings::default(), None, "busybox").unwrap();
        assert_eq!(
            (a.source, a.registry.as_str()),
            (AuthSource::Anonymous, "docker.io")
        );
    }

    #[test]
    fn insecure_registries_allow_plain_http() {
        let s = RegistrySettings::from_flags(None, &["reg.example:5000".into()], None).unwrap();
        assert!(for_image(&s, None, "reg.example:5000/x").unwrap().insecure);
        assert!(!for_image(&s, None, "reg.example:5001/x").unwrap().insecure);
    }

    #[test]
    fn a_bad_task_config_is_an_error_naming_the_field() {
        let s = RegistrySettings::default();
        let e = for_image(&s, Some(&value_secret("{not json")), "r:1/x")
            .unwrap_err()
            .to_string();
        assert!(e.contains(TASK_CONFIG_FIELD), "{e}");
        let reference = Secret {
            kind: SecretType::Reference,
            reference: Some(paddock_proto::container::SecretReference {
                name: "creds".into(),
                key: None,
            }),
            value: None,
        };
        let e = for_image(&s, Some(&reference), "r:1/x")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("container.mesos.image.docker.config.reference.name"),
            "{e}"
        );
        assert!(e.contains("--secrets-dir"), "{e}");
    }

    #[test]
    fn refusals_name_the_registry_and_never_the_password() {
        let s = RegistrySettings::from_flags(Some(&config("127.0.0.1:5000", "agent")), &[], None)
            .unwrap();
        let a = for_image(&s, None, "127.0.0.1:5000/x:1").unwrap();
        let e = ImageError::Unauthorized {
            registry: "127.0.0.1:5000".into(),
            reason: "401".into(),
        };
        let msg = a.pull_error("127.0.0.1:5000/x:1", &e);
        assert!(
            msg.contains("authentication failed for registry 127.0.0.1:5000"),
            "{msg}"
        );
        assert!(
            msg.contains("--docker-config") && !msg.contains("hunter2"),
            "{msg}"
        );
        assert!(!format!("{a:?}").contains("hunter2"));
        let anon = for_image(&RegistrySettings::default(), None, "127.0.0.1:5000/x:1").unwrap();
        assert!(anon.pull_error("i", &e).contains("without credentials"));
    }
}
