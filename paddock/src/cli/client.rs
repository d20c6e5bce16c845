//! HTTP to the master and its agents: 5 s timeouts, one-line errors (the
//! server's `message` when it sends one), and finding the agent that runs a
//! task from the master's `/master/slaves`.

use std::time::Duration;

use serde_json::Value;

/// How long one request may take, connect included.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The master's default address.
pub const DEFAULT_MASTER: &str = "127.0.0.1:5050";

/// A blocking JSON client bound to one master.
pub struct Client {
    http: reqwest::blocking::Client,
    master: String,
}

/// Accepts `host:port`, `http://host:port/` or a bare `host` (port 5050)
/// and returns `host:port`.
pub fn normalize(addr: &str) -> Result<String, String> {
    normalize_with(
        addr,
        5050,
        "the master",
        "--master HOST:PORT or PADDOCK_MASTER",
    )
}

/// [`normalize`] for any service: a bare host gets `default_port`; an
/// empty address names `what` and `hint` (where the address comes from).
pub fn normalize_with(
    addr: &str,
    default_port: u16,
    what: &str,
    hint: &str,
) -> Result<String, String> {
    let trimmed = addr.trim();
    if trimmed.starts_with("https://") {
        return Err(format!(
            "'{trimmed}': https is not supported, use http://HOST:PORT or HOST:PORT"
        ));
    }
    let a = trimmed.trim_start_matches("http://").trim_end_matches('/');
    if a.is_empty() {
        return Err(format!("{what} address is empty (use {hint})"));
    }
    if a.contains('/') || a.contains(char::is_whitespace) {
        return Err(format!("'{trimmed}' is not a HOST:PORT address"));
    }
    match a.rsplit_once(':') {
        // A bracketed IPv6 address without a port ("[::1]").
        Some((_, tail)) if tail.ends_with(']') => Ok(format!("{a}:{default_port}")),
        Some((host, port)) => {
            if host.is_empty() || port.parse::<u16>().is_err() {
                Err(format!("'{trimmed}' is not a HOST:PORT address"))
            } else {
                Ok(a.to_string())
            }
        }
        None => Ok(format!("{a}:{default_port}")),
    }
}

/// The `IP:PORT` of a libprocess pid such as `slave(1)@10.0.0.1:5051`.
pub fn pid_address(pid: &str) -> Option<String> {
    let (_, addr) = pid.split_once('@')?;
    let (host, port) = addr.rsplit_once(':')?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return None;
    }
    Some(addr.to_string())
}

/// Percent-encodes everything but RFC 3986 unreserved characters (and `/`
/// when `keep_slash`).
pub fn percent_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The innermost useful words of a transport error: "connection refused",
/// "timed out after 5s", "failed to lookup address information: ...".
pub(super) fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("timed out after {}s", TIMEOUT.as_secs());
    }
    let mut innermost = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            return match io.kind() {
                K::ConnectionRefused => "connection refused".into(),
                K::ConnectionReset => "connection reset".into(),
                K::TimedOut => format!("timed out after {}s", TIMEOUT.as_secs()),
                _ => strip_os_error(&io.to_string()),
            };
        }
        innermost = inner.to_string();
        src = inner.source();
    }
    strip_os_error(&innermost)
}

/// "Connection refused (os error 111)" -> "Connection refused".
fn strip_os_error(s: &str) -> String {
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s.to_string(),
    }
    .replace('\n', " ")
}

/// The one-line error for a non-2xx answer: the JSON `message` if any,
/// else the status and a short body.
pub fn status_message(status: u16, reason: &str, body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        if let Some(m) = v["message"].as_str().or(v["error"].as_str()) {
            return m.replace('\n', " ");
        }
    }
    let text: String = body.trim().replace('\n', " ").chars().take(200).collect();
    if text.is_empty() {
        format!("HTTP {status} {reason}")
    } else {
        format!("HTTP {status} {reason}: {text}")
    }
}

/// Why a request failed: the server could not be reached, or it answered
/// with an error.
#[derive(Debug)]
pub enum Failure {
    Unreachable(String),
    Status(String),
    BadBody(String),
}

impl Client {
    pub fn new(master: &str) -> Result<Client, String> {
        let http = reqwest::blocking::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {}", describe(&e)))?;
        Ok(Client {
            http,
            master: normalize(master)?,
        })
    }

    fn send(&self, req: reqwest::blocking::RequestBuilder) -> Result<Value, Failure> {
        let r = req.send().map_err(|e| Failure::Unreachable(describe(&e)))?;
        let status = r.status();
        let body = r.text().map_err(|e| Failure::Unreachable(describe(&e)))?;
        if !status.is_success() {
            return Err(Failure::Status(status_message(
                status.as_u16(),
                status.canonical_reason().unwrap_or(""),
                &body,
            )));
        }
        if body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&body).map_err(|e| Failure::BadBody(format!("invalid JSON ({e})")))
    }

    fn explain(what: &str, f: Failure) -> String {
        match f {
            Failure::Unreachable(m) => format!("cannot reach {what}: {m}"),
            Failure::Status(m) | Failure::BadBody(m) => format!("{what}: {m}"),
        }
    }

    /// GET a JSON document from the master.
    pub fn get(&self, path: &str) -> Result<Value, String> {
        let what = format!("master at {}", self.master);
        self.send(self.http.get(format!("http://{}{path}", self.master)))
            .map_err(|f| Self::explain(&what, f))
    }

    /// POST with an empty body to the master; an error answer's message is
    /// returned as is (e.g. "task 'x' not found").
    pub fn post(&self, path: &str) -> Result<Value, String> {
        let what = format!("master at {}", self.master);
        match self.send(self.http.post(format!("http://{}{path}", self.master))) {
            Ok(v) => Ok(v),
            Err(Failure::Status(m)) => Err(m),
            Err(f) => Err(Self::explain(&what, f)),
        }
    }

    /// GET a JSON document from an agent at `address` (`host:port`).
    pub fn agent_get(&self, address: &str, path: &str) -> Result<Value, String> {
        let what = format!("agent at {address}");
        self.send(self.http.get(format!("http://{address}{path}")))
            .map_err(|f| Self::explain(&what, f))
    }

    /// Every task the master knows (live and completed), oldest first.
    pub fn tasks(&self) -> Result<Vec<Value>, String> {
        let v = self.get("/master/tasks?limit=1000000&order=asc")?;
        Ok(v["tasks"].as_array().cloned().unwrap_or_default())
    }

    /// The newest task with this id, or "task 'ID' not found".
    pub fn task(&self, id: &str) -> Result<Value, String> {
        let v = self.get(&format!(
            "/master/tasks?task_id={}&order=des&limit=100",
            percent_encode(id, false)
        ))?;
        v["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            // The master may ignore `task_id`; filter here too.
            .find(|t| t["id"] == id)
            .cloned()
            .ok_or_else(|| format!("task '{id}' not found"))
    }

    /// The `host:port` of the agent with this id.
    pub fn agent_address(&self, agent_id: &str) -> Result<String, String> {
        let slaves = self.get("/master/slaves")?;
        agent_address_in(&slaves, agent_id)
            .ok_or_else(|| format!("agent '{agent_id}' is not registered with the master"))
    }
}

/// Finds an agent's `host:port` in a `/master/slaves` document: from its
/// pid, else from hostname and port.
pub fn agent_address_in(slaves: &Value, agent_id: &str) -> Option<String> {
    let s = slaves["slaves"]
        .as_array()?
        .iter()
        .find(|s| s["id"] == agent_id)?;
    s["pid"].as_str().and_then(pid_address).or_else(|| {
        let host = s["hostname"].as_str()?;
        let port = s["port"].as_u64()?;
        Some(format!("{host}:{port}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_parse_to_addresses() {
        assert_eq!(
            pid_address("slave(1)@127.0.0.1:5051").as_deref(),
            Some("127.0.0.1:5051")
        );
        assert_eq!(
            pid_address("slave(12)@10.1.2.3:31000").as_deref(),
            Some("10.1.2.3:31000")
        );
        assert_eq!(pid_address("nonsense"), None);
        assert_eq!(pid_address("slave(1)@"), None);
        assert_eq!(pid_address("slave(1)@host"), None);
        assert_eq!(pid_address("slave(1)@host:99999"), None);
    }

    #[test]
    fn addresses_normalise() {
        assert_eq!(normalize("127.0.0.1:5050").unwrap(), "127.0.0.1:5050");
        assert_eq!(normalize("http://h:1/").unwrap(), "h:1");
        assert_eq!(normalize(" http://h:1 ").unwrap(), "h:1");
        assert_eq!(normalize("h").unwrap(), "h:5050");
        assert_eq!(normalize("[::1]").unwrap(), "[::1]:5050");
        assert_eq!(normalize("[::1]:7").unwrap(), "[::1]:7");
        assert!(normalize(" ").is_err());
        assert!(normalize("h:port").is_err());
        assert!(normalize("h:1/x").is_err());
        assert!(normalize("https://h:1").is_err());
    }

    #[test]
    fn encoding_keeps_only_unreserved() {
        assert_eq!(percent_encode("/a b/c&d", true), "/a%20b/c%26d");
        assert_eq!(percent_encode("a/b c", false), "a%2Fb%20c");
        assert_eq!(percent_encode("é", false), "%C3%A9");
    }

    #[test]
    fn error_bodies_give_their_message() {
        assert_eq!(
            status_message(404, "Not Found", r#"{"message":"task 'x' not found"}"#),
            "task 'x' not found"
        );
        assert_eq!(
            status_message(503, "Service Unavailable", ""),
            "HTTP 503 Service Unavailable"
        );
        assert_eq!(
            status_message(400, "Bad Request", "bad\nthing"),
            "HTTP 400 Bad Request: bad thing"
        );
    }

    #[test]
    fn agent_addresses_come_from_pids_or_hostnames() {
        let slaves = serde_json::json!({"slaves": [
            {"id": "M-S0", "pid": "slave(1)@10.0.0.5:5051", "hostname": "a", "port": 5051},
            {"id": "M-S1", "hostname": "b", "port": 5052}
        ]});
        assert_eq!(
            agent_address_in(&slaves, "M-S0").as_deref(),
            Some("10.0.0.5:5051")
        );
        assert_eq!(agent_address_in(&slaves, "M-S1").as_deref(), Some("b:5052"));
        assert_eq!(agent_address_in(&slaves, "M-S2"), None);
    }
}
