//! `paddock master`, `paddock agent`, `paddock dev` and the hidden
//! `paddock executor`: flag parsing and process lifetime.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use paddock_proto::resources::{parse_attributes, Resources};

#[derive(Args, Debug, Clone)]
pub struct MasterFlags {
    /// How long an agent may stay silent before it is declared unreachable.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub agent_timeout: Duration,
    /// Rescind offers held longer than this ("0s" keeps them forever).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub offer_timeout: Duration,
    /// Batch allocation interval; events also trigger allocation.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub allocation_interval: Duration,
    /// How often agents heartbeat.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub agent_heartbeat: Duration,
    /// Role weights for DRF, e.g. "prod=3,dev=1" (default weight 1).
    #[arg(long, value_parser = parse_weights, default_value = "")]
    pub weights: Weights,
}

#[derive(Debug, Clone, Default)]
pub struct Weights(pub Vec<(String, f64)>);

fn parse_weights(s: &str) -> Result<Weights, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (role, w) = part
            .split_once('=')
            .ok_or_else(|| format!("'{part}': expected ROLE=WEIGHT"))?;
        let w: f64 = w
            .trim()
            .parse()
            .map_err(|_| format!("'{part}': weight must be a number"))?;
        if !w.is_finite() || w <= 0.0 {
            return Err(format!("'{part}': weight must be positive"));
        }
        out.push((role.trim().to_string(), w));
    }
    Ok(Weights(out))
}

impl MasterFlags {
    fn config(&self) -> paddock_master::MasterConfig {
        paddock_master::MasterConfig {
            agent_timeout: self.agent_timeout,
            agent_heartbeat: self.agent_heartbeat,
            offer_timeout: (!self.offer_timeout.is_zero()).then_some(self.offer_timeout),
            allocation_interval: self.allocation_interval,
            weights: self.weights.0.clone(),
            ..Default::default()
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct MasterArgs {
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: IpAddr,
    #[arg(long, default_value_t = 5050)]
    pub port: u16,
    #[arg(long, default_value = "/var/lib/paddock/master")]
    pub data_dir: PathBuf,
    /// The host name to advertise (default: the bind address).
    #[arg(long)]
    pub hostname: Option<String>,
    #[command(flatten)]
    pub flags: MasterFlags,
    #[command(flatten)]
    pub builtins: crate::frameworks::BuiltinFlags,
}

#[derive(Args, Debug, Clone)]
pub struct AgentFlags {
    /// Resources to offer, in Mesos syntax; parts not given are detected.
    #[arg(long)]
    pub resources: Option<String>,
    /// Attributes, e.g. "rack:r1;zone:a".
    #[arg(long)]
    pub attributes: Option<String>,
    /// The cgroup (under each controller) that holds task cgroups.
    #[arg(long, default_value = "paddock")]
    pub cgroup_root: String,
    /// How long a restarted agent waits for its executors to reconnect.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub executor_reregister_timeout: Duration,
    /// Containerizers, comma-separated: "mesos" (command and MESOS tasks),
    /// "mesos,docker" also runs DOCKER tasks through the Docker engine.
    #[arg(long, default_value = "mesos", value_delimiter = ',')]
    pub containerizers: Vec<String>,
    /// How often each container's disk usage (sandbox, container layer) is
    /// measured; "0s" turns the checks off.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub disk_watch_interval: Duration,
    /// Kill a task whose container uses more than its `disk`
    /// (REASON_CONTAINER_LIMITATION_DISK); "false" only measures.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub enforce_disk_quota: bool,
    /// Registry credentials for image pulls: a Docker config.json
    /// (`{"auths": {"reg:5000": {"auth": base64(user:pass)}}}`) given as
    /// JSON or as the path of a file (Mesos's --docker_config).
    #[arg(long)]
    pub docker_config: Option<String>,
    /// Registries (host[:port], comma-separated) pulled from over plain
    /// HTTP; loopback ones always are.
    #[arg(long, value_delimiter = ',')]
    pub insecure_registries: Vec<String>,
    /// Where REFERENCE secrets (a task's image.docker.config, Marathon's
    /// pullConfig) are files: the secret's name is its path under this dir.
    #[arg(long)]
    pub secrets_dir: Option<PathBuf>,
    /// CNI network configuration files (*.conf, *.conflist), each defining
    /// a network by its name, for MESOS containers' `network_infos`.
    #[arg(long)]
    pub network_cni_config_dir: Option<PathBuf>,
    /// Where the CNI plugin binaries are (`:`-separated directories).
    #[arg(long)]
    pub network_cni_plugins_dir: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct AgentArgs {
    /// The master, HOST:PORT.
    #[arg(long, env = "PADDOCK_MASTER")]
    pub master: String,
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: IpAddr,
    #[arg(long, default_value_t = 5051)]
    pub port: u16,
    #[arg(long, default_value = "/var/lib/paddock/agent")]
    pub work_dir: PathBuf,
    /// The host name to advertise (default: this host's name).
    #[arg(long)]
    pub hostname: Option<String>,
    /// The address the master and executors use to reach this agent
    /// (default: the bind address, or 127.0.0.1 when binding 0.0.0.0).
    #[arg(long)]
    pub advertise_ip: Option<IpAddr>,
    #[command(flatten)]
    pub flags: AgentFlags,
}

#[derive(Args, Debug, Clone)]
pub struct DevArgs {
    /// Where the master's and the agent's state live.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    #[arg(long, default_value_t = 5050)]
    pub master_port: u16,
    #[arg(long, default_value_t = 5051)]
    pub agent_port: u16,
    #[command(flatten)]
    pub master: MasterFlags,
    #[command(flatten)]
    pub agent: AgentFlags,
    #[command(flatten)]
    pub builtins: crate::frameworks::BuiltinFlags,
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

fn exit_code(result: Result<()>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("paddock: {e:#}");
            1
        }
    }
}

pub fn run_master(args: MasterArgs) -> i32 {
    init_logging();
    exit_code(runtime().and_then(|rt| {
        rt.block_on(async {
            let server = paddock_master::MasterServer::bind(paddock_master::MasterOptions {
                bind: args.bind,
                port: args.port,
                data_dir: args.data_dir.clone(),
                hostname: args.hostname.clone(),
                config: args.flags.config(),
            })
            .await?;
            let mut server = server;
            let ui = args.builtins.ui_config(server.local_addr(), args.bind);
            server.merge_routes(paddock_ui::router(ui.clone()));
            let builtins = crate::frameworks::start(
                &args.builtins,
                crate::frameworks::Placement {
                    master: crate::frameworks::local_master(server.local_addr()),
                    bind: args.bind,
                    hostname: args.hostname.clone(),
                    data_dir: &args.data_dir,
                    ui,
                },
            );
            serve_master_with(server, builtins).await
        })
    }))
}

/// Serves a master beside its built-in frameworks until SIGTERM/SIGINT or
/// until a framework fails; the frameworks stop first, then the master.
async fn serve_master_with(
    server: paddock_master::MasterServer,
    mut builtins: crate::frameworks::Running,
) -> Result<()> {
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let master = tokio::spawn(server.serve(async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    }));
    let failed = tokio::select! {
        _ = shutdown_signal() => None,
        (name, r) = builtins.any_stopped() => Some(match r {
            Ok(()) => anyhow::anyhow!("{name} stopped unexpectedly"),
            Err(e) => e,
        }),
    };
    let stopped = builtins.stop().await;
    let _ = stop_tx.send(true);
    master.await.context("master task")??;
    match failed {
        Some(e) => Err(e),
        None => stopped,
    }
}

pub fn run_marathon(args: crate::frameworks::StandaloneArgs) -> i32 {
    init_logging();
    exit_code(
        runtime()
            .and_then(|rt| rt.block_on(crate::frameworks::run_marathon(args, shutdown_signal()))),
    )
}

pub fn run_chronos(args: crate::frameworks::StandaloneArgs) -> i32 {
    init_logging();
    exit_code(
        runtime()
            .and_then(|rt| rt.block_on(crate::frameworks::run_chronos(args, shutdown_signal()))),
    )
}

fn agent_config(
    master: String,
    bind: IpAddr,
    port: u16,
    work_dir: PathBuf,
    hostname: Option<String>,
    advertise_ip: Option<IpAddr>,
    flags: &AgentFlags,
) -> Result<paddock_agent::AgentConfig> {
    let resources = flags
        .resources
        .as_deref()
        .map(Resources::parse)
        .transpose()
        .context("invalid --resources")?;
    let attributes = flags
        .attributes
        .as_deref()
        .map(parse_attributes)
        .transpose()
        .context("invalid --attributes")?
        .unwrap_or_default();
    let advertise = advertise_ip.unwrap_or(if bind.is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        bind
    });
    let hostname = match hostname {
        Some(h) => h,
        None => nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| advertise.to_string()),
    };
    Ok(paddock_agent::AgentConfig {
        master,
        bind,
        port,
        hostname,
        advertise_ip: advertise.to_string(),
        work_dir,
        resources,
        attributes,
        executor_binary: std::env::current_exe().context("cannot find the paddock binary")?,
        cgroup_root: flags.cgroup_root.clone(),
        executor_reregister_timeout: flags.executor_reregister_timeout,
        containerizers: flags.containerizers.clone(),
        disk_watch_interval: flags.disk_watch_interval,
        enforce_disk_quota: flags.enforce_disk_quota,
        registries: paddock_agent::registry_auth::RegistrySettings::from_flags(
            flags.docker_config.as_deref(),
            &flags.insecure_registries,
            flags.secrets_dir.clone(),
        )?,
        cni: paddock_agent::network::CniDirs {
            config_dir: flags.network_cni_config_dir.clone(),
            plugins_dir: flags.network_cni_plugins_dir.clone(),
        },
    })
}

pub fn run_agent(args: AgentArgs) -> i32 {
    init_logging();
    let master = args
        .master
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    exit_code(
        agent_config(
            master,
            args.bind,
            args.port,
            args.work_dir,
            args.hostname,
            args.advertise_ip,
            &args.flags,
        )
        .and_then(|config| {
            runtime()?.block_on(async {
                paddock_agent::run(config, shutdown_signal()).await?;
                Ok(())
            })
        }),
    )
}

fn default_dev_dir() -> PathBuf {
    match std::env::var_os("XDG_DATA_HOME").or_else(|| std::env::var_os("HOME")) {
        Some(base) if std::env::var_os("XDG_DATA_HOME").is_some() => {
            PathBuf::from(base).join("paddock/dev")
        }
        Some(home) => PathBuf::from(home).join(".local/share/paddock/dev"),
        None => PathBuf::from("/var/tmp/paddock-dev"),
    }
}

pub fn run_dev(args: DevArgs) -> i32 {
    init_logging();
    let data_dir = args.data_dir.clone().unwrap_or_else(default_dev_dir);
    let result = (|| -> Result<()> {
        let rt = runtime()?;
        rt.block_on(async {
            let server = paddock_master::MasterServer::bind(paddock_master::MasterOptions {
                bind: args.bind,
                port: args.master_port,
                data_dir: data_dir.join("master"),
                hostname: Some(args.bind.to_string()),
                config: args.master.config(),
            })
            .await?;
            let master_addr = server.local_addr();
            let config = agent_config(
                master_addr.to_string(),
                args.bind,
                args.agent_port,
                data_dir.join("agent"),
                Some(args.bind.to_string()),
                Some(args.bind),
                &args.agent,
            )?;
            // The agent stops first: its session with the master then closes
            // from its side, and the master's graceful shutdown has nothing
            // left to wait for.
            let (agent_stop_tx, mut agent_stop) = tokio::sync::watch::channel(false);
            let (master_stop_tx, mut master_stop) = tokio::sync::watch::channel(false);
            let mut agent = tokio::spawn(paddock_agent::run(config, async move {
                let _ = agent_stop.changed().await;
            }));
            let ui = args.builtins.ui_config(master_addr, args.bind);
            let mut server = server;
            server.merge_routes(paddock_ui::router(ui.clone()));
            let mut builtins = crate::frameworks::start(
                &args.builtins,
                crate::frameworks::Placement {
                    master: master_addr.to_string(),
                    bind: args.bind,
                    hostname: Some(args.bind.to_string()),
                    data_dir: &data_dir,
                    ui,
                },
            );
            let master = tokio::spawn(server.serve(async move {
                let _ = master_stop.changed().await;
            }));
            let port_of = |on: bool, port: u16| {
                if on && port != 0 {
                    format!("http://{}:{port}", args.bind)
                } else {
                    "off".to_string()
                }
            };
            eprintln!(
                "paddock dev: master http://{master_addr}  agent http://{}:{}  marathon {}  chronos {}  data {}",
                args.bind,
                args.agent_port,
                port_of(!args.builtins.no_marathon, args.builtins.marathon_port),
                port_of(!args.builtins.no_chronos, args.builtins.chronos_port),
                data_dir.display()
            );
            let failed = tokio::select! {
                _ = shutdown_signal() => None,
                r = &mut agent => { r.context("agent task")??; anyhow::bail!("the agent stopped unexpectedly"); }
                (name, r) = builtins.any_stopped() => Some(match r {
                    Ok(()) => anyhow::anyhow!("{name} stopped unexpectedly"),
                    Err(e) => e,
                }),
            };
            let stopped = builtins.stop().await;
            let _ = agent_stop_tx.send(true);
            agent.await.context("agent task")??;
            let _ = master_stop_tx.send(true);
            master.await.context("master task")??;
            match failed {
                Some(e) => Err(e),
                None => stopped,
            }
        })
    })();
    exit_code(result)
}

pub fn run_executor() -> i32 {
    // The executor logs into the task's stderr: keep it quiet by default.
    let filter = std::env::var("PADDOCK_EXECUTOR_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
    paddock_agent::executor::run()
}
