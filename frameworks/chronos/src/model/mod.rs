//! The job definition, with every Chronos field under its JSON name and
//! Chronos's defaults, plus Paddock's additions (`concurrencyPolicy`,
//! retry backoff, `startingDeadlineSeconds`).
//!
//! Input is lenient where Chronos is (numbers as strings for `cpus`, `mem`,
//! `disk`; booleans as `"true"`), unknown fields are ignored, and errors name
//! the offending field. Output is the job as Chronos 3 lists it.

mod lenient;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Chronos's `--mesos_task_cpu`, used when `cpus` is 0 or absent.
pub const DEFAULT_CPUS: f64 = 0.1;
/// Chronos's `--mesos_task_mem` (MB).
pub const DEFAULT_MEM: f64 = 128.0;
/// Chronos's `--mesos_task_disk` (MB).
pub const DEFAULT_DISK: f64 = 256.0;
/// Chronos 2's `--task_epsilon`: a missed run may start this late.
pub const DEFAULT_EPSILON: &str = "PT60S";
pub const DEFAULT_RETRIES: i64 = 2;
pub const DEFAULT_BACKOFF_SECONDS: f64 = 10.0;
pub const DEFAULT_BACKOFF_FACTOR: f64 = 2.0;
pub const DEFAULT_BACKOFF_MAX_SECONDS: f64 = 600.0;

/// What happens when a run comes due while another run of the job is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConcurrencyPolicy {
    /// Start it anyway (`concurrent: true`).
    Allow,
    /// Wait for the active run to end; a scheduled run whose starting
    /// deadline passes meanwhile is skipped (`concurrent: false`).
    Forbid,
    /// Kill the active run and start the new one.
    Replace,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct EnvVar {
    pub name: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fetch {
    pub uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_file: Option<String>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub executable: bool,
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub cache: bool,
    #[serde(default = "yes", deserialize_with = "lenient::boolean")]
    pub extract: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    #[serde(default)]
    pub container_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Parameter {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// Chronos's `container` block, passed to Mesos as a `ContainerInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(rename = "type", default = "docker")]
    pub kind: String,
    #[serde(default)]
    pub image: String,
    #[serde(default = "host")]
    pub network: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_infos: Vec<Value>,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    #[serde(default)]
    pub parameters: Vec<Parameter>,
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub force_pull_image: bool,
}

/// A Chronos job. Field names are Chronos's JSON names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub name: String,
    #[serde(default)]
    pub command: String,
    #[serde(default = "yes", deserialize_with = "lenient::boolean")]
    pub shell: bool,
    #[serde(default)]
    pub arguments: Vec<String>,
    /// `R[n]/start/period` or cron; absent for dependent jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(default)]
    pub schedule_time_zone: String,
    /// Parents make a dependent job; absent for scheduled jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parents: Option<Vec<String>>,
    /// How late a missed run may still start (ISO 8601 duration).
    #[serde(default = "default_epsilon")]
    pub epsilon: String,
    #[serde(default = "default_retries", deserialize_with = "lenient::integer")]
    pub retries: i64,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub owner_name: String,
    #[serde(default)]
    pub description: String,
    /// Chronos 2's `async`; accepted and shown, no effect.
    #[serde(rename = "async", default, deserialize_with = "lenient::boolean")]
    pub is_async: bool,
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub disabled: bool,
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub soft_error: bool,
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub concurrent: bool,
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub high_priority: bool,
    #[serde(default, deserialize_with = "lenient::number")]
    pub cpus: f64,
    #[serde(default, deserialize_with = "lenient::number")]
    pub mem: f64,
    #[serde(default, deserialize_with = "lenient::number")]
    pub disk: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    #[serde(default)]
    pub environment_variables: Vec<EnvVar>,
    #[serde(default)]
    pub fetch: Vec<Fetch>,
    #[serde(default)]
    pub uris: Vec<String>,
    #[serde(default)]
    pub constraints: Vec<Vec<String>>,
    #[serde(default)]
    pub run_as_user: String,
    /// Seconds; a run is killed after this long. 0 means no limit.
    #[serde(default, deserialize_with = "lenient::integer")]
    pub max_completion_time: i64,
    #[serde(default)]
    pub executor: String,
    #[serde(default)]
    pub executor_flags: String,
    #[serde(default)]
    pub task_info_data: String,
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub data_processing_job_type: bool,
    #[serde(default, deserialize_with = "lenient::integer")]
    pub success_count: i64,
    #[serde(default, deserialize_with = "lenient::integer")]
    pub error_count: i64,
    #[serde(default, deserialize_with = "lenient::integer")]
    pub errors_since_last_success: i64,
    #[serde(default)]
    pub last_success: String,
    #[serde(default)]
    pub last_error: String,
    // ---- Paddock additions ----
    /// ALLOW, FORBID or REPLACE; when absent, `concurrent` decides
    /// (true = ALLOW, false = FORBID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_policy: Option<ConcurrencyPolicy>,
    /// The delay before the first retry; each later one is multiplied by
    /// `retryBackoffFactor`, up to `retryBackoffMaxSeconds`.
    #[serde(default = "default_backoff", deserialize_with = "lenient::number")]
    pub retry_backoff_seconds: f64,
    #[serde(default = "default_factor", deserialize_with = "lenient::number")]
    pub retry_backoff_factor: f64,
    #[serde(default = "default_backoff_max", deserialize_with = "lenient::number")]
    pub retry_backoff_max_seconds: f64,
    /// How late a missed run may still start; overrides `epsilon`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_deadline_seconds: Option<i64>,
}

fn yes() -> bool {
    true
}
fn docker() -> String {
    "DOCKER".to_string()
}
fn host() -> String {
    "HOST".to_string()
}
fn default_epsilon() -> String {
    DEFAULT_EPSILON.to_string()
}
fn default_retries() -> i64 {
    DEFAULT_RETRIES
}
fn default_backoff() -> f64 {
    DEFAULT_BACKOFF_SECONDS
}
fn default_factor() -> f64 {
    DEFAULT_BACKOFF_FACTOR
}
fn default_backoff_max() -> f64 {
    DEFAULT_BACKOFF_MAX_SECONDS
}

/// Counters the server keeps; clients may send them (Chronos accepts them
/// on input), and when they do not, an update keeps the stored values.
pub const SERVER_COUNTERS: [&str; 5] = [
    "successCount",
    "errorCount",
    "errorsSinceLastSuccess",
    "lastSuccess",
    "lastError",
];

/// A job parsed from a request body, with which server counters it carried.
#[derive(Debug, Clone)]
pub struct JobInput {
    pub job: Job,
    /// The entries of [`SERVER_COUNTERS`] present in the body.
    pub counters_given: Vec<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl Job {
    /// A job with the given name and every default.
    pub fn named(name: &str) -> Job {
        let mut v = serde_json::Map::new();
        v.insert("name".into(), Value::String(name.to_string()));
        // Cannot fail: every other field has a default.
        serde_json::from_value(Value::Object(v)).unwrap_or_else(|_| unreachable!())
    }

    /// Parses a request body. The error names the field (`cpus: invalid
    /// type: …`).
    pub fn parse(body: &[u8]) -> Result<JobInput, ParseError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ParseError(format!("the body is not valid JSON: {e}")))?;
        let Value::Object(map) = &value else {
            return Err(ParseError("the body must be a JSON object".into()));
        };
        let counters_given = SERVER_COUNTERS
            .into_iter()
            .filter(|k| map.get(*k).is_some_and(|v| !v.is_null()))
            .collect();
        let mut job: Job = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." {
                ParseError(inner.to_string())
            } else {
                ParseError(format!("{path}: {inner}"))
            }
        })?;
        job.apply_resource_defaults();
        Ok(JobInput {
            job,
            counters_given,
        })
    }

    /// Chronos uses its defaults when a resource is 0.
    pub fn apply_resource_defaults(&mut self) {
        if self.cpus == 0.0 {
            self.cpus = DEFAULT_CPUS;
        }
        if self.mem == 0.0 {
            self.mem = DEFAULT_MEM;
        }
        if self.disk == 0.0 {
            self.disk = DEFAULT_DISK;
        }
    }

    pub fn is_dependent(&self) -> bool {
        self.parents.as_ref().is_some_and(|p| !p.is_empty())
    }

    pub fn parent_names(&self) -> &[String] {
        self.parents.as_deref().unwrap_or(&[])
    }

    /// The policy in force: the explicit one, else from `concurrent`.
    pub fn policy(&self) -> ConcurrencyPolicy {
        self.concurrency_policy.unwrap_or(if self.concurrent {
            ConcurrencyPolicy::Allow
        } else {
            ConcurrencyPolicy::Forbid
        })
    }

    /// The delay before retry number `attempt` (1 = first retry), in ms.
    pub fn backoff_millis(&self, attempt: u32) -> i64 {
        let exp = attempt.saturating_sub(1).min(64) as i32;
        let secs = (self.retry_backoff_seconds * self.retry_backoff_factor.powi(exp))
            .min(self.retry_backoff_max_seconds)
            .max(0.0);
        (secs * 1000.0) as i64
    }

    /// The fetcher URIs: `fetch`, or the deprecated `uris`.
    pub fn fetch_uris(&self) -> Vec<Fetch> {
        if !self.fetch.is_empty() {
            return self.fetch.clone();
        }
        self.uris
            .iter()
            .map(|u| Fetch {
                uri: u.clone(),
                output_file: None,
                executable: false,
                cache: false,
                extract: true,
            })
            .collect()
    }

    /// The job as the API shows it: like Chronos's list, `fetch` and `uris`
    /// mirror each other, and `concurrent` reflects the policy.
    pub fn to_wire(&self) -> Value {
        serde_json::to_value(self.wire_form()).unwrap_or(Value::Null)
    }

    /// The job with the fields [`Job::to_wire`] shows filled in, to be
    /// serialized as it is (no `Value` tree in between).
    pub fn wire_form(&self) -> Job {
        let mut job = self.clone();
        if job.fetch.is_empty() && !job.uris.is_empty() {
            job.fetch = job.fetch_uris();
        } else if job.uris.is_empty() && !job.fetch.is_empty() {
            job.uris = job.fetch.iter().map(|f| f.uri.clone()).collect();
        }
        job.concurrent = job.policy() == ConcurrencyPolicy::Allow;
        job.concurrency_policy = Some(job.policy());
        job
    }
}

#[cfg(test)]
mod tests;
