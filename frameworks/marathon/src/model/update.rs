//! Partial updates (PATCH, and PUT with `partialUpdate=true`): the fields sent replace the
//! current ones, top-level, as Marathon's AppUpdate does; the result is then read and
//! validated like any app.

use super::AppDefinition;
use serde_json::{Map, Value};

/// Fields a client may send back from a GET that an update must not take as input.
const READ_ONLY: [&str; 3] = ["id", "version", "versionInfo"];

/// The JSON of `current` with every non-null top-level member of `update` put over it.
/// A deprecated form in the update (`ports`, `uris`, `ipAddress`, `container.docker.network`)
/// displaces the current form it replaces, so that it takes effect.
pub fn merge_app_update(current: &AppDefinition, update: &Map<String, Value>) -> Value {
    let mut base = match serde_json::to_value(current) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let sent = |k: &str| update.get(k).is_some_and(|v| !v.is_null());
    if sent("ports") && !sent("portDefinitions") {
        base.remove("portDefinitions");
    }
    if sent("uris") && !sent("fetch") {
        base.remove("fetch");
    }
    let legacy_network = update
        .get("container")
        .and_then(|c| c.get("docker"))
        .and_then(|d| d.get("network"))
        .is_some_and(|n| !n.is_null());
    if (sent("ipAddress") || legacy_network) && !sent("networks") {
        base.remove("networks");
    }
    for (k, v) in update {
        if READ_ONLY.contains(&k.as_str()) || v.is_null() {
            continue;
        }
        base.insert(k.clone(), v.clone());
    }
    Value::Object(base)
}

/// True if an update body asks for a rollback: it names a `version` and nothing else
/// (besides, optionally, the app's `id`).
pub fn is_version_rollback(update: &Map<String, Value>) -> bool {
    update.get("version").is_some_and(Value::is_string)
        && update.keys().all(|k| k == "version" || k == "id")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PathId, Timestamp};
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test input is an object"),
        }
    }

    #[test]
    fn only_sent_fields_change() {
        let mut cur = AppDefinition::command("/a", "sleep 1");
        cur.labels.insert("k".into(), "v".into());
        cur.version = Timestamp::from_millis(9);
        let merged = merge_app_update(
            &cur,
            &obj(json!({"instances": 4, "id": "/other", "tasksRunning": 3, "user": null})),
        );
        let mut app: AppDefinition = serde_json::from_value(merged).unwrap();
        app.normalize(&PathId::root(), "*");
        assert_eq!(app.instances, 4);
        assert_eq!(app.id.to_string(), "/a", "the id in the body is ignored");
        assert_eq!(app.cmd.as_deref(), Some("sleep 1"));
        assert_eq!(app.labels.get("k").map(String::as_str), Some("v"));
        assert_eq!(app.version, Timestamp::from_millis(9));
    }

    #[test]
    fn deprecated_forms_displace_current_ones() {
        let cur = AppDefinition::command("/a", "x");
        let merged = merge_app_update(&cur, &obj(json!({"ports": [8080, 0]})));
        let mut app: AppDefinition = serde_json::from_value(merged).unwrap();
        app.normalize(&PathId::root(), "*");
        assert_eq!(
            app.port_definitions()
                .iter()
                .map(|p| p.port)
                .collect::<Vec<_>>(),
            vec![8080, 0]
        );
    }

    #[test]
    fn rollback_bodies() {
        assert!(is_version_rollback(&obj(
            json!({"version": "2014-03-01T23:42:20.938Z"})
        )));
        assert!(is_version_rollback(&obj(
            json!({"version": "2014-03-01T23:42:20.938Z", "id": "/a"})
        )));
        assert!(!is_version_rollback(&obj(
            json!({"version": "2014-03-01T23:42:20.938Z", "cmd": "x"})
        )));
        assert!(!is_version_rollback(&obj(json!({"instances": 2}))));
    }
}
