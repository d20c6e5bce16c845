//! The Marathon framework as a running service: [`run`] restores the core
//! from the store, subscribes to the master with the paddock-scheduler
//! driver, serves the REST API, and wires them together. Driver events,
//! probe results and a periodic tick go into the core; the core's effects
//! are executed in order by one task (persist first, then talk to the
//! master, then acknowledge the status update that caused them).

mod backend;
pub mod convert;
mod events;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use paddock_proto::mesos::{Capability, FrameworkId, FrameworkInfo};
use paddock_scheduler::{Driver, DriverConfig, DriverEvent};
use tokio::sync::{mpsc, watch, Semaphore};

use crate::api::{router, ApiState, ServerInfo};
use crate::core::effects::{
    CoreEvent, Effect, Record, APP_PREFIX, DEPLOYMENT_PREFIX, FRAMEWORK_ID_KEY, INSTANCE_PREFIX,
};
use crate::core::{CoreConfig, Scheduler};
use crate::events::EventBus;
use crate::health::{run_probe, ProbeClient, ProbeReport};
use crate::model::{Group, Timestamp};
use crate::store::{Store, StoreError};

pub use backend::{Batch, Shared};

/// One week, Marathon's default `--failover_timeout`.
pub const FAILOVER_TIMEOUT_SECONDS: f64 = 604_800.0;

/// How `paddock` runs Marathon.
#[derive(Debug, Clone)]
pub struct MarathonConfig {
    /// More routes served on the same port (the web UI); their paths must
    /// not overlap the API's.
    pub extra_routes: Option<axum::Router>,
    /// The Mesos master, `host:port`.
    pub master: String,
    /// Address and port of the REST API (Marathon's default port is 8080).
    pub bind: IpAddr,
    pub port: u16,
    /// Where the redb store lives.
    pub data_dir: PathBuf,
    /// The hostname `/v2/info` and `/v2/leader` report; the bind address if unset.
    pub hostname: Option<String>,
    pub framework_name: String,
    pub role: String,
    /// The user tasks run as when an app names none.
    pub user: String,
    pub failover_timeout_seconds: f64,
    /// How often the core's periodic pass runs.
    pub tick: Duration,
    /// At most this many health/readiness probes run at once.
    pub max_concurrent_probes: usize,
    pub core: CoreConfig,
}

impl MarathonConfig {
    pub fn new(
        master: impl Into<String>,
        bind: IpAddr,
        port: u16,
        data_dir: impl Into<PathBuf>,
    ) -> MarathonConfig {
        MarathonConfig {
            extra_routes: None,
            master: master.into(),
            bind,
            port,
            data_dir: data_dir.into(),
            hostname: None,
            framework_name: "marathon".into(),
            role: "*".into(),
            user: std::env::var("USER").unwrap_or_else(|_| "root".into()),
            failover_timeout_seconds: FAILOVER_TIMEOUT_SECONDS,
            tick: Duration::from_secs(1),
            max_concurrent_probes: 256,
            core: CoreConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MarathonError {
    #[error("marathon: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("marathon: {0}")]
    Store(#[from] StoreError),
    #[error("marathon: the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// How long the HTTP server may take to close once shutdown started.
const SERVER_GRACE: Duration = Duration::from_millis(2500);

/// Runs Marathon until `shutdown` resolves (or `DELETE /v2/leader`).
pub async fn run(
    config: MarathonConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), MarathonError> {
    let store = Arc::new(Store::open(&config.data_dir)?);
    let root = store
        .load_root()?
        .unwrap_or_else(|| Group::empty_root(Timestamp::ZERO));
    let core = restore_core(&store, &root, config.core.clone())?;
    let framework_id = core.framework_id().map(str::to_string);

    let addr = SocketAddr::new(config.bind, config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| MarathonError::Bind { addr, source })?;
    let local = listener.local_addr().unwrap_or(addr);
    let hostname = config
        .hostname
        .clone()
        .unwrap_or_else(|| local.ip().to_string());

    let (effects_tx, effects_rx) = mpsc::unbounded_channel::<Batch>();
    let root = Arc::new(root);
    let plans = core
        .deployments()
        .iter()
        .map(|d| (d.plan.id.clone(), (root.clone(), root.clone())))
        .collect::<HashMap<_, _>>();
    let shared = Arc::new(Shared {
        core: Mutex::new(core),
        target: Mutex::new(root),
        plans: Mutex::new(plans),
        effects: effects_tx,
    });
    let bus = EventBus::default();
    let mut info = ServerInfo::new(&hostname, local.port(), &config.master);
    info.framework_name = config.framework_name.clone();
    info.mesos_role = config.role.clone();
    info.mesos_user = config.user.clone();
    info.failover_timeout_seconds = config.failover_timeout_seconds as u64;
    info.max_running_deployments = config.core.max_running_deployments as u64;
    let api = ApiState::new(shared.clone(), store.clone(), bus.clone(), info)?;

    let framework = FrameworkInfo {
        user: config.user.clone(),
        name: config.framework_name.clone(),
        id: framework_id.map(FrameworkId::new),
        failover_timeout: Some(config.failover_timeout_seconds),
        checkpoint: Some(true),
        role: Some(config.role.clone()),
        hostname: Some(hostname.clone()),
        webui_url: Some(format!("http://{hostname}:{}", local.port())),
        capabilities: vec![Capability {
            kind: "PARTITION_AWARE".into(),
        }],
        ..FrameworkInfo::default()
    };
    let (driver, driver_events) = Driver::start(DriverConfig {
        master: config.master.clone(),
        framework,
    });
    tracing::info!(address = %local, master = %config.master, "marathon: serving the REST API");

    let (executor_stop, executor_stop_rx) = watch::channel(false);
    let executor = tokio::spawn(execute_effects(
        effects_rx,
        executor_stop_rx,
        shared.clone(),
        store.clone(),
        bus,
        driver.clone(),
    ));

    let (stop_tx, mut stop_rx) = watch::channel(false);
    let mut app = router(api.clone());
    if let Some(extra) = config.extra_routes.clone() {
        app = app.merge(extra);
    }
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            })
            .await
    });
    let server_abort = server.abort_handle();

    let abdicated = {
        let api = api.clone();
        async move { api.abdicated().await }
    };
    let served = tokio::select! {
        _ = shutdown => Ok(()),
        _ = abdicated => {
            tracing::info!("marathon: leadership abdicated, stopping");
            Ok(())
        }
        r = event_loop(&config, shared.clone(), driver_events) => r,
    };

    // Stop promptly: close SSE streams, stop serving, finish queued effects,
    // stop the driver. The whole takes at most SERVER_GRACE + 500 ms.
    api.close_streams();
    let _ = stop_tx.send(true);
    let mut server = server;
    let server_result = match tokio::time::timeout(SERVER_GRACE, &mut server).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(MarathonError::Serve(e)),
        Ok(Err(_)) => Ok(()),
        Err(_) => {
            server_abort.abort();
            let _ = server.await;
            tracing::warn!("marathon: HTTP connections still open at shutdown; closed them");
            Ok(())
        }
    };
    // Let the executor finish what is queued (bounded), then release the store.
    drop(api);
    drop(shared);
    let _ = executor_stop.send(true);
    let executor_abort = executor.abort_handle();
    let mut executor = executor;
    if tokio::time::timeout(Duration::from_millis(500), &mut executor)
        .await
        .is_err()
    {
        executor_abort.abort();
        let _ = executor.await;
    }
    driver.stop();
    tracing::info!("marathon: stopped");
    served.and(server_result)
}

/// Rebuilds the core from the store: the tree's apps are the targets.
fn restore_core(store: &Store, root: &Group, config: CoreConfig) -> Result<Scheduler, StoreError> {
    let mut records = Vec::new();
    let mut instances = Vec::new();
    let mut deployments = Vec::new();
    let framework_id = match store.get_blob::<Record>(FRAMEWORK_ID_KEY)? {
        Some(Record::FrameworkId(id)) => Some(id),
        _ => None,
    };
    for prefix in [APP_PREFIX, INSTANCE_PREFIX, DEPLOYMENT_PREFIX] {
        for (key, value) in store.blobs_with_prefix(prefix)? {
            match serde_json::from_value::<Record>(value) {
                Ok(Record::AppRuntime(a)) => records.push(*a),
                Ok(Record::Instance(i)) => instances.push(*i),
                Ok(Record::Deployment(d)) => deployments.push(*d),
                Ok(Record::FrameworkId(_)) => {}
                Err(e) => {
                    return Err(StoreError::Corrupt {
                        key,
                        message: e.to_string(),
                    })
                }
            }
        }
    }
    tracing::info!(
        apps = records.len(),
        instances = instances.len(),
        deployments = deployments.len(),
        "marathon: restored the scheduler state"
    );
    Ok(Scheduler::restore(
        config,
        framework_id,
        convert::run_specs(root),
        records,
        instances,
        deployments,
    ))
}

/// Feeds driver events, probe results and ticks into the core.
async fn event_loop(
    config: &MarathonConfig,
    shared: Arc<Shared>,
    mut driver_events: mpsc::UnboundedReceiver<DriverEvent>,
) -> Result<(), MarathonError> {
    let mut tick = tokio::time::interval(config.tick);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (probe_tx, mut probe_rx) = mpsc::unbounded_channel::<ProbeReport>();
    let probes = Arc::new(Semaphore::new(config.max_concurrent_probes.max(1)));
    let client = ProbeClient::new();
    loop {
        tokio::select! {
            ev = driver_events.recv() => {
                let Some(ev) = ev else {
                    tracing::warn!("marathon: the driver stopped");
                    return Ok(());
                };
                handle_driver_event(&shared, ev);
            }
            Some(report) = probe_rx.recv() => {
                let now = Timestamp::now();
                shared.with_core(None, |core| match report {
                    ProbeReport::Health { task_id, index, outcome: Some(outcome) } => {
                        core.health_result(&task_id, index, outcome, now)
                    }
                    ProbeReport::Health { task_id, index, outcome: None } => core.probe_skipped(&task_id, index),
                    ProbeReport::Readiness { task_id, result } => core.readiness_result(&task_id, result, now),
                });
            }
            _ = tick.tick() => {
                let now = Timestamp::now();
                let due = shared.with_core(None, |core| {
                    core.tick(now);
                    core.due_probes(now)
                });
                for req in due {
                    let (tx, client, probes) = (probe_tx.clone(), client.clone(), probes.clone());
                    tokio::spawn(async move {
                        let Ok(_permit) = probes.acquire_owned().await else { return };
                        let report = run_probe(&client, &req).await;
                        let _ = tx.send(report);
                    });
                }
            }
        }
    }
}

fn handle_driver_event(shared: &Shared, ev: DriverEvent) {
    let now = Timestamp::now();
    match ev {
        DriverEvent::Subscribed { framework_id } => {
            tracing::info!(framework_id = %framework_id, "marathon: subscribed to the master");
            shared.with_core(None, |core| core.subscribed(&framework_id.value, now));
        }
        DriverEvent::Offers(offers) => {
            shared.with_core(None, |core| core.offers(&offers, now));
        }
        DriverEvent::Rescind(_) => {}
        DriverEvent::Update(status) => {
            let ack = status.uuid.is_some().then(|| status.clone());
            shared.with_core(ack, |core| core.update(&status, now));
        }
        DriverEvent::Failure {
            agent_id: Some(agent),
            status: None,
        } => {
            tracing::warn!(agent = %agent, "marathon: the master lost an agent");
            shared.with_core(None, |core| core.agent_failed(&agent, now));
        }
        DriverEvent::Failure { .. } => {}
        DriverEvent::Error(message) => {
            tracing::error!(%message, "marathon: the master sent an error")
        }
        DriverEvent::Disconnected => {
            tracing::warn!("marathon: disconnected from the master; re-subscribing")
        }
    }
}

/// Executes effect batches in order. Puts and deletes are written in one
/// transaction before the next call to the master (so a task is persisted
/// before its ACCEPT) and before the status updates of the batches are
/// acknowledged. Batches that are already queued are executed together, so
/// a burst of updates costs one fsync. On `stop`, what is queued still runs.
async fn execute_effects(
    mut rx: mpsc::UnboundedReceiver<Batch>,
    mut stop: watch::Receiver<bool>,
    shared: Arc<Shared>,
    store: Arc<Store>,
    bus: EventBus,
    driver: Driver,
) {
    loop {
        let first = tokio::select! {
            batch = rx.recv() => match batch {
                Some(batch) => batch,
                None => return,
            },
            _ = stop.changed() => {
                let mut queued = Vec::new();
                while let Ok(batch) = rx.try_recv() {
                    queued.push(batch);
                }
                execute_batches(queued, &shared, &store, &bus, &driver).await;
                return;
            }
        };
        let mut batches = vec![first];
        while batches.len() < MAX_MERGED_BATCHES {
            match rx.try_recv() {
                Ok(b) => batches.push(b),
                Err(_) => break,
            }
        }
        execute_batches(batches, &shared, &store, &bus, &driver).await;
    }
}

/// At most this many queued batches share one transaction.
const MAX_MERGED_BATCHES: usize = 512;

async fn execute_batches(
    batches: Vec<Batch>,
    shared: &Shared,
    store: &Arc<Store>,
    bus: &EventBus,
    driver: &Driver,
) {
    // Key → new value (None = delete); the last write of a key wins.
    let mut pending: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
    let mut persisted = true;
    let mut acks = Vec::new();
    for batch in batches {
        for effect in batch.effects {
            match effect {
                Effect::Put(record) => match serde_json::to_vec(&record) {
                    Ok(bytes) => {
                        pending.insert(record.key(), Some(bytes));
                    }
                    Err(e) => {
                        tracing::error!(key = %record.key(), error = %e, "marathon: cannot encode a record")
                    }
                },
                Effect::Delete(key) => {
                    pending.insert(key, None);
                }
                Effect::Event(ev) => publish(shared, bus, &ev),
                call => {
                    persisted &= flush(store, &mut pending).await;
                    call_master(driver, call, persisted).await;
                }
            }
        }
        acks.extend(batch.ack);
    }
    persisted &= flush(store, &mut pending).await;
    for status in acks {
        if !persisted {
            tracing::warn!(task = %status.task_id, "marathon: not acknowledging an update that was not persisted");
            continue;
        }
        if let Err(e) = driver.acknowledge(&status).await {
            tracing::warn!(task = %status.task_id, error = %e, "marathon: acknowledgement failed");
        }
    }
}

async fn flush(store: &Arc<Store>, pending: &mut BTreeMap<String, Option<Vec<u8>>>) -> bool {
    if pending.is_empty() {
        return true;
    }
    let ops = std::mem::take(pending);
    let store = store.clone();
    let written = tokio::task::spawn_blocking(move || {
        let mut puts: Vec<(&str, Vec<u8>)> = Vec::new();
        let mut deletes: Vec<&str> = Vec::new();
        for (k, v) in &ops {
            match v {
                Some(bytes) => puts.push((k.as_str(), bytes.clone())),
                None => deletes.push(k.as_str()),
            }
        }
        store.put_blobs(&puts, &deletes)
    })
    .await;
    match written {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "marathon: cannot persist the scheduler state");
            false
        }
        Err(e) => {
            tracing::error!(error = %e, "marathon: the persistence task failed");
            false
        }
    }
}

async fn call_master(driver: &Driver, call: Effect, persisted: bool) {
    let result = match call {
        Effect::Launch {
            offer_ids,
            tasks,
            refuse_seconds,
        } if persisted => {
            tracing::debug!(tasks = tasks.len(), "marathon: launching");
            driver.launch(offer_ids, tasks, refuse_seconds).await
        }
        Effect::Launch {
            offer_ids, tasks, ..
        } => {
            // Never launch what is not recorded: the tasks would be orphans after a restart.
            tracing::error!(
                tasks = tasks.len(),
                "marathon: not launching unpersisted tasks; declining"
            );
            driver.decline(offer_ids, Some(5.0)).await
        }
        Effect::Decline {
            offer_ids,
            refuse_seconds,
        } => driver.decline(offer_ids, Some(refuse_seconds)).await,
        Effect::Kill {
            task_id,
            agent_id,
            grace_seconds,
        } => {
            driver
                .kill(task_id, agent_id, grace_seconds.map(Duration::from_secs))
                .await
        }
        Effect::Reconcile(tasks) => driver.reconcile(tasks).await,
        Effect::Revive => driver.revive().await,
        Effect::Suppress => driver.suppress().await,
        Effect::Put(_) | Effect::Delete(_) | Effect::Event(_) => Ok(()),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, "marathon: a call to the master failed");
    }
}

fn publish(shared: &Shared, bus: &EventBus, ev: &CoreEvent) {
    let (event, at) = events::to_marathon(ev, shared);
    bus.publish(&event, at);
    if let CoreEvent::DeploymentSuccess { plan, .. } | CoreEvent::DeploymentFailed { plan, .. } = ev
    {
        shared.forget_plan(&plan.id);
    }
}
