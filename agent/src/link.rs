//! The gRPC session with the master: register (with the checkpointed id and
//! the tasks still running), heartbeat, and carry out what the master says.
//! A broken session is re-established with backoff; tasks are untouched.

use std::sync::Arc;
use std::time::Duration;

use paddock_proto::internal::agent_link_client::AgentLinkClient;
use paddock_proto::internal::agent_message::Kind as Up;
use paddock_proto::internal::master_message::Kind as Down;
use paddock_proto::internal::{AgentMessage, Heartbeat, Register, RunningTask};
use paddock_proto::mesos::{AgentId, FrameworkId, FrameworkInfo, TaskId, TaskInfo};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::containers;
use crate::http::executor_api::encode;
use crate::state::Agent;
use crate::updates;

/// A task that is aborted when this handle is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub async fn run(agent: Arc<Agent>) {
    let mut backoff = Duration::from_millis(200);
    loop {
        match session(&agent).await {
            Ok(()) => tracing::warn!("master closed the session"),
            Err(e) => tracing::warn!(master = %agent.config.master, "master session: {e}"),
        }
        agent.lock().master_tx = None;
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

fn register_message(agent: &Agent) -> Register {
    let inner = agent.lock();
    let tasks = reported_tasks(&inner);
    Register {
        agent_id: inner
            .agent_id
            .as_ref()
            .map(|a| a.value.clone())
            .unwrap_or_default(),
        hostname: agent.config.hostname.clone(),
        port: agent.config.port as u32,
        resources_json: serde_json::to_string(&agent.total.to_mesos(None)).unwrap_or_default(),
        attributes_json: serde_json::to_string(&agent.config.attributes).unwrap_or_default(),
        tasks,
        version: paddock_proto::PADDOCK_VERSION.to_string(),
    }
}

/// The tasks a (re-)registration tells the master about, each in its latest
/// state: every live task, and, as Mesos does, every ended task whose
/// status updates the framework has not acknowledged yet. Without the
/// latter a master that restarted would answer "unknown" to a framework
/// reconciling a task whose TASK_FINISHED is still queued here.
pub(crate) fn reported_tasks(inner: &crate::state::Inner) -> Vec<RunningTask> {
    let unacked = |t: &TaskId| inner.streams.get(t).is_some_and(|s| !s.pending.is_empty());
    let mut out: Vec<RunningTask> = inner
        .tasks
        .values()
        .filter(|t| !t.state.is_terminal() || unacked(&t.info.task_id))
        .map(|t| RunningTask {
            framework_id: t.framework_id.value.clone(),
            task_json: serde_json::to_string(&t.info).unwrap_or_default(),
            state: t.state.as_str().to_string(),
            executor_id: t.executor_id.value.clone(),
        })
        .collect();
    // Ended tasks whose container is gone: only their stream is left.
    for (task_id, stream) in &inner.streams {
        let Some(latest) = stream.pending.back() else {
            continue;
        };
        if inner.tasks.contains_key(task_id) {
            continue;
        }
        let info = TaskInfo {
            task_id: task_id.clone(),
            agent_id: inner.agent_id.clone().unwrap_or_default(),
            ..Default::default()
        };
        out.push(RunningTask {
            framework_id: stream.framework_id.value.clone(),
            task_json: serde_json::to_string(&info).unwrap_or_default(),
            state: latest.state.as_str().to_string(),
            executor_id: latest
                .executor_id
                .as_ref()
                .map(|e| e.value.clone())
                .unwrap_or_default(),
        });
    }
    out
}

async fn session(agent: &Arc<Agent>) -> Result<(), String> {
    let endpoint =
        tonic::transport::Endpoint::from_shared(format!("http://{}", agent.config.master))
            .map_err(|e| format!("bad master address: {e}"))?
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let mut client = AgentLinkClient::new(channel).max_decoding_message_size(64 << 20);
    let (tx, rx) = mpsc::unbounded_channel();
    let _ = tx.send(AgentMessage {
        kind: Some(Up::Register(register_message(agent))),
    });
    let response = client
        .session(UnboundedReceiverStream::new(rx))
        .await
        .map_err(|e| format!("session: {}", e.message()))?;
    let mut inbound = response.into_inner();
    // Aborted when the session ends, however it ends (the link task itself
    // is aborted when the agent stops): the heartbeat holds a sender, and a
    // live sender keeps the session's request stream open.
    let mut heartbeat: Option<AbortOnDrop> = None;
    let result = loop {
        let msg = match inbound.message().await {
            Ok(Some(m)) => m,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e.message().to_string()),
        };
        match msg.kind {
            Some(Down::Registered(r)) => {
                let id = AgentId::new(r.agent_id.clone());
                if let Err(e) = agent.checkpoint.set_agent_id(&id.value) {
                    tracing::error!("cannot checkpoint the agent id: {e}");
                }
                let mut inner = agent.lock();
                inner.agent_id = Some(id.clone());
                inner.master_id = Some(r.master_id);
                inner.master_tx = Some(tx.clone());
                updates::resend_all(&mut inner);
                drop(inner);
                tracing::info!(agent = %id, "registered with the master");
                let every = Duration::from_millis(u64::from(r.heartbeat_interval_ms.max(100)));
                let hb = tx.clone();
                heartbeat = Some(AbortOnDrop(tokio::spawn(async move {
                    let mut seq = 0;
                    let mut tick = tokio::time::interval(every);
                    loop {
                        tick.tick().await;
                        seq += 1;
                        let beat = AgentMessage {
                            kind: Some(Up::Heartbeat(Heartbeat { sequence: seq })),
                        };
                        if hb.send(beat).is_err() {
                            return;
                        }
                    }
                })));
            }
            Some(Down::RunTask(run)) => {
                let framework: Result<FrameworkInfo, _> = serde_json::from_str(&run.framework_json);
                let task: Result<TaskInfo, _> = serde_json::from_str(&run.task_json);
                match (framework, task) {
                    (Ok(f), Ok(t)) => containers::run_task(agent, f, t),
                    (Err(e), _) | (_, Err(e)) => tracing::error!("malformed RunTask: {e}"),
                }
            }
            Some(Down::KillTask(k)) => containers::kill_task(
                agent,
                &FrameworkId::new(k.framework_id),
                &TaskId::new(k.task_id),
                k.grace_period_secs,
            ),
            Some(Down::Acknowledge(a)) => {
                let mut inner = agent.lock();
                updates::acknowledge(agent, &mut inner, &TaskId::new(a.task_id), &a.uuid);
            }
            Some(Down::ShutdownFramework(s)) => {
                containers::shutdown_framework(agent, &FrameworkId::new(s.framework_id))
            }
            Some(Down::FrameworkMessage(m)) => {
                use base64::Engine;
                let inner = agent.lock();
                let target = inner.containers.values().find(|c| {
                    c.framework_id().value == m.framework_id
                        && c.executor_id().value == m.executor_id
                });
                if let Some(tx) = target.and_then(|c| c.executor_tx.as_ref()) {
                    let ev = paddock_proto::executor::Event::Message {
                        message: paddock_proto::executor::MessageCall {
                            data: base64::engine::general_purpose::STANDARD.encode(&m.data),
                        },
                    };
                    let _ = tx.send(encode(&ev));
                }
            }
            Some(Down::Ping(_)) | None => {}
        }
    };
    drop(heartbeat);
    result
}
