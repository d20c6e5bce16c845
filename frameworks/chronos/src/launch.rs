//! Pure launch logic: which held offer takes which due run (cpus, mem,
//! disk and Chronos constraints), and the Mesos `TaskInfo` of a run.

use paddock_proto::mesos::{
    AgentId, CommandInfo, CommandUri, Environment, EnvironmentVariable, Offer, TaskId, TaskInfo,
};
use paddock_proto::resources::{attribute_value, Resources};
use serde_json::{json, Value};

use crate::core::{Run, RunKey};
use crate::model::{Container, Job};
use crate::schedule::format_utc;

/// What a run needs from an offer.
pub fn needs(job: &Job) -> Resources {
    Resources::new()
        .with_scalar("cpus", job.cpus)
        .with_scalar("mem", job.mem)
        .with_scalar("disk", job.disk)
}

/// Whether an agent (its hostname and attributes) meets every constraint.
/// `hostname` is an implicit attribute. A missing attribute fails EQUALS
/// and LIKE and passes UNLIKE. LIKE/UNLIKE patterns must match the whole
/// value.
pub fn meets_constraints(job: &Job, offer: &Offer) -> bool {
    job.constraints.iter().all(|c| {
        let [attr, op, pattern] = c.as_slice() else {
            return false;
        };
        let value = if attr == "hostname" {
            Some(offer.hostname.clone())
        } else {
            offer
                .attributes
                .iter()
                .find(|a| &a.name == attr)
                .map(attribute_value)
        };
        let full = |v: &str| {
            regex::Regex::new(&format!("^(?:{pattern})$"))
                .map(|r| r.is_match(v))
                .unwrap_or(false)
        };
        match (op.to_ascii_uppercase().as_str(), value) {
            ("EQUALS", Some(v)) => &v == pattern,
            ("LIKE", Some(v)) => full(&v),
            ("UNLIKE", Some(v)) => !full(&v),
            ("UNLIKE", None) => true,
            _ => false,
        }
    })
}

/// One offer while runs are placed on it.
#[derive(Debug, Clone)]
pub struct Slot<'a> {
    pub offer: &'a Offer,
    pub remaining: Resources,
}

/// Places runs (best first) on offers: each goes to the first offer with
/// enough left that meets its constraints. Returns (offer index, run).
pub fn place<'a>(offers: &'a [Offer], runs: &[(RunKey, &Job)]) -> Vec<(usize, RunKey)> {
    let mut slots: Vec<Slot<'a>> = offers
        .iter()
        .map(|o| Slot {
            offer: o,
            remaining: readable(o),
        })
        .collect();
    let mut out = Vec::new();
    for (key, job) in runs {
        let need = needs(job);
        if let Some(i) = slots
            .iter()
            .position(|s| s.remaining.contains(&need) && meets_constraints(job, s.offer))
        {
            slots[i].remaining.subtract(&need);
            out.push((i, key.clone()));
        }
    }
    out
}

/// The scalar and range resources of an offer (SET/TEXT ones are skipped).
fn readable(offer: &Offer) -> Resources {
    let list: Vec<_> = offer
        .resources
        .iter()
        .filter(|r| Resources::from_mesos(std::slice::from_ref(*r)).is_ok())
        .cloned()
        .collect();
    Resources::from_mesos(&list).unwrap_or_default()
}

/// A POSIX shell word for `s`.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The Mesos `ContainerInfo` for Chronos's container block (None when it
/// names no image, as Chronos ignores it then).
pub fn container_info(c: &Container) -> Option<Value> {
    if c.image.is_empty() {
        return None;
    }
    let volumes: Vec<Value> = c
        .volumes
        .iter()
        .map(|v| {
            let mut m = json!({
                "container_path": v.container_path,
                "mode": v.mode.clone().unwrap_or_else(|| "RW".into()).to_ascii_uppercase(),
            });
            if let Some(h) = &v.host_path {
                m["host_path"] = json!(h);
            }
            m
        })
        .collect();
    let kind = c.kind.to_ascii_uppercase();
    let mut info = if kind == "MESOS" {
        let mut image = json!({"type": "DOCKER", "docker": {"name": c.image}});
        // The unified containerizer's form of forcePullImage: do not use
        // the agent's cached copy (Mesos's `Image.cached`, default true).
        if c.force_pull_image {
            image["cached"] = json!(false);
        }
        json!({"type": "MESOS", "mesos": {"image": image}})
    } else {
        let parameters: Vec<Value> = c
            .parameters
            .iter()
            .map(|p| json!({"key": p.key, "value": p.value}))
            .collect();
        json!({
            "type": "DOCKER",
            "docker": {
                "image": c.image,
                "network": c.network.to_ascii_uppercase(),
                "force_pull_image": c.force_pull_image,
                "parameters": parameters,
            },
        })
    };
    info["volumes"] = json!(volumes);
    if !c.network_infos.is_empty() {
        info["network_infos"] = json!(c.network_infos);
    } else if let Some(name) = &c.network_name {
        info["network_infos"] = json!([{ "name": name }]);
    }
    Some(info)
}

/// The task of a run's current attempt.
pub fn task_info(
    job: &Job,
    run: &Run,
    task_id: &str,
    agent_id: &AgentId,
    allocation_role: Option<&str>,
) -> TaskInfo {
    let mut vars: Vec<EnvironmentVariable> = job
        .environment_variables
        .iter()
        .map(|e| EnvironmentVariable {
            name: e.name.clone(),
            kind: None,
            value: Some(e.value.clone()),
        })
        .collect();
    for (k, v) in [
        ("CHRONOS_JOB_NAME", job.name.clone()),
        ("CHRONOS_JOB_OWNER", job.owner.clone()),
        ("CHRONOS_JOB_RUN_TIME", format_utc(run.scheduled)),
        ("CHRONOS_JOB_RUN_ATTEMPT", run.attempt.to_string()),
        ("CHRONOS_RESOURCE_CPU", job.cpus.to_string()),
        ("CHRONOS_RESOURCE_MEM", job.mem.to_string()),
        ("CHRONOS_RESOURCE_DISK", job.disk.to_string()),
    ] {
        if !vars.iter().any(|e| e.name == k) {
            vars.push(EnvironmentVariable {
                name: k.into(),
                kind: None,
                value: Some(v),
            });
        }
    }
    let uris = job
        .fetch_uris()
        .into_iter()
        .map(|f| CommandUri {
            value: f.uri,
            executable: Some(f.executable),
            extract: Some(f.extract),
            cache: Some(f.cache),
            output_file: f.output_file,
        })
        .collect();
    let (value, arguments) = if job.shell {
        let mut cmd = job.command.clone();
        for a in &run.arguments {
            cmd.push(' ');
            cmd.push_str(&shell_quote(a));
        }
        (cmd, Vec::new())
    } else {
        let mut argv = vec![job.command.clone()];
        argv.extend(job.arguments.iter().cloned());
        argv.extend(run.arguments.iter().cloned());
        (job.command.clone(), argv)
    };
    let command = CommandInfo {
        uris,
        environment: Some(Environment { variables: vars }),
        shell: Some(job.shell),
        value: Some(value),
        arguments,
        user: (!job.run_as_user.is_empty()).then(|| job.run_as_user.clone()),
    };
    TaskInfo {
        name: format!("ChronosTask:{}", job.name),
        task_id: TaskId::new(task_id),
        agent_id: agent_id.clone(),
        resources: needs(job).to_mesos(allocation_role),
        command: Some(command),
        container: job.container.as_ref().and_then(container_info),
        ..TaskInfo::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{RunKind, RunState, Sandbox};
    use paddock_proto::mesos::{Attribute, OfferId, Text, ValueType};

    fn offer(id: &str, res: &str, attrs: &[(&str, &str)]) -> Offer {
        Offer {
            id: OfferId::new(id),
            agent_id: AgentId::new(format!("agent-{id}")),
            hostname: format!("host-{id}"),
            resources: Resources::parse(res).unwrap().to_mesos(Some("*")),
            attributes: attrs
                .iter()
                .map(|(k, v)| Attribute {
                    name: k.to_string(),
                    kind: ValueType::Text,
                    text: Some(Text {
                        value: v.to_string(),
                    }),
                    ..Attribute::default()
                })
                .collect(),
            ..Offer::default()
        }
    }

    fn job(body: &str) -> Job {
        Job::parse(body.as_bytes()).unwrap().job
    }

    fn key(n: &str) -> RunKey {
        RunKey {
            job: n.into(),
            scheduled: 0,
        }
    }

    #[test]
    fn places_by_resources_and_constraints() {
        let offers = vec![
            offer("1", "cpus:0.5;mem:256;disk:1000", &[("rack", "r1")]),
            offer("2", "cpus:4;mem:4096;disk:10000", &[("rack", "r2")]),
        ];
        let big = job(r#"{"name":"big","cpus":2,"mem":1024}"#);
        let small = job(r#"{"name":"small"}"#);
        let r1 = job(r#"{"name":"r1","constraints":[["rack","EQUALS","r1"]]}"#);
        let like = job(r#"{"name":"like","constraints":[["hostname","LIKE","host-[2]"]]}"#);
        let unlike = job(r#"{"name":"unlike","constraints":[["rack","UNLIKE","r.*"]]}"#);
        let runs = vec![
            (key("big"), &big),
            (key("small"), &small),
            (key("r1"), &r1),
            (key("like"), &like),
            (key("unlike"), &unlike),
        ];
        let placed = place(&offers, &runs);
        let by: Vec<(usize, &str)> = placed.iter().map(|(i, k)| (*i, k.job.as_str())).collect();
        // big only fits the second offer; r1 must go to rack r1; unlike
        // matches no rack.
        assert_eq!(by, vec![(1, "big"), (0, "small"), (0, "r1"), (1, "like")]);
        // Once the first offer is full, a rack-r1 job has nowhere to go.
        let many: Vec<(RunKey, &Job)> = (0..5).map(|_| (key("r1"), &r1)).collect();
        assert_eq!(place(&offers, &many).len(), 2);
    }

    #[test]
    fn task_info_shell_argv_env_uris_container() {
        let run = Run {
            job: "j".into(),
            scheduled: 1_768_478_400_000,
            kind: RunKind::Manual,
            state: RunState::Pending,
            attempt: 1,
            arguments: vec!["it's".into()],
            queued: 0,
            not_before: None,
            task_id: None,
            agent_id: None,
            sandbox: Sandbox::default(),
            started: None,
            running: None,
            running_reported: None,
            ended: None,
            task_state: None,
            message: None,
            reason: None,
            exit_status: None,
            kill: None,
            attempts: vec![],
        };
        let j = job(
            r#"{"name":"j","command":"echo","environmentVariables":[{"name":"A","value":"1"}],
            "uris":["http://x/a.tgz"],"container":{"image":"busybox","volumes":[{"containerPath":"/d","hostPath":"/h","mode":"ro"}]}}"#,
        );
        let t = task_info(&j, &run, "ct:1:1:j", &AgentId::new("a1"), Some("*"));
        let c = t.command.clone().unwrap();
        assert_eq!(c.value.as_deref(), Some(r"echo 'it'\''s'"));
        assert_eq!(c.shell, Some(true));
        let env = c.environment.unwrap().variables;
        assert!(env
            .iter()
            .any(|e| e.name == "A" && e.value.as_deref() == Some("1")));
        assert!(env.iter().any(|e| e.name == "CHRONOS_JOB_RUN_TIME"
            && e.value.as_deref() == Some("2026-01-15T12:00:00.000Z")));
        assert_eq!(c.uris[0].value, "http://x/a.tgz");
        assert_eq!(c.uris[0].extract, Some(true));
        let container = t.container.unwrap();
        assert_eq!(container["docker"]["image"], "busybox");
        assert_eq!(container["volumes"][0]["mode"], "RO");
        assert_eq!(t.name, "ChronosTask:j");
        assert_eq!(t.resources.len(), 3);
        let ucr = |force: &str| {
            let body = format!(
                r#"{{"name":"j","command":"echo","container":{{"type":"mesos","image":"r:5000/bb:1","forcePullImage":{force}}}}}"#
            );
            task_info(&job(&body), &run, "x", &AgentId::new("a1"), None)
                .container
                .unwrap()
        };
        let c = ucr("true");
        assert_eq!(c["type"], "MESOS");
        assert_eq!(c["mesos"]["image"]["docker"]["name"], "r:5000/bb:1");
        assert_eq!(c["mesos"]["image"]["cached"], false);
        assert!(c.get("docker").is_none(), "{c}");
        let c = ucr("\"false\"");
        assert!(c["mesos"]["image"].get("cached").is_none(), "{c}");
        let argv_job =
            job(r#"{"name":"j","command":"/bin/echo","shell":false,"arguments":["a","b"]}"#);
        let t = task_info(&argv_job, &run, "x", &AgentId::new("a1"), None);
        let c = t.command.unwrap();
        assert_eq!(c.shell, Some(false));
        assert_eq!(c.arguments, vec!["/bin/echo", "a", "b", "it's"]);
        assert!(t.container.is_none());
    }
}
