//! The agent's watch over its Docker engine: is it reachable (DOCKER tasks
//! are refused while it is not), and which of our containers have lost
//! their executor (reaped: force-removed, which kills what still runs).
//!
//! A container is ours when its `paddock.agent_id` label is this agent's id;
//! it is orphaned when its `paddock.container_id` is not a live container of
//! the agent. That covers containers left by an executor killed with -9 and,
//! after an agent restart, those whose executor did not survive (their
//! tasks are reported by container recovery). Checks run at start and every
//! [`INTERVAL`].

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::query_parameters::{ListContainersOptionsBuilder, RemoveContainerOptionsBuilder};

use super::engine::{self, labels, Availability};
use crate::state::Agent;
use crate::AgentConfig;

/// How often the engine is pinged and orphans are looked for.
pub const INTERVAL: Duration = Duration::from_secs(5);

/// Per agent (by work dir): one process may run several agents in tests.
static AVAILABILITY: Mutex<BTreeMap<PathBuf, Availability>> = Mutex::new(BTreeMap::new());

/// What the last probe of this agent's engine found.
pub fn availability(config: &AgentConfig) -> Availability {
    AVAILABILITY
        .lock()
        .ok()
        .and_then(|m| m.get(&config.work_dir).cloned())
        .unwrap_or(Availability::Unknown)
}

pub(super) fn set_availability(config: &AgentConfig, a: Availability) {
    if let Ok(mut m) = AVAILABILITY.lock() {
        m.insert(config.work_dir.clone(), a);
    }
}

/// Runs until the agent stops. Does nothing when Docker is not enabled.
pub async fn supervise(agent: Arc<Agent>) {
    if !super::enabled(&agent.config) {
        return;
    }
    let mut last: Option<bool> = None;
    let mut checked_once = false;
    loop {
        match engine::probe().await {
            Ok(docker) => {
                if last != Some(true) {
                    tracing::info!(
                        host = %engine::host(),
                        "Docker containerizer enabled: the engine answers"
                    );
                }
                last = Some(true);
                set_availability(&agent.config, Availability::Reachable);
                if let Some(reaped) = reap(&agent, &docker).await {
                    if !checked_once || reaped > 0 {
                        tracing::info!(reaped, "checked for orphaned Docker containers");
                    }
                    checked_once = true;
                }
            }
            Err(why) => {
                if last != Some(false) {
                    tracing::error!("{why}; DOCKER tasks fail until it answers");
                }
                last = Some(false);
                set_availability(&agent.config, Availability::Unreachable(why));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(INTERVAL) => {}
            _ = agent.stop.cancelled() => return,
        }
    }
}

/// Containers of ours, by Mesos container id → Docker name.
async fn ours(docker: &bollard::Docker, agent_id: &str) -> Result<HashMap<String, String>, String> {
    let filters = HashMap::from([(
        "label".to_string(),
        vec![format!("{}={agent_id}", labels::AGENT)],
    )]);
    let list = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filters)
                .build(),
        ))
        .await
        .map_err(|e| engine::describe(&e))?;
    Ok(list
        .into_iter()
        .filter_map(|c| {
            let cid = c.labels.as_ref()?.get(labels::CONTAINER)?.clone();
            let name = c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_string())
                .or(c.id)?;
            Some((cid, name))
        })
        .collect())
}

/// Removes orphans; how many, or None when the check could not run.
async fn reap(agent: &Arc<Agent>, docker: &bollard::Docker) -> Option<usize> {
    let agent_id = {
        let inner = agent.lock();
        inner.agent_id.clone()
    }
    .map(|a| a.value)
    .or_else(|| agent.checkpoint.agent_id());
    // Before the first registration there is no id, and nothing of ours.
    let agent_id = agent_id?;
    let found = match ours(docker, &agent_id).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!("cannot list Docker containers: {e}");
            return None;
        }
    };
    let orphans: Vec<(String, String)> = {
        let inner = agent.lock();
        found
            .into_iter()
            .filter(|(cid, _)| !inner.containers.contains_key(cid))
            .collect()
    };
    let reaped = orphans.len();
    for (cid, name) in orphans {
        tracing::warn!(container = %cid, docker = %name, "reaping a Docker container whose executor is gone");
        let opts = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match docker.remove_container(&name, Some(opts)).await {
            Ok(()) => {}
            Err(e) if engine::is_not_found(&e) => {}
            Err(e) => tracing::warn!(docker = %name, "cannot remove: {}", engine::describe(&e)),
        }
    }
    Some(reaped)
}
