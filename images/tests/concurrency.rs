//! Several handles on one store directory (as the agent and the executors
//! of image tasks are: separate processes, each with its own handle) and
//! gc with images in use. gc waits for imports in progress in any handle,
//! opening a store leaves live staging areas alone, and nothing an image
//! or a running container uses is ever removed.

use std::sync::mpsc;
use std::time::Duration;

use paddock_images::testing::{layer_tar, Entry, TestImage};
use paddock_images::{GcOptions, ImageStore};

fn image(marker: &str) -> TestImage {
    let base = layer_tar(&[Entry::dir("etc"), Entry::file("etc/base", "shared\n")]);
    let top = layer_tar(&[Entry::file("etc/marker", marker)]);
    TestImage::new(vec![base, top])
}

fn layers_on_disk(store: &ImageStore) -> usize {
    std::fs::read_dir(store.root().join("layers"))
        .unwrap()
        .count()
}

#[test]
fn an_upload_in_one_handle_survives_open_and_gc_in_another() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let a = ImageStore::open(&root).unwrap();
    let upload = a.begin_upload().unwrap();
    std::fs::write(upload.path(), image("a\n").oci_archive("img/a:1")).unwrap();

    // Another "process" opens the store (which sweeps dead staging areas)
    // and starts a gc while the upload is still open.
    let b = ImageStore::open(&root).unwrap();
    let (tx, rx) = mpsc::channel();
    let gc = std::thread::spawn(move || {
        let r = b.gc_with(&GcOptions::default());
        tx.send(()).unwrap();
        r
    });
    // gc holds off while the upload's lock is held: it has not finished
    // after a generous wait (it would be instant otherwise).
    assert!(
        rx.recv_timeout(Duration::from_millis(500)).is_err(),
        "gc ran while an upload was open in another handle"
    );
    let imported = a.import_upload(upload, "upload").unwrap();
    gc.join().unwrap().unwrap();
    assert_eq!(imported.len(), 1);
    let img = a.get("img/a:1").expect("imported image");
    for d in a.layer_dirs(&img).unwrap() {
        assert!(d.is_dir(), "{} removed", d.display());
    }
    assert_eq!(
        std::fs::read_dir(root.join("tmp")).unwrap().count(),
        0,
        "staging left behind"
    );
}

#[test]
fn gc_removes_unused_images_but_keeps_those_in_use_and_their_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("store")).unwrap();
    for (name, marker) in [("img/used:1", "u\n"), ("img/idle:1", "i\n")] {
        let p = tmp.path().join("x.tar");
        std::fs::write(&p, image(marker).oci_archive(name)).unwrap();
        store.import(&p).unwrap();
    }
    assert_eq!(layers_on_disk(&store), 3);

    // Plain gc keeps every image.
    let report = store.gc().unwrap();
    assert!(report.images_removed.is_empty());
    assert_eq!(store.list().unwrap().len(), 2);

    // A running container names the image in its own spelling.
    let report = store
        .gc_with(&GcOptions {
            remove_unused_images: true,
            in_use: vec!["docker.io/img/used:1".into()],
        })
        .unwrap();
    assert_eq!(report.images_removed, vec!["docker.io/img/idle:1"]);
    assert_eq!(report.layers_removed, 1, "only idle's own top layer");
    let used = store.get("img/used:1").expect("the image in use stays");
    for d in store.layer_dirs(&used).unwrap() {
        assert!(d.is_dir());
    }
    assert_eq!(layers_on_disk(&store), 2);

    // By manifest digest works the same.
    let report = store
        .gc_with(&GcOptions {
            remove_unused_images: true,
            in_use: vec![used.manifest_digest.clone()],
        })
        .unwrap();
    assert!(report.images_removed.is_empty());
    let report = store
        .gc_with(&GcOptions {
            remove_unused_images: true,
            in_use: vec![],
        })
        .unwrap();
    assert_eq!(report.images_removed, vec!["docker.io/img/used:1"]);
    assert_eq!(layers_on_disk(&store), 0);
}

#[test]
fn a_failed_upload_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("store")).unwrap();
    let upload = store.begin_upload().unwrap();
    std::fs::write(upload.path(), b"not a tarball at all").unwrap();
    let err = store.import_upload(upload, "request body").unwrap_err();
    assert!(err.to_string().contains("request body"), "{err}");
    assert!(store.list().unwrap().is_empty());
    assert_eq!(
        std::fs::read_dir(store.root().join("tmp")).unwrap().count(),
        0
    );
    assert_eq!(layers_on_disk(&store), 0);
}

#[test]
fn preparing_a_rootfs_records_the_last_use() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("store")).unwrap();
    let p = tmp.path().join("x.tar");
    std::fs::write(&p, image("m\n").oci_archive("img/m:1")).unwrap();
    let img = store.import(&p).unwrap().remove(0);
    assert!(store.last_used(&img).is_none());
    assert!(store.stored_at(&img).is_some());
    let rootfs = store
        .prepare_rootfs(
            &img,
            tmp.path().join("c1"),
            paddock_images::RootfsMode::Copy,
        )
        .unwrap();
    assert!(rootfs.path.join("etc/marker").is_file());
    assert!(store.last_used(&img).is_some());
}

#[test]
fn a_hold_keeps_gc_off_and_in_use_is_asked_under_the_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let store = ImageStore::open(&root).unwrap();
    let p = tmp.path().join("x.tar");
    std::fs::write(&p, image("h\n").oci_archive("img/h:1")).unwrap();
    store.import(&p).unwrap();

    // A "launching container" in another handle holds the store, and the
    // task it runs becomes known only after gc was asked to run.
    let other = ImageStore::open(&root).unwrap();
    let hold = other.hold().unwrap();
    let (started_tx, started_rx) = mpsc::channel();
    let (known_tx, known_rx) = mpsc::channel::<String>();
    let gc = std::thread::spawn(move || {
        started_tx.send(()).unwrap();
        store.gc_live(true, || known_rx.try_iter().collect())
    });
    started_rx.recv().unwrap();
    known_tx.send("img/h:1".into()).unwrap();
    drop(hold);
    let report = gc.join().unwrap().unwrap();
    assert!(report.images_removed.is_empty(), "{report:?}");
    assert!(other.get("img/h:1").is_some());
}
