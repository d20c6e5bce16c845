//! `paddock tasks` (the master's `/master/tasks`, filtered) and
//! `paddock task kill`.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::client::{percent_encode, Client};
use super::table::{age, emit, emit_json, now_secs, num, number, text, Table};

/// `paddock tasks` filters; each matches an id or a friendlier name.
#[derive(Debug, Default)]
pub struct Filter {
    pub state: Option<String>,
    pub framework: Option<String>,
    pub agent: Option<String>,
}

/// "running" and "TASK_RUNNING" both match TASK_RUNNING.
pub fn state_matches(state: &str, want: &str) -> bool {
    let w = want.trim().to_ascii_uppercase();
    state == w || state.strip_prefix("TASK_") == Some(w.as_str())
}

/// True for the Mesos states a task never leaves.
pub fn is_terminal(state: &str) -> bool {
    matches!(
        state,
        "TASK_FINISHED"
            | "TASK_FAILED"
            | "TASK_KILLED"
            | "TASK_LOST"
            | "TASK_ERROR"
            | "TASK_DROPPED"
            | "TASK_GONE"
            | "TASK_GONE_BY_OPERATOR"
    )
}

/// Framework id -> name, live and completed.
fn framework_names(frameworks: &Value) -> HashMap<String, String> {
    ["frameworks", "completed_frameworks"]
        .iter()
        .flat_map(|k| frameworks[*k].as_array().into_iter().flatten())
        .filter_map(|f| Some((f["id"].as_str()?.to_string(), text(&f["name"]))))
        .collect()
}

/// Ids of the entries of `list` whose id or `name_key` equals `wanted`.
fn ids_named(list: &[&Value], name_key: &str, wanted: &str) -> Vec<String> {
    list.iter()
        .filter(|x| x["id"] == wanted || x[name_key] == wanted)
        .filter_map(|x| x["id"].as_str().map(str::to_string))
        .collect()
}

/// Applies `filter`; `frameworks` and `slaves` are the master's documents
/// (used to match names and hostnames).
pub fn select(tasks: Vec<Value>, f: &Filter, frameworks: &Value, slaves: &Value) -> Vec<Value> {
    let fws: Vec<&Value> = ["frameworks", "completed_frameworks"]
        .iter()
        .flat_map(|k| frameworks[*k].as_array().into_iter().flatten())
        .collect();
    let agents: Vec<&Value> = slaves["slaves"].as_array().into_iter().flatten().collect();
    let fw_ids = f
        .framework
        .as_deref()
        .map(|w| (w, ids_named(&fws, "name", w)));
    let agent_ids = f
        .agent
        .as_deref()
        .map(|w| (w, ids_named(&agents, "hostname", w)));
    tasks
        .into_iter()
        .filter(|t| {
            f.state
                .as_deref()
                .is_none_or(|s| state_matches(t["state"].as_str().unwrap_or(""), s))
        })
        .filter(|t| {
            fw_ids.as_ref().is_none_or(|(w, ids)| {
                t["framework_id"] == *w || ids.iter().any(|i| t["framework_id"] == i.as_str())
            })
        })
        .filter(|t| {
            agent_ids.as_ref().is_none_or(|(w, ids)| {
                t["slave_id"] == *w || ids.iter().any(|i| t["slave_id"] == i.as_str())
            })
        })
        .collect()
}

/// The timestamps of a task's first and last status.
fn first_last(t: &Value) -> (Option<f64>, Option<f64>) {
    let ts: Vec<f64> = t["statuses"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["timestamp"].as_f64())
        .collect();
    (
        ts.iter().copied().reduce(f64::min),
        ts.iter().copied().reduce(f64::max),
    )
}

/// The tasks table; `now` is seconds since the epoch.
pub fn render(tasks: &[Value], frameworks: &Value, now: f64) -> String {
    let names = framework_names(frameworks);
    let mut t = Table::new(&[
        "ID",
        "NAME",
        "STATE",
        "FRAMEWORK",
        "AGENT",
        "CPUS",
        "MEM (MB)",
        "AGE",
        "UPDATED",
    ]);
    for task in tasks {
        let fw = text(&task["framework_id"]);
        let (first, last) = first_last(task);
        let ago = |x: Option<f64>| x.map(|x| age(now - x)).unwrap_or_else(|| "-".into());
        t.row(vec![
            text(&task["id"]),
            text(&task["name"]),
            text(&task["state"]),
            names
                .get(&fw)
                .filter(|n| !n.is_empty())
                .cloned()
                .unwrap_or(fw),
            text(&task["slave_id"]),
            number(num(&task["resources"]["cpus"])),
            number(num(&task["resources"]["mem"])),
            ago(first),
            ago(last),
        ]);
    }
    t.render()
}

pub fn list(c: &Client, json: bool, f: &Filter) -> Result<(), String> {
    let tasks = c.tasks()?;
    let frameworks = c.get("/master/frameworks")?;
    let slaves = if f.agent.is_some() {
        c.get("/master/slaves")?
    } else {
        Value::Null
    };
    let tasks = select(tasks, f, &frameworks, &slaves);
    if json {
        return emit_json(&Value::Array(tasks));
    }
    emit(&render(&tasks, &frameworks, now_secs()))
}

/// `paddock task kill ID`: asks the master to kill the task.
pub fn kill(c: &Client, id: &str, json: bool) -> Result<(), String> {
    c.post(&format!(
        "/paddock/v1/tasks/{}/kill",
        percent_encode(id, false)
    ))?;
    if json {
        emit_json(&json!({"id": id, "kill_requested": true}))
    } else {
        emit(&format!("kill requested for task '{id}'\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> (Vec<Value>, Value, Value) {
        let tasks: Value = serde_json::from_str(
            r#"{"tasks":[
              {"id":"web-1","name":"web","framework_id":"M-0000","executor_id":"",
               "slave_id":"M-S0","state":"TASK_RUNNING","resources":{"cpus":0.5,"mem":64},
               "statuses":[{"state":"TASK_STARTING","timestamp":1000.0},
                           {"state":"TASK_RUNNING","timestamp":1010.0}]},
              {"id":"batch-7","name":"batch","framework_id":"M-0001","executor_id":"e1",
               "slave_id":"M-S1","state":"TASK_FAILED","resources":{"cpus":1,"mem":256},
               "statuses":[]}]}"#,
        )
        .unwrap();
        let frameworks = serde_json::json!({
            "frameworks": [{"id": "M-0000", "name": "marathon"}],
            "completed_frameworks": [{"id": "M-0001", "name": ""}]
        });
        let slaves = serde_json::json!({"slaves": [
            {"id": "M-S0", "hostname": "node0"}, {"id": "M-S1", "hostname": "node1"}
        ]});
        (
            tasks["tasks"].as_array().unwrap().clone(),
            frameworks,
            slaves,
        )
    }

    fn ids(v: &[Value]) -> Vec<&str> {
        v.iter().map(|t| t["id"].as_str().unwrap()).collect()
    }

    #[test]
    fn states_match_short_names() {
        assert!(state_matches("TASK_RUNNING", "running"));
        assert!(state_matches("TASK_RUNNING", "TASK_RUNNING"));
        assert!(!state_matches("TASK_FAILED", "running"));
        assert!(is_terminal("TASK_FAILED"));
        assert!(!is_terminal("TASK_KILLING"));
    }

    #[test]
    fn filters_by_state_framework_name_and_hostname() {
        let (tasks, fws, slaves) = fixture();
        let f = |state: Option<&str>, fw: Option<&str>, agent: Option<&str>| Filter {
            state: state.map(Into::into),
            framework: fw.map(Into::into),
            agent: agent.map(Into::into),
        };
        let sel = |flt: Filter| select(tasks.clone(), &flt, &fws, &slaves);
        assert_eq!(ids(&sel(f(None, None, None))), ["web-1", "batch-7"]);
        assert_eq!(ids(&sel(f(Some("failed"), None, None))), ["batch-7"]);
        assert_eq!(ids(&sel(f(None, Some("marathon"), None))), ["web-1"]);
        assert_eq!(ids(&sel(f(None, Some("M-0001"), None))), ["batch-7"]);
        assert_eq!(ids(&sel(f(None, None, Some("node1")))), ["batch-7"]);
        assert_eq!(ids(&sel(f(None, None, Some("M-S0")))), ["web-1"]);
        assert!(sel(f(Some("running"), None, Some("node1"))).is_empty());
    }

    #[test]
    fn renders_framework_names_and_ages() {
        let (tasks, fws, _) = fixture();
        assert_eq!(
            render(&tasks, &fws, 1070.0),
            "ID       NAME   STATE         FRAMEWORK  AGENT  CPUS  MEM (MB)  AGE  UPDATED\n\
             web-1    web    TASK_RUNNING  marathon   M-S0   0.5   64        70s  60s\n\
             batch-7  batch  TASK_FAILED   M-0001     M-S1   1     256       -    -\n"
        );
    }
}
