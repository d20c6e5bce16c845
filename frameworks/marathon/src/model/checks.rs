//! Health checks and readiness checks of an app (`healthChecks[]`, `readinessChecks[]`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The health-check protocols Marathon accepts.
pub const HEALTH_PROTOCOLS: [&str; 7] = [
    "HTTP",
    "HTTPS",
    "TCP",
    "COMMAND",
    "MESOS_HTTP",
    "MESOS_HTTPS",
    "MESOS_TCP",
];

/// `{"value": "..."}` of a COMMAND health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandCheck {
    pub value: String,
}

/// One health check. Defaults are Marathon's: HTTP on `portIndex` 0, path `/`, grace 300 s,
/// every 60 s, timeout 20 s, 3 consecutive failures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HealthCheck {
    pub protocol: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_index: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandCheck>,
    pub grace_period_seconds: i64,
    pub interval_seconds: i64,
    pub timeout_seconds: i64,
    pub max_consecutive_failures: i64,
    pub delay_seconds: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore_http1xx: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_protocol: Option<String>,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            protocol: "HTTP".into(),
            path: None,
            port_index: None,
            port: None,
            command: None,
            grace_period_seconds: 300,
            interval_seconds: 60,
            timeout_seconds: 20,
            max_consecutive_failures: 3,
            delay_seconds: 15,
            ignore_http1xx: None,
            ip_protocol: None,
        }
    }
}

impl HealthCheck {
    pub fn is_http(&self) -> bool {
        matches!(
            self.protocol.as_str(),
            "HTTP" | "HTTPS" | "MESOS_HTTP" | "MESOS_HTTPS"
        )
    }

    /// Checks that Marathon runs itself (from the scheduler), as opposed to Mesos-side checks.
    pub fn runs_in_scheduler(&self) -> bool {
        matches!(self.protocol.as_str(), "HTTP" | "HTTPS" | "TCP")
    }

    /// Fills what Marathon fills when a check is stored: `portIndex` 0 when neither port nor
    /// portIndex is set (except COMMAND), `path` `/` for HTTP(S) checks.
    pub fn normalize(&mut self) {
        self.protocol = self.protocol.to_ascii_uppercase();
        if self.protocol != "COMMAND" && self.port.is_none() && self.port_index.is_none() {
            self.port_index = Some(0);
        }
        if self.is_http() && self.path.is_none() {
            self.path = Some("/".into());
        }
    }

    /// The path of an HTTP check (`/` by default).
    pub fn http_path(&self) -> &str {
        self.path.as_deref().unwrap_or("/")
    }
}

/// A readiness check; at most one per app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReadinessCheck {
    pub name: String,
    pub protocol: String,
    pub path: String,
    pub port_name: String,
    pub interval_seconds: i64,
    pub timeout_seconds: i64,
    pub http_status_codes_for_ready: Vec<u16>,
    pub preserve_last_response: bool,
}

impl Default for ReadinessCheck {
    fn default() -> Self {
        ReadinessCheck {
            name: "readinessCheck".into(),
            protocol: "HTTP".into(),
            path: "/".into(),
            port_name: "http-api".into(),
            interval_seconds: 30,
            timeout_seconds: 10,
            http_status_codes_for_ready: vec![200],
            preserve_last_response: false,
        }
    }
}

/// The outcome of one health check on one task, as shown in `healthCheckResults[]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthResult {
    pub alive: bool,
    pub consecutive_failures: u32,
    pub first_success: Option<super::Timestamp>,
    pub last_failure: Option<super::Timestamp>,
    pub last_success: Option<super::Timestamp>,
    pub last_failure_cause: Option<String>,
    pub instance_id: String,
}

/// `readinessCheckResults[]` entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessCheckResult {
    pub name: String,
    pub task_id: String,
    pub ready: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_response: Option<ReadinessResponse>,
}

/// The last HTTP response a readiness check saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReadinessResponse {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// Labels are plain string maps everywhere in Marathon.
pub type Labels = BTreeMap<String, String>;
