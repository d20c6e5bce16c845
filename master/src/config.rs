//! Master tunables. Defaults follow Mesos where Mesos is sensible, and are
//! tighter where the issue asks (a dead agent is noticed within 15 s).

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct MasterConfig {
    /// How often agents send heartbeats.
    pub agent_heartbeat: Duration,
    /// An agent silent this long is declared unreachable (Mesos: 75 s).
    pub agent_timeout: Duration,
    /// Held offers are rescinded after this long; `None` keeps them.
    pub offer_timeout: Option<Duration>,
    /// Batch allocation interval (events also trigger a pass).
    pub allocation_interval: Duration,
    /// HEARTBEAT events on scheduler streams.
    pub framework_heartbeat: Duration,
    /// The filter applied to unused offer resources when a call names none.
    pub default_refuse: Duration,
    /// DRF role weights (`--weights`); unnamed roles weigh 1.
    pub weights: Vec<(String, f64)>,
}

impl Default for MasterConfig {
    fn default() -> Self {
        MasterConfig {
            agent_heartbeat: Duration::from_secs(1),
            agent_timeout: Duration::from_secs(10),
            offer_timeout: Some(Duration::from_secs(60)),
            allocation_interval: Duration::from_secs(1),
            framework_heartbeat: Duration::from_secs(15),
            default_refuse: Duration::from_secs(5),
            weights: Vec::new(),
        }
    }
}
