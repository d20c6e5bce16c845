//! The calls a subscribed framework sends. Each is a POST with the stream
//! id of the current subscription; the master answers 202.

use std::time::Duration;

use paddock_proto::mesos::{
    AgentId, DurationInfo, Filters, KillPolicy, OfferId, TaskId, TaskInfo, TaskStatus,
};
use paddock_proto::scheduler::{
    Accept, Acknowledge, Call, Decline, Kill, Launch, Operation, Reconcile, ReconcileTask, Roles,
};

use crate::{Driver, DriverError};

fn filters(refuse_seconds: Option<f64>) -> Option<Filters> {
    refuse_seconds.map(|s| Filters {
        refuse_seconds: Some(s),
    })
}

impl Driver {
    async fn call(&self, mut call: Call) -> Result<(), DriverError> {
        if *self.inner.stop.borrow() {
            return Err(DriverError::Stopped);
        }
        let session = self.inner.session();
        let (Some(framework_id), Some(stream_id)) = (session.framework_id, session.stream_id)
        else {
            return Err(DriverError::NotSubscribed);
        };
        call.framework_id = Some(framework_id);
        let response = self
            .inner
            .http
            .post(&self.inner.base)
            .header("Mesos-Stream-Id", stream_id)
            .json(&call)
            .send()
            .await
            .map_err(|source| DriverError::Transport {
                master: self.inner.base.clone(),
                source,
            })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(DriverError::Rejected {
            call: call.kind,
            status: status.as_u16(),
            body,
        })
    }

    /// ACCEPT with one LAUNCH of `tasks` on `offer_ids`. An empty task list
    /// declines the offers (with the filter).
    pub async fn launch(
        &self,
        offer_ids: Vec<OfferId>,
        tasks: Vec<TaskInfo>,
        refuse_seconds: Option<f64>,
    ) -> Result<(), DriverError> {
        let operations = if tasks.is_empty() {
            Vec::new()
        } else {
            vec![Operation {
                kind: "LAUNCH".into(),
                launch: Some(Launch { task_infos: tasks }),
                id: None,
            }]
        };
        self.call(Call {
            kind: "ACCEPT".into(),
            accept: Some(Accept {
                offer_ids,
                operations,
                filters: filters(refuse_seconds),
            }),
            ..Default::default()
        })
        .await
    }

    pub async fn decline(
        &self,
        offer_ids: Vec<OfferId>,
        refuse_seconds: Option<f64>,
    ) -> Result<(), DriverError> {
        self.call(Call {
            kind: "DECLINE".into(),
            decline: Some(Decline {
                offer_ids,
                filters: filters(refuse_seconds),
            }),
            ..Default::default()
        })
        .await
    }

    /// KILL, with an optional grace period overriding the task's own.
    pub async fn kill(
        &self,
        task_id: TaskId,
        agent_id: Option<AgentId>,
        grace: Option<Duration>,
    ) -> Result<(), DriverError> {
        let kill_policy = grace.map(|g| KillPolicy {
            grace_period: Some(DurationInfo {
                nanoseconds: i64::try_from(g.as_nanos()).unwrap_or(i64::MAX),
            }),
        });
        self.call(Call {
            kind: "KILL".into(),
            kill: Some(Kill {
                task_id,
                agent_id,
                kill_policy,
            }),
            ..Default::default()
        })
        .await
    }

    /// ACKNOWLEDGE an update; a no-op for updates without a uuid (those
    /// from reconciliation) or without an agent.
    pub async fn acknowledge(&self, status: &TaskStatus) -> Result<(), DriverError> {
        let (Some(uuid), Some(agent_id)) = (&status.uuid, &status.agent_id) else {
            return Ok(());
        };
        self.call(Call {
            kind: "ACKNOWLEDGE".into(),
            acknowledge: Some(Acknowledge {
                agent_id: agent_id.clone(),
                task_id: status.task_id.clone(),
                uuid: uuid.clone(),
            }),
            ..Default::default()
        })
        .await
    }

    /// RECONCILE these tasks; an empty list asks for every task (implicit).
    pub async fn reconcile(
        &self,
        tasks: Vec<(TaskId, Option<AgentId>)>,
    ) -> Result<(), DriverError> {
        let tasks = tasks
            .into_iter()
            .map(|(task_id, agent_id)| ReconcileTask { task_id, agent_id })
            .collect();
        self.call(Call {
            kind: "RECONCILE".into(),
            reconcile: Some(Reconcile { tasks }),
            ..Default::default()
        })
        .await
    }

    pub async fn revive(&self) -> Result<(), DriverError> {
        self.call(Call {
            kind: "REVIVE".into(),
            revive: Some(Roles::default()),
            ..Default::default()
        })
        .await
    }

    pub async fn suppress(&self) -> Result<(), DriverError> {
        self.call(Call {
            kind: "SUPPRESS".into(),
            suppress: Some(Roles::default()),
            ..Default::default()
        })
        .await
    }

    /// TEARDOWN: the master kills every task of the framework and removes it.
    pub async fn teardown(&self) -> Result<(), DriverError> {
        self.call(Call {
            kind: "TEARDOWN".into(),
            ..Default::default()
        })
        .await
    }
}
