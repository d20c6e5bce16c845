//! Marathon path ids: `/prod/web/frontend`. Segments are separated by `/`; a relative id
//! (`web` or `../db`) is resolved against the group it is declared in.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The segment regex Marathon enforces (quoted in its error messages).
pub const SEGMENT_PATTERN: &str = r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])|(\.|\.\.)$";

/// Last segments an app id may not have, because they collide with sub-resources of /v2/apps/{id}.
pub const RESERVED_SEGMENTS: [&str; 3] = ["restart", "tasks", "versions"];

/// A path id, absolute (`/a/b`) or relative (`a/b`, `../c`). Empty segments are dropped, as
/// in Marathon, so `//a//b/` is `/a/b`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PathId {
    segments: Vec<String>,
    absolute: bool,
}

impl PathId {
    /// The root group `/`.
    pub fn root() -> PathId {
        PathId {
            segments: Vec::new(),
            absolute: true,
        }
    }

    /// Reads an id as written; never fails (see [`PathId::invalid_segments`] for validation).
    pub fn parse(s: &str) -> PathId {
        PathId {
            absolute: s.starts_with('/'),
            segments: s
                .split('/')
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect(),
        }
    }

    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    pub fn is_absolute(&self) -> bool {
        self.absolute
    }

    pub fn segments(&self) -> &[String] {
        &self.segments
    }

    /// The last segment (`""` for the root).
    pub fn name(&self) -> &str {
        self.segments.last().map(String::as_str).unwrap_or("")
    }

    /// The enclosing group (`/` for top-level ids and for the root itself).
    pub fn parent(&self) -> PathId {
        let mut segments = self.segments.clone();
        segments.pop();
        PathId {
            segments,
            absolute: true,
        }
    }

    /// A child id: `/a` + `b` = `/a/b`.
    pub fn child(&self, name: &str) -> PathId {
        let mut segments = self.segments.clone();
        segments.push(name.to_string());
        PathId {
            segments,
            absolute: true,
        }
    }

    /// Resolves this id against `base` (a group id) and removes `.` and `..` segments.
    /// An absolute id ignores `base`.
    pub fn canonical(&self, base: &PathId) -> PathId {
        let mut out: Vec<String> = if self.absolute {
            Vec::new()
        } else {
            base.segments.clone()
        };
        for s in &self.segments {
            match s.as_str() {
                "." => {}
                ".." => {
                    out.pop();
                }
                _ => out.push(s.clone()),
            }
        }
        PathId {
            segments: out,
            absolute: true,
        }
    }

    /// True if `self` is `other` or lies below it.
    pub fn starts_with(&self, other: &PathId) -> bool {
        self.segments.len() >= other.segments.len()
            && self.segments[..other.segments.len()] == other.segments[..]
    }

    /// True if `self` lies strictly below `other`.
    pub fn is_child_of(&self, other: &PathId) -> bool {
        self.segments.len() > other.segments.len() && self.starts_with(other)
    }

    /// Segments that do not match [`SEGMENT_PATTERN`].
    pub fn invalid_segments(&self) -> Vec<&str> {
        self.segments
            .iter()
            .map(String::as_str)
            .filter(|s| !segment_is_valid(s))
            .collect()
    }

    /// Marathon's task-id prefix: `/prod/web` → `prod_web`.
    pub fn safe_name(&self) -> String {
        self.segments.join("_")
    }
}

/// One segment against Marathon's regex, without a regex engine: dot-separated labels of
/// `[a-z0-9]`, `-` allowed inside a label but not at its ends; or exactly `.` / `..`.
pub fn segment_is_valid(s: &str) -> bool {
    if s == "." || s == ".." {
        return true;
    }
    !s.is_empty()
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
            !b.is_empty()
                && alnum(&b[0])
                && alnum(&b[b.len() - 1])
                && b.iter().all(|c| alnum(c) || *c == b'-')
        })
}

impl fmt::Display for PathId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.absolute {
            f.write_str("/")?;
        }
        f.write_str(&self.segments.join("/"))
    }
}

impl Serialize for PathId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PathId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(PathId::parse(&String::deserialize(d)?))
    }
}

impl From<&str> for PathId {
    fn from(s: &str) -> PathId {
        PathId::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        assert_eq!(PathId::parse("/a/b").to_string(), "/a/b");
        assert_eq!(PathId::parse("//a//b/").to_string(), "/a/b");
        assert_eq!(PathId::parse("a/b").to_string(), "a/b");
        assert_eq!(PathId::parse("/").to_string(), "/");
        assert!(PathId::parse("/").is_root());
    }

    #[test]
    fn relative_ids_resolve_against_the_group() {
        let base = PathId::parse("/prod/web");
        assert_eq!(
            PathId::parse("api").canonical(&base).to_string(),
            "/prod/web/api"
        );
        assert_eq!(
            PathId::parse("../db").canonical(&base).to_string(),
            "/prod/db"
        );
        assert_eq!(
            PathId::parse("./x").canonical(&base).to_string(),
            "/prod/web/x"
        );
        assert_eq!(PathId::parse("/abs").canonical(&base).to_string(), "/abs");
        assert_eq!(
            PathId::parse("../../../x").canonical(&base).to_string(),
            "/x"
        );
    }

    #[test]
    fn parent_child_and_prefix() {
        let id = PathId::parse("/a/b/c");
        assert_eq!(id.parent().to_string(), "/a/b");
        assert_eq!(id.name(), "c");
        assert!(id.is_child_of(&PathId::parse("/a")));
        assert!(!id.is_child_of(&id));
        assert!(id.starts_with(&id));
        assert!(!PathId::parse("/ab").starts_with(&PathId::parse("/a")));
        assert_eq!(PathId::root().child("x").to_string(), "/x");
        assert_eq!(id.safe_name(), "a_b_c");
    }

    #[test]
    fn segment_rule_matches_marathon() {
        for ok in ["a", "a1", "a-b", "a.b", "a-b.c-d", "0", ".", ".."] {
            assert!(segment_is_valid(ok), "{ok}");
        }
        for bad in [
            "", "A", "-a", "a-", "a_b", "a..b", ".a", "a.", "a b", "...", "é",
        ] {
            assert!(!segment_is_valid(bad), "{bad}");
        }
    }
}
