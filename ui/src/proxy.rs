//! The same-origin proxy: `/ui/api/{master,marathon,chronos}/*` and
//! `/ui/api/agent/{id}/*` forward the method, query, body and the few
//! headers that matter, and stream the answer back unbuffered (so
//! Marathon's `/v2/events` SSE and long reads pass straight through).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::TryStreamExt;
use serde_json::json;

use crate::agents;
use crate::UiConfig;

/// The largest request body the proxy forwards (an app definition, a job).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Request headers passed on to the daemons.
const FORWARD_REQUEST: &[&str] = &["content-type", "accept", "last-event-id"];

/// Response headers passed back to the browser.
const FORWARD_RESPONSE: &[&str] = &[
    "content-type",
    "cache-control",
    "content-disposition",
    "location",
    "marathon-deployment-id",
];

pub struct Proxy {
    config: UiConfig,
    client: reqwest::Client,
    agents: Mutex<HashMap<String, String>>,
}

#[derive(Debug, thiserror::Error)]
enum ProxyError {
    #[error("{0} is not configured on this server")]
    NotConfigured(&'static str),
    #[error("unknown agent '{0}' (not in the master's /master/slaves)")]
    UnknownAgent(String),
    #[error("request body too large or unreadable: {0}")]
    Body(String),
    #[error("cannot reach {what} at {url}: {reason}")]
    Upstream {
        what: &'static str,
        url: String,
        reason: String,
    },
}

impl IntoResponse for ProxyError {
    fn into_response(self) -> Response {
        let status = match &self {
            ProxyError::NotConfigured(_) | ProxyError::UnknownAgent(_) => StatusCode::NOT_FOUND,
            ProxyError::Body(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::Upstream { .. } => StatusCode::BAD_GATEWAY,
        };
        (status, Json(json!({ "message": self.to_string() }))).into_response()
    }
}

impl Proxy {
    pub fn new(config: UiConfig) -> Proxy {
        // No overall timeout: SSE and log follows are long-lived.
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default();
        Proxy {
            config,
            client,
            agents: Mutex::new(HashMap::new()),
        }
    }

    async fn forward(
        &self,
        what: &'static str,
        base: &str,
        rest: &str,
        req: Request,
    ) -> Result<Response, ProxyError> {
        let url = target_url(base, rest, req.uri().query());
        let method = req.method().clone();
        let mut headers = HeaderMap::new();
        for name in FORWARD_REQUEST {
            if let Some(v) = req.headers().get(*name) {
                headers.insert(*name, v.clone());
            }
        }
        let body = axum::body::to_bytes(req.into_body(), MAX_BODY)
            .await
            .map_err(|e| ProxyError::Body(e.to_string()))?;
        let mut builder = self.client.request(method, &url).headers(headers);
        if !body.is_empty() {
            builder = builder.body(body);
        }
        let upstream = builder.send().await.map_err(|e| ProxyError::Upstream {
            what,
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let status = upstream.status();
        let mut out = HeaderMap::new();
        for name in FORWARD_RESPONSE {
            if let Some(v) = upstream.headers().get(*name) {
                out.insert(*name, v.clone());
            }
        }
        // Tell any buffering layer in front of us not to hold SSE back.
        out.insert("x-accel-buffering", HeaderValue::from_static("no"));
        let stream = upstream.bytes_stream().map_err(std::io::Error::other);
        let mut resp = Response::new(Body::from_stream(stream));
        *resp.status_mut() = status;
        *resp.headers_mut() = out;
        Ok(resp)
    }

    /// The base URL of an agent, from the cache or a fresh `/master/slaves`.
    async fn agent_url(&self, id: &str) -> Result<String, ProxyError> {
        if let Some(url) = self.cached_agent(id) {
            return Ok(url);
        }
        let url = format!("{}/master/slaves", self.config.master.trim_end_matches('/'));
        let upstream = |e: reqwest::Error| ProxyError::Upstream {
            what: "the master",
            url: url.clone(),
            reason: e.to_string(),
        };
        let body: serde_json::Value = self
            .client
            .get(&url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(upstream)?
            .json()
            .await
            .map_err(upstream)?;
        let map = agents::base_urls(&body);
        let found = map.get(id).cloned();
        if let Ok(mut cache) = self.agents.lock() {
            *cache = map;
        }
        found.ok_or_else(|| ProxyError::UnknownAgent(id.to_string()))
    }

    fn cached_agent(&self, id: &str) -> Option<String> {
        self.agents.lock().ok()?.get(id).cloned()
    }
}

/// `base` + `/` + `rest` + `?query`, with exactly one slash between.
pub fn target_url(base: &str, rest: &str, query: Option<&str>) -> String {
    let mut url = format!(
        "{}/{}",
        base.trim_end_matches('/'),
        rest.trim_start_matches('/')
    );
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        url.push('?');
        url.push_str(q);
    }
    url
}

type Shared = State<Arc<Proxy>>;

pub async fn config_json(State(p): Shared) -> Response {
    Json(json!({
        "marathon": p.config.marathon.is_some(),
        "chronos": p.config.chronos.is_some(),
    }))
    .into_response()
}

pub async fn master(State(p): Shared, Path(rest): Path<String>, req: Request) -> Response {
    let base = p.config.master.clone();
    p.forward("the master", &base, &rest, req)
        .await
        .into_response()
}

pub async fn marathon(State(p): Shared, Path(rest): Path<String>, req: Request) -> Response {
    let Some(base) = p.config.marathon.clone() else {
        return ProxyError::NotConfigured("Marathon").into_response();
    };
    p.forward("Marathon", &base, &rest, req)
        .await
        .into_response()
}

pub async fn chronos(State(p): Shared, Path(rest): Path<String>, req: Request) -> Response {
    let Some(base) = p.config.chronos.clone() else {
        return ProxyError::NotConfigured("Chronos").into_response();
    };
    p.forward("Chronos", &base, &rest, req)
        .await
        .into_response()
}

pub async fn agent(
    State(p): Shared,
    Path((id, rest)): Path<(String, String)>,
    req: Request,
) -> Response {
    let base = match p.agent_url(&id).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match p.forward("the agent", &base, &rest, req).await {
        Ok(r) => r,
        Err(e) => {
            // The agent may have moved (restarted on a new port): forget it.
            if let Ok(mut cache) = p.agents.lock() {
                cache.remove(&id);
            }
            e.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_with_one_slash() {
        assert_eq!(
            target_url("http://m:1/", "/master/state", None),
            "http://m:1/master/state"
        );
        assert_eq!(
            target_url("http://m:1", "v2/apps", Some("embed=apps.counts")),
            "http://m:1/v2/apps?embed=apps.counts"
        );
        assert_eq!(target_url("http://m:1", "x", Some("")), "http://m:1/x");
    }
}
