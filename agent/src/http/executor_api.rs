//! `POST /api/v1/executor`: the Mesos v1 executor API, used by custom
//! executors (pymesos) and by Paddock's own command executor alike.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::Stream;
use paddock_proto::executor::{Call, Event, LaunchEvent, Subscribed};
use paddock_proto::mesos::{FrameworkId, Source};
use tokio::sync::mpsc;

use super::error;
use crate::state::Agent;
use crate::updates;

/// One RecordIO-framed JSON event.
pub fn encode(event: &Event) -> Bytes {
    let json = serde_json::to_vec(event).unwrap_or_default();
    Bytes::from(paddock_proto::recordio::encode(&json))
}

fn parse(body: &[u8]) -> Result<Call, String> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            format!("invalid call: {}", e.inner())
        } else {
            format!("invalid call: field '{path}': {}", e.inner())
        }
    })
}

pub async fn call(State(agent): State<Arc<Agent>>, headers: HeaderMap, body: Bytes) -> Response {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
    if !json {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        );
    }
    let call = match parse(&body) {
        Ok(c) => c,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match call.kind.as_str() {
        "SUBSCRIBE" => subscribe(agent, call),
        "UPDATE" => update(&agent, call),
        "MESSAGE" => StatusCode::ACCEPTED.into_response(),
        other => error(
            StatusCode::BAD_REQUEST,
            format!("unknown call type '{other}'"),
        ),
    }
}

fn find_container(
    agent: &Agent,
    fw: &FrameworkId,
    exec: &paddock_proto::mesos::ExecutorId,
) -> Option<String> {
    agent
        .lock()
        .containers
        .iter()
        .find(|(_, c)| c.is(fw, exec))
        .map(|(id, _)| id.clone())
}

fn update(agent: &Agent, call: Call) -> Response {
    let Some(up) = call.update else {
        return error(StatusCode::BAD_REQUEST, "Expecting 'update' to be present");
    };
    if find_container(agent, &call.framework_id, &call.executor_id).is_none() {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown executor '{}' of framework '{}'",
                call.executor_id, call.framework_id
            ),
        );
    }
    let mut status = up.status;
    status.executor_id = Some(call.executor_id.clone());
    if status.source.is_none() {
        status.source = Some(Source::SourceExecutor);
    }
    let mut inner = agent.lock();
    let uuid = status.uuid.clone().unwrap_or_default();
    if !uuid.is_empty() && updates::already_acknowledged(&inner, &status.task_id, &uuid) {
        updates::tell_executor_acked(&inner, &status.task_id, &uuid);
        return StatusCode::ACCEPTED.into_response();
    }
    match updates::enqueue(agent, &mut inner, &call.framework_id, status) {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

fn subscribe(agent: Arc<Agent>, call: Call) -> Response {
    let Some(cid) = find_container(&agent, &call.framework_id, &call.executor_id) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "unknown executor '{}' of framework '{}'",
                call.executor_id, call.framework_id
            ),
        );
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let gen = {
        let mut inner = agent.lock();
        let info = agent.agent_info(&inner);
        // Updates the executor sent while we were away count as received;
        // those already acknowledged are acknowledged again below.
        let mut acked = Vec::new();
        if let Some(sub) = &call.subscribe {
            for u in &sub.unacknowledged_updates {
                let uuid = u.status.uuid.clone().unwrap_or_default();
                if !uuid.is_empty()
                    && updates::already_acknowledged(&inner, &u.status.task_id, &uuid)
                {
                    acked.push(Event::Acknowledged {
                        acknowledged: paddock_proto::executor::Acknowledged {
                            task_id: u.status.task_id.clone(),
                            uuid,
                        },
                    });
                    continue;
                }
                let mut st = u.status.clone();
                st.executor_id = Some(call.executor_id.clone());
                if st.source.is_none() {
                    st.source = Some(Source::SourceExecutor);
                }
                if let Err(e) = updates::enqueue(&agent, &mut inner, &call.framework_id, st) {
                    tracing::error!("{e}");
                }
            }
        }
        // Tasks sent to this executor that it has never reported on and does
        // not list as launched: an agent that died right after sending the
        // LAUNCH cannot know whether it arrived, so it sends it again (our
        // executor ignores a LAUNCH for a task it already runs).
        let reported: std::collections::HashSet<&paddock_proto::mesos::TaskId> = call
            .subscribe
            .iter()
            .flat_map(|s| {
                s.unacknowledged_tasks
                    .iter()
                    .map(|t| &t.task_id)
                    .chain(s.unacknowledged_updates.iter().map(|u| &u.status.task_id))
            })
            .collect();
        let relaunch: Vec<paddock_proto::mesos::TaskInfo> = inner
            .tasks
            .values()
            .filter(|t| {
                t.container_id == cid
                    && t.state == paddock_proto::mesos::TaskState::TaskStaging
                    && !reported.contains(&t.info.task_id)
            })
            .map(|t| t.info.clone())
            .collect();
        let framework = inner.frameworks.get(&call.framework_id).cloned();
        if agent.stop.is_cancelled() {
            return error(StatusCode::SERVICE_UNAVAILABLE, "the agent is stopping");
        }
        let Some(c) = inner.containers.get_mut(&cid) else {
            return error(StatusCode::GONE, "the container ended");
        };
        let mut framework = framework.unwrap_or_else(|| c.record.framework.clone());
        framework.id = Some(call.framework_id.clone());
        let mut executor_info = c.record.executor.clone();
        executor_info.framework_id = Some(call.framework_id.clone());
        let subscribed = Event::Subscribed {
            subscribed: Box::new(Subscribed {
                executor_info,
                framework_info: framework.clone(),
                agent_info: info,
            }),
        };
        let _ = tx.send(encode(&subscribed));
        for ev in &acked {
            let _ = tx.send(encode(ev));
        }
        let mut launches = std::mem::take(&mut c.queued);
        for task in relaunch {
            if !launches.iter().any(|q| q.task_id == task.task_id) {
                tracing::info!(task = %task.task_id, "sending LAUNCH again to a re-subscribed executor");
                launches.push(task);
            }
        }
        for task in launches {
            let ev = Event::Launch {
                launch: Box::new(LaunchEvent {
                    framework_info: framework.clone(),
                    task,
                }),
            };
            let _ = tx.send(encode(&ev));
        }
        for kill in std::mem::take(&mut c.pending_kills) {
            let _ = tx.send(encode(&Event::Kill { kill }));
        }
        c.executor_tx = Some(tx);
        c.stream_gen += 1;
        c.ever_subscribed = true;
        c.recovered = false;
        tracing::info!(container = %cid, executor = %call.executor_id, "executor subscribed");
        c.stream_gen
    };
    let stream = EventStream {
        rx,
        guard: Guard { agent, cid, gen },
    };
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        header::TRANSFER_ENCODING,
        HeaderValue::from_static("chunked"),
    );
    resp
}

struct EventStream {
    rx: mpsc::UnboundedReceiver<Bytes>,
    #[allow(dead_code)]
    guard: Guard,
}

impl Stream for EventStream {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|o| o.map(Ok))
    }
}

/// Forgets the executor's stream when its connection goes.
struct Guard {
    agent: Arc<Agent>,
    cid: String,
    gen: u64,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let mut inner = self.agent.lock();
        if let Some(c) = inner.containers.get_mut(&self.cid) {
            if c.stream_gen == self.gen {
                c.executor_tx = None;
            }
        }
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::parse;

    proptest! {
        /// Untrusted executor calls never panic the parser.
        #[test]
        fn arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&data);
        }
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse(br#"{"type":"UPDATE","framework_id":{"value":"f"},"executor_id":{"value":"e"},"update":{"status":{"task_id":{"value":"t"},"state":"TASK_BOGUS"}}}"#).unwrap_err();
        assert!(e.contains("update.status.state"), "{e}");
    }
}
