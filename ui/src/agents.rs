//! Finding an agent's HTTP address from the master's `/master/slaves`
//! answer: the `pid` (`slave(1)@host:port`) when it has one, else
//! `hostname` and `port`. Pure functions, so the parsing is testable.

use std::collections::HashMap;

use serde_json::Value;

/// `slave(1)@10.0.0.5:5051` → `10.0.0.5:5051`. `None` for anything that
/// does not end in `@host:port` with a numeric port.
pub fn address_from_pid(pid: &str) -> Option<String> {
    let (_, addr) = pid.rsplit_once('@')?;
    let (host, port) = addr.rsplit_once(':')?;
    if host.is_empty() || host.contains(['/', '@', ' ', '?', '#']) {
        return None;
    }
    port.parse::<u16>().ok()?;
    Some(format!("{host}:{port}"))
}

/// Every agent id in a `/master/slaves` body mapped to its base URL
/// (`http://host:port`). Agents without a usable address are left out.
pub fn base_urls(slaves: &Value) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let Some(list) = slaves.get("slaves").and_then(Value::as_array) else {
        return out;
    };
    for s in list {
        let Some(id) = s.get("id").and_then(Value::as_str) else {
            continue;
        };
        let from_pid = s
            .get("pid")
            .and_then(Value::as_str)
            .and_then(address_from_pid);
        let from_host = || {
            let host = s.get("hostname").and_then(Value::as_str)?;
            let port = s.get("port").and_then(Value::as_u64)?;
            u16::try_from(port).ok()?;
            (!host.is_empty()).then(|| format!("{host}:{port}"))
        };
        if let Some(addr) = from_pid.or_else(from_host) {
            out.insert(id.to_string(), format!("http://{addr}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn pid_gives_host_and_port() {
        assert_eq!(
            address_from_pid("slave(1)@127.0.0.1:5051").as_deref(),
            Some("127.0.0.1:5051")
        );
        assert_eq!(address_from_pid("slave(1)@host"), None);
        assert_eq!(address_from_pid("slave(1)@:5051"), None);
        assert_eq!(address_from_pid("slave(1)@h:99999"), None);
        assert_eq!(address_from_pid("slave(1)@evil.com/x:80"), None);
    }

    #[test]
    fn slaves_map_prefers_pid_then_hostname() {
        let body = json!({"slaves": [
            {"id": "a", "pid": "slave(1)@10.0.0.1:5051", "hostname": "x", "port": 1},
            {"id": "b", "hostname": "node-b", "port": 5052},
            {"id": "c", "hostname": "", "port": 5052},
            {"pid": "slave(1)@10.0.0.9:5051"}
        ]});
        let m = base_urls(&body);
        assert_eq!(m.get("a").map(String::as_str), Some("http://10.0.0.1:5051"));
        assert_eq!(m.get("b").map(String::as_str), Some("http://node-b:5052"));
        assert_eq!(m.len(), 2);
    }

    proptest! {
        #[test]
        fn arbitrary_pids_never_panic(s in ".*") {
            if let Some(a) = address_from_pid(&s) {
                prop_assert!(a.contains(':'));
            }
        }

        #[test]
        fn arbitrary_json_never_panics(s in ".*") {
            if let Ok(v) = serde_json::from_str::<Value>(&s) {
                let _ = base_urls(&v);
            }
        }
    }
}
