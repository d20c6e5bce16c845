//! Query strings: repeated keys (`embed=…&embed=…`), and booleans parsed case-insensitively
//! (`force=False` is what Python clients send).

use super::error::ApiError;

/// A parsed query string, keys in order.
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key` (also `key[]`).
    pub fn all(&self, key: &str) -> Vec<&str> {
        let bracket = format!("{key}[]");
        self.0
            .iter()
            .filter(|(k, _)| *k == key || *k == bracket)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A boolean parameter: `true`/`false` in any case; absent → `default`; an empty value
    /// (`?force`) means true.
    pub fn bool(&self, key: &str, default: bool) -> Result<bool, ApiError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) if v.is_empty() || v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(ApiError::bad_request(format!(
                "Invalid boolean value '{v}' for query parameter '{key}'"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_are_case_insensitive() {
        let q = Query::parse(Some("force=False&scale=TRUE&wipe&x=maybe"));
        assert!(!q.bool("force", true).unwrap());
        assert!(q.bool("scale", false).unwrap());
        assert!(q.bool("wipe", false).unwrap());
        assert!(q.bool("absent", true).unwrap());
        assert!(q.bool("x", false).is_err());
    }

    #[test]
    fn repeated_and_bracketed_keys() {
        let q = Query::parse(Some(
            "embed=apps.tasks&embed=apps.counts&status[]=running&status=staging&label=a%3D%3Db",
        ));
        assert_eq!(q.all("embed"), vec!["apps.tasks", "apps.counts"]);
        assert_eq!(q.all("status"), vec!["running", "staging"]);
        assert_eq!(q.get("label"), Some("a==b"));
    }
}
