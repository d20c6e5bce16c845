//! The executor's side of the agent's `/api/v1/executor`.

use bytes::BytesMut;
use futures::StreamExt;
use paddock_proto::executor::{Call, Event, Subscribe, UpdateCall};
use paddock_proto::mesos::{TaskInfo, TaskStatus};
use paddock_proto::recordio::Decoder;
use tokio::sync::mpsc;

use super::{ExecutorEnv, Input};

#[derive(Clone)]
pub struct AgentClient {
    url: String,
    env: ExecutorEnv,
    http: reqwest::Client,
    /// Updates go out one at a time, in order.
    updates: mpsc::UnboundedSender<TaskStatus>,
}

impl AgentClient {
    /// Fails (instead of panicking, as `reqwest::Client::new` would) when
    /// no HTTP client can be built on this host.
    pub fn new(env: &ExecutorEnv) -> Result<AgentClient, String> {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            // Plain HTTP to our own agent only. Without this, building the
            // client loads every system root certificate (the rustls
            // platform verifier), milliseconds on every task launch.
            .tls_certs_only(std::iter::empty())
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        let url = format!("http://{}/api/v1/executor", env.agent_endpoint);
        let (tx, mut rx) = mpsc::unbounded_channel::<TaskStatus>();
        let (h, u, e) = (http.clone(), url.clone(), env.clone());
        tokio::spawn(async move {
            while let Some(status) = rx.recv().await {
                let call = Call {
                    kind: "UPDATE".into(),
                    framework_id: e.framework_id.clone(),
                    executor_id: e.executor_id.clone(),
                    update: Some(UpdateCall {
                        status,
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                // A failure is fine: unacknowledged updates are sent again
                // with the next SUBSCRIBE.
                match h.post(&u).json(&call).send().await {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => tracing::warn!("agent refused an update: {}", r.status()),
                    Err(err) => tracing::warn!("cannot send an update: {err}"),
                }
            }
        });
        Ok(AgentClient {
            url,
            env: env.clone(),
            http,
            updates: tx,
        })
    }

    pub fn send_update(&self, status: TaskStatus) {
        let _ = self.updates.send(status);
    }

    /// Opens the event stream; events and its end arrive on `tx`.
    pub fn subscribe(
        &self,
        tx: mpsc::UnboundedSender<Input>,
        task: Option<TaskInfo>,
        unacked: Vec<TaskStatus>,
    ) {
        let call = Call {
            kind: "SUBSCRIBE".into(),
            framework_id: self.env.framework_id.clone(),
            executor_id: self.env.executor_id.clone(),
            subscribe: Some(Subscribe {
                unacknowledged_tasks: task.into_iter().collect(),
                unacknowledged_updates: unacked
                    .into_iter()
                    .map(|status| UpdateCall {
                        status,
                        ..Default::default()
                    })
                    .collect(),
            }),
            ..Default::default()
        };
        let (http, url) = (self.http.clone(), self.url.clone());
        tokio::spawn(async move {
            let why = match http.post(&url).json(&call).send().await {
                Err(e) => format!("subscribe: {e}"),
                Ok(r) if !r.status().is_success() => format!("subscribe answered {}", r.status()),
                Ok(r) => {
                    let mut body = r.bytes_stream();
                    let mut buf = BytesMut::new();
                    let mut dec = Decoder::default();
                    loop {
                        match body.next().await {
                            Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                            Some(Err(e)) => break format!("stream: {e}"),
                            None => break "stream ended".to_string(),
                        }
                        loop {
                            match dec.decode_buf(&mut buf) {
                                Ok(Some(rec)) => match serde_json::from_slice::<Event>(&rec) {
                                    Ok(ev) => {
                                        let _ = tx.send(Input::Event(ev));
                                    }
                                    Err(e) => tracing::warn!("unreadable event: {e}"),
                                },
                                Ok(None) => break,
                                Err(e) => {
                                    tracing::warn!("bad stream: {e}");
                                    buf.clear();
                                    break;
                                }
                            }
                        }
                    }
                }
            };
            let _ = tx.send(Input::StreamEnded(why));
        });
    }
}
