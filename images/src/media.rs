//! Media types we accept (OCI and Docker v2 schema2) and parsing of
//! manifests, indexes and configs from untrusted bytes into oci-spec types.

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, MediaType};

use crate::error::ImageError;

/// Docker's v2 schema2 image manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker's manifest list (the schema2 index).
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker's image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker's gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker's uncompressed layer (seen in some archives).
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker's schema1 manifest, which we reject by name.
const DOCKER_SCHEMA1: &str = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/// Every manifest media type we ask a registry for.
pub const ACCEPTED_MANIFESTS: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST,
];

/// A parsed manifest: one image, or an index of per-platform images.
#[derive(Debug, Clone)]
pub enum Manifest {
    Image(Box<ImageManifest>),
    Index(Box<ImageIndex>),
}

fn is_index(mt: &str) -> bool {
    mt == "application/vnd.oci.image.index.v1+json" || mt == DOCKER_MANIFEST_LIST
}

fn is_image(mt: &str) -> bool {
    mt == "application/vnd.oci.image.manifest.v1+json" || mt == DOCKER_MANIFEST
}

/// Is `mt` a manifest or index type we handle?
pub fn is_manifest_type(mt: &str) -> bool {
    is_index(mt) || is_image(mt)
}

fn json_err(what: &str, e: impl std::fmt::Display) -> ImageError {
    ImageError::InvalidJson {
        what: what.to_string(),
        reason: e.to_string(),
    }
}

/// Parses manifest or index bytes. `hint` is the media type the bytes were
/// announced with (a descriptor or Content-Type), if any; the `mediaType`
/// field inside wins when present. `what` names the thing for errors.
pub fn parse_manifest(
    bytes: &[u8],
    hint: Option<&str>,
    what: &str,
) -> Result<Manifest, ImageError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| json_err(what, e))?;
    let obj = value
        .as_object()
        .ok_or_else(|| json_err(what, "expected a JSON object"))?;
    let inner = obj.get("mediaType").and_then(|v| v.as_str());
    let schema = obj.get("schemaVersion").and_then(|v| v.as_u64());
    if schema == Some(1) {
        return Err(ImageError::UnsupportedMediaType {
            media_type: inner.unwrap_or(DOCKER_SCHEMA1).to_string(),
            what: format!("{what} (Docker schema 1 manifests are not supported)"),
        });
    }
    if schema != Some(2) {
        return Err(json_err(what, "schemaVersion must be 2"));
    }
    let mt = match (inner, hint) {
        (Some(mt), _) => mt.to_string(),
        (None, Some(h)) if is_manifest_type(h) => h.to_string(),
        // OCI allows the field to be absent: tell by shape.
        (None, _) if obj.contains_key("manifests") => {
            "application/vnd.oci.image.index.v1+json".into()
        }
        (None, _) if obj.contains_key("layers") => {
            "application/vnd.oci.image.manifest.v1+json".into()
        }
        (None, h) => {
            return Err(ImageError::UnsupportedMediaType {
                media_type: h.unwrap_or("(none)").to_string(),
                what: what.to_string(),
            })
        }
    };
    if is_index(&mt) {
        let idx: ImageIndex = serde_json::from_value(value).map_err(|e| json_err(what, e))?;
        Ok(Manifest::Index(Box::new(idx)))
    } else if is_image(&mt) {
        let m: ImageManifest = serde_json::from_value(value).map_err(|e| json_err(what, e))?;
        check_config_type(m.config())?;
        for layer in m.layers() {
            layer_supported(layer)?;
        }
        Ok(Manifest::Image(Box::new(m)))
    } else {
        Err(ImageError::UnsupportedMediaType {
            media_type: mt,
            what: what.to_string(),
        })
    }
}

fn check_config_type(d: &Descriptor) -> Result<(), ImageError> {
    match d.media_type() {
        MediaType::ImageConfig => Ok(()),
        MediaType::Other(s) if s == DOCKER_CONFIG => Ok(()),
        other => Err(ImageError::UnsupportedMediaType {
            media_type: other.to_string(),
            what: format!("config {}", d.digest()),
        }),
    }
}

/// Fails for layer media types we cannot unpack.
pub fn layer_supported(d: &Descriptor) -> Result<(), ImageError> {
    match d.media_type() {
        MediaType::ImageLayer | MediaType::ImageLayerGzip | MediaType::ImageLayerZstd => Ok(()),
        MediaType::Other(s) if s == DOCKER_LAYER_GZIP || s == DOCKER_LAYER_TAR => Ok(()),
        other => Err(ImageError::UnsupportedMediaType {
            media_type: other.to_string(),
            what: format!("layer {}", d.digest()),
        }),
    }
}

/// Parses an image config.
pub fn parse_config(bytes: &[u8], what: &str) -> Result<ImageConfiguration, ImageError> {
    let cfg: ImageConfiguration = serde_json::from_slice(bytes).map_err(|e| json_err(what, e))?;
    Ok(cfg)
}

/// The platform of this host in OCI terms (`linux/amd64`, `linux/arm64`…).
pub fn host_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "arm" => "arm",
        other => other,
    };
    ("linux", arch)
}

/// Picks the manifest for `os/arch` from an index.
pub fn select_platform<'a>(idx: &'a ImageIndex, os: &str, arch: &str) -> Option<&'a Descriptor> {
    idx.manifests().iter().find(|d| {
        d.platform()
            .as_ref()
            .is_some_and(|p| p.os().to_string() == os && p.architecture().to_string() == arch)
            && is_manifest_type(d.media_type().as_ref())
    })
}

/// Compression of a layer blob, told from its first bytes (more reliable
/// than media types, which some tools get wrong).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

pub fn sniff_compression(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const L1: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn docker_manifest(layer_type: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}",
               "config":{{"mediaType":"{DOCKER_CONFIG}","size":10,"digest":"{CFG}"}},
               "layers":[{{"mediaType":"{layer_type}","size":20,"digest":"{L1}"}}]}}"#
        )
    }

    #[test]
    fn docker_schema2_manifest_parses() {
        let m = parse_manifest(docker_manifest(DOCKER_LAYER_GZIP).as_bytes(), None, "m").unwrap();
        let Manifest::Image(m) = m else {
            panic!("not an image")
        };
        assert_eq!(m.layers().len(), 1);
        assert_eq!(m.layers()[0].digest().to_string(), L1);
    }

    #[test]
    fn unknown_layer_type_is_named() {
        let err = parse_manifest(docker_manifest("application/x-helm").as_bytes(), None, "m")
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("unsupported media type application/x-helm"),
            "{err}"
        );
    }

    #[test]
    fn docker_manifest_list_selects_the_platform() {
        let j = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_LIST}","manifests":[
              {{"mediaType":"{DOCKER_MANIFEST}","size":1,"digest":"{CFG}","platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}},
              {{"mediaType":"{DOCKER_MANIFEST}","size":1,"digest":"{L1}","platform":{{"architecture":"amd64","os":"linux","features":["sse4"]}}}}]}}"#
        );
        let Manifest::Index(idx) = parse_manifest(j.as_bytes(), None, "list").unwrap() else {
            panic!("not an index")
        };
        assert_eq!(
            select_platform(&idx, "linux", "amd64")
                .unwrap()
                .digest()
                .to_string(),
            L1
        );
        assert_eq!(
            select_platform(&idx, "linux", "arm64")
                .unwrap()
                .digest()
                .to_string(),
            CFG
        );
        assert!(select_platform(&idx, "linux", "s390x").is_none());
    }

    #[test]
    fn schema1_and_garbage_are_rejected_clearly() {
        let err = parse_manifest(br#"{"schemaVersion":1,"name":"x"}"#, None, "m").unwrap_err();
        assert!(err.to_string().contains("schema 1"), "{err}");
        let err = parse_manifest(b"not json", None, "manifest of x").unwrap_err();
        assert!(
            err.to_string().starts_with("invalid manifest of x"),
            "{err}"
        );
    }

    #[test]
    fn sniffing() {
        assert_eq!(sniff_compression(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(
            sniff_compression(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(sniff_compression(b"ustar"), Compression::None);
    }
}
