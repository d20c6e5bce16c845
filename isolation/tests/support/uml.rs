//! Running host-built test binaries in a cgroup v2 user-mode-linux guest
//! (`isolation/tests/uml-v2.sh`), shared by the crates whose tests prove
//! themselves on v2 that way: `#[path]`-include this file.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The newest `<name>-<hash>` test executable next to this one (cargo
/// builds every integration test of the crate before running any) that
/// holds the test `marker`, so a same-named test of another crate in the
/// shared target directory is never picked.
pub fn test_binary(name: &str, marker: &str) -> PathBuf {
    let me = std::env::current_exe().unwrap();
    let dir = me.parent().unwrap();
    let prefix = format!("{name}-");
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(&prefix) && !n.contains('.')
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    found.sort();
    let want = format!("{marker}: test");
    found
        .into_iter()
        .rev()
        .map(|(_, p)| p)
        .find(|p| {
            Command::new(p)
                .arg("--list")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(&want))
        })
        .unwrap_or_else(|| {
            panic!(
                "no {name} test binary with {marker} in {}: build the crate's tests first \
                 (`cargo test -p CRATE --no-run`)",
                dir.display()
            )
        })
}

/// Boots the guest, runs `binaries` there with v2 expected and returns
/// their output; panics (with it) unless every one passed, and unless the
/// guest's root cgroup offers the cpu, memory and pids controllers.
pub fn run_in_v2_guest(binaries: &[PathBuf]) -> String {
    if !Path::new("/usr/bin/linux.uml").exists() && !Path::new("/usr/bin/linux").exists() {
        panic!(
            "user-mode-linux is not installed: `apt-get install user-mode-linux` \
             (scripts/setup.sh does) to test cgroup v2 in a guest"
        );
    }
    // Both crates live at the workspace root.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../isolation/tests/uml-v2.sh");
    let out = Command::new("sh")
        .arg(&script)
        .args(binaries)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the tests failed inside the cgroup v2 guest ({:?}):\n{log}\n{err}",
        out.status
    );
    let controllers = log.lines().next().unwrap_or_default();
    for c in ["cpu", "memory", "pids"] {
        assert!(controllers.contains(c), "{controllers}");
    }
    log
}

/// Panics unless the guest's `log` shows each of `tests` passing.
pub fn assert_passed(log: &str, tests: &[&str]) {
    for t in tests {
        assert!(log.contains(&format!("test {t} ... ok")), "{t}:\n{log}");
    }
}
