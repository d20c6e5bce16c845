//! From request bytes to typed definitions without panics: malformed JSON is a 400 with the
//! parser's message; a value of the wrong type is a violation at its path.

use super::Violation;
use crate::model::AppDefinition;
use serde_json::Value;

/// The body is not JSON at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JsonError(pub String);

/// Parses a request body. An empty body is an error, as in Marathon.
pub fn parse_json(body: &[u8]) -> Result<Value, JsonError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(JsonError("No content to map due to end-of-input".into()));
    }
    serde_json::from_slice(body).map_err(|e| JsonError(e.to_string()))
}

/// Removes `null` members of objects, recursively: Marathon treats `"args": null` (which old
/// clients send) as "not given".
pub fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Reads an app definition from JSON. Type errors come back as violations with
/// play-json's codes (`error.expected.jsstring`, …) at the offending path.
pub fn app_from_value(mut v: Value) -> Result<AppDefinition, Vec<Violation>> {
    if !v.is_object() {
        return Err(vec![Violation::new("/", "error.expected.jsobject")]);
    }
    strip_nulls(&mut v);
    match v.get("id") {
        None => return Err(vec![Violation::new("/id", "error.path.missing")]),
        Some(Value::String(_)) => {}
        Some(_) => return Err(vec![Violation::new("/id", "error.expected.jsstring")]),
    }
    serde_path_to_error::deserialize::<_, AppDefinition>(v).map_err(|e| {
        let path = marathon_path(e.path());
        vec![Violation::new(path, play_code(&e.into_inner().to_string()))]
    })
}

/// serde_path_to_error's `a.b[0].c` in Marathon's notation `/a/b(0)/c`.
pub(crate) fn marathon_path(p: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in p.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("({index})")),
            Segment::Map { key } => {
                out.push('/');
                out.push_str(key);
            }
            Segment::Enum { variant } => {
                out.push('/');
                out.push_str(variant);
            }
            Segment::Unknown => {}
        }
    }
    if out.is_empty() {
        "/".into()
    } else {
        out
    }
}

/// Maps serde's messages to the codes Marathon (play-json) uses, keeping the text otherwise.
pub(crate) fn play_code(msg: &str) -> String {
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        let expected = rest.rsplit("expected ").next().unwrap_or("");
        let code = if expected.contains("string") || expected.contains("char") {
            "error.expected.jsstring"
        } else if expected.starts_with('i')
            || expected.starts_with('u')
            || expected.starts_with('f')
        {
            "error.expected.jsnumber"
        } else if expected.contains("bool") {
            "error.expected.jsboolean"
        } else if expected.contains("sequence") || expected.contains("array") {
            "error.expected.jsarray"
        } else if expected.contains("map")
            || expected.contains("struct")
            || expected.starts_with("a ")
        {
            "error.expected.jsobject"
        } else {
            return msg.to_string();
        };
        return code.to_string();
    }
    msg.to_string()
}
