//! The executor's handle on the agent's image store (`<work_dir>/images`):
//! the image a task names, pulled on first use and cached after (`cached:
//! false` pulls again).
//!
//! Every image task's executor opens the store itself (opening sweeps only
//! staging areas whose owner died, see `paddock_images`). A cached image
//! is read without a lock; a lookup by another spelling and a pull take an
//! exclusive lock on `<root>/.executor.lock`: two executors never pull at
//! once, and the second one to want an image finds it cached.

use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use paddock_images::{Image, ImageStore, StoreHold};

use crate::registry_auth::PullAuth;

/// Where the agent's work dir is, from a sandbox laid out as Mesos's
/// `<work_dir>/slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<container>`.
pub fn work_dir_of(sandbox: &Path) -> Option<PathBuf> {
    let parts: Vec<&Path> = sandbox.ancestors().take(9).collect();
    let name = |i: usize| parts.get(i).and_then(|p| p.file_name());
    let layout_ok = name(1).is_some_and(|n| n == "runs")
        && name(3).is_some_and(|n| n == "executors")
        && name(5).is_some_and(|n| n == "frameworks")
        && name(7).is_some_and(|n| n == "slaves");
    layout_ok
        .then(|| parts.get(8).map(|p| p.to_path_buf()))
        .flatten()
}

fn lock(root: &Path) -> Result<Flock<std::fs::File>, String> {
    std::fs::create_dir_all(root)
        .map_err(|e| format!("cannot create the image store {}: {e}", root.display()))?;
    let path = root.join(".executor.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| format!("cannot lock {}: {e}", path.display()))
}

/// The store and the image `reference`, pulled if it is missing or
/// `cached` is false. Errors carry the store's own message.
///
/// A cached image named exactly as stored (the common case: Marathon and
/// the bench name `registry/repo:tag`) is found without the executor lock
/// and without parsing the name, one record read on one blocking thread:
/// under a burst of launches every executor otherwise queued on the lock.
/// Records are written by rename, so reading one needs no lock.
pub async fn provision(
    root: &Path,
    reference: &str,
    cached: bool,
) -> Result<(ImageStore, Image), String> {
    provision_with(root, reference, cached, None)
        .await
        .map(|(store, image, _)| (store, image))
}

/// [`provision`], pulling with `auth`'s credentials and transport (see
/// `crate::registry_auth::for_image`); a refused pull says which registry
/// refused and which credentials were tried. The returned hold keeps the
/// store's gc off from the lookup on: keep it until the rootfs is
/// prepared, so gc cannot remove the image in between.
pub async fn provision_with(
    root: &Path,
    reference: &str,
    cached: bool,
    auth: Option<&AuthFor<'_>>,
) -> Result<(ImageStore, Image, StoreHold), String> {
    let (r, name) = (root.to_path_buf(), reference.to_string());
    let fast = tokio::task::spawn_blocking(move || {
        let store = ImageStore::open(&r)
            .map_err(|e| format!("cannot open the image store {}: {e}", r.display()))?;
        let hold = store
            .hold()
            .map_err(|e| format!("cannot hold the image store {}: {e}", r.display()))?;
        let found = if cached {
            store.image_exact(&name).ok().flatten()
        } else {
            None
        };
        Ok::<_, String>((store, hold, found))
    })
    .await
    .map_err(|e| format!("image store: {e}"))??;
    match fast {
        (store, hold, Some(image)) => Ok((store, image, hold)),
        (store, hold, None) => provision_locked(root, store, reference, cached, auth)
            .await
            .map(|(store, image)| (store, image, hold)),
    }
}

/// Resolves the credentials of a pull. Called only when the image must be
/// pulled: resolving parses the reference (~50 ms of regex compilation in
/// a fresh executor), which a launch from a cached image never needs.
pub type AuthFor<'a> = dyn Fn() -> Result<PullAuth, String> + Send + Sync + 'a;

/// The slow path of [`provision`], under the executor lock: a name in
/// another spelling (parsed, ~50 ms for the reference regex), or a pull.
async fn provision_locked(
    root: &Path,
    store: ImageStore,
    reference: &str,
    cached: bool,
    auth: Option<&AuthFor<'_>>,
) -> Result<(ImageStore, Image), String> {
    let r = root.to_path_buf();
    let guard = tokio::task::spawn_blocking(move || lock(&r))
        .await
        .map_err(|e| format!("image store lock: {e}"))??;
    let found = if cached {
        let (s, name) = (store.clone(), reference.to_string());
        tokio::task::spawn_blocking(move || s.image(&name))
            .await
            .map_err(|e| format!("image store: {e}"))?
            .ok()
    } else {
        None
    };
    let image = match found {
        Some(i) => i,
        None => match auth.map(|resolve| resolve()).transpose()? {
            Some(a) => {
                tracing::info!(image = reference, cached, registry = %a.registry, credentials = ?a.source, "pulling");
                store
                    .pull_with(reference, a.credentials.clone(), a.insecure)
                    .await
                    .map_err(|e| a.pull_error(reference, &e))?
            }
            None => {
                tracing::info!(image = reference, cached, "pulling");
                store
                    .pull(reference, None)
                    .await
                    .map_err(|e| format!("cannot pull image {reference}: {e}"))?
            }
        },
    };
    drop(guard);
    Ok((store, image))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_work_dir_comes_from_the_mesos_sandbox_layout() {
        let sb = Path::new("/var/lib/p/slaves/a1/frameworks/f1/executors/e1/runs/c1");
        assert_eq!(work_dir_of(sb), Some(PathBuf::from("/var/lib/p")));
        assert_eq!(work_dir_of(Path::new("/tmp/sandbox")), None);
        assert_eq!(
            work_dir_of(Path::new("/x/slaves/a/frameworks/f/executors/e/other/c")),
            None
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_cached_image_needs_no_registry_and_cached_false_pulls_again() {
        let reg = paddock_images::testing::LocalRegistry::start().unwrap();
        let image = reg.push_busybox().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (_, first) = provision(dir.path(), &image, true).await.unwrap();
        drop(reg);
        let (_, again) = provision(dir.path(), &image, true).await.unwrap();
        assert_eq!(first.manifest_digest, again.manifest_digest);
        let err = provision(dir.path(), &image, false).await.unwrap_err();
        assert!(err.contains("cannot pull"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn gc_waits_for_a_launch_between_its_lookup_and_its_rootfs() {
        let reg = paddock_images::testing::LocalRegistry::start().unwrap();
        let image = reg.push_busybox().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (store, found, hold) = provision_with(dir.path(), &image, true, None)
            .await
            .unwrap();
        // A gc that removes every image not in use, in another thread.
        let (tx, rx) = std::sync::mpsc::channel();
        let gc_store = store.clone();
        let gc = std::thread::spawn(move || {
            let report = gc_store.gc_with(&paddock_images::GcOptions {
                remove_unused_images: true,
                in_use: vec![],
            });
            let _ = tx.send(());
            report
        });
        // While the launch holds the store, gc cannot remove the image.
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(500))
            .is_err());
        assert!(store.image_exact(&found.reference).unwrap().is_some());
        drop(hold);
        let report = gc.join().unwrap().unwrap();
        assert_eq!(report.images_removed, vec![found.reference.clone()]);
    }

    #[tokio::test]
    async fn a_missing_image_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        // Nothing listens on port 1: the pull fails at once.
        let err = provision(dir.path(), "127.0.0.1:1/nosuch:1", true)
            .await
            .unwrap_err();
        assert!(err.contains("127.0.0.1:1/nosuch:1"), "{err}");
    }
}
