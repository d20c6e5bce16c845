//! The web UI: embedded static assets served at `/` and `/ui/...`, and a same-origin proxy to the master, Marathon, Chronos and agents.
//!
//! Everything the browser needs comes from this crate: `index.html` at `/`,
//! the CSS and JavaScript modules under `/ui/assets/`, and `/ui/api/...`,
//! which forwards to the daemons so the page never needs CORS. The only
//! thing computed here is the schedule preview for the job form
//! (`/ui/api/schedule-preview`), which reuses Chronos's own parser so the
//! preview and the scheduler agree.

pub mod agents;
pub mod assets;
pub mod preview;
pub mod proxy;

use std::sync::Arc;

use axum::routing::{any, get};
use axum::Router;

/// Where the UI's proxy sends requests: base URLs such as `http://127.0.0.1:5050`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiConfig {
    /// The master (operator endpoints, `/master/slaves` to find agents).
    pub master: String,
    /// Marathon's base URL, when it runs; the Apps view is hidden otherwise.
    pub marathon: Option<String>,
    /// Chronos's base URL, when it runs; the Jobs view is hidden otherwise.
    pub chronos: Option<String>,
}

impl UiConfig {
    /// A config for a master only (no Marathon, no Chronos).
    pub fn new(master: impl Into<String>) -> UiConfig {
        UiConfig {
            master: master.into(),
            marathon: None,
            chronos: None,
        }
    }
}

/// The UI's routes: `/`, `/ui/assets/*`, `/ui/config.json`, `/ui/api/*`.
/// Merge them into any router whose own paths avoid `/` and `/ui`.
pub fn router(config: UiConfig) -> Router {
    let state = Arc::new(proxy::Proxy::new(config));
    Router::new()
        .route("/", get(assets::index))
        .route("/ui", get(assets::index))
        .route("/ui/", get(assets::index))
        .route("/ui/assets/{*file}", get(assets::asset))
        .route("/ui/config.json", get(proxy::config_json))
        .route("/ui/api/schedule-preview", get(preview::handler))
        .route("/ui/api/master/{*rest}", any(proxy::master))
        .route("/ui/api/marathon/{*rest}", any(proxy::marathon))
        .route("/ui/api/chronos/{*rest}", any(proxy::chronos))
        .route("/ui/api/agent/{agent}/{*rest}", any(proxy::agent))
        .with_state(state)
}
