//! `runc`, the baseline the container benchmarks measure Paddock against in
//! the same run: a bundle of the image's rootfs made by `runc spec`, one
//! `runc run --detach`, and a burst of them from as many threads as there
//! are CPUs. The rootfs is the one `paddock dev`'s agent unpacked, found
//! in its image store ([`rootfs_of`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use paddock_images::{ImageStore, Rootfs, RootfsMode};
use serde_json::{json, Value};

/// The image store of `paddock dev`'s agent under `dir`.
pub fn find_store(dir: &Path) -> Option<PathBuf> {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if d.file_name().is_some_and(|n| n == "images") && d.join("layers").is_dir() {
            return Some(d);
        }
        for e in std::fs::read_dir(&d).ok()?.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    None
}

/// A copy of `image`'s rootfs from the agent's store under `dev_dir`, in
/// `dev_dir/runc`.
pub fn rootfs_of(dev_dir: &Path, image: &str) -> Rootfs {
    let store_root = find_store(dev_dir).expect("the agent's image store");
    let store = ImageStore::open(&store_root).expect("open the store");
    let img = store.image(image).expect("the pulled image");
    store
        .prepare_rootfs(&img, dev_dir.join("runc"), RootfsMode::Copy)
        .expect("runc rootfs")
}

fn run_ok(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What a bundle's containers get.
pub struct BundleOptions<'a> {
    pub name: &'a str,
    /// Shared by every container of a burst, so read-only.
    pub readonly: bool,
    /// Host networking, as Paddock's containers have by default (`runc
    /// spec` asks for a network namespace of their own).
    pub host_network: bool,
    /// A memory limit in bytes, as Paddock's tasks have one.
    pub memory_limit: Option<u64>,
}

/// A bundle from `runc spec` whose root is `rootfs`, running `sleep 1000`.
pub fn bundle(dir: &Path, rootfs: &Path, o: &BundleOptions) -> PathBuf {
    let bundle = dir.join(o.name);
    std::fs::create_dir_all(&bundle).expect("bundle dir");
    run_ok(
        Command::new("runc").arg("spec").current_dir(&bundle),
        "runc spec",
    );
    let path = bundle.join("config.json");
    let mut spec: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("config.json")).expect("spec json");
    spec["root"] = json!({"path": rootfs, "readonly": o.readonly});
    spec["process"]["terminal"] = json!(false);
    spec["process"]["args"] = json!(["/bin/busybox", "sleep", "1000"]);
    if o.host_network {
        if let Some(ns) = spec["linux"]["namespaces"].as_array_mut() {
            ns.retain(|n| n["type"] != "network");
        }
    }
    if let Some(limit) = o.memory_limit {
        spec["linux"]["resources"]["memory"] = json!({"limit": limit});
    }
    std::fs::write(&path, spec.to_string()).expect("write config.json");
    bundle
}

/// `runc run --detach`: returns once the container's process runs.
/// The container inherits runc's stdio, so it goes to a file: a pipe would
/// stay open as long as the container runs.
pub fn run_detached(bundle: &Path, id: &str, log: &Path) -> Duration {
    let err = std::fs::File::create(log).expect("runc log");
    let t0 = Instant::now();
    let status = Command::new("runc")
        .args(["run", "--detach", "--bundle"])
        .arg(bundle)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .status()
        .expect("run runc");
    let elapsed = t0.elapsed();
    assert!(
        status.success(),
        "runc run failed: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    elapsed
}

/// Kills and deletes container `id`.
pub fn remove(id: &str) {
    let _ = Command::new("runc").args(["kill", id, "KILL"]).output();
    let _ = Command::new("runc")
        .args(["delete", "--force", id])
        .output();
}

/// How many containers a burst starts at a time: one per CPU.
pub fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(2, |p| p.get())
}

/// Runs `f(i)` for every `i < n` on [`parallelism`] threads.
fn on_every_cpu(n: usize, f: impl Fn(usize) + Sync) {
    let next = AtomicUsize::new(0);
    let threads = parallelism();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                f(i);
            });
        }
    });
}

/// Starts `n` containers of `bundle` (ids `<prefix>-<i>`), as many at a
/// time as there are CPUs, and returns the wall time until the last one
/// runs. They keep running until [`remove_burst`].
pub fn burst(bundle: &Path, prefix: &str, n: usize, log_dir: &Path) -> Duration {
    let t0 = Instant::now();
    on_every_cpu(n, |i| {
        let id = format!("{prefix}-{i}");
        run_detached(bundle, &id, &log_dir.join(format!("{id}.log")));
    });
    t0.elapsed()
}

/// Removes what [`burst`] started.
pub fn remove_burst(prefix: &str, n: usize) {
    on_every_cpu(n, |i| remove(&format!("{prefix}-{i}")));
}
