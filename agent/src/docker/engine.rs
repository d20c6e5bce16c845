//! Reaching the Docker engine, and how our containers are named and
//! labelled.

use std::time::Duration;

use bollard::Docker;

/// Where the engine is when `DOCKER_HOST` is not set.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Requests that must answer quickly (ping, inspect, create). Streams (wait,
/// logs, pulls) only need their headers within this time.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Mesos's name for a task's Docker container.
pub fn container_name(container_id: &str) -> String {
    format!("mesos-{container_id}")
}

/// Labels on every container we create. `AGENT` identifies the owning
/// agent, so agents sharing one engine never reap each other's containers.
pub mod labels {
    pub const AGENT: &str = "paddock.agent_id";
    pub const CONTAINER: &str = "paddock.container_id";
    pub const TASK: &str = "paddock.task_id";
    pub const FRAMEWORK: &str = "paddock.framework_id";
    pub const EXECUTOR: &str = "paddock.executor_id";
}

/// What the agent knows about its engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// Not probed yet.
    Unknown,
    Reachable,
    /// The message DOCKER tasks fail with.
    Unreachable(String),
}

/// The engine's address: `DOCKER_HOST`, or the local socket.
pub fn host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_HOST.to_string())
}

/// A client for the engine at [`host`], speaking the engine's API version.
pub async fn connect() -> Result<Docker, String> {
    let host = host();
    let docker = Docker::connect_with_host(&host)
        .map_err(|e| format!("Docker is not reachable at {host}: {e}"))?
        .with_timeout(REQUEST_TIMEOUT);
    // bollard asks for a newer API than Debian's engine (1.41) speaks.
    let docker = docker
        .negotiate_version()
        .await
        .map_err(|e| format!("Docker is not reachable at {host}: {e}"))?;
    Ok(docker)
}

/// Connects and pings: the error says where Docker was looked for.
pub async fn probe() -> Result<Docker, String> {
    let docker = connect().await?;
    docker
        .ping()
        .await
        .map_err(|e| format!("Docker is not reachable at {}: {e}", host()))?;
    Ok(docker)
}

/// The message of a bollard error without its Rust debug noise.
pub fn describe(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } => format!("{message} (HTTP {status_code})"),
        other => other.to_string(),
    }
}

/// True for "no such container/image".
pub fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_mesos() {
        assert_eq!(container_name("abc"), "mesos-abc");
    }

    #[test]
    fn not_found_is_recognised() {
        let e = bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            message: "No such image: x".into(),
        };
        assert!(is_not_found(&e));
        assert_eq!(describe(&e), "No such image: x (HTTP 404)");
    }
}
