//! `import` of docker-save archives and OCI layout tarballs: images land
//! with every digest checked; a corrupt archive, a bad digest or an
//! unsupported media type is a clear error and leaves the store unchanged.

use std::path::Path;

use paddock_images::testing::{layer_tar, Entry, TestImage};
use paddock_images::{ImageError, ImageStore};

fn two_layer_image() -> TestImage {
    let base = layer_tar(&[
        Entry::dir("etc"),
        Entry::file("etc/os-release", "NAME=test\n"),
        Entry::file("etc/gone", "will be removed\n"),
        Entry::exec("bin/tool", "#!/bin/sh\necho hi\n"),
    ]);
    let top = layer_tar(&[
        Entry::file("etc/motd", "hello\n"),
        Entry::Whiteout {
            path: "etc/gone".into(),
        },
    ]);
    TestImage::new(vec![base, top])
}

/// Everything under `root`, relative, sorted (files and dirs).
fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The store's content, without the (always cleaned) tmp/ and the lock file.
fn store_tree(store: &ImageStore) -> Vec<String> {
    tree(store.root())
        .into_iter()
        .filter(|p| p != "tmp" && !p.starts_with("tmp/") && p != ".lock")
        .collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn oci_archive_imports_with_its_name() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("store")).unwrap();
    let img = two_layer_image();
    let file = write(
        tmp.path(),
        "img.tar",
        &img.oci_archive("registry.example/team/app:1.2"),
    );
    let images = store.import(&file).unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].reference, "registry.example/team/app:1.2");
    assert_eq!(images[0].manifest_digest, img.manifest().digest);
    assert_eq!(images[0].layers.len(), 2);
    assert_eq!(images[0].runtime_config().cmd, vec!["sh"]);
    let got = store.get("registry.example/team/app:1.2").unwrap();
    assert_eq!(got, images[0]);
    assert_eq!(
        store.get(&img.manifest().digest).unwrap().reference,
        "registry.example/team/app:1.2"
    );
    let dirs = store.layer_dirs(&got).unwrap();
    assert!(dirs[0].join("etc/os-release").is_file());
    assert!(dirs[1].join("etc/motd").is_file());
    assert_eq!(store.list().unwrap().len(), 1);
}

#[test]
fn docker_save_imports_every_repo_tag_and_shares_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("store")).unwrap();
    let img = two_layer_image();
    let file = write(
        tmp.path(),
        "save.tar",
        &img.docker_save_archive(&["busybox:latest", "localhost:5000/tools:v1"]),
    );
    let images = store.import(&file).unwrap();
    let names: Vec<_> = images.iter().map(|i| i.reference.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "docker.io/library/busybox:latest",
            "localhost:5000/tools:v1"
        ]
    );
    assert!(
        store.get("busybox").is_some(),
        "short names resolve like docker"
    );
    assert_eq!(images[0].layers, images[1].layers);
    // Two images, one unpacked copy of each layer.
    let layers = std::fs::read_dir(store.root().join("layers"))
        .unwrap()
        .count();
    assert_eq!(layers, 2);
    // A second import of the same archive is idempotent.
    store.import(&file).unwrap();
    assert_eq!(
        std::fs::read_dir(store.root().join("layers"))
            .unwrap()
            .count(),
        2
    );
}

fn assert_nothing_stored(store: &ImageStore) {
    assert!(store.list().unwrap().is_empty());
    let left = store_tree(store);
    assert_eq!(
        left,
        vec!["blobs", "blobs/sha256", "images", "layers"],
        "store not empty"
    );
    let tmp: Vec<_> = std::fs::read_dir(store.root().join("tmp"))
        .unwrap()
        .collect();
    assert!(tmp.is_empty(), "staging left behind");
}

#[test]
fn a_corrupt_tarball_is_named_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("store")).unwrap();
    let mut bytes = two_layer_image().oci_archive("x/y:z");
    let cut = bytes.len() / 2;
    bytes.truncate(cut);
    let file = write(tmp.path(), "cut.tar", &bytes);
    let err = store.import(&file).unwrap_err();
    assert!(matches!(err, ImageError::CorruptArchive { .. }), "{err}");
    assert!(err.to_string().contains("cut.tar"), "{err}");
    assert_nothing_stored(&store);

    let file = write(
        tmp.path(),
        "garbage.tar.gz",
        &[0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7],
    );
    let err = store.import(&file).unwrap_err();
    assert!(matches!(err, ImageError::CorruptArchive { .. }), "{err}");
    assert_nothing_stored(&store);

    let file = write(
        tmp.path(),
        "empty.tar",
        &paddock_images::testing::plain_tar(&[("x".into(), b"y".to_vec())]),
    );
    let err = store.import(&file).unwrap_err();
    assert!(
        err.to_string().contains("neither an OCI image layout"),
        "{err}"
    );
    assert_nothing_stored(&store);
}

/// An OCI archive whose blob `hex` has been replaced by `bytes`.
fn tampered(img: &TestImage, hex: &str, bytes: &[u8]) -> Vec<u8> {
    let archive = img.oci_archive("x/y:z");
    let mut ar = tar::Archive::new(&archive[..]);
    let mut files = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if name.ends_with(hex) {
            data = bytes.to_vec();
        }
        files.push((name, data));
    }
    paddock_images::testing::plain_tar(&files)
}

#[test]
fn a_bad_layer_digest_is_named_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("store")).unwrap();
    let img = two_layer_image();
    let layer = img.layers()[1].clone();
    let mut evil = layer.bytes.clone();
    let last = evil.len() - 1;
    evil[last] ^= 1;
    let file = write(tmp.path(), "bad.tar", &tampered(&img, layer.hex(), &evil));
    let err = store.import(&file).unwrap_err();
    assert!(
        matches!(
            err,
            ImageError::BadDigest { .. } | ImageError::BadSize { .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(&layer.digest), "{err}");
    assert_nothing_stored(&store);
}

#[test]
fn a_bad_diff_id_is_named_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("store")).unwrap();
    let mut img = two_layer_image();
    img.gzip_layers = false;
    // docker save layers are uncompressed; their digest must be the diff_id.
    let mut archive = img.docker_save_archive(&["a/b:c"]);
    // Flip a byte inside the first layer's file content (after its header).
    let pos = 512 + 600;
    archive[pos] ^= 0x20;
    let file = write(tmp.path(), "save.tar", &archive);
    let err = store.import(&file).unwrap_err();
    assert!(matches!(err, ImageError::BadDiffId { .. }), "{err}");
    assert!(err.to_string().contains(&img.diff_ids()[0]), "{err}");
    assert_nothing_stored(&store);
}

#[test]
fn an_unsupported_media_type_is_named_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("store")).unwrap();
    let img = two_layer_image();
    let manifest = img.manifest();
    let text = String::from_utf8(manifest.bytes.clone()).unwrap();
    let helm = text.replacen(
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
        1,
    );
    // Re-point the index at the edited manifest.
    let archive = img.oci_archive("x/y:z");
    let mut ar = tar::Archive::new(&archive[..]);
    let new_digest = paddock_images::digest::sha256_of(helm.as_bytes());
    let mut files = Vec::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if name == "index.json" {
            let s = String::from_utf8(data)
                .unwrap()
                .replace(&manifest.digest, &new_digest)
                .replace(
                    &format!("\"size\":{}", manifest.bytes.len()),
                    &format!("\"size\":{}", helm.len()),
                );
            data = s.into_bytes();
        }
        files.push((name, data));
    }
    files.push((
        format!("blobs/sha256/{}", new_digest.trim_start_matches("sha256:")),
        helm.into_bytes(),
    ));
    let file = write(
        tmp.path(),
        "helm.tar",
        &paddock_images::testing::plain_tar(&files),
    );
    let err = store.import(&file).unwrap_err();
    assert!(
        err.to_string()
            .contains("unsupported media type application/vnd.cncf.helm.chart.content.v1.tar+gzip"),
        "{err}"
    );
    assert_nothing_stored(&store);
}

#[test]
fn archive_entries_cannot_point_outside() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("store")).unwrap();
    std::fs::write(tmp.path().join("secret.json"), b"{}").unwrap();
    let manifest = serde_json::json!([{"Config": "../../../secret.json", "RepoTags": ["a/b:c"], "Layers": ["/etc/passwd"]}]);
    let file = write(
        tmp.path(),
        "evil.tar",
        &paddock_images::testing::plain_tar(&[(
            "manifest.json".into(),
            serde_json::to_vec(&manifest).unwrap(),
        )]),
    );
    let err = store.import(&file).unwrap_err();
    assert!(matches!(err, ImageError::CorruptArchive { .. }), "{err}");
    assert!(err.to_string().contains("secret.json"), "{err}");
    assert_nothing_stored(&store);
}

#[test]
fn rm_and_gc_free_what_no_image_uses() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("store")).unwrap();
    let a = two_layer_image();
    let mut b = two_layer_image();
    b.layer_tars[1] = layer_tar(&[Entry::file("etc/other", "b\n")]);
    store
        .import(write(tmp.path(), "a.tar", &a.oci_archive("img/a:1")))
        .unwrap();
    store
        .import(write(tmp.path(), "b.tar", &b.oci_archive("img/b:1")))
        .unwrap();
    assert_eq!(
        std::fs::read_dir(store.root().join("layers"))
            .unwrap()
            .count(),
        3
    );
    let report = store.gc().unwrap();
    assert_eq!((report.blobs_removed, report.layers_removed), (0, 0));

    store.rm("img/a:1").unwrap();
    assert!(store.get("img/a:1").is_none());
    assert!(matches!(store.rm("img/a:1"), Err(ImageError::NotFound(_))));
    let report = store.gc().unwrap();
    // a's manifest, config and top layer blob; its top layer dir.
    assert_eq!((report.blobs_removed, report.layers_removed), (3, 1));
    let bimg = store.get("img/b:1").unwrap();
    for d in store.layer_dirs(&bimg).unwrap() {
        assert!(d.is_dir());
    }
    store.rm("img/b:1").unwrap();
    store.gc().unwrap();
    assert_nothing_stored(&store);
}

#[test]
fn zstd_and_uncompressed_layers_import() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("store")).unwrap();
    let mut z = two_layer_image();
    z.zstd_layers = true;
    let img = store
        .import(write(tmp.path(), "z.tar", &z.oci_archive("img/z:1")))
        .unwrap()
        .remove(0);
    assert_eq!(
        img.layers[0].media_type,
        "application/vnd.oci.image.layer.v1.tar+zstd"
    );
    assert!(store.layer_dirs(&img).unwrap()[0]
        .join("etc/os-release")
        .is_file());
    let mut plain = two_layer_image();
    plain.gzip_layers = false;
    let img = store
        .import(write(tmp.path(), "p.tar", &plain.oci_archive("img/p:1")))
        .unwrap()
        .remove(0);
    assert_eq!(img.layers[0].digest, img.layers[0].diff_id);
    // Same diff_ids as the zstd image: the unpacked layers are shared.
    assert_eq!(
        std::fs::read_dir(store.root().join("layers"))
            .unwrap()
            .count(),
        2
    );
}

#[test]
fn multi_frame_zstd_layers_decode_fully() {
    use std::io::Read;
    let tar = layer_tar(&[
        Entry::file("a", "first frame"),
        Entry::file("b", "second frame"),
    ]);
    let (one, two) = tar.split_at(512 * 2);
    let mut z = ruzstd::encoding::compress_to_vec(one, ruzstd::encoding::CompressionLevel::Fastest);
    z.extend(ruzstd::encoding::compress_to_vec(
        two,
        ruzstd::encoding::CompressionLevel::Fastest,
    ));
    let mut out = Vec::new();
    paddock_images::unpack::decompress(&z[..])
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    assert_eq!(out, tar);
}
