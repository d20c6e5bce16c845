//! The records the scheduler core keeps and persists: runs (the slot
//! ledger and history), per-job state, and the effects it asks for.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::Job;

/// Milliseconds since the Unix epoch: the core's only notion of time.
pub type Millis = i64;

/// The identity of a run: the job and its nominal (scheduled) time. A
/// scheduled run's time is its slot; a manual or dependency run's time is
/// when it was asked for (moved by a millisecond if that was taken).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RunKey {
    pub job: String,
    pub scheduled: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    /// A slot of the job's schedule.
    Scheduled,
    /// `PUT /job/{name}`.
    Manual,
    /// All parents succeeded.
    Dependency,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RunState {
    /// Waiting for its time (a retry's backoff), its turn (FORBID) or an offer.
    Pending,
    /// Launched; not yet running.
    Staging,
    Running,
    Succeeded,
    /// Failed and no retry is left.
    Failed,
    /// Killed on request (task kill, REPLACE, job deleted); not retried.
    Killed,
    /// Never started: missed beyond its starting deadline, or refused.
    Skipped,
}

impl RunState {
    pub fn is_active(self) -> bool {
        matches!(self, RunState::Staging | RunState::Running)
    }
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunState::Succeeded | RunState::Failed | RunState::Killed | RunState::Skipped
        )
    }
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Pending => "PENDING",
            RunState::Staging => "STAGING",
            RunState::Running => "RUNNING",
            RunState::Succeeded => "SUCCEEDED",
            RunState::Failed => "FAILED",
            RunState::Killed => "KILLED",
            RunState::Skipped => "SKIPPED",
        }
    }
}

/// Why the core asked for a task to be killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum KillCause {
    /// `DELETE /task/kill/{name}`.
    User,
    /// A newer run replaced it (REPLACE).
    Replaced,
    /// The job was deleted.
    Deleted,
    /// It ran longer than `maxCompletionTime`; this one is retried.
    Timeout,
}

/// One earlier, failed attempt of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub attempt: u32,
    pub task_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Where a run's sandbox is on its agent (Mesos's layout:
/// `<work_dir>/slaves/<agent>/frameworks/<fw>/executors/<exec>/runs/<container>`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sandbox {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

/// A run: an entry of the slot ledger while it is live, of the job's
/// history once it is over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    pub job: String,
    /// The nominal time; with `job`, the run's identity.
    pub scheduled: Millis,
    pub kind: RunKind,
    pub state: RunState,
    /// 0 for the first try, then one more per retry.
    pub attempt: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<String>,
    /// When the core created the run.
    pub queued: Millis,
    /// A retry waits for its backoff until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default)]
    pub sandbox: Sandbox,
    /// When the current attempt was launched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<Millis>,
    /// When Chronos received its TASK_RUNNING.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<Millis>,
    /// When the executor reported TASK_RUNNING (the status's own
    /// timestamp, the agent's clock): when the task really started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_reported: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<Millis>,
    /// The last Mesos task state (`TASK_FINISHED`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The command's exit status, when the executor reported one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill: Option<KillCause>,
    /// Earlier failed attempts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
}

impl Run {
    pub fn key(&self) -> RunKey {
        RunKey {
            job: self.job.clone(),
            scheduled: self.scheduled,
        }
    }

    /// When the current attempt became due: its slot (a scheduled run),
    /// when it was asked for (manual, dependency), or its backoff's end.
    pub fn due(&self) -> Millis {
        let asked = match self.kind {
            RunKind::Scheduled => self.scheduled,
            RunKind::Manual | RunKind::Dependency => self.scheduled.max(self.queued),
        };
        asked.max(self.not_before.unwrap_or(Millis::MIN))
    }

    /// The run's duration in seconds, when it has ended after starting.
    pub fn duration_secs(&self) -> Option<f64> {
        let start = self.running.or(self.started)?;
        Some((self.ended? - start).max(0) as f64 / 1000.0)
    }
}

/// What the core keeps per job besides its definition.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobState {
    /// The newest schedule slot already taken (run or skipped). Slots at or
    /// before it are never started again: the heart of exactly-once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_slot: Option<Millis>,
    /// For a dependent job: successes of each parent since this job last
    /// ran. Persisted, so a restart never loses a pending child run.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parent_successes: BTreeMap<String, u64>,
}

/// A job as it is persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub job: Job,
    #[serde(default)]
    pub state: JobState,
}

/// What the core asks the outside world to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Kill {
        task_id: String,
        agent_id: Option<String>,
    },
}

/// Everything that changed since the last [`crate::core::Core::take_changes`]:
/// persist it (one transaction) before answering or launching.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    pub put_jobs: Vec<JobRecord>,
    pub delete_jobs: Vec<String>,
    pub put_runs: Vec<Run>,
    pub delete_runs: Vec<RunKey>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.put_jobs.is_empty()
            && self.delete_jobs.is_empty()
            && self.put_runs.is_empty()
            && self.delete_runs.is_empty()
    }
}

#[derive(Debug, Default)]
pub(crate) struct Dirty {
    pub jobs: BTreeSet<String>,
    pub runs: BTreeSet<RunKey>,
}

/// A task state as the core understands it (from a Mesos `TaskStatus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskUpdate {
    pub task_id: String,
    /// The Mesos name, e.g. `TASK_FINISHED`.
    pub state: String,
    pub message: Option<String>,
    pub reason: Option<String>,
    pub agent_id: Option<String>,
    pub executor_id: Option<String>,
    pub container_id: Option<String>,
    /// The status's timestamp (when the executor or agent produced it).
    pub timestamp: Option<Millis>,
}

/// The Chronos task id of an attempt: `ct:<scheduledMillis>:<attempt>:<job>`
/// (plus `:<arguments>` for a run with arguments, `;` removed as Chronos does).
pub fn task_id(key: &RunKey, attempt: u32, arguments: &[String]) -> String {
    let mut id = format!("ct:{}:{}:{}", key.scheduled, attempt, key.job);
    if !arguments.is_empty() {
        let args: String = arguments.join(" ").chars().filter(|c| *c != ';').collect();
        id.push(':');
        id.push_str(&args);
    }
    id
}

/// Reads "exited with status N" (the command executor's message).
pub fn exit_status(message: &str) -> Option<i32> {
    let idx = message.find("status ")?;
    let digits: String = message[idx + 7..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    digits.parse().ok()
}
