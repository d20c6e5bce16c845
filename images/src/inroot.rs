//! Path resolution confined to a root directory.
//!
//! Every write into a rootfs goes through [`Root`]: a path from an untrusted
//! source (a layer tar, an archive) is first cleaned lexically (`..` cannot
//! climb above the root, leading `/` is dropped), then its parent directory is
//! opened with `openat2(RESOLVE_IN_ROOT)`, so symlinks met on the way are
//! resolved as if the root were `/` and can never lead outside it. The final
//! component is then created or removed with a `*at` call relative to that
//! parent and never followed.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstatat, mkdirat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

/// A directory that all resolution is confined to.
pub(crate) struct Root {
    fd: OwnedFd,
}

/// Lexically cleans an untrusted path into normal components: `.` and empty
/// components vanish, `..` removes the previous component but never climbs
/// above the root, and a leading `/` is ignored (the path is relative to the
/// root either way).
pub(crate) fn clean(path: &Path) -> Vec<OsString> {
    let mut out: Vec<OsString> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    out
}

fn join(comps: &[OsString]) -> PathBuf {
    if comps.is_empty() {
        return PathBuf::from(".");
    }
    comps.iter().collect()
}

fn errno_io(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

impl Root {
    /// Opens `path` (which must be a directory) as a root.
    pub(crate) fn open(path: &Path) -> io::Result<Root> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno_io)?;
        Ok(Root { fd })
    }

    /// Opens `comps` (already cleaned) inside the root with `flags`,
    /// resolving symlinks as if the root were `/`.
    pub(crate) fn open_in_root(&self, comps: &[OsString], flags: OFlag) -> Result<OwnedFd, Errno> {
        let how = OpenHow::new()
            .flags(flags | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        openat2(self.fd.as_fd(), &join(comps), how)
    }

    /// Opens the directory `comps`, an O_PATH descriptor. With `create`,
    /// missing directories are made (mode 0755) one component at a time, each
    /// inside the directory its parent resolved to.
    pub(crate) fn dir(&self, comps: &[OsString], create: bool) -> Result<OwnedFd, DirError> {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
        match self.open_in_root(comps, flags) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) if create => {}
            Err(e) => return Err(DirError::at(comps, e)),
        }
        let mut parent = self
            .open_in_root(&[], flags)
            .map_err(|e| DirError::at(&[], e))?;
        for i in 0..comps.len() {
            let prefix = &comps[..=i];
            match self.open_in_root(prefix, flags) {
                Ok(fd) => {
                    parent = fd;
                    continue;
                }
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(DirError::at(prefix, e)),
            }
            match mkdirat(
                parent.as_fd(),
                comps[i].as_os_str(),
                Mode::from_bits_truncate(0o755),
            ) {
                Ok(()) => {}
                Err(Errno::EEXIST) => {
                    // Something is there but could not be resolved: a
                    // dangling symlink (its target is missing in the root).
                    return Err(DirError::Dangling(join(prefix)));
                }
                Err(e) => return Err(DirError::at(prefix, e)),
            }
            parent = self
                .open_in_root(prefix, flags)
                .map_err(|e| DirError::at(prefix, e))?;
        }
        Ok(parent)
    }

    /// Splits `comps` into its parent directory (opened, created if
    /// `create`) and the final name. `None` when `comps` is the root itself.
    pub(crate) fn parent_and_name(
        &self,
        comps: &[OsString],
        create: bool,
    ) -> Result<Option<(OwnedFd, OsString)>, DirError> {
        let Some((name, parent)) = comps.split_last() else {
            return Ok(None);
        };
        let fd = self.dir(parent, create)?;
        Ok(Some((fd, name.clone())))
    }
}

/// Why a directory inside the root could not be opened or made.
#[derive(Debug)]
pub(crate) enum DirError {
    Errno(PathBuf, Errno),
    Dangling(PathBuf),
}

impl DirError {
    fn at(comps: &[OsString], e: Errno) -> DirError {
        DirError::Errno(join(comps), e)
    }
}

impl std::fmt::Display for DirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DirError::Errno(p, Errno::ENOTDIR) => {
                write!(f, "parent {} is not a directory", p.display())
            }
            DirError::Errno(p, e) => {
                write!(f, "cannot open directory {}: {}", p.display(), e.desc())
            }
            DirError::Dangling(p) => write!(
                f,
                "parent {} is a symlink whose target does not exist inside the rootfs",
                p.display()
            ),
        }
    }
}

/// What is at `name` in `dir`, without following a symlink.
pub(crate) fn kind_at(dir: &OwnedFd, name: &OsStr) -> Result<Option<SFlag>, Errno> {
    match fstatat(dir.as_fd(), name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(SFlag::from_bits_truncate(
            st.st_mode & SFlag::S_IFMT.bits(),
        ))),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes whatever is at `name` in `dir` (a whole tree for a directory),
/// never following symlinks. Missing is fine.
pub(crate) fn remove_at(dir: &OwnedFd, name: &OsStr) -> Result<(), Errno> {
    match kind_at(dir, name)? {
        None => Ok(()),
        Some(SFlag::S_IFDIR) => {
            clear_dir_at(dir, name)?;
            unlinkat(dir.as_fd(), name, UnlinkatFlags::RemoveDir)
        }
        Some(_) => unlinkat(dir.as_fd(), name, UnlinkatFlags::NoRemoveDir),
    }
}

/// Removes every entry inside the directory `name` of `dir`.
pub(crate) fn clear_dir_at(dir: &OwnedFd, name: &OsStr) -> Result<(), Errno> {
    let fd = nix::fcntl::openat(
        dir.as_fd(),
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    clear_dir_fd(fd)
}

/// Removes every entry inside the directory open as `fd`.
pub(crate) fn clear_dir_fd(fd: OwnedFd) -> Result<(), Errno> {
    let dup = fd
        .try_clone()
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(0)))?;
    let mut d = nix::dir::Dir::from_fd(dup)?;
    let mut names = Vec::new();
    for entry in d.iter() {
        let entry = entry?;
        let n = entry.file_name().to_bytes();
        if n == b"." || n == b".." {
            continue;
        }
        names.push(OsStr::from_bytes(n).to_os_string());
    }
    for n in names {
        remove_at(&fd, &n)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn clean_never_climbs_above_the_root() {
        assert_eq!(clean(Path::new("../../etc/x")), s(&["etc", "x"]));
        assert_eq!(clean(Path::new("/abs/x")), s(&["abs", "x"]));
        assert_eq!(clean(Path::new("a/./b/../c")), s(&["a", "c"]));
        assert_eq!(clean(Path::new("./")), Vec::<OsString>::new());
        assert_eq!(clean(Path::new("a/../../..")), Vec::<OsString>::new());
    }

    #[test]
    fn dir_follows_symlinks_only_inside_the_root() {
        let outer = tempfile::tempdir().unwrap();
        let root_path = outer.path().join("root");
        std::fs::create_dir(&root_path).unwrap();
        std::fs::create_dir(outer.path().join("outside")).unwrap();
        std::os::unix::fs::symlink("/", root_path.join("up")).unwrap();
        std::os::unix::fs::symlink("../../..", root_path.join("dots")).unwrap();
        let root = Root::open(&root_path).unwrap();
        root.dir(&s(&["up", "outside", "made"]), true).unwrap();
        root.dir(&s(&["dots", "outside", "made2"]), true).unwrap();
        assert!(root_path.join("outside/made").is_dir());
        assert!(root_path.join("outside/made2").is_dir());
        assert_eq!(
            std::fs::read_dir(outer.path().join("outside"))
                .unwrap()
                .count(),
            0
        );
    }
}
