//! prepare_rootfs: overlay and copy give the same view of a layered image,
//! with whiteouts and opaque directories applied.

use std::path::Path;

use paddock_images::testing::{layer_tar, Entry, TestImage};
use paddock_images::{ImageStore, RootfsKind, RootfsMode};

fn layered() -> TestImage {
    let l1 = layer_tar(&[
        Entry::dir("etc"),
        Entry::file("etc/keep", "1"),
        Entry::file("etc/gone", "1"),
        Entry::dir("opaque"),
        Entry::file("opaque/old", "1"),
        Entry::dir("opaque/sub"),
        Entry::file("opaque/sub/deep", "1"),
        Entry::exec("bin/tool", "tool v1"),
        Entry::symlink("bin/alias", "tool"),
        Entry::Hardlink {
            path: "bin/hard".into(),
            target: "bin/tool".into(),
        },
    ]);
    let l2 = layer_tar(&[
        Entry::Whiteout {
            path: "etc/gone".into(),
        },
        Entry::Opaque {
            dir: "opaque".into(),
        },
        Entry::file("opaque/new", "2"),
        Entry::exec("bin/tool", "tool v2"),
    ]);
    let l3 = layer_tar(&[Entry::file("etc/gone", "back in layer 3")]);
    TestImage::new(vec![l1, l2, l3])
}

fn check_view(root: &Path) {
    assert_eq!(std::fs::read_to_string(root.join("etc/keep")).unwrap(), "1");
    assert_eq!(
        std::fs::read_to_string(root.join("etc/gone")).unwrap(),
        "back in layer 3"
    );
    assert!(
        !root.join("opaque/old").exists(),
        "opaque dir kept a lower file"
    );
    assert!(
        !root.join("opaque/sub").exists(),
        "opaque dir kept a lower dir"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("opaque/new")).unwrap(),
        "2"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("bin/tool")).unwrap(),
        "tool v2"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("bin/alias")).unwrap(),
        "tool v2"
    );
    assert_eq!(
        std::fs::read_link(root.join("bin/alias")).unwrap(),
        Path::new("tool")
    );
    assert_eq!(
        std::fs::read_to_string(root.join("bin/hard")).unwrap(),
        "tool v1"
    );
    assert!(!root.join(".wh.gone").exists() && !root.join("opaque/.wh..wh..opq").exists());
}

fn store_with_image(tmp: &Path) -> (ImageStore, paddock_images::Image) {
    let store = ImageStore::open(tmp.join("store")).unwrap();
    let file = tmp.join("img.tar");
    std::fs::write(&file, layered().oci_archive("test/layered:1")).unwrap();
    let img = store.import(&file).unwrap().remove(0);
    (store, img)
}

#[test]
fn copy_mode_applies_whiteouts_and_opaque_dirs() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, img) = store_with_image(tmp.path());
    let rootfs = store
        .prepare_rootfs(&img, tmp.path().join("c1"), RootfsMode::Copy)
        .unwrap();
    assert_eq!(rootfs.kind, RootfsKind::Copy);
    check_view(&rootfs.path);
    // The container's writes do not reach the shared layers.
    std::fs::write(rootfs.path.join("etc/keep"), "changed").unwrap();
    let dirs = store.layer_dirs(&img).unwrap();
    assert_eq!(
        std::fs::read_to_string(dirs[0].join("etc/keep")).unwrap(),
        "1"
    );
    // A second rootfs into a non-empty target is refused.
    assert!(store
        .prepare_rootfs(&img, tmp.path().join("c1"), RootfsMode::Copy)
        .is_err());
}

#[test]
fn overlay_mode_gives_the_same_view() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("SKIP overlay_mode_gives_the_same_view: needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (store, img) = store_with_image(tmp.path());
    let rootfs = match store.prepare_rootfs(&img, tmp.path().join("o1"), RootfsMode::Overlay) {
        Ok(r) => r,
        Err(e) => panic!("overlay should work as root on this kernel: {e}"),
    };
    assert_eq!(rootfs.kind, RootfsKind::Overlay);
    check_view(&rootfs.path);
    std::fs::write(rootfs.path.join("etc/keep"), "changed").unwrap();
    assert_eq!(
        std::fs::read_to_string(rootfs.upper.join("etc/keep")).unwrap(),
        "changed"
    );
    let dirs = store.layer_dirs(&img).unwrap();
    assert_eq!(
        std::fs::read_to_string(dirs[0].join("etc/keep")).unwrap(),
        "1"
    );
    rootfs.release().unwrap();
    assert!(
        !rootfs.path.join("etc").exists(),
        "still mounted after release"
    );

    let auto = store
        .prepare_rootfs(&img, tmp.path().join("a1"), RootfsMode::Auto)
        .unwrap();
    assert_eq!(
        auto.kind,
        RootfsKind::Overlay,
        "auto picks overlay when it can"
    );
    auto.release().unwrap();
}

#[test]
fn runtime_config_is_exposed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("store")).unwrap();
    let mut img = layered();
    img.runtime = serde_json::json!({
        "Entrypoint": ["/bin/tool"], "Cmd": ["--serve"], "Env": ["A=1"],
        "WorkingDir": "/srv", "User": "nobody", "ExposedPorts": {"8080/tcp": {}}
    });
    let file = tmp.path().join("img.tar");
    std::fs::write(&file, img.oci_archive("test/cfg:1")).unwrap();
    let got = store.import(&file).unwrap().remove(0).runtime_config();
    assert_eq!(got.default_argv(), vec!["/bin/tool", "--serve"]);
    assert_eq!(got.env, vec!["A=1"]);
    assert_eq!(got.working_dir.as_deref(), Some("/srv"));
    assert_eq!(got.user.as_deref(), Some("nobody"));
    assert_eq!(got.exposed_ports, vec!["8080/tcp"]);
}
