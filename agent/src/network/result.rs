//! What a CNI plugin prints: a result on success, an error object on
//! failure (CNI spec, all versions from 0.1.0 to 1.x). Pure, and
//! defensive: the output of a plugin binary is untrusted input.

use std::net::IpAddr;

use serde_json::Value;

/// The largest plugin output read.
pub const MAX_OUTPUT_BYTES: usize = 1 << 20;

/// Why a plugin's output is not a usable result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResultError {
    #[error("the plugin's result is not valid JSON: {0}")]
    Json(String),
    #[error("the plugin's result is not a JSON object")]
    NotAnObject,
    #[error("the plugin's result is larger than {MAX_OUTPUT_BYTES} bytes")]
    TooLarge,
}

/// Parses a successful plugin's stdout. An empty output is an empty
/// result (plugins print nothing on DEL).
pub fn parse(stdout: &[u8]) -> Result<Value, ResultError> {
    if stdout.len() > MAX_OUTPUT_BYTES {
        return Err(ResultError::TooLarge);
    }
    if stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    let v: Value = serde_json::from_slice(stdout).map_err(|e| ResultError::Json(e.to_string()))?;
    if !v.is_object() {
        return Err(ResultError::NotAnObject);
    }
    Ok(v)
}

/// Parses an `a.b.c.d/len` or bare address.
fn address(s: &str) -> Option<IpAddr> {
    let ip = s.split_once('/').map_or(s, |(ip, _)| ip);
    ip.parse().ok()
}

/// The container's addresses in a result: `ips[].address` (0.3.0 and
/// later; entries whose `interface` is a host-side interface, one without
/// a `sandbox`, are skipped), or `ip4.ip` / `ip6.ip` (0.1.0, 0.2.0).
/// Duplicates are dropped; the order is the plugin's.
pub fn container_ips(result: &Value) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    let mut push = |ip: Option<IpAddr>| {
        if let Some(ip) = ip {
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    };
    let interfaces = result.get("interfaces").and_then(Value::as_array);
    let in_sandbox = |i: &Value| -> bool {
        let Some(idx) = i.as_u64() else { return true };
        let Some(list) = interfaces else { return true };
        match usize::try_from(idx).ok().and_then(|i| list.get(i)) {
            Some(iface) => iface
                .get("sandbox")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty()),
            None => false,
        }
    };
    if let Some(ips) = result.get("ips").and_then(Value::as_array) {
        for entry in ips {
            if let Some(i) = entry.get("interface") {
                if !in_sandbox(i) {
                    continue;
                }
            }
            push(
                entry
                    .get("address")
                    .and_then(Value::as_str)
                    .and_then(address),
            );
        }
    }
    for key in ["ip4", "ip6"] {
        push(
            result
                .get(key)
                .and_then(|v| v.get("ip"))
                .and_then(Value::as_str)
                .and_then(address),
        );
    }
    out
}

/// A plugin's error object (`{"code", "msg", "details"}`) as one line; the
/// raw output (cut short) when it is not one.
pub fn error_message(stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(&stdout[..stdout.len().min(4096)]);
    let Ok(v) = serde_json::from_str::<Value>(&text) else {
        return text.trim().to_string();
    };
    let msg = v.get("msg").and_then(Value::as_str).unwrap_or_default();
    let details = v.get("details").and_then(Value::as_str).unwrap_or_default();
    let code = v.get("code").and_then(Value::as_u64);
    let mut out = String::new();
    if let Some(c) = code {
        out.push_str(&format!("error {c}: "));
    }
    out.push_str(msg);
    if !details.is_empty() {
        out.push_str(&format!(" ({details})"));
    }
    if msg.is_empty() && details.is_empty() {
        return text.trim().to_string();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_bridge_result_gives_the_container_side_address() {
        let out = br#"{"cniVersion":"0.4.0",
            "interfaces":[{"name":"cni0","mac":"aa"},{"name":"veth1","mac":"bb"},
                          {"name":"eth0","mac":"cc","sandbox":"/run/netns/x"}],
            "ips":[{"version":"4","interface":2,"address":"10.22.0.5/16","gateway":"10.22.0.1"},
                   {"version":"4","interface":0,"address":"10.22.0.1/16"}],
            "dns":{}}"#;
        let r = parse(out).unwrap();
        assert_eq!(
            container_ips(&r),
            vec!["10.22.0.5".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn old_results_and_results_without_interfaces_are_read() {
        let old = parse(br#"{"ip4":{"ip":"10.0.0.2/24"},"ip6":{"ip":"fd00::2/64"}}"#).unwrap();
        assert_eq!(
            container_ips(&old),
            vec![
                "10.0.0.2".parse::<IpAddr>().unwrap(),
                "fd00::2".parse::<IpAddr>().unwrap()
            ]
        );
        let bare = parse(br#"{"ips":[{"address":"192.168.1.9/24"},{"address":"junk"}]}"#).unwrap();
        assert_eq!(
            container_ips(&bare),
            vec!["192.168.1.9".parse::<IpAddr>().unwrap()]
        );
    }

    #[test]
    fn empty_output_is_an_empty_result_and_bad_output_is_an_error() {
        assert_eq!(
            container_ips(&parse(b"  \n").unwrap()),
            Vec::<IpAddr>::new()
        );
        assert_eq!(parse(b"[1]"), Err(ResultError::NotAnObject));
        assert!(matches!(parse(b"{oops"), Err(ResultError::Json(_))));
    }

    #[test]
    fn an_error_object_reads_as_one_line() {
        let m = error_message(
            br#"{"cniVersion":"0.4.0","code":7,"msg":"bad config","details":"no subnet"}"#,
        );
        assert_eq!(m, "error 7: bad config (no subnet)");
        assert_eq!(error_message(b"plain text\n"), "plain text");
    }

    proptest! {
        #[test]
        fn arbitrary_output_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(v) = parse(&bytes) {
                let _ = container_ips(&v);
            }
            let _ = error_message(&bytes);
        }

        #[test]
        fn arbitrary_results_never_panic(
            ifaces in proptest::collection::vec(proptest::option::of("[a-z/]{0,6}"), 0..4),
            ips in proptest::collection::vec((proptest::option::of(any::<i64>()), "[0-9a-f.:/x]{0,20}"), 0..5),
        ) {
            let interfaces: Vec<Value> = ifaces.iter().map(|s| match s {
                Some(s) => serde_json::json!({"name": "i", "sandbox": s}),
                None => serde_json::json!({"name": "i"}),
            }).collect();
            let ips: Vec<Value> = ips.iter().map(|(i, a)| match i {
                Some(i) => serde_json::json!({"interface": i, "address": a}),
                None => serde_json::json!({"address": a}),
            }).collect();
            let v = serde_json::json!({"interfaces": interfaces, "ips": ips});
            let got = container_ips(&v);
            let mut dedup = got.clone();
            dedup.dedup();
            prop_assert_eq!(got.len(), dedup.len());
        }
    }
}
