//! What runs inside an image container, decided from the image's config and
//! the task, as Mesos's unified containerizer decides it. Pure: no I/O.
//!
//! - A shell command (`shell` unset or true) runs as `/bin/sh -c VALUE`;
//!   the image's Entrypoint and Cmd are ignored.
//! - `shell: false` with a value runs `VALUE ARGUMENTS[1..]` (arguments[0]
//!   is argv[0], as for command tasks).
//! - `shell: false` without a value runs the image's Entrypoint followed by
//!   the task's arguments, or by the image's Cmd when there are none.
//! - No command at all runs Entrypoint + Cmd.
//!
//! The environment is the image's Env, then the Mesos variables, then the
//! task's own variables (later wins). The working directory is the image's
//! WorkingDir, else the sandbox; the user is the image's User (resolved
//! inside the rootfs by `paddock init`), else root.

use paddock_images::RuntimeConfig;
use paddock_proto::mesos::TaskInfo;

/// Where the sandbox appears inside the container (Mesos's path).
pub const SANDBOX_IN_CONTAINER: &str = "/mnt/mesos/sandbox";

/// The PATH of a container whose image sets none (Docker's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The process a container runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessPlan {
    pub argv: Vec<String>,
    /// `(name, value)`, unique names, in a stable order.
    pub env: Vec<(String, String)>,
    pub cwd: String,
    /// `user`, `uid`, `user:group` or `uid:gid`, as the image says.
    pub user: Option<String>,
}

/// The argv for `task` in an image with `image`'s config.
pub fn argv(task: &TaskInfo, image: &RuntimeConfig) -> Result<Vec<String>, String> {
    let Some(cmd) = &task.command else {
        return image_default(image, None);
    };
    let value = cmd.value.clone().unwrap_or_default();
    if cmd.shell.unwrap_or(true) {
        if value.is_empty() {
            // A shell command that says nothing: Mesos falls back to the image.
            return image_default(image, None);
        }
        return Ok(vec!["/bin/sh".into(), "-c".into(), value]);
    }
    if !value.is_empty() {
        let mut v = vec![value];
        v.extend(cmd.arguments.iter().skip(1).cloned());
        return Ok(v);
    }
    let args = (!cmd.arguments.is_empty()).then_some(cmd.arguments.as_slice());
    image_default(image, args)
}

fn image_default(image: &RuntimeConfig, args: Option<&[String]>) -> Result<Vec<String>, String> {
    let mut v = image.entrypoint.clone();
    match args {
        Some(a) => v.extend(a.iter().cloned()),
        None => v.extend(image.cmd.iter().cloned()),
    }
    if v.is_empty() {
        return Err(
            "the task has no command and the image has neither Entrypoint nor Cmd".to_string(),
        );
    }
    Ok(v)
}

/// Splits `KEY=value` (a `KEY` without `=` is an empty value, as Docker).
fn split_env(s: &str) -> (String, String) {
    match s.split_once('=') {
        Some((k, v)) => (k.to_string(), v.to_string()),
        None => (s.to_string(), String::new()),
    }
}

/// Sets `name` to `value`, replacing an earlier value in place.
fn set(env: &mut Vec<(String, String)>, name: &str, value: &str) {
    match env.iter_mut().find(|(k, _)| k == name) {
        Some(slot) => slot.1 = value.to_string(),
        None => env.push((name.to_string(), value.to_string())),
    }
}

/// The whole plan. `mesos_env` holds the variables the executor adds
/// (MESOS_TASK_ID, HOST, PORTs, …); MESOS_SANDBOX is set here.
pub fn plan(
    task: &TaskInfo,
    image: &RuntimeConfig,
    mesos_env: &[(String, String)],
) -> Result<ProcessPlan, String> {
    let argv = argv(task, image)?;
    let mut env = Vec::new();
    for e in &image.env {
        let (k, v) = split_env(e);
        if !k.is_empty() {
            set(&mut env, &k, &v);
        }
    }
    if !env.iter().any(|(k, _)| k == "PATH") {
        set(&mut env, "PATH", DEFAULT_PATH);
    }
    for (k, v) in mesos_env {
        set(&mut env, k, v);
    }
    set(&mut env, "MESOS_SANDBOX", SANDBOX_IN_CONTAINER);
    if let Some(vars) = task.command.as_ref().and_then(|c| c.environment.as_ref()) {
        for v in &vars.variables {
            if v.name.is_empty() || v.name.contains('=') {
                return Err(format!(
                    "command.environment: invalid variable name {:?}",
                    v.name
                ));
            }
            set(&mut env, &v.name, v.value.as_deref().unwrap_or_default());
        }
    }
    let cwd = image
        .working_dir
        .clone()
        .filter(|w| w.starts_with('/'))
        .unwrap_or_else(|| SANDBOX_IN_CONTAINER.to_string());
    let user = task
        .command
        .as_ref()
        .and_then(|c| c.user.clone())
        .or_else(|| image.user.clone())
        .filter(|u| !u.is_empty());
    Ok(ProcessPlan {
        argv,
        env,
        cwd,
        user,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_proto::mesos::{CommandInfo, Environment, EnvironmentVariable};

    fn image() -> RuntimeConfig {
        RuntimeConfig {
            entrypoint: vec!["/bin/ep".into()],
            cmd: vec!["--flag".into()],
            env: vec!["PATH=/opt/bin".into(), "A=image".into(), "B".into()],
            working_dir: Some("/srv".into()),
            user: Some("1000:1000".into()),
            ..Default::default()
        }
    }

    fn task(cmd: Option<CommandInfo>) -> TaskInfo {
        TaskInfo {
            command: cmd,
            ..Default::default()
        }
    }

    fn cmd(value: Option<&str>, shell: Option<bool>, args: &[&str]) -> Option<CommandInfo> {
        Some(CommandInfo {
            value: value.map(str::to_string),
            shell,
            arguments: args.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        })
    }

    #[test]
    fn the_task_command_overrides_the_image_as_mesos_does() {
        let img = image();
        assert_eq!(
            argv(&task(cmd(Some("echo hi"), None, &[])), &img).unwrap(),
            ["/bin/sh", "-c", "echo hi"]
        );
        assert_eq!(
            argv(
                &task(cmd(Some("/bin/echo"), Some(false), &["echo", "a"])),
                &img
            )
            .unwrap(),
            ["/bin/echo", "a"]
        );
        assert_eq!(
            argv(&task(cmd(None, Some(false), &["x", "y"])), &img).unwrap(),
            ["/bin/ep", "x", "y"]
        );
        assert_eq!(
            argv(&task(cmd(None, Some(false), &[])), &img).unwrap(),
            ["/bin/ep", "--flag"]
        );
        assert_eq!(argv(&task(None), &img).unwrap(), ["/bin/ep", "--flag"]);
    }

    #[test]
    fn nothing_to_run_is_an_error() {
        let err = argv(&task(None), &RuntimeConfig::default()).unwrap_err();
        assert!(err.contains("Entrypoint"), "{err}");
    }

    #[test]
    fn env_layers_image_then_mesos_then_task() {
        let mut c = cmd(Some("true"), None, &[]);
        if let Some(c) = c.as_mut() {
            c.environment = Some(Environment {
                variables: vec![EnvironmentVariable {
                    name: "A".into(),
                    value: Some("task".into()),
                    ..Default::default()
                }],
            });
        }
        let p = plan(
            &task(c),
            &image(),
            &[
                ("MESOS_TASK_ID".into(), "t1".into()),
                ("B".into(), "mesos".into()),
            ],
        )
        .unwrap();
        let get = |k: &str| p.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("PATH"), Some("/opt/bin"));
        assert_eq!(get("A"), Some("task"));
        assert_eq!(get("B"), Some("mesos"));
        assert_eq!(get("MESOS_TASK_ID"), Some("t1"));
        assert_eq!(get("MESOS_SANDBOX"), Some(SANDBOX_IN_CONTAINER));
        assert_eq!(p.cwd, "/srv");
        assert_eq!(p.user.as_deref(), Some("1000:1000"));
    }

    #[test]
    fn defaults_without_image_settings() {
        let p = plan(
            &task(cmd(Some("true"), None, &[])),
            &RuntimeConfig::default(),
            &[],
        )
        .unwrap();
        assert_eq!(p.cwd, SANDBOX_IN_CONTAINER);
        assert_eq!(p.user, None);
        assert!(p
            .env
            .contains(&("PATH".to_string(), DEFAULT_PATH.to_string())));
    }

    #[test]
    fn a_bad_variable_name_is_refused_by_name() {
        let mut c = cmd(Some("true"), None, &[]);
        if let Some(c) = c.as_mut() {
            c.environment = Some(Environment {
                variables: vec![EnvironmentVariable {
                    name: "A=B".into(),
                    ..Default::default()
                }],
            });
        }
        let err = plan(&task(c), &image(), &[]).unwrap_err();
        assert!(err.contains("A=B"), "{err}");
    }
}
