//! HTTP to the master and agents, with one-line errors.

use std::time::Duration;

use serde_json::Value;

pub struct Master {
    base: String,
    http: reqwest::blocking::Client,
}

/// "slave(1)@10.0.0.1:5051" -> "10.0.0.1:5051".
pub fn pid_address(pid: &str) -> Option<String> {
    let (_, addr) = pid.split_once('@')?;
    (!addr.is_empty()).then(|| addr.to_string())
}

/// Accepts "host:port", "http://host:port/" or "host" (port 5050).
pub fn normalize(addr: &str) -> Result<String, String> {
    let a = addr
        .trim()
        .trim_start_matches("http://")
        .trim_end_matches('/');
    if a.is_empty() {
        return Err(
            "the master address is empty (use --master HOST:PORT or PADDOCK_MASTER)".into(),
        );
    }
    if a.contains(':') {
        Ok(a.to_string())
    } else {
        Ok(format!("{a}:5050"))
    }
}

fn client() -> Result<reqwest::blocking::Client, String> {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))
}

fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s = inner.to_string();
        src = inner.source();
    }
    s
}

pub fn get_json(http: &reqwest::blocking::Client, what: &str, url: &str) -> Result<Value, String> {
    let r = http
        .get(url)
        .send()
        .map_err(|e| format!("cannot reach {what}: {}", describe(&e)))?;
    let status = r.status();
    let v: Value = r.json().unwrap_or(Value::Null);
    if !status.is_success() {
        let msg = v["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| status.to_string());
        return Err(format!("{what}: {msg}"));
    }
    Ok(v)
}

impl Master {
    pub fn new(addr: &str) -> Result<Master, String> {
        Ok(Master {
            base: normalize(addr)?,
            http: client()?,
        })
    }

    pub fn get(&self, path: &str) -> Result<Value, String> {
        get_json(
            &self.http,
            &format!("master at {}", self.base),
            &format!("http://{}{path}", self.base),
        )
    }

    pub fn post(&self, path: &str) -> Result<Value, String> {
        let what = format!("master at {}", self.base);
        let r = self
            .http
            .post(format!("http://{}{path}", self.base))
            .send()
            .map_err(|e| format!("cannot reach {what}: {}", describe(&e)))?;
        let status = r.status();
        let v: Value = r.json().unwrap_or(Value::Null);
        if !status.is_success() {
            let msg = v["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| status.to_string());
            return Err(msg);
        }
        Ok(v)
    }

    pub fn agent(&self, address: &str, path: &str) -> Result<Value, String> {
        get_json(
            &self.http,
            &format!("agent at {address}"),
            &format!("http://{address}{path}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            pid_address("slave(1)@127.0.0.1:5051").as_deref(),
            Some("127.0.0.1:5051")
        );
        assert_eq!(pid_address("nonsense"), None);
        assert_eq!(normalize("http://h:1/").unwrap(), "h:1");
        assert_eq!(normalize("h").unwrap(), "h:5050");
        assert!(normalize(" ").is_err());
    }
}
