//! HTTP to the built-in frameworks' REST APIs (Marathon's `/v2`, Chronos's
//! `/v1/scheduler`): one blocking client per service, 5 s timeouts, and
//! answers kept whole (status and body) so each command can turn an error
//! into its own one-line message.

use serde_json::Value;

use super::client::{describe, normalize_with, TIMEOUT};

/// Marathon's default address.
pub const DEFAULT_MARATHON: &str = "127.0.0.1:8080";
/// Chronos's default address.
pub const DEFAULT_CHRONOS: &str = "127.0.0.1:4400";

/// A server's answer: its status and its body, parsed as JSON when it is
/// JSON (else a JSON string holding the text; `Null` when empty).
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    /// Marathon's `Marathon-Deployment-Id` header, when sent.
    pub deployment_id: Option<String>,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Parses a body: JSON when it is, else the trimmed text as a string.
pub fn parse_body(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.trim().to_string()))
}

/// A blocking client bound to one service.
pub struct Service {
    http: reqwest::blocking::Client,
    /// `host:port`.
    pub addr: String,
    /// "marathon" or "chronos", for messages.
    pub name: &'static str,
}

impl Service {
    fn new(name: &'static str, addr: &str, port: u16, hint: &str) -> Result<Service, String> {
        let http = reqwest::blocking::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {}", describe(&e)))?;
        Ok(Service {
            http,
            addr: normalize_with(addr, port, &format!("the {name}"), hint)?,
            name,
        })
    }

    pub fn marathon(addr: &str) -> Result<Service, String> {
        Service::new(
            "marathon",
            addr,
            8080,
            "--marathon HOST:PORT or PADDOCK_MARATHON",
        )
    }

    pub fn chronos(addr: &str) -> Result<Service, String> {
        Service::new(
            "chronos",
            addr,
            4400,
            "--chronos HOST:PORT or PADDOCK_CHRONOS",
        )
    }

    /// "marathon at 127.0.0.1:8080".
    pub fn what(&self) -> String {
        format!("{} at {}", self.name, self.addr)
    }

    /// Sends one request; any answer (even 4xx/5xx) is a `Reply`, only a
    /// transport failure is an error ("cannot reach marathon at …: …").
    pub fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, String> {
        let mut req = self
            .http
            .request(method, format!("http://{}{path}", self.addr))
            .header("Accept", "application/json");
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let unreachable =
            |e: reqwest::Error| format!("cannot reach {}: {}", self.what(), describe(&e));
        let r = req.send().map_err(unreachable)?;
        let status = r.status().as_u16();
        let deployment_id = r
            .headers()
            .get("Marathon-Deployment-Id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = r.text().map_err(unreachable)?;
        Ok(Reply {
            status,
            body: parse_body(&text),
            deployment_id,
        })
    }

    /// Opens a long-lived GET (server-sent events): connect and headers
    /// within the usual timeout, then no limit on the body.
    pub fn stream(&self, path: &str) -> Result<reqwest::blocking::Response, String> {
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(TIMEOUT)
            .timeout(None)
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {}", describe(&e)))?;
        let r = http
            .get(format!("http://{}{path}", self.addr))
            .header("Accept", "text/event-stream")
            .send()
            .map_err(|e| format!("cannot reach {}: {}", self.what(), describe(&e)))?;
        if !r.status().is_success() {
            return Err(format!("{}: HTTP {}", self.what(), r.status().as_u16()));
        }
        Ok(r)
    }

    pub fn get(&self, path: &str) -> Result<Reply, String> {
        self.call(reqwest::Method::GET, path, None)
    }
}

/// The `message` of an error body, its text, or "HTTP <status>".
pub fn message_of(r: &Reply) -> String {
    let m = match &r.body {
        Value::Object(o) => o
            .get("message")
            .or_else(|| o.get("error"))
            .and_then(Value::as_str)
            .filter(|m| !m.trim().is_empty())
            .map(str::to_string),
        Value::String(s) if !s.is_empty() => Some(s.chars().take(200).collect()),
        _ => None,
    };
    m.unwrap_or_else(|| format!("HTTP {}", r.status))
        .replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_parse_as_json_or_text() {
        assert_eq!(parse_body(""), Value::Null);
        assert_eq!(parse_body(" \n"), Value::Null);
        assert_eq!(parse_body(r#"{"a":1}"#), serde_json::json!({"a": 1}));
        assert_eq!(parse_body("pong\n"), Value::String("pong".into()));
    }

    #[test]
    fn messages_come_from_the_body_or_the_status() {
        let r = |status, body: Value| Reply {
            status,
            body,
            deployment_id: None,
        };
        assert_eq!(
            message_of(&r(
                404,
                serde_json::json!({"message": "App '/x' does not exist"})
            )),
            "App '/x' does not exist"
        );
        assert_eq!(message_of(&r(500, Value::Null)), "HTTP 500");
        assert_eq!(
            message_of(&r(502, serde_json::json!({"message": " "}))),
            "HTTP 502"
        );
        assert_eq!(
            message_of(&r(400, Value::String("bad\nthing".into()))),
            "bad thing"
        );
    }

    #[test]
    fn addresses_get_the_service_port() {
        assert_eq!(Service::marathon("h").unwrap().addr, "h:8080");
        assert_eq!(Service::chronos("http://h/").unwrap().addr, "h:4400");
        assert_eq!(Service::chronos("h:1").unwrap().addr, "h:1");
        let err = Service::marathon(" ").err().unwrap();
        assert!(err.contains("PADDOCK_MARATHON"), "{err}");
    }
}
