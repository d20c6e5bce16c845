//! What the agent tells the command executor through its environment.

use paddock_proto::mesos::{ExecutorId, FrameworkId};

#[derive(Debug, Clone)]
pub struct ExecutorEnv {
    pub agent_endpoint: String,
    pub framework_id: FrameworkId,
    pub executor_id: ExecutorId,
    pub sandbox: String,
    pub hostname: String,
    pub container_id: Option<String>,
    pub cgroup_root: Option<String>,
}

fn need(key: &str) -> Result<String, String> {
    std::env::var(key)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{key} is not set: `paddock executor` is started by the agent"))
}

impl ExecutorEnv {
    pub fn from_env() -> Result<ExecutorEnv, String> {
        Ok(ExecutorEnv {
            agent_endpoint: need("MESOS_AGENT_ENDPOINT")?,
            framework_id: FrameworkId::new(need("MESOS_FRAMEWORK_ID")?),
            executor_id: ExecutorId::new(need("MESOS_EXECUTOR_ID")?),
            sandbox: need("MESOS_SANDBOX").or_else(|_| need("MESOS_DIRECTORY"))?,
            hostname: std::env::var("PADDOCK_AGENT_HOSTNAME")
                .unwrap_or_else(|_| "localhost".into()),
            container_id: std::env::var("PADDOCK_CONTAINER_ID").ok(),
            cgroup_root: std::env::var("PADDOCK_CGROUP_ROOT").ok(),
        })
    }

    /// OOM kills recorded in this executor's container so far.
    pub fn oom_kills(&self) -> u64 {
        match (&self.cgroup_root, &self.container_id) {
            (Some(root), Some(id)) => paddock_isolation::cgroups::Cgroup::open(root, id)
                .and_then(|c| c.oom_kills())
                .unwrap_or(0),
            _ => 0,
        }
    }
}
