//! The Paddock master.
//!
//! It owns the registry of agents, frameworks, offers and tasks (`core`, a
//! state machine with time passed in and effects pushed to an outbox), the
//! hierarchical DRF allocator (`allocator`, pure), the Mesos v1 scheduler
//! API and the operator endpoints (`http`), and the gRPC service agents
//! connect to (`link`). `server` wires them onto one port, HTTP/1.1 and
//! h2c gRPC side by side.

pub mod allocator;
pub mod config;
pub mod core;
pub mod http;
pub mod link;
pub mod server;

pub use config::MasterConfig;
pub use server::{MasterOptions, MasterServer, ServeError};
