//! A container's network namespace, kept alive by a bind mount of its
//! nsfs file (as `ip netns add` does), so that CNI plugins can enter it
//! by path before any container process exists.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// Creates a network namespace with loopback up and binds it at `path`.
/// The namespace is made on a thread of its own, which exits afterwards,
/// so no thread of the caller changes namespace.
pub fn create(path: &Path) -> Result<(), String> {
    std::fs::File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let target = path.to_path_buf();
    let made = std::thread::Builder::new()
        .name("netns".into())
        .spawn(move || -> Result<(), String> {
            paddock_isolation::oci::run::private_network()?;
            mount(
                Some("/proc/thread-self/ns/net"),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| {
                format!(
                    "cannot bind the network namespace at {}: {e}",
                    target.display()
                )
            })
        })
        .map_err(|e| format!("cannot start the thread that creates the network namespace: {e}"))?
        .join()
        .map_err(|_| "the thread that creates the network namespace panicked".to_string())?;
    if made.is_err() {
        let _ = std::fs::remove_file(path);
    }
    made
}

/// True if `path` is a bound network namespace (not just the empty file
/// left when the mount namespace that held the bind is gone).
pub fn is_bound(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
}

/// Unbinds and removes `path`; the namespace goes once nothing uses it.
pub fn remove(path: &Path) -> Result<(), String> {
    if is_bound(path) {
        umount2(path, MntFlags::MNT_DETACH)
            .map_err(|e| format!("cannot unmount {}: {e}", path.display()))?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot remove {}: {e}", path.display())),
    }
}
