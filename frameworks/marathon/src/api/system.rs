//! `/v2/info`, `/v2/leader`, `/ping`, `/metrics` (Dropwizard-style JSON),
//! `/metrics/prometheus`, the JSON 404 fallback, and the request counters behind the metrics.

use super::error::{ApiError, ApiResult};
use super::ApiState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Facts `/v2/info` and `/v2/leader` report. `ServerInfo::new` fills Marathon's defaults.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub name: String,
    /// The Marathon API version we speak; clients gate features on it.
    pub version: String,
    pub buildref: String,
    /// `host:port` of the leader (this process when it serves).
    pub leader: Option<String>,
    pub hostname: String,
    pub http_port: u16,
    /// The Mesos master, `host:port`.
    pub master: String,
    pub framework_name: String,
    pub mesos_role: String,
    pub mesos_user: String,
    pub failover_timeout_seconds: u64,
    pub task_launch_timeout_ms: u64,
    pub max_running_deployments: u64,
    pub webui_url: Option<String>,
}

impl ServerInfo {
    pub fn new(hostname: &str, http_port: u16, master: &str) -> ServerInfo {
        ServerInfo {
            name: "marathon".into(),
            version: "1.10.0".into(),
            buildref: format!("paddock-{}", env!("CARGO_PKG_VERSION")),
            leader: Some(format!("{hostname}:{http_port}")),
            hostname: hostname.into(),
            http_port,
            master: master.into(),
            framework_name: "marathon".into(),
            mesos_role: "*".into(),
            mesos_user: "root".into(),
            failover_timeout_seconds: 604_800,
            task_launch_timeout_ms: 300_000,
            max_running_deployments: 100,
            webui_url: None,
        }
    }
}

/// Request counters and timings.
pub(crate) struct Metrics {
    started: Instant,
    requests: AtomicU64,
    active: AtomicU64,
    micros_total: AtomicU64,
    by_class: [AtomicU64; 5],
    streams: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            requests: AtomicU64::new(0),
            active: AtomicU64::new(0),
            micros_total: AtomicU64::new(0),
            by_class: Default::default(),
            streams: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    pub(crate) fn stream_opened(&self) {
        self.streams.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stream_closed(&self) {
        self.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(crate) async fn count_requests(
    State(state): State<ApiState>,
    req: Request,
    next: Next,
) -> Response {
    let m = &state.0.metrics;
    m.active.fetch_add(1, Ordering::Relaxed);
    let t = Instant::now();
    let resp = next.run(req).await;
    let micros = t.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
    m.active.fetch_sub(1, Ordering::Relaxed);
    m.requests.fetch_add(1, Ordering::Relaxed);
    m.micros_total.fetch_add(micros, Ordering::Relaxed);
    let class = (resp.status().as_u16() / 100).clamp(1, 5) as usize - 1;
    m.by_class[class].fetch_add(1, Ordering::Relaxed);
    resp
}

pub(crate) async fn info(State(state): State<ApiState>) -> ApiResult {
    let i = state.info();
    let body = json!({
        "name": i.name,
        "version": i.version,
        "buildref": i.buildref,
        "elected": i.leader.is_some(),
        "leader": i.leader,
        "frameworkId": state.backend().framework_id(),
        "marathon_config": {
            "checkpoint": true,
            "executor": "//cmd",
            "failover_timeout": i.failover_timeout_seconds,
            "framework_name": i.framework_name,
            "ha": false,
            "hostname": i.hostname,
            "leader_proxy_connection_timeout_ms": 5000,
            "leader_proxy_read_timeout_ms": 10000,
            "local_port_min": crate::model::SERVICE_PORT_MIN,
            "local_port_max": crate::model::SERVICE_PORT_MAX,
            "master": i.master,
            "mesos_role": i.mesos_role,
            "mesos_user": i.mesos_user,
            "webui_url": i.webui_url,
            "reconciliation_initial_delay": 15000,
            "reconciliation_interval": 600000,
            "task_launch_timeout": i.task_launch_timeout_ms,
            "task_reservation_timeout": 20000,
            "features": [],
            "decline_offer_duration": 120000,
            "max_instances_per_offer": 5,
            "env_vars_prefix": null,
        },
        "zookeeper_config": {
            "zk": null,
            "zk_timeout": 10000,
            "zk_session_timeout": 10000,
            "zk_max_versions": crate::store::ROOT_VERSIONS_KEPT,
            "zk_compression": false,
            "zk_compression_threshold": 65536,
            "zk_connection_timeout": 10000,
            "zk_max_node_size": 1024000
        },
        "http_config": { "http_port": i.http_port, "https_port": 8443 }
    });
    Ok(axum::Json(body).into_response())
}

pub(crate) async fn leader(State(state): State<ApiState>, method: Method) -> ApiResult {
    let Some(leader) = state.info().leader.clone() else {
        return Err(ApiError::not_found("There is no leader"));
    };
    match method {
        Method::GET => Ok(axum::Json(json!({ "leader": leader })).into_response()),
        Method::DELETE => {
            state.abdicate();
            Ok(axum::Json(json!({ "message": "Leadership abdicated" })).into_response())
        }
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "HTTP 405 Method Not Allowed",
        )),
    }
}

/// `pong` as text; the JSON string `"pong"` when the client accepts JSON but not text, as Marathon.
pub(crate) async fn ping(headers: HeaderMap) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*")
        .to_ascii_lowercase();
    let json_only =
        accept.contains("application/json") && !accept.contains("text/") && !accept.contains("*/*");
    if json_only {
        ([(header::CONTENT_TYPE, "application/json")], "\"pong\"").into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "pong",
        )
            .into_response()
    }
}

/// Gauges computed from the tree and the scheduler, plus the request counters.
fn snapshot(state: &ApiState) -> Vec<(&'static str, &'static str, f64)> {
    let root = state.root();
    let tasks = state.backend().tasks();
    let running = tasks.iter().filter(|t| t.state == "TASK_RUNNING").count();
    let staged = tasks
        .iter()
        .filter(|t| t.state == "TASK_STAGING" || t.state == "TASK_STARTING")
        .count();
    let m = &state.0.metrics;
    let requests = m.requests.load(Ordering::Relaxed);
    let mean_ms = if requests == 0 {
        0.0
    } else {
        m.micros_total.load(Ordering::Relaxed) as f64 / requests as f64 / 1000.0
    };
    let class = |i: usize| m.by_class[i].load(Ordering::Relaxed) as f64;
    vec![
        (
            "gauge",
            "marathon.apps.active.gauge",
            root.app_count() as f64,
        ),
        (
            "gauge",
            "marathon.groups.active.gauge",
            root.transitive_groups().len() as f64,
        ),
        (
            "gauge",
            "marathon.deployments.active.gauge",
            state.backend().deployments().len() as f64,
        ),
        ("gauge", "marathon.instances.running.gauge", running as f64),
        ("gauge", "marathon.instances.staged.gauge", staged as f64),
        (
            "gauge",
            "marathon.instances.launch-queue.gauge",
            state
                .backend()
                .queue(crate::model::Timestamp::now(), false)
                .len() as f64,
        ),
        (
            "gauge",
            "marathon.http.requests.active.gauge",
            m.active.load(Ordering::Relaxed) as f64,
        ),
        (
            "gauge",
            "marathon.http.event-streams.active.gauge",
            m.streams.load(Ordering::Relaxed) as f64,
        ),
        (
            "gauge",
            "marathon.uptime.gauge",
            m.started.elapsed().as_millis() as f64,
        ),
        ("counter", "marathon.http.requests.counter", requests as f64),
        ("meter", "marathon.http.responses.1xx.rate.meter", class(0)),
        ("meter", "marathon.http.responses.2xx.rate.meter", class(1)),
        ("meter", "marathon.http.responses.3xx.rate.meter", class(2)),
        ("meter", "marathon.http.responses.4xx.rate.meter", class(3)),
        ("meter", "marathon.http.responses.5xx.rate.meter", class(4)),
        ("timer", "marathon.http.requests.duration.timer", mean_ms),
    ]
}

pub(crate) async fn metrics(State(state): State<ApiState>) -> ApiResult {
    let mut gauges = serde_json::Map::new();
    let mut counters = serde_json::Map::new();
    let mut meters = serde_json::Map::new();
    let mut timers = serde_json::Map::new();
    let requests = state.0.metrics.requests.load(Ordering::Relaxed);
    for (kind, name, v) in snapshot(&state) {
        match kind {
            "gauge" => gauges.insert(name.into(), json!({ "value": v })),
            "counter" => counters.insert(name.into(), json!({ "count": v as u64 })),
            "meter" => meters.insert(name.into(), json!({ "count": v as u64, "units": "events/second" })),
            _ => timers.insert(
                name.into(),
                json!({ "count": requests, "mean": v, "duration_units": "milliseconds", "rate_units": "calls/second" }),
            ),
        };
    }
    let body = json!({
        "version": "4.0.0",
        "gauges": gauges,
        "counters": counters,
        "histograms": {},
        "meters": meters,
        "timers": timers,
    });
    Ok(axum::Json(body).into_response())
}

pub(crate) async fn prometheus(State(state): State<ApiState>) -> Response {
    let mut out = String::new();
    for (kind, name, v) in snapshot(&state) {
        let metric = name.replace(['.', '-'], "_");
        let ty = if kind == "gauge" || kind == "timer" {
            "gauge"
        } else {
            "counter"
        };
        out.push_str(&format!("# TYPE {metric} {ty}\n{metric} {v}\n"));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

pub(crate) async fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "HTTP 405 Method Not Allowed",
    )
    .into_response()
}

pub(crate) async fn not_found() -> Response {
    ApiError::not_found("URI not found").into_response()
}
