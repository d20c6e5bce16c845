//! The master's HTTP surface: the Mesos v1 scheduler API, the operator
//! (v0) endpoints, metrics, and Paddock's own small operator calls.

mod errors;
mod metrics;
mod operator;
mod scheduler;
mod state_json;

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use crate::server::Shared;

pub use errors::{not_found, ApiError};

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/api/v1/scheduler",
            post(scheduler::call).fallback(errors::method_not_allowed),
        )
        .route("/version", get(operator::version))
        .route("/health", get(operator::health))
        .route("/master/health", get(operator::health))
        .route("/master/state", get(operator::state))
        .route("/master/state.json", get(operator::state))
        .route("/state", get(operator::state))
        .route("/state.json", get(operator::state))
        .route("/master/slaves", get(operator::slaves))
        .route("/slaves", get(operator::slaves))
        .route("/master/frameworks", get(operator::frameworks))
        .route("/frameworks", get(operator::frameworks))
        .route("/master/tasks", get(operator::tasks))
        .route("/tasks", get(operator::tasks))
        .route("/master/weights", get(operator::weights))
        .route("/weights", get(operator::weights))
        .route("/master/flags", get(operator::flags))
        .route("/flags", get(operator::flags))
        .route("/master/redirect", get(operator::redirect))
        .route("/redirect", get(operator::redirect))
        .route("/metrics/snapshot", get(metrics::snapshot))
        .route("/metrics", get(metrics::prometheus))
        .route(
            "/paddock/v1/tasks/{task_id}/kill",
            post(operator::kill_task),
        )
        .with_state(shared)
}
