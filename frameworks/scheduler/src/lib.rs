//! An async Mesos v1 scheduler driver: subscribes to a master over HTTP,
//! decodes the RecordIO event stream, re-subscribes after a disconnect, and
//! sends calls. The built-in frameworks use it exactly as an external
//! framework would: nothing here knows the master's internals.

mod calls;
mod subscription;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use paddock_proto::mesos::{AgentId, FrameworkId, FrameworkInfo, Offer, OfferId, TaskStatus};
use tokio::sync::{mpsc, watch};

/// What a driver needs to subscribe.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// The master, `host:port` (an `http://` prefix is accepted).
    pub master: String,
    /// Sent in SUBSCRIBE. A set `id` fails over to that framework; set
    /// `failover_timeout` so tasks survive a framework restart.
    pub framework: FrameworkInfo,
}

/// What the master told the framework, as the driver hands it on.
// Updates dominate the size; boxing them would cost an allocation per event
// for no gain, as each event is moved once through a channel.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum DriverEvent {
    /// (Re)subscribed. Persist the id so a restart fails over to it.
    Subscribed {
        framework_id: FrameworkId,
    },
    Offers(Vec<Offer>),
    Rescind(OfferId),
    /// A status update. The driver does not acknowledge it: call
    /// [`Driver::acknowledge`] once the update has been processed.
    Update(TaskStatus),
    Failure {
        agent_id: Option<AgentId>,
        status: Option<i32>,
    },
    Error(String),
    /// The stream broke; the driver re-subscribes by itself with backoff.
    Disconnected,
}

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    #[error("not subscribed to the master yet")]
    NotSubscribed,
    #[error("the driver has been stopped")]
    Stopped,
    #[error("cannot reach the master at {master}: {source}")]
    Transport {
        master: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the master answered {status} to {call}: {body}")]
    Rejected {
        call: String,
        status: u16,
        body: String,
    },
}

/// The subscription as calls need it.
#[derive(Debug, Clone, Default)]
struct Session {
    framework_id: Option<FrameworkId>,
    stream_id: Option<String>,
}

struct Inner {
    http: reqwest::Client,
    base: String,
    session: Mutex<Session>,
    stop: watch::Sender<bool>,
}

impl Inner {
    fn session(&self) -> Session {
        self.session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_session(&self, session: Session) {
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) = session;
    }
}

/// A handle on one framework's subscription; cheap to clone.
#[derive(Clone)]
pub struct Driver {
    inner: Arc<Inner>,
}

/// Delay before the first re-subscription; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Driver {
    /// Spawns the subscription loop on the current tokio runtime.
    pub fn start(config: DriverConfig) -> (Driver, mpsc::UnboundedReceiver<DriverEvent>) {
        let master = config
            .master
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let (stop, stop_rx) = watch::channel(false);
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        let inner = Arc::new(Inner {
            http,
            base: format!("http://{master}/api/v1/scheduler"),
            session: Mutex::new(Session {
                framework_id: config.framework.id.clone(),
                stream_id: None,
            }),
            stop,
        });
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(subscription::run(
            inner.clone(),
            config.framework,
            tx,
            stop_rx,
        ));
        (Driver { inner }, rx)
    }

    /// The framework id, once the master has assigned or confirmed it.
    pub fn framework_id(&self) -> Option<FrameworkId> {
        self.inner.session().framework_id
    }

    /// Whether a subscription is open right now.
    pub fn is_subscribed(&self) -> bool {
        self.inner.session().stream_id.is_some()
    }

    /// Stops the subscription loop. Tasks keep running; the master fails
    /// the framework over after its failover timeout.
    pub fn stop(&self) {
        let _ = self.inner.stop.send(true);
    }
}
