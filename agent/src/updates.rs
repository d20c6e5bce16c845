//! Reliable status updates, as Mesos's status-update manager does them.
//!
//! Each task has a FIFO stream. An update is checkpointed before anything
//! else happens to it; only the oldest unacknowledged update of a task is in
//! flight to the master; it is resent with backoff, and after every
//! re-registration, until the framework's acknowledgement comes back.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use paddock_proto::executor::{Acknowledged, Event as ExecEvent};
use paddock_proto::internal::agent_message::Kind;
use paddock_proto::internal::{AgentMessage, StatusUpdate};
use paddock_proto::mesos::{now_secs, FrameworkId, Source, TaskId, TaskStatus};

use crate::checkpoint::StreamRecord;
use crate::state::{Agent, Inner};

const FIRST_RETRY: Duration = Duration::from_secs(10);
const MAX_RETRY: Duration = Duration::from_secs(60);

pub struct UpdateStream {
    pub framework_id: FrameworkId,
    pub pending: VecDeque<TaskStatus>,
    /// Every uuid ever queued here: duplicates (executor retries) are dropped.
    pub seen: HashSet<String>,
    pub next_retry: Option<Instant>,
    pub backoff: Duration,
}

impl UpdateStream {
    fn new(framework_id: FrameworkId) -> Self {
        UpdateStream {
            framework_id,
            pending: VecDeque::new(),
            seen: HashSet::new(),
            next_retry: None,
            backoff: FIRST_RETRY,
        }
    }
}

/// Records a status update and sends it when it is at the head of its
/// stream. Errors only when it cannot be checkpointed.
pub fn enqueue(
    agent: &Agent,
    inner: &mut Inner,
    fw: &FrameworkId,
    mut status: TaskStatus,
) -> Result<(), String> {
    if status.uuid.as_deref().unwrap_or("").is_empty() {
        status.uuid = Some(paddock_proto::mesos::new_update_uuid());
    }
    if status.timestamp.is_none() {
        status.timestamp = Some(now_secs());
    }
    if status.source.is_none() {
        status.source = Some(Source::SourceAgent);
    }
    status.agent_id = inner.agent_id.clone().or(status.agent_id);
    let task = status.task_id.clone();
    let uuid = status.uuid.clone().unwrap_or_default();
    let stream = inner
        .streams
        .entry(task.clone())
        .or_insert_with(|| UpdateStream::new(fw.clone()));
    if stream.seen.contains(&uuid) {
        return Ok(());
    }
    agent
        .checkpoint
        .append(fw, &task, &StreamRecord::Update(Box::new(status.clone())))
        .map_err(|e| format!("cannot checkpoint the update: {e}"))?;
    stream.seen.insert(uuid);
    stream.pending.push_back(status.clone());
    let is_head = stream.pending.len() == 1;
    if let Some(t) = inner.tasks.get_mut(&task) {
        if t.state != status.state {
            t.statuses
                .push((status.state, status.timestamp.unwrap_or_else(now_secs)));
        }
        t.state = status.state;
    }
    tracing::info!(task = %task, state = %status.state, reason = status.reason.as_deref().unwrap_or(""), "status update");
    if is_head {
        send_head(inner, &task, Instant::now());
    }
    Ok(())
}

fn send_head(inner: &mut Inner, task: &TaskId, now: Instant) {
    let Some(stream) = inner.streams.get(task) else {
        return;
    };
    let Some(head) = stream.pending.front() else {
        return;
    };
    let mut status = head.clone();
    if status.agent_id.is_none() {
        status.agent_id = inner.agent_id.clone();
    }
    let msg = AgentMessage {
        kind: Some(Kind::StatusUpdate(StatusUpdate {
            framework_id: stream.framework_id.value.clone(),
            status_json: serde_json::to_string(&status).unwrap_or_default(),
        })),
    };
    let sent = inner.send_master(msg);
    if let Some(stream) = inner.streams.get_mut(task) {
        stream.next_retry = sent.then(|| now + stream.backoff);
    }
}

/// The framework acknowledged `uuid` for `task`.
pub fn acknowledge(agent: &Agent, inner: &mut Inner, task: &TaskId, uuid: &str) {
    let Some(stream) = inner.streams.get_mut(task) else {
        return;
    };
    if stream.pending.front().and_then(|s| s.uuid.as_deref()) != Some(uuid) {
        return;
    }
    let fw = stream.framework_id.clone();
    let acked = stream.pending.pop_front();
    stream.backoff = FIRST_RETRY;
    stream.next_retry = None;
    let more = !stream.pending.is_empty();
    if let Err(e) = agent
        .checkpoint
        .append(&fw, task, &StreamRecord::Ack(uuid.to_string()))
    {
        tracing::warn!(task = %task, "cannot checkpoint an acknowledgement: {e}");
    }
    tell_executor_acked(inner, task, uuid);
    if more {
        send_head(inner, task, Instant::now());
    } else if acked.is_some_and(|s| s.state.is_terminal()) {
        inner.streams.remove(task);
        agent.checkpoint.remove_stream(&fw, task);
    }
}

/// Sends ACKNOWLEDGED for `uuid` on the stream of the executor running `task`.
pub fn tell_executor_acked(inner: &Inner, task: &TaskId, uuid: &str) {
    let Some(entry) = inner.tasks.get(task) else {
        return;
    };
    let Some(tx) = inner
        .containers
        .get(&entry.container_id)
        .and_then(|c| c.executor_tx.as_ref())
    else {
        return;
    };
    let ev = ExecEvent::Acknowledged {
        acknowledged: Acknowledged {
            task_id: task.clone(),
            uuid: uuid.to_string(),
        },
    };
    let _ = tx.send(crate::http::executor_api::encode(&ev));
}

/// Whether the framework has already acknowledged `uuid` for `task`: an
/// executor that missed the ACKNOWLEDGED event (its stream was down) sends
/// such an update again and must hear about the acknowledgement instead.
pub fn already_acknowledged(inner: &Inner, task: &TaskId, uuid: &str) -> bool {
    match inner.streams.get(task) {
        Some(s) => {
            s.seen.contains(uuid) && !s.pending.iter().any(|p| p.uuid.as_deref() == Some(uuid))
        }
        // The stream is dropped once its terminal update is acknowledged.
        None => inner.tasks.get(task).is_some_and(|t| t.state.is_terminal()),
    }
}

/// Resends heads whose retry time has come.
pub fn retry_due(agent: &Agent, now: Instant) {
    let mut inner = agent.lock();
    let due: Vec<TaskId> = inner
        .streams
        .iter()
        .filter(|(_, s)| s.next_retry.is_some_and(|t| t <= now))
        .map(|(t, _)| t.clone())
        .collect();
    for task in due {
        if let Some(s) = inner.streams.get_mut(&task) {
            s.backoff = (s.backoff * 2).min(MAX_RETRY);
        }
        send_head(&mut inner, &task, now);
    }
}

/// After (re)registration every head goes out again.
pub fn resend_all(inner: &mut Inner) {
    let tasks: Vec<TaskId> = inner.streams.keys().cloned().collect();
    let now = Instant::now();
    for t in tasks {
        send_head(inner, &t, now);
    }
}

/// Rebuilds the streams from the checkpoint. Returns each task's latest
/// known state.
pub fn recover(
    agent: &Agent,
    inner: &mut Inner,
) -> Vec<(FrameworkId, TaskId, paddock_proto::mesos::TaskState)> {
    let mut latest = Vec::new();
    for (fw, task) in agent.checkpoint.streams() {
        let mut stream = UpdateStream::new(fw.clone());
        let mut last = None;
        for rec in agent.checkpoint.read_stream(&fw, &task) {
            match rec {
                StreamRecord::Update(s) => {
                    stream.seen.insert(s.uuid.clone().unwrap_or_default());
                    last = Some(s.state);
                    stream.pending.push_back(*s);
                }
                StreamRecord::Ack(uuid) => {
                    if stream.pending.front().and_then(|s| s.uuid.as_deref()) == Some(uuid.as_str())
                    {
                        stream.pending.pop_front();
                    }
                }
            }
        }
        if let Some(state) = last {
            latest.push((fw.clone(), task.clone(), state));
        }
        if stream.pending.is_empty() && last.is_some_and(|s| s.is_terminal()) {
            agent.checkpoint.remove_stream(&fw, &task);
        } else {
            inner.streams.insert(task, stream);
        }
    }
    latest
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use paddock_proto::internal::agent_message::Kind;
    use paddock_proto::mesos::{AgentId, TaskState};
    use tokio::sync::mpsc;

    use super::*;
    use crate::AgentConfig;

    fn agent(dir: &std::path::Path) -> Arc<Agent> {
        let config = AgentConfig {
            master: "127.0.0.1:1".into(),
            bind: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            port: 1,
            hostname: "h".into(),
            advertise_ip: "127.0.0.1".into(),
            work_dir: dir.to_path_buf(),
            resources: None,
            attributes: Vec::new(),
            executor_binary: "/bin/false".into(),
            cgroup_root: "unused".into(),
            executor_reregister_timeout: Duration::from_secs(1),
            containerizers: vec!["mesos".into()],
            disk_watch_interval: std::time::Duration::from_secs(15),
            enforce_disk_quota: true,
            registries: Default::default(),
            cni: Default::default(),
        };
        Arc::new(Agent::new(config, Default::default()).unwrap())
    }

    fn status(task: &str, state: TaskState, uuid: &str) -> TaskStatus {
        TaskStatus {
            task_id: TaskId::new(task),
            state,
            uuid: Some(uuid.into()),
            ..Default::default()
        }
    }

    /// Connects a fake master channel; returns what it receives.
    fn connect(agent: &Agent) -> mpsc::UnboundedReceiver<AgentMessage> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut inner = agent.lock();
        inner.agent_id = Some(AgentId::new("A1"));
        inner.master_tx = Some(tx);
        rx
    }

    fn sent(rx: &mut mpsc::UnboundedReceiver<AgentMessage>) -> Vec<(String, TaskStatus)> {
        let mut out = Vec::new();
        while let Ok(m) = rx.try_recv() {
            if let Some(Kind::StatusUpdate(u)) = m.kind {
                let st: TaskStatus = serde_json::from_str(&u.status_json).unwrap();
                out.push((u.status_json.clone(), st));
            }
        }
        out
    }

    #[test]
    fn one_update_in_flight_per_task_in_order_with_duplicates_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let agent = agent(dir.path());
        let mut rx = connect(&agent);
        let fw = FrameworkId::new("F");
        let t = TaskId::new("t");
        let mut inner = agent.lock();
        enqueue(
            &agent,
            &mut inner,
            &fw,
            status("t", TaskState::TaskRunning, "u1"),
        )
        .unwrap();
        enqueue(
            &agent,
            &mut inner,
            &fw,
            status("t", TaskState::TaskFinished, "u2"),
        )
        .unwrap();
        // An executor retry of u1 is not a new update.
        enqueue(
            &agent,
            &mut inner,
            &fw,
            status("t", TaskState::TaskRunning, "u1"),
        )
        .unwrap();
        let out = sent(&mut rx);
        assert_eq!(out.len(), 1, "only the head is in flight");
        assert_eq!(out[0].1.uuid.as_deref(), Some("u1"));
        assert_eq!(out[0].1.agent_id, Some(AgentId::new("A1")));
        assert_eq!(inner.streams[&t].pending.len(), 2);

        // An acknowledgement for anything but the head changes nothing.
        acknowledge(&agent, &mut inner, &t, "u2");
        assert!(sent(&mut rx).is_empty());
        assert!(!already_acknowledged(&inner, &t, "u1"));

        acknowledge(&agent, &mut inner, &t, "u1");
        let out = sent(&mut rx);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1.state, TaskState::TaskFinished);
        assert!(already_acknowledged(&inner, &t, "u1"));
        assert!(!already_acknowledged(&inner, &t, "u2"));

        // The terminal update's acknowledgement ends the stream on disk too.
        acknowledge(&agent, &mut inner, &t, "u2");
        assert!(!inner.streams.contains_key(&t));
        assert!(agent.checkpoint.streams().is_empty());
    }

    #[test]
    fn streams_recover_from_the_checkpoint_and_resend_their_head() {
        let dir = tempfile::tempdir().unwrap();
        let fw = FrameworkId::new("F");
        let t = TaskId::new("t");
        {
            let agent = agent(dir.path());
            let mut inner = agent.lock();
            enqueue(
                &agent,
                &mut inner,
                &fw,
                status("t", TaskState::TaskStarting, "u1"),
            )
            .unwrap();
            enqueue(
                &agent,
                &mut inner,
                &fw,
                status("t", TaskState::TaskRunning, "u2"),
            )
            .unwrap();
            // Nobody is connected: the head waits, unsent.
            assert!(inner.streams[&t].next_retry.is_none());
            acknowledge(&agent, &mut inner, &t, "u1");
        }
        let agent = agent(dir.path());
        let mut inner = agent.lock();
        let latest = recover(&agent, &mut inner);
        assert_eq!(
            latest,
            vec![(fw.clone(), t.clone(), TaskState::TaskRunning)]
        );
        let pending: Vec<_> = inner.streams[&t]
            .pending
            .iter()
            .map(|s| s.uuid.clone().unwrap())
            .collect();
        assert_eq!(pending, ["u2"]);
        // A retry of an update from before the restart is still a duplicate.
        assert!(inner.streams[&t].seen.contains("u1"));
        drop(inner);
        let mut rx = connect(&agent);
        resend_all(&mut agent.lock());
        let out = sent(&mut rx);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].1.uuid.as_deref(), Some("u2"));
    }

    #[test]
    fn re_registration_reports_ended_tasks_until_their_updates_are_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let agent = agent(dir.path());
        let mut rx = connect(&agent);
        let fw = FrameworkId::new("F");
        let reported = |agent: &Agent| {
            crate::link::reported_tasks(&agent.lock())
                .into_iter()
                .map(|t| {
                    (
                        serde_json::from_str::<paddock_proto::mesos::TaskInfo>(&t.task_json)
                            .unwrap()
                            .task_id
                            .value,
                        t.state,
                    )
                })
                .collect::<Vec<_>>()
        };
        for (state, uuid) in [
            (TaskState::TaskRunning, "u1"),
            (TaskState::TaskFinished, "u2"),
        ] {
            let mut inner = agent.lock();
            enqueue(&agent, &mut inner, &fw, status("t", state, uuid)).unwrap();
        }
        // No container is left for "t": only its stream says it existed.
        assert_eq!(
            reported(&agent),
            vec![("t".to_string(), "TASK_FINISHED".to_string())]
        );
        sent(&mut rx);
        for uuid in ["u1", "u2"] {
            let mut inner = agent.lock();
            acknowledge(&agent, &mut inner, &TaskId::new("t"), uuid);
        }
        assert!(reported(&agent).is_empty());
    }
}
