//! Property tests on untrusted input: arbitrary bytes or hostile entry
//! sequences as a layer, arbitrary manifests and references. Nothing
//! panics, and nothing is ever written outside the target directory.

mod support;

use std::path::Path;

use paddock_images::media::parse_manifest;
use paddock_images::unpack::{unpack_tar, UnpackOptions, WhiteoutFormat};
use paddock_images::{ImageRef, ImageStore};
use proptest::prelude::*;
use support::crafted::Crafted;
use tar::EntryType;

/// Names of everything in `dir` (one level).
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn sandbox() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rootfs")).unwrap();
    std::fs::create_dir(dir.path().join("outside")).unwrap();
    dir
}

fn assert_confined(dir: &Path) {
    assert_eq!(names(dir), vec!["outside", "rootfs"]);
    assert!(
        names(&dir.join("outside")).is_empty(),
        "wrote into outside/"
    );
}

fn opts(as_root: bool) -> UnpackOptions {
    UnpackOptions {
        whiteouts: if as_root {
            WhiteoutFormat::Overlay
        } else {
            WhiteoutFormat::Marker
        },
        as_root,
    }
}

/// Path pieces chosen to attack: climbing, absolute, through symlinks.
fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("..".to_string()),
        Just(".".to_string()),
        Just("a".to_string()),
        Just("b".to_string()),
        Just("evil".to_string()),
        Just("outside".to_string()),
        Just(".wh.a".to_string()),
        Just(".wh..wh..opq".to_string()),
        "[a-z]{1,3}",
    ]
}

fn hostile_path() -> impl Strategy<Value = String> {
    (any::<bool>(), prop::collection::vec(component(), 1..5)).prop_map(|(abs, parts)| {
        let p = parts.join("/");
        if abs {
            format!("/{p}")
        } else {
            p
        }
    })
}

#[derive(Debug, Clone)]
enum Op {
    File(String),
    Dir(String),
    Symlink(String, String),
    Hardlink(String, String),
}

fn op(outside: String) -> impl Strategy<Value = Op> {
    let target = prop_oneof![
        hostile_path(),
        Just(outside.clone()),
        Just(format!("{outside}/x")),
        Just("/".to_string()),
        Just("../../..".to_string()),
    ];
    prop_oneof![
        hostile_path().prop_map(Op::File),
        hostile_path().prop_map(Op::Dir),
        (hostile_path(), target.clone()).prop_map(|(p, t)| Op::Symlink(p, t)),
        (hostile_path(), target).prop_map(|(p, t)| Op::Hardlink(p, t)),
    ]
}

fn build(ops: &[Op]) -> Vec<u8> {
    let mut c = Crafted::new();
    for o in ops {
        c = match o {
            Op::File(p) => c.raw(p, EntryType::Regular, None, 0o644, b"payload"),
            Op::Dir(p) => c.raw(p, EntryType::Directory, None, 0o755, b""),
            Op::Symlink(p, t) => c.raw(p, EntryType::Symlink, Some(t), 0o777, b""),
            Op::Hardlink(p, t) => c.raw(p, EntryType::Link, Some(t), 0o644, b""),
        };
    }
    c.finish()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn hostile_entry_sequences_never_escape(seed_ops in prop::collection::vec(op("/OUTSIDE".into()), 1..12), as_root in any::<bool>()) {
        let dir = sandbox();
        let outside = dir.path().join("outside").display().to_string();
        // Point the "outside" targets at this sandbox's real outside dir.
        let ops: Vec<Op> = seed_ops.into_iter().map(|o| match o {
            Op::Symlink(p, t) => Op::Symlink(p, t.replace("/OUTSIDE", &outside)),
            Op::Hardlink(p, t) => Op::Hardlink(p, t.replace("/OUTSIDE", &outside)),
            o => o,
        }).collect();
        let tar = build(&ops);
        let as_root = as_root && nix::unistd::geteuid().is_root();
        let _ = unpack_tar(&tar[..], &dir.path().join("rootfs"), &opts(as_root), "fuzz");
        assert_confined(dir.path());
    }

    #[test]
    fn arbitrary_bytes_as_a_layer_never_panic_or_escape(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let dir = sandbox();
        let _ = unpack_tar(&bytes[..], &dir.path().join("rootfs"), &opts(false), "fuzz");
        assert_confined(dir.path());
    }

    #[test]
    fn mutated_layers_never_panic_or_escape(flips in prop::collection::vec((0usize..4096, any::<u8>()), 1..16)) {
        let dir = sandbox();
        let mut tar = build(&[
            Op::Symlink("evil".into(), "../outside".into()),
            Op::File("evil/x".into()),
            Op::Hardlink("h".into(), "../outside/x".into()),
            Op::File("a/b/c".into()),
        ]);
        let len = tar.len();
        for (i, b) in flips {
            tar[i % len] = b;
        }
        let _ = unpack_tar(&tar[..], &dir.path().join("rootfs"), &opts(false), "fuzz");
        assert_confined(dir.path());
    }

    #[test]
    fn arbitrary_manifest_json_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_manifest(&bytes, None, "fuzz");
        let _ = paddock_images::media::parse_config(&bytes, "fuzz");
    }

    #[test]
    fn manifest_shaped_json_never_panics(
        schema in prop_oneof![Just(serde_json::json!(2)), Just(serde_json::json!(1)), any::<i64>().prop_map(|n| serde_json::json!(n))],
        mt in prop_oneof![Just("application/vnd.oci.image.index.v1+json".to_string()), Just("application/vnd.docker.distribution.manifest.v2+json".to_string()), ".{0,20}"],
        digest in prop_oneof![Just(format!("sha256:{}", "a".repeat(64))), ".{0,80}"],
        size in any::<i64>(),
    ) {
        let j = serde_json::json!({
            "schemaVersion": schema, "mediaType": mt,
            "config": {"mediaType": mt, "digest": digest, "size": size},
            "layers": [{"mediaType": mt, "digest": digest, "size": size}],
            "manifests": [{"mediaType": mt, "digest": digest, "size": size, "platform": {"os": mt, "architecture": mt}}],
        });
        let _ = parse_manifest(&serde_json::to_vec(&j).unwrap(), Some(&mt), "fuzz");
    }

    #[test]
    fn arbitrary_references_never_panic_and_canonical_is_stable(s in ".{0,300}") {
        if let Ok(r) = ImageRef::parse(&s) {
            let c = r.canonical();
            let again = ImageRef::parse(&c).expect("a canonical reference parses");
            prop_assert_eq!(again.canonical(), c);
        }
    }

    #[test]
    fn reference_shaped_strings_never_panic(
        host in "[a-z0-9.:-]{0,20}", path in "[a-zA-Z0-9/._-]{0,40}", tag in "[a-zA-Z0-9:@._-]{0,80}"
    ) {
        let _ = ImageRef::parse(&format!("{host}/{path}:{tag}"));
        let _ = ImageRef::parse(&format!("{path}@{tag}"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_archives_never_panic_and_leave_the_store_empty(bytes in prop::collection::vec(any::<u8>(), 0..2048), gz in any::<bool>()) {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(tmp.path().join("store")).unwrap();
        let data = if gz { paddock_images::testing::gzip(&bytes) } else { bytes };
        let file = tmp.path().join("in.tar");
        std::fs::write(&file, data).unwrap();
        prop_assert!(store.import(&file).is_err());
        prop_assert!(store.list().unwrap().is_empty());
        for d in ["blobs/sha256", "layers", "images", "tmp"] {
            prop_assert_eq!(std::fs::read_dir(store.root().join(d)).unwrap().count(), 0);
        }
    }
}
