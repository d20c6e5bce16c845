//! The content-addressed store on disk.
//!
//! ```text
//! <root>/blobs/sha256/<hex>          manifests, configs, compressed layers (verified)
//! <root>/layers/<diffid-hex>/rootfs  one unpacked layer, shared by every image using it
//! <root>/layers/<diffid-hex>/meta.json
//! <root>/images/<name>.json          reference -> manifest digest, config, ordered layers
//! <root>/tmp/                        staging areas of pulls and imports in progress
//! ```
//!
//! Nothing half-written is ever visible: a pull or an import downloads,
//! verifies and unpacks everything into a staging directory under `tmp/`
//! first, then renames blobs and layer directories into place and writes the
//! image record last (temp file, fsync, rename). A failure anywhere before
//! that leaves only the staging directory, which is removed.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use oci_spec::image::ImageConfiguration;
use serde::{Deserialize, Serialize};

use crate::config::RuntimeConfig;
use crate::digest::{sha256_hex, Hasher, HashingReader, HashingWriter};
use crate::error::{ImageError, IoContext};
use crate::lock::{store_lock_path, sweep_tmp, AreaLock, FileLock};
use crate::reference::ImageRef;
use crate::unpack::{decompress, unpack_tar, UnpackOptions, WhiteoutFormat};

/// One image in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// Canonical reference, e.g. `docker.io/library/busybox:latest`.
    pub reference: String,
    /// Digest of the image manifest (for a docker-save import, of the OCI
    /// manifest synthesized for it).
    pub manifest_digest: String,
    pub manifest_media_type: String,
    pub config_digest: String,
    pub config: ImageConfiguration,
    /// Bottom layer first.
    pub layers: Vec<Layer>,
}

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layer {
    /// Digest of the blob as stored (usually compressed).
    pub digest: String,
    /// Digest of the uncompressed tar (the config's `rootfs.diff_ids`).
    pub diff_id: String,
    pub media_type: String,
    pub size: u64,
}

impl Image {
    /// What the containerizer needs from the config.
    pub fn runtime_config(&self) -> RuntimeConfig {
        RuntimeConfig::from_image_config(&self.config)
    }

    /// Total size of the layer blobs.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }
}

/// Metadata kept beside an unpacked layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LayerMeta {
    pub diff_id: String,
    pub whiteouts: WhiteoutFormat,
    pub entries: u64,
    pub bytes: u64,
}

/// Options for [`ImageStore::open_with`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Registries (`host` or `host:port`) reached over plain HTTP, besides
    /// localhost and 127.0.0.0/8, which always are.
    pub insecure_registries: Vec<String>,
    /// PEM certificates trusted for HTTPS registries besides the system's.
    pub extra_root_certificates: Vec<Vec<u8>>,
    pub unpack: UnpackOptions,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            insecure_registries: Vec::new(),
            extra_root_certificates: Vec::new(),
            unpack: UnpackOptions::for_current_user(),
        }
    }
}

/// Lets pulls and imports run side by side while `gc` runs alone, so gc
/// never deletes a blob that a staging area is about to reference.
#[derive(Default)]
pub(crate) struct OpGate {
    state: Mutex<(usize, bool)>,
    cv: Condvar,
}

pub(crate) struct OpGuard {
    inner: Arc<Inner>,
    exclusive: bool,
    /// The same, across processes: `<root>/.lock` (see [`crate::lock`]).
    _file: Option<FileLock>,
}

impl Drop for OpGuard {
    fn drop(&mut self) {
        let gate = &self.inner.gate;
        let mut st = gate.state.lock().unwrap_or_else(|p| p.into_inner());
        if self.exclusive {
            st.1 = false;
        } else {
            st.0 -= 1;
        }
        gate.cv.notify_all();
    }
}

pub(crate) struct Inner {
    pub root: PathBuf,
    pub options: StoreOptions,
    gate: OpGate,
}

impl Inner {
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, ImageError> {
        Ok(self.root.join("blobs/sha256").join(sha256_hex(digest)?))
    }

    pub fn layer_dir(&self, diff_id: &str) -> Result<PathBuf, ImageError> {
        Ok(self.root.join("layers").join(sha256_hex(diff_id)?))
    }

    pub(crate) fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }
}

/// The agent's image store. Cheap to clone; all clones share one store.
///
/// ```text
/// <root>/blobs/sha256/<hex>          manifests, configs, compressed layers (verified)
/// <root>/layers/<diffid-hex>/rootfs  one unpacked layer, shared by the images using it
/// <root>/images/<name>.json          reference -> manifest digest, config, ordered layers
/// <root>/tmp/                        staging areas of pulls and imports in progress
/// ```
///
/// A pull or import verifies and unpacks everything in a staging area
/// first; blobs and layers are then renamed into place and the image
/// record is written last (temp file, fsync, rename), so nothing
/// half-written is ever visible and a failure leaves the store unchanged.
/// `gc` waits for running pulls, imports and `rm`s, in this process and in
/// every other one that opened the same directory (`flock`, see
/// [`crate::lock`]); opening a store sweeps only staging areas whose owner
/// died. Do not `rm` + `gc` an image whose overlay rootfs is still mounted
/// (its layers are the lowerdirs): pass the images of running containers
/// to [`gc_with`](ImageStore::gc_with) as `in_use`.
///
/// `pull` is async; the other operations do blocking file-system work and
/// belong on a blocking thread (`tokio::task::spawn_blocking`) in async code.
#[derive(Clone)]
pub struct ImageStore {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for ImageStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageStore")
            .field("root", &self.inner.root)
            .finish()
    }
}

impl ImageStore {
    /// Opens (creating if needed) the store at `root`. Staging areas left
    /// by a crashed process are removed.
    pub fn open(root: impl AsRef<Path>) -> Result<ImageStore, ImageError> {
        Self::open_with(root, StoreOptions::default())
    }

    pub fn open_with(
        root: impl AsRef<Path>,
        options: StoreOptions,
    ) -> Result<ImageStore, ImageError> {
        let root = root.as_ref().to_path_buf();
        for d in ["blobs/sha256", "layers", "images", "tmp"] {
            let p = root.join(d);
            fs::create_dir_all(&p).ctx(|| format!("create {}", p.display()))?;
        }
        // Only areas whose owner (in any process) is gone.
        sweep_tmp(&root.join("tmp"));
        Ok(ImageStore {
            inner: Arc::new(Inner {
                root,
                options,
                gate: OpGate::default(),
            }),
        })
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The image stored under `reference` (any docker-style spelling:
    /// `busybox` finds `docker.io/library/busybox:latest`), or under a
    /// manifest digest `sha256:…`.
    pub fn get(&self, reference: &str) -> Option<Image> {
        self.image(reference).ok()
    }

    /// Like [`get`](Self::get), with [`ImageError::NotFound`] when absent.
    pub fn image(&self, reference: &str) -> Result<Image, ImageError> {
        if reference.starts_with("sha256:") {
            return self
                .list()?
                .into_iter()
                .find(|i| i.manifest_digest == reference)
                .ok_or_else(|| ImageError::NotFound(reference.to_string()));
        }
        let canonical = ImageRef::parse(reference)?.canonical();
        let path = self.record_path(&canonical);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| ImageError::InvalidJson {
                what: format!("image record {}", path.display()),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(ImageError::NotFound(canonical)),
            Err(e) => Err(ImageError::io(format!("read {}", path.display()), e)),
        }
    }

    /// The image whose canonical reference is exactly `canonical`
    /// (`docker.io/library/busybox:latest`), read from its record without
    /// parsing the reference: `None` when there is no such record (a name
    /// spelled any other way is looked up with [`image`](Self::image)).
    /// Records are written by rename, so no lock is needed to read one.
    pub fn image_exact(&self, canonical: &str) -> Result<Option<Image>, ImageError> {
        let path = self.record_path(canonical);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ImageError::io(format!("read {}", path.display()), e)),
        };
        let img: Image = serde_json::from_slice(&bytes).map_err(|e| ImageError::InvalidJson {
            what: format!("image record {}", path.display()),
            reason: e.to_string(),
        })?;
        // Two names can share a hashed file name; only an exact match counts.
        Ok((img.reference == canonical).then_some(img))
    }

    /// Every image, sorted by reference.
    pub fn list(&self) -> Result<Vec<Image>, ImageError> {
        let dir = self.inner.root.join("images");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).ctx(|| format!("read {}", dir.display()))? {
            let e = e.ctx(|| format!("read {}", dir.display()))?;
            let p = e.path();
            if p.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let bytes = fs::read(&p).ctx(|| format!("read {}", p.display()))?;
            match serde_json::from_slice::<Image>(&bytes) {
                Ok(img) => out.push(img),
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "skipping unreadable image record")
                }
            }
        }
        out.sort_by(|a, b| a.reference.cmp(&b.reference));
        Ok(out)
    }

    /// Removes the image's name. Its blobs and layers stay until `gc`.
    pub fn rm(&self, reference: &str) -> Result<Image, ImageError> {
        let _guard = self.enter(false)?;
        let img = self.image(reference)?;
        let path = self.record_path(&img.reference);
        fs::remove_file(&path).ctx(|| format!("remove {}", path.display()))?;
        fsync_dir(&self.inner.root.join("images"));
        Ok(img)
    }

    /// The unpacked directory of each layer of `image`, bottom first.
    pub fn layer_dirs(&self, image: &Image) -> Result<Vec<PathBuf>, ImageError> {
        image
            .layers
            .iter()
            .map(|l| Ok(self.inner.layer_dir(&l.diff_id)?.join("rootfs")))
            .collect()
    }

    /// Where a blob lives (it may not exist).
    pub fn blob_path(&self, digest: &str) -> Result<PathBuf, ImageError> {
        self.inner.blob_path(digest)
    }

    pub(crate) fn layer_meta(&self, diff_id: &str) -> Result<LayerMeta, ImageError> {
        let p = self.inner.layer_dir(diff_id)?.join("meta.json");
        let bytes = fs::read(&p).ctx(|| {
            format!(
                "layer {diff_id} is not unpacked in the store ({})",
                p.display()
            )
        })?;
        serde_json::from_slice(&bytes).map_err(|e| ImageError::InvalidJson {
            what: format!("layer metadata {}", p.display()),
            reason: e.to_string(),
        })
    }

    pub(crate) fn record_path(&self, canonical: &str) -> PathBuf {
        self.inner
            .root
            .join("images")
            .join(record_file_name(canonical))
    }

    /// Blocks while gc runs (or, for `exclusive`, while anything runs), in
    /// this process (a gate) and in others (`flock` on `<root>/.lock`).
    pub(crate) fn enter(&self, exclusive: bool) -> Result<OpGuard, ImageError> {
        let gate = &self.inner.gate;
        let mut st = gate.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let busy = if exclusive { st.1 || st.0 > 0 } else { st.1 };
            if !busy {
                break;
            }
            st = gate.cv.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if exclusive {
            st.1 = true;
        } else {
            st.0 += 1;
        }
        drop(st);
        let mut guard = OpGuard {
            inner: self.inner.clone(),
            exclusive,
            _file: None,
        };
        // Dropping `guard` on error opens the gate again.
        guard._file = Some(FileLock::acquire(
            &store_lock_path(&self.inner.root),
            exclusive,
        )?);
        Ok(guard)
    }

    pub(crate) fn staging(&self, what: &str) -> Result<Staging, ImageError> {
        let dir = self
            .inner
            .tmp()
            .join(format!("{what}-{}", uuid::Uuid::new_v4().simple()));
        // Locked before it exists, so no sweep in another process takes it.
        let area_lock = AreaLock::acquire(&dir)?;
        fs::create_dir(&dir).ctx(|| format!("create {}", dir.display()))?;
        Ok(Staging {
            store: self.clone(),
            dir,
            blobs: Vec::new(),
            layers: Vec::new(),
            _area_lock: area_lock,
        })
    }
}

/// `images/<name>.json`: the reference with every byte outside
/// `[A-Za-z0-9._-]` as `%XX`; very long references use their sha256.
fn record_file_name(canonical: &str) -> String {
    let mut s = String::new();
    for b in canonical.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-' {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    if s.len() > 200 {
        s = crate::digest::sha256_of(canonical.as_bytes()).replace(':', "%3A");
    }
    format!("{s}.json")
}

pub(crate) fn remove_any(p: &Path) -> io::Result<()> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(p),
        Ok(_) => fs::remove_file(p),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

pub(crate) fn fsync_dir(dir: &Path) {
    if let Ok(f) = File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Writes `bytes` to `dest` through a temp file in `tmp`, fsync and rename.
pub(crate) fn write_atomic(tmp: &Path, dest: &Path, bytes: &[u8]) -> Result<(), ImageError> {
    let t = tmp.join(format!("w-{}", uuid::Uuid::new_v4().simple()));
    let res = (|| {
        let mut f = File::create(&t)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&t, dest)
    })();
    if res.is_err() {
        let _ = fs::remove_file(&t);
    }
    res.ctx(|| format!("write {}", dest.display()))?;
    if let Some(parent) = dest.parent() {
        fsync_dir(parent);
    }
    Ok(())
}

/// A pull's or import's private area under `tmp/`. Everything is verified
/// here; [`commit`](Staging::commit) moves it into the store. Dropped
/// without commit, it is removed with all it holds.
pub(crate) struct Staging {
    store: ImageStore,
    dir: PathBuf,
    /// (hex, staged path)
    blobs: Vec<(String, PathBuf)>,
    /// (diff-id hex, staged layer dir)
    layers: Vec<(String, PathBuf)>,
    /// Released (after `Drop` removed `dir`) when the staging ends.
    _area_lock: AreaLock,
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = remove_any(&self.dir);
    }
}

impl Staging {
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A fresh path inside the staging area.
    pub fn temp_path(&self, what: &str) -> PathBuf {
        self.dir
            .join(format!("{what}-{}", uuid::Uuid::new_v4().simple()))
    }

    /// The blob's path, staged or already in the store.
    pub fn blob(&self, digest: &str) -> Result<Option<PathBuf>, ImageError> {
        let hex = sha256_hex(digest)?;
        if let Some((_, p)) = self.blobs.iter().find(|(h, _)| h == hex) {
            return Ok(Some(p.clone()));
        }
        let p = self.store.inner.blob_path(digest)?;
        Ok(p.exists().then_some(p))
    }

    /// Verifies `bytes` against `digest`/`size` and stages them.
    pub fn add_blob_bytes(
        &mut self,
        bytes: &[u8],
        digest: &str,
        size: Option<u64>,
    ) -> Result<PathBuf, ImageError> {
        if let Some(p) = self.blob(digest)? {
            return Ok(p);
        }
        let mut h = Hasher::default();
        h.update(bytes);
        h.verify(digest, size)?;
        let p = self.temp_path("blob");
        let mut f = File::create(&p).ctx(|| format!("create {}", p.display()))?;
        f.write_all(bytes)
            .ctx(|| format!("write {}", p.display()))?;
        self.register_blob(digest, p)
    }

    /// Copies `r` into the staging area; it must hash to `digest` (and have
    /// `size` bytes, when given).
    pub fn add_blob_reader(
        &mut self,
        r: impl Read,
        digest: &str,
        size: Option<u64>,
    ) -> Result<PathBuf, ImageError> {
        if let Some(p) = self.blob(digest)? {
            return Ok(p);
        }
        let (path, hasher) = self.copy_in(r)?;
        if let Err(e) = hasher.verify(digest, size) {
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        self.register_blob(digest, path)
    }

    /// Copies `r` into the staging area under whatever digest it has.
    /// Returns (digest, size, staged path).
    pub fn add_blob_reader_unverified(
        &mut self,
        r: impl Read,
    ) -> Result<(String, u64, PathBuf), ImageError> {
        let (path, hasher) = self.copy_in(r)?;
        let size = hasher.bytes();
        let digest = hasher.digest();
        if let Some(p) = self.blob(&digest)? {
            let _ = fs::remove_file(&path);
            return Ok((digest, size, p));
        }
        let p = self.register_blob(&digest, path)?;
        Ok((digest, size, p))
    }

    fn copy_in(&self, mut r: impl Read) -> Result<(PathBuf, Hasher), ImageError> {
        let path = self.temp_path("blob");
        let f = File::create(&path).ctx(|| format!("create {}", path.display()))?;
        let mut w = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, f));
        io::copy(&mut r, &mut w).ctx(|| format!("write {}", path.display()))?;
        let (mut bw, hasher) = w.into_parts();
        bw.flush().ctx(|| format!("write {}", path.display()))?;
        Ok((path, hasher))
    }

    /// Stages a file that was already hashed while it was written.
    pub fn add_hashed_blob(
        &mut self,
        path: PathBuf,
        hasher: Hasher,
        digest: &str,
        size: Option<u64>,
    ) -> Result<PathBuf, ImageError> {
        hasher.verify(digest, size)?;
        self.register_blob(digest, path)
    }

    fn register_blob(&mut self, digest: &str, p: PathBuf) -> Result<PathBuf, ImageError> {
        let hex = sha256_hex(digest)?.to_string();
        self.blobs.push((hex, p.clone()));
        Ok(p)
    }

    /// Unpacks `layer` (its blob must be staged or stored) unless the store
    /// has it already, checking the uncompressed content against `diff_id`.
    pub fn unpack_layer(&mut self, layer: &Layer) -> Result<(), ImageError> {
        let hex = sha256_hex(&layer.diff_id)?.to_string();
        if self.layers.iter().any(|(h, _)| *h == hex)
            || self.store.inner.layer_dir(&layer.diff_id)?.exists()
        {
            return Ok(());
        }
        let blob = self.blob(&layer.digest)?.ok_or_else(|| ImageError::Layer {
            layer: layer.digest.clone(),
            entry: String::new(),
            reason: "blob missing from the staging area".into(),
        })?;
        let dir = self.temp_path("layer");
        let rootfs = dir.join("rootfs");
        fs::create_dir_all(&rootfs).ctx(|| format!("create {}", rootfs.display()))?;
        let opts = self.store.inner.options.unpack;
        let file = File::open(&blob).ctx(|| format!("open {}", blob.display()))?;
        let corrupt = |e: io::Error| ImageError::Layer {
            layer: layer.digest.clone(),
            entry: String::new(),
            reason: format!("cannot decompress: {e}"),
        };
        let reader = HashingReader::new(decompress(file).map_err(corrupt)?);
        let (stats, reader) = unpack_tar(reader, &rootfs, &opts, &layer.digest)?;
        let hasher = reader.finish().map_err(corrupt)?;
        let actual = hasher.digest();
        if actual != layer.diff_id {
            return Err(ImageError::BadDiffId {
                layer: layer.digest.clone(),
                expected: layer.diff_id.clone(),
                actual,
            });
        }
        let meta = LayerMeta {
            diff_id: layer.diff_id.clone(),
            whiteouts: opts.whiteouts,
            entries: stats.entries,
            bytes: stats.bytes,
        };
        let meta_json = serde_json::to_vec_pretty(&meta)
            .map_err(|e| ImageError::io("encode layer meta", io::Error::other(e)))?;
        fs::write(dir.join("meta.json"), meta_json)
            .ctx(|| format!("write {}/meta.json", dir.display()))?;
        tracing::debug!(layer = %layer.digest, entries = stats.entries, bytes = stats.bytes, "unpacked layer");
        self.layers.push((hex, dir));
        Ok(())
    }

    /// Moves every staged blob and layer into the store, then writes the
    /// records of `images` (each atomically).
    pub fn commit(mut self, images: &[Image]) -> Result<(), ImageError> {
        let inner = self.store.inner.clone();
        // One syncfs makes every staged file durable before anything is
        // renamed into place.
        if let Ok(f) = File::open(&self.dir) {
            let _ = nix::unistd::syncfs(&f);
        }
        for (hex, p) in std::mem::take(&mut self.blobs) {
            let dest = inner.root.join("blobs/sha256").join(&hex);
            if dest.exists() {
                continue;
            }
            fs::rename(&p, &dest).ctx(|| format!("move blob into {}", dest.display()))?;
        }
        fsync_dir(&inner.root.join("blobs/sha256"));
        for (hex, p) in std::mem::take(&mut self.layers) {
            let dest = inner.root.join("layers").join(&hex);
            match fs::rename(&p, &dest) {
                Ok(()) => {}
                // Another pull unpacked the same layer first: keep theirs.
                Err(_) if dest.join("meta.json").exists() => {}
                Err(e) => {
                    return Err(ImageError::io(
                        format!("move layer into {}", dest.display()),
                        e,
                    ))
                }
            }
        }
        fsync_dir(&inner.root.join("layers"));
        for img in images {
            let bytes = serde_json::to_vec_pretty(img)
                .map_err(|e| ImageError::io("encode image record", io::Error::other(e)))?;
            let dest = self.store.record_path(&img.reference);
            write_atomic(&self.dir, &dest, &bytes)?;
            tracing::info!(image = %img.reference, digest = %img.manifest_digest, "image stored");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_names_are_file_safe_and_distinct() {
        let a = record_file_name("docker.io/library/busybox:latest");
        assert_eq!(a, "docker.io%2Flibrary%2Fbusybox%3Alatest.json");
        let long = format!("reg/{}:t", "a".repeat(250));
        let b = record_file_name(&long);
        assert!(b.len() < 100 && !b.contains('/'), "{b}");
        assert_ne!(record_file_name("a/b:c"), record_file_name("a/b/c"));
    }

    #[test]
    fn image_exact_finds_only_the_canonical_name() {
        use crate::testing::{layer_tar, Entry, TestImage};
        let img = TestImage::new(vec![layer_tar(&[Entry::file("a", "1")])]);
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("img.tar");
        fs::write(&archive, img.oci_archive("example.com/team/app:1.0")).unwrap();
        let store = ImageStore::open(dir.path().join("store")).unwrap();
        let imported = store.import(&archive).unwrap();
        let name = &imported[0].reference;
        assert_eq!(name, "example.com/team/app:1.0");
        let found = store.image_exact(name).unwrap().expect("found");
        assert_eq!(found.manifest_digest, imported[0].manifest_digest);
        // Other spellings and other names are not exact matches.
        assert!(store.image_exact("example.com/team/app").unwrap().is_none());
        assert!(store
            .image_exact("example.com/team/app:2")
            .unwrap()
            .is_none());
    }
}
