//! The periodic disk check: every `--disk-watch-interval`, measure every
//! live container (on a blocking thread, one container after another, each
//! walk bounded by `usage::WalkLimits`), publish the figures, and kill the
//! containers that are over their limit. Checks never overlap and never run
//! more often than the interval: the next one is timed from the end of the
//! last when a walk takes longer.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use bollard::query_parameters::{InspectContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use paddock_proto::mesos::reason;

use super::policy::{self, Verdict};
use super::usage::{self, WalkLimits};
use super::Measured;
use crate::state::Agent;

/// One container to measure.
struct Target {
    container_id: String,
    roots: Vec<PathBuf>,
    limit: Option<u64>,
    docker: bool,
}

/// What each live container is measured over. The OCI directory is the one
/// `executor::oci::Dirs` uses: `<work_dir>/oci/<container id>`.
fn targets(agent: &Agent) -> Vec<Target> {
    let inner = agent.lock();
    inner
        .containers
        .iter()
        .map(|(cid, c)| Target {
            container_id: cid.clone(),
            roots: vec![
                c.record.sandbox.clone(),
                agent.config.work_dir.join("oci").join(cid),
            ],
            limit: policy::limit_bytes(&c.record.executor, &c.record.tasks),
            docker: c.record.tasks.iter().any(crate::docker::is_docker_task),
        })
        .collect()
}

/// Walks every target's roots; the bytes used, by container id.
fn walk_all(targets: &[Target]) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    for t in targets {
        match usage::measure_all(t.roots.iter().map(PathBuf::as_path), WalkLimits::default()) {
            Ok(u) => {
                if !u.complete {
                    tracing::warn!(
                        container = %t.container_id,
                        entries = u.entries,
                        "disk usage walk stopped early; counting what it saw"
                    );
                }
                out.insert(t.container_id.clone(), u.bytes);
            }
            Err(e) => tracing::warn!(container = %t.container_id, "cannot measure disk usage: {e}"),
        }
    }
    out
}

/// The size of a Docker container's writable layer, as the engine counts it.
async fn docker_rw_bytes(docker: &mut Option<bollard::Docker>, container_id: &str) -> Option<u64> {
    if docker.is_none() {
        *docker = crate::docker::engine::connect().await.ok();
    }
    let name = crate::docker::container_name(container_id);
    let opts = InspectContainerOptionsBuilder::new().size(true).build();
    match docker.as_ref()?.inspect_container(&name, Some(opts)).await {
        Ok(i) => i.size_rw.map(|s| s.max(0) as u64),
        Err(e) => {
            if !crate::docker::engine::is_not_found(&e) {
                tracing::debug!(
                    container = container_id,
                    "docker inspect: {}",
                    crate::docker::engine::describe(&e)
                );
                *docker = None;
            }
            None
        }
    }
}

/// Force-removes the Docker container (which kills it) at once, rather
/// than leaving it to the orphan reaper.
async fn remove_docker(docker: &Option<bollard::Docker>, container_id: &str) {
    let Some(d) = docker else { return };
    let name = crate::docker::container_name(container_id);
    let opts = RemoveContainerOptionsBuilder::new()
        .force(true)
        .v(true)
        .build();
    if let Err(e) = d.remove_container(&name, Some(opts)).await {
        if !crate::docker::engine::is_not_found(&e) {
            tracing::warn!(docker = %name, "cannot remove: {}", crate::docker::engine::describe(&e));
        }
    }
}

/// One check of every container.
async fn check(agent: &Arc<Agent>, docker: &mut Option<bollard::Docker>) {
    let targets = targets(agent);
    if targets.is_empty() {
        agent.disk.replace(HashMap::new());
        return;
    }
    let (targets, mut used) = match tokio::task::spawn_blocking(move || {
        let used = walk_all(&targets);
        (targets, used)
    })
    .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!("disk usage walk failed: {e}");
            return;
        }
    };
    if crate::docker::enabled(&agent.config) {
        for t in targets.iter().filter(|t| t.docker) {
            if let Some(rw) = docker_rw_bytes(docker, &t.container_id).await {
                *used.entry(t.container_id.clone()).or_default() += rw;
            }
        }
    }
    let mut board = HashMap::new();
    for t in &targets {
        let Some(&bytes) = used.get(&t.container_id) else {
            continue;
        };
        board.insert(
            t.container_id.clone(),
            Measured {
                used_bytes: bytes,
                limit_bytes: t.limit,
            },
        );
        match policy::verdict(bytes, t.limit, agent.config.enforce_disk_quota) {
            Verdict::Unlimited | Verdict::Within => {}
            Verdict::OverButNotEnforced { used, limit } => {
                tracing::debug!(container = %t.container_id, used, limit, "over its disk limit (not enforced)");
            }
            Verdict::Exceeded { used, limit } => {
                tracing::warn!(container = %t.container_id, used, limit, "over its disk limit: killing it");
                crate::containers::fail_for_limitation(
                    agent,
                    &t.container_id,
                    reason::CONTAINER_LIMITATION_DISK,
                    &policy::message(used, limit),
                );
                if t.docker {
                    remove_docker(docker, &t.container_id).await;
                }
            }
        }
    }
    agent.disk.replace(board);
}

/// Runs until the agent stops. A zero interval turns the check off.
pub async fn run(agent: Arc<Agent>) {
    let every = agent.config.disk_watch_interval;
    if every.is_zero() {
        tracing::info!("disk usage checks are off (--disk-watch-interval 0s)");
        return;
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut docker = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = agent.stop.cancelled() => return,
        }
        check(&agent, &mut docker).await;
    }
}
