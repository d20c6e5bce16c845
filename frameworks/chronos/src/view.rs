//! What the CLI and UI show, as pure functions: the rows of `paddock job
//! list` (next run, last status, the schedule in words), the table of
//! `paddock job runs NAME` and the DAG of `paddock job graph` as text.
//!
//! The rows travel as JSON (`GET /v1/scheduler/jobs/overview`, and
//! `GET /v1/scheduler/job/{name}/runs` for [`Run`]s), so the CLI fetches
//! them and calls the `render_*` functions.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::core::{Core, Millis, Run, RunState};
use crate::model::Job;
use crate::schedule::{format_utc, from_millis};

/// One line of `paddock job list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRow {
    pub name: String,
    /// The schedule as written (`R/…/PT1H`, cron), or "" for a dependent job.
    pub schedule: String,
    pub schedule_time_zone: String,
    pub parents: Vec<String>,
    /// The schedule in words, or "after a, b".
    pub pretty: String,
    /// The next scheduled run (UTC, Chronos format), if any.
    pub next_run: Option<String>,
    #[serde(default)]
    pub next_run_millis: Option<Millis>,
    /// success, failure or fresh, as Chronos's summary says.
    pub last_status: String,
    /// idle, queued or "N running".
    pub state: String,
    pub disabled: bool,
    pub success_count: i64,
    pub error_count: i64,
}

/// Chronos's last status: compares `lastSuccess` and `lastError`.
pub fn last_status(job: &Job) -> &'static str {
    match (job.last_success.is_empty(), job.last_error.is_empty()) {
        (true, true) => "fresh",
        (false, true) => "success",
        (true, false) => "failure",
        // Same fixed format, so strings compare as times (chronos-nagios).
        (false, false) if job.last_success >= job.last_error => "success",
        _ => "failure",
    }
}

/// Chronos's state: `idle`, `queued` or `N running`.
pub fn job_state(core: &Core, name: &str) -> String {
    let runs = core.runs_of(name);
    let running = runs.iter().filter(|r| r.state.is_active()).count();
    if running > 0 {
        format!("{running} running")
    } else if runs.iter().any(|r| r.state == RunState::Pending) {
        "queued".to_string()
    } else {
        "idle".to_string()
    }
}

/// The schedule of a job in words.
pub fn pretty_schedule(core: &Core, job: &Job) -> String {
    if job.is_dependent() {
        return format!("after {}", job.parent_names().join(", "));
    }
    let words = core
        .schedule(&job.name)
        .map(|s| s.describe())
        .unwrap_or_else(|| "no schedule".to_string());
    if job.disabled {
        format!("{words} (disabled)")
    } else {
        words
    }
}

pub fn job_row(core: &Core, job: &Job) -> JobRow {
    let next = core.next_slot(&job.name);
    JobRow {
        name: job.name.clone(),
        schedule: job.schedule.clone().unwrap_or_default(),
        schedule_time_zone: job.schedule_time_zone.clone(),
        parents: job.parent_names().to_vec(),
        pretty: pretty_schedule(core, job),
        next_run: next.map(format_utc),
        next_run_millis: next,
        last_status: last_status(job).to_string(),
        state: job_state(core, &job.name),
        disabled: job.disabled,
        success_count: job.success_count,
        error_count: job.error_count,
    }
}

pub fn job_rows(core: &Core) -> Vec<JobRow> {
    core.jobs().map(|j| job_row(core, j)).collect()
}

/// "in 5m", "3h ago".
pub fn relative(at: Millis, now: Millis) -> String {
    let d = (at - now) / 1000;
    let a = d.unsigned_abs();
    let s = if a < 60 {
        format!("{a}s")
    } else if a < 3600 {
        format!("{}m", a / 60)
    } else if a < 86_400 {
        format!("{}h{:02}m", a / 3600, (a % 3600) / 60)
    } else {
        format!("{}d{}h", a / 86_400, (a % 86_400) / 3600)
    };
    if d >= 0 {
        format!("in {s}")
    } else {
        format!("{s} ago")
    }
}

fn short_time(ms: Millis) -> String {
    from_millis(ms).strftime("%Y-%m-%d %H:%M:%S").to_string()
}

fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<String>, out: &mut String| {
        let last = cells.len().saturating_sub(1);
        for (i, c) in cells.iter().enumerate() {
            if i == last {
                out.push_str(c);
            } else {
                let pad = widths[i] - c.chars().count();
                out.push_str(c);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push('\n');
    };
    line(headers.iter().map(|h| h.to_string()).collect(), &mut out);
    for r in rows {
        line(r.clone(), &mut out);
    }
    out
}

/// `paddock job list`.
pub fn render_job_list(rows: &[JobRow], now: Millis) -> String {
    if rows.is_empty() {
        return "No jobs.\n".to_string();
    }
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let next = match r.next_run_millis {
                Some(t) => format!("{} UTC ({})", short_time(t), relative(t, now)),
                None => "-".to_string(),
            };
            vec![
                r.name.clone(),
                next,
                r.last_status.clone(),
                r.state.clone(),
                format!("{}/{}", r.success_count, r.error_count),
                r.pretty.clone(),
            ]
        })
        .collect();
    table(
        &["NAME", "NEXT RUN", "LAST", "STATE", "OK/ERR", "SCHEDULE"],
        &body,
    )
}

/// `paddock job runs NAME`: newest first.
pub fn render_runs(job: &str, runs: &[Run]) -> String {
    if runs.is_empty() {
        return format!("No runs of {job} yet.\n");
    }
    let mut sorted: Vec<&Run> = runs.iter().collect();
    sorted.sort_by_key(|r| std::cmp::Reverse(r.scheduled));
    let body: Vec<Vec<String>> = sorted
        .iter()
        .map(|r| {
            vec![
                short_time(r.scheduled),
                format!("{:?}", r.kind).to_lowercase(),
                r.state.as_str().to_string(),
                r.attempt.to_string(),
                r.running
                    .or(r.started)
                    .map(short_time)
                    .unwrap_or_else(|| "-".into()),
                r.duration_secs()
                    .map(|d| format!("{d:.1}s"))
                    .unwrap_or_else(|| "-".into()),
                r.exit_status
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "-".into()),
                r.task_id.clone().unwrap_or_else(|| "-".into()),
                r.agent_id.clone().unwrap_or_else(|| "-".into()),
                r.message.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &[
            "SCHEDULED (UTC)",
            "KIND",
            "STATE",
            "TRY",
            "STARTED",
            "TOOK",
            "EXIT",
            "TASK",
            "AGENT",
            "MESSAGE",
        ],
        &body,
    )
}

/// `paddock job graph`: each scheduled job with its dependents below it.
/// A job with several parents appears under each; its subtree is drawn
/// once and referred to afterwards.
pub fn render_graph(jobs: &[Job]) -> String {
    if jobs.is_empty() {
        return "No jobs.\n".to_string();
    }
    let names: BTreeSet<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
    let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for j in jobs {
        for p in j.parent_names() {
            children
                .entry(p.as_str())
                .or_default()
                .push(j.name.as_str());
        }
    }
    let by_name: BTreeMap<&str, &Job> = jobs.iter().map(|j| (j.name.as_str(), j)).collect();
    let mut out = String::new();
    let mut drawn = BTreeSet::new();
    let roots: Vec<&str> = jobs
        .iter()
        .filter(|j| j.parent_names().iter().all(|p| !names.contains(p.as_str())))
        .map(|j| j.name.as_str())
        .collect();
    fn label(j: Option<&&Job>) -> String {
        match j {
            Some(j) if j.is_dependent() => format!("  (after {})", j.parent_names().join(", ")),
            Some(j) => match &j.schedule {
                Some(s) => format!("  ({s})"),
                None => String::new(),
            },
            None => String::new(),
        }
    }
    #[allow(clippy::too_many_arguments)]
    fn walk<'a>(
        name: &'a str,
        prefix: &str,
        last: bool,
        top: bool,
        children: &BTreeMap<&'a str, Vec<&'a str>>,
        by_name: &BTreeMap<&'a str, &'a Job>,
        drawn: &mut BTreeSet<&'a str>,
        out: &mut String,
    ) {
        let branch = if top {
            ""
        } else if last {
            "└── "
        } else {
            "├── "
        };
        let seen = !drawn.insert(name);
        let kids = children.get(name).cloned().unwrap_or_default();
        let more = if seen && !kids.is_empty() {
            "  …see above"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{prefix}{branch}{name}{}{more}",
            label(by_name.get(name))
        );
        if seen {
            return;
        }
        let next_prefix = if top {
            String::new()
        } else if last {
            format!("{prefix}    ")
        } else {
            format!("{prefix}│   ")
        };
        for (i, k) in kids.iter().enumerate() {
            walk(
                k,
                &next_prefix,
                i + 1 == kids.len(),
                false,
                children,
                by_name,
                drawn,
                out,
            );
        }
    }
    for r in roots {
        walk(r, "", true, true, &children, &by_name, &mut drawn, &mut out);
    }
    // Anything left is on a cycle (validation prevents that) or orphaned.
    for j in jobs {
        if !drawn.contains(j.name.as_str()) {
            walk(
                &j.name, "", true, true, &children, &by_name, &mut drawn, &mut out,
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(name: &str, schedule: Option<&str>, parents: &[&str]) -> Job {
        let mut j = Job::named(name);
        j.schedule = schedule.map(String::from);
        if !parents.is_empty() {
            j.parents = Some(parents.iter().map(|p| p.to_string()).collect());
        }
        j
    }

    #[test]
    fn graph_draws_a_diamond_once() {
        let jobs = vec![
            job("extract", Some("@daily"), &[]),
            job("load", None, &["extract"]),
            job("transform", None, &["extract"]),
            job("report", None, &["load", "transform"]),
        ];
        let text = render_graph(&jobs);
        assert_eq!(
            text,
            "extract  (@daily)\n\
             ├── load  (after extract)\n\
             │   └── report  (after load, transform)\n\
             └── transform  (after extract)\n    \
             └── report  (after load, transform)\n"
        );
    }

    #[test]
    fn job_list_shows_next_run_status_and_words() {
        let now = 1_768_478_400_000; // 2026-01-15T12:00:00Z
        let mut core = Core::new();
        let mut j = job("nightly", Some("0 2 * * *"), &[]);
        j.schedule_time_zone = "Europe/Berlin".into();
        core.put_job(j, &[], now);
        core.put_job(job("after", None, &["nightly"]), &[], now);
        let rows = job_rows(&core);
        assert_eq!(rows[1].name, "nightly");
        assert_eq!(rows[1].pretty, "every day at 02:00 Europe/Berlin");
        assert_eq!(
            rows[1].next_run.as_deref(),
            Some("2026-01-16T01:00:00.000Z")
        );
        assert_eq!(rows[1].last_status, "fresh");
        assert_eq!(rows[0].pretty, "after nightly");
        let text = render_job_list(&rows, now);
        assert!(text.starts_with("NAME "), "{text}");
        assert!(
            text.contains("2026-01-16 01:00:00 UTC (in 13h00m)"),
            "{text}"
        );
        assert!(text.contains("after nightly"));
        // Rows survive the JSON trip the CLI makes.
        let json = serde_json::to_string(&rows).unwrap();
        let back: Vec<JobRow> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rows);
    }

    #[test]
    fn runs_table_and_statuses() {
        let now = 1_768_478_400_000;
        let mut core = Core::new();
        core.put_job(job("x", Some("@daily"), &[]), &[], now);
        core.run_now("x", vec![], now).unwrap();
        let runs: Vec<Run> = core.runs_of("x").into_iter().cloned().collect();
        let text = render_runs("x", &runs);
        assert!(
            text.contains("PENDING") && text.contains("manual"),
            "{text}"
        );
        assert_eq!(render_runs("y", &[]), "No runs of y yet.\n");
        let mut j = Job::named("s");
        assert_eq!(last_status(&j), "fresh");
        j.last_success = "2026-01-15T12:00:00.000Z".into();
        j.last_error = "2026-01-15T11:00:00.000Z".into();
        assert_eq!(last_status(&j), "success");
        j.last_error = "2026-01-15T13:00:00.000Z".into();
        assert_eq!(last_status(&j), "failure");
        assert_eq!(relative(now + 90_000, now), "in 1m");
        assert_eq!(relative(now - 7_200_000, now), "2h00m ago");
    }
}
