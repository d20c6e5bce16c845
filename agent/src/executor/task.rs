//! Starting the task: init (the executor's zygote) runs `sh -c CMD` with the
//! Mesos environment.

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

/// Has the zygote become init (`paddock init -- ARGV`) in the task's
/// sandbox, with the executor's environment minus its own variables, plus
/// the task's. Returns init's pid.
pub fn spawn(env: &ExecutorEnv, task: &TaskInfo) -> Result<u32, String> {
    spawn_in(env, task, None, Vec::new())
}

/// [`spawn`] in the network namespace `netns`, with `binds` (source,
/// destination) over the host's files.
pub fn spawn_in(
    env: &ExecutorEnv,
    task: &TaskInfo,
    netns: Option<std::path::PathBuf>,
    binds: Vec<(std::path::PathBuf, std::path::PathBuf)>,
) -> Result<u32, String> {
    use std::ffi::OsString;
    let argv = argv(task)?;
    let mut vars: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| {
            !matches!(
                k.to_str(),
                Some(
                    "PADDOCK_CONTAINER_ID" | "PADDOCK_CGROUP_ROOT" | "MESOS_HTTP_COMMAND_EXECUTOR"
                )
            )
        })
        .collect();
    let mut set = |k: &str, v: OsString| {
        vars.retain(|(key, _)| key != k);
        vars.push((k.into(), v));
    };
    set("MESOS_TASK_ID", task.task_id.value.clone().into());
    set("MESOS_SANDBOX", env.sandbox.clone().into());
    set("HOST", env.hostname.clone().into());
    for (k, v) in port_env(task) {
        set(&k, v.into());
    }
    if let Some(task_vars) = task.command.as_ref().and_then(|c| c.environment.as_ref()) {
        for v in &task_vars.variables {
            set(&v.name, v.value.clone().unwrap_or_default().into());
        }
    }
    let start = paddock_isolation::zygote::Start {
        argv: argv.into_iter().map(Into::into).collect(),
        env: vars,
        cwd: Some(env.sandbox.clone().into()),
        netns,
        ready_env: None,
        binds,
    };
    let (pid, _socket) =
        super::zygote::start(env, &start).map_err(|e| format!("cannot start the task: {e}"))?;
    Ok(pid)
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
