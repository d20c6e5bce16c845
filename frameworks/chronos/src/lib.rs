//! The Chronos-compatible job scheduler: job definitions, ISO 8601 and cron schedules with IANA time zones, dependencies, run history, the /v1/scheduler REST API, and the framework that launches each run on the master's offers.

pub mod api;
pub mod core;
pub mod launch;
pub mod model;
pub mod runtime;
pub mod schedule;
pub mod service;
pub mod store;
pub mod validate;
pub mod view;

pub use runtime::{run, ChronosConfig, ChronosError};
