//! Finding a task's executor (its id and sandbox directory) in an agent's
//! `/state` document: frameworks (live, then completed) → executors (live,
//! then completed) → tasks, queued_tasks, completed_tasks.

use serde_json::Value;

use super::client::Client;

/// Where a task runs on its agent.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// `host:port` of the agent.
    pub agent: String,
    pub executor_id: String,
    pub framework_id: String,
    /// The sandbox directory on the agent.
    pub directory: String,
}

fn list<'a>(v: &'a Value, keys: &'a [&'a str]) -> impl Iterator<Item = &'a Value> + 'a {
    keys.iter()
        .flat_map(move |k| v[*k].as_array().into_iter().flatten())
}

/// The executor holding `task_id` (of `framework_id`, when given) in an
/// agent `/state` document: `(framework id, executor id, directory)`.
pub fn find_in_state(
    state: &Value,
    task_id: &str,
    framework_id: Option<&str>,
) -> Option<(String, String, String)> {
    for fw in list(state, &["frameworks", "completed_frameworks"]) {
        if framework_id.is_some_and(|f| fw["id"] != f) {
            continue;
        }
        for ex in list(fw, &["executors", "completed_executors"]) {
            let holds =
                list(ex, &["tasks", "queued_tasks", "completed_tasks"]).any(|t| t["id"] == task_id);
            if holds {
                let fw_id = fw["id"]
                    .as_str()
                    .or(ex["framework_id"].as_str())
                    .unwrap_or_default();
                return Some((
                    fw_id.to_string(),
                    ex["id"].as_str().unwrap_or_default().to_string(),
                    ex["directory"].as_str()?.to_string(),
                ));
            }
        }
    }
    None
}

/// Asks the master where the task is, then its agent for the executor.
pub fn locate(c: &Client, task_id: &str) -> Result<(Value, Placement), String> {
    let task = c.task(task_id)?;
    let agent_id = task["slave_id"].as_str().unwrap_or_default();
    if agent_id.is_empty() {
        return Err(format!("task '{task_id}' has no agent yet"));
    }
    let agent = c.agent_address(agent_id)?;
    let state = c.agent_get(&agent, "/state")?;
    let (framework_id, executor_id, directory) =
        find_in_state(&state, task_id, task["framework_id"].as_str())
            .ok_or_else(|| format!("agent at {agent} has no sandbox for task '{task_id}'"))?;
    Ok((
        task,
        Placement {
            agent,
            executor_id,
            framework_id,
            directory,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An agent `/state` in Mesos's shape: a command task (executor id ==
    /// task id), a task of a custom executor that has finished, and a
    /// completed framework.
    const STATE: &str = r#"{
      "id": "M-S0", "pid": "slave(1)@127.0.0.1:5051", "hostname": "localhost",
      "frameworks": [{
        "id": "M-0000", "name": "marathon", "user": "root", "role": "*",
        "executors": [
          {"id": "web-1", "name": "Command Executor (Task: web-1)", "source": "web-1",
           "framework_id": "M-0000", "container": "c1",
           "directory": "/var/lib/paddock/slaves/M-S0/frameworks/M-0000/executors/web-1/runs/c1",
           "resources": {"cpus": 0.1, "mem": 32},
           "tasks": [{"id": "web-1", "name": "web", "state": "TASK_RUNNING"}],
           "queued_tasks": [], "completed_tasks": []},
          {"id": "exec-2", "name": "custom", "source": "", "framework_id": "M-0000",
           "container": "c2",
           "directory": "/var/lib/paddock/slaves/M-S0/frameworks/M-0000/executors/exec-2/runs/c2",
           "tasks": [], "queued_tasks": [{"id": "q-1", "name": "q"}],
           "completed_tasks": [{"id": "job-1", "name": "job", "state": "TASK_FINISHED"}]}
        ],
        "completed_executors": []
      }],
      "completed_frameworks": [{
        "id": "M-0001", "name": "old", "executors": [],
        "completed_executors": [
          {"id": "web-1", "framework_id": "M-0001", "container": "c0",
           "directory": "/var/lib/paddock/slaves/M-S0/frameworks/M-0001/executors/web-1/runs/c0",
           "tasks": [], "queued_tasks": [],
           "completed_tasks": [{"id": "web-1", "state": "TASK_KILLED"}]}
        ]
      }]
    }"#;

    #[test]
    fn finds_live_completed_and_queued_tasks() {
        let state: Value = serde_json::from_str(STATE).unwrap();
        let (fw, ex, dir) = find_in_state(&state, "web-1", None).unwrap();
        assert_eq!((fw.as_str(), ex.as_str()), ("M-0000", "web-1"));
        assert!(dir.ends_with("/frameworks/M-0000/executors/web-1/runs/c1"));
        let (_, ex, dir) = find_in_state(&state, "job-1", None).unwrap();
        assert_eq!(ex, "exec-2");
        assert!(dir.ends_with("/runs/c2"));
        assert_eq!(find_in_state(&state, "q-1", None).unwrap().1, "exec-2");
        assert_eq!(find_in_state(&state, "nope", None), None);
    }

    #[test]
    fn the_framework_id_picks_between_equal_task_ids() {
        let state: Value = serde_json::from_str(STATE).unwrap();
        let (fw, _, dir) = find_in_state(&state, "web-1", Some("M-0001")).unwrap();
        assert_eq!(fw, "M-0001");
        assert!(dir.ends_with("/runs/c0"));
        assert_eq!(find_in_state(&state, "job-1", Some("M-0001")), None);
    }
}
