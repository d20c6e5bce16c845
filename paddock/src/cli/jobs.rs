//! `paddock job …`: Chronos's `/v1/scheduler` API. Lists use Paddock's
//! read endpoints when the server has them (`jobs/overview` for next run,
//! last status and the schedule in words; `job/{name}/runs` for history;
//! `job/{name}/next`), and fall back to `jobs` plus a display computed
//! here from the schedule string.

use reqwest::Method;
use serde_json::{json, Map, Value};

use super::client::{percent_encode, Client};
use super::job_graph;
use super::job_schedule::{self, show_instant};
use super::logs;
use super::service::{message_of, Reply, Service};
use super::table::{age, emit, emit_json, num, text, Table};

/// The reply when it is a success, else the server's message.
fn ok(r: Reply) -> Result<Reply, String> {
    if r.ok() {
        Ok(r)
    } else {
        Err(message_of(&r))
    }
}

fn job_path(name: &str) -> String {
    format!("/v1/scheduler/job/{}", percent_encode(name, false))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// Chronos's last status from `lastSuccess`/`lastError` (same fixed UTC
/// format, so they compare as text).
pub fn last_status(job: &Value) -> &'static str {
    let s = job["lastSuccess"].as_str().unwrap_or("");
    let e = job["lastError"].as_str().unwrap_or("");
    match (s.is_empty(), e.is_empty()) {
        (true, true) => "fresh",
        (false, true) => "success",
        (true, false) => "failure",
        _ if s >= e => "success",
        _ => "failure",
    }
}

/// A `jobs/overview` row built from a bare job (an older server).
pub fn row_from_job(job: &Value, now: jiff::Timestamp) -> Value {
    let schedule = text(&job["schedule"]);
    let zone = text(&job["scheduleTimeZone"]);
    let parents = strings(&job["parents"]);
    let next = if parents.is_empty() {
        job_schedule::parse_iso(&schedule, &zone).and_then(|iso| job_schedule::next_run(&iso, now))
    } else {
        None
    };
    json!({
        "name": job["name"],
        "schedule": schedule,
        "scheduleTimeZone": zone,
        "parents": parents,
        "pretty": job_schedule::describe(&schedule, &zone, &parents),
        "nextRun": next.map(|t| t.to_string()),
        "nextRunMillis": next.map(|t| t.as_millisecond()),
        "lastStatus": last_status(job),
        "state": "",
        "disabled": job["disabled"].as_bool().unwrap_or(false),
        "successCount": job["successCount"].as_i64().unwrap_or(0),
        "errorCount": job["errorCount"].as_i64().unwrap_or(0),
    })
}

/// "2026-12-01 06:00:00 UTC (in 5m)" for a next run; `now_ms` in Unix ms.
fn when(row: &Value, now_ms: i64) -> String {
    if row["disabled"] == true {
        return "disabled".into();
    }
    let at = row["nextRunMillis"].as_i64().or_else(|| {
        row["nextRun"]
            .as_str()
            .and_then(|s| s.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_millisecond())
    });
    match at.and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok()) {
        Some(t) => {
            let d = (t.as_millisecond() - now_ms) as f64 / 1000.0;
            let rel = if d >= 0.0 {
                format!("in {}", age(d))
            } else {
                format!("{} ago", age(-d))
            };
            format!("{} ({rel})", show_instant(t))
        }
        None => "-".into(),
    }
}

/// The `paddock job list` table, in name order.
pub fn render_list(rows: &Value, now_ms: i64) -> String {
    let mut list: Vec<&Value> = rows.as_array().into_iter().flatten().collect();
    list.sort_by_key(|r| text(&r["name"]));
    let mut t = Table::new(&[
        "NAME",
        "SCHEDULE",
        "NEXT RUN",
        "LAST STATUS",
        "STATE",
        "SUCCESS",
        "ERROR",
    ]);
    for r in list {
        let state = text(&r["state"]);
        t.row(vec![
            text(&r["name"]),
            text(&r["pretty"]),
            when(r, now_ms),
            text(&r["lastStatus"]),
            if state.is_empty() { "-".into() } else { state },
            num(&r["successCount"]).to_string(),
            num(&r["errorCount"]).to_string(),
        ]);
    }
    t.render()
}

/// Job rows: `jobs/overview`, else computed from `jobs`.
fn rows(c: &Service) -> Result<Value, String> {
    let r = c.get("/v1/scheduler/jobs/overview")?;
    if r.ok() && r.body.is_array() {
        return Ok(r.body);
    }
    let jobs = ok(c.get("/v1/scheduler/jobs")?)?.body;
    let now = jiff::Timestamp::now();
    Ok(Value::Array(
        jobs.as_array()
            .into_iter()
            .flatten()
            .map(|j| row_from_job(j, now))
            .collect(),
    ))
}

pub fn list(c: &Service, json: bool) -> Result<(), String> {
    let rows = rows(c)?;
    if json {
        return emit_json(&rows);
    }
    emit(&render_list(&rows, jiff::Timestamp::now().as_millisecond()))
}

/// The `paddock job show` text; `next` is what `job/{name}/next` said.
pub fn render_show(job: &Value, next: &Value) -> String {
    let mut out = String::new();
    let mut field = |k: &str, v: String| {
        if !v.is_empty() {
            out.push_str(&format!("{:<14} {v}\n", format!("{k}:")));
        }
    };
    let schedule = text(&job["schedule"]);
    let zone = text(&job["scheduleTimeZone"]);
    let parents = strings(&job["parents"]);
    field("name", text(&job["name"]));
    field("command", text(&job["command"]));
    let args = strings(&job["arguments"]);
    field("arguments", args.join(" "));
    field("schedule", schedule.clone());
    field("time zone", zone.clone());
    field("parents", parents.join(", "));
    let pretty = next["description"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| job_schedule::describe(&schedule, &zone, &parents));
    field("runs", pretty);
    field("next runs", strings(&next["next"]).join(", "));
    field(
        "disabled",
        if job["disabled"] == true {
            "yes".into()
        } else {
            String::new()
        },
    );
    field(
        "resources",
        format!(
            "cpus {}, mem {} MB, disk {} MB",
            num(&job["cpus"]),
            num(&job["mem"]),
            num(&job["disk"])
        ),
    );
    field("retries", text(&job["retries"]));
    field("owner", text(&job["owner"]));
    field("description", text(&job["description"]));
    field("last status", last_status(job).into());
    field("last success", text(&job["lastSuccess"]));
    field("last error", text(&job["lastError"]));
    field(
        "counts",
        format!(
            "{} succeeded, {} failed",
            num(&job["successCount"]),
            num(&job["errorCount"])
        ),
    );
    out
}

pub fn show(c: &Service, name: &str, json: bool) -> Result<(), String> {
    let job = ok(c.get(&job_path(name))?)?.body;
    if json {
        return emit_json(&job);
    }
    // Older servers have no `next`: the schedule is then described here.
    let next = match c.get(&format!("{}/next?count=3", job_path(name))) {
        Ok(r) if r.ok() => r.body,
        _ => Value::Null,
    };
    emit(&render_show(&job, &next))
}

/// Reads and checks a job file: a JSON object with a string `name`.
/// Returns it and whether it is a dependent job (non-empty `parents`).
pub fn parse_job(file: &str, text: &str) -> Result<(Map<String, Value>, String, bool), String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("{file}: invalid JSON ({e})"))?;
    let Value::Object(job) = v else {
        return Err(format!("{file}: expected a JSON object (a Chronos job)"));
    };
    let name = match job.get("name") {
        Some(Value::String(n)) if !n.trim().is_empty() => n.clone(),
        Some(Value::String(_)) | None => return Err(format!("{file}: the job has no \"name\"")),
        Some(_) => return Err(format!("{file}: \"name\" must be a string")),
    };
    let dependent = match job.get("parents") {
        None | Some(Value::Null) => false,
        Some(Value::Array(p)) => !p.is_empty(),
        Some(_) => return Err(format!("{file}: \"parents\" must be an array of job names")),
    };
    Ok((job, name, dependent))
}

pub fn add(c: &Service, file: &str, text: &str, json: bool) -> Result<(), String> {
    let (job, name, dependent) = parse_job(file, text)?;
    let endpoint = if dependent { "dependency" } else { "iso8601" };
    ok(c.call(
        Method::POST,
        &format!("/v1/scheduler/{endpoint}"),
        Some(&Value::Object(job)),
    )?)?;
    if json {
        return emit_json(&json!({"name": name, "saved": true, "dependent": dependent}));
    }
    emit(&format!("saved job '{name}'\n"))
}

pub fn run(c: &Service, name: &str, arguments: Option<&str>, json: bool) -> Result<(), String> {
    let mut path = job_path(name);
    if let Some(a) = arguments {
        path.push_str(&format!("?arguments={}", percent_encode(a, false)));
    }
    ok(c.call(Method::PUT, &path, None)?)?;
    if json {
        return emit_json(&json!({"name": name, "run_requested": true}));
    }
    emit(&format!("run of job '{name}' requested\n"))
}

pub fn delete(c: &Service, name: &str, json: bool) -> Result<(), String> {
    ok(c.call(Method::DELETE, &job_path(name), None)?)?;
    if json {
        return emit_json(&json!({"name": name, "deleted": true}));
    }
    emit(&format!("deleted job '{name}'\n"))
}

/// A run list, newest first (the server's order).
fn runs_of(c: &Service, name: &str) -> Result<Vec<Value>, String> {
    let r = ok(c.get(&format!("{}/runs", job_path(name)))?)?;
    let list = r
        .body
        .as_array()
        .or_else(|| r.body["runs"].as_array())
        .cloned();
    list.ok_or_else(|| format!("{}: the run history is not a list", c.what()))
}

/// A Unix-ms field or its ISO twin, as an instant.
fn instant(run: &Value, ms_key: &str, iso_key: &str) -> Option<jiff::Timestamp> {
    run[ms_key]
        .as_i64()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .or_else(|| run[iso_key].as_str().and_then(|s| s.parse().ok()))
}

/// The `paddock job runs` table: `#` 1 is the newest.
pub fn render_runs(runs: &[Value]) -> String {
    let mut t = Table::new(&[
        "#",
        "SCHEDULED",
        "KIND",
        "STATE",
        "TRY",
        "STARTED",
        "DURATION",
        "EXIT",
        "TASK",
    ]);
    for (i, r) in runs.iter().enumerate() {
        let start = instant(r, "running", "startTime").or_else(|| instant(r, "started", ""));
        let end = instant(r, "ended", "endTime");
        let duration = match (start, end) {
            (Some(s), Some(e)) => format!("{:.1}s", e.duration_since(s).as_secs_f64().max(0.0)),
            _ => "-".into(),
        };
        let opt = |t: Option<jiff::Timestamp>| t.map(show_instant).unwrap_or_else(|| "-".into());
        t.row(vec![
            (i + 1).to_string(),
            opt(instant(r, "scheduled", "scheduledTime")),
            text(&r["kind"]),
            text(&r["state"]),
            (r["attempt"].as_u64().unwrap_or(0) + 1).to_string(),
            opt(start),
            duration,
            r["exitStatus"]
                .as_i64()
                .map(|x| x.to_string())
                .unwrap_or_else(|| "-".into()),
            r["taskId"].as_str().unwrap_or("-").to_string(),
        ]);
    }
    t.render()
}

pub fn runs(c: &Service, name: &str, json: bool) -> Result<(), String> {
    let runs = runs_of(c, name)?;
    if json {
        return emit_json(&Value::Array(runs));
    }
    if runs.is_empty() {
        return emit(&format!("job '{name}' has not run yet\n"));
    }
    emit(&render_runs(&runs))
}

/// The task of the run `which` names: `#` from `job runs` (1 = newest),
/// a scheduled time as shown or sent, or a task id; without it, the
/// newest run that has a task.
pub fn pick_task(runs: &[Value], name: &str, which: Option<&str>) -> Result<String, String> {
    let task = |r: &Value| r["taskId"].as_str().map(str::to_string);
    let Some(w) = which.map(str::trim) else {
        return runs
            .iter()
            .find_map(task)
            .ok_or_else(|| format!("job '{name}' has no run with a task yet"));
    };
    let run = if let Ok(n) = w.parse::<usize>() {
        if n == 0 || n > runs.len() {
            return Err(format!(
                "job '{name}' has {} runs; RUN {n} is not one (see paddock job runs {name})",
                runs.len()
            ));
        }
        Some(&runs[n - 1])
    } else {
        let at: Option<jiff::Timestamp> = w.parse().ok().or_else(|| {
            w.strip_suffix(" UTC")
                .and_then(|s| format!("{}Z", s.replace(' ', "T")).parse().ok())
        });
        runs.iter().find(|r| {
            r["taskId"] == w
                || r["scheduledTime"] == w
                || at.is_some() && instant(r, "scheduled", "scheduledTime") == at
        })
    };
    let run =
        run.ok_or_else(|| format!("job '{name}' has no run '{w}' (see paddock job runs {name})"))?;
    task(run).ok_or_else(|| format!("run '{w}' of job '{name}' has not started a task"))
}

pub fn logs(
    c: &Service,
    master: &Client,
    name: &str,
    which: Option<&str>,
    o: &logs::Options,
) -> Result<(), String> {
    let runs = runs_of(c, name)?;
    let task = pick_task(&runs, name, which)?;
    logs::show(master, &task, o)
}

pub fn graph(c: &Service, json: bool) -> Result<(), String> {
    let csv = c.get("/v1/scheduler/graph/csv")?;
    let g = if csv.ok() {
        job_graph::parse_csv(csv.body.as_str().unwrap_or_default())
    } else {
        let dot = ok(c.get("/v1/scheduler/graph/dot")?)?;
        job_graph::parse_dot(dot.body.as_str().unwrap_or_default())
    };
    if json {
        return emit_json(&g.to_json());
    }
    if g.nodes.is_empty() {
        return emit("no jobs\n");
    }
    emit(&job_graph::render(&g))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn last_status_compares_times() {
        assert_eq!(last_status(&json!({})), "fresh");
        assert_eq!(
            last_status(&json!({"lastSuccess": "2026-01-01T00:00:00.000Z"})),
            "success"
        );
        assert_eq!(
            last_status(&json!({"lastError": "2026-01-01T00:00:00.000Z", "lastSuccess": ""})),
            "failure"
        );
        assert_eq!(
            last_status(
                &json!({"lastSuccess": "2026-01-02T00:00:00.000Z", "lastError": "2026-01-01T00:00:00.000Z"})
            ),
            "success"
        );
        assert_eq!(
            last_status(
                &json!({"lastSuccess": "2026-01-01T00:00:00.000Z", "lastError": "2026-01-02T00:00:00.000Z"})
            ),
            "failure"
        );
    }

    #[test]
    fn renders_overview_rows() {
        let now = ts("2026-01-01T05:55:00Z").as_millisecond();
        let rows = json!([
            {"name": "nightly", "schedule": "R/2026-01-01T06:00:00Z/P1D", "pretty": "every day at 06:00 UTC",
             "nextRun": "2026-01-01T06:00:00.000Z", "nextRunMillis": ts("2026-01-01T06:00:00Z").as_millisecond(),
             "lastStatus": "success", "state": "idle", "disabled": false, "successCount": 3, "errorCount": 1},
            {"name": "after", "schedule": "", "parents": ["nightly"], "pretty": "after nightly",
             "nextRun": null, "lastStatus": "fresh", "state": "1 running", "disabled": false,
             "successCount": 0, "errorCount": 0},
            {"name": "off", "pretty": "every hour (disabled)", "nextRun": "2026-01-01T06:00:00.000Z",
             "lastStatus": "failure", "state": "", "disabled": true, "successCount": 0, "errorCount": 2}
        ]);
        assert_eq!(
            render_list(&rows, now),
            "NAME     SCHEDULE                NEXT RUN                         LAST STATUS  STATE      SUCCESS  ERROR\n\
             after    after nightly           -                                fresh        1 running  0        0\n\
             nightly  every day at 06:00 UTC  2026-01-01 06:00:00 UTC (in 5m)  success      idle       3        1\n\
             off      every hour (disabled)   disabled                         failure      -          0        2\n"
        );
    }

    #[test]
    fn bare_jobs_become_rows() {
        let job = json!({"name": "hourly", "schedule": "R/2026-01-01T00:00:00Z/PT1H", "scheduleTimeZone": "",
                         "successCount": 2, "errorCount": 0, "lastSuccess": "2026-01-01T01:00:00.000Z",
                         "parents": []});
        let row = row_from_job(&job, ts("2026-01-01T01:30:00Z"));
        assert_eq!(row["pretty"], "every hour from 2026-01-01 00:00 UTC");
        assert_eq!(
            row["nextRunMillis"],
            ts("2026-01-01T02:00:00Z").as_millisecond()
        );
        assert_eq!(row["lastStatus"], "success");
        let child = row_from_job(
            &json!({"name": "c", "parents": ["hourly"]}),
            ts("2026-01-01T00:00:00Z"),
        );
        assert_eq!(child["pretty"], "after hourly");
        assert!(child["nextRun"].is_null());
    }

    #[test]
    fn job_files_are_checked() {
        let (_, name, dep) =
            parse_job("j.json", r#"{"name": "a", "schedule": "R//PT1H"}"#).unwrap();
        assert_eq!((name.as_str(), dep), ("a", false));
        let (_, _, dep) = parse_job("j.json", r#"{"name": "b", "parents": ["a"]}"#).unwrap();
        assert!(dep);
        let (_, _, dep) = parse_job("j.json", r#"{"name": "b", "parents": []}"#).unwrap();
        assert!(!dep);
        assert_eq!(
            parse_job("j.json", r#"{"schedule": "x"}"#).unwrap_err(),
            "j.json: the job has no \"name\""
        );
        assert_eq!(
            parse_job("j.json", r#"{"name": 1}"#).unwrap_err(),
            "j.json: \"name\" must be a string"
        );
        assert_eq!(
            parse_job("j.json", r#"{"name": "a", "parents": "b"}"#).unwrap_err(),
            "j.json: \"parents\" must be an array of job names"
        );
        assert!(parse_job("j.json", "[]")
            .unwrap_err()
            .contains("expected a JSON object"));
        assert!(parse_job("j.json", "{")
            .unwrap_err()
            .starts_with("j.json: invalid JSON ("));
    }

    fn history() -> Vec<Value> {
        let t0 = ts("2026-01-01T06:00:00Z").as_millisecond();
        vec![
            json!({"job": "j", "scheduled": t0 + 60_000, "scheduledTime": "2026-01-01T06:01:00.000Z",
                   "kind": "manual", "state": "PENDING", "attempt": 0}),
            json!({"job": "j", "scheduled": t0, "scheduledTime": "2026-01-01T06:00:00.000Z",
                   "kind": "scheduled", "state": "SUCCEEDED", "attempt": 1, "taskId": "ct:1:1:j:",
                   "started": t0 + 100, "running": t0 + 200, "ended": t0 + 2_700, "exitStatus": 0}),
        ]
    }

    #[test]
    fn renders_run_history_newest_first() {
        assert_eq!(
            render_runs(&history()),
            "#  SCHEDULED                KIND       STATE      TRY  STARTED                  DURATION  EXIT  TASK\n\
             1  2026-01-01 06:01:00 UTC  manual     PENDING    1    -                        -         -     -\n\
             2  2026-01-01 06:00:00 UTC  scheduled  SUCCEEDED  2    2026-01-01 06:00:00 UTC  2.5s      0     ct:1:1:j:\n"
        );
    }

    #[test]
    fn runs_are_picked_by_number_time_or_task() {
        let h = history();
        assert_eq!(pick_task(&h, "j", None).unwrap(), "ct:1:1:j:");
        assert_eq!(pick_task(&h, "j", Some("2")).unwrap(), "ct:1:1:j:");
        assert_eq!(pick_task(&h, "j", Some("ct:1:1:j:")).unwrap(), "ct:1:1:j:");
        assert_eq!(
            pick_task(&h, "j", Some("2026-01-01T06:00:00.000Z")).unwrap(),
            "ct:1:1:j:"
        );
        assert_eq!(
            pick_task(&h, "j", Some("2026-01-01 06:00:00 UTC")).unwrap(),
            "ct:1:1:j:"
        );
        assert_eq!(
            pick_task(&h, "j", Some("1")).unwrap_err(),
            "run '1' of job 'j' has not started a task"
        );
        assert!(pick_task(&h, "j", Some("3"))
            .unwrap_err()
            .contains("has 2 runs"));
        assert!(pick_task(&h, "j", Some("nope"))
            .unwrap_err()
            .contains("has no run 'nope'"));
        assert_eq!(
            pick_task(&h[..1], "j", None).unwrap_err(),
            "job 'j' has no run with a task yet"
        );
    }

    #[test]
    fn show_prefers_the_servers_words() {
        let job = json!({"name": "n", "command": "echo hi", "schedule": "R/2026-01-01T00:00:00Z/PT1H",
                         "cpus": 0.1, "mem": 32, "disk": 0, "retries": 2, "successCount": 1, "errorCount": 0});
        let out = render_show(
            &job,
            &json!({"description": "every hour UTC", "next": ["2026-01-01T01:00:00.000Z"]}),
        );
        assert!(out.contains("runs:          every hour UTC\n"), "{out}");
        assert!(
            out.contains("next runs:     2026-01-01T01:00:00.000Z\n"),
            "{out}"
        );
        let out = render_show(&job, &Value::Null);
        assert!(
            out.contains("runs:          every hour from 2026-01-01 00:00 UTC\n"),
            "{out}"
        );
        assert!(
            out.starts_with("name:          n\ncommand:       echo hi\n"),
            "{out}"
        );
    }
}
