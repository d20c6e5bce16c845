//! Validation of app definitions and group trees, with Marathon's 422 shape: violations
//! grouped by JSON path (`/healthChecks(0)/portIndex`), Marathon's messages where it has them.
//! Also the JSON entry points: body bytes → JSON (400 on malformed input) → typed definitions
//! (422 with play-json style codes such as `error.expected.jsnumber` on type errors).

mod app;
mod parse;

pub use app::{validate_app, validate_root};
pub use parse::{app_from_value, parse_json, strip_nulls, JsonError};

use serde::Serialize;

/// One problem with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// A JSON path in Marathon's notation: `/`, `/id`, `/constraints(0)`, `/container/docker/image`.
    pub path: String,
    pub message: String,
}

impl Violation {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Violation {
        Violation {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The same violation under a parent path (`/apps(2)` + `/id` = `/apps(2)/id`).
    pub fn under(self, prefix: &str) -> Violation {
        let path = if self.path == "/" {
            prefix.to_string()
        } else {
            format!("{prefix}{}", self.path)
        };
        Violation {
            path: if path.is_empty() { "/".into() } else { path },
            message: self.message,
        }
    }
}

/// One entry of `details`: a path and every message for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detail {
    pub path: String,
    pub errors: Vec<String>,
}

/// Groups violations by path, keeping the order in which paths first appear.
pub fn details(violations: &[Violation]) -> Vec<Detail> {
    let mut out: Vec<Detail> = Vec::new();
    for v in violations {
        match out.iter_mut().find(|d| d.path == v.path) {
            Some(d) => {
                if !d.errors.contains(&v.message) {
                    d.errors.push(v.message.clone())
                }
            }
            None => out.push(Detail {
                path: v.path.clone(),
                errors: vec![v.message.clone()],
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests;
