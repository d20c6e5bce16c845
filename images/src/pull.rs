//! Pulling from a Docker Registry v2 / OCI distribution registry, through
//! the `oci-client` crate (anonymous, basic and Bearer-token auth).
//!
//! The manifest is fetched raw and parsed with oci-spec; an index or
//! manifest list is resolved to the host's platform; every blob streams to
//! the staging area while it is hashed and is checked against its
//! descriptor's digest and size; layers are unpacked there and checked
//! against the config's diff_ids. Only then does anything enter the store.

use std::time::Duration;

use futures::StreamExt;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::Client;
use tokio::io::AsyncWriteExt;

use crate::digest::{sha256_of, Hasher};
use crate::error::{ImageError, IoContext};
use crate::import::assemble;
use crate::media::{self, parse_config, parse_manifest, Manifest, ACCEPTED_MANIFESTS};
use crate::reference::ImageRef;
use crate::store::{Image, ImageStore, Staging};

/// Credentials for a registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// HTTP basic auth, or the credentials sent to a Bearer token endpoint.
    Basic { username: String, password: String },
    /// A ready-made Bearer token.
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credentials::Bearer(_) => write!(f, "Bearer(***)"),
        }
    }
}

/// Largest manifest or config we accept.
const MAX_JSON: u64 = 16 << 20;

impl ImageStore {
    /// Pulls `reference` (docker-style: `busybox`, `localhost:5000/x:1`,
    /// `reg/ns/img@sha256:…`) into the store and returns the image. Plain
    /// HTTP is used only for localhost, 127.0.0.0/8 and the store's
    /// `insecure_registries`. A failed pull leaves nothing in the store.
    pub async fn pull(
        &self,
        reference: &str,
        auth: Option<Credentials>,
    ) -> Result<Image, ImageError> {
        self.pull_with(reference, auth, false).await
    }

    /// [`pull`](Self::pull); `insecure` also allows plain HTTP to this
    /// image's registry (as if it were in `insecure_registries`).
    pub async fn pull_with(
        &self,
        reference: &str,
        auth: Option<Credentials>,
        insecure: bool,
    ) -> Result<Image, ImageError> {
        let r = ImageRef::parse(reference)?;
        let store = self.clone();
        let guard = tokio::task::spawn_blocking(move || store.enter(false))
            .await
            .map_err(|e| ImageError::io("wait for gc", std::io::Error::other(e)))??;
        let store = self.clone();
        let registry = r.resolved_registry().to_string();
        // oci-client can panic on some malformed registry answers (a token
        // that is not a valid header value); a panic must not take the agent
        // down, so the network part runs in its own task.
        // The task owns the gc guard: if the caller drops this future, the
        // pull still finishes (or cleans up) before gc may run.
        let task = tokio::spawn(async move {
            let _guard = guard;
            store.pull_inner(r, auth, insecure).await
        });
        match task.await {
            Ok(res) => res,
            Err(e) => Err(ImageError::Registry {
                registry,
                reason: format!("the registry client failed on a malformed answer: {e}"),
            }),
        }
    }

    /// The stored image for `reference`, pulled first when it is missing or
    /// when `force` (Mesos's and Marathon's `forcePullImage`).
    pub async fn get_or_pull(
        &self,
        reference: &str,
        auth: Option<Credentials>,
        force: bool,
    ) -> Result<Image, ImageError> {
        if !force {
            let store = self.clone();
            let r = reference.to_string();
            let found = tokio::task::spawn_blocking(move || store.get(&r))
                .await
                .map_err(|e| ImageError::io("look up image", std::io::Error::other(e)))?;
            if let Some(img) = found {
                return Ok(img);
            }
        }
        self.pull(reference, auth).await
    }

    fn client(&self, registry: &str, plain_http: bool) -> Result<Client, ImageError> {
        let certs = self
            .inner
            .options
            .extra_root_certificates
            .iter()
            .map(|pem| Certificate {
                encoding: CertificateEncoding::Pem,
                data: pem.clone(),
            })
            .collect();
        let config = ClientConfig {
            protocol: if plain_http {
                ClientProtocol::HttpsExcept(vec![registry.to_string()])
            } else {
                ClientProtocol::Https
            },
            extra_root_certificates: certs,
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: Some(Duration::from_secs(60)),
            platform_resolver: None,
            ..ClientConfig::default()
        };
        Client::try_from(config).map_err(|e| ImageError::Registry {
            registry: registry.to_string(),
            reason: format!("cannot build an HTTP client (bad extra root certificate?): {e}"),
        })
    }

    async fn pull_inner(
        &self,
        r: ImageRef,
        auth: Option<Credentials>,
        insecure: bool,
    ) -> Result<Image, ImageError> {
        let registry = r.resolved_registry().to_string();
        let insecure = insecure || r.is_insecure(&self.inner.options.insecure_registries);
        let auth = match auth {
            None => RegistryAuth::Anonymous,
            Some(Credentials::Basic { username, password }) => {
                RegistryAuth::Basic(username, password)
            }
            Some(Credentials::Bearer(t)) => RegistryAuth::Bearer(t),
        };
        let mut st = self.staging("pull")?;

        // HTTPS first; like docker, a registry allowed plain HTTP (loopback
        // or listed insecure) is retried over HTTP when HTTPS cannot connect.
        let https = self.client(&registry, false)?;
        let mut ctx = Remote {
            client: https,
            auth: &auth,
            registry: &registry,
            reference: &r,
        };
        let first = match ctx.manifest(r.oci()).await {
            Err(ImageError::RegistryUnreachable { reason, .. }) if insecure => {
                tracing::debug!(%registry, %reason, "HTTPS failed, trying plain HTTP");
                ctx.client = self.client(&registry, true)?;
                match ctx.manifest(r.oci()).await {
                    // HTTP reached a server that wants TLS: the HTTPS
                    // failure (an untrusted certificate…) is the real story.
                    Err(ImageError::Registry { reason: http, .. }) => {
                        Err(ImageError::RegistryUnreachable {
                            registry: registry.clone(),
                            reason: format!("{reason} (and over plain HTTP: {http})"),
                        })
                    }
                    other => other,
                }
            }
            other => other,
        };
        // The manifest, through at most one index.
        let (mut bytes, _) = first?;
        let mut digest = sha256_of(&bytes);
        if let Some(want) = r.digest() {
            if want != digest {
                return Err(ImageError::BadDigest {
                    expected: want.to_string(),
                    actual: digest,
                });
            }
        }
        let what = format!("manifest of {}", r.canonical());
        let mut parsed = parse_manifest(&bytes, None, &what)?;
        if let Manifest::Index(idx) = &parsed {
            let (os, arch) = media::host_platform();
            let desc = media::select_platform(idx, os, arch).ok_or_else(|| {
                ImageError::NoMatchingPlatform {
                    reference: r.canonical(),
                    platform: format!("{os}/{arch}"),
                }
            })?;
            st.add_blob_bytes(&bytes, &digest, None)?;
            let want = desc.digest().to_string();
            let by_digest = r.oci().clone_with_digest(want.clone());
            let (b, _) = ctx.manifest(&by_digest).await?;
            let mut h = Hasher::default();
            h.update(&b);
            h.verify(&want, Some(desc.size()))?;
            bytes = b;
            digest = want;
            parsed = parse_manifest(
                &bytes,
                Some(desc.media_type().as_ref()),
                &format!("manifest {digest}"),
            )?;
        }
        let Manifest::Image(manifest) = parsed else {
            return Err(ImageError::InvalidJson {
                what,
                reason: "an index inside an index".into(),
            });
        };
        st.add_blob_bytes(&bytes, &digest, None)?;
        let mt = manifest
            .media_type()
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_else(|| oci_spec::image::MediaType::ImageManifest.to_string());

        let cdesc = manifest.config();
        let cdigest = cdesc.digest().to_string();
        if cdesc.size() > MAX_JSON {
            return Err(ImageError::InvalidJson {
                what: format!("config {cdigest}"),
                reason: format!("{} bytes is too big", cdesc.size()),
            });
        }
        let cpath = ctx.blob(&mut st, &cdigest, cdesc.size()).await?;
        let cbytes = tokio::fs::read(&cpath)
            .await
            .ctx(|| format!("read {}", cpath.display()))?;
        let config = parse_config(&cbytes, &format!("config {cdigest}"))?;
        let image = assemble(Some(&r.canonical()), &digest, &mt, &manifest, &config)?;

        for l in &image.layers {
            let have_layer = self.inner.layer_dir(&l.diff_id)?.join("meta.json").exists();
            if have_layer && st.blob(&l.digest)?.is_some() {
                continue;
            }
            ctx.blob(&mut st, &l.digest, l.size).await?;
        }
        let img = image.clone();
        tokio::task::spawn_blocking(move || {
            for l in &img.layers {
                st.unpack_layer(l)?;
            }
            st.commit(std::slice::from_ref(&img))
        })
        .await
        .map_err(|e| ImageError::io("unpack task", std::io::Error::other(e)))??;
        Ok(image)
    }
}

struct Remote<'a> {
    client: Client,
    auth: &'a RegistryAuth,
    registry: &'a str,
    reference: &'a ImageRef,
}

impl Remote<'_> {
    async fn manifest(&self, r: &oci_client::Reference) -> Result<(Vec<u8>, String), ImageError> {
        let (bytes, digest) = self
            .client
            .pull_manifest_raw(r, self.auth, ACCEPTED_MANIFESTS)
            .await
            .map_err(|e| self.map_err(e, "manifest"))?;
        if bytes.len() as u64 > MAX_JSON {
            return Err(ImageError::InvalidJson {
                what: format!("manifest of {}", self.reference.canonical()),
                reason: format!("{} bytes is too big", bytes.len()),
            });
        }
        Ok((bytes.to_vec(), digest))
    }

    /// Streams blob `digest` into the staging area (unless it is staged or
    /// stored already), hashing it on the way; fails on a wrong digest or
    /// size.
    async fn blob(
        &self,
        st: &mut Staging,
        digest: &str,
        size: u64,
    ) -> Result<std::path::PathBuf, ImageError> {
        if let Some(p) = st.blob(digest)? {
            return Ok(p);
        }
        let mut stream = self
            .client
            .pull_blob_stream(self.reference.oci(), digest)
            .await
            .map_err(|e| self.map_err(e, &format!("blob {digest}")))?;
        let path = st.temp_path("blob");
        let mut f = tokio::fs::File::create(&path)
            .await
            .ctx(|| format!("create {}", path.display()))?;
        let mut h = Hasher::default();
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                // oci-client's own check fails at the end of a blob whose
                // content does not match: report it as our bad digest.
                Err(_) if h.bytes() == size => break,
                Err(e) => {
                    return Err(ImageError::Registry {
                        registry: self.registry.to_string(),
                        reason: format!("blob {digest}: {e}"),
                    })
                }
            };
            if h.bytes() + chunk.len() as u64 > size {
                return Err(ImageError::BadSize {
                    digest: digest.to_string(),
                    expected: size,
                    actual: h.bytes() + chunk.len() as u64,
                });
            }
            h.update(&chunk);
            f.write_all(&chunk)
                .await
                .ctx(|| format!("write {}", path.display()))?;
        }
        f.flush()
            .await
            .ctx(|| format!("write {}", path.display()))?;
        drop(f);
        st.add_hashed_blob(path, h, digest, Some(size))
    }

    fn map_err(&self, e: OciDistributionError, what: &str) -> ImageError {
        let registry = self.registry.to_string();
        let reference = self.reference.canonical();
        match e {
            OciDistributionError::RequestError(re) => {
                let reason = error_chain(&re);
                if re.is_connect() || re.is_timeout() || !re.is_status() && re.is_request() {
                    ImageError::RegistryUnreachable { registry, reason }
                } else {
                    ImageError::Registry {
                        registry,
                        reason: format!("{what}: {reason}"),
                    }
                }
            }
            OciDistributionError::AuthenticationFailure(reason) => {
                ImageError::Unauthorized { registry, reason }
            }
            OciDistributionError::UnauthorizedError { url } => ImageError::Unauthorized {
                registry,
                reason: format!("401 Unauthorized for {url} (missing or wrong credentials)"),
            },
            OciDistributionError::ImageManifestNotFoundError(reason) => ImageError::NotInRegistry {
                reference,
                registry,
                reason,
            },
            OciDistributionError::RegistryError { envelope, url } => {
                let codes: Vec<String> = envelope
                    .errors
                    .iter()
                    .map(|e| format!("{:?}", e.code))
                    .collect();
                let reason = format!("{url}: {envelope}");
                if codes.iter().any(|c| {
                    matches!(
                        c.as_str(),
                        "ManifestUnknown" | "NameUnknown" | "BlobUnknown" | "NotFound"
                    )
                }) {
                    ImageError::NotInRegistry {
                        reference,
                        registry,
                        reason,
                    }
                } else if codes
                    .iter()
                    .any(|c| matches!(c.as_str(), "Unauthorized" | "Denied"))
                {
                    ImageError::Unauthorized { registry, reason }
                } else {
                    ImageError::Registry { registry, reason }
                }
            }
            OciDistributionError::ServerError { code, url, message } => {
                let reason = format!("HTTP {code} for {url}: {}", message.trim());
                match code {
                    404 => ImageError::NotInRegistry {
                        reference,
                        registry,
                        reason,
                    },
                    401 | 403 => ImageError::Unauthorized { registry, reason },
                    _ => ImageError::Registry { registry, reason },
                }
            }
            OciDistributionError::DigestError(d) => {
                let msg = d.to_string();
                match parse_verification(&msg) {
                    Some((expected, actual)) => ImageError::BadDigest { expected, actual },
                    None => ImageError::Registry {
                        registry,
                        reason: format!("{what}: {msg}"),
                    },
                }
            }
            other => ImageError::Registry {
                registry,
                reason: format!("{what}: {other}"),
            },
        }
    }
}

/// oci-client's "Invalid digest. Expected X, got Y" (its error type is not
/// exported, so its fields cannot be matched).
fn parse_verification(msg: &str) -> Option<(String, String)> {
    let rest = msg.split_once("Expected ")?.1;
    let (expected, actual) = rest.split_once(", got ")?;
    Some((expected.trim().to_string(), actual.trim().to_string()))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}
