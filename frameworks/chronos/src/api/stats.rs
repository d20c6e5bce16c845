//! `job/stat/{name}` and `stats/{percentile}`: run durations in seconds,
//! from the kept history (Chronos needed Cassandra for this). Jobs that
//! never ran answer zeros, as chronos-python's tests expect.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::{ApiError, ApiResult};
use crate::core::{Run, RunState};
use crate::schedule::format_utc;
use crate::service::Service;

/// Task history entries shown by `job/stat` (Chronos's default limit).
const TASK_STAT_HISTORY: usize = 5;

/// Durations (seconds) of the successful runs, sorted.
fn durations(runs: &[&Run]) -> Vec<f64> {
    let mut d: Vec<f64> = runs
        .iter()
        .filter(|r| r.state == RunState::Succeeded)
        .filter_map(|r| r.duration_secs())
        .collect();
    d.sort_by(f64::total_cmp);
    d
}

/// The nearest-rank percentile `p` (0..100) of sorted values; 0 if none.
fn percentile_of(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

pub fn job_stat(name: &str, runs: &[&Run]) -> Value {
    let d = durations(runs);
    let history: Vec<Value> = runs
        .iter()
        .rev()
        .filter(|r| r.task_id.is_some())
        .take(TASK_STAT_HISTORY)
        .map(|r| {
            let status = match r.state {
                RunState::Succeeded => "success",
                RunState::Failed | RunState::Killed => "fail",
                RunState::Staging | RunState::Running => "running",
                _ => "idle",
            };
            json!({
                "taskId": r.task_id,
                "jobName": name,
                "slaveId": r.agent_id.clone().unwrap_or_default(),
                "startTime": r.running.or(r.started).map(format_utc),
                "endTime": r.ended.map(format_utc),
                "duration": r.duration_secs(),
                "status": status,
                "numElementsProcessed": 0,
            })
        })
        .collect();
    json!({
        "histogram": {
            "75thPercentile": percentile_of(&d, 75.0),
            "95thPercentile": percentile_of(&d, 95.0),
            "98thPercentile": percentile_of(&d, 98.0),
            "99thPercentile": percentile_of(&d, 99.0),
            "median": percentile_of(&d, 50.0),
            "mean": mean(&d),
            "count": d.len(),
        },
        "taskStatHistory": history,
    })
}

/// `GET stats/{99thPercentile|98thPercentile|95thPercentile|75thPercentile|median|mean}`.
pub async fn percentile(
    State(svc): State<Arc<Service>>,
    Path(which): Path<String>,
) -> ApiResult<Json<Vec<Value>>> {
    let p = match which.as_str() {
        "99thPercentile" => Some(99.0),
        "98thPercentile" => Some(98.0),
        "95thPercentile" => Some(95.0),
        "75thPercentile" => Some(75.0),
        "median" => Some(50.0),
        "mean" => None,
        other => {
            return Err(ApiError::bad_request(format!(
                "percentile: '{other}' is not one of 99thPercentile, 98thPercentile, 95thPercentile, 75thPercentile, median, mean"
            )))
        }
    };
    let f = |d: &[f64]| match p {
        Some(p) => percentile_of(d, p),
        None => mean(d),
    };
    let st = svc.lock();
    let mut out: Vec<(f64, String)> = Vec::new();
    for j in st.core.jobs() {
        let runs = st.store.runs_of(&j.name)?;
        let refs: Vec<&Run> = runs.iter().collect();
        out.push((f(&durations(&refs)), j.name.clone()));
    }
    out.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    Ok(Json(
        out.into_iter()
            .map(|(t, n)| json!({ "jobNameLabel": n, "time": t }))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile_of(&v, 99.0), 99.0);
        assert_eq!(percentile_of(&v, 50.0), 50.0);
        assert_eq!(percentile_of(&[], 75.0), 0.0);
        assert_eq!(percentile_of(&[3.0], 75.0), 3.0);
        assert_eq!(mean(&[1.0, 2.0, 6.0]), 3.0);
    }
}
