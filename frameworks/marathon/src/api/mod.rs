//! Marathon's REST API v2 on axum: `/v2/apps`, `/v2/groups`, `/v2/tasks`, `/v2/deployments`,
//! `/v2/queue`, `/v2/events` (SSE), `/v2/info`, `/v2/leader`, `/ping` and `/metrics`, with
//! Marathon's JSON shapes, status codes and error bodies.
//!
//! # Who owns what
//! The API owns the group tree: it validates input, stamps versions, assigns service ports,
//! persists the tree and every app version in the [`Store`] *before* it answers 2xx, and then
//! hands the whole new tree to the scheduler. Mutations are serialized by one async lock, so
//! the stored tree, the scheduler's target and the answer always agree.
//!
//! # The contract with the scheduler
//! Everything the API needs from the scheduler goes through the trait
//! [`MarathonBackend`] (in `backend.rs`): snapshots of tasks, deployments, the queue and per-app
//! status, and the mutations `deploy(target_tree, request, now)`, `preview`, `kill_tasks`,
//! `cancel_deployment` and `reset_delay`. **M-SCHED implements `MarathonBackend` for its
//! `core` state** (behind an `Arc<std::sync::Mutex<…>>`, never locked across an `.await`);
//! the API's own tests use a small in-memory implementation (`tests/common/memory.rs`).
//! The trait is kept small and stable on purpose: add a method only when an endpoint needs it.
//!
//! Serve it with [`router`]; see [`ApiState::new`].

mod apps;
mod backend;
mod deploy;
mod deployments;
mod error;
mod groups;
pub mod label_selector;
mod query;
mod sse;
mod system;
mod tasks;

pub use backend::{BackendError, DeployRequest, MarathonBackend};
pub use error::ApiError;
pub use system::ServerInfo;

use crate::events::EventBus;
use crate::model::Group;
use crate::store::{Store, StoreError};
use axum::routing::{any, get, post};
use axum::Router;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

struct Inner {
    backend: Arc<dyn MarathonBackend>,
    store: Arc<Store>,
    events: EventBus,
    root: RwLock<Arc<Group>>,
    /// Serializes read-modify-persist-deploy of the tree.
    write: tokio::sync::Mutex<()>,
    info: ServerInfo,
    metrics: system::Metrics,
    abdicate: tokio::sync::Notify,
    abdicated: AtomicU64,
    close_streams: tokio::sync::watch::Sender<bool>,
}

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct ApiState(Arc<Inner>);

impl ApiState {
    /// Builds the state, loading the current tree from `store` (an empty root on first start).
    pub fn new(
        backend: Arc<dyn MarathonBackend>,
        store: Arc<Store>,
        events: EventBus,
        info: ServerInfo,
    ) -> Result<ApiState, StoreError> {
        let root = store
            .load_root()?
            .unwrap_or_else(|| Group::empty_root(crate::model::Timestamp::ZERO));
        let (close_streams, _) = tokio::sync::watch::channel(false);
        Ok(ApiState(Arc::new(Inner {
            backend,
            store,
            events,
            root: RwLock::new(Arc::new(root)),
            write: tokio::sync::Mutex::new(()),
            info,
            metrics: system::Metrics::default(),
            abdicate: tokio::sync::Notify::new(),
            abdicated: AtomicU64::new(0),
            close_streams,
        })))
    }

    /// The current tree (what the API shows and what the scheduler was last given).
    pub fn root(&self) -> Arc<Group> {
        self.0
            .root
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_root(&self, root: Arc<Group>) {
        *self.0.root.write().unwrap_or_else(|p| p.into_inner()) = root;
    }

    pub fn events(&self) -> &EventBus {
        &self.0.events
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.0.store
    }

    pub fn backend(&self) -> &Arc<dyn MarathonBackend> {
        &self.0.backend
    }

    pub fn info(&self) -> &ServerInfo {
        &self.0.info
    }

    /// Resolves once `DELETE /v2/leader` was called: the process should step down (exit).
    pub async fn abdicated(&self) {
        loop {
            let notified = self.0.abdicate.notified();
            if self.0.abdicated.load(Ordering::SeqCst) > 0 {
                return;
            }
            notified.await;
        }
    }

    fn abdicate(&self) {
        self.0.abdicated.fetch_add(1, Ordering::SeqCst);
        self.0.abdicate.notify_waiters();
    }

    /// Ends every open `/v2/events` stream (call on shutdown, so that graceful shutdown
    /// does not wait for SSE clients).
    pub fn close_streams(&self) {
        let _ = self.0.close_streams.send(true);
    }
}

/// The whole Marathon HTTP API.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v2/apps", any(apps::collection))
        .route("/v2/apps/{*rest}", any(apps::member))
        .route("/v2/groups", any(groups::handle_root))
        .route("/v2/groups/{*rest}", any(groups::handle))
        .route(
            "/v2/tasks",
            get(tasks::list).fallback(system::method_not_allowed),
        )
        .route(
            "/v2/tasks/delete",
            post(tasks::delete_many).fallback(system::method_not_allowed),
        )
        .route(
            "/v2/deployments",
            get(deployments::list).fallback(system::method_not_allowed),
        )
        .route("/v2/deployments/{id}", any(deployments::member))
        .route(
            "/v2/queue",
            get(deployments::queue).fallback(system::method_not_allowed),
        )
        .route("/v2/queue/{*rest}", any(deployments::queue_member))
        .route(
            "/v2/events",
            get(sse::events).fallback(system::method_not_allowed),
        )
        .route(
            "/v2/info",
            get(system::info).fallback(system::method_not_allowed),
        )
        .route("/v2/leader", any(system::leader))
        .route(
            "/ping",
            get(system::ping).fallback(system::method_not_allowed),
        )
        .route(
            "/metrics",
            get(system::metrics).fallback(system::method_not_allowed),
        )
        .route(
            "/metrics/prometheus",
            get(system::prometheus).fallback(system::method_not_allowed),
        )
        .fallback(system::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            system::count_requests,
        ))
        .with_state(state)
}
