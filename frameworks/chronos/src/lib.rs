//! The Chronos-compatible job scheduler: job definitions, ISO 8601 and cron schedules with IANA time zones, dependencies, run history, the /v1/scheduler REST API, and the framework that launches each run on the master's offers.
//!
//! - [`schedule`]: `R[n]/start/period` and cron in IANA zones, with the DST rules.
//! - [`model`], [`validate`]: the job JSON (Chronos's fields and defaults) and its checks.
//! - [`core`]: the pure scheduler state machine (slot ledger, missed runs,
//!   concurrency, retries, dependencies); [`store`] persists it in redb.
//! - [`api`]: `/v1/scheduler/...` and `/scheduler/...`; [`view`]: what the CLI prints.
//! - [`launch`], [`runtime`]: offers to tasks, and [`run`], the framework itself;
//!   [`lateness`]: how late launches go out (`/metrics`).

pub mod api;
pub mod core;
pub mod lateness;
pub mod launch;
pub mod model;
pub mod runtime;
pub mod schedule;
pub mod service;
pub mod store;
pub mod validate;
pub mod view;

pub use runtime::{run, ChronosConfig, ChronosError};
