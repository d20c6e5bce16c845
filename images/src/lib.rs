//! The agent's OCI image store: pulls from Docker Registry v2 / OCI distribution registries, imports docker-save and OCI-layout archives, verifies every digest, unpacks layers safely into a content-addressed store, and garbage-collects unused layers.

pub mod digest;
pub mod error;
mod inroot;
pub mod media;
pub mod unpack;

pub use error::ImageError;
