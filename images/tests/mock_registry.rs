//! Pulls against the in-process mock registry: Bearer-token auth, a blob
//! with the wrong content, Docker manifest lists resolved to this host's
//! platform, unsupported media types. Every failure leaves the store empty.

mod support;

use paddock_images::media::{
    host_platform, DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST,
};
use paddock_images::testing::{layer_tar, Blob, Entry, TestImage};
use paddock_images::{Credentials, ImageError, ImageStore};
use serde_json::json;
use support::mock_registry::{Content, MockRegistry};

fn image() -> TestImage {
    TestImage::new(vec![
        layer_tar(&[Entry::dir("bin"), Entry::exec("bin/app", "app")]),
        layer_tar(&[Entry::file("etc/conf", "x=1\n")]),
    ])
}

/// `image` as a Docker v2 schema2 manifest under `name:tag`.
fn docker_content(img: &TestImage, name: &str, tag: &str) -> (Content, Blob) {
    let mut c = Content::default();
    let config = img.config();
    let layers = img.layers();
    c.blob(&config.digest, &config.bytes);
    for l in &layers {
        c.blob(&l.digest, &l.bytes);
    }
    let m = json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": config.bytes.len(), "digest": config.digest},
        "layers": layers.iter().map(|l| json!({"mediaType": DOCKER_LAYER_GZIP, "size": l.bytes.len(), "digest": l.digest})).collect::<Vec<_>>(),
    });
    let manifest = Blob::new(DOCKER_MANIFEST, serde_json::to_vec(&m).unwrap());
    c.manifest(name, tag, DOCKER_MANIFEST, &manifest.bytes);
    c.manifest(name, &manifest.digest, DOCKER_MANIFEST, &manifest.bytes);
    (c, manifest)
}

fn new_store() -> (tempfile::TempDir, ImageStore) {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(tmp.path().join("store")).unwrap();
    (tmp, store)
}

fn assert_store_empty(store: &ImageStore) {
    assert!(store.list().unwrap().is_empty());
    for d in ["blobs/sha256", "layers", "images", "tmp"] {
        let n = std::fs::read_dir(store.root().join(d)).unwrap().count();
        assert_eq!(n, 0, "{d} is not empty after a failed pull");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_schema2_manifest_pulls() {
    let img = image();
    let (content, manifest) = docker_content(&img, "team/app", "v1");
    let reg = MockRegistry::start(content).await;
    let (_tmp, store) = new_store();
    let got = store
        .pull(&format!("{}/team/app:v1", reg.host()), None)
        .await
        .unwrap();
    assert_eq!(got.manifest_digest, manifest.digest);
    assert_eq!(got.manifest_media_type, DOCKER_MANIFEST);
    assert_eq!(got.layers[0].media_type, DOCKER_LAYER_GZIP);
    assert!(store.layer_dirs(&got).unwrap()[0].join("bin/app").is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_auth_through_the_token_endpoint() {
    let img = image();
    let (mut content, _) = docker_content(&img, "private/app", "v1");
    content.bearer = Some(("alice".into(), "pw".into()));
    let reg = MockRegistry::start(content).await;
    let (_tmp, store) = new_store();
    let r = format!("{}/private/app:v1", reg.host());

    let err = store.pull(&r, None).await.unwrap_err();
    assert!(matches!(err, ImageError::Unauthorized { .. }), "{err}");
    let bad = Credentials::Basic {
        username: "alice".into(),
        password: "nope".into(),
    };
    let err = store.pull(&r, Some(bad)).await.unwrap_err();
    assert!(matches!(err, ImageError::Unauthorized { .. }), "{err}");
    assert_store_empty(&store);

    let good = Credentials::Basic {
        username: "alice".into(),
        password: "pw".into(),
    };
    let got = store.pull(&r, Some(good)).await.unwrap();
    assert_eq!(got.layers.len(), 2);
    // A ready-made token works too.
    let (_tmp2, store2) = new_store();
    let got2 = store2
        .pull(
            &r,
            Some(Credentials::Bearer(support::mock_registry::TOKEN.into())),
        )
        .await
        .unwrap();
    assert_eq!(got2.manifest_digest, got.manifest_digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_with_the_wrong_content_is_a_bad_digest_and_leaves_nothing() {
    let img = image();
    let (mut content, _) = docker_content(&img, "app", "v1");
    let layer = img.layers()[1].digest.clone();
    content.tamper.insert(layer.clone());
    let reg = MockRegistry::start(content).await;
    let (_tmp, store) = new_store();
    let err = store
        .pull(&format!("{}/app:v1", reg.host()), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ImageError::BadDigest { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!("bad digest for {layer}")),
        "{err}"
    );
    assert_store_empty(&store);

    // A tampered config too.
    let (mut content, _) = docker_content(&img, "app", "v1");
    content.tamper.insert(img.config().digest);
    let reg = MockRegistry::start(content).await;
    let err = store
        .pull(&format!("{}/app:v1", reg.host()), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ImageError::BadDigest { .. }), "{err}");
    assert_store_empty(&store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_that_does_not_match_its_pinned_digest_is_refused() {
    let img = image();
    let (mut content, manifest) = docker_content(&img, "app", "v1");
    let other = image().manifest();
    // Serve a different manifest under the pinned digest.
    content.manifest("app", &manifest.digest, DOCKER_MANIFEST, &other.bytes);
    let reg = MockRegistry::start(content).await;
    let (_tmp, store) = new_store();
    let err = store
        .pull(&format!("{}/app@{}", reg.host(), manifest.digest), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ImageError::BadDigest { .. }), "{err}");
    assert!(err.to_string().contains(&manifest.digest), "{err}");
    assert_store_empty(&store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_list_resolves_to_this_hosts_platform() {
    let (os, arch) = host_platform();
    let mine = image();
    let mut theirs = image();
    theirs.layer_tars[1] = layer_tar(&[Entry::file("etc/conf", "other platform\n")]);
    let (mut content, my_manifest) = docker_content(&mine, "multi", "mine");
    let (c2, their_manifest) = docker_content(&theirs, "multi", "theirs");
    for (d, b) in c2.blobs {
        content.blob(&d, &b);
    }
    content.manifest(
        "multi",
        &their_manifest.digest,
        DOCKER_MANIFEST,
        &their_manifest.bytes,
    );
    let other_arch = if arch == "arm64" { "amd64" } else { "arm64" };
    let list = json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST_LIST,
        "manifests": [
            {"mediaType": DOCKER_MANIFEST, "size": their_manifest.bytes.len(), "digest": their_manifest.digest,
             "platform": {"architecture": other_arch, "os": os, "variant": "v8"}},
            {"mediaType": DOCKER_MANIFEST, "size": my_manifest.bytes.len(), "digest": my_manifest.digest,
             "platform": {"architecture": arch, "os": os}},
        ]
    });
    content.manifest(
        "multi",
        "latest",
        DOCKER_MANIFEST_LIST,
        &serde_json::to_vec(&list).unwrap(),
    );
    let only_other = json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST_LIST,
        "manifests": [{"mediaType": DOCKER_MANIFEST, "size": their_manifest.bytes.len(), "digest": their_manifest.digest,
                       "platform": {"architecture": other_arch, "os": os}}]
    });
    content.manifest(
        "multi",
        "foreign",
        DOCKER_MANIFEST_LIST,
        &serde_json::to_vec(&only_other).unwrap(),
    );
    let reg = MockRegistry::start(content).await;
    let (_tmp, store) = new_store();

    let got = store
        .pull(&format!("{}/multi", reg.host()), None)
        .await
        .unwrap();
    assert_eq!(got.manifest_digest, my_manifest.digest);
    let conf = store.layer_dirs(&got).unwrap()[1].join("etc/conf");
    assert_eq!(std::fs::read_to_string(conf).unwrap(), "x=1\n");

    let err = store
        .pull(&format!("{}/multi:foreign", reg.host()), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImageError::NoMatchingPlatform { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&format!("{os}/{arch}")), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_media_types_are_named() {
    let img = image();
    let (mut content, _) = docker_content(&img, "odd", "v1");
    let schema1 = br#"{"schemaVersion":1,"name":"odd","tag":"s1","fsLayers":[]}"#;
    content.manifest(
        "odd",
        "s1",
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        schema1,
    );
    let artifact = json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "size": 2,
                   "digest": format!("sha256:{}", "0".repeat(64))},
        "layers": []
    });
    content.manifest(
        "odd",
        "helm",
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&artifact).unwrap(),
    );
    let reg = MockRegistry::start(content).await;
    let (_tmp, store) = new_store();
    let err = store
        .pull(&format!("{}/odd:s1", reg.host()), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ImageError::UnsupportedMediaType { .. }),
        "{err}"
    );
    let err = store
        .pull(&format!("{}/odd:helm", reg.host()), None)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("unsupported media type application/vnd.cncf.helm.config.v1+json"),
        "{err}"
    );
    assert_store_empty(&store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pulls_of_one_image_agree() {
    let img = image();
    let (content, manifest) = docker_content(&img, "app", "v1");
    let reg = MockRegistry::start(content).await;
    let (_tmp, store) = new_store();
    let r = format!("{}/app:v1", reg.host());
    let (a, b, c) = tokio::join!(
        store.pull(&r, None),
        store.pull(&r, None),
        store.pull(&r, None)
    );
    for got in [a, b, c] {
        assert_eq!(got.unwrap().manifest_digest, manifest.digest);
    }
    assert_eq!(store.list().unwrap().len(), 1);
    assert_eq!(
        std::fs::read_dir(store.root().join("layers"))
            .unwrap()
            .count(),
        2
    );
    assert_eq!(
        std::fs::read_dir(store.root().join("tmp")).unwrap().count(),
        0
    );
    let report = tokio::task::spawn_blocking({
        let s = store.clone();
        move || s.gc()
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!((report.blobs_removed, report.layers_removed), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_or_pull_uses_the_cache_unless_forced() {
    let v1 = image();
    let (content, m1) = docker_content(&v1, "app", "v1");
    let reg = MockRegistry::start(content).await;
    let (_tmp, store) = new_store();
    let r = format!("{}/app:v1", reg.host());
    assert_eq!(
        store
            .get_or_pull(&r, None, false)
            .await
            .unwrap()
            .manifest_digest,
        m1.digest
    );
    drop(reg);
    // The registry is gone: the cached image is still served...
    assert_eq!(
        store
            .get_or_pull(&r, None, false)
            .await
            .unwrap()
            .manifest_digest,
        m1.digest
    );
    // ...but a forced pull has to reach it.
    let err = store.get_or_pull(&r, None, true).await.unwrap_err();
    assert!(
        matches!(err, ImageError::RegistryUnreachable { .. }),
        "{err}"
    );
}
