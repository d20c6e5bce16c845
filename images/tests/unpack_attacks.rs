//! Crafted layers that try to write outside the rootfs. Each test unpacks
//! into `<tmp>/rootfs` and checks that nothing appeared in `<tmp>` (or at the
//! absolute host path the layer aimed at), and where the entry went instead.

mod support;

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use paddock_images::unpack::{unpack_tar, UnpackOptions, WhiteoutFormat};
use paddock_images::ImageError;
use support::crafted::Crafted;
use tar::EntryType;

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rootfs")).unwrap();
        std::fs::create_dir(dir.path().join("outside")).unwrap();
        std::fs::write(dir.path().join("outside/victim"), b"original").unwrap();
        Sandbox { dir }
    }

    fn outer(&self) -> &Path {
        self.dir.path()
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    fn unpack(&self, tar: &[u8]) -> Result<(), ImageError> {
        self.unpack_with(tar, WhiteoutFormat::Marker, false)
    }

    fn unpack_with(
        &self,
        tar: &[u8],
        whiteouts: WhiteoutFormat,
        as_root: bool,
    ) -> Result<(), ImageError> {
        let opts = UnpackOptions { whiteouts, as_root };
        unpack_tar(tar, &self.rootfs(), &opts, "test-layer").map(|_| ())
    }

    /// Nothing but rootfs/ and the untouched outside/victim in the sandbox.
    fn assert_outside_untouched(&self) {
        let mut top: Vec<String> = std::fs::read_dir(self.outer())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        top.sort();
        assert_eq!(top, vec!["outside", "rootfs"]);
        let outside: Vec<_> = std::fs::read_dir(self.outer().join("outside"))
            .unwrap()
            .collect();
        assert_eq!(outside.len(), 1, "something was written into outside/");
        assert_eq!(
            std::fs::read(self.outer().join("outside/victim")).unwrap(),
            b"original"
        );
        assert_eq!(
            std::fs::metadata(self.outer().join("outside/victim"))
                .unwrap()
                .nlink(),
            1
        );
    }
}

fn unique(tag: &str) -> String {
    format!("paddock-{tag}-{}", uuid::Uuid::new_v4().simple())
}

#[test]
fn dotdot_paths_stay_inside() {
    let sb = Sandbox::new();
    let name = unique("etc");
    let tar = Crafted::new()
        .file("../escape", b"x")
        .file(&format!("../../etc/{name}"), b"x")
        .file("a/../../../outside/victim", b"overwritten?")
        .finish();
    sb.unpack(&tar).unwrap();
    sb.assert_outside_untouched();
    assert!(!Path::new("/etc").join(&name).exists());
    assert!(sb.rootfs().join("escape").is_file());
    assert!(sb.rootfs().join("etc").join(&name).is_file());
    assert_eq!(
        std::fs::read(sb.rootfs().join("outside/victim")).unwrap(),
        b"overwritten?"
    );
}

#[test]
fn absolute_paths_stay_inside() {
    let sb = Sandbox::new();
    let abs = format!("{}/outside/victim", sb.outer().display());
    let name = unique("abs");
    let tar = Crafted::new()
        .file(&format!("/{name}/x"), b"x")
        .file(&abs, b"overwritten?")
        .finish();
    sb.unpack(&tar).unwrap();
    sb.assert_outside_untouched();
    assert!(!Path::new("/").join(&name).exists());
    assert!(sb.rootfs().join(&name).join("x").is_file());
    assert!(sb.rootfs().join(abs.trim_start_matches('/')).is_file());
}

#[test]
fn symlink_to_an_absolute_outside_dir_cannot_be_written_through() {
    let sb = Sandbox::new();
    let outside = format!("{}/outside", sb.outer().display());
    let tar = Crafted::new()
        .symlink("evil", &outside)
        .file("evil/file", b"x")
        .finish();
    let err = sb.unpack(&tar).unwrap_err();
    sb.assert_outside_untouched();
    let msg = err.to_string();
    assert!(
        msg.contains("evil/file") && msg.contains("symlink"),
        "{msg}"
    );
    // The symlink itself is kept verbatim.
    assert_eq!(
        std::fs::read_link(sb.rootfs().join("evil")).unwrap(),
        PathBuf::from(&outside)
    );
}

#[test]
fn symlink_to_root_resolves_to_the_rootfs() {
    let sb = Sandbox::new();
    let name = unique("via-root");
    let tar = Crafted::new()
        .symlink("evil", "/")
        .file(&format!("evil/etc/{name}"), b"x")
        .finish();
    sb.unpack(&tar).unwrap();
    sb.assert_outside_untouched();
    assert!(!Path::new("/etc").join(&name).exists());
    assert!(sb.rootfs().join("etc").join(&name).is_file());
}

#[test]
fn chains_of_dotdot_symlinks_are_clamped_at_the_root() {
    let sb = Sandbox::new();
    let tar = Crafted::new()
        .symlink("a", "..")
        .symlink("a/b", "../..")
        .symlink("up", "../../../../../..")
        .file("a/b/a/b/escape", b"x")
        .file("up/outside/victim", b"overwritten?")
        .file("a/b/up/outside/victim2", b"y")
        .finish();
    sb.unpack(&tar).unwrap();
    sb.assert_outside_untouched();
    assert!(sb.rootfs().join("escape").is_file());
    assert_eq!(
        std::fs::read(sb.rootfs().join("outside/victim")).unwrap(),
        b"overwritten?"
    );
    assert!(sb.rootfs().join("outside/victim2").is_file());
}

#[test]
fn regular_file_replaces_a_symlink_instead_of_writing_through_it() {
    let sb = Sandbox::new();
    let victim = format!("{}/outside/victim", sb.outer().display());
    let tar = Crafted::new()
        .symlink("f", &victim)
        .file("f", b"overwritten?")
        .finish();
    sb.unpack(&tar).unwrap();
    sb.assert_outside_untouched();
    let meta = std::fs::symlink_metadata(sb.rootfs().join("f")).unwrap();
    assert!(meta.is_file());
    assert_eq!(
        std::fs::read(sb.rootfs().join("f")).unwrap(),
        b"overwritten?"
    );
}

#[test]
fn hardlink_to_host_etc_passwd_is_refused() {
    let sb = Sandbox::new();
    let before = std::fs::metadata("/etc/passwd").unwrap();
    let tar = Crafted::new().hardlink("passwd", "/etc/passwd").finish();
    let err = sb.unpack(&tar).unwrap_err();
    assert!(
        err.to_string().contains("does not exist inside the layer"),
        "{err}"
    );
    let after = std::fs::metadata("/etc/passwd").unwrap();
    assert_eq!(before.nlink(), after.nlink());
    assert!(!sb.rootfs().join("passwd").exists());
    sb.assert_outside_untouched();
}

#[test]
fn hardlink_to_dotdot_outside_is_refused() {
    let sb = Sandbox::new();
    let tar = Crafted::new().hardlink("h", "../outside/victim").finish();
    let err = sb.unpack(&tar).unwrap_err();
    assert!(
        err.to_string().contains("does not exist inside the layer"),
        "{err}"
    );
    sb.assert_outside_untouched();
}

#[test]
fn hardlink_through_a_symlink_resolves_inside() {
    let sb = Sandbox::new();
    let outside = format!("{}/outside", sb.outer().display());
    let tar = Crafted::new()
        .symlink("lnk", &outside)
        .hardlink("h", "lnk/victim")
        .finish();
    assert!(sb.unpack(&tar).is_err());
    sb.assert_outside_untouched();
}

#[test]
fn hardlink_to_the_layers_own_etc_passwd_links_inside_and_is_never_written_through() {
    let sb = Sandbox::new();
    let tar = Crafted::new()
        .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n")
        .hardlink("copy", "/etc/passwd")
        .hardlink("h", "../../etc/passwd")
        .file("h", b"replaced")
        .finish();
    sb.unpack(&tar).unwrap();
    sb.assert_outside_untouched();
    let passwd = std::fs::metadata(sb.rootfs().join("etc/passwd")).unwrap();
    let copy = std::fs::metadata(sb.rootfs().join("copy")).unwrap();
    assert_eq!(passwd.ino(), copy.ino());
    assert_eq!(passwd.nlink(), 2, "h was replaced, not written through");
    assert_eq!(
        std::fs::read(sb.rootfs().join("etc/passwd")).unwrap(),
        b"root:x:0:0::/root:/bin/sh\n"
    );
    assert_eq!(std::fs::read(sb.rootfs().join("h")).unwrap(), b"replaced");
}

#[test]
fn marker_whiteouts_are_kept_as_files() {
    let sb = Sandbox::new();
    let tar = Crafted::new()
        .file("dir/.wh..wh..opq", b"")
        .file("dir/keep", b"k")
        .file(".wh.gone", b"")
        .finish();
    sb.unpack_with(&tar, WhiteoutFormat::Marker, false).unwrap();
    assert!(sb.rootfs().join("dir/.wh..wh..opq").is_file());
    assert!(sb.rootfs().join(".wh.gone").is_file());
    assert!(sb.rootfs().join("dir/keep").is_file());
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn overlay_whiteouts_become_devices_and_xattrs() {
    if !is_root() {
        eprintln!("SKIP overlay_whiteouts_become_devices_and_xattrs: needs root (mknod 0:0, trusted.* xattrs)");
        return;
    }
    let sb = Sandbox::new();
    let tar = Crafted::new()
        .file("dir/.wh..wh..opq", b"")
        .file("dir/keep", b"k")
        .file(".wh.gone", b"")
        .file("sub/.wh.also-gone", b"")
        .file(".wh...", b"")
        .finish();
    // ".wh..." names ".." and must be refused.
    let err = sb
        .unpack_with(&tar, WhiteoutFormat::Overlay, true)
        .unwrap_err();
    assert!(err.to_string().contains("invalid name"), "{err}");
    let sb = Sandbox::new();
    let tar = Crafted::new()
        .file("dir/.wh..wh..opq", b"")
        .file("dir/keep", b"k")
        .file(".wh.gone", b"")
        .file("sub/.wh.also-gone", b"")
        .finish();
    sb.unpack_with(&tar, WhiteoutFormat::Overlay, true).unwrap();
    for p in ["gone", "sub/also-gone"] {
        let m = std::fs::symlink_metadata(sb.rootfs().join(p)).unwrap();
        assert!(
            m.file_type().is_char_device(),
            "{p} is not a whiteout device"
        );
        assert_eq!(m.rdev(), 0);
    }
    assert!(!sb.rootfs().join("dir/.wh..wh..opq").exists());
    assert!(sb.rootfs().join("dir/keep").is_file());
    let out = std::process::Command::new("getfattr")
        .args([
            "--absolute-names",
            "-n",
            "trusted.overlay.opaque",
            "--only-values",
        ])
        .arg(sb.rootfs().join("dir"))
        .output();
    if let Ok(out) = out {
        if out.status.success() {
            assert_eq!(out.stdout, b"y");
        }
    }
    sb.assert_outside_untouched();
}

#[test]
fn device_nodes_are_skipped_when_not_root() {
    let sb = Sandbox::new();
    let tar = Crafted::new()
        .raw("dev/null", EntryType::Char, None, 0o666, b"")
        .raw("fifo", EntryType::Fifo, None, 0o644, b"")
        .finish();
    let opts = UnpackOptions {
        whiteouts: WhiteoutFormat::Marker,
        as_root: false,
    };
    let (stats, _) = unpack_tar(&tar[..], &sb.rootfs(), &opts, "l").unwrap();
    assert_eq!(stats.skipped_devices, 1);
    assert!(!sb.rootfs().join("dev/null").exists());
    assert!(std::fs::symlink_metadata(sb.rootfs().join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());
}

#[test]
fn ownership_and_modes_are_preserved_as_root() {
    if !is_root() {
        eprintln!("SKIP ownership_and_modes_are_preserved_as_root: needs root");
        return;
    }
    let sb = Sandbox::new();
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_path("bin/tool").unwrap();
    h.set_size(3);
    h.set_mode(0o4755);
    h.set_uid(1234);
    h.set_gid(5678);
    h.set_cksum();
    b.append(&h, &b"abc"[..]).unwrap();
    let mut d = tar::Header::new_gnu();
    d.set_path("ro/").unwrap();
    d.set_entry_type(EntryType::Directory);
    d.set_mode(0o555);
    d.set_size(0);
    d.set_cksum();
    b.append(&d, &b""[..]).unwrap();
    let tar = b.into_inner().unwrap();
    sb.unpack_with(&tar, WhiteoutFormat::Overlay, true).unwrap();
    let m = std::fs::metadata(sb.rootfs().join("bin/tool")).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1234, 5678, 0o4755));
    let m = std::fs::metadata(sb.rootfs().join("ro")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o555);
}

#[test]
fn corrupt_tar_is_an_error_naming_the_layer() {
    let sb = Sandbox::new();
    let mut tar = Crafted::new().file("a", b"hello").finish();
    tar[148] ^= 0xff; // break the header checksum
    let err = sb.unpack(&tar).unwrap_err();
    assert!(
        err.to_string().contains("test-layer") && err.to_string().contains("corrupt tar"),
        "{err}"
    );
}

#[test]
fn hardlink_to_an_outward_symlink_links_the_symlink_itself() {
    let sb = Sandbox::new();
    let victim = format!("{}/outside/victim", sb.outer().display());
    let tar = Crafted::new()
        .symlink("lnk", &victim)
        .hardlink("h", "lnk")
        .file("h", b"x")
        .finish();
    sb.unpack(&tar).unwrap();
    sb.assert_outside_untouched();
    let tar = Crafted::new()
        .symlink("lnk", &victim)
        .hardlink("h", "lnk")
        .finish();
    let sb = Sandbox::new();
    sb.unpack(&tar).unwrap();
    let m = std::fs::symlink_metadata(sb.rootfs().join("h")).unwrap();
    assert!(
        m.file_type().is_symlink(),
        "the hardlink must be to the symlink, not its target"
    );
    sb.assert_outside_untouched();
}

#[test]
fn long_gnu_and_pax_names_unpack() {
    let sb = Sandbox::new();
    let long = format!("{}/{}/file", "d".repeat(120), "e".repeat(120));
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    b.append_data(&mut h, &long, &b"long"[..]).unwrap();
    let mut h = tar::Header::new_ustar();
    h.set_size(3);
    h.set_mode(0o644);
    let pax_name = format!("{}/pax", "p".repeat(150));
    b.append_pax_extensions([("path", pax_name.as_bytes())])
        .unwrap();
    h.set_path("short").unwrap();
    h.set_cksum();
    b.append(&h, &b"pax"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    sb.unpack(&tar).unwrap();
    assert_eq!(std::fs::read(sb.rootfs().join(&long)).unwrap(), b"long");
    assert_eq!(std::fs::read(sb.rootfs().join(&pax_name)).unwrap(), b"pax");
    sb.assert_outside_untouched();
}
