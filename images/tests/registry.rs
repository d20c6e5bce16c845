//! Pulls from a real registry: Debian's docker-registry on 127.0.0.1, with
//! a busybox image pushed by skopeo. Needs the apt packages in
//! `paddock_images::testing::APT_PACKAGES`; fails with that list if a tool
//! is missing.

use paddock_images::testing::{busybox_image, free_port, LocalRegistry};
use paddock_images::{Credentials, ImageError, ImageStore, RootfsMode, StoreOptions};

fn harness<T>(r: Result<T, paddock_images::testing::HarnessError>) -> T {
    r.unwrap_or_else(|e| panic!("registry test harness: {e}"))
}

fn assert_store_empty(store: &ImageStore) {
    assert!(store.list().unwrap().is_empty());
    for d in ["blobs/sha256", "layers", "images", "tmp"] {
        let n = std::fs::read_dir(store.root().join(d)).unwrap().count();
        assert_eq!(n, 0, "{d} is not empty after a failed pull");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_busybox_from_a_local_registry_and_run_its_rootfs() {
    let reg = harness(LocalRegistry::start());
    let reference = harness(reg.push_busybox());
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("store")).unwrap();

    let img = store.pull(&reference, None).await.unwrap();
    assert_eq!(
        img.reference,
        format!("{}:test", reference.trim_end_matches(":test"))
    );
    assert_eq!(img.layers.len(), 2);
    assert_eq!(
        img.manifest_digest,
        busybox_image().unwrap().manifest().digest
    );
    assert_eq!(img.runtime_config().cmd, vec!["sh"]);
    assert_eq!(store.get(&reference).unwrap(), img);

    let s2 = store.clone();
    let img2 = img.clone();
    let target = tmp.path().join("c");
    let rootfs =
        tokio::task::spawn_blocking(move || s2.prepare_rootfs(&img2, target, RootfsMode::Copy))
            .await
            .unwrap()
            .unwrap();
    let bb = rootfs.path.join("bin/busybox");
    assert!(bb.is_file(), "no bin/busybox in the rootfs");
    assert_eq!(
        std::fs::read_link(rootfs.path.join("bin/sh")).unwrap(),
        std::path::Path::new("busybox")
    );
    // The unpacked busybox really runs.
    let out = std::process::Command::new(&bb)
        .args(["cat"])
        .arg(rootfs.path.join("etc/hello"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from paddock\n");

    // Pulling again changes nothing and by digest finds the same image.
    let blobs_before = std::fs::read_dir(store.root().join("blobs/sha256"))
        .unwrap()
        .count();
    let again = store.pull(&reference, None).await.unwrap();
    assert_eq!(again.manifest_digest, img.manifest_digest);
    let by_digest = format!("{}/busybox@{}", reg.addr(), img.manifest_digest);
    let pinned = store.pull(&by_digest, None).await.unwrap();
    assert_eq!(pinned.layers, img.layers);
    assert_eq!(
        std::fs::read_dir(store.root().join("blobs/sha256"))
            .unwrap()
            .count(),
        blobs_before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_registry_needs_the_right_credentials() {
    let reg = harness(LocalRegistry::start_with_basic_auth("paddock", "s3cret"));
    let reference = harness(reg.push_busybox());
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("store")).unwrap();

    let err = store.pull(&reference, None).await.unwrap_err();
    assert!(matches!(err, ImageError::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains(&reg.addr()), "{err}");
    let wrong = Credentials::Basic {
        username: "paddock".into(),
        password: "wrong".into(),
    };
    let err = store.pull(&reference, Some(wrong)).await.unwrap_err();
    assert!(matches!(err, ImageError::Unauthorized { .. }), "{err}");
    assert_store_empty(&store);

    let right = Credentials::Basic {
        username: "paddock".into(),
        password: "s3cret".into(),
    };
    let img = store.pull(&reference, Some(right)).await.unwrap();
    let dirs = store.layer_dirs(&img).unwrap();
    assert!(dirs[0].join("bin/busybox").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_image_and_unreachable_registry_are_named() {
    let reg = harness(LocalRegistry::start());
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("store")).unwrap();

    let err = store
        .pull(&format!("{}/nope:1", reg.addr()), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ImageError::NotInRegistry { .. }), "{err}");
    assert!(err.to_string().contains("nope"), "{err}");

    let port = harness(free_port());
    let err = store
        .pull(&format!("127.0.0.1:{port}/busybox:1"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImageError::RegistryUnreachable { .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("127.0.0.1:{port} is unreachable")),
        "{err}"
    );
    assert_store_empty(&store);

    assert!(store.get("busybox").is_none());
    assert!(matches!(
        store.image("busybox"),
        Err(ImageError::NotFound(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_registry_with_a_trusted_ca() {
    let reg = harness(LocalRegistry::start_tls());
    let reference = harness(reg.push_busybox());
    let tmp = tempfile::tempdir().unwrap();
    let ca = reg.ca_pem().expect("a TLS registry has a CA").to_vec();

    // Without the CA: the certificate is not trusted, and plain HTTP to a
    // TLS port does not work either.
    let untrusting = ImageStore::open(tmp.path().join("plain")).unwrap();
    let err = untrusting.pull(&reference, None).await.unwrap_err();
    assert!(
        matches!(err, ImageError::RegistryUnreachable { .. }),
        "{err}"
    );
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    assert_store_empty(&untrusting);

    let opts = StoreOptions {
        extra_root_certificates: vec![ca],
        ..StoreOptions::default()
    };
    let store = ImageStore::open_with(tmp.path().join("tls"), opts).unwrap();
    let img = store.pull(&reference, None).await.unwrap();
    assert!(store.layer_dirs(&img).unwrap()[0]
        .join("bin/busybox")
        .is_file());
}
