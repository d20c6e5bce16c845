//! `paddock tasks` and `paddock task logs|stats|kill`.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use super::client::{pid_address, Master};
use super::table::{bytes, Table};
use super::{num, print_json, Common};

fn all_tasks(m: &Master) -> Result<Vec<Value>, String> {
    let v = m.get("/master/tasks?limit=100000&order=asc")?;
    Ok(v["tasks"].as_array().cloned().unwrap_or_default())
}

fn find(m: &Master, id: &str) -> Result<Value, String> {
    all_tasks(m)?
        .into_iter()
        .rev()
        .find(|t| t["id"] == id)
        .ok_or_else(|| format!("task '{id}' not found"))
}

fn state_matches(state: &str, want: &str) -> bool {
    let w = want.to_ascii_uppercase();
    state == w || state == format!("TASK_{w}")
}

pub fn list(
    c: &Common,
    state: Option<&str>,
    framework: Option<&str>,
    agent: Option<&str>,
) -> Result<(), String> {
    let m = Master::new(&c.master)?;
    let mut tasks = all_tasks(&m)?;
    if let Some(s) = state {
        tasks.retain(|t| state_matches(t["state"].as_str().unwrap_or(""), s));
    }
    if let Some(f) = framework {
        let fws = m.get("/master/frameworks")?;
        let ids: Vec<String> = fws["frameworks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|x| x["name"] == f || x["id"] == f)
            .filter_map(|x| x["id"].as_str().map(str::to_string))
            .collect();
        tasks.retain(|t| {
            t["framework_id"] == f || ids.iter().any(|i| t["framework_id"] == i.as_str())
        });
    }
    if let Some(a) = agent {
        let slaves = m.get("/master/slaves")?;
        let ids: Vec<String> = slaves["slaves"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|x| x["hostname"] == a || x["id"] == a)
            .filter_map(|x| x["id"].as_str().map(str::to_string))
            .collect();
        tasks.retain(|t| ids.iter().any(|i| t["slave_id"] == i.as_str()));
    }
    if c.json {
        return print_json(&Value::Array(tasks));
    }
    let mut t = Table::new(&[
        "ID",
        "NAME",
        "STATE",
        "FRAMEWORK",
        "AGENT",
        "CPUS",
        "MEM (MB)",
    ]);
    for task in &tasks {
        t.row(vec![
            task["id"].as_str().unwrap_or_default().to_string(),
            task["name"].as_str().unwrap_or_default().to_string(),
            task["state"].as_str().unwrap_or_default().to_string(),
            task["framework_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            task["slave_id"].as_str().unwrap_or_default().to_string(),
            num(&task["resources"]["cpus"]).to_string(),
            num(&task["resources"]["mem"]).to_string(),
        ]);
    }
    print!("{}", t.render());
    Ok(())
}

/// The agent address serving a task.
fn agent_of(m: &Master, task: &Value) -> Result<String, String> {
    let slaves = m.get("/master/slaves")?;
    slaves["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["id"] == task["slave_id"])
        .and_then(|s| s["pid"].as_str().and_then(pid_address))
        .ok_or_else(|| {
            format!(
                "the agent of task '{}' is not reachable",
                task["id"].as_str().unwrap_or("")
            )
        })
}

/// Finds the task's sandbox directory in an agent's /state.
pub fn sandbox_in(state: &Value, task: &str) -> Option<String> {
    let fws = state["frameworks"].as_array().into_iter().flatten().chain(
        state["completed_frameworks"]
            .as_array()
            .into_iter()
            .flatten(),
    );
    for fw in fws {
        let execs = fw["executors"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(fw["completed_executors"].as_array().into_iter().flatten());
        for ex in execs {
            let tasks = ex["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(ex["completed_tasks"].as_array().into_iter().flatten())
                .chain(ex["queued_tasks"].as_array().into_iter().flatten());
            let mut found = false;
            for t in tasks {
                found |= t["id"] == task;
            }
            if found {
                return ex["directory"].as_str().map(str::to_string);
            }
        }
    }
    None
}

pub fn logs(
    c: &Common,
    id: &str,
    follow: bool,
    stderr: bool,
    tail: Option<usize>,
) -> Result<(), String> {
    let m = Master::new(&c.master)?;
    let task = find(&m, id)?;
    let agent = agent_of(&m, &task)?;
    let state = m.agent(&agent, "/state")?;
    let dir =
        sandbox_in(&state, id).ok_or_else(|| format!("no sandbox for task '{id}' on {agent}"))?;
    let file = format!("{dir}/{}", if stderr { "stderr" } else { "stdout" });
    let path: String = url_encode(&file);
    let size = m.agent(&agent, &format!("/files/read?path={path}&offset=-1"))?["offset"]
        .as_u64()
        .unwrap_or(0);
    let mut offset = match tail {
        Some(_) => size.saturating_sub(64 * 1024),
        None => 0,
    };
    let mut first = true;
    let mut out = std::io::stdout();
    loop {
        let chunk = m.agent(
            &agent,
            &format!("/files/read?path={path}&offset={offset}&length=1048576"),
        )?;
        let data = chunk["data"].as_str().unwrap_or_default();
        let mut text = data.to_string();
        if first {
            if let Some(n) = tail {
                let lines: Vec<&str> = data.lines().collect();
                text = lines[lines.len().saturating_sub(n)..].join("\n");
                if !text.is_empty() {
                    text.push('\n');
                }
            }
            first = false;
        }
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        offset = chunk["offset"].as_u64().unwrap_or(offset) + data.len() as u64;
        if !data.is_empty() {
            continue;
        }
        if !follow {
            return Ok(());
        }
        let now = find(&m, id)?;
        let terminal = !matches!(
            now["state"].as_str(),
            Some("TASK_STAGING" | "TASK_STARTING" | "TASK_RUNNING" | "TASK_KILLING")
        );
        if terminal {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn stats(c: &Common, id: &str) -> Result<(), String> {
    let m = Master::new(&c.master)?;
    let task = find(&m, id)?;
    let agent = agent_of(&m, &task)?;
    let exec = task["executor_id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or(id)
        .to_string();
    let all = m.agent(&agent, "/monitor/statistics")?;
    let entry = all
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["executor_id"] == exec.as_str())
        .ok_or_else(|| format!("no statistics for task '{id}' (is it running?)"))?;
    let s = &entry["statistics"];
    if c.json {
        return print_json(entry);
    }
    let cpu_total = num(&s["cpus_user_time_secs"]) + num(&s["cpus_system_time_secs"]);
    let mut t = Table::new(&["METRIC", "VALUE"]);
    let mut kv = |k: &str, v: String| t.row(vec![k.to_string(), v]);
    kv("cpus limit", format!("{}", num(&s["cpus_limit"])));
    kv(
        "cpu user",
        format!("{:.2} s", num(&s["cpus_user_time_secs"])),
    );
    kv(
        "cpu system",
        format!("{:.2} s", num(&s["cpus_system_time_secs"])),
    );
    kv("cpu total", format!("{cpu_total:.2} s"));
    kv(
        "throttled",
        format!(
            "{} of {} periods, {:.2} s",
            num(&s["cpus_nr_throttled"]),
            num(&s["cpus_nr_periods"]),
            num(&s["cpus_throttled_time_secs"])
        ),
    );
    kv("mem rss", bytes(num(&s["mem_rss_bytes"])));
    kv("mem cache", bytes(num(&s["mem_cache_bytes"])));
    kv("mem total", bytes(num(&s["mem_total_bytes"])));
    kv("mem peak", bytes(num(&s["mem_max_usage_bytes"])));
    kv("mem limit", bytes(num(&s["mem_limit_bytes"])));
    kv("oom kills", format!("{}", num(&s["mem_oom_kill_count"])));
    kv(
        "pids",
        format!(
            "{} / {}",
            num(&s["pids_current"]),
            s["pids_limit"]
                .as_u64()
                .map(|p| p.to_string())
                .unwrap_or_else(|| "max".into())
        ),
    );
    print!("{}", t.render());
    Ok(())
}

pub fn kill(c: &Common, id: &str) -> Result<(), String> {
    let m = Master::new(&c.master)?;
    m.post(&format!(
        "/paddock/v1/tasks/{}/kill",
        url_encode(id).replace('/', "%2F")
    ))?;
    if !c.json {
        println!("kill sent to task '{id}'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_sandbox_in_agent_state() {
        let state: Value = serde_json::json!({"frameworks": [{"executors": [
            {"directory": "/a", "tasks": [{"id": "x"}], "completed_tasks": []},
            {"directory": "/b", "tasks": [], "completed_tasks": [{"id": "y"}]}
        ]}], "completed_frameworks": []});
        assert_eq!(sandbox_in(&state, "x").as_deref(), Some("/a"));
        assert_eq!(sandbox_in(&state, "y").as_deref(), Some("/b"));
        assert_eq!(sandbox_in(&state, "z"), None);
    }

    #[test]
    fn states_match_short_names() {
        assert!(state_matches("TASK_RUNNING", "running"));
        assert!(state_matches("TASK_RUNNING", "TASK_RUNNING"));
        assert!(!state_matches("TASK_FAILED", "running"));
    }

    #[test]
    fn encodes_paths() {
        assert_eq!(url_encode("/a b/c&d"), "/a%20b/c%26d");
    }
}
