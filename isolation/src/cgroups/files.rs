//! Reading and writing cgroup control files, with errors that name them.

use std::collections::HashMap;
use std::path::Path;

use crate::Error;

pub fn write_file(dir: &Path, file: &str, value: &str) -> Result<(), Error> {
    let path = dir.join(file);
    std::fs::write(&path, value).map_err(|source| Error::Io {
        path: path.display().to_string(),
        op: "write",
        source,
    })
}

pub fn read_trimmed(dir: &Path, file: &str) -> Result<String, Error> {
    let path = dir.join(file);
    std::fs::read_to_string(&path)
        .map(|s| s.trim().to_string())
        .map_err(|source| Error::Io {
            path: path.display().to_string(),
            op: "read",
            source,
        })
}

/// A file of `key value` lines; unparsable lines are skipped.
pub fn read_kv(dir: &Path, file: &str) -> Result<HashMap<String, u64>, Error> {
    Ok(parse_kv(&read_trimmed(dir, file)?))
}

pub fn parse_kv(text: &str) -> HashMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect()
}

/// A single number, or `max` (None).
pub fn read_u64_or_max(dir: &Path, file: &str) -> Result<Option<u64>, Error> {
    let s = read_trimmed(dir, file)?;
    if s == "max" {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| Error::Cgroups(format!("{}: not a number: {s:?}", dir.join(file).display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_skips_garbage() {
        let kv = parse_kv("user 10\nsystem x\n\nnr_throttled 3 extra\n");
        assert_eq!(kv.get("user"), Some(&10));
        assert_eq!(kv.get("system"), None);
        assert_eq!(kv.get("nr_throttled"), Some(&3));
    }
}
