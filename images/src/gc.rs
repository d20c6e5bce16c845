//! Garbage collection and usage tracking.
//!
//! `gc` runs alone (exclusive store lock, in this process and across
//! processes): it may first drop the images that no running container
//! uses, then removes every blob and unpacked layer that no remaining
//! image references, and the staging areas of dead processes. An image
//! named in [`GcOptions::in_use`] is never removed, nor anything it uses.
//!
//! `<root>/used/<manifest-hex>` is touched whenever a rootfs is prepared
//! from an image; its mtime is the image's "last used".

use std::collections::HashSet;
use std::fs;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::digest::sha256_hex;
use crate::error::{ImageError, IoContext};
use crate::lock::sweep_tmp;
use crate::reference::ImageRef;
use crate::store::{fsync_dir, remove_any, Image, ImageStore, LayerMeta, OpGuard};

/// What `gc` may remove.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcOptions {
    /// Also remove every image that `in_use` does not name (like
    /// `docker image prune -a`). Without it only blobs and layers that no
    /// image references are removed.
    pub remove_unused_images: bool,
    /// Images that running (or launching) containers use, as references in
    /// any docker spelling or as manifest digests. They are always kept,
    /// with all their blobs and layers.
    pub in_use: Vec<String>,
}

/// See [`ImageStore::hold`].
pub struct StoreHold {
    _guard: OpGuard,
}

/// What `gc` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// References of the images removed (with `remove_unused_images`).
    pub images_removed: Vec<String>,
    pub blobs_removed: u64,
    pub layers_removed: u64,
    pub bytes_freed: u64,
}

/// The canonical spellings of `in_use`: manifest digests as they are,
/// references as `ImageStore` stores them (unparsable ones as written).
fn canonical_set(in_use: &[String]) -> HashSet<String> {
    in_use
        .iter()
        .map(|s| {
            let s = s.trim();
            if s.starts_with("sha256:") {
                s.to_string()
            } else {
                ImageRef::parse(s)
                    .map(|r| r.canonical())
                    .unwrap_or_else(|_| s.to_string())
            }
        })
        .collect()
}

/// Whether `img` is named by `set` (reference or manifest digest).
fn named(set: &HashSet<String>, img: &Image) -> bool {
    set.contains(&img.reference) || set.contains(&img.manifest_digest)
}

impl ImageStore {
    /// Removes blobs and unpacked layers that no image references, and any
    /// leftover staging areas. Waits for running pulls and imports (in
    /// every process).
    pub fn gc(&self) -> Result<GcReport, ImageError> {
        self.gc_with(&GcOptions::default())
    }

    /// [`gc`](Self::gc), keeping `options.in_use` and, with
    /// `remove_unused_images`, removing every other image first.
    pub fn gc_with(&self, options: &GcOptions) -> Result<GcReport, ImageError> {
        self.gc_live(options.remove_unused_images, || options.in_use.clone())
    }

    /// [`gc_with`](Self::gc_with), asking `in_use` for the images in use
    /// only once gc holds the store: a container that starts while gc
    /// waits for pulls and imports to finish is still seen.
    pub fn gc_live(
        &self,
        remove_unused_images: bool,
        in_use: impl FnOnce() -> Vec<String>,
    ) -> Result<GcReport, ImageError> {
        let _guard = self.enter(true)?;
        let keep = canonical_set(&in_use());
        let mut report = GcReport::default();
        let mut images = Vec::new();
        for img in self.list()? {
            if remove_unused_images && !named(&keep, &img) {
                let path = self.record_path(&img.reference);
                fs::remove_file(&path).ctx(|| format!("remove {}", path.display()))?;
                report.images_removed.push(img.reference);
            } else {
                images.push(img);
            }
        }
        if !report.images_removed.is_empty() {
            fsync_dir(&self.inner.root.join("images"));
        }
        let mut blobs = HashSet::new();
        let mut layers = HashSet::new();
        let mut manifests = HashSet::new();
        for img in &images {
            manifests.insert(sha256_hex(&img.manifest_digest)?.to_string());
            blobs.insert(sha256_hex(&img.manifest_digest)?.to_string());
            blobs.insert(sha256_hex(&img.config_digest)?.to_string());
            for l in &img.layers {
                blobs.insert(sha256_hex(&l.digest)?.to_string());
                layers.insert(sha256_hex(&l.diff_id)?.to_string());
            }
        }
        let bdir = self.inner.root.join("blobs/sha256");
        for e in fs::read_dir(&bdir)
            .ctx(|| format!("read {}", bdir.display()))?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if !blobs.contains(&name) {
                report.bytes_freed += e.metadata().map(|m| m.len()).unwrap_or(0);
                fs::remove_file(e.path()).ctx(|| format!("remove {}", e.path().display()))?;
                report.blobs_removed += 1;
            }
        }
        let ldir = self.inner.root.join("layers");
        for e in fs::read_dir(&ldir)
            .ctx(|| format!("read {}", ldir.display()))?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if !layers.contains(&name) {
                // Out of layers/ first, so a half-deleted layer is never visible.
                let doomed = self
                    .inner
                    .tmp()
                    .join(format!("gc-{}", uuid::Uuid::new_v4().simple()));
                fs::rename(e.path(), &doomed).ctx(|| format!("move {} out", e.path().display()))?;
                report.bytes_freed += unpacked_bytes(&doomed);
                remove_any(&doomed).ctx(|| format!("remove {}", doomed.display()))?;
                report.layers_removed += 1;
            }
        }
        for e in fs::read_dir(self.used_dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            if !manifests.contains(e.file_name().to_string_lossy().as_ref()) {
                let _ = fs::remove_file(e.path());
            }
        }
        sweep_tmp(&self.inner.tmp());
        tracing::info!(?report, "image store gc");
        Ok(report)
    }

    /// Holds gc off (in every process) while the returned guard lives:
    /// look an image up and prepare its rootfs under one hold, and gc
    /// cannot remove the image in between.
    pub fn hold(&self) -> Result<StoreHold, ImageError> {
        Ok(StoreHold {
            _guard: self.enter(false)?,
        })
    }

    fn used_dir(&self) -> PathBuf {
        self.inner.root.join("used")
    }

    /// Records that `image` was used now (a rootfs was prepared from it).
    pub fn mark_used(&self, image: &Image) -> Result<(), ImageError> {
        let dir = self.used_dir();
        fs::create_dir_all(&dir).ctx(|| format!("create {}", dir.display()))?;
        let path = dir.join(sha256_hex(&image.manifest_digest)?);
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .ctx(|| format!("open {}", path.display()))?;
        f.set_modified(SystemTime::now())
            .ctx(|| format!("touch {}", path.display()))
    }

    /// When a rootfs was last prepared from `image` (`None`: never).
    pub fn last_used(&self, image: &Image) -> Option<SystemTime> {
        let hex = sha256_hex(&image.manifest_digest).ok()?;
        fs::metadata(self.used_dir().join(hex))
            .ok()?
            .modified()
            .ok()
    }

    /// When `image`'s record was written (its pull or import).
    pub fn stored_at(&self, image: &Image) -> Option<SystemTime> {
        fs::metadata(self.record_path(&image.reference))
            .ok()?
            .modified()
            .ok()
    }
}

/// The unpacked size a layer's metadata records (0 when unreadable).
fn unpacked_bytes(layer_dir: &std::path::Path) -> u64 {
    fs::read(layer_dir.join("meta.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<LayerMeta>(&b).ok())
        .map(|m| m.bytes)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_use_names_are_canonical() {
        let d = format!("sha256:{}", "a".repeat(64));
        let set = canonical_set(&["busybox".into(), d.clone(), "Not A Ref".into()]);
        assert!(set.contains("docker.io/library/busybox:latest"));
        assert!(set.contains(&d));
        assert!(set.contains("Not A Ref"));
    }
}
