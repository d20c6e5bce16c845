//! The app definition `paddock app run` sends: a JSON file (or `-` for
//! stdin), or flags (`--id --cmd --instances --cpus --mem --disk --image`);
//! flags given with a file override its fields.

use serde_json::{json, Map, Value};

/// The flags of `paddock app run`.
#[derive(clap::Args, Debug, Clone, Default, PartialEq)]
pub struct AppFlags {
    /// The app id, e.g. /prod/web.
    #[arg(long)]
    pub id: Option<String>,
    /// The command (run with /bin/sh -c).
    #[arg(long)]
    pub cmd: Option<String>,
    /// How many instances to keep running.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub instances: Option<u64>,
    /// CPUs per instance.
    #[arg(long, allow_negative_numbers = true)]
    pub cpus: Option<f64>,
    /// Memory per instance, in MB.
    #[arg(long, value_name = "MB", allow_negative_numbers = true)]
    pub mem: Option<f64>,
    /// Disk per instance, in MB.
    #[arg(long, value_name = "MB", allow_negative_numbers = true)]
    pub disk: Option<f64>,
    /// A container image (run as a MESOS container).
    #[arg(long)]
    pub image: Option<String>,
}

impl AppFlags {
    fn any(&self) -> bool {
        *self != AppFlags::default()
    }
}

/// Parses a file's text as an app definition (a JSON object); `name`
/// names the file in errors.
pub fn parse_file(name: &str, text: &str) -> Result<Map<String, Value>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("{name}: invalid JSON ({e})"))?;
    match v {
        Value::Object(m) => Ok(m),
        other => Err(format!(
            "{name}: expected a JSON object (an app definition), got {}",
            kind(&other)
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The definition to send, and its id. `file` is what the file held.
pub fn build(
    file: Option<Map<String, Value>>,
    flags: &AppFlags,
) -> Result<(Value, String), String> {
    let from_file = file.is_some();
    let mut app = file.unwrap_or_default();
    if !from_file && !flags.any() {
        return Err("give FILE.json or --id and --cmd".into());
    }
    if let Some(id) = &flags.id {
        app.insert("id".into(), json!(id));
    }
    if let Some(cmd) = &flags.cmd {
        app.insert("cmd".into(), json!(cmd));
        // A command replaces the file's args (Marathon refuses both).
        app.remove("args");
    }
    if let Some(n) = flags.instances {
        app.insert("instances".into(), json!(n));
    }
    for (key, value) in [
        ("cpus", flags.cpus),
        ("mem", flags.mem),
        ("disk", flags.disk),
    ] {
        if let Some(x) = value {
            if !x.is_finite() {
                return Err(format!("--{key} must be a number"));
            }
            app.insert(key.into(), json!(x));
        }
    }
    if let Some(image) = &flags.image {
        app.insert(
            "container".into(),
            json!({"type": "MESOS", "docker": {"image": image}}),
        );
    }
    let id = match app.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) | None if from_file => {
            return Err("the app definition has no \"id\" (add one, or --id)".into())
        }
        None | Some(Value::String(_)) => return Err("--id is required without FILE.json".into()),
        Some(other) => return Err(format!("\"id\" must be a string, got {}", kind(other))),
    };
    if !from_file && !app.contains_key("cmd") && !app.contains_key("container") {
        return Err("give --cmd or --image (or FILE.json)".into());
    }
    Ok((Value::Object(app), id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_make_an_app() {
        let flags = AppFlags {
            id: Some("/web".into()),
            cmd: Some("sleep 100".into()),
            instances: Some(2),
            cpus: Some(0.1),
            mem: Some(32.0),
            ..AppFlags::default()
        };
        let (app, id) = build(None, &flags).unwrap();
        assert_eq!(id, "/web");
        assert_eq!(
            app,
            json!({"id": "/web", "cmd": "sleep 100", "instances": 2, "cpus": 0.1, "mem": 32.0})
        );
    }

    #[test]
    fn flags_override_the_file() {
        let file = parse_file(
            "web.json",
            r#"{"id": "web", "args": ["a"], "instances": 1, "labels": {"x": "y"}}"#,
        )
        .unwrap();
        let flags = AppFlags {
            cmd: Some("true".into()),
            instances: Some(3),
            image: Some("alpine:3".into()),
            ..AppFlags::default()
        };
        let (app, id) = build(Some(file), &flags).unwrap();
        assert_eq!(id, "web");
        assert_eq!(app["instances"], 3);
        assert_eq!(app["cmd"], "true");
        assert!(app.get("args").is_none());
        assert_eq!(app["labels"]["x"], "y");
        assert_eq!(app["container"]["docker"]["image"], "alpine:3");
    }

    #[test]
    fn missing_pieces_are_named() {
        assert_eq!(
            build(None, &AppFlags::default()).unwrap_err(),
            "give FILE.json or --id and --cmd"
        );
        let only_cmd = AppFlags {
            cmd: Some("x".into()),
            ..AppFlags::default()
        };
        assert_eq!(
            build(None, &only_cmd).unwrap_err(),
            "--id is required without FILE.json"
        );
        let only_id = AppFlags {
            id: Some("x".into()),
            ..AppFlags::default()
        };
        assert_eq!(
            build(None, &only_id).unwrap_err(),
            "give --cmd or --image (or FILE.json)"
        );
        let file = parse_file("a.json", r#"{"cmd": "x"}"#).unwrap();
        assert!(build(Some(file), &AppFlags::default())
            .unwrap_err()
            .contains("no \"id\""));
        let file = parse_file("a.json", r#"{"id": 7}"#).unwrap();
        assert_eq!(
            build(Some(file), &AppFlags::default()).unwrap_err(),
            "\"id\" must be a string, got a number"
        );
        let nan = AppFlags {
            id: Some("x".into()),
            cmd: Some("x".into()),
            cpus: Some(f64::NAN),
            ..AppFlags::default()
        };
        assert_eq!(build(None, &nan).unwrap_err(), "--cpus must be a number");
    }

    #[test]
    fn bad_files_are_one_line_errors() {
        let err = parse_file("web.json", "{\"id\": ").unwrap_err();
        assert!(err.starts_with("web.json: invalid JSON ("), "{err}");
        assert!(err.contains("line 1"), "{err}");
        assert_eq!(
            parse_file("web.json", "[1]").unwrap_err(),
            "web.json: expected a JSON object (an app definition), got an array"
        );
    }
}
