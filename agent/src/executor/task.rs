//! Starting the task: `paddock init -- sh -c CMD` with the Mesos environment.

use paddock_proto::mesos::TaskInfo;
use paddock_proto::resources::Resources;

use super::ExecutorEnv;

/// `PORT0..N`, `PORT`, `PORTS` from the task's port ranges, in order.
pub fn port_env(task: &TaskInfo) -> Vec<(String, String)> {
    let ports: Vec<u64> = Resources::from_mesos(&task.resources)
        .ok()
        .and_then(|r| {
            r.range_set("ports")
                .map(|s| s.values().take(1000).collect())
        })
        .unwrap_or_default();
    let mut out: Vec<(String, String)> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("PORT{i}"), p.to_string()))
        .collect();
    if let Some(p) = ports.first() {
        out.push(("PORT".into(), p.to_string()));
    }
    if !ports.is_empty() {
        let list: Vec<String> = ports.iter().map(u64::to_string).collect();
        out.push(("PORTS".into(), list.join(",")));
    }
    out
}

/// The argv that init runs.
pub fn argv(task: &TaskInfo) -> Result<Vec<String>, String> {
    let cmd = task.command.as_ref().ok_or("the task has no command")?;
    let value = cmd.value.clone().unwrap_or_default();
    if cmd.shell.unwrap_or(true) {
        if value.is_empty() {
            return Err("the task's command is empty".into());
        }
        return Ok(vec!["sh".into(), "-c".into(), value]);
    }
    if value.is_empty() {
        return Err("the task's command has no executable".into());
    }
    let mut v = vec![value];
    v.extend(cmd.arguments.iter().skip(1).cloned());
    Ok(v)
}

pub fn spawn(env: &ExecutorEnv, task: &TaskInfo) -> Result<tokio::process::Child, String> {
    let argv = argv(task)?;
    let me = std::env::current_exe().map_err(|e| format!("cannot find the paddock binary: {e}"))?;
    let mut cmd = tokio::process::Command::new(me);
    cmd.arg("init").arg("--").args(&argv);
    cmd.env_remove("PADDOCK_CONTAINER_ID")
        .env_remove("PADDOCK_CGROUP_ROOT")
        .env_remove("MESOS_HTTP_COMMAND_EXECUTOR")
        .env("MESOS_TASK_ID", &task.task_id.value)
        .env("MESOS_SANDBOX", &env.sandbox)
        .env("HOST", &env.hostname);
    for (k, v) in port_env(task) {
        cmd.env(k, v);
    }
    if let Some(vars) = task.command.as_ref().and_then(|c| c.environment.as_ref()) {
        for v in &vars.variables {
            cmd.env(&v.name, v.value.clone().unwrap_or_default());
        }
    }
    cmd.current_dir(&env.sandbox)
        .stdin(std::process::Stdio::null());
    // SAFETY: only sigprocmask, which is async-signal-safe, runs between
    // fork and exec.
    unsafe {
        cmd.pre_exec(paddock_isolation::init::block_forwarded_before_exec);
    }
    cmd.spawn()
        .map_err(|e| format!("cannot start the task: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_proto::mesos::{CommandInfo, TaskId};
    use paddock_proto::resources::RangeSet;

    fn task(shell: Option<bool>, value: &str, args: &[&str]) -> TaskInfo {
        TaskInfo {
            task_id: TaskId::new("t"),
            resources: Resources::new()
                .with_ranges("ports", RangeSet::new([(31005, 31006), (31010, 31010)]))
                .to_mesos(None),
            command: Some(CommandInfo {
                value: Some(value.into()),
                shell,
                arguments: args.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn ports_become_port0_port_and_ports() {
        let env = port_env(&task(None, "x", &[]));
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("PORT0").as_deref(), Some("31005"));
        assert_eq!(get("PORT2").as_deref(), Some("31010"));
        assert_eq!(get("PORT").as_deref(), Some("31005"));
        assert_eq!(get("PORTS").as_deref(), Some("31005,31006,31010"));
    }

    #[test]
    fn shell_and_argv_forms() {
        assert_eq!(
            argv(&task(None, "echo hi", &[])).unwrap(),
            ["sh", "-c", "echo hi"]
        );
        assert_eq!(
            argv(&task(Some(false), "/bin/echo", &["echo", "a", "b"])).unwrap(),
            ["/bin/echo", "a", "b"]
        );
        assert!(argv(&task(None, "", &[])).is_err());
    }
}
