//! The name-service files of a container on CNI networks, as Mesos's
//! network/cni isolator writes them: `/etc/resolv.conf` from the DNS of
//! the first network whose result has nameservers, else the host's; and
//! `/etc/hosts` with loopback and the container's hostname on its first
//! address. Pure: text in, text out.

use std::net::IpAddr;

use serde_json::Value;

/// A CNI result's `dns` (`nameservers`, `domain`, `search`, `options`),
/// if it names at least one nameserver.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dns {
    pub nameservers: Vec<String>,
    pub domain: Option<String>,
    pub search: Vec<String>,
    pub options: Vec<String>,
}

/// Only what can sit on one resolv.conf line: no control characters,
/// no spaces (each value is one word).
fn word(s: &str) -> Option<String> {
    let ok = !s.is_empty() && s.len() <= 253 && s.chars().all(|c| c.is_ascii_graphic());
    ok.then(|| s.to_string())
}

fn words(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter_map(word)
                .collect()
        })
        .unwrap_or_default()
}

/// The DNS of a plugin result, when it has nameservers that are addresses.
pub fn dns_of(result: &Value) -> Option<Dns> {
    let dns = result.get("dns")?;
    let nameservers: Vec<String> = words(dns.get("nameservers"))
        .into_iter()
        .filter(|n| n.parse::<IpAddr>().is_ok())
        .collect();
    if nameservers.is_empty() {
        return None;
    }
    Some(Dns {
        nameservers,
        domain: dns.get("domain").and_then(Value::as_str).and_then(word),
        search: words(dns.get("search")),
        options: words(dns.get("options")),
    })
}

/// `/etc/resolv.conf` for `dns`.
pub fn resolv_conf(dns: &Dns) -> String {
    let mut out = String::from("# Written by paddock from the CNI network's DNS\n");
    if let Some(d) = &dns.domain {
        out.push_str(&format!("domain {d}\n"));
    }
    if !dns.search.is_empty() {
        out.push_str(&format!("search {}\n", dns.search.join(" ")));
    }
    for n in &dns.nameservers {
        out.push_str(&format!("nameserver {n}\n"));
    }
    if !dns.options.is_empty() {
        out.push_str(&format!("options {}\n", dns.options.join(" ")));
    }
    out
}

/// `/etc/hosts`: loopback, and `hostname` on `ip` when there is one.
pub fn hosts(hostname: &str, ip: Option<IpAddr>) -> String {
    let mut out = String::from("127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n");
    if let (Some(ip), Some(name)) = (ip, word(hostname)) {
        out.push_str(&format!("{ip} {name}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_results_dns_becomes_resolv_conf() {
        let r = serde_json::json!({"dns": {"nameservers": ["10.0.0.53", "not-an-ip"],
            "domain": "svc.local", "search": ["a.test", "b test"], "options": ["ndots:2"]}});
        let dns = dns_of(&r).unwrap();
        assert_eq!(dns.nameservers, ["10.0.0.53"]);
        let text = resolv_conf(&dns);
        assert!(text.contains("nameserver 10.0.0.53\n"), "{text}");
        assert!(text.contains("domain svc.local\n"), "{text}");
        assert!(
            text.contains("search a.test\n"),
            "one word per value: {text}"
        );
        assert!(text.contains("options ndots:2\n"), "{text}");
        assert_eq!(dns_of(&serde_json::json!({"dns": {}})), None);
        assert_eq!(dns_of(&serde_json::json!({})), None);
    }

    #[test]
    fn hosts_name_the_container_on_its_address() {
        let h = hosts("web.test", "10.1.0.5".parse().ok());
        assert!(h.starts_with("127.0.0.1 localhost\n"));
        assert!(h.ends_with("10.1.0.5 web.test\n"), "{h}");
        assert!(!hosts("bad\nname", "10.1.0.5".parse().ok()).contains("bad"));
    }

    proptest! {
        #[test]
        fn arbitrary_dns_never_breaks_a_line(
            ns in proptest::collection::vec(".{0,20}", 0..3),
            search in proptest::collection::vec(".{0,20}", 0..3),
            domain in ".{0,20}",
        ) {
            let r = serde_json::json!({"dns": {"nameservers": ns, "search": search, "domain": domain}});
            if let Some(d) = dns_of(&r) {
                let text = resolv_conf(&d);
                for line in text.lines() {
                    prop_assert!(line.starts_with('#') || line.starts_with("domain ")
                        || line.starts_with("search ") || line.starts_with("nameserver ")
                        || line.starts_with("options "), "{}", line);
                }
            }
        }
    }
}
