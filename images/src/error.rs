//! The one error type of the image store. Every message says what happened
//! and names the offending image, digest, media type, file or entry.

use std::path::Path;

/// Everything that can go wrong in the image store.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The image is not in the local store.
    #[error("image {0} is not in the store")]
    NotFound(String),
    /// The registry does not have the image.
    #[error("image {reference} not found in registry {registry}: {reason}")]
    NotInRegistry {
        reference: String,
        registry: String,
        reason: String,
    },
    /// An image reference that does not parse.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },
    /// No connection to the registry (refused, DNS, TLS, timeout).
    #[error("registry {registry} is unreachable: {reason}")]
    RegistryUnreachable { registry: String, reason: String },
    /// The registry wants credentials we do not have, or rejected ours.
    #[error("registry {registry} refused authentication: {reason}")]
    Unauthorized { registry: String, reason: String },
    /// The registry answered with an error.
    #[error("registry {registry} failed: {reason}")]
    Registry { registry: String, reason: String },
    /// Content whose sha256 is not the digest it was announced with.
    #[error("bad digest for {expected}: the content hashes to {actual}")]
    BadDigest { expected: String, actual: String },
    /// A layer whose uncompressed content is not its config's diff_id.
    #[error("bad digest for uncompressed layer {layer}: expected diff_id {expected}, the content hashes to {actual}")]
    BadDiffId {
        layer: String,
        expected: String,
        actual: String,
    },
    /// Content whose size is not the size it was announced with.
    #[error("bad size for {digest}: expected {expected} bytes, got {actual}")]
    BadSize {
        digest: String,
        expected: u64,
        actual: u64,
    },
    /// A digest string that is not `sha256:<64 hex>`.
    #[error("invalid digest {digest:?}: {reason}")]
    InvalidDigest { digest: String, reason: String },
    /// A manifest, index, config or layer of a kind we do not handle.
    #[error("unsupported media type {media_type} for {what}")]
    UnsupportedMediaType { media_type: String, what: String },
    /// A manifest, index or config that is not valid JSON of its kind.
    #[error("invalid {what}: {reason}")]
    InvalidJson { what: String, reason: String },
    /// An index without a manifest for our platform.
    #[error("no manifest for platform {platform} in {reference}")]
    NoMatchingPlatform { reference: String, platform: String },
    /// An archive given to `import` that cannot be read.
    #[error("corrupt archive {path}: {reason}")]
    CorruptArchive { path: String, reason: String },
    /// A layer that cannot be unpacked.
    #[error("layer {layer}: entry {entry:?}: {reason}")]
    Layer {
        layer: String,
        entry: String,
        reason: String,
    },
    /// An overlay rootfs was asked for but cannot be mounted here.
    #[error("overlay rootfs unavailable: {0}")]
    OverlayUnavailable(String),
    /// A file-system operation of the store failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl ImageError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> ImageError {
        ImageError::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: &Path, reason: impl Into<String>) -> ImageError {
        ImageError::CorruptArchive {
            path: path.display().to_string(),
            reason: reason.into(),
        }
    }
}

/// Adds "what we were doing" to an I/O error.
pub(crate) trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, ImageError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, ImageError> {
        self.map_err(|e| ImageError::io(context(), e))
    }
}

impl<T> IoContext<T> for nix::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, ImageError> {
        self.map_err(|e| ImageError::io(context(), std::io::Error::from_raw_os_error(e as i32)))
    }
}
