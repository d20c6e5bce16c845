//! The Chronos REST API under `/v1/scheduler/...` and the legacy
//! `/scheduler/...` prefix, with Chronos's wire behaviour: mutations answer
//! 204 with no body, errors are JSON `{"status": …, "message": …}` (400 for
//! bad input and unknown jobs, as Chronos), lists are 200 arrays. Paddock
//! adds read endpoints for the CLI and UI: `job/{name}/runs` (history),
//! `job/{name}/next` (the next runs) and `jobs/overview` (list rows).
//! Everything is persisted before a 2xx goes out.

mod stats;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::core::{CoreError, Run};
use crate::model::Job;
use crate::schedule::{format_utc, from_millis, to_millis};
use crate::service::{now_millis, Service};
use crate::validate::{validate, Endpoint};
use crate::view;

/// An error answer: `{"status": "<reason>", "message": "<text>"}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
    fn internal(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> ApiError {
        ApiError::bad_request(e.to_string())
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        ApiError::internal(format!("cannot persist the change: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "status": self.status.canonical_reason().unwrap_or(""),
            "message": self.message,
        });
        (self.status, Json(body)).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;
type Svc = State<Arc<Service>>;

/// The whole HTTP surface: both prefixes, `/ping` and `/metrics`.
pub fn router(service: Arc<Service>) -> Router {
    let api = Router::new()
        .route("/iso8601", post(post_iso8601).put(post_iso8601))
        .route("/dependency", post(post_dependency).put(post_dependency))
        .route("/jobs", get(list_jobs))
        .route("/jobs/search", get(search_jobs))
        .route("/jobs/summary", get(summary))
        .route("/jobs/overview", get(overview))
        .route("/job/{name}", get(get_job).put(run_job).delete(delete_job))
        .route("/job/{name}/runs", get(job_runs))
        .route("/job/{name}/next", get(job_next))
        .route("/job/{name}/task/{task}/progress", post(progress))
        .route("/job/success/{name}", put(mark_success))
        .route("/job/stat/{name}", get(job_stat))
        .route("/task/kill/{name}", delete(kill_tasks))
        .route("/stats/{percentile}", get(stats::percentile))
        .route("/graph/dot", get(graph_dot))
        .route("/graph/csv", get(graph_csv))
        .route("/leader", get(leader));
    Router::new()
        .nest("/v1/scheduler", api.clone())
        .nest("/scheduler", api)
        .route("/ping", get(|| async { "pong" }))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(service)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!("no such endpoint: {}", uri.path()),
    }
}

async fn post_iso8601(State(svc): Svc, body: Bytes) -> ApiResult<StatusCode> {
    put_job(&svc, &body, Endpoint::Iso8601)
}

async fn post_dependency(State(svc): Svc, body: Bytes) -> ApiResult<StatusCode> {
    put_job(&svc, &body, Endpoint::Dependency)
}

fn put_job(svc: &Service, body: &[u8], endpoint: Endpoint) -> ApiResult<StatusCode> {
    let input = Job::parse(body).map_err(|e| ApiError::bad_request(e.0))?;
    let now = now_millis();
    let mut st = svc.lock();
    let mut job = input.job;
    validate(&mut job, endpoint, &st.core, from_millis(now))
        .map_err(|e| ApiError::bad_request(e.0))?;
    tracing::info!(job = %job.name, "job created or replaced");
    st.core.put_job(job, &input.counters_given, now);
    svc.commit(&mut st)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A JSON array of jobs in their wire form, written straight to bytes one
/// job at a time: a listing of 10,000 jobs never builds a `Value` tree of
/// them all (that tree cost ~70 MB of peak memory).
fn wire_list<'a>(jobs: impl Iterator<Item = &'a Job>) -> ApiResult<Response> {
    struct List<'a>(Vec<&'a Job>);
    impl serde::Serialize for List<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.iter().map(|j| j.wire_form()))
        }
    }
    let body = serde_json::to_vec(&List(jobs.collect()))
        .map_err(|e| ApiError::internal(format!("cannot encode the jobs: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn list_jobs(State(svc): Svc) -> ApiResult<Response> {
    let st = svc.lock();
    wire_list(st.core.jobs())
}

fn contains(hay: &str, needle: &str) -> bool {
    hay.to_lowercase().contains(&needle.to_lowercase())
}

/// Chronos's search: case-insensitive substrings of `name` and `command`;
/// `any` also matches the description and owner. (Chronos lets `any` on its
/// own match every job; here it filters.)
async fn search_jobs(
    State(svc): Svc,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let num = |key: &str, default: usize| -> ApiResult<usize> {
        match q.get(key).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| ApiError::bad_request(format!("{key}: '{v}' is not a whole number"))),
        }
    };
    let limit = num("limit", 10)?;
    let offset = num("offset", 0)?;
    let get = |k: &str| q.get(k).filter(|v| !v.is_empty()).cloned();
    let (name, command, any) = (get("name"), get("command"), get("any"));
    let st = svc.lock();
    let matches = |j: &Job| {
        let by_fields = (name.is_some() || command.is_some())
            && name.as_ref().is_none_or(|n| contains(&j.name, n))
            && command.as_ref().is_none_or(|c| contains(&j.command, c));
        let by_any = any.as_ref().is_some_and(|a| {
            contains(&j.name, a)
                || contains(&j.command, a)
                || contains(&j.description, a)
                || contains(&j.owner, a)
        });
        let unfiltered = name.is_none() && command.is_none() && any.is_none();
        unfiltered || by_fields || by_any
    };
    wire_list(
        st.core
            .jobs()
            .filter(|j| matches(j))
            .skip(offset)
            .take(limit),
    )
}

async fn summary(State(svc): Svc) -> Json<Value> {
    let st = svc.lock();
    let jobs: Vec<Value> = st
        .core
        .jobs()
        .map(|j| {
            let mut v = json!({
                "name": j.name,
                "status": view::last_status(j),
                "state": view::job_state(&st.core, &j.name),
                "disabled": j.disabled,
            });
            if j.is_dependent() {
                v["parents"] = json!(j.parent_names());
            } else {
                v["schedule"] = json!(j.schedule.clone().unwrap_or_default());
            }
            v
        })
        .collect();
    Json(json!({ "jobs": jobs }))
}

async fn overview(State(svc): Svc) -> Json<Vec<view::JobRow>> {
    let st = svc.lock();
    Json(view::job_rows(&st.core))
}

fn unknown(name: &str) -> ApiError {
    ApiError::from(CoreError::UnknownJob(name.to_string()))
}

async fn get_job(State(svc): Svc, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let st = svc.lock();
    st.core
        .job(&name)
        .map(|j| Json(j.to_wire()))
        .ok_or_else(|| unknown(&name))
}

/// `PUT /job/{name}[?arguments=…]`: run now. The arguments are split on
/// whitespace; `;` is removed, as Chronos does.
async fn run_job(
    State(svc): Svc,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<StatusCode> {
    let arguments: Vec<String> = q
        .get("arguments")
        .map(|a| {
            a.replace(';', "")
                .split_whitespace()
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let now = now_millis();
    let queued = svc.mutate(|core| core.run_now(&name, arguments, now))??;
    if !queued {
        tracing::info!(job = %name, "run request dropped: a manual run is already queued");
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_job(State(svc): Svc, Path(name): Path<String>) -> ApiResult<StatusCode> {
    let now = now_millis();
    svc.mutate(|core| core.delete_job(&name, now))??;
    tracing::info!(job = %name, "job deleted");
    Ok(StatusCode::NO_CONTENT)
}

async fn kill_tasks(State(svc): Svc, Path(name): Path<String>) -> ApiResult<StatusCode> {
    let now = now_millis();
    svc.mutate(|core| core.kill_tasks(&name, now))??;
    Ok(StatusCode::NO_CONTENT)
}

async fn mark_success(State(svc): Svc, Path(name): Path<String>) -> ApiResult<Response> {
    let now = now_millis();
    svc.mutate(|core| core.mark_success(&name, now))??;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("marked job {name} as successful: true"),
    )
        .into_response())
}

/// Cassandra-backed progress reporting in Chronos; accepted and ignored.
async fn progress(
    State(svc): Svc,
    Path((name, _task)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let st = svc.lock();
    st.core.job(&name).ok_or_else(|| unknown(&name))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn job_stat(State(svc): Svc, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let st = svc.lock();
    st.core.job(&name).ok_or_else(|| unknown(&name))?;
    let runs = st.store.runs_of(&name)?;
    let refs: Vec<&Run> = runs.iter().collect();
    Ok(Json(stats::job_stat(&name, &refs)))
}

/// Paddock: the run history of a job (from the store), newest first.
async fn job_runs(State(svc): Svc, Path(name): Path<String>) -> ApiResult<Json<Vec<Value>>> {
    let st = svc.lock();
    st.core.job(&name).ok_or_else(|| unknown(&name))?;
    let runs = st.store.runs_of(&name)?;
    Ok(Json(runs.iter().rev().map(run_json).collect()))
}

/// A run as JSON, with its times also in Chronos's UTC format.
pub fn run_json(r: &Run) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
    let fmt = |t: Option<i64>| t.map(format_utc);
    v["scheduledTime"] = json!(format_utc(r.scheduled));
    v["startTime"] = json!(fmt(r.running.or(r.started)));
    v["endTime"] = json!(fmt(r.ended));
    v
}

/// Paddock: the next runs of a job (`?count=`, default 5, at most 100).
async fn job_next(
    State(svc): Svc,
    Path(name): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let count = match q.get("count") {
        None => 5,
        Some(c) => c
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("count: '{c}' is not a whole number")))?
            .min(100),
    };
    let st = svc.lock();
    let job = st.core.job(&name).ok_or_else(|| unknown(&name))?;
    let next: Vec<String> = match (st.core.schedule(&name), st.core.next_slot(&name)) {
        (Some(s), Some(first)) => {
            let mut v = vec![first];
            v.extend(
                s.next_runs(from_millis(first), count.saturating_sub(1))
                    .into_iter()
                    .map(to_millis),
            );
            v.truncate(count);
            if let Some(left) = s.repeat() {
                v.truncate(usize::try_from(left).unwrap_or(usize::MAX));
            }
            v.into_iter().map(format_utc).collect()
        }
        _ => Vec::new(),
    };
    Ok(Json(json!({
        "name": job.name,
        "schedule": job.schedule,
        "scheduleTimeZone": job.schedule_time_zone,
        "parents": job.parents,
        "description": view::pretty_schedule(&st.core, job),
        "next": next,
    })))
}

async fn graph_dot(State(svc): Svc) -> Response {
    let st = svc.lock();
    let jobs: Vec<&Job> = st.core.jobs().collect();
    let ids: HashMap<&str, usize> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.name.as_str(), i))
        .collect();
    let mut out = String::from("digraph G {\n");
    for (i, j) in jobs.iter().enumerate() {
        out.push_str(&format!("  {i} [ label = \"{}\" ];\n", j.name));
    }
    for j in &jobs {
        for p in j.parent_names() {
            if let (Some(a), Some(b)) = (ids.get(p.as_str()), ids.get(j.name.as_str())) {
                out.push_str(&format!("  {a} -> {b};\n"));
            }
        }
    }
    out.push_str("}\n");
    text(out)
}

async fn graph_csv(State(svc): Svc) -> Response {
    let st = svc.lock();
    let mut out = String::new();
    for j in st.core.jobs() {
        out.push_str(&format!(
            "node,{},{},{}\n",
            j.name,
            view::last_status(j),
            view::job_state(&st.core, &j.name)
        ));
    }
    for j in st.core.jobs() {
        for p in j.parent_names() {
            out.push_str(&format!("link,{p},{}\n", j.name));
        }
    }
    text(out)
}

fn text(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn leader(State(svc): Svc) -> Json<Value> {
    Json(json!({ "leader": svc.leader }))
}

/// Dropwizard-shaped metrics; chronos-python looks for `version` and
/// `gauges`.
async fn metrics(State(svc): Svc) -> Json<Value> {
    let st = svc.lock();
    let jobs = st.core.jobs().count();
    let active = st.core.active_runs().len();
    let queued = st
        .core
        .all_runs()
        .filter(|r| r.state == crate::core::RunState::Pending)
        .count();
    drop(st);
    let lateness = svc.lateness().histogram();
    Json(json!({
        "version": "4.0.0",
        "gauges": {
            "jobs.count": { "value": jobs },
            "runs.active": { "value": active },
            "runs.queued": { "value": queued },
        },
        "counters": {},
        "histograms": { "launch.lateness": lateness },
        "meters": {},
        "timers": {},
    }))
}
