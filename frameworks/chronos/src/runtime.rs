//! Chronos as a running service: [`run`] opens the store, serves the REST
//! API, subscribes to the master with the paddock-scheduler driver
//! (framework "chronos", failover timeout one week, checkpointing on) and
//! drives the core with the wall clock.
//!
//! Timing: the loop sleeps until exactly the core's next due time (not a
//! polling interval). Shortly before it (the hold window, 2 s), it revives
//! offers and keeps the ones it gets, so when the slot comes the launch goes
//! out at once. Offers not needed soon are declined with a filter that
//! expires just before the next due time.
//!
//! Order of effects: a launch is persisted (the run is STAGING with its task
//! id) before ACCEPT is sent; a status update is persisted before it is
//! acknowledged; kills are sent after the change that asked for them is
//! persisted.
//!
//! Hot path: the slots a tick takes and the launches placed for them are
//! one transaction (one fsync) and one ACCEPT per offer, however many runs
//! are due. Status updates waiting in the driver's queue are applied
//! together, in one transaction, and acknowledged from a separate task, so
//! a burst of updates costs one fsync and never holds up a due launch; a
//! due timer is served before waiting updates. Every launch's lateness
//! (due -> ACCEPT answered) goes to `/metrics` as `launch.lateness`. After a restart the active runs are reconciled with the
//! master; tasks it does not know come back TASK_LOST and the retry policy
//! decides.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use paddock_proto::mesos::{
    AgentId, FrameworkId, FrameworkInfo, Offer, TaskId, TaskInfo, TaskStatus,
};
use paddock_scheduler::{Driver, DriverConfig, DriverEvent};
use tokio::sync::{mpsc, watch};

use crate::core::{Effect, Millis, Sandbox, TaskUpdate};
use crate::launch::{place, task_info};
use crate::service::{now_millis, Service};
use crate::store::{Store, StoreError};

/// One week, Chronos's default `--failover_timeout`.
pub const FAILOVER_TIMEOUT_SECONDS: f64 = 604_800.0;
const FRAMEWORK_ID_KEY: &str = "framework_id";
/// How long the HTTP server may take to close once shutdown started.
const SERVER_GRACE: Duration = Duration::from_millis(2500);
/// Status updates applied (and persisted) together at most.
const UPDATE_BATCH: usize = 1024;

/// How `paddock` runs Chronos.
#[derive(Debug, Clone)]
pub struct ChronosConfig {
    /// More routes served on the same port (the web UI); their paths must
    /// not overlap the API's.
    pub extra_routes: Option<axum::Router>,
    /// The Mesos master, `host:port`.
    pub master: String,
    /// Address and port of the REST API (Chronos's port is 4400).
    pub bind: IpAddr,
    pub port: u16,
    /// Where `chronos.redb` lives.
    pub data_dir: PathBuf,
    /// What `/leader` and the framework's webui_url name; the bound
    /// address if unset.
    pub hostname: Option<String>,
    pub framework_name: String,
    pub role: String,
    /// The framework's user (tasks run as `runAsUser` when a job names one).
    pub user: String,
    pub failover_timeout_seconds: f64,
    /// Finished runs kept per job.
    pub history_limit: usize,
    /// Offers are revived and held this long before a run is due.
    pub offer_hold: Duration,
    /// How often active runs are reconciled with the master.
    pub reconcile_interval: Duration,
    /// A task still TASK_STAGING this long after its launch is killed and
    /// retried (counted as lost if the kill gets no answer either).
    pub staging_timeout: Duration,
}

impl ChronosConfig {
    pub fn new(
        master: impl Into<String>,
        bind: IpAddr,
        port: u16,
        data_dir: impl Into<PathBuf>,
    ) -> ChronosConfig {
        ChronosConfig {
            extra_routes: None,
            master: master.into(),
            bind,
            port,
            data_dir: data_dir.into(),
            hostname: None,
            framework_name: "chronos".into(),
            role: "*".into(),
            user: std::env::var("USER").unwrap_or_else(|_| "root".into()),
            failover_timeout_seconds: FAILOVER_TIMEOUT_SECONDS,
            history_limit: crate::core::DEFAULT_HISTORY_LIMIT,
            offer_hold: Duration::from_secs(2),
            reconcile_interval: Duration::from_secs(300),
            staging_timeout: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChronosError {
    #[error("chronos: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("chronos: {0}")]
    Store(#[from] StoreError),
    #[error("chronos: the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// Runs Chronos until `shutdown` resolves.
pub async fn run(
    config: ChronosConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ChronosError> {
    let store = Store::open(&config.data_dir)?;
    let framework_id = store.get_meta(FRAMEWORK_ID_KEY)?;
    let addr = SocketAddr::new(config.bind, config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ChronosError::Bind { addr, source })?;
    let local = listener.local_addr().unwrap_or(addr);
    let hostname = config.hostname.clone().unwrap_or_else(|| {
        if local.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            local.ip().to_string()
        }
    });
    let (svc, effects) = Service::open(store, format!("{hostname}:{}", local.port()))?;
    {
        let mut st = svc.lock();
        st.core.set_history_limit(config.history_limit);
        st.core
            .set_staging_timeout(config.staging_timeout.as_millis() as Millis);
    }
    let svc = Arc::new(svc);
    {
        let st = svc.lock();
        tracing::info!(
            jobs = st.core.jobs().count(),
            live_runs = st.core.live_runs().count(),
            "chronos: restored the scheduler state"
        );
    }

    let framework = FrameworkInfo {
        user: config.user.clone(),
        name: config.framework_name.clone(),
        id: framework_id.map(FrameworkId::new),
        failover_timeout: Some(config.failover_timeout_seconds),
        checkpoint: Some(true),
        role: Some(config.role.clone()),
        hostname: Some(hostname.clone()),
        webui_url: Some(format!("http://{hostname}:{}", local.port())),
        ..FrameworkInfo::default()
    };
    let (driver, events) = Driver::start(DriverConfig {
        master: config.master.clone(),
        framework,
    });
    tracing::info!(address = %local, master = %config.master, "chronos: serving the REST API");

    let (stop_tx, mut stop_rx) = watch::channel(false);
    let mut app = crate::api::router(svc.clone());
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

    let acks = acknowledger(driver.clone());
    let mut runner = Runner {
        svc: svc.clone(),
        driver: driver.clone(),
        acks,
        config: config.clone(),
        held: Vec::new(),
        subscribed: false,
        last_revive: None,
        revive_due: None,
    };
    tokio::select! {
        _ = shutdown => {}
        _ = runner.run(events, effects) => {}
    }

    let _ = stop_tx.send(true);
    driver.stop();
    let result = match tokio::time::timeout(SERVER_GRACE, server).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(ChronosError::Serve(e)),
        Ok(Err(_)) => Ok(()),
        Err(_) => {
            server_abort.abort();
            tracing::warn!("chronos: HTTP connections still open at shutdown; closed them");
            Ok(())
        }
    };
    tracing::info!("chronos: stopped");
    result
}

/// Sends acknowledgements in order, off the scheduling loop, so a burst of
/// updates never holds up a launch. Only persisted updates are queued.
fn acknowledger(driver: Driver) -> mpsc::UnboundedSender<TaskStatus> {
    let (tx, mut rx) = mpsc::unbounded_channel::<TaskStatus>();
    tokio::spawn(async move {
        while let Some(status) = rx.recv().await {
            if let Err(e) = driver.acknowledge(&status).await {
                tracing::warn!(error = %e, "chronos: acknowledge failed; the agent will resend");
            }
        }
    });
    tx
}

struct Runner {
    svc: Arc<Service>,
    driver: Driver,
    /// Persisted updates waiting for their acknowledgement.
    acks: mpsc::UnboundedSender<TaskStatus>,
    config: ChronosConfig,
    /// Offers kept for runs due within the hold window.
    held: Vec<Offer>,
    subscribed: bool,
    last_revive: Option<Instant>,
    /// A revive held back by the rate limit is due then.
    revive_due: Option<Instant>,
}

/// How long to sleep until `at` (wall clock).
fn until(at: Millis, now: Millis) -> Duration {
    Duration::from_millis(u64::try_from(at - now).unwrap_or(0))
}

impl Runner {
    async fn run(
        &mut self,
        mut events: mpsc::UnboundedReceiver<DriverEvent>,
        mut effects: mpsc::UnboundedReceiver<Effect>,
    ) {
        let mut reconcile = tokio::time::interval(self.config.reconcile_interval);
        reconcile.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        reconcile.tick().await;
        loop {
            // Take what came due, launch what can go (the tick's changes
            // are persisted with the launches, in one transaction), then
            // sleep until the next moment something is due.
            self.dispatch(now_millis()).await;
            let now = now_millis();
            let wake = self.next_timer(now);
            tokio::select! {
                // A due run goes first, before any update waiting.
                biased;
                _ = tokio::time::sleep(wake.map(|t| until(t, now)).unwrap_or(Duration::from_secs(3600))) => {}
                _ = self.svc.wake.notified() => {}
                ev = events.recv() => match ev {
                    Some(DriverEvent::Update(status)) => {
                        // Take every update already waiting: one
                        // transaction for all of them.
                        let mut batch = vec![status];
                        let mut next = None;
                        while batch.len() < UPDATE_BATCH {
                            match events.try_recv() {
                                Ok(DriverEvent::Update(s)) => batch.push(s),
                                Ok(other) => {
                                    next = Some(other);
                                    break;
                                }
                                Err(_) => break,
                            }
                        }
                        self.on_updates(batch).await;
                        if let Some(ev) = next {
                            self.on_event(ev).await;
                        }
                    }
                    Some(ev) => self.on_event(ev).await,
                    None => {
                        tracing::warn!("chronos: the driver stopped");
                        return;
                    }
                },
                Some(effect) = effects.recv() => self.on_effect(effect).await,
                _ = reconcile.tick() => self.reconcile().await,
            }
        }
    }

    /// When the loop must wake: the next due time, or the start of its hold
    /// window when offers have to be revived first.
    fn next_timer(&self, now: Millis) -> Option<Millis> {
        let revive = self
            .revive_due
            .map(|t| now + t.saturating_duration_since(Instant::now()).as_millis() as Millis);
        let hold = self.config.offer_hold.as_millis() as Millis;
        let due = self.svc.lock().core.next_wake(now).map(|next| {
            if self.held.is_empty() && next - hold > now {
                next - hold
            } else {
                next
            }
        });
        match (due, revive) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Places launchable runs on held offers, persists the launches, sends
    /// them, and then keeps, declines or revives offers as the next due time
    /// needs.
    async fn dispatch(&mut self, now: Millis) {
        let hold = self.config.offer_hold.as_millis() as Millis;
        let (launches, unplaced, next) = {
            let mut st = self.svc.lock();
            st.core.tick(now);
            let keys = st.core.launchable(now);
            let mut launches: HashMap<usize, Vec<(TaskInfo, Millis)>> = HashMap::new();
            let unplaced;
            if !keys.is_empty() && !self.held.is_empty() {
                let runs: Vec<_> = keys
                    .iter()
                    .filter_map(|k| st.core.job(&k.job).map(|j| (k.clone(), j.clone())))
                    .collect();
                let refs: Vec<_> = runs.iter().map(|(k, j)| (k.clone(), j)).collect();
                let placed = place(&self.held, &refs);
                unplaced = keys.len() - placed.len();
                let framework_id = self.driver.framework_id().map(|f| f.value);
                for (i, k) in placed {
                    let offer = &self.held[i];
                    let Some(tid) = st.core.next_task_id(&k) else {
                        continue;
                    };
                    let due = st.core.run(&k).map(|r| r.due()).unwrap_or(k.scheduled);
                    let sandbox = Sandbox {
                        framework_id: framework_id.clone(),
                        executor_id: Some(tid.clone()),
                        container_id: None,
                        hostname: Some(offer.hostname.clone()),
                    };
                    if !st
                        .core
                        .mark_launched(&k, &tid, &offer.agent_id.value, sandbox, now)
                    {
                        continue;
                    }
                    let (Some(job), Some(run)) = (st.core.job(&k.job), st.core.run(&k)) else {
                        continue;
                    };
                    let role = offer.allocation_info.as_ref().and_then(|a| a.role.clone());
                    let task = task_info(job, run, &tid, &offer.agent_id, role.as_deref());
                    tracing::info!(
                        job = %k.job,
                        task = %tid,
                        agent = %offer.agent_id,
                        late_ms = now - due,
                        "chronos: launching"
                    );
                    launches.entry(i).or_default().push((task, due));
                }
            } else {
                if !keys.is_empty() {
                    tracing::debug!(due = keys.len(), "chronos: runs waiting, no offer held");
                }
                unplaced = keys.len();
            }
            // Persist the tick and the launches before any is sent.
            if let Err(e) = self.svc.commit(&mut st) {
                tracing::error!(error = %e, "chronos: cannot persist the tick and launches; not sending them");
                launches.clear();
            }
            (launches, unplaced, st.core.next_wake(now))
        };
        // Send the launches; their offers are used up.
        let mut used: Vec<usize> = launches.keys().copied().collect();
        used.sort_unstable();
        for (i, batch) in launches {
            let offer_id = self.held[i].id.clone();
            let (tasks, dues): (Vec<TaskInfo>, Vec<Millis>) = batch.into_iter().unzip();
            let ids: Vec<String> = tasks.iter().map(|t| t.task_id.value.clone()).collect();
            let sent = self.driver.launch(vec![offer_id], tasks, Some(0.0)).await;
            {
                let answered = now_millis();
                let mut lateness = self.svc.lateness();
                for due in dues {
                    lateness.record(answered - due);
                }
            }
            if let Err(e) = sent {
                // Reconciliation will tell whether the master got it.
                tracing::warn!(error = %e, tasks = ?ids, "chronos: launch not confirmed; reconciling");
                let _ = self
                    .driver
                    .reconcile(ids.into_iter().map(|t| (TaskId::new(t), None)).collect())
                    .await;
            }
        }
        for i in used.into_iter().rev() {
            self.held.remove(i);
        }
        // Keep offers only if something is due within the hold window.
        let soon = next.is_some_and(|t| t - now <= hold);
        if !self.held.is_empty() && !soon {
            let refuse = match next {
                // Waiting runs did not fit: look at offers again soon.
                _ if unplaced > 0 => 1.0,
                // Let the filter lapse just before the hold window opens.
                Some(t) => ((t - now - hold) as f64 / 1000.0).clamp(1.0, 300.0),
                None => 300.0,
            };
            let ids: Vec<_> = self.held.drain(..).map(|o| o.id).collect();
            if let Err(e) = self.driver.decline(ids, Some(refuse)).await {
                tracing::debug!(error = %e, "chronos: decline failed");
            }
        }
        // Ask for offers when runs are waiting or due soon and none are held.
        let want = unplaced > 0 || soon;
        self.revive_due = None;
        if want && self.held.is_empty() && self.subscribed {
            // Runs due now or soon revive quickly; runs that did not fit the
            // offers seen so far wait a little for new resources.
            let gap = if soon {
                Duration::from_millis(500)
            } else {
                Duration::from_secs(2)
            };
            match self.last_revive {
                Some(t) if t.elapsed() < gap => self.revive_due = Some(t + gap),
                _ => {
                    self.last_revive = Some(Instant::now());
                    if let Err(e) = self.driver.revive().await {
                        tracing::debug!(error = %e, "chronos: revive failed");
                    }
                }
            }
        }
    }

    async fn on_event(&mut self, ev: DriverEvent) {
        match ev {
            DriverEvent::Subscribed { framework_id } => {
                self.subscribed = true;
                tracing::info!(framework = %framework_id, "chronos: subscribed");
                if let Err(e) = self
                    .svc
                    .lock()
                    .store
                    .set_meta(FRAMEWORK_ID_KEY, &framework_id.value)
                {
                    tracing::error!(error = %e, "chronos: cannot persist the framework id");
                }
                self.reconcile().await;
                self.last_revive = None;
            }
            DriverEvent::Offers(offers) => self.held.extend(offers),
            DriverEvent::Rescind(id) => self.held.retain(|o| o.id != id),
            DriverEvent::Update(status) => self.on_updates(vec![status]).await,
            DriverEvent::Failure { agent_id, status } => {
                tracing::info!(agent = ?agent_id, status = ?status, "chronos: failure reported by the master");
            }
            DriverEvent::Error(message) => {
                tracing::error!(%message, "chronos: the master sent an error");
            }
            DriverEvent::Disconnected => {
                self.subscribed = false;
                self.held.clear();
            }
        }
    }

    /// Applies status updates in one transaction; each is acknowledged
    /// only once it is on disk (by the acknowledger, off this loop).
    async fn on_updates(&mut self, batch: Vec<TaskStatus>) {
        let now = now_millis();
        let updates: Vec<TaskUpdate> = batch.iter().map(task_update).collect();
        let applied = self.svc.mutate(|core| {
            updates
                .iter()
                .filter(|u| !core.task_update(u, now))
                .map(|u| (u.task_id.clone(), u.state.clone()))
                .collect::<Vec<_>>()
        });
        match applied {
            Ok(unknown) => {
                for (task, state) in unknown {
                    tracing::debug!(%task, %state, "chronos: update for a task it does not track");
                }
                for status in batch {
                    if self.acks.send(status).is_err() {
                        tracing::warn!("chronos: the acknowledger stopped; the agent will resend");
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, updates = batch.len(), "chronos: cannot persist status updates; not acknowledging them");
            }
        }
    }
}

/// The core's view of a Mesos status update.
fn task_update(status: &TaskStatus) -> TaskUpdate {
    TaskUpdate {
        task_id: status.task_id.value.clone(),
        state: status.state.as_str().to_string(),
        message: status.message.clone(),
        reason: status.reason.clone(),
        agent_id: status.agent_id.as_ref().map(|a| a.value.clone()),
        executor_id: status.executor_id.as_ref().map(|e| e.value.clone()),
        container_id: status
            .container_status
            .as_ref()
            .and_then(|c| c.container_id.as_ref())
            .map(|c| c.value.clone()),
        timestamp: status
            .timestamp
            .filter(|t| t.is_finite())
            .map(|t| (t * 1000.0) as Millis),
    }
}

impl Runner {
    async fn on_effect(&mut self, effect: Effect) {
        match effect {
            Effect::Kill { task_id, agent_id } => {
                tracing::info!(task = %task_id, "chronos: killing");
                if let Err(e) = self
                    .driver
                    .kill(TaskId::new(task_id), agent_id.map(AgentId::new), None)
                    .await
                {
                    tracing::warn!(error = %e, "chronos: kill failed");
                }
            }
        }
    }

    /// Explicit reconciliation of every run with a live task.
    async fn reconcile(&mut self) {
        if !self.subscribed {
            return;
        }
        let tasks: Vec<(TaskId, Option<AgentId>)> = self
            .svc
            .lock()
            .core
            .active_runs()
            .iter()
            .filter_map(|r| {
                r.task_id
                    .as_ref()
                    .map(|t| (TaskId::new(t.clone()), r.agent_id.clone().map(AgentId::new)))
            })
            .collect();
        if tasks.is_empty() {
            return;
        }
        tracing::info!(tasks = tasks.len(), "chronos: reconciling active runs");
        if let Err(e) = self.driver.reconcile(tasks).await {
            tracing::warn!(error = %e, "chronos: reconcile failed");
        }
    }
}
