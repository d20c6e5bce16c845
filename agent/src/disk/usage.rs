//! How much disk a directory tree takes: the blocks its inodes have
//! allocated (`st_blocks * 512`, as `du` counts them), each hard-linked
//! file once, symlinks never followed, mounts never entered.
//!
//! The walk goes through file descriptors (`openat` with `O_NOFOLLOW`,
//! `fstatat` with `AT_SYMLINK_NOFOLLOW`), so a task that swaps a directory
//! for a symlink while it is walked cannot lead it out of the tree. It is
//! bounded: at most [`WalkLimits::max_entries`] entries are looked at, and
//! at most [`WalkLimits::max_open_dirs`] directories are held open however
//! deep the tree is (shallower ones are closed and reopened through `..`,
//! checked by device and inode). A walk that hits a bound, or finds the tree
//! moved under it, says so with `complete: false`; what it counted is then
//! a lower bound.

use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{open, openat, AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};

/// How far one walk may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkLimits {
    /// Directory entries looked at, in all.
    pub max_entries: u64,
    /// Directories held open at once (one per level, from the deepest up).
    pub max_open_dirs: usize,
}

impl Default for WalkLimits {
    fn default() -> Self {
        WalkLimits {
            max_entries: 1_000_000,
            max_open_dirs: 64,
        }
    }
}

/// What a walk found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Allocated bytes.
    pub bytes: u64,
    /// Inodes counted (the root included).
    pub entries: u64,
    /// False when a bound was hit or the tree moved during the walk.
    pub complete: bool,
}

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

fn allocated(st: &FileStat) -> u64 {
    (st.st_blocks.max(0) as u64).saturating_mul(512)
}

fn is_dir(st: &FileStat) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
}

/// One directory on the walk's path.
struct Frame {
    /// Open while the frame is among the deepest `max_open_dirs`.
    dir: Option<Dir>,
    dev: u64,
    ino: u64,
    /// Subdirectories not walked yet.
    pending: Vec<CString>,
}

struct Walker {
    dev: u64,
    limits: WalkLimits,
    /// Files with several links that are already counted.
    linked: HashSet<(u64, u64)>,
    usage: Usage,
}

impl Walker {
    /// Counts the entries of the directory `fd` and returns its frame.
    fn enter(&mut self, fd: OwnedFd, st: &FileStat) -> Result<Frame, Errno> {
        let mut dir = Dir::from_fd(fd)?;
        let mut names = Vec::new();
        for entry in dir.iter() {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            names.push(name.to_owned());
        }
        let mut pending = Vec::new();
        for name in names {
            if self.usage.entries >= self.limits.max_entries {
                self.usage.complete = false;
                break;
            }
            self.usage.entries += 1;
            // Gone already, or unreadable: nothing to count.
            let Ok(child) = fstatat(&dir, name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) else {
                continue;
            };
            if child.st_dev != self.dev {
                // A mount point: another filesystem's root.
                continue;
            }
            if is_dir(&child) {
                self.usage.bytes += allocated(&child);
                pending.push(name);
            } else if child.st_nlink > 1 {
                if self.linked.insert((child.st_dev, child.st_ino)) {
                    self.usage.bytes += allocated(&child);
                }
            } else {
                self.usage.bytes += allocated(&child);
            }
        }
        Ok(Frame {
            dir: Some(dir),
            dev: st.st_dev,
            ino: st.st_ino,
            pending,
        })
    }
}

fn open_child(parent: &Dir, name: &CStr) -> Result<(OwnedFd, FileStat), Errno> {
    let fd = openat(parent, name, DIR_FLAGS, Mode::empty())?;
    let st = fstat(&fd)?;
    Ok((fd, st))
}

/// Measures the tree at `root` (which must be a directory, not a symlink).
pub fn measure(root: &Path, limits: WalkLimits) -> io::Result<Usage> {
    let fd = open(root, DIR_FLAGS, Mode::empty()).map_err(io::Error::from)?;
    let st = fstat(&fd).map_err(io::Error::from)?;
    let mut w = Walker {
        dev: st.st_dev,
        limits: WalkLimits {
            max_open_dirs: limits.max_open_dirs.max(1),
            ..limits
        },
        linked: HashSet::new(),
        usage: Usage {
            bytes: allocated(&st),
            entries: 1,
            complete: true,
        },
    };
    let mut stack = vec![w.enter(fd, &st).map_err(io::Error::from)?];
    while w.usage.complete {
        let Some(top) = stack.last_mut() else { break };
        if let Some(name) = top.pending.pop() {
            let Some(parent) = top.dir.as_ref() else {
                // The deepest frame is always open; never here.
                w.usage.complete = false;
                break;
            };
            let (fd, st) = match open_child(parent, &name) {
                Ok(found) => found,
                // Removed or replaced since it was listed.
                Err(_) => continue,
            };
            if st.st_dev != w.dev {
                continue;
            }
            let Ok(frame) = w.enter(fd, &st) else {
                continue;
            };
            stack.push(frame);
            let depth = stack.len();
            if depth > w.limits.max_open_dirs {
                stack[depth - w.limits.max_open_dirs - 1].dir = None;
            }
        } else {
            let Some(done) = stack.pop() else { break };
            let Some(parent) = stack.last_mut() else {
                break;
            };
            if parent.dir.is_some() {
                continue;
            }
            let Some(child) = done.dir.as_ref() else {
                w.usage.complete = false;
                break;
            };
            // Reopen the parent through "..": it must be the same directory.
            match open_child(child, c"..") {
                Ok((fd, st)) if st.st_dev == parent.dev && st.st_ino == parent.ino => {
                    match Dir::from_fd(fd) {
                        Ok(d) => parent.dir = Some(d),
                        Err(_) => w.usage.complete = false,
                    }
                }
                _ => w.usage.complete = false,
            }
        }
    }
    Ok(w.usage)
}

/// The sum over `roots`; a root that does not exist counts nothing.
pub fn measure_all<'a>(
    roots: impl IntoIterator<Item = &'a Path>,
    limits: WalkLimits,
) -> io::Result<Usage> {
    let mut total = Usage {
        complete: true,
        ..Usage::default()
    };
    for root in roots {
        let u = match measure(root, limits) {
            Ok(u) => u,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        total.bytes += u.bytes;
        total.entries += u.entries;
        total.complete &= u.complete;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const MB: u64 = 1 << 20;

    fn write_file(path: &Path, bytes: u64) {
        let mut f = std::fs::File::create(path).unwrap();
        let chunk = vec![0xa5u8; 64 * 1024];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            f.write_all(&chunk[..n]).unwrap();
            left -= n as u64;
        }
        f.sync_all().unwrap();
    }

    fn usage(dir: &Path) -> Usage {
        measure(dir, WalkLimits::default()).unwrap()
    }

    #[test]
    fn counts_allocated_blocks_of_files() {
        let d = tempfile::tempdir().unwrap();
        let empty = usage(d.path());
        write_file(&d.path().join("a"), 2 * MB);
        let u = usage(d.path());
        assert!(u.complete);
        assert_eq!(u.entries, 2);
        let grown = u.bytes - empty.bytes;
        assert!((2 * MB..3 * MB).contains(&grown), "grew by {grown}");
    }

    #[test]
    fn a_sparse_file_counts_only_what_it_allocated() {
        let d = tempfile::tempdir().unwrap();
        let f = std::fs::File::create(d.path().join("sparse")).unwrap();
        f.set_len(100 * MB).unwrap();
        let u = usage(d.path());
        assert!(u.bytes < MB, "a hole is not usage: {u:?}");
    }

    #[test]
    fn hardlinks_are_counted_once() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        write_file(&d.path().join("f"), 2 * MB);
        let once = usage(d.path());
        std::fs::hard_link(d.path().join("f"), d.path().join("sub/g")).unwrap();
        std::fs::hard_link(d.path().join("f"), d.path().join("h")).unwrap();
        let linked = usage(d.path());
        assert_eq!(linked.entries, once.entries + 2);
        // Counted twice, the links would add 4 MB.
        assert!(
            linked.bytes < once.bytes + MB,
            "{linked:?} against {once:?}"
        );
    }

    #[test]
    fn symlinks_are_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        write_file(&outside.path().join("big"), 4 * MB);
        std::fs::create_dir(outside.path().join("bigdir")).unwrap();
        write_file(&outside.path().join("bigdir/big"), 4 * MB);
        let d = tempfile::tempdir().unwrap();
        let before = usage(d.path());
        std::os::unix::fs::symlink(outside.path().join("big"), d.path().join("to-file")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("bigdir"), d.path().join("to-dir")).unwrap();
        let after = usage(d.path());
        assert_eq!(after.entries, before.entries + 2);
        assert!(after.bytes < before.bytes + MB, "{after:?}");
        // Nor is the root, when it is a symlink.
        let link_root = outside.path().join("root-link");
        std::os::unix::fs::symlink(d.path(), &link_root).unwrap();
        assert!(measure(&link_root, WalkLimits::default()).is_err());
    }

    #[test]
    fn a_tree_deeper_than_the_open_directories_is_counted_whole() {
        let d = tempfile::tempdir().unwrap();
        let mut p = d.path().to_path_buf();
        for i in 0..40 {
            p.push(format!("d{i}"));
            std::fs::create_dir(&p).unwrap();
            write_file(&p.join("f"), 64 * 1024);
            // A sibling at every level, walked after the deep branch.
            std::fs::create_dir(p.with_file_name(format!("s{i}"))).unwrap();
            write_file(&p.with_file_name(format!("s{i}")).join("f"), 64 * 1024);
        }
        let wide = measure(d.path(), WalkLimits::default()).unwrap();
        let narrow = measure(
            d.path(),
            WalkLimits {
                max_open_dirs: 3,
                ..WalkLimits::default()
            },
        )
        .unwrap();
        assert!(narrow.complete);
        assert_eq!(narrow, wide);
        // 40 levels, each a dir, a file, a sibling dir and its file.
        assert_eq!(wide.entries, 1 + 40 * 4);
        assert!(wide.bytes >= 80 * 64 * 1024, "{wide:?}");
    }

    #[test]
    fn the_entry_bound_stops_the_walk_and_says_so() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..50 {
            std::fs::write(d.path().join(format!("f{i}")), b"x").unwrap();
        }
        let u = measure(
            d.path(),
            WalkLimits {
                max_entries: 10,
                ..WalkLimits::default()
            },
        )
        .unwrap();
        assert!(!u.complete);
        assert_eq!(u.entries, 10);
        assert!(usage(d.path()).complete);
    }

    #[test]
    fn missing_roots_count_nothing() {
        let d = tempfile::tempdir().unwrap();
        write_file(&d.path().join("f"), MB);
        let gone = d.path().join("gone");
        let all = measure_all([d.path(), gone.as_path()], WalkLimits::default()).unwrap();
        assert_eq!(all, usage(d.path()));
        assert_eq!(
            measure(&gone, WalkLimits::default()).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    /// Mounts a tmpfs inside the tree (needs root; the agent runs as root).
    #[test]
    fn mounts_inside_the_tree_are_not_entered() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: mounting a tmpfs needs root");
            return;
        }
        struct Unmount(std::path::PathBuf);
        impl Drop for Unmount {
            fn drop(&mut self) {
                let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
            }
        }
        let d = tempfile::tempdir().unwrap();
        let m = d.path().join("mnt");
        std::fs::create_dir(&m).unwrap();
        let before = usage(d.path());
        nix::mount::mount(
            Some("tmpfs"),
            &m,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some("size=16m"),
        )
        .unwrap();
        let _guard = Unmount(m.clone());
        write_file(&m.join("big"), 4 * MB);
        let after = usage(d.path());
        assert!(after.bytes < before.bytes + MB, "{after:?} vs {before:?}");
        assert!(after.entries <= before.entries);
    }
}
