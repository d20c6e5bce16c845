//! Wiring: the shared hub (core + open streams), timers, and one listener
//! that serves both the HTTP APIs and the agents' gRPC sessions.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use paddock_proto::internal::MasterMessage;
use paddock_proto::mesos::{AgentId, FrameworkId};
use paddock_proto::recordio;
use paddock_proto::scheduler::Event;
use tokio::sync::{mpsc, Notify};

use crate::config::MasterConfig;
use crate::core::{Effect, Master};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot create data dir {0}: {1}")]
    DataDir(PathBuf, std::io::Error),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("server failed: {0}")]
    Serve(std::io::Error),
}

#[derive(Debug, Clone)]
pub struct MasterOptions {
    pub bind: IpAddr,
    pub port: u16,
    pub data_dir: PathBuf,
    /// The name this master advertises; defaults to the bind address.
    pub hostname: Option<String>,
    pub config: MasterConfig,
}

pub type AgentTx = mpsc::UnboundedSender<Result<MasterMessage, tonic::Status>>;

/// The core plus the live connections its effects go to.
pub struct Hub {
    pub core: Master,
    pub framework_streams: HashMap<FrameworkId, (String, mpsc::UnboundedSender<Bytes>)>,
    pub agent_links: HashMap<AgentId, (u64, AgentTx)>,
}

impl Hub {
    /// Delivers every effect the core produced.
    pub fn flush(&mut self) {
        for effect in self.core.drain() {
            match effect {
                Effect::ToFramework(fw, event) => {
                    if let Some((_, tx)) = self.framework_streams.get(&fw) {
                        let _ = tx.send(encode_event(&event));
                    }
                }
                Effect::ToAgent(agent, msg) => {
                    if let Some((_, tx)) = self.agent_links.get(&agent) {
                        let _ = tx.send(Ok(msg));
                    }
                }
                Effect::CloseFramework(fw) => {
                    self.framework_streams.remove(&fw);
                }
            }
        }
    }
}

pub fn encode_event(event: &Event) -> Bytes {
    let json = serde_json::to_vec(event).unwrap_or_default();
    Bytes::from(recordio::encode(&json))
}

/// State shared by every handler.
pub struct Shared {
    hub: Mutex<Hub>,
    pub allocate_now: Notify,
    pub address: SocketAddr,
    pub hostname: String,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Hub> {
        self.hub
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the core, delivers its effects, and asks for an
    /// allocation pass when `reallocate` is set.
    pub fn with_core<T>(&self, reallocate: bool, f: impl FnOnce(&mut Master, Instant) -> T) -> T {
        let out = {
            let mut hub = self.lock();
            let out = f(&mut hub.core, Instant::now());
            hub.flush();
            out
        };
        if reallocate {
            self.allocate_now.notify_one();
        }
        out
    }

    pub fn master_pid(&self) -> String {
        format!("master@{}", self.address)
    }
}

/// A bound, not yet serving master.
pub struct MasterServer {
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    extra: Option<axum::Router>,
}

impl MasterServer {
    pub async fn bind(opts: MasterOptions) -> Result<MasterServer, ServeError> {
        std::fs::create_dir_all(&opts.data_dir)
            .map_err(|e| ServeError::DataDir(opts.data_dir.clone(), e))?;
        let addr = SocketAddr::new(opts.bind, opts.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| ServeError::Bind(addr, e))?;
        let address = listener
            .local_addr()
            .map_err(|e| ServeError::Bind(addr, e))?;
        let id = uuid::Uuid::new_v4().to_string();
        // A marker left by an earlier master on this data dir: agents and
        // their tasks are about to re-register.
        let marker = opts.data_dir.join("master.started");
        let restarted = marker.exists();
        if let Err(e) = std::fs::write(&marker, &id) {
            tracing::warn!("cannot write {}: {e}", marker.display());
        }
        let hostname = opts
            .hostname
            .clone()
            .unwrap_or_else(|| address.ip().to_string());
        let shared = Arc::new(Shared {
            hub: Mutex::new(Hub {
                core: {
                    let mut core = Master::new(id, opts.config.clone());
                    if restarted {
                        let window = opts.config.agent_timeout;
                        tracing::info!(
                            "restarted on an existing data dir: holding reconciliation of \
                             unknown tasks for {window:?} while agents re-register"
                        );
                        core.start_recovery_window(std::time::Instant::now(), window);
                    }
                    core
                },
                framework_streams: HashMap::new(),
                agent_links: HashMap::new(),
            }),
            allocate_now: Notify::new(),
            address,
            hostname,
        });
        Ok(MasterServer {
            listener,
            shared,
            extra: None,
        })
    }

    /// Serves `routes` beside the master's own (the web UI), on the same
    /// port. The paths must not overlap the master's (axum refuses that).
    pub fn merge_routes(&mut self, routes: axum::Router) {
        self.extra = Some(match self.extra.take() {
            Some(r) => r.merge(routes),
            None => routes,
        });
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.shared.address
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let shared = self.shared.clone();
        let timers = tokio::spawn(run_timers(shared.clone()));
        let grpc =
            tonic::service::Routes::new(crate::link::service(shared.clone())).into_axum_router();
        let mut app = crate::http::router(shared.clone()).merge(grpc);
        if let Some(extra) = self.extra {
            app = app.merge(extra);
        }
        let app = app.fallback(crate::http::not_found);
        tracing::info!(address = %shared.address, "master listening");
        // Event streams write small chunks: without TCP_NODELAY, Nagle and
        // delayed ACKs hold them for up to 40 ms.
        let listener = axum::serve::ListenerExt::tap_io(self.listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        // Subscription streams and agent sessions never end by themselves,
        // and graceful shutdown waits for every open response: close them.
        let closing = shared.clone();
        let (stopping_tx, stopping) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            shutdown.await;
            tracing::info!("master stopping");
            {
                let mut hub = closing.lock();
                hub.framework_streams.clear();
                hub.agent_links.clear();
            }
            let _ = stopping_tx.send(());
        };
        let serve = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown);
        // A peer that keeps its request stream open (an agent session that
        // is reconnecting, a client mid-call) would hold graceful shutdown
        // forever: after the drain period, stop regardless.
        let drain = async {
            if stopping.await.is_ok() {
                tokio::time::sleep(SHUTDOWN_DRAIN).await;
                tracing::warn!("connections still open after {SHUTDOWN_DRAIN:?}; closing them");
            } else {
                std::future::pending::<()>().await;
            }
        };
        let result = tokio::select! {
            r = std::future::IntoFuture::into_future(serve) => r.map_err(ServeError::Serve),
            _ = drain => Ok(()),
        };
        timers.abort();
        result
    }
}

/// How long a stopping master waits for open connections to finish.
const SHUTDOWN_DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Allocation passes, housekeeping ticks and framework heartbeats.
async fn run_timers(shared: Arc<Shared>) {
    let (interval, heartbeat) = {
        let hub = shared.lock();
        (
            hub.core.config.allocation_interval,
            hub.core.config.framework_heartbeat,
        )
    };
    let mut alloc_tick = tokio::time::interval(interval);
    let mut house_tick = tokio::time::interval(std::time::Duration::from_millis(250));
    let mut hb_tick = tokio::time::interval(heartbeat);
    alloc_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    house_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    hb_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shared.allocate_now.notified() => shared.with_core(false, |m, now| m.allocate(now)),
            _ = alloc_tick.tick() => shared.with_core(false, |m, now| m.allocate(now)),
            _ = house_tick.tick() => shared.with_core(false, |m, now| m.tick(now)),
            _ = hb_tick.tick() => {
                let hub = shared.lock();
                let beat = encode_event(&Event::Heartbeat);
                for (_, tx) in hub.framework_streams.values() {
                    let _ = tx.send(beat.clone());
                }
            }
        }
    }
}
