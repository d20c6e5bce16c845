//! Test support, shared with other crates' tests (feature `testing`):
//! building images in memory (OCI layouts, OCI tarballs, docker-save
//! archives), a busybox image from Debian's busybox-static, and a local
//! `docker-registry` (Debian's package) on 127.0.0.1 with optional htpasswd
//! auth, pushed to with `skopeo`.
//!
//! Nothing here installs anything: a missing tool is an error naming the apt
//! package that provides it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::digest::sha256_of;

/// The apt packages the registry tests need.
pub const APT_PACKAGES: &str = "docker-registry skopeo busybox-static apache2-utils openssl";

/// An error of the test harness, with what to do about it.
#[derive(Debug)]
pub struct HarnessError(pub String);

impl std::fmt::Display for HarnessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HarnessError {}

fn herr(msg: impl Into<String>) -> HarnessError {
    HarnessError(msg.into())
}

/// Finds `tool` on PATH (or `/usr/sbin`, `/sbin`), or explains which apt
/// package to install.
pub fn require_tool(tool: &str, package: &str) -> Result<PathBuf, HarnessError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs =
        std::env::split_paths(&path).chain(["/usr/sbin".into(), "/sbin".into(), "/usr/bin".into()]);
    for d in dirs {
        let p = d.join(tool);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(herr(format!(
        "`{tool}` not found: install it with `apt-get install -y {package}` (the image tests need: {APT_PACKAGES})"
    )))
}

/// One file of a test layer.
#[derive(Debug, Clone)]
pub enum Entry {
    File {
        path: String,
        data: Vec<u8>,
        mode: u32,
    },
    Dir {
        path: String,
        mode: u32,
    },
    Symlink {
        path: String,
        target: String,
    },
    Hardlink {
        path: String,
        target: String,
    },
    /// `.wh.<name>` in the parent of `path`.
    Whiteout {
        path: String,
    },
    /// `.wh..wh..opq` inside `dir`.
    Opaque {
        dir: String,
    },
}

impl Entry {
    pub fn file(path: &str, data: impl Into<Vec<u8>>) -> Entry {
        Entry::File {
            path: path.into(),
            data: data.into(),
            mode: 0o644,
        }
    }

    pub fn exec(path: &str, data: impl Into<Vec<u8>>) -> Entry {
        Entry::File {
            path: path.into(),
            data: data.into(),
            mode: 0o755,
        }
    }

    pub fn dir(path: &str) -> Entry {
        Entry::Dir {
            path: path.into(),
            mode: 0o755,
        }
    }

    pub fn symlink(path: &str, target: &str) -> Entry {
        Entry::Symlink {
            path: path.into(),
            target: target.into(),
        }
    }
}

/// An uncompressed layer tar of `entries`.
pub fn layer_tar(entries: &[Entry]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    b.mode(tar::HeaderMode::Deterministic);
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        let (path, kind, mode, data, link): (String, tar::EntryType, u32, &[u8], Option<&str>) =
            match e {
                Entry::File { path, data, mode } => {
                    (path.clone(), tar::EntryType::Regular, *mode, data, None)
                }
                Entry::Dir { path, mode } => {
                    (path.clone(), tar::EntryType::Directory, *mode, b"", None)
                }
                Entry::Symlink { path, target } => (
                    path.clone(),
                    tar::EntryType::Symlink,
                    0o777,
                    b"",
                    Some(target),
                ),
                Entry::Hardlink { path, target } => {
                    (path.clone(), tar::EntryType::Link, 0o644, b"", Some(target))
                }
                Entry::Whiteout { path } => {
                    let p = Path::new(path);
                    let name = p
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let parent = p
                        .parent()
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let wh = if parent.is_empty() {
                        format!(".wh.{name}")
                    } else {
                        format!("{parent}/.wh.{name}")
                    };
                    (wh, tar::EntryType::Regular, 0o644, b"", None)
                }
                Entry::Opaque { dir } => (
                    format!("{dir}/.wh..wh..opq"),
                    tar::EntryType::Regular,
                    0o644,
                    b"",
                    None,
                ),
            };
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        if let Some(l) = link {
            b.append_link(&mut h, &path, l).expect("in-memory tar");
        } else {
            b.append_data(&mut h, &path, data).expect("in-memory tar");
        }
    }
    b.into_inner().expect("in-memory tar")
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("in-memory gzip");
    enc.finish().expect("in-memory gzip")
}

/// A blob of a test image: its bytes, digest and media type.
#[derive(Debug, Clone)]
pub struct Blob {
    pub media_type: String,
    pub digest: String,
    pub bytes: Vec<u8>,
}

impl Blob {
    pub fn new(media_type: &str, bytes: Vec<u8>) -> Blob {
        Blob {
            media_type: media_type.into(),
            digest: sha256_of(&bytes),
            bytes,
        }
    }

    pub fn descriptor(&self) -> serde_json::Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.bytes.len()})
    }

    pub fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }
}

/// An image built in memory.
#[derive(Debug, Clone)]
pub struct TestImage {
    /// Uncompressed layer tars, bottom first.
    pub layer_tars: Vec<Vec<u8>>,
    pub gzip_layers: bool,
    /// zstd instead (takes precedence over `gzip_layers`).
    pub zstd_layers: bool,
    /// The `config` object of the image config (Cmd, Env, …).
    pub runtime: serde_json::Value,
}

impl TestImage {
    pub fn new(layers: Vec<Vec<u8>>) -> TestImage {
        TestImage {
            layer_tars: layers,
            gzip_layers: true,
            zstd_layers: false,
            runtime: json!({"Cmd": ["sh"], "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]}),
        }
    }

    pub fn layers(&self) -> Vec<Blob> {
        self.layer_tars
            .iter()
            .map(|t| {
                if self.zstd_layers {
                    let z = ruzstd::encoding::compress_to_vec(
                        &t[..],
                        ruzstd::encoding::CompressionLevel::Fastest,
                    );
                    Blob::new("application/vnd.oci.image.layer.v1.tar+zstd", z)
                } else if self.gzip_layers {
                    Blob::new("application/vnd.oci.image.layer.v1.tar+gzip", gzip(t))
                } else {
                    Blob::new("application/vnd.oci.image.layer.v1.tar", t.clone())
                }
            })
            .collect()
    }

    pub fn diff_ids(&self) -> Vec<String> {
        self.layer_tars.iter().map(|t| sha256_of(t)).collect()
    }

    pub fn config(&self) -> Blob {
        let (os, arch) = crate::media::host_platform();
        let cfg = json!({
            "architecture": arch,
            "os": os,
            "config": self.runtime,
            "rootfs": {"type": "layers", "diff_ids": self.diff_ids()},
        });
        Blob::new(
            "application/vnd.oci.image.config.v1+json",
            serde_json::to_vec(&cfg).expect("json"),
        )
    }

    pub fn manifest(&self) -> Blob {
        let m = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": self.config().descriptor(),
            "layers": self.layers().iter().map(Blob::descriptor).collect::<Vec<_>>(),
        });
        Blob::new(
            "application/vnd.oci.image.manifest.v1+json",
            serde_json::to_vec(&m).expect("json"),
        )
    }

    /// Writes an OCI image layout into `dir`; `ref_name` goes into the
    /// `org.opencontainers.image.ref.name` annotation (skopeo's `oci:DIR:REF`).
    pub fn write_oci_layout(&self, dir: &Path, ref_name: &str) -> std::io::Result<()> {
        let blobs = dir.join("blobs/sha256");
        std::fs::create_dir_all(&blobs)?;
        let manifest = self.manifest();
        for b in self
            .layers()
            .into_iter()
            .chain([self.config(), manifest.clone()])
        {
            std::fs::write(blobs.join(b.hex()), &b.bytes)?;
        }
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        let mut desc = manifest.descriptor();
        desc["annotations"] = json!({"org.opencontainers.image.ref.name": ref_name});
        let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [desc]});
        std::fs::write(
            dir.join("index.json"),
            serde_json::to_vec(&index).expect("json"),
        )?;
        Ok(())
    }

    /// An OCI image-layout tarball with the full name `name` (as
    /// `io.containerd.image.name`, what `docker save` writes).
    pub fn oci_archive(&self, name: &str) -> Vec<u8> {
        let manifest = self.manifest();
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for b in self
            .layers()
            .into_iter()
            .chain([self.config(), manifest.clone()])
        {
            files.push((format!("blobs/sha256/{}", b.hex()), b.bytes));
        }
        files.push((
            "oci-layout".into(),
            br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
        ));
        let mut desc = manifest.descriptor();
        desc["annotations"] = json!({"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "latest"});
        let index = json!({"schemaVersion": 2, "manifests": [desc]});
        files.push((
            "index.json".into(),
            serde_json::to_vec(&index).expect("json"),
        ));
        plain_tar(&files)
    }

    /// A legacy `docker save` archive: `<id>/layer.tar` (uncompressed),
    /// `<config-hex>.json`, `manifest.json` with `RepoTags`.
    pub fn docker_save_archive(&self, repo_tags: &[&str]) -> Vec<u8> {
        let config = self.config();
        let mut files = Vec::new();
        let mut layer_names = Vec::new();
        for (i, t) in self.layer_tars.iter().enumerate() {
            let name = format!(
                "{}/layer.tar",
                sha256_of(format!("layer-id-{i}").as_bytes()).trim_start_matches("sha256:")
            );
            files.push((name.clone(), t.clone()));
            layer_names.push(name);
        }
        files.push((format!("{}.json", config.hex()), config.bytes.clone()));
        let manifest = json!([{"Config": format!("{}.json", config.hex()), "RepoTags": repo_tags, "Layers": layer_names}]);
        files.push((
            "manifest.json".into(),
            serde_json::to_vec(&manifest).expect("json"),
        ));
        plain_tar(&files)
    }
}

/// A tar of regular files.
pub fn plain_tar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_600_000_000);
        b.append_data(&mut h, name, &data[..])
            .expect("in-memory tar");
    }
    b.into_inner().expect("in-memory tar")
}

/// A busybox image: `/bin/busybox` from Debian's busybox-static plus
/// `sh`, `ls`, `cat`, `echo`, `sleep`, `id` and `env` symlinks, in one
/// layer, and a second layer that adds `/etc/hello`.
pub fn busybox_image() -> Result<TestImage, HarnessError> {
    let bb = Path::new("/bin/busybox");
    let data = std::fs::read(bb).map_err(|e| {
        herr(format!(
            "cannot read /bin/busybox ({e}): install it with `apt-get install -y busybox-static`"
        ))
    })?;
    let mut entries = vec![
        Entry::dir("bin"),
        Entry::dir("etc"),
        Entry::dir("tmp"),
        Entry::exec("bin/busybox", data),
    ];
    for applet in [
        "sh", "ls", "cat", "echo", "sleep", "id", "env", "ps", "mount", "hostname",
    ] {
        entries.push(Entry::symlink(&format!("bin/{applet}"), "busybox"));
    }
    let base = layer_tar(&entries);
    let top = layer_tar(&[Entry::file("etc/hello", "hello from paddock\n")]);
    Ok(TestImage::new(vec![base, top]))
}

/// A free TCP port on 127.0.0.1 (bound and released; fine for tests).
pub fn free_port() -> Result<u16, HarnessError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| herr(format!("bind 127.0.0.1:0: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| herr(format!("local_addr: {e}")))
}

/// Debian's `docker-registry` on 127.0.0.1, storage in a temp dir; killed
/// on drop.
pub struct LocalRegistry {
    child: Child,
    port: u16,
    credentials: Option<(String, String)>,
    ca_pem: Option<Vec<u8>>,
    _dir: tempfile::TempDir,
}

impl LocalRegistry {
    /// An anonymous registry.
    pub fn start() -> Result<LocalRegistry, HarnessError> {
        Self::start_inner(None, false)
    }

    /// A registry that requires HTTP basic auth (htpasswd, bcrypt).
    pub fn start_with_basic_auth(
        user: &str,
        password: &str,
    ) -> Result<LocalRegistry, HarnessError> {
        Self::start_inner(Some((user.to_string(), password.to_string())), false)
    }

    /// An HTTPS-only registry whose certificate (for IP 127.0.0.1) is signed
    /// by a throwaway CA; [`ca_pem`](Self::ca_pem) is that CA.
    pub fn start_tls() -> Result<LocalRegistry, HarnessError> {
        Self::start_inner(None, true)
    }

    /// The CA certificate (PEM) of a [`start_tls`](Self::start_tls) registry.
    pub fn ca_pem(&self) -> Option<&[u8]> {
        self.ca_pem.as_deref()
    }

    fn start_inner(
        credentials: Option<(String, String)>,
        tls: bool,
    ) -> Result<LocalRegistry, HarnessError> {
        let registry = require_tool("docker-registry", "docker-registry")?;
        let dir = tempfile::tempdir().map_err(|e| herr(format!("tempdir: {e}")))?;
        let port = free_port()?;
        let storage = dir.path().join("storage");
        std::fs::create_dir(&storage).map_err(|e| herr(format!("mkdir: {e}")))?;
        let mut auth = String::new();
        if let Some((user, password)) = &credentials {
            let htpasswd = require_tool("htpasswd", "apache2-utils")?;
            let out = Command::new(htpasswd)
                .args(["-Bbn", user, password])
                .output()
                .map_err(|e| herr(format!("htpasswd: {e}")))?;
            if !out.status.success() {
                return Err(herr(format!(
                    "htpasswd failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                )));
            }
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).map_err(|e| herr(format!("write htpasswd: {e}")))?;
            auth = format!(
                "auth:\n  htpasswd:\n    realm: paddock-test\n    path: {}\n",
                file.display()
            );
        }
        let mut tls_config = String::new();
        let mut ca_pem = None;
        if tls {
            let (ca, cert, key) = make_certificates(dir.path())?;
            tls_config = format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            );
            ca_pem = Some(std::fs::read(ca).map_err(|e| herr(format!("read CA: {e}")))?);
        }
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{tls_config}{auth}",
            storage.display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).map_err(|e| herr(format!("write config: {e}")))?;
        let log = std::fs::File::create(dir.path().join("registry.log"))
            .map_err(|e| herr(format!("log: {e}")))?;
        let log2 = log.try_clone().map_err(|e| herr(format!("log: {e}")))?;
        let child = Command::new(registry)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| herr(format!("start docker-registry: {e}")))?;
        let mut reg = LocalRegistry {
            child,
            port,
            credentials,
            ca_pem,
            _dir: dir,
        };
        reg.wait_ready(Duration::from_secs(20))?;
        Ok(reg)
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(self._dir.path().join("registry.log"))
                    .unwrap_or_default();
                return Err(herr(format!("docker-registry exited with {status}: {log}")));
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let req = format!("GET /v2/ HTTP/1.0\r\nHost: 127.0.0.1:{}\r\n\r\n", self.port);
                let mut buf = [0u8; 12];
                if s.write_all(req.as_bytes()).is_ok()
                    && s.read_exact(&mut buf).is_ok()
                    && buf.starts_with(b"HTTP/1.")
                {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(herr(format!(
                    "docker-registry not answering on 127.0.0.1:{} after {timeout:?}",
                    self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn credentials(&self) -> Option<(String, String)> {
        self.credentials.clone()
    }

    /// Pushes the OCI layout at `layout` (tag `ref_name` inside it) to
    /// `<this registry>/<repo>` with skopeo.
    pub fn push_layout(
        &self,
        layout: &Path,
        ref_name: &str,
        repo: &str,
    ) -> Result<String, HarnessError> {
        let skopeo = require_tool("skopeo", "skopeo")?;
        let dest = format!("{}/{repo}", self.addr());
        let mut cmd = Command::new(skopeo);
        cmd.args(["--insecure-policy", "copy", "--dest-tls-verify=false"]);
        if let Some((u, p)) = &self.credentials {
            cmd.arg(format!("--dest-creds={u}:{p}"));
        }
        cmd.arg(format!("oci:{}:{ref_name}", layout.display()))
            .arg(format!("docker://{dest}"));
        let out = cmd.output().map_err(|e| herr(format!("run skopeo: {e}")))?;
        if !out.status.success() {
            return Err(herr(format!(
                "skopeo copy to {dest} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(dest)
    }

    /// Builds `image` as an OCI layout in a temp dir and pushes it as
    /// `<this registry>/<repo>`. Returns the full reference.
    pub fn push_image(&self, image: &TestImage, repo: &str) -> Result<String, HarnessError> {
        let dir = tempfile::tempdir().map_err(|e| herr(format!("tempdir: {e}")))?;
        image
            .write_oci_layout(dir.path(), "push")
            .map_err(|e| herr(format!("write OCI layout: {e}")))?;
        self.push_layout(dir.path(), "push", repo)
    }

    /// Pushes [`busybox_image`] as `<this registry>/busybox:test`.
    pub fn push_busybox(&self) -> Result<String, HarnessError> {
        self.push_image(&busybox_image()?, "busybox:test")
    }
}

/// A throwaway CA and a server certificate for IP 127.0.0.1 signed by it,
/// made with the openssl CLI. Returns (ca.pem, cert.pem, key.pem).
fn make_certificates(dir: &Path) -> Result<(PathBuf, PathBuf, PathBuf), HarnessError> {
    let openssl = require_tool("openssl", "openssl")?;
    let p = |n: &str| dir.join(n);
    std::fs::write(
        p("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| herr(format!("write ext.cnf: {e}")))?;
    let steps: Vec<Vec<String>> = vec![
        vec![
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=paddock-test-ca",
            "-keyout",
        ]
        .into_iter()
        .map(String::from)
        .chain([
            p("ca.key").display().to_string(),
            "-out".into(),
            p("ca.pem").display().to_string(),
        ])
        .collect(),
        vec![
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
        ]
        .into_iter()
        .map(String::from)
        .chain([
            p("key.pem").display().to_string(),
            "-out".into(),
            p("leaf.csr").display().to_string(),
        ])
        .collect(),
        vec!["x509", "-req", "-days", "2", "-in"]
            .into_iter()
            .map(String::from)
            .chain([
                p("leaf.csr").display().to_string(),
                "-CA".into(),
                p("ca.pem").display().to_string(),
                "-CAkey".into(),
                p("ca.key").display().to_string(),
                "-CAcreateserial".into(),
                "-extfile".into(),
                p("ext.cnf").display().to_string(),
                "-out".into(),
                p("cert.pem").display().to_string(),
            ])
            .collect(),
    ];
    for args in steps {
        let out = Command::new(&openssl)
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| herr(format!("run openssl: {e}")))?;
        if !out.status.success() {
            return Err(herr(format!(
                "openssl {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
    }
    Ok((p("ca.pem"), p("cert.pem"), p("key.pem")))
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
