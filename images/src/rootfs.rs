//! A container's root file system from an image's layers: an overlayfs
//! mount (layers as lowerdirs, a private upper/work dir; needs root and
//! layers unpacked with overlay whiteouts) or a copy of the layers in order
//! with whiteouts and opaque directories applied.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fchmod, futimens, mkdirat, mknodat, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, Gid, Uid};

use crate::error::{ImageError, IoContext};
use crate::inroot::{clear_dir_fd, kind_at, remove_at, Root};
use crate::store::{Image, ImageStore};
use crate::unpack::{
    lget_xattr, WhiteoutFormat, OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX,
};

/// How to build the rootfs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootfsMode {
    /// Overlay when the kernel and our privileges allow it, copy otherwise.
    Auto,
    Overlay,
    Copy,
}

/// How the rootfs was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootfsKind {
    Overlay,
    Copy,
}

/// A prepared rootfs. For an overlay, call [`release`](Rootfs::release)
/// (or unmount `path`) when the container is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rootfs {
    /// The directory to use as the container's `/`: `<target>/rootfs`.
    pub path: PathBuf,
    pub kind: RootfsKind,
    /// The container's writable layer: `<target>/upper` for an overlay,
    /// the rootfs itself for a copy.
    pub upper: PathBuf,
}

impl Rootfs {
    /// Unmounts an overlay rootfs; a no-op for a copy.
    pub fn release(&self) -> Result<(), ImageError> {
        if self.kind == RootfsKind::Overlay {
            nix::mount::umount2(&self.path, nix::mount::MntFlags::MNT_DETACH)
                .ctx(|| format!("unmount {}", self.path.display()))?;
        }
        Ok(())
    }
}

impl ImageStore {
    /// Builds the rootfs of `image` under `target` (created if missing;
    /// `target/rootfs` must not exist yet or be empty).
    pub fn prepare_rootfs(
        &self,
        image: &Image,
        target: impl AsRef<Path>,
        mode: RootfsMode,
    ) -> Result<Rootfs, ImageError> {
        let target = target.as_ref();
        let rootfs = target.join("rootfs");
        fs::create_dir_all(&rootfs).ctx(|| format!("create {}", rootfs.display()))?;
        if fs::read_dir(&rootfs)
            .ctx(|| format!("read {}", rootfs.display()))?
            .next()
            .is_some()
        {
            return Err(ImageError::io(
                format!("prepare rootfs in {}", rootfs.display()),
                std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "the directory is not empty",
                ),
            ));
        }
        if let Err(e) = self.mark_used(image) {
            tracing::debug!(image = %image.reference, error = %e, "cannot record the image's last use");
        }
        let mut layers = Vec::new();
        for (dir, l) in self.layer_dirs(image)?.into_iter().zip(&image.layers) {
            let meta = self.layer_meta(&l.diff_id)?;
            layers.push((dir, meta.whiteouts));
        }
        let overlay_ok = nix::unistd::geteuid().is_root()
            && layers.iter().all(|(_, f)| *f == WhiteoutFormat::Overlay);
        match mode {
            RootfsMode::Overlay => {
                if !overlay_ok {
                    return Err(ImageError::OverlayUnavailable(
                        "needs root and layers unpacked by root (overlay whiteouts)".into(),
                    ));
                }
                mount_overlay(&layers, target, &rootfs)
            }
            RootfsMode::Copy => copy_layers(&layers, target, &rootfs),
            RootfsMode::Auto => {
                if overlay_ok {
                    match mount_overlay(&layers, target, &rootfs) {
                        Ok(r) => return Ok(r),
                        Err(e) => {
                            tracing::info!(error = %e, "overlay rootfs unavailable, copying the layers");
                            let _ = fs::remove_dir_all(target.join("upper"));
                            let _ = fs::remove_dir_all(target.join("work"));
                        }
                    }
                }
                copy_layers(&layers, target, &rootfs)
            }
        }
    }
}

fn mount_overlay(
    layers: &[(PathBuf, WhiteoutFormat)],
    target: &Path,
    rootfs: &Path,
) -> Result<Rootfs, ImageError> {
    let upper = target.join("upper");
    let work = target.join("work");
    for d in [&upper, &work] {
        fs::create_dir_all(d).ctx(|| format!("create {}", d.display()))?;
    }
    let mut lowers: Vec<PathBuf> = layers.iter().rev().map(|(d, _)| d.clone()).collect();
    if lowers.is_empty() {
        let empty = target.join("empty");
        fs::create_dir_all(&empty).ctx(|| format!("create {}", empty.display()))?;
        lowers.push(empty);
    }
    for p in lowers.iter().chain([&upper, &work]) {
        let b = p.as_os_str().as_bytes();
        if b.contains(&b':') || b.contains(&b',') {
            return Err(ImageError::OverlayUnavailable(format!(
                "path {} contains ':' or ','",
                p.display()
            )));
        }
    }
    let lower = lowers
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let opts = format!(
        "lowerdir={lower},upperdir={},workdir={}",
        upper.display(),
        work.display()
    );
    if opts.len() >= 4000 {
        return Err(ImageError::OverlayUnavailable(format!(
            "{} layers do not fit in one mount option string",
            layers.len()
        )));
    }
    nix::mount::mount(
        Some("overlay"),
        rootfs,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(opts.as_str()),
    )
    .map_err(|e| {
        ImageError::OverlayUnavailable(format!(
            "mount overlay on {}: {}",
            rootfs.display(),
            e.desc()
        ))
    })?;
    // The kernel mounts an overlay read-only, with only a warning, when
    // the upper dir's filesystem cannot hold a workdir (hostfs, some
    // network filesystems): a container would then fail at its first
    // write. That is no overlay at all; the caller copies instead.
    let read_only = nix::sys::statvfs::statvfs(rootfs)
        .map(|v| v.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
        .unwrap_or(false);
    if read_only {
        let _ = nix::mount::umount2(rootfs, nix::mount::MntFlags::MNT_DETACH);
        return Err(ImageError::OverlayUnavailable(format!(
            "the kernel mounted the overlay on {} read-only (upper dir on {} cannot hold a workdir)",
            rootfs.display(),
            upper.display()
        )));
    }
    Ok(Rootfs {
        path: rootfs.to_path_buf(),
        kind: RootfsKind::Overlay,
        upper,
    })
}

fn copy_layers(
    layers: &[(PathBuf, WhiteoutFormat)],
    _target: &Path,
    rootfs: &Path,
) -> Result<Rootfs, ImageError> {
    let root = Root::open(rootfs).ctx(|| format!("open {}", rootfs.display()))?;
    let as_root = nix::unistd::geteuid().is_root();
    for (dir, format) in layers {
        let mut c = Copier {
            root: &root,
            format: *format,
            as_root,
            links: HashMap::new(),
        };
        c.copy_dir(dir, &mut Vec::new())?;
    }
    Ok(Rootfs {
        path: rootfs.to_path_buf(),
        kind: RootfsKind::Copy,
        upper: rootfs.to_path_buf(),
    })
}

struct Copier<'a> {
    root: &'a Root,
    format: WhiteoutFormat,
    as_root: bool,
    /// (dev, ino) of files with several links -> where the first went.
    links: HashMap<(u64, u64), Vec<OsString>>,
}

fn cerr(src: &Path, what: &str, e: impl std::fmt::Display) -> ImageError {
    ImageError::io(
        format!("copy {} into the rootfs: {what}", src.display()),
        std::io::Error::other(e.to_string()),
    )
}

impl Copier<'_> {
    fn copy_dir(&mut self, src: &Path, dst: &mut Vec<OsString>) -> Result<(), ImageError> {
        let opaque = match self.format {
            WhiteoutFormat::Overlay => {
                lget_xattr(src, OVERLAY_OPAQUE_XATTR).as_deref() == Some(b"y")
            }
            WhiteoutFormat::Marker => src.join(OPAQUE_MARKER).exists(),
        };
        if opaque && !dst.is_empty() {
            if let Ok(fd) = self.root.open_in_root(
                dst,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
            ) {
                clear_dir_fd(fd).map_err(|e| cerr(src, "clear opaque directory", e.desc()))?;
            }
        }
        let mut entries: Vec<_> = fs::read_dir(src)
            .ctx(|| format!("read {}", src.display()))?
            .collect::<Result<_, _>>()
            .ctx(|| format!("read {}", src.display()))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name();
            let path = e.path();
            let meta = fs::symlink_metadata(&path).ctx(|| format!("stat {}", path.display()))?;
            let ft = meta.file_type();
            let nb = name.as_bytes();
            // Whiteouts remove what lower layers put there.
            let hidden: Option<&[u8]> = match self.format {
                WhiteoutFormat::Overlay if ft.is_char_device() && meta.rdev() == 0 => Some(nb),
                WhiteoutFormat::Marker if nb == OPAQUE_MARKER.as_bytes() => continue,
                WhiteoutFormat::Marker => nb.strip_prefix(WHITEOUT_PREFIX.as_bytes()),
                _ => None,
            };
            if let Some(h) = hidden {
                dst.push(OsStr::from_bytes(h).to_os_string());
                if let Ok(Some((parent, n))) = self.root.parent_and_name(dst, false) {
                    remove_at(&parent, &n).map_err(|e| cerr(&path, "apply whiteout", e.desc()))?;
                }
                dst.pop();
                continue;
            }
            dst.push(name.clone());
            let res = self.copy_entry(&path, &meta, dst);
            dst.pop();
            res?;
        }
        Ok(())
    }

    fn copy_entry(
        &mut self,
        src: &Path,
        meta: &fs::Metadata,
        dst: &mut Vec<OsString>,
    ) -> Result<(), ImageError> {
        let (parent, name) = self
            .root
            .parent_and_name(dst, true)
            .map_err(|e| cerr(src, "parent", e))?
            .ok_or_else(|| cerr(src, "target", "is the root"))?;
        let ft = meta.file_type();
        let mode = Mode::from_bits_truncate(meta.mode() & 0o7777);
        let owner = self.as_root.then(|| {
            (
                Some(Uid::from_raw(meta.uid())),
                Some(Gid::from_raw(meta.gid())),
            )
        });
        let mtime = TimeSpec::new(meta.mtime(), meta.mtime_nsec());
        if ft.is_dir() {
            if kind_at(&parent, &name).map_err(|e| cerr(src, "stat", e.desc()))?
                != Some(SFlag::S_IFDIR)
            {
                remove_at(&parent, &name).map_err(|e| cerr(src, "replace", e.desc()))?;
                mkdirat(
                    parent.as_fd(),
                    name.as_os_str(),
                    Mode::from_bits_truncate(0o755),
                )
                .map_err(|e| cerr(src, "mkdir", e.desc()))?;
            }
            self.copy_dir(src, dst)?;
            let fd = self
                .root
                .open_in_root(
                    dst,
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
                )
                .map_err(|e| cerr(src, "open copied directory", e.desc()))?;
            if let Some((u, g)) = owner {
                fchown(fd.as_fd(), u, g).map_err(|e| cerr(src, "chown", e.desc()))?;
            }
            fchmod(fd.as_fd(), mode).map_err(|e| cerr(src, "chmod", e.desc()))?;
            let _ = futimens(fd.as_fd(), &mtime, &mtime);
            return Ok(());
        }
        remove_at(&parent, &name).map_err(|e| cerr(src, "replace", e.desc()))?;
        if ft.is_file() {
            let key = (meta.dev(), meta.ino());
            if meta.nlink() > 1 {
                if let Some(first) = self.links.get(&key) {
                    if let Ok(Some((tp, tn))) = self.root.parent_and_name(first, false) {
                        linkat(
                            tp.as_fd(),
                            tn.as_os_str(),
                            parent.as_fd(),
                            name.as_os_str(),
                            AtFlags::empty(),
                        )
                        .map_err(|e| cerr(src, "hardlink", e.desc()))?;
                        return Ok(());
                    }
                }
                self.links.insert(key, dst.clone());
            }
            let fd = nix::fcntl::openat(
                parent.as_fd(),
                name.as_os_str(),
                OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                Mode::from_bits_truncate(0o600),
            )
            .map_err(|e| cerr(src, "create", e.desc()))?;
            let mut out = File::from(fd);
            let mut input = File::open(src).ctx(|| format!("open {}", src.display()))?;
            std::io::copy(&mut input, &mut out).ctx(|| format!("copy {}", src.display()))?;
            if let Some((u, g)) = owner {
                fchown(out.as_fd(), u, g).map_err(|e| cerr(src, "chown", e.desc()))?;
            }
            fchmod(out.as_fd(), mode).map_err(|e| cerr(src, "chmod", e.desc()))?;
            let _ = futimens(out.as_fd(), &mtime, &mtime);
        } else if ft.is_symlink() {
            let target = fs::read_link(src).ctx(|| format!("readlink {}", src.display()))?;
            symlinkat(target.as_os_str(), parent.as_fd(), name.as_os_str())
                .map_err(|e| cerr(src, "symlink", e.desc()))?;
            if let Some((u, g)) = owner {
                let _ = fchownat(
                    parent.as_fd(),
                    name.as_os_str(),
                    u,
                    g,
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                );
            }
            let _ = utimensat(
                parent.as_fd(),
                name.as_os_str(),
                &mtime,
                &mtime,
                UtimensatFlags::NoFollowSymlink,
            );
        } else if ft.is_fifo() || ((ft.is_char_device() || ft.is_block_device()) && self.as_root) {
            let kind = if ft.is_fifo() {
                SFlag::S_IFIFO
            } else if ft.is_char_device() {
                SFlag::S_IFCHR
            } else {
                SFlag::S_IFBLK
            };
            mknodat(parent.as_fd(), name.as_os_str(), kind, mode, meta.rdev())
                .map_err(|e| cerr(src, "mknod", e.desc()))?;
            if let Some((u, g)) = owner {
                let _ = fchownat(
                    parent.as_fd(),
                    name.as_os_str(),
                    u,
                    g,
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                );
            }
        }
        Ok(())
    }
}
