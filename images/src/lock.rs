//! Cross-process safety of one store directory, with `flock(2)`.
//!
//! Several processes open the same store (the agent for `paddock image …`,
//! each image task's executor for its pull), so an in-process mutex is not
//! enough:
//!
//! - `<root>/.lock`: pulls, imports and `rm` hold it shared, `gc` holds it
//!   exclusive, so gc never runs while another process stages or commits.
//! - `<root>/tmp/<area>.lock`: each staging area's own lock, taken before
//!   the area is created and released after it is removed. Opening a store
//!   and gc sweep only areas whose lock is free, i.e. whose owner died;
//!   a live pull's area in another process is left alone.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::error::{ImageError, IoContext};
use crate::store::remove_any;

/// Suffix of a staging area's lock file.
const LOCK_SUFFIX: &str = ".lock";

fn open_lock_file(path: &Path) -> Result<File, ImageError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .ctx(|| format!("open lock {}", path.display()))
}

/// A held `flock` on a file; released when dropped.
pub(crate) struct FileLock {
    _lock: Flock<File>,
}

impl FileLock {
    /// Blocks until `path` (created if missing) is locked.
    pub fn acquire(path: &Path, exclusive: bool) -> Result<FileLock, ImageError> {
        let file = open_lock_file(path)?;
        let arg = if exclusive {
            FlockArg::LockExclusive
        } else {
            FlockArg::LockShared
        };
        let lock = Flock::lock(file, arg).map_err(|(_, e)| {
            ImageError::io(
                format!("lock {}", path.display()),
                io::Error::from_raw_os_error(e as i32),
            )
        })?;
        Ok(FileLock { _lock: lock })
    }

    /// The exclusive lock on `path` if nobody holds it now (`None` if
    /// somebody does, or the file is gone).
    fn try_exclusive(path: &Path) -> Option<FileLock> {
        let file = OpenOptions::new().write(true).open(path).ok()?;
        Flock::lock(file, FlockArg::LockExclusiveNonblock)
            .ok()
            .map(|lock| FileLock { _lock: lock })
    }
}

/// The store-wide lock file.
pub(crate) fn store_lock_path(root: &Path) -> PathBuf {
    root.join(".lock")
}

/// The lock of one staging area, held for its whole life: created and
/// locked before the area's directory exists, unlinked after it is gone.
pub(crate) struct AreaLock {
    path: PathBuf,
    lock: Option<FileLock>,
}

impl AreaLock {
    /// Locks the (new) area `dir`.
    pub fn acquire(dir: &Path) -> Result<AreaLock, ImageError> {
        let path = lock_path_of(dir);
        let lock = FileLock::acquire(&path, true)?;
        Ok(AreaLock {
            path,
            lock: Some(lock),
        })
    }
}

impl Drop for AreaLock {
    fn drop(&mut self) {
        // Unlink while still holding it, so nobody locks a file that is
        // about to disappear and then treats the name as free.
        let _ = fs::remove_file(&self.path);
        self.lock.take();
    }
}

fn lock_path_of(dir: &Path) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(LOCK_SUFFIX);
    dir.with_file_name(name)
}

/// Removes what dead processes left in `tmp`: areas whose lock is free
/// (or that have none, e.g. from a version without area locks) and lock
/// files without an area. Areas of live pulls and imports are kept.
/// Returns how many entries were removed.
pub(crate) fn sweep_tmp(tmp: &Path) -> usize {
    let Ok(entries) = fs::read_dir(tmp) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(area) = name.strip_suffix(LOCK_SUFFIX) {
            // A lock file: its area is handled below; an orphan lock whose
            // owner is gone is removed here.
            let area = tmp.join(area);
            if !area.exists() {
                if let Some(l) = FileLock::try_exclusive(&path) {
                    if !area.exists() {
                        let _ = fs::remove_file(&path);
                        removed += 1;
                    }
                    drop(l);
                }
            }
            continue;
        }
        let lock = lock_path_of(&path);
        if lock.exists() {
            let Some(held) = FileLock::try_exclusive(&lock) else {
                continue; // a live owner
            };
            if remove_any(&path).is_ok() {
                removed += 1;
            }
            let _ = fs::remove_file(&lock);
            drop(held);
        } else if remove_any(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_locked_area_survives_a_sweep_and_a_dead_one_does_not() {
        let tmp = tempfile::tempdir().unwrap();
        let live = tmp.path().join("pull-live");
        let lock = AreaLock::acquire(&live).unwrap();
        fs::create_dir(&live).unwrap();
        fs::write(live.join("blob"), b"x").unwrap();
        let dead = tmp.path().join("pull-dead");
        fs::create_dir(&dead).unwrap();
        fs::write(lock_path_of(&dead), b"").unwrap();
        let legacy = tmp.path().join("import-old");
        fs::create_dir(&legacy).unwrap();

        assert_eq!(sweep_tmp(tmp.path()), 2);
        assert!(live.join("blob").exists());
        assert!(!dead.exists() && !lock_path_of(&dead).exists());
        assert!(!legacy.exists());

        fs::remove_dir_all(&live).unwrap();
        drop(lock);
        assert!(!lock_path_of(&live).exists());
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn an_exclusive_store_lock_waits_for_shared_holders() {
        let dir = tempfile::tempdir().unwrap();
        let p = store_lock_path(dir.path());
        let shared = FileLock::acquire(&p, false).unwrap();
        let _shared2 = FileLock::acquire(&p, false).unwrap();
        assert!(FileLock::try_exclusive(&p).is_none());
        drop(shared);
        drop(_shared2);
        assert!(FileLock::try_exclusive(&p).is_some());
    }
}
