//! Checks a job before it is stored. Every error is a 400 whose message
//! names the field: malformed ISO 8601 or cron, a zero or negative period,
//! an unknown time zone, a name that breaks Chronos's rule (`[\w.-]+`),
//! negative retries or resources, both `schedule` and `parents`, a parent
//! that does not exist, a dependency cycle, bad constraints.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use crate::model::Job;
use crate::schedule::{Period, Schedule};

/// A refused job; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValidationError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ValidationError> {
    Err(ValidationError(msg.into()))
}

/// Where validation looks up the other jobs' parents.
pub trait JobLookup {
    /// The parents of `name`, `Some(&[])` for a scheduled job, `None` when
    /// there is no such job.
    fn parents_of(&self, name: &str) -> Option<&[String]>;
}

impl JobLookup for BTreeMap<String, Job> {
    fn parents_of(&self, name: &str) -> Option<&[String]> {
        self.get(name).map(|j| j.parent_names())
    }
}

/// Which endpoint the job came through; it only matters when the job has
/// neither a schedule nor parents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /iso8601`: no schedule means Chronos's `R1/<now>/PT24H`.
    Iso8601,
    /// `POST /dependency`: parents are required.
    Dependency,
}

/// Chronos's name rule: the whole name matches `[\w.-]+` (ASCII word
/// characters, dots and dashes).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

/// Checks `job` against the other jobs and fills in what Chronos fills in
/// (a default schedule; an empty start made explicit). Returns the parsed
/// schedule of a scheduled job.
pub fn validate(
    job: &mut Job,
    endpoint: Endpoint,
    jobs: &dyn JobLookup,
    now: Timestamp,
) -> Result<Option<Schedule>, ValidationError> {
    if !valid_name(&job.name) {
        return err(format!(
            "name: '{}' is not a valid job name; it must match [\\w.-]+ (letters, digits, '_', '.', '-'; no spaces)",
            job.name
        ));
    }
    if job.retries < 0 {
        return err(format!(
            "retries: must not be negative (got {})",
            job.retries
        ));
    }
    for (field, v) in [("cpus", job.cpus), ("mem", job.mem), ("disk", job.disk)] {
        if !v.is_finite() || v < 0.0 {
            return err(format!("{field}: must be a non-negative number (got {v})"));
        }
    }
    if job.max_completion_time < 0 {
        return err("maxCompletionTime: must not be negative");
    }
    if let Some(d) = job.starting_deadline_seconds {
        if d < 0 {
            return err("startingDeadlineSeconds: must not be negative");
        }
    }
    if !(job.retry_backoff_seconds.is_finite() && job.retry_backoff_seconds >= 0.0) {
        return err("retryBackoffSeconds: must be a non-negative number");
    }
    if !(job.retry_backoff_factor.is_finite() && job.retry_backoff_factor >= 1.0) {
        return err("retryBackoffFactor: must be at least 1");
    }
    if !(job.retry_backoff_max_seconds.is_finite() && job.retry_backoff_max_seconds >= 0.0) {
        return err("retryBackoffMaxSeconds: must be a non-negative number");
    }
    epsilon_millis(&job.epsilon)?;
    if !job.fetch.is_empty() && !job.uris.is_empty() {
        // Chronos refuses both; its own listing fills in both, so a job
        // read and posted back unchanged is let through.
        let same: Vec<&str> = job.fetch.iter().map(|f| f.uri.as_str()).collect();
        let uris: Vec<&str> = job.uris.iter().map(String::as_str).collect();
        if same != uris {
            return err("fetch: set either fetch or the deprecated uris, not both");
        }
    }
    for (i, c) in job.constraints.iter().enumerate() {
        check_constraint(i, c)?;
    }
    for (i, e) in job.environment_variables.iter().enumerate() {
        if e.name.is_empty() {
            return err(format!("environmentVariables[{i}].name: must not be empty"));
        }
    }
    if let Some(c) = &job.container {
        if !matches!(c.kind.to_ascii_uppercase().as_str(), "DOCKER" | "MESOS") {
            return err(format!(
                "container.type: must be DOCKER or MESOS (got '{}')",
                c.kind
            ));
        }
    }
    if !job.shell && job.command.is_empty() && job.container.is_none() {
        return err("command: with shell false, command is the executable and must be set");
    }

    let has_parents = job.parents.is_some();
    let has_schedule = job
        .schedule
        .as_deref()
        .is_some_and(|s| !s.trim().is_empty());
    if has_parents && has_schedule {
        return err("schedule: a job has either a schedule or parents, not both");
    }
    if has_parents || endpoint == Endpoint::Dependency {
        let parents = job.parents.clone().unwrap_or_default();
        if parents.is_empty() {
            return err("parents: a dependent job needs at least one parent");
        }
        check_parents(&job.name, &parents, jobs)?;
        job.schedule = None;
        return Ok(None);
    }
    let text = match &job.schedule {
        Some(s) if !s.trim().is_empty() => s.trim().to_string(),
        // Chronos's default: run once, now.
        _ => "R1//PT24H".to_string(),
    };
    let schedule = Schedule::parse(&text, &job.schedule_time_zone, now).map_err(|e| {
        let field = match e {
            crate::schedule::ScheduleError::UnknownZone(_) => "scheduleTimeZone",
            _ => "schedule",
        };
        ValidationError(format!("{field}: {e}"))
    })?;
    // Pin an empty or time-only start to the instant it meant.
    let start = text.split('/').nth(1).unwrap_or("");
    if crate::schedule::looks_iso(&text) && (start.is_empty() || start.starts_with(['T', 't'])) {
        job.schedule = Some(schedule.render(schedule.repeat()));
    } else {
        job.schedule = Some(text);
    }
    job.schedule_time_zone = job.schedule_time_zone.trim().to_string();
    job.parents = None;
    Ok(Some(schedule))
}

/// `epsilon` in milliseconds: an ISO 8601 duration without months/years.
pub fn epsilon_millis(text: &str) -> Result<i64, ValidationError> {
    let p = Period::parse(text).map_err(|e| ValidationError(format!("epsilon: {e}")))?;
    let nanos = p
        .as_fixed_nanos()
        .ok_or_else(|| ValidationError("epsilon: months and years are not allowed".into()))?;
    Ok(i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX))
}

fn check_constraint(i: usize, c: &[String]) -> Result<(), ValidationError> {
    let field = format!("constraints[{i}]");
    match c {
        [attr, op, value] => {
            if attr.is_empty() {
                return err(format!("{field}: the attribute name is empty"));
            }
            match op.to_ascii_uppercase().as_str() {
                "EQUALS" => Ok(()),
                "LIKE" | "UNLIKE" => regex::Regex::new(value)
                    .map(|_| ())
                    .map_err(|e| ValidationError(format!("{field}: bad pattern '{value}': {e}"))),
                other => err(format!(
                    "{field}: unknown operator '{other}' (use EQUALS, LIKE or UNLIKE)"
                )),
            }
        }
        _ => err(format!(
            "{field}: expected [attribute, EQUALS|LIKE|UNLIKE, value]"
        )),
    }
}

fn check_parents(
    name: &str,
    parents: &[String],
    jobs: &dyn JobLookup,
) -> Result<(), ValidationError> {
    let mut seen = BTreeSet::new();
    for p in parents {
        if !seen.insert(p) {
            return err(format!("parents: '{p}' is listed twice"));
        }
        if p == name {
            return err(format!("parents: job '{name}' cannot depend on itself"));
        }
        if jobs.parents_of(p).is_none() {
            return err(format!("parents: parent job '{p}' does not exist"));
        }
    }
    // The stored graph has no cycle, so a new one must pass through `name`:
    // look for `name` among the ancestors of its new parents.
    for p in parents {
        if let Some(path) = path_to(p, name, jobs) {
            return err(format!(
                "parents: making '{p}' a parent of '{name}' creates a dependency cycle ({name} <- {})",
                path.join(" <- ")
            ));
        }
    }
    Ok(())
}

/// A chain of parents from `from` up to `target`, if `target` is an
/// ancestor of `from` (or `from` itself).
fn path_to(from: &str, target: &str, jobs: &dyn JobLookup) -> Option<Vec<String>> {
    let mut stack = vec![(from.to_string(), vec![from.to_string()])];
    let mut visited = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        if node == target {
            return Some(path);
        }
        if !visited.insert(node.clone()) {
            continue;
        }
        if let Some(parents) = jobs.parents_of(&node) {
            for p in parents {
                let mut next = path.clone();
                next.push(p.clone());
                stack.push((p.clone(), next));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests;
