//! cgroup v2, for real: boots a user-mode-linux guest (Debian's
//! `user-mode-linux`) whose root is the host filesystem, mounts a cgroup2
//! hierarchy in it, and runs this crate's `cgroups` test binary there with
//! v2 expected. The same tests that prove enforcement on the v1 host (OOM
//! kill, CFS throttling, pids.max, teardown) then prove it through the v2
//! files (memory.max, cpu.max, pids.max, memory.events).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn uml() -> PathBuf {
    for p in ["/usr/bin/linux.uml", "/usr/bin/linux"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "user-mode-linux is not installed (apt-get install user-mode-linux; scripts/setup.sh does)"
    );
}

/// The newest `cgroups-<hash>` test executable next to this one.
fn cgroups_test_binary() -> PathBuf {
    let me = std::env::current_exe().unwrap();
    let dir = me.parent().unwrap();
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with("cgroups-") && !n.contains('.')
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, p)| p)
        .expect("the cgroups test binary (cargo builds it with this test)")
}

#[test]
fn cgroup_v2_enforcement_in_a_uml_guest() {
    let kernel = uml();
    let bin = cgroups_test_binary();
    let out = tempfile::tempdir().unwrap();
    let o = out.path().display().to_string();
    let script = out.path().join("init.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             mount -t proc proc /proc\n\
             mount -t sysfs sysfs /sys\n\
             mount -t devtmpfs devtmpfs /dev 2>/dev/null\n\
             mount -t cgroup2 none /sys/fs/cgroup || echo 'cgroup2 mount failed' > {o}/log\n\
             cat /sys/fs/cgroup/cgroup.controllers > {o}/controllers\n\
             cd /\n\
             PADDOCK_EXPECT_CGROUP_V2=1 {bin} --test-threads=1 >> {o}/log 2>&1\n\
             echo $? > {o}/rc\n\
             echo o > /proc/sysrq-trigger\n",
            bin = bin.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mut child = Command::new(&kernel)
        .args([
            "mem=768M",
            "rootfstype=hostfs",
            "rootflags=/",
            "rw",
            &format!("init={}", script.display()),
            "con=null",
            "con0=null,fd:2",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(out.path().join("console")).unwrap())
        .spawn()
        .expect("boot the UML guest");
    // Bounded: the guest powers itself off when the tests end.
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(out.path().join("log")).unwrap_or_default();
    let controllers = std::fs::read_to_string(out.path().join("controllers")).unwrap_or_default();
    let rc = std::fs::read_to_string(out.path().join("rc")).unwrap_or_default();
    assert!(
        controllers.contains("memory")
            && controllers.contains("cpu")
            && controllers.contains("pids"),
        "guest controllers: {controllers:?}\n{log}"
    );
    assert_eq!(
        rc.trim(),
        "0",
        "the cgroup tests failed inside the v2 guest:\n{log}"
    );
    // The guest really ran them, in v2 mode.
    assert!(log.contains("test detects_the_hosts_mode ... ok"), "{log}");
    assert!(
        log.contains("test memory_hog_is_oom_killed_and_counted ... ok"),
        "{log}"
    );
    assert!(
        log.contains("test busy_loop_is_throttled_to_its_quota ... ok"),
        "{log}"
    );
}
