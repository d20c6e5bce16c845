//! The built-in frameworks inside `paddock master` and `paddock dev`, and
//! on their own as `paddock marathon` and `paddock chronos`. Each reaches
//! the master over its public scheduler API, as an external framework does.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The built-in frameworks' flags on `master` and `dev`.
#[derive(Args, Debug, Clone)]
pub struct BuiltinFlags {
    /// Marathon's REST API port (`0` disables Marathon).
    #[arg(long, default_value_t = 8080)]
    pub marathon_port: u16,
    /// Chronos's REST API port (`0` disables Chronos).
    #[arg(long, default_value_t = 4400)]
    pub chronos_port: u16,
    /// Do not run the built-in Marathon.
    #[arg(long)]
    pub no_marathon: bool,
    /// Do not run the built-in Chronos.
    #[arg(long)]
    pub no_chronos: bool,
}

/// `paddock marathon` / `paddock chronos`: one framework against a master.
#[derive(Args, Debug, Clone)]
pub struct StandaloneArgs {
    /// The master, HOST:PORT.
    #[arg(long, env = "PADDOCK_MASTER", default_value = "127.0.0.1:5050")]
    pub master: String,
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: IpAddr,
    /// The REST API port (default: 8080 for Marathon, 4400 for Chronos).
    #[arg(long)]
    pub port: Option<u16>,
    /// Where the framework keeps its state.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The host name to advertise (default: the bind address).
    #[arg(long)]
    pub hostname: Option<String>,
}

/// Running built-in frameworks, stopped together.
pub struct Running {
    stop: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<Result<()>>)>,
}

impl Running {
    /// Resolves when any framework stops by itself (with its result).
    pub async fn any_stopped(&mut self) -> (&'static str, Result<()>) {
        if self.tasks.is_empty() {
            return futures::future::pending().await;
        }
        let handles = self.tasks.iter_mut().map(|(_, h)| h);
        let (result, i, _) = futures::future::select_all(handles).await;
        let name = self.tasks.remove(i).0;
        let result = result
            .with_context(|| format!("{name} task"))
            .and_then(|r| r);
        (name, result)
    }

    /// Asks every framework to stop and waits for them.
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(true);
        for (name, handle) in self.tasks {
            handle.await.with_context(|| format!("{name} task"))??;
        }
        Ok(())
    }
}

/// What the frameworks need to know about the master they run beside.
pub struct Placement<'a> {
    /// The master, `host:port`, as the frameworks reach it.
    pub master: String,
    pub bind: IpAddr,
    pub hostname: Option<String>,
    /// Their state goes to `<data_dir>/marathon` and `<data_dir>/chronos`.
    pub data_dir: &'a Path,
    /// The web UI, served on their ports too.
    pub ui: paddock_ui::UiConfig,
}

impl BuiltinFlags {
    fn marathon_on(&self) -> bool {
        !self.no_marathon && self.marathon_port != 0
    }

    fn chronos_on(&self) -> bool {
        !self.no_chronos && self.chronos_port != 0
    }

    /// Where the UI finds the master and the enabled frameworks, all on
    /// this host.
    pub fn ui_config(&self, master: std::net::SocketAddr, bind: IpAddr) -> paddock_ui::UiConfig {
        let host = if bind.is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            bind.to_string()
        };
        let mut ui = paddock_ui::UiConfig::new(format!("http://{}", local_master(master)));
        ui.marathon = self
            .marathon_on()
            .then(|| format!("http://{host}:{}", self.marathon_port));
        ui.chronos = self
            .chronos_on()
            .then(|| format!("http://{host}:{}", self.chronos_port));
        ui
    }
}

fn marathon_config(
    master: String,
    bind: IpAddr,
    port: u16,
    data_dir: PathBuf,
    hostname: Option<String>,
) -> paddock_marathon::runtime::MarathonConfig {
    let mut c = paddock_marathon::runtime::MarathonConfig::new(master, bind, port, data_dir);
    c.hostname = hostname;
    c
}

fn chronos_config(
    master: String,
    bind: IpAddr,
    port: u16,
    data_dir: PathBuf,
    hostname: Option<String>,
) -> paddock_chronos::ChronosConfig {
    let mut c = paddock_chronos::ChronosConfig::new(master, bind, port, data_dir);
    c.hostname = hostname;
    c
}

/// Starts the enabled built-in frameworks on the current runtime.
pub fn start(flags: &BuiltinFlags, at: Placement<'_>) -> Running {
    let (stop, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let mut tasks: Vec<(&'static str, JoinHandle<Result<()>>)> = Vec::new();
    if flags.marathon_on() {
        let mut config = marathon_config(
            at.master.clone(),
            at.bind,
            flags.marathon_port,
            at.data_dir.join("marathon"),
            at.hostname.clone(),
        );
        config.extra_routes = Some(paddock_ui::router(at.ui.clone()));
        let until = stopped(stop_rx.clone());
        tasks.push((
            "marathon",
            tokio::spawn(async move {
                paddock_marathon::runtime::run(config, until).await?;
                Ok(())
            }),
        ));
    }
    if flags.chronos_on() {
        let mut config = chronos_config(
            at.master.clone(),
            at.bind,
            flags.chronos_port,
            at.data_dir.join("chronos"),
            at.hostname.clone(),
        );
        config.extra_routes = Some(paddock_ui::router(at.ui.clone()));
        let until = stopped(stop_rx.clone());
        tasks.push((
            "chronos",
            tokio::spawn(async move {
                paddock_chronos::run(config, until).await?;
                Ok(())
            }),
        ));
    }
    Running { stop, tasks }
}

/// `host:port` of a master bound to `addr`, as a local framework reaches it.
pub fn local_master(addr: std::net::SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    }
}

fn standalone_dir(args: &StandaloneArgs, name: &str) -> PathBuf {
    args.data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("/var/lib/paddock/{name}")))
}

fn master_of(args: &StandaloneArgs) -> String {
    args.master
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

pub async fn run_marathon(
    args: StandaloneArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let config = marathon_config(
        master_of(&args),
        args.bind,
        args.port.unwrap_or(8080),
        standalone_dir(&args, "marathon"),
        args.hostname.clone(),
    );
    paddock_marathon::runtime::run(config, shutdown).await?;
    Ok(())
}

pub async fn run_chronos(
    args: StandaloneArgs,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let config = chronos_config(
        master_of(&args),
        args.bind,
        args.port.unwrap_or(4400),
        standalone_dir(&args, "chronos"),
        args.hostname.clone(),
    );
    paddock_chronos::run(config, shutdown).await?;
    Ok(())
}
