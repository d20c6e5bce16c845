//! The Paddock agent.
//!
//! It owns everything that happens on one node: resource detection
//! (`resources`), the gRPC session with the master (`link`), containers and
//! their executors (`containers`), the reliable status-update streams
//! (`updates`), checkpointing and recovery (`checkpoint`), the agent's HTTP
//! API and the Mesos executor API (`http`), the built-in command
//! executor that `paddock executor` runs (`executor`), the Docker
//! containerizer (`docker`: engine checks, orphan reaping, stats; its
//! executor side is `executor::docker`), per-container disk limits
//! (`disk`: periodic usage checks, REASON_CONTAINER_LIMITATION_DISK), and
//! CNI container networks for MESOS containers (`network`: config files,
//! plugin calls, network namespaces, DEL for executors that died).

mod checkpoint;
mod containers;
pub mod disk;
pub mod docker;
pub mod executor;
mod http;
mod link;
pub mod network;
pub mod registry_auth;
pub mod resources;
mod state;
mod updates;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use paddock_proto::mesos::Attribute;
use paddock_proto::resources::Resources;

pub use state::Agent;

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The master's `host:port`; gRPC shares its HTTP port.
    pub master: String,
    pub bind: IpAddr,
    pub port: u16,
    /// The name the agent advertises (offers, `HOST`).
    pub hostname: String,
    /// The address the master and executors use to reach this agent.
    pub advertise_ip: String,
    pub work_dir: PathBuf,
    /// Resources to offer; parts not given are detected from the host.
    pub resources: Option<Resources>,
    pub attributes: Vec<Attribute>,
    /// The `paddock` binary: `<bin> executor` and `<bin> init -- …`.
    pub executor_binary: PathBuf,
    /// The cgroup that holds every container's cgroup.
    pub cgroup_root: String,
    /// After a restart, how long to wait for live executors to reconnect.
    pub executor_reregister_timeout: Duration,
    /// `--containerizers`: "mesos" always; "docker" enables the Docker
    /// containerizer (`docker`).
    pub containerizers: Vec<String>,
    /// `--disk-watch-interval`: how often every container's disk usage is
    /// measured (Mesos's `--container_disk_watch_interval`, 15 s there and
    /// here by default). Zero turns the checks off.
    pub disk_watch_interval: Duration,
    /// `--enforce-disk-quota`: kill a container that uses more than its
    /// `disk` (else it is only measured and reported).
    pub enforce_disk_quota: bool,
    /// `--docker-config`, `--insecure-registries`, `--secrets-dir`: how image
    /// tasks reach registries (`registry_auth`).
    pub registries: registry_auth::RegistrySettings,
    /// `--network-cni-config-dir` / `--network-cni-plugins-dir`: the CNI
    /// networks of MESOS containers (`network`).
    pub cni: network::CniDirs,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("work dir {0}: {1}")]
    WorkDir(PathBuf, std::io::Error),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("agent HTTP server failed: {0}")]
    Serve(std::io::Error),
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    #[error("cgroups are not usable here: {0}")]
    Isolation(String),
}

/// How long a stopping agent waits for open connections to finish.
const SHUTDOWN_DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs the agent until `shutdown` resolves. Tasks are left running: they
/// outlive the agent and are recovered by the next one.
pub async fn run(
    config: AgentConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AgentError> {
    std::fs::create_dir_all(&config.work_dir)
        .map_err(|e| AgentError::WorkDir(config.work_dir.clone(), e))?;
    // Executors read the registry settings from the work dir at launch.
    config
        .registries
        .write(&config.work_dir)
        .map_err(|e| AgentError::WorkDir(config.work_dir.join(registry_auth::settings::FILE), e))?;
    // And the CNI directories, before any executor can start.
    network::publish(&config.work_dir, &config.cni)
        .map_err(|e| AgentError::WorkDir(network::root(&config.work_dir), e))?;
    paddock_isolation::cgroups::detect_mode().map_err(|e| AgentError::Isolation(e.to_string()))?;
    let addr = SocketAddr::new(config.bind, config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| AgentError::Bind(addr, e))?;
    let total = resources::detect(config.resources.as_ref(), &config.work_dir);
    let agent = Arc::new(Agent::new(config, total)?);
    containers::recover(&agent);
    let link = tokio::spawn(link::run(agent.clone()));
    let timers = tokio::spawn(state::run_timers(agent.clone()));
    let docker = tokio::spawn(docker::supervise(agent.clone()));
    let disk = tokio::spawn(disk::run(agent.clone()));
    let cni = tokio::spawn(network::supervise(agent.clone()));
    let app = http::router(agent.clone());
    tracing::info!(address = %addr, "agent listening");
    // Executor event streams write small chunks; see the master's server.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let stopper = agent.clone();
    let (stopping_tx, stopping) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        tracing::info!("agent stopping; tasks keep running");
        stopper.stop();
        let _ = stopping_tx.send(());
    };
    let serve = axum::serve(listener, app).with_graceful_shutdown(shutdown);
    // An executor or client that keeps a stream open would hold graceful
    // shutdown forever: after the drain period, stop regardless (tasks and
    // their executors keep running and reconnect to the next agent).
    let drain = async {
        if stopping.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_DRAIN).await;
            tracing::warn!("connections still open after {SHUTDOWN_DRAIN:?}; closing them");
        } else {
            std::future::pending::<()>().await;
        }
    };
    let served = tokio::select! {
        r = std::future::IntoFuture::into_future(serve) => r.map_err(AgentError::Serve),
        _ = drain => Ok(()),
    };
    link.abort();
    timers.abort();
    docker.abort();
    disk.abort();
    cni.abort();
    served
}
