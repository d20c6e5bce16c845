//! The agent's OCI image store: pulls from Docker Registry v2 / OCI distribution registries, imports docker-save and OCI-layout archives, verifies every digest, unpacks layers safely into a content-addressed store, and garbage-collects unused layers.
//!
//! ```text
//! let store = ImageStore::open("/var/lib/paddock/images")?;          // or open_with(StoreOptions)
//! let img = store.pull("busybox:1.36", None).await?;                 // registry (async)
//! let imgs = store.import("busybox.tar")?;                           // docker save / OCI layout tarball
//! let up = store.begin_upload()?; /* write up.path() */ store.import_upload(up, "body")?;
//! let rootfs = store.prepare_rootfs(&img, sandbox, RootfsMode::Auto)?; // overlay, or a copy
//! let cfg = img.runtime_config();                                     // entrypoint, cmd, env, ...
//! store.list()?; store.get("busybox"); store.rm("busybox")?; store.gc()?;
//! store.gc_with(&GcOptions { remove_unused_images: true, in_use })?;      // keeps what runs
//! ```
//!
//! Everything but `pull` does blocking file-system work: call it from a
//! blocking thread in async code. Layout and atomicity: see [`ImageStore`];
//! several processes on one store: see `lock` (flock; gc runs alone);
//! layer safety: see [`unpack`]. Test support (a local docker-registry and
//! a busybox image) is in `testing`, behind the `testing` feature.

pub mod config;
pub mod digest;
pub mod error;
mod gc;
mod import;
mod inroot;
mod lock;
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
pub use gc::{GcOptions, GcReport, StoreHold};
pub use import::Upload;
pub use pull::Credentials;
pub use reference::ImageRef;
pub use rootfs::{Rootfs, RootfsKind, RootfsMode};
pub use store::{Image, ImageStore, Layer, StoreOptions};
