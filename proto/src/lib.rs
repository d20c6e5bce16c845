//! Wire types shared by every Paddock component, and nothing else.
//!
//! This crate owns the Mesos v1 JSON API shapes (`mesos`, `scheduler`,
//! `executor`), RecordIO framing, resource arithmetic and the Mesos
//! resource/attribute text syntax, and the internal master⇄agent gRPC
//! protocol (`internal`, generated from `proto/internal.proto`). Mesos types
//! are defined once, here, with serde; the gRPC messages carry them as JSON.

pub mod codec;
pub mod container;
pub mod executor;
pub mod mesos;
pub mod recordio;
pub mod resources;
pub mod scheduler;
mod small_map;

/// Generated from `proto/internal.proto`.
pub mod internal {
    #![allow(clippy::all, clippy::pedantic)]
    tonic::include_proto!("paddock.internal");
}

/// The Mesos version Paddock speaks; `/version` reports it, and clients such
/// as pymesos parse it as dotted numbers.
pub const MESOS_COMPAT_VERSION: &str = "1.11.0";

/// Paddock's own version.
pub const PADDOCK_VERSION: &str = env!("CARGO_PKG_VERSION");
