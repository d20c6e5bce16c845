//! The Marathon-compatible service scheduler: app definitions, validation, deployments, health checks, the /v2 REST API, and the framework that keeps apps at N instances on the master's offers.

pub mod api;
pub mod core;
pub mod events;
pub mod health;
pub mod launch;
pub mod model;
pub mod runtime;
pub mod store;
pub mod validate;
