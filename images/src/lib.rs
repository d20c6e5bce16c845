//! The agent's OCI image store: pulls from Docker Registry v2 / OCI distribution registries, imports docker-save and OCI-layout archives, verifies every digest, unpacks layers safely into a content-addressed store, and garbage-collects unused layers.

pub mod config;
pub mod digest;
pub mod error;
mod import;
mod inroot;
pub mod media;
mod pull;
pub mod reference;
mod rootfs;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod unpack;

pub use config::RuntimeConfig;
pub use error::ImageError;
pub use pull::Credentials;
pub use reference::ImageRef;
pub use rootfs::{Rootfs, RootfsKind, RootfsMode};
pub use store::{GcReport, Image, ImageStore, Layer, StoreOptions};
