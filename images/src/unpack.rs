//! Unpacking an untrusted layer tar into a directory.
//!
//! No entry can write outside the target: paths are cleaned lexically and
//! resolved inside the target with `openat2(RESOLVE_IN_ROOT)`, the final component is always
//! created fresh with `O_EXCL`/`O_NOFOLLOW`-style `*at` calls, and hardlink
//! targets are resolved inside the target too. Whiteouts are stored in the
//! layer directory either as overlayfs understands them (char device 0:0 and
//! the `trusted.overlay.opaque` xattr; needs root) or left as the `.wh.`
//! marker files of the tar, which the copy-mode rootfs builder interprets.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fchmod, futimens, mknodat, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, Gid, Uid};
use serde::{Deserialize, Serialize};
use tar::EntryType;

use crate::error::ImageError;
use crate::inroot::{clean, kind_at, remove_at, DirError, Root};
use crate::media::{sniff_compression, Compression};

/// The whiteout marker prefix of OCI/AUFS layers.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// The opaque-directory marker of OCI/AUFS layers.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// The xattr overlayfs reads to mark a directory opaque.
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// How whiteouts are stored in an unpacked layer directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhiteoutFormat {
    /// overlayfs style: a char device 0:0 per removed name, the
    /// `trusted.overlay.opaque=y` xattr per opaque directory. Needs root.
    Overlay,
    /// The `.wh.` files of the tar are kept as ordinary empty files.
    Marker,
}

/// How to unpack.
#[derive(Debug, Clone, Copy)]
pub struct UnpackOptions {
    pub whiteouts: WhiteoutFormat,
    /// Preserve ownership, create device nodes and set xattrs (needs root).
    pub as_root: bool,
}

impl UnpackOptions {
    /// The options for this process: overlay whiteouts and ownership when
    /// running as root, markers otherwise.
    pub fn for_current_user() -> UnpackOptions {
        let root = nix::unistd::geteuid().is_root();
        UnpackOptions {
            whiteouts: if root {
                WhiteoutFormat::Overlay
            } else {
                WhiteoutFormat::Marker
            },
            as_root: root,
        }
    }
}

/// What an unpack did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnpackStats {
    pub entries: u64,
    /// Bytes of regular-file content written.
    pub bytes: u64,
    /// Device nodes skipped because we are not root.
    pub skipped_devices: u64,
    pub whiteouts: u64,
}

/// Wraps `r` in the decompressor its first bytes call for.
pub fn decompress<'a, R: Read + 'a>(r: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut br = BufReader::with_capacity(256 * 1024, r);
    let head = br.fill_buf()?;
    Ok(match sniff_compression(head) {
        Compression::None => Box::new(br),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(br)),
        Compression::Zstd => Box::new(MultiFrameZstd::new(br)?),
    })
}

type ZstdDecoder<R> = ruzstd::decoding::StreamingDecoder<R, ruzstd::decoding::FrameDecoder>;

/// zstd with any number of concatenated frames (one per frame is what
/// ruzstd's decoder reads).
struct MultiFrameZstd<R: BufRead> {
    dec: Option<ZstdDecoder<R>>,
}

fn zstd_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}"))
}

impl<R: BufRead> MultiFrameZstd<R> {
    fn new(r: R) -> io::Result<Self> {
        Ok(MultiFrameZstd {
            dec: Some(ZstdDecoder::new(r).map_err(zstd_err)?),
        })
    }
}

impl<R: BufRead> Read for MultiFrameZstd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(dec) = self.dec.as_mut() else {
                return Ok(0);
            };
            let n = dec.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            let Some(dec) = self.dec.take() else {
                return Ok(0);
            };
            let mut inner = dec.into_inner();
            if inner.fill_buf()?.is_empty() {
                return Ok(0);
            }
            self.dec = Some(ZstdDecoder::new(inner).map_err(zstd_err)?);
        }
    }
}

struct Ctx<'a> {
    layer: &'a str,
    entry: String,
}

impl Ctx<'_> {
    fn err(&self, reason: impl Into<String>) -> ImageError {
        ImageError::Layer {
            layer: self.layer.to_string(),
            entry: self.entry.clone(),
            reason: reason.into(),
        }
    }

    fn errno(&self, what: &str, e: Errno) -> ImageError {
        self.err(format!("{what}: {}", e.desc()))
    }

    fn io(&self, what: &str, e: io::Error) -> ImageError {
        self.err(format!("{what}: {e}"))
    }
}

/// Unpacks the (already decompressed) tar stream `reader` into `target`,
/// an existing directory. `layer` names the layer in errors. Returns the
/// reader so the caller can finish hashing what follows the tar.
pub fn unpack_tar<R: Read>(
    reader: R,
    target: &Path,
    opts: &UnpackOptions,
    layer: &str,
) -> Result<(UnpackStats, R), ImageError> {
    let root =
        Root::open(target).map_err(|e| ImageError::io(format!("open {}", target.display()), e))?;
    let mut archive = tar::Archive::new(reader);
    let mut stats = UnpackStats::default();
    let mut dirs: Vec<(Vec<OsString>, u32, u64)> = Vec::new();
    let mut scratch = Scratch {
        parent: None,
        buf: vec![0u8; 1 << 20],
    };
    {
        let mut ctx = Ctx {
            layer,
            entry: String::from("(archive)"),
        };
        let entries = archive.entries().map_err(|e| ctx.io("corrupt tar", e))?;
        for entry in entries {
            ctx.entry = String::from("(header)");
            let mut entry = entry.map_err(|e| ctx.io("corrupt tar", e))?;
            let path: PathBuf = entry
                .path()
                .map_err(|e| ctx.io("bad path", e))?
                .into_owned();
            ctx.entry = path.display().to_string();
            unpack_entry(
                &root,
                &mut entry,
                &path,
                opts,
                &ctx,
                &mut stats,
                &mut dirs,
                &mut scratch,
            )?;
        }
    }
    // Directory modes and times last: children were written into them.
    for (comps, mode, mtime) in dirs.iter().rev() {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW;
        if let Ok(fd) = root.open_in_root(comps, flags) {
            let _ = fchmod(fd.as_fd(), Mode::from_bits_truncate(*mode));
            let t = TimeSpec::new(*mtime as i64, 0);
            let _ = futimens(fd.as_fd(), &t, &t);
        }
    }
    Ok((stats, archive.into_inner()))
}

/// State reused from entry to entry.
struct Scratch {
    /// The parent directory of the last regular file, reused while only
    /// regular files in that same directory follow. The descriptor is a
    /// directory inside the root, so reusing it can never lead outside.
    parent: Option<(Vec<OsString>, Rc<OwnedFd>)>,
    buf: Vec<u8>,
}

#[allow(clippy::too_many_arguments)]
fn unpack_entry<R: Read>(
    root: &Root,
    entry: &mut tar::Entry<'_, R>,
    path: &Path,
    opts: &UnpackOptions,
    ctx: &Ctx<'_>,
    stats: &mut UnpackStats,
    dirs: &mut Vec<(Vec<OsString>, u32, u64)>,
    scratch: &mut Scratch,
) -> Result<(), ImageError> {
    let cached = scratch.parent.take();
    let kind = entry.header().entry_type();
    if matches!(
        kind,
        EntryType::XGlobalHeader
            | EntryType::XHeader
            | EntryType::GNULongName
            | EntryType::GNULongLink
    ) {
        return Ok(());
    }
    let comps = clean(path);
    let Some(base) = comps.last().cloned() else {
        // The root itself ("./"): nothing to create.
        return Ok(());
    };
    stats.entries += 1;
    let hdr = entry.header();
    let mode = hdr.mode().map_err(|e| ctx.io("bad mode", e))? & 0o7777;
    // Blank numeric fields are common in hand-made tars: read them as 0.
    let uid = hdr.uid().unwrap_or(0);
    let gid = hdr.gid().unwrap_or(0);
    let mtime = hdr.mtime().unwrap_or(0);
    let owner = opts.as_root.then_some((uid as u32, gid as u32));

    if opts.whiteouts == WhiteoutFormat::Overlay {
        let b = base.as_bytes();
        if b == OPAQUE_MARKER.as_bytes() {
            stats.whiteouts += 1;
            return mark_opaque(root, &comps[..comps.len() - 1], ctx);
        }
        if let Some(hidden) = b.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
            stats.whiteouts += 1;
            return whiteout(root, &comps, OsStr::from_bytes(hidden), ctx);
        }
    }

    let parent_comps = &comps[..comps.len() - 1];
    let is_file = matches!(
        kind,
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse
    );
    let parent = match cached {
        Some((c, fd)) if is_file && c == parent_comps => fd,
        _ => Rc::new(
            root.dir(parent_comps, true)
                .map_err(|e| ctx.err(e.to_string()))?,
        ),
    };
    let name = base;

    match kind {
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
            let xattrs = if opts.as_root {
                pax_xattrs(entry)
            } else {
                Vec::new()
            };
            let create = || {
                nix::fcntl::openat(
                    parent.as_fd(),
                    name.as_os_str(),
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    Mode::from_bits_truncate(0o600),
                )
            };
            let mut replaced_dir = false;
            let fd = match create() {
                Ok(fd) => fd,
                Err(Errno::EEXIST) => {
                    replaced_dir = kind_at(&parent, &name).map_err(|e| ctx.errno("stat", e))?
                        == Some(SFlag::S_IFDIR);
                    replace(&parent, &name, ctx)?;
                    create().map_err(|e| ctx.errno("create", e))?
                }
                Err(e) => return Err(ctx.errno("create", e)),
            };
            let mut f = File::from(fd);
            let n = copy_with(entry, &mut f, &mut scratch.buf).map_err(|e| ctx.io("write", e))?;
            stats.bytes += n;
            if let Some((u, g)) = owner {
                fchown(f.as_fd(), Some(Uid::from_raw(u)), Some(Gid::from_raw(g)))
                    .map_err(|e| ctx.errno("chown", e))?;
            }
            for (k, v) in &xattrs {
                set_xattr(f.as_fd(), k, v);
            }
            fchmod(f.as_fd(), Mode::from_bits_truncate(mode)).map_err(|e| ctx.errno("chmod", e))?;
            let t = TimeSpec::new(mtime as i64, 0);
            futimens(f.as_fd(), &t, &t).map_err(|e| ctx.errno("set times", e))?;
            if !replaced_dir {
                scratch.parent = Some((parent_comps.to_vec(), parent));
            }
        }
        EntryType::Directory => {
            match kind_at(&parent, &name).map_err(|e| ctx.errno("stat", e))? {
                Some(SFlag::S_IFDIR) => {}
                existing => {
                    if existing.is_some() {
                        remove_at(&parent, &name).map_err(|e| ctx.errno("replace", e))?;
                    }
                    nix::sys::stat::mkdirat(
                        parent.as_fd(),
                        name.as_os_str(),
                        Mode::from_bits_truncate(0o755),
                    )
                    .map_err(|e| ctx.errno("mkdir", e))?;
                }
            }
            if let Some((u, g)) = owner {
                fchownat(
                    parent.as_fd(),
                    name.as_os_str(),
                    Some(Uid::from_raw(u)),
                    Some(Gid::from_raw(g)),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(|e| ctx.errno("chown", e))?;
            }
            dirs.push((comps, mode, mtime));
        }
        EntryType::Symlink => {
            let target = entry
                .link_name()
                .map_err(|e| ctx.io("bad link name", e))?
                .ok_or_else(|| ctx.err("symlink without a target"))?
                .into_owned();
            if target.as_os_str().is_empty() {
                return Err(ctx.err("symlink with an empty target"));
            }
            replace(&parent, &name, ctx)?;
            // The target is stored verbatim: a symlink is only dangerous when
            // followed, and every later resolution stays inside the root.
            symlinkat(target.as_os_str(), parent.as_fd(), name.as_os_str())
                .map_err(|e| ctx.errno("symlink", e))?;
            set_owner_and_time_nofollow(&parent, &name, owner, mtime, ctx)?;
        }
        EntryType::Link => {
            let target = entry
                .link_name()
                .map_err(|e| ctx.io("bad link name", e))?
                .ok_or_else(|| ctx.err("hardlink without a target"))?
                .into_owned();
            let tcomps = clean(&target);
            if tcomps == comps {
                return Ok(());
            }
            let missing = || {
                ctx.err(format!(
                    "hardlink target {} does not exist inside the layer",
                    target.display()
                ))
            };
            let (tparent, tname) = root
                .parent_and_name(&tcomps, false)
                .map_err(|e| match e {
                    DirError::Errno(_, Errno::ENOENT) | DirError::Dangling(_) => missing(),
                    e => ctx.err(format!("hardlink target {}: {e}", target.display())),
                })?
                .ok_or_else(|| ctx.err("hardlink to the root directory"))?;
            match kind_at(&tparent, &tname).map_err(|e| ctx.errno("stat hardlink target", e))? {
                None => return Err(missing()),
                Some(SFlag::S_IFDIR) => {
                    return Err(ctx.err(format!(
                        "hardlink target {} is a directory",
                        target.display()
                    )))
                }
                Some(_) => {}
            }
            replace(&parent, &name, ctx)?;
            // No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
            linkat(
                tparent.as_fd(),
                tname.as_os_str(),
                parent.as_fd(),
                name.as_os_str(),
                AtFlags::empty(),
            )
            .map_err(|e| ctx.errno("hardlink", e))?;
        }
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            let sflag = match kind {
                EntryType::Char => SFlag::S_IFCHR,
                EntryType::Block => SFlag::S_IFBLK,
                _ => SFlag::S_IFIFO,
            };
            if sflag != SFlag::S_IFIFO && !opts.as_root {
                stats.skipped_devices += 1;
                tracing::debug!(layer = ctx.layer, entry = %ctx.entry, "skipping device node: not root");
                return Ok(());
            }
            let major = entry.header().device_major().ok().flatten().unwrap_or(0);
            let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
            replace(&parent, &name, ctx)?;
            mknodat(
                parent.as_fd(),
                name.as_os_str(),
                sflag,
                Mode::from_bits_truncate(mode),
                nix::sys::stat::makedev(major.into(), minor.into()),
            )
            .map_err(|e| ctx.errno("mknod", e))?;
            set_owner_and_time_nofollow(&parent, &name, owner, mtime, ctx)?;
        }
        other => {
            tracing::debug!(layer = ctx.layer, entry = %ctx.entry, kind = ?other, "skipping tar entry of unsupported type");
        }
    }
    Ok(())
}

/// `io::copy` through a large reusable buffer (fewer, bigger writes).
fn copy_with(r: &mut impl Read, w: &mut File, buf: &mut [u8]) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        let n = match r.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        w.write_all(&buf[..n])?;
        total += n as u64;
    }
}

/// Removes what a new entry replaces (the later entry of a tar wins).
fn replace(parent: &OwnedFd, name: &OsStr, ctx: &Ctx<'_>) -> Result<(), ImageError> {
    remove_at(parent, name).map_err(|e| ctx.errno("replace existing entry", e))
}

fn set_owner_and_time_nofollow(
    parent: &OwnedFd,
    name: &OsStr,
    owner: Option<(u32, u32)>,
    mtime: u64,
    ctx: &Ctx<'_>,
) -> Result<(), ImageError> {
    if let Some((u, g)) = owner {
        fchownat(
            parent.as_fd(),
            name,
            Some(Uid::from_raw(u)),
            Some(Gid::from_raw(g)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| ctx.errno("chown", e))?;
    }
    let t = TimeSpec::new(mtime as i64, 0);
    let _ = utimensat(
        parent.as_fd(),
        name,
        &t,
        &t,
        UtimensatFlags::NoFollowSymlink,
    );
    Ok(())
}

/// overlayfs whiteout: a char device 0:0 named like the removed entry.
fn whiteout(
    root: &Root,
    comps: &[OsString],
    hidden: &OsStr,
    ctx: &Ctx<'_>,
) -> Result<(), ImageError> {
    let h = hidden.as_bytes();
    if h.is_empty() || h == b"." || h == b".." || h.contains(&b'/') {
        return Err(ctx.err("whiteout for an invalid name"));
    }
    let parent = root
        .dir(&comps[..comps.len() - 1], true)
        .map_err(|e| ctx.err(e.to_string()))?;
    replace(&parent, hidden, ctx)?;
    mknodat(
        parent.as_fd(),
        hidden,
        SFlag::S_IFCHR,
        Mode::empty(),
        nix::sys::stat::makedev(0, 0),
    )
    .map_err(|e| ctx.errno("whiteout (mknod 0:0 needs root)", e))
}

fn mark_opaque(root: &Root, dir: &[OsString], ctx: &Ctx<'_>) -> Result<(), ImageError> {
    root.dir(dir, true).map_err(|e| ctx.err(e.to_string()))?;
    let fd = root
        .open_in_root(
            dir,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW,
        )
        .map_err(|e| ctx.errno("open opaque directory", e))?;
    fset_xattr(fd.as_fd(), OVERLAY_OPAQUE_XATTR, b"y")
        .map_err(|e| ctx.errno("set opaque xattr (needs root)", e))
}

fn pax_xattrs<R: Read>(entry: &mut tar::Entry<'_, R>) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok(Some(exts)) = entry.pax_extensions() {
        for ext in exts.flatten() {
            if let Ok(key) = ext.key() {
                if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                    out.push((name.to_string(), ext.value_bytes().to_vec()));
                }
            }
        }
    }
    out
}

fn set_xattr(fd: std::os::fd::BorrowedFd<'_>, name: &str, value: &[u8]) {
    if let Err(e) = fset_xattr(fd, name, value) {
        tracing::debug!(xattr = name, error = %e, "could not set xattr");
    }
}

/// `fsetxattr(2)`.
pub(crate) fn fset_xattr(
    fd: std::os::fd::BorrowedFd<'_>,
    name: &str,
    value: &[u8],
) -> Result<(), Errno> {
    let cname = CString::new(name).map_err(|_| Errno::EINVAL)?;
    // SAFETY: fd is a live descriptor, cname is NUL-terminated, value is a
    // valid buffer of value.len() bytes.
    let rc = unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            cname.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    Errno::result(rc).map(drop)
}

/// `lgetxattr(2)` of a path (our own store, trusted), `None` when absent.
pub(crate) fn lget_xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let cpath = CString::new(path.as_os_str().as_bytes()).ok()?;
    let cname = CString::new(name).ok()?;
    let mut buf = vec![0u8; 256];
    // SAFETY: both strings are NUL-terminated; buf is writable for its length.
    let n = unsafe {
        libc::lgetxattr(
            cpath.as_ptr(),
            cname.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return None;
    }
    buf.truncate(n as usize);
    Some(buf)
}
