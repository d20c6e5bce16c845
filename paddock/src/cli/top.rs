//! `paddock top`: live usage of every task across the cluster. Each
//! refresh reads the master's `/master/slaves` and `/master/tasks`, then
//! every agent's `/monitor/statistics` (in parallel); CPU% is the change of
//! `cpus_user_time_secs + cpus_system_time_secs` between two samples over
//! the change of their `timestamp` (100% = one core). Rows are sorted by
//! CPU, busiest first. The screen is redrawn in place (ANSI clear + home);
//! `--once` prints one table (after two samples) and exits.

use std::collections::HashMap;
use std::time::Duration;

use clap::Args;
use serde_json::{json, Value};

use super::client::{pid_address, Client};
use super::table::{bytes, emit, emit_json, num, number, text, Table};

#[derive(Args, Debug, Clone)]
pub struct TopArgs {
    /// Time between refreshes (and between the two samples of `--once`).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
    /// Print one table and exit (for scripts).
    #[arg(long)]
    pub once: bool,
}

/// One container's statistics at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub agent: String,
    pub framework_id: String,
    pub executor_id: String,
    pub container_id: String,
    /// The task id (from the master, or the executor's source).
    pub task: String,
    pub stats: Value,
}

impl Sample {
    fn key(&self) -> (String, String) {
        (self.agent.clone(), self.container_id.clone())
    }

    fn cpu_secs(&self) -> f64 {
        num(&self.stats["cpus_user_time_secs"]) + num(&self.stats["cpus_system_time_secs"])
    }
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub sample: Sample,
    /// `None` until there are two samples of the container.
    pub cpu_percent: Option<f64>,
}

/// CPU% of `now` against `before`: Δcpu / Δtimestamp, never negative
/// (a counter that went back, a restarted container, counts as unknown).
pub fn cpu_percent(before: &Sample, now: &Sample) -> Option<f64> {
    let dt = num(&now.stats["timestamp"]) - num(&before.stats["timestamp"]);
    let dc = now.cpu_secs() - before.cpu_secs();
    if dt <= 0.0 || dc < 0.0 {
        return None;
    }
    Some(100.0 * dc / dt)
}

/// The rows for `now`, each against its previous sample, busiest first
/// (unknown CPU last; ties by task id).
pub fn rows(previous: &[Sample], now: Vec<Sample>) -> Vec<Row> {
    let before: HashMap<(String, String), &Sample> =
        previous.iter().map(|s| (s.key(), s)).collect();
    let mut rows: Vec<Row> = now
        .into_iter()
        .map(|s| Row {
            cpu_percent: before.get(&s.key()).and_then(|b| cpu_percent(b, &s)),
            sample: s,
        })
        .collect();
    rows.sort_by(|a, b| {
        let (x, y) = (a.cpu_percent.unwrap_or(-1.0), b.cpu_percent.unwrap_or(-1.0));
        y.total_cmp(&x)
            .then_with(|| a.sample.task.cmp(&b.sample.task))
    });
    rows
}

/// The agents of a `/master/slaves` document: (hostname, host:port).
pub fn agents(slaves: &Value) -> Vec<(String, String)> {
    slaves["slaves"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["active"].as_bool().unwrap_or(true))
        .filter_map(|s| {
            let addr = s["pid"].as_str().and_then(pid_address).or_else(|| {
                Some(format!(
                    "{}:{}",
                    s["hostname"].as_str()?,
                    s["port"].as_u64()?
                ))
            })?;
            Some((text(&s["hostname"]), addr))
        })
        .collect()
}

/// Task ids by (framework id, executor id), from `/master/tasks`: a
/// custom executor's task is found through its `executor_id`.
fn task_index(tasks: &[Value]) -> HashMap<(String, String), String> {
    tasks
        .iter()
        .filter(|t| t["state"] == "TASK_RUNNING" || t["state"] == "TASK_STARTING")
        .filter_map(|t| {
            let exec = t["executor_id"].as_str().filter(|e| !e.is_empty())?;
            Some(((text(&t["framework_id"]), exec.to_string()), text(&t["id"])))
        })
        .collect()
}

/// The samples of one agent's `/monitor/statistics` document.
pub fn samples_of(
    agent: &str,
    stats: &Value,
    tasks: &HashMap<(String, String), String>,
) -> Vec<Sample> {
    stats
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let framework_id = text(&e["framework_id"]);
            let executor_id = text(&e["executor_id"]);
            // A command task's executor has the task's id; `source` too.
            let task = tasks
                .get(&(framework_id.clone(), executor_id.clone()))
                .cloned()
                .or_else(|| {
                    e["source"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                })
                .unwrap_or_else(|| executor_id.clone());
            Sample {
                agent: agent.to_string(),
                framework_id,
                executor_id,
                container_id: text(&e["container_id"]),
                task,
                stats: e["statistics"].clone(),
            }
        })
        .collect()
}

/// One sample of the whole cluster, and the agents that did not answer.
fn sample_cluster(c: &Client) -> Result<(Vec<Sample>, Vec<String>), String> {
    let slaves = c.get("/master/slaves")?;
    let tasks = task_index(
        &c.get("/master/tasks?limit=1000000")?["tasks"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    );
    let agents = agents(&slaves);
    let answers: Vec<(String, Result<Value, String>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = agents
            .iter()
            .map(|(host, addr)| {
                let h = scope.spawn(move || c.agent_get(addr, "/monitor/statistics"));
                (host.clone(), h)
            })
            .collect();
        handles
            .into_iter()
            .map(|(host, h)| {
                let r = h
                    .join()
                    .unwrap_or_else(|_| Err("statistics request failed".into()));
                (host, r)
            })
            .collect()
    });
    let mut samples = Vec::new();
    let mut failed = Vec::new();
    for (host, r) in answers {
        match r {
            Ok(v) => samples.extend(samples_of(&host, &v, &tasks)),
            Err(e) => failed.push(e),
        }
    }
    Ok((samples, failed))
}

fn opt_bytes(v: &Value) -> String {
    v.as_f64().map(bytes).unwrap_or_else(|| "-".into())
}

/// The table (what one refresh prints, below its title line).
pub fn render(rows: &[Row]) -> String {
    let mut t = Table::new(&[
        "TASK",
        "AGENT",
        "CPU%",
        "CPUS",
        "MEM RSS",
        "MEM LIMIT",
        "MEM%",
        "PIDS",
        "DISK",
    ]);
    for r in rows {
        let s = &r.sample.stats;
        let rss = num(&s["mem_rss_bytes"]);
        let limit = s["mem_limit_bytes"].as_f64();
        let disk = match (
            s["disk_used_bytes"].as_f64(),
            s["disk_limit_bytes"].as_f64(),
        ) {
            (Some(u), Some(l)) => format!("{} / {}", bytes(u), bytes(l)),
            (Some(u), None) => bytes(u),
            _ => "-".into(),
        };
        t.row(vec![
            r.sample.task.clone(),
            r.sample.agent.clone(),
            r.cpu_percent
                .map(|p| format!("{p:.1}"))
                .unwrap_or_else(|| "-".into()),
            s["cpus_limit"]
                .as_f64()
                .map(number)
                .unwrap_or_else(|| "-".into()),
            bytes(rss),
            opt_bytes(&s["mem_limit_bytes"]),
            match limit {
                Some(l) if l > 0.0 => format!("{:.1}", 100.0 * rss / l),
                _ => "-".into(),
            },
            s["pids_current"]
                .as_f64()
                .map(number)
                .unwrap_or_else(|| "-".into()),
            disk,
        ]);
    }
    t.render()
}

/// The rows as JSON, for `--json`.
pub fn to_json(rows: &[Row]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                let s = &r.sample.stats;
                json!({
                    "task_id": r.sample.task,
                    "agent": r.sample.agent,
                    "framework_id": r.sample.framework_id,
                    "executor_id": r.sample.executor_id,
                    "container_id": r.sample.container_id,
                    "cpu_percent": r.cpu_percent,
                    "cpus_limit": s["cpus_limit"],
                    "mem_rss_bytes": s["mem_rss_bytes"],
                    "mem_limit_bytes": s["mem_limit_bytes"],
                    "pids_current": s["pids_current"],
                    "disk_used_bytes": s["disk_used_bytes"],
                    "disk_limit_bytes": s["disk_limit_bytes"],
                })
            })
            .collect(),
    )
}

/// ANSI: clear the screen and move home.
const CLEAR: &str = "\x1b[H\x1b[2J";

pub fn run(c: &Client, args: &TopArgs, json: bool) -> Result<(), String> {
    if args.interval.is_zero() {
        return Err("--interval must be more than 0s".into());
    }
    let (mut previous, _) = sample_cluster(c)?;
    loop {
        std::thread::sleep(args.interval);
        let (now, failed) = sample_cluster(c)?;
        let table = rows(&previous, now.clone());
        previous = now;
        let mut out = String::new();
        if json {
            out.push_str(&serde_json::to_string(&to_json(&table)).map_err(|e| e.to_string())?);
            out.push('\n');
        } else {
            if !args.once {
                out.push_str(CLEAR);
                out.push_str(&format!(
                    "paddock top: {} tasks, every {} (Ctrl-C quits)\n\n",
                    table.len(),
                    humantime::format_duration(args.interval)
                ));
            }
            out.push_str(&render(&table));
            for f in &failed {
                out.push_str(&format!("(skipped) {f}\n"));
            }
        }
        if json && args.once {
            return emit_json(&to_json(&table));
        }
        emit(&out)?;
        if args.once {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(task: &str, cid: &str, ts: f64, user: f64, sys: f64) -> Sample {
        Sample {
            agent: "a1".into(),
            framework_id: "F".into(),
            executor_id: task.into(),
            container_id: cid.into(),
            task: task.into(),
            stats: json!({"timestamp": ts, "cpus_user_time_secs": user,
                "cpus_system_time_secs": sys, "mem_rss_bytes": 1048576.0,
                "mem_limit_bytes": 4194304.0, "pids_current": 3, "cpus_limit": 0.5}),
        }
    }

    #[test]
    fn cpu_is_the_delta_over_the_time_between_samples() {
        let a = sample("t", "c", 100.0, 1.0, 0.5);
        let b = sample("t", "c", 102.0, 2.0, 1.0);
        assert_eq!(cpu_percent(&a, &b), Some(75.0));
        // Time did not move, or the counter went back: unknown.
        assert_eq!(cpu_percent(&b, &b.clone()), None);
        assert_eq!(cpu_percent(&b, &sample("t", "c", 104.0, 0.0, 0.0)), None);
    }

    #[test]
    fn rows_sort_busiest_first_and_new_containers_last() {
        let before = vec![
            sample("idle", "c1", 10.0, 1.0, 0.0),
            sample("busy", "c2", 10.0, 1.0, 0.0),
        ];
        let now = vec![
            sample("idle", "c1", 11.0, 1.1, 0.0),
            sample("new", "c3", 11.0, 5.0, 0.0),
            sample("busy", "c2", 11.0, 1.9, 0.0),
        ];
        let r = rows(&before, now);
        let order: Vec<&str> = r.iter().map(|r| r.sample.task.as_str()).collect();
        assert_eq!(order, vec!["busy", "idle", "new"]);
        assert!((r[0].cpu_percent.unwrap() - 90.0).abs() < 1e-9);
        assert_eq!(r[2].cpu_percent, None);
        let out = render(&r);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "TASK  AGENT  CPU%  CPUS  MEM RSS  MEM LIMIT  MEM%  PIDS  DISK"
        );
        assert_eq!(
            lines[1],
            "busy  a1     90.0  0.5   1.0 MiB  4.0 MiB    25.0  3     -"
        );
        assert!(lines[3].starts_with("new   a1     -"), "{out}");
    }

    #[test]
    fn statistics_entries_become_samples_named_by_task() {
        let stats = json!([
            {"framework_id": "F", "executor_id": "e1", "source": "", "container_id": "c1",
             "statistics": {"timestamp": 1.0}},
            {"framework_id": "F", "executor_id": "t2", "source": "t2", "container_id": "c2",
             "statistics": {"timestamp": 1.0}}
        ]);
        let mut tasks = HashMap::new();
        tasks.insert(
            ("F".to_string(), "e1".to_string()),
            "task-of-e1".to_string(),
        );
        let s = samples_of("host1", &stats, &tasks);
        assert_eq!(s[0].task, "task-of-e1");
        assert_eq!(s[1].task, "t2");
        assert_eq!(s[1].agent, "host1");
    }

    #[test]
    fn agents_come_from_pids_or_hostnames() {
        let slaves = json!({"slaves": [
            {"hostname": "a", "pid": "slave(1)@10.0.0.1:5051", "active": true},
            {"hostname": "b", "port": 5052},
            {"hostname": "gone", "pid": "slave(1)@10.0.0.9:5051", "active": false}
        ]});
        assert_eq!(
            agents(&slaves),
            vec![
                ("a".to_string(), "10.0.0.1:5051".to_string()),
                ("b".to_string(), "b:5052".to_string())
            ]
        );
    }
}
