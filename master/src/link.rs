//! The gRPC service agents connect to: one bidirectional session per agent.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use futures::Stream;
use paddock_proto::internal::agent_link_server::{AgentLink, AgentLinkServer};
use paddock_proto::internal::agent_message::Kind as Up;
use paddock_proto::internal::master_message::Kind as Down;
use paddock_proto::internal::{AgentMessage, MasterMessage, Register, Registered};
use paddock_proto::mesos::{
    AgentId, Attribute, FrameworkId, Resource, TaskInfo, TaskState, TaskStatus,
};
use paddock_proto::resources::Resources;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::core::agents::AgentRegistration;
use crate::server::Shared;

pub fn service(shared: Arc<Shared>) -> AgentLinkServer<LinkService> {
    AgentLinkServer::new(LinkService { shared }).max_decoding_message_size(64 << 20)
}

pub struct LinkService {
    shared: Arc<Shared>,
}

type Outbound = Pin<Box<dyn Stream<Item = Result<MasterMessage, Status>> + Send>>;

/// Checks and converts a Register message; errors name the field.
pub fn parse_register(reg: Register, peer_ip: String) -> Result<AgentRegistration, String> {
    let resources: Vec<Resource> = serde_json::from_str(&reg.resources_json)
        .map_err(|e| format!("register.resources_json: {e}"))?;
    let resources =
        Resources::from_mesos(&resources).map_err(|e| format!("register.resources_json: {e}"))?;
    let attributes: Vec<Attribute> = if reg.attributes_json.trim().is_empty() {
        Vec::new()
    } else {
        serde_json::from_str(&reg.attributes_json)
            .map_err(|e| format!("register.attributes_json: {e}"))?
    };
    let mut tasks = Vec::new();
    for (i, t) in reg.tasks.into_iter().enumerate() {
        let info: TaskInfo = serde_json::from_str(&t.task_json)
            .map_err(|e| format!("register.tasks[{i}].task_json: {e}"))?;
        let state = TaskState::parse(&t.state)
            .ok_or_else(|| format!("register.tasks[{i}].state: unknown state '{}'", t.state))?;
        if t.framework_id.is_empty() {
            return Err(format!("register.tasks[{i}].framework_id is empty"));
        }
        tasks.push((FrameworkId::new(t.framework_id), info, state));
    }
    if reg.port == 0 || reg.port > u16::MAX as u32 {
        return Err(format!("register.port: {} is not a valid port", reg.port));
    }
    Ok(AgentRegistration {
        agent_id: reg.agent_id,
        hostname: if reg.hostname.is_empty() {
            peer_ip.clone()
        } else {
            reg.hostname
        },
        ip: peer_ip,
        port: reg.port,
        resources,
        attributes,
        tasks,
        version: reg.version,
    })
}

#[tonic::async_trait]
impl AgentLink for LinkService {
    type SessionStream = Outbound;

    async fn session(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let peer_ip = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .or_else(|| request.remote_addr().map(|a| a.ip().to_string()))
            .unwrap_or_else(|| "127.0.0.1".into());
        let mut inbound = request.into_inner();
        let first = tokio::time::timeout(Duration::from_secs(10), inbound.message())
            .await
            .map_err(|_| Status::deadline_exceeded("no Register message within 10s"))??;
        let Some(AgentMessage {
            kind: Some(Up::Register(reg)),
        }) = first
        else {
            return Err(Status::invalid_argument(
                "the first message of a session must be Register",
            ));
        };
        let reg = parse_register(reg, peer_ip).map_err(Status::invalid_argument)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let heartbeat_ms = {
            let mut hub = self.shared.lock();
            let now = std::time::Instant::now();
            let (id, session) = hub.core.register_agent(reg, now);
            let hb = hub.core.config.agent_heartbeat.as_millis() as u32;
            let _ = tx.send(Ok(MasterMessage {
                kind: Some(Down::Registered(Registered {
                    agent_id: id.value.clone(),
                    master_id: hub.core.id.clone(),
                    heartbeat_interval_ms: hb,
                })),
            }));
            hub.agent_links.insert(id.clone(), (session, tx.clone()));
            hub.flush();
            tokio::spawn(pump(self.shared.clone(), id, session, inbound));
            hb
        };
        let _ = heartbeat_ms;
        self.shared.allocate_now.notify_one();
        Ok(Response::new(Box::pin(UnboundedReceiverStream::new(rx))))
    }
}

/// Reads an agent's messages until its session ends.
async fn pump(
    shared: Arc<Shared>,
    agent: AgentId,
    session: u64,
    mut inbound: Streaming<AgentMessage>,
) {
    loop {
        match inbound.message().await {
            Ok(Some(msg)) => handle(&shared, &agent, session, msg),
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(agent = %agent, "session error: {e}");
                break;
            }
        }
    }
    let mut hub = shared.lock();
    if hub
        .agent_links
        .get(&agent)
        .is_some_and(|(s, _)| *s == session)
    {
        hub.agent_links.remove(&agent);
    }
    hub.core
        .agent_disconnected(&agent, session, std::time::Instant::now());
    hub.flush();
}

/// One message of an agent's session. Not async, so that the parsed
/// messages never live in the pump's future: that future is kept for every
/// connected agent, and was ~4 KiB.
fn handle(shared: &Arc<Shared>, agent: &AgentId, session: u64, msg: AgentMessage) {
    match msg.kind {
        Some(Up::Heartbeat(_)) => {
            shared.with_core(false, |m, now| m.agent_heartbeat(agent, session, now));
        }
        Some(Up::StatusUpdate(u)) => match serde_json::from_str::<TaskStatus>(&u.status_json) {
            Ok(status) => {
                let terminal = status.state.is_terminal();
                let fw = FrameworkId::new(u.framework_id);
                shared.with_core(terminal, |m, now| {
                    m.agent_heartbeat(agent, session, now);
                    m.status_update(&fw, agent, status)
                });
            }
            Err(e) => tracing::warn!(agent = %agent, "bad status update: {e}"),
        },
        Some(Up::ExecutorExited(e)) => {
            tracing::info!(agent = %agent, executor = %e.executor_id, status = e.status, "executor exited");
        }
        Some(Up::Register(_)) | None => {
            tracing::warn!(agent = %agent, "unexpected message in session");
        }
    }
}

#[cfg(test)]
mod fuzz {
    use paddock_proto::internal::{Register, RunningTask};
    use proptest::prelude::*;

    use super::parse_register;

    proptest! {
        /// A Register from a misbehaving agent is an error, never a panic.
        #[test]
        fn arbitrary_register(res in ".{0,64}", attrs in ".{0,64}", task in ".{0,64}", state in ".{0,16}", port in any::<u32>()) {
            let reg = Register {
                resources_json: res,
                attributes_json: attrs,
                port,
                tasks: vec![RunningTask { framework_id: "f".into(), task_json: task, state, executor_id: String::new() }],
                ..Default::default()
            };
            let _ = parse_register(reg, "127.0.0.1".into());
        }
    }

    #[test]
    fn register_errors_name_the_field() {
        let reg = Register {
            resources_json: "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":-1}}]"
                .into(),
            port: 5051,
            ..Default::default()
        };
        assert!(parse_register(reg, "x".into())
            .unwrap_err()
            .contains("resources_json"));
    }
}
