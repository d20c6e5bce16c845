//! Resolving an image's `User` (`name`, `uid`, `name:group`, `uid:gid`)
//! against the image's own /etc/passwd and /etc/group, as Docker does:
//! a numeric uid without a passwd entry runs with gid 0; a name must exist;
//! supplementary groups are the groups that list the user.
//!
//! The files are read with `openat2(RESOLVE_IN_ROOT)`, so a symlink in the
//! image cannot make us read a file of the host.

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;

/// Who a container process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// The passwd entry's home directory, for HOME.
    pub home: Option<String>,
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 7 {
            return None;
        }
        Some(PasswdEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5],
        })
    })
}

/// `(name, gid, members)` of each line of /etc/group.
fn group_entries(text: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 4 {
            return None;
        }
        let members = f[3].split(',').filter(|m| !m.is_empty()).collect();
        Some((f[0], f[2].parse().ok()?, members))
    })
}

/// Resolves `user` with the given file contents (empty when absent).
pub fn resolve(user: Option<&str>, passwd: &str, group: &str) -> Result<Ids, String> {
    let spec = user.unwrap_or("").trim();
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let (uid, mut gid, name, home) = if u.is_empty() {
        let root = passwd_entries(passwd).find(|e| e.uid == 0);
        (
            0,
            0,
            root.as_ref().map(|e| e.name.to_string()),
            root.map(|e| e.home.to_string()),
        )
    } else if let Ok(uid) = u.parse::<u32>() {
        match passwd_entries(passwd).find(|e| e.uid == uid) {
            Some(e) => (
                uid,
                e.gid,
                Some(e.name.to_string()),
                Some(e.home.to_string()),
            ),
            None => (uid, 0, None, None),
        }
    } else {
        let e = passwd_entries(passwd)
            .find(|e| e.name == u)
            .ok_or_else(|| format!("user {u:?} is not in the image's /etc/passwd"))?;
        (
            e.uid,
            e.gid,
            Some(e.name.to_string()),
            Some(e.home.to_string()),
        )
    };
    if let Some(g) = g.filter(|g| !g.is_empty()) {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group_entries(group)
                .find(|(n, _, _)| *n == g)
                .map(|(_, id, _)| id)
                .ok_or_else(|| format!("group {g:?} is not in the image's /etc/group"))?,
        };
    }
    let mut additional_gids: Vec<u32> = match &name {
        Some(n) => group_entries(group)
            .filter(|(_, id, members)| *id != gid && members.contains(&n.as_str()))
            .map(|(_, id, _)| id)
            .collect(),
        None => Vec::new(),
    };
    additional_gids.sort_unstable();
    additional_gids.dedup();
    Ok(Ids {
        uid,
        gid,
        additional_gids,
        home: home.filter(|h| h.starts_with('/')),
    })
}

/// Reads `rel` inside `root` as if `root` were `/` (symlinks and `..`
/// cannot leave it). A missing file is `None`.
pub fn read_in_root(root: &Path, rel: &str, limit: u64) -> std::io::Result<Option<String>> {
    let dir = std::fs::File::open(root)?;
    let path = std::ffi::CString::new(rel)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in path"))?;
    // SAFETY: open_how is plain data; zeroed is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY) as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    use std::os::fd::AsRawFd;
    // SAFETY: openat2 with a valid dirfd, a NUL-terminated path and an
    // open_how of the size we pass; it returns a new fd or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return match e.kind() {
            std::io::ErrorKind::NotFound => Ok(None),
            _ => Err(e),
        };
    }
    // SAFETY: the fd was just returned to us and is owned only here.
    let file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd as i32) });
    let mut text = String::new();
    file.take(limit).read_to_string(&mut text).map_err(|e| {
        std::io::Error::new(e.kind(), format!("{rel} in the image is not text: {e}"))
    })?;
    Ok(Some(text))
}

/// Resolves `user` inside the rootfs at `root`.
pub fn resolve_in_rootfs(root: &Path, user: Option<&str>) -> Result<Ids, String> {
    const LIMIT: u64 = 4 << 20;
    let read = |rel: &str| {
        read_in_root(root, rel, LIMIT)
            .map(Option::unwrap_or_default)
            .map_err(|e| format!("cannot read {rel} in the image: {e}"))
    };
    let passwd = read("etc/passwd")?;
    let group = read("etc/group")?;
    resolve(user, &passwd, &group)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\nbad line\napp:x:1000:1000::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nstaff:x:50:app,www\napp:x:1000:\n";

    #[test]
    fn names_and_numbers_resolve_as_docker_does() {
        let r = resolve(None, PASSWD, GROUP).unwrap();
        assert_eq!((r.uid, r.gid, r.home.as_deref()), (0, 0, Some("/root")));
        let app = resolve(Some("app"), PASSWD, GROUP).unwrap();
        assert_eq!((app.uid, app.gid), (1000, 1000));
        assert_eq!(app.additional_gids, vec![50]);
        assert_eq!(app.home.as_deref(), Some("/home/app"));
        let n = resolve(Some("4242"), PASSWD, GROUP).unwrap();
        assert_eq!((n.uid, n.gid), (4242, 0));
        let ug = resolve(Some("www:staff"), PASSWD, GROUP).unwrap();
        assert_eq!((ug.uid, ug.gid), (33, 50));
        let nums = resolve(Some("7:8"), "", "").unwrap();
        assert_eq!((nums.uid, nums.gid), (7, 8));
    }

    #[test]
    fn unknown_names_are_errors_naming_them() {
        let e = resolve(Some("nobody"), PASSWD, GROUP).unwrap_err();
        assert!(e.contains("nobody"), "{e}");
        let e = resolve(Some("app:wheel"), PASSWD, GROUP).unwrap_err();
        assert!(e.contains("wheel"), "{e}");
    }

    #[test]
    fn a_symlink_cannot_leave_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        let outside = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(outside.path(), "evil:x:0:0::/:/bin/sh\n").unwrap();
        std::os::unix::fs::symlink(outside.path(), etc.join("passwd")).unwrap();
        // Resolved inside the root, the absolute target does not exist.
        let text = read_in_root(dir.path(), "etc/passwd", 1 << 20).unwrap();
        assert_eq!(text, None);
        std::fs::write(etc.join("group"), "g:x:5:\n").unwrap();
        let got = read_in_root(dir.path(), "../../etc/group", 1 << 20).unwrap();
        assert_eq!(got.as_deref(), Some("g:x:5:\n"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_files_and_users_never_panic(
            user in ".{0,20}", passwd in "(.{0,40}\n){0,5}", group in "(.{0,40}\n){0,5}"
        ) {
            let _ = resolve(Some(&user), &passwd, &group);
        }
    }
}
