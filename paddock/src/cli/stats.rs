//! `paddock task stats ID`: the task's executor entry in its agent's
//! `/monitor/statistics`, as a key/value table in human units.

use serde_json::Value;

use super::client::Client;
use super::sandbox;
use super::table::{bytes, emit, emit_json, num, number, percent, seconds, Table};

/// The statistics entry of `executor_id` (of `framework_id`).
pub fn entry<'a>(all: &'a Value, framework_id: &str, executor_id: &str) -> Option<&'a Value> {
    all.as_array()?.iter().find(|e| {
        e["executor_id"] == executor_id
            && (framework_id.is_empty() || e["framework_id"] == framework_id)
    })
}

/// The key/value table for one `statistics` object.
pub fn render(s: &Value) -> String {
    let mut t = Table::new(&["METRIC", "VALUE"]);
    let mut kv = |k: &str, v: String| t.row(vec![k.to_string(), v]);
    let user = num(&s["cpus_user_time_secs"]);
    let system = num(&s["cpus_system_time_secs"]);
    kv(
        "cpus limit",
        s["cpus_limit"]
            .as_f64()
            .map(number)
            .unwrap_or_else(|| "none".into()),
    );
    kv("cpu time user", seconds(user));
    kv("cpu time system", seconds(system));
    kv("cpu time total", seconds(user + system));
    let periods = num(&s["cpus_nr_periods"]);
    let throttled = num(&s["cpus_nr_throttled"]);
    kv(
        "cpu throttled",
        format!(
            "{} of {} periods ({}), {}",
            number(throttled),
            number(periods),
            percent(throttled, periods),
            seconds(num(&s["cpus_throttled_time_secs"]))
        ),
    );
    let limit = s["mem_limit_bytes"].as_f64();
    let used = s["mem_total_bytes"]
        .as_f64()
        .unwrap_or_else(|| num(&s["mem_rss_bytes"]) + num(&s["mem_cache_bytes"]));
    kv(
        "mem used",
        match limit {
            Some(l) => format!("{} of {} ({})", bytes(used), bytes(l), percent(used, l)),
            None => bytes(used),
        },
    );
    kv("mem rss", bytes(num(&s["mem_rss_bytes"])));
    kv("mem cache", bytes(num(&s["mem_cache_bytes"])));
    if let Some(peak) = s["mem_max_usage_bytes"].as_f64() {
        kv("mem peak", bytes(peak));
    }
    kv(
        "mem limit",
        limit.map(bytes).unwrap_or_else(|| "none".into()),
    );
    let ooms = s["mem_oom_kill_count"]
        .as_f64()
        .or(s["mem_oom_events"].as_f64())
        .unwrap_or(0.0);
    kv("oom kills", number(ooms));
    kv(
        "pids",
        format!(
            "{} of {}",
            number(num(&s["pids_current"])),
            s["pids_limit"]
                .as_f64()
                .map(number)
                .unwrap_or_else(|| "max".into())
        ),
    );
    t.render()
}

pub fn show(c: &Client, id: &str, json: bool) -> Result<(), String> {
    let (task, p) = sandbox::locate(c, id)?;
    let all = c.agent_get(&p.agent, "/monitor/statistics")?;
    // A command task's executor has the task's id; otherwise /state says.
    let framework = task["framework_id"].as_str().unwrap_or(&p.framework_id);
    let found = entry(&all, framework, &p.executor_id).or_else(|| entry(&all, framework, id));
    let e = found.ok_or_else(|| format!("no statistics for task '{id}' (is it running?)"))?;
    if json {
        return emit_json(e);
    }
    emit(&render(&e["statistics"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATS: &str = r#"[
      {"framework_id": "M-0000", "executor_id": "other", "executor_name": "",
       "source": "", "statistics": {"timestamp": 1.0}},
      {"framework_id": "M-0000", "executor_id": "web-1",
       "executor_name": "Command Executor (Task: web-1)", "source": "web-1",
       "statistics": {"timestamp": 1700000000.0, "cpus_user_time_secs": 1.5,
         "cpus_system_time_secs": 0.25, "cpus_limit": 0.5, "cpus_nr_periods": 200,
         "cpus_nr_throttled": 50, "cpus_throttled_time_secs": 2.0,
         "mem_total_bytes": 33554432, "mem_rss_bytes": 31457280,
         "mem_cache_bytes": 2097152, "mem_limit_bytes": 134217728,
         "mem_max_usage_bytes": 67108864, "mem_oom_kill_count": 1,
         "pids_current": 3, "pids_limit": 64}}
    ]"#;

    #[test]
    fn finds_the_executor_entry() {
        let all: Value = serde_json::from_str(STATS).unwrap();
        assert_eq!(entry(&all, "M-0000", "web-1").unwrap()["source"], "web-1");
        assert!(entry(&all, "M-0001", "web-1").is_none());
        assert!(entry(&all, "M-0000", "nope").is_none());
    }

    #[test]
    fn renders_human_units() {
        let all: Value = serde_json::from_str(STATS).unwrap();
        let out = render(&all[1]["statistics"]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "METRIC           VALUE");
        assert!(out.contains("cpus limit       0.5\n"), "{out}");
        assert!(out.contains("cpu time total   1.75 s\n"), "{out}");
        assert!(
            out.contains("cpu throttled    50 of 200 periods (25.0%), 2.00 s\n"),
            "{out}"
        );
        assert!(
            out.contains("mem used         32.0 MiB of 128.0 MiB (25.0%)\n"),
            "{out}"
        );
        assert!(out.contains("mem peak         64.0 MiB\n"), "{out}");
        assert!(out.contains("oom kills        1\n"), "{out}");
        assert!(out.contains("pids             3 of 64\n"), "{out}");
    }

    #[test]
    fn missing_limits_read_as_none() {
        let out = render(&serde_json::json!({"mem_rss_bytes": 1024}));
        assert!(out.contains("cpus limit       none\n"), "{out}");
        assert!(out.contains("mem used         1.0 KiB\n"), "{out}");
        assert!(out.contains("pids             0 of max\n"), "{out}");
    }
}
