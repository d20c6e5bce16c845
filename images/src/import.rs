//! `paddock image import FILE`: a `docker save` archive or an OCI
//! image-layout tarball (plain or gzip). Every blob is verified against its
//! digest, every layer against its diff_id; any failure leaves the store as
//! it was.

use std::ffi::OsString;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use oci_spec::image::{
    Descriptor, ImageConfiguration, ImageManifest, ImageManifestBuilder, MediaType,
};
use serde::Deserialize;

use crate::digest::sha256_hex;
use crate::error::{ImageError, IoContext};
use crate::inroot::{clean, Root};
use crate::media::{self, parse_config, parse_manifest, Compression, Manifest};
use crate::reference::ImageRef;
use crate::store::{Image, ImageStore, Layer, OpGuard, Staging};
use crate::unpack::{decompress, unpack_tar, UnpackOptions, WhiteoutFormat};

const CONTAINERD_NAME: &str = "io.containerd.image.name";
const OCI_REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Deserialize)]
struct DockerSaveEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// An archive on its way into the store from the network: write it to
/// [`path`](Upload::path) (inside a private staging area), then hand it to
/// [`ImageStore::import_upload`]. Holds off `gc` meanwhile; dropped without
/// an import, it is removed with everything it staged.
pub struct Upload {
    _guard: OpGuard,
    staging: Staging,
    file: PathBuf,
}

impl Upload {
    /// Where to write the archive.
    pub fn path(&self) -> &Path {
        &self.file
    }
}

impl ImageStore {
    /// Imports every image of the archive at `path`.
    pub fn import(&self, path: impl AsRef<Path>) -> Result<Vec<Image>, ImageError> {
        let path = path.as_ref();
        let _guard = self.enter(false)?;
        let st = self.staging("import")?;
        self.import_staged(st, path, path)
    }

    /// Starts an [`Upload`].
    pub fn begin_upload(&self) -> Result<Upload, ImageError> {
        let guard = self.enter(false)?;
        let staging = self.staging("upload")?;
        let file = staging.dir().join("upload.tar");
        Ok(Upload {
            _guard: guard,
            staging,
            file,
        })
    }

    /// Imports the archive written to `upload`; errors name it `label`.
    /// Nothing of it stays in the store when this fails.
    pub fn import_upload(&self, upload: Upload, label: &str) -> Result<Vec<Image>, ImageError> {
        let Upload {
            _guard,
            staging,
            file,
        } = upload;
        self.import_staged(staging, &file, Path::new(label))
    }

    fn import_staged(
        &self,
        mut st: Staging,
        file: &Path,
        path: &Path,
    ) -> Result<Vec<Image>, ImageError> {
        let extracted = st.dir().join("archive");
        std::fs::create_dir(&extracted).ctx(|| format!("create {}", extracted.display()))?;
        extract(file, path, &extracted)?;
        let root = Root::open(&extracted).ctx(|| format!("open {}", extracted.display()))?;
        let archive = Archive { root: &root, path };
        let images = if archive.exists("index.json") && archive.exists("oci-layout") {
            archive.import_oci_layout(self, &mut st)?
        } else if archive.exists("manifest.json") {
            archive.import_docker_save(self, &mut st)?
        } else {
            return Err(ImageError::corrupt(
                path,
                "neither an OCI image layout (oci-layout + index.json) nor a docker save archive (manifest.json)",
            ));
        };
        if images.is_empty() {
            return Err(ImageError::corrupt(path, "the archive holds no image"));
        }
        st.commit(&images)?;
        Ok(images)
    }
}

/// Extracts the archive with the same confinement as a layer: nothing in it
/// can write outside `into`.
/// `path` names the archive in errors.
fn extract(file: &Path, path: &Path, into: &Path) -> Result<(), ImageError> {
    let file = File::open(file).ctx(|| format!("open {}", path.display()))?;
    let reader = decompress(file).map_err(|e| ImageError::corrupt(path, e.to_string()))?;
    let opts = UnpackOptions {
        whiteouts: WhiteoutFormat::Marker,
        as_root: false,
    };
    let label = path.display().to_string();
    let (_, mut rest) = unpack_tar(reader, into, &opts, &label).map_err(|e| match e {
        ImageError::Layer { entry, reason, .. } => {
            ImageError::corrupt(path, format!("entry {entry:?}: {reason}"))
        }
        other => other,
    })?;
    // A truncated compressed stream only shows when reading to its end.
    std::io::copy(&mut rest, &mut std::io::sink())
        .map_err(|e| ImageError::corrupt(path, e.to_string()))?;
    Ok(())
}

struct Archive<'a> {
    root: &'a Root,
    path: &'a Path,
}

impl Archive<'_> {
    fn comps(name: &str) -> Vec<OsString> {
        clean(Path::new(name))
    }

    fn exists(&self, name: &str) -> bool {
        self.root
            .open_in_root(&Self::comps(name), OFlag::O_PATH)
            .is_ok()
    }

    /// Opens a file named inside the archive; symlinks resolve inside it.
    fn open(&self, name: &str) -> Result<File, ImageError> {
        let fd = self
            .root
            .open_in_root(&Self::comps(name), OFlag::O_RDONLY)
            .map_err(|e| ImageError::corrupt(self.path, format!("{name}: {}", e.desc())))?;
        Ok(File::from(fd))
    }

    fn read(&self, name: &str, limit: u64) -> Result<Vec<u8>, ImageError> {
        let mut buf = Vec::new();
        self.open(name)?
            .take(limit)
            .read_to_end(&mut buf)
            .map_err(|e| ImageError::corrupt(self.path, format!("{name}: {e}")))?;
        Ok(buf)
    }

    fn blob_name(digest: &str) -> Result<String, ImageError> {
        Ok(format!("blobs/sha256/{}", sha256_hex(digest)?))
    }

    /// Reads a small blob (manifest, config) of an OCI layout, verified.
    fn read_blob(&self, d: &Descriptor, st: &mut Staging) -> Result<Vec<u8>, ImageError> {
        let digest = d.digest().to_string();
        if d.size() > 16 << 20 {
            return Err(ImageError::corrupt(
                self.path,
                format!("{digest}: {} bytes is too big for JSON", d.size()),
            ));
        }
        let bytes = self.read(&Self::blob_name(&digest)?, d.size() + 1)?;
        st.add_blob_bytes(&bytes, &digest, Some(d.size()))?;
        Ok(bytes)
    }

    fn import_oci_layout(
        &self,
        store: &ImageStore,
        st: &mut Staging,
    ) -> Result<Vec<Image>, ImageError> {
        let layout: serde_json::Value = serde_json::from_slice(&self.read("oci-layout", 1 << 16)?)
            .map_err(|e| ImageError::corrupt(self.path, format!("oci-layout: {e}")))?;
        if layout
            .get("imageLayoutVersion")
            .and_then(|v| v.as_str())
            .is_none()
        {
            return Err(ImageError::corrupt(
                self.path,
                "oci-layout has no imageLayoutVersion",
            ));
        }
        let index_bytes = self.read("index.json", 16 << 20)?;
        let Manifest::Index(index) = parse_manifest(
            &index_bytes,
            Some("application/vnd.oci.image.index.v1+json"),
            "index.json",
        )?
        else {
            return Err(ImageError::corrupt(
                self.path,
                "index.json is not an image index",
            ));
        };
        let mut images = Vec::new();
        for desc in index.manifests() {
            let name = desc.annotations().as_ref().and_then(|a| {
                a.get(CONTAINERD_NAME)
                    .or_else(|| a.get(OCI_REF_NAME).filter(|n| n.contains(['/', ':', '@'])))
                    .cloned()
            });
            let (manifest, digest, mt) = self.resolve(desc, st)?;
            let config_bytes = self.read_blob(manifest.config(), st)?;
            let config = parse_config(
                &config_bytes,
                &format!("config {}", manifest.config().digest()),
            )?;
            let image = assemble(name.as_deref(), &digest, &mt, &manifest, &config)?;
            for l in &image.layers {
                let f = self.open(&Self::blob_name(&l.digest)?)?;
                st.add_blob_reader(f, &l.digest, Some(l.size))?;
                st.unpack_layer(l)?;
            }
            let _ = store;
            images.push(image);
        }
        Ok(images)
    }

    /// A manifest descriptor of index.json, following one nested index to
    /// the host's platform.
    fn resolve(
        &self,
        desc: &Descriptor,
        st: &mut Staging,
    ) -> Result<(ImageManifest, String, String), ImageError> {
        let mut desc = desc.clone();
        for _ in 0..2 {
            let bytes = self.read_blob(&desc, st)?;
            let what = format!("manifest {}", desc.digest());
            match parse_manifest(&bytes, Some(desc.media_type().as_ref()), &what)? {
                Manifest::Image(m) => {
                    let mt = m
                        .media_type()
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_else(|| MediaType::ImageManifest.to_string());
                    return Ok((*m, desc.digest().to_string(), mt));
                }
                Manifest::Index(idx) => {
                    let (os, arch) = media::host_platform();
                    desc = media::select_platform(&idx, os, arch)
                        .ok_or_else(|| ImageError::NoMatchingPlatform {
                            reference: what.clone(),
                            platform: format!("{os}/{arch}"),
                        })?
                        .clone();
                }
            }
        }
        Err(ImageError::corrupt(
            self.path,
            "image indexes nested more than one level",
        ))
    }

    fn import_docker_save(
        &self,
        _store: &ImageStore,
        st: &mut Staging,
    ) -> Result<Vec<Image>, ImageError> {
        let entries: Vec<DockerSaveEntry> =
            serde_json::from_slice(&self.read("manifest.json", 16 << 20)?)
                .map_err(|e| ImageError::corrupt(self.path, format!("manifest.json: {e}")))?;
        let mut images = Vec::new();
        for entry in entries {
            let config_bytes = self.read(&entry.config, 16 << 20)?;
            let config_digest = crate::digest::sha256_of(&config_bytes);
            if let Some(named) = digest_in_name(&entry.config) {
                if named != config_digest {
                    return Err(ImageError::BadDigest {
                        expected: named,
                        actual: config_digest,
                    });
                }
            }
            st.add_blob_bytes(&config_bytes, &config_digest, None)?;
            let config = parse_config(&config_bytes, &format!("config {}", entry.config))?;
            let diff_ids = config.rootfs().diff_ids();
            if diff_ids.len() != entry.layers.len() {
                return Err(ImageError::corrupt(
                    self.path,
                    format!(
                        "config {} lists {} diff_ids but manifest.json lists {} layers",
                        entry.config,
                        diff_ids.len(),
                        entry.layers.len()
                    ),
                ));
            }
            let mut descs = Vec::new();
            for (name, diff_id) in entry.layers.iter().zip(diff_ids) {
                let (digest, size, path) = st.add_blob_reader_unverified(self.open(name)?)?;
                if let Some(named) = digest_in_name(name) {
                    if named != digest {
                        return Err(ImageError::BadDigest {
                            expected: named,
                            actual: digest,
                        });
                    }
                }
                let mut head = [0u8; 4];
                let n = File::open(&path)
                    .and_then(|mut f| f.read(&mut head))
                    .unwrap_or(0);
                let mt = match media::sniff_compression(&head[..n]) {
                    Compression::None => {
                        if &digest != diff_id {
                            return Err(ImageError::BadDiffId {
                                layer: name.clone(),
                                expected: diff_id.clone(),
                                actual: digest,
                            });
                        }
                        MediaType::ImageLayer
                    }
                    Compression::Gzip => MediaType::ImageLayerGzip,
                    Compression::Zstd => MediaType::ImageLayerZstd,
                };
                descs.push(Descriptor::new(mt, size, parse_digest(&digest)?));
            }
            let manifest = ImageManifestBuilder::default()
                .schema_version(2u32)
                .media_type(MediaType::ImageManifest)
                .config(Descriptor::new(
                    MediaType::ImageConfig,
                    config_bytes.len() as u64,
                    parse_digest(&config_digest)?,
                ))
                .layers(descs)
                .build()
                .map_err(|e| {
                    ImageError::corrupt(self.path, format!("cannot build a manifest: {e}"))
                })?;
            let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| {
                ImageError::corrupt(self.path, format!("cannot encode a manifest: {e}"))
            })?;
            let manifest_digest = crate::digest::sha256_of(&manifest_bytes);
            st.add_blob_bytes(&manifest_bytes, &manifest_digest, None)?;
            let mt = MediaType::ImageManifest.to_string();
            let tags = entry.repo_tags.clone().unwrap_or_default();
            let names: Vec<Option<&str>> = if tags.is_empty() {
                vec![None]
            } else {
                tags.iter().map(|t| Some(t.as_str())).collect()
            };
            for name in names {
                let image = assemble(name, &manifest_digest, &mt, &manifest, &config)?;
                for l in &image.layers {
                    st.unpack_layer(l)?;
                }
                images.push(image);
            }
        }
        Ok(images)
    }
}

/// `sha256:<hex>` when a docker-save file name carries its digest
/// (`<hex>.json`, `<hex>/layer.tar`, `blobs/sha256/<hex>`).
fn digest_in_name(name: &str) -> Option<String> {
    let comps: Vec<&str> = name
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let candidates = [
        comps.last().map(|l| l.trim_end_matches(".json")),
        (comps.len() >= 3 && comps[comps.len() - 2] == "sha256").then(|| comps[comps.len() - 1]),
    ];
    for c in candidates.into_iter().flatten() {
        let d = format!("sha256:{c}");
        if sha256_hex(&d).is_ok() {
            return Some(d);
        }
    }
    None
}

pub(crate) fn parse_digest(d: &str) -> Result<oci_spec::image::Digest, ImageError> {
    d.parse()
        .map_err(|e: oci_spec::OciSpecError| ImageError::InvalidDigest {
            digest: d.to_string(),
            reason: e.to_string(),
        })
}

/// Builds the store record of one image from its verified manifest and config.
pub(crate) fn assemble(
    name: Option<&str>,
    manifest_digest: &str,
    manifest_media_type: &str,
    manifest: &ImageManifest,
    config: &ImageConfiguration,
) -> Result<Image, ImageError> {
    let diff_ids = config.rootfs().diff_ids();
    if diff_ids.len() != manifest.layers().len() {
        return Err(ImageError::InvalidJson {
            what: format!("manifest {manifest_digest}"),
            reason: format!(
                "{} layers but the config lists {} diff_ids",
                manifest.layers().len(),
                diff_ids.len()
            ),
        });
    }
    let mut layers = Vec::new();
    for (d, diff_id) in manifest.layers().iter().zip(diff_ids) {
        media::layer_supported(d)?;
        sha256_hex(diff_id)?;
        layers.push(Layer {
            digest: d.digest().to_string(),
            diff_id: diff_id.clone(),
            media_type: d.media_type().to_string(),
            size: d.size(),
        });
    }
    let reference = match name {
        Some(n) => ImageRef::parse(n)?.canonical(),
        None => manifest_digest.to_string(),
    };
    Ok(Image {
        reference,
        manifest_digest: manifest_digest.to_string(),
        manifest_media_type: manifest_media_type.to_string(),
        config_digest: manifest.config().digest().to_string(),
        config: config.clone(),
        layers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_in_docker_save_names() {
        let hex = "c".repeat(64);
        assert_eq!(
            digest_in_name(&format!("{hex}.json")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(
            digest_in_name(&format!("blobs/sha256/{hex}")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(digest_in_name(&format!("{hex}/layer.tar")), None);
        assert_eq!(digest_in_name("config.json"), None);
    }
}
