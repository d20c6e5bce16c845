//! Hand-made tar layers, including ones the tar crate's Builder refuses to
//! write (`..`, absolute paths), for the attack tests.

use tar::{EntryType, Header};

pub struct Crafted {
    builder: tar::Builder<Vec<u8>>,
}

impl Default for Crafted {
    fn default() -> Self {
        Self::new()
    }
}

impl Crafted {
    pub fn new() -> Self {
        Crafted {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    /// Appends one raw entry; `path` and `link` go into the header verbatim.
    pub fn raw(
        mut self,
        path: &str,
        kind: EntryType,
        link: Option<&str>,
        mode: u32,
        data: &[u8],
    ) -> Self {
        assert!(path.len() < 100, "crafted paths must fit the old header");
        let mut h = Header::new_gnu();
        h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(l) = link {
            assert!(l.len() < 100);
            h.as_old_mut().linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_cksum();
        self.builder
            .append(&h, data)
            .expect("append to an in-memory tar");
        self
    }

    pub fn file(self, path: &str, data: &[u8]) -> Self {
        self.raw(path, EntryType::Regular, None, 0o644, data)
    }

    pub fn dir(self, path: &str) -> Self {
        self.raw(path, EntryType::Directory, None, 0o755, b"")
    }

    pub fn symlink(self, path: &str, target: &str) -> Self {
        self.raw(path, EntryType::Symlink, Some(target), 0o777, b"")
    }

    pub fn hardlink(self, path: &str, target: &str) -> Self {
        self.raw(path, EntryType::Link, Some(target), 0o644, b"")
    }

    pub fn finish(self) -> Vec<u8> {
        self.builder.into_inner().expect("finish an in-memory tar")
    }
}
