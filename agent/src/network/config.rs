//! CNI network configuration files, as the CNI spec defines them. Pure:
//! the caller reads the files; this parses and checks their text.
//!
//! - `*.conf` (and `*.json`): one plugin object with `name`, `type` and
//!   usually `cniVersion`;
//! - `*.conflist`: `{"cniVersion", "name", "plugins": [{type, …}, …]}`, a
//!   chain run in order on ADD and in reverse on DEL.
//!
//! The files are untrusted input: a plugin `type` names a binary in the
//! plugins directory, so it must be a plain file name (no `/`, no `..`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The largest configuration file read.
pub const MAX_CONFIG_BYTES: usize = 1 << 20;

/// One network: its name and the plugins it runs, each as the JSON object
/// given in the file (without `name` / `cniVersion`, which come from the
/// network).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NetworkConfig {
    pub name: String,
    /// As written; absent in old single-plugin files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cni_version: Option<String>,
    pub plugins: Vec<Map<String, Value>>,
}

/// Why a configuration file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: not valid JSON: {why}")]
    Json { file: String, why: String },
    #[error("{file}: the configuration is not a JSON object")]
    NotAnObject { file: String },
    #[error("{file}: {field} {why}")]
    Field {
        file: String,
        field: String,
        why: String,
    },
    #[error("{file}: larger than {MAX_CONFIG_BYTES} bytes")]
    TooLarge { file: String },
}

/// What kind of file `file_name` is, if it is a network configuration.
pub fn kind_of(file_name: &str) -> Option<FileKind> {
    if file_name.starts_with('.') {
        return None;
    }
    if file_name.ends_with(".conflist") {
        Some(FileKind::List)
    } else if file_name.ends_with(".conf") || file_name.ends_with(".json") {
        Some(FileKind::Single)
    } else {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Single,
    List,
}

/// A network name as the CNI spec allows it (and a safe file name).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
}

/// A plugin type: a file name in the plugins directory, nothing more.
pub fn valid_plugin_type(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 255
        && t != "."
        && t != ".."
        && !t.contains('/')
        && !t.contains('\0')
}

fn field(file: &str, field: &str, why: &str) -> ConfigError {
    ConfigError::Field {
        file: file.to_string(),
        field: field.to_string(),
        why: why.to_string(),
    }
}

/// Checks one plugin object; returns it without the network-level keys.
fn plugin(
    file: &str,
    at: &str,
    mut obj: Map<String, Value>,
) -> Result<Map<String, Value>, ConfigError> {
    match obj.get("type") {
        Some(Value::String(t)) if valid_plugin_type(t) => {}
        Some(Value::String(t)) => {
            return Err(field(
                file,
                &format!("{at}type"),
                &format!("{t:?} is not a plain plugin file name"),
            ))
        }
        Some(_) => return Err(field(file, &format!("{at}type"), "is not a string")),
        None => return Err(field(file, &format!("{at}type"), "is missing")),
    }
    obj.remove("name");
    obj.remove("cniVersion");
    Ok(obj)
}

fn string_field(
    file: &str,
    obj: &Map<String, Value>,
    key: &str,
) -> Result<Option<String>, ConfigError> {
    match obj.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(field(file, key, "is not a string")),
    }
}

/// Parses the text of the configuration file `file` (its name says the kind).
pub fn parse(file: &str, kind: FileKind, text: &str) -> Result<NetworkConfig, ConfigError> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge { file: file.into() });
    }
    let value: Value = serde_json::from_str(text).map_err(|e| ConfigError::Json {
        file: file.into(),
        why: e.to_string(),
    })?;
    let Value::Object(obj) = value else {
        return Err(ConfigError::NotAnObject { file: file.into() });
    };
    let name =
        string_field(file, &obj, "name")?.ok_or_else(|| field(file, "name", "is missing"))?;
    if !valid_name(&name) {
        return Err(field(
            file,
            "name",
            &format!("{name:?} is not a valid network name (letters, digits, '-', '_', '.')"),
        ));
    }
    let cni_version = string_field(file, &obj, "cniVersion")?;
    let plugins = match kind {
        FileKind::Single => vec![plugin(file, "", obj)?],
        FileKind::List => {
            let list = match obj.get("plugins") {
                Some(Value::Array(a)) if !a.is_empty() => a.clone(),
                Some(Value::Array(_)) => return Err(field(file, "plugins", "is empty")),
                Some(_) => return Err(field(file, "plugins", "is not an array")),
                None => return Err(field(file, "plugins", "is missing")),
            };
            let mut out = Vec::with_capacity(list.len());
            for (i, p) in list.into_iter().enumerate() {
                let Value::Object(p) = p else {
                    return Err(field(file, &format!("plugins[{i}]"), "is not an object"));
                };
                out.push(plugin(file, &format!("plugins[{i}]."), p)?);
            }
            out
        }
    };
    Ok(NetworkConfig {
        name,
        cni_version,
        plugins,
    })
}

/// The networks of a configuration directory, by name, from
/// `(file name, text)` pairs. Files are taken in name order and the first
/// to define a name wins, as libcni does; refused files are returned with
/// their reasons so that the caller can log them.
pub fn networks<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> (BTreeMap<String, NetworkConfig>, Vec<ConfigError>) {
    let mut files: Vec<(&str, &str)> = files
        .into_iter()
        .filter(|(n, _)| kind_of(n).is_some())
        .collect();
    files.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, text) in files {
        let Some(kind) = kind_of(name) else { continue };
        match parse(name, kind, text) {
            Ok(net) => {
                out.entry(net.name.clone()).or_insert(net);
            }
            Err(e) => problems.push(e),
        }
    }
    (out, problems)
}

/// A host port mapped into the container (the `portMappings` capability).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortMap {
    pub host_port: u32,
    pub container_port: u32,
    /// "tcp" or "udp".
    pub protocol: String,
}

/// The stdin of plugin `index` of `net`: the plugin's object with the
/// network's `name` and `cniVersion`, the previous plugin's result on a
/// chain, and `runtimeConfig.portMappings` when the plugin declares that
/// capability.
pub fn plugin_stdin(
    net: &NetworkConfig,
    index: usize,
    prev_result: Option<&Value>,
    ports: &[PortMap],
) -> Option<Value> {
    let mut obj = net.plugins.get(index)?.clone();
    obj.insert("name".into(), Value::String(net.name.clone()));
    if let Some(v) = &net.cni_version {
        obj.insert("cniVersion".into(), Value::String(v.clone()));
    }
    if let Some(prev) = prev_result {
        obj.insert("prevResult".into(), prev.clone());
    }
    let wants_ports = obj
        .get("capabilities")
        .and_then(|c| c.get("portMappings"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if wants_ports && !ports.is_empty() {
        let maps: Vec<Value> = ports
            .iter()
            .map(|p| {
                serde_json::json!({
                    "hostPort": p.host_port,
                    "containerPort": p.container_port,
                    "protocol": p.protocol,
                })
            })
            .collect();
        let rc = obj
            .entry("runtimeConfig")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(rc) = rc {
            rc.insert("portMappings".into(), Value::Array(maps));
        }
    }
    Some(Value::Object(obj))
}

/// The interface name of the `i`-th network of a container (Mesos's order).
pub fn ifname(i: usize) -> String {
    format!("eth{i}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BRIDGE: &str = r#"{"cniVersion":"0.4.0","name":"mynet","type":"bridge",
        "bridge":"cni0","ipam":{"type":"host-local","subnet":"10.22.0.0/16"}}"#;
    const LIST: &str = r#"{"cniVersion":"1.0.0","name":"chain","plugins":[
        {"type":"bridge","bridge":"cni1"},
        {"type":"portmap","capabilities":{"portMappings":true}}]}"#;

    #[test]
    fn a_single_plugin_file_is_a_network_of_one_plugin() {
        let n = parse("10-mynet.conf", FileKind::Single, BRIDGE).unwrap();
        assert_eq!(n.name, "mynet");
        assert_eq!(n.cni_version.as_deref(), Some("0.4.0"));
        assert_eq!(n.plugins.len(), 1);
        assert_eq!(n.plugins[0]["type"], "bridge");
        assert!(!n.plugins[0].contains_key("name"));
    }

    #[test]
    fn a_list_chains_its_plugins_with_the_previous_result() {
        let n = parse("x.conflist", FileKind::List, LIST).unwrap();
        assert_eq!(n.plugins.len(), 2);
        let prev = serde_json::json!({"ips": [{"address": "10.1.0.2/24"}]});
        let ports = [PortMap {
            host_port: 31000,
            container_port: 80,
            protocol: "tcp".into(),
        }];
        let first = plugin_stdin(&n, 0, None, &ports).unwrap();
        assert_eq!(first["name"], "chain");
        assert_eq!(first["cniVersion"], "1.0.0");
        assert!(first.get("prevResult").is_none());
        assert!(
            first.get("runtimeConfig").is_none(),
            "bridge has no portMappings capability"
        );
        let second = plugin_stdin(&n, 1, Some(&prev), &ports).unwrap();
        assert_eq!(second["prevResult"], prev);
        assert_eq!(
            second["runtimeConfig"]["portMappings"][0]["hostPort"],
            31000
        );
        assert!(plugin_stdin(&n, 2, None, &[]).is_none());
    }

    #[test]
    fn bad_files_are_refused_naming_the_field() {
        let cases = [
            (r#"{"type":"bridge"}"#, FileKind::Single, "name"),
            (r#"{"name":"n"}"#, FileKind::Single, "type"),
            (
                r#"{"name":"n","type":"../../bin/sh"}"#,
                FileKind::Single,
                "type",
            ),
            (
                r#"{"name":"a b","type":"bridge"}"#,
                FileKind::Single,
                "name",
            ),
            (r#"{"name":"n","plugins":[]}"#, FileKind::List, "plugins"),
            (
                r#"{"name":"n","plugins":[1]}"#,
                FileKind::List,
                "plugins[0]",
            ),
            (
                r#"{"name":"n","plugins":[{"type":7}]}"#,
                FileKind::List,
                "plugins[0].type",
            ),
            (r#"[1,2]"#, FileKind::Single, "object"),
            (r#"{"#, FileKind::Single, "JSON"),
        ];
        for (text, kind, what) in cases {
            let err = parse("f.conf", kind, text).unwrap_err().to_string();
            assert!(err.contains(what), "{text}: {err}");
            assert!(err.starts_with("f.conf"), "{err}");
        }
    }

    #[test]
    fn a_directory_takes_files_in_name_order_and_the_first_name_wins() {
        let other = BRIDGE.replace("cni0", "cni9");
        let (nets, problems) = networks([
            ("20-mynet.conf", other.as_str()),
            ("10-mynet.conf", BRIDGE),
            ("chain.conflist", LIST),
            ("README", "not a config"),
            ("bad.conf", "{"),
        ]);
        assert_eq!(nets.len(), 2);
        assert_eq!(nets["mynet"].plugins[0]["bridge"], "cni0");
        assert_eq!(problems.len(), 1);
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in ".{0,300}", list in any::<bool>()) {
            let kind = if list { FileKind::List } else { FileKind::Single };
            let _ = parse("f", kind, &text);
        }

        #[test]
        fn arbitrary_json_never_panics_and_accepted_types_are_plain(
            name in "[a-z0-9 ./-]{0,12}",
            t in "[a-z0-9 ./-]{0,12}",
            extra in proptest::collection::vec(("[a-z]{1,5}", any::<i64>()), 0..4),
        ) {
            let mut plugin = serde_json::json!({"type": t});
            for (k, v) in &extra { plugin[k] = serde_json::json!(v); }
            let list = serde_json::json!({"name": name, "plugins": [plugin.clone()]});
            let mut single = plugin;
            single["name"] = serde_json::json!(name);
            for (kind, v) in [(FileKind::List, list), (FileKind::Single, single)] {
                if let Ok(n) = parse("f", kind, &v.to_string()) {
                    prop_assert!(valid_name(&n.name));
                    for p in &n.plugins {
                        let ty = p["type"].as_str().unwrap_or("/");
                        prop_assert!(!ty.contains('/') && ty != "..");
                    }
                    prop_assert!(plugin_stdin(&n, 0, None, &[]).is_some());
                }
            }
        }
    }
}
