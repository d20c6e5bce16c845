//! A minimal Mesos v1 scheduler client for tests: SUBSCRIBE on one
//! connection (a thread decodes the RecordIO stream), calls on others.

use std::io::Read;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use paddock_proto::recordio::Decoder;
use serde_json::{json, Value};

pub struct Scheduler {
    pub master: String,
    pub framework_id: String,
    pub stream_id: String,
    events: mpsc::Receiver<Value>,
    /// Events read but not yet asked for.
    backlog: Vec<Value>,
    client: reqwest::blocking::Client,
}

impl Scheduler {
    /// Subscribes with `framework_info` (a JSON object).
    pub fn subscribe(master: &str, framework_info: Value) -> Scheduler {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("client");
        let stream_client = reqwest::blocking::Client::builder()
            .timeout(None)
            .build()
            .expect("client");
        let body = json!({"type": "SUBSCRIBE", "subscribe": {"framework_info": framework_info}});
        let mut resp = stream_client
            .post(format!("http://{master}/api/v1/scheduler"))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json")
            .body(body.to_string())
            .send()
            .expect("SUBSCRIBE");
        assert_eq!(resp.status().as_u16(), 200, "SUBSCRIBE status");
        let stream_id = resp
            .headers()
            .get("Mesos-Stream-Id")
            .and_then(|v| v.to_str().ok())
            .expect("Mesos-Stream-Id header")
            .to_string();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut dec = Decoder::default();
            let mut buf = BytesMut::new();
            let mut chunk = [0u8; 65536];
            loop {
                match resp.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                while let Ok(Some(rec)) = dec.decode_buf(&mut buf) {
                    let Ok(v) = serde_json::from_slice::<Value>(&rec) else {
                        return;
                    };
                    if tx.send(v).is_err() {
                        return;
                    }
                }
            }
        });
        let mut s = Scheduler {
            master: master.to_string(),
            framework_id: String::new(),
            stream_id,
            events: rx,
            backlog: Vec::new(),
            client,
        };
        let subscribed = s.next_event("SUBSCRIBED", Duration::from_secs(10));
        s.framework_id = subscribed["subscribed"]["framework_id"]["value"]
            .as_str()
            .expect("framework id")
            .to_string();
        s
    }

    /// The next event of `kind`, skipping (and keeping) others.
    pub fn next_event(&mut self, kind: &str, timeout: Duration) -> Value {
        self.next_matching(&format!("a {kind} event"), timeout, |e| e["type"] == kind)
    }

    pub fn next_matching(
        &mut self,
        what: &str,
        timeout: Duration,
        f: impl Fn(&Value) -> bool,
    ) -> Value {
        if let Some(i) = self.backlog.iter().position(&f) {
            return self.backlog.remove(i);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) if f(&e) => return e,
                Ok(e) => self.backlog.push(e),
                Err(_) => panic!("no {what} within {timeout:?}; saw {:?}", self.backlog),
            }
        }
    }

    /// The next UPDATE for `task`, acknowledged when it carries a uuid.
    pub fn next_update(&mut self, task: &str, timeout: Duration) -> Value {
        let e = self.next_matching(&format!("an update for {task}"), timeout, |e| {
            e["type"] == "UPDATE" && e["update"]["status"]["task_id"]["value"] == task
        });
        let status = e["update"]["status"].clone();
        if status.get("uuid").is_some() {
            self.ack(&status);
        }
        status
    }

    /// Waits for `task` to reach `state`, acknowledging updates on the way.
    pub fn wait_state(&mut self, task: &str, state: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let s = self.next_update(task, left);
            if s["state"] == state {
                return s;
            }
            let terminal = [
                "TASK_FINISHED",
                "TASK_FAILED",
                "TASK_KILLED",
                "TASK_ERROR",
                "TASK_LOST",
                "TASK_DROPPED",
            ];
            if terminal.contains(&s["state"].as_str().unwrap_or("")) {
                panic!(
                    "task {task} ended in {} while waiting for {state}: {s}",
                    s["state"]
                );
            }
        }
    }

    pub fn ack(&self, status: &Value) {
        if status.get("uuid").is_none() {
            return;
        }
        let (code, body) = self.call_full(&mut json!({
            "type": "ACKNOWLEDGE",
            "acknowledge": {
                "agent_id": status["agent_id"],
                "task_id": status["task_id"],
                "uuid": status["uuid"],
            }
        }));
        assert_eq!(code, 202, "ACKNOWLEDGE answered {code}: {body}");
    }

    /// Sends a call (framework_id filled in) and returns the HTTP status.
    pub fn call(&self, mut call: Value) -> u16 {
        self.call_full(&mut call).0
    }

    pub fn call_full(&self, call: &mut Value) -> (u16, String) {
        call["framework_id"] = json!({"value": self.framework_id});
        let r = self
            .client
            .post(format!("http://{}/api/v1/scheduler", self.master))
            .header("Content-Type", "application/json")
            .header("Mesos-Stream-Id", &self.stream_id)
            .body(call.to_string())
            .send()
            .expect("call");
        let code = r.status().as_u16();
        (code, r.text().unwrap_or_default())
    }

    /// Waits for an offer and returns it.
    pub fn next_offer(&mut self, timeout: Duration) -> Value {
        let e = self.next_event("OFFERS", timeout);
        e["offers"]["offers"][0].clone()
    }

    /// Launches `tasks` on `offer`.
    pub fn launch(&self, offer: &Value, tasks: Vec<Value>) -> u16 {
        self.call(json!({
            "type": "ACCEPT",
            "accept": {
                "offer_ids": [offer["id"]],
                "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}],
                "filters": {"refuse_seconds": 0.1}
            }
        }))
    }
}

/// A command TaskInfo for `offer`'s agent.
pub fn command_task(id: &str, offer: &Value, cmd: &str, cpus: f64, mem: f64) -> Value {
    json!({
        "name": id,
        "task_id": {"value": id},
        "agent_id": offer["agent_id"],
        "resources": [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}
        ],
        "command": {"value": cmd, "shell": true}
    })
}
