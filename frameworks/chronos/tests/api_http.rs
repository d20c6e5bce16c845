//! The REST API over real HTTP on 127.0.0.1 (a random port), with the real
//! redb store in a temporary directory.

use std::sync::Arc;

use paddock_chronos::api::router;
use paddock_chronos::service::Service;
use paddock_chronos::store::Store;
use reqwest::StatusCode;
use serde_json::{json, Value};

struct Server {
    base: String,
    dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    http: reqwest::Client,
}

async fn start_in(dir: tempfile::TempDir) -> Server {
    let store = Store::open(dir.path()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (svc, _effects) = Service::open(store, addr.to_string()).unwrap();
    let app = router(Arc::new(svc));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    Server {
        base: format!("http://{addr}"),
        dir,
        stop: Some(tx),
        task,
        http: reqwest::Client::new(),
    }
}

async fn start() -> Server {
    start_in(tempfile::tempdir().unwrap()).await
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
    async fn post(&self, path: &str, body: Value) -> (StatusCode, String) {
        let r = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }
    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
    async fn send(&self, method: reqwest::Method, path: &str) -> (StatusCode, String) {
        let r = self
            .http
            .request(method, self.url(path))
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }
    async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.task).await;
        self.dir
    }
}

fn scheduled(name: &str) -> Value {
    json!({"name": name, "command": "echo hi", "owner": "ops@example.com", "disabled": false,
           "schedule": "R/2030-01-01T00:00:00Z/PT1H"})
}

#[tokio::test]
async fn create_list_get_with_chronos_wire_behaviour() {
    let s = start().await;
    let (status, body) = s.post("/v1/scheduler/iso8601", scheduled("hello")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(body.is_empty());
    let (status, jobs) = s.get("/v1/scheduler/jobs").await;
    assert_eq!(status, StatusCode::OK);
    let job = &jobs[0];
    assert_eq!(job["name"], "hello");
    assert_eq!(job["schedule"], "R/2030-01-01T00:00:00Z/PT1H");
    assert_eq!(job["retries"], 2);
    assert_eq!(job["shell"], true);
    assert_eq!(job["cpus"], 0.1);
    assert_eq!(job["successCount"], 0);
    assert_eq!(job["lastSuccess"], "");
    let (status, one) = s.get("/v1/scheduler/job/hello").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["owner"], "ops@example.com");
    let (status, err) = s.get("/v1/scheduler/job/nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["message"], "Job 'nope' not found");
    let (status, err) = s.get("/v1/scheduler/nothing/here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(err["message"]
        .as_str()
        .unwrap()
        .contains("/v1/scheduler/nothing/here"));
    s.stop().await;
}

#[tokio::test]
async fn bad_input_is_a_400_naming_the_field() {
    let s = start().await;
    s.post("/v1/scheduler/iso8601", scheduled("p")).await;
    s.post(
        "/v1/scheduler/dependency",
        json!({"name": "c", "parents": ["p"]}),
    )
    .await;
    let cases = [
        (
            "/v1/scheduler/iso8601",
            json!({"name": "a", "schedule": "R/2026-13-01T00:00:00Z/PT1H"}),
            "schedule",
        ),
        (
            "/v1/scheduler/iso8601",
            json!({"name": "a", "schedule": "R/2026-01-01T00:00:00Z/PT0S"}),
            "schedule",
        ),
        (
            "/v1/scheduler/iso8601",
            json!({"name": "a", "schedule": "R//P"}),
            "schedule",
        ),
        (
            "/v1/scheduler/iso8601",
            json!({"name": "a", "schedule": "R//-PT1H"}),
            "schedule",
        ),
        (
            "/v1/scheduler/iso8601",
            json!({"name": "a", "schedule": "0 25 * * *"}),
            "schedule",
        ),
        (
            "/v1/scheduler/iso8601",
            json!({"name": "a b", "schedule": "@daily"}),
            "name",
        ),
        (
            "/v1/scheduler/iso8601",
            json!({"name": "a", "schedule": "@daily", "retries": -1}),
            "retries",
        ),
        (
            "/v1/scheduler/iso8601",
            json!({"name": "a", "schedule": "@daily", "scheduleTimeZone": "Europe/Atlantis"}),
            "scheduleTimeZone",
        ),
        (
            "/v1/scheduler/iso8601",
            json!({"name": "a", "schedule": "@daily", "parents": ["p"]}),
            "schedule",
        ),
        (
            "/v1/scheduler/dependency",
            json!({"name": "a", "parents": ["ghost"]}),
            "parents",
        ),
        (
            "/v1/scheduler/dependency",
            json!({"name": "a", "parents": []}),
            "parents",
        ),
        (
            "/v1/scheduler/dependency",
            json!({"name": "p", "parents": ["c"]}),
            "parents",
        ),
        (
            "/v1/scheduler/iso8601",
            json!({"name": "a", "cpus": "many"}),
            "cpus",
        ),
        (
            "/v1/scheduler/iso8601",
            json!(["not", "an", "object"]),
            "object",
        ),
    ];
    for (path, body, field) in cases {
        let (status, text) = s.post(path, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let v: Value = serde_json::from_str(&text).unwrap();
        let msg = v["message"].as_str().unwrap();
        assert!(msg.contains(field), "{body} -> {msg}");
        assert_eq!(v["status"], "Bad Request");
    }
    // Nothing was half-applied.
    let (_, jobs) = s.get("/v1/scheduler/jobs").await;
    assert_eq!(jobs.as_array().unwrap().len(), 2);
    let (_, p) = s.get("/v1/scheduler/job/p").await;
    assert!(p.get("parents").is_none());
    s.stop().await;
}

#[tokio::test]
async fn dependencies_summary_graphs_and_delete_rewiring() {
    let s = start().await;
    s.post("/v1/scheduler/iso8601", scheduled("a")).await;
    let (st, _) = s
        .post(
            "/v1/scheduler/dependency",
            json!({"name": "b", "command": "x", "parents": ["a"]}),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    s.post(
        "/v1/scheduler/dependency",
        json!({"name": "c", "command": "x", "parents": ["b"]}),
    )
    .await;
    let (_, summary) = s.get("/v1/scheduler/jobs/summary").await;
    let jobs = summary["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 3);
    assert_eq!(jobs[0]["status"], "fresh");
    assert_eq!(jobs[0]["state"], "idle");
    assert_eq!(jobs[1]["parents"], json!(["a"]));
    let (_, csv) = s.get("/v1/scheduler/graph/csv").await;
    assert_eq!(
        csv.as_str().unwrap(),
        "node,a,fresh,idle\nnode,b,fresh,idle\nnode,c,fresh,idle\nlink,a,b\nlink,b,c\n"
    );
    let (_, dot) = s.get("/v1/scheduler/graph/dot").await;
    let dot = dot.as_str().unwrap().to_string();
    assert!(
        dot.starts_with("digraph G {") && dot.contains("0 -> 1;") && dot.contains("label = \"c\""),
        "{dot}"
    );
    // Delete the dependent middle: c inherits a.
    let (st, body) = s.send(reqwest::Method::DELETE, "/v1/scheduler/job/b").await;
    assert_eq!((st, body.as_str()), (StatusCode::NO_CONTENT, ""));
    let (_, c) = s.get("/v1/scheduler/job/c").await;
    assert_eq!(c["parents"], json!(["a"]));
    // Delete the scheduled root: c takes its schedule.
    s.send(reqwest::Method::DELETE, "/v1/scheduler/job/a").await;
    let (_, c) = s.get("/v1/scheduler/job/c").await;
    assert_eq!(c["schedule"], "R/2030-01-01T00:00:00Z/PT1H");
    assert!(c.get("parents").is_none());
    let (st, _) = s.send(reqwest::Method::DELETE, "/v1/scheduler/job/a").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    s.stop().await;
}

#[tokio::test]
async fn search_filters_case_insensitively_with_paging() {
    let s = start().await;
    for (name, cmd) in [
        ("alpha-report", "make report"),
        ("beta", "backup db"),
        ("Gamma-REPORT", "true"),
    ] {
        let mut j = scheduled(name);
        j["command"] = json!(cmd);
        s.post("/v1/scheduler/iso8601", j).await;
    }
    let names = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|j| j["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (st, v) = s.get("/v1/scheduler/jobs/search?name=report").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(names(&v), ["Gamma-REPORT", "alpha-report"]);
    let (_, v) = s.get("/v1/scheduler/jobs/search?command=BACKUP").await;
    assert_eq!(names(&v), ["beta"]);
    let (_, v) = s.get("/v1/scheduler/jobs/search?any=db").await;
    assert_eq!(names(&v), ["beta"]);
    let (_, v) = s.get("/v1/scheduler/jobs/search?limit=1&offset=1").await;
    assert_eq!(names(&v), ["alpha-report"]);
    let (st, _) = s.get("/v1/scheduler/jobs/search?limit=x").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    s.stop().await;
}

#[tokio::test]
async fn run_now_mark_success_stats_and_paddock_reads() {
    let s = start().await;
    s.post("/v1/scheduler/iso8601", scheduled("job1")).await;
    s.post(
        "/v1/scheduler/dependency",
        json!({"name": "child", "parents": ["job1"]}),
    )
    .await;
    let (st, body) = s
        .send(
            reqwest::Method::PUT,
            "/v1/scheduler/job/job1?arguments=--fast%20x;y",
        )
        .await;
    assert_eq!((st, body.as_str()), (StatusCode::NO_CONTENT, ""));
    let (st, runs) = s.get("/v1/scheduler/job/job1/runs").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(runs[0]["kind"], "manual");
    assert_eq!(runs[0]["state"], "PENDING");
    assert_eq!(runs[0]["arguments"], json!(["--fast", "xy"]));
    assert!(runs[0]["scheduledTime"].as_str().unwrap().ends_with('Z'));
    let (st, _) = s
        .send(reqwest::Method::PUT, "/v1/scheduler/job/ghost")
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // Mark success: 200 with Chronos's text; the child is queued.
    let (st, text) = s
        .send(reqwest::Method::PUT, "/v1/scheduler/job/success/job1")
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(text, "marked job job1 as successful: true");
    let (_, job) = s.get("/v1/scheduler/job/job1").await;
    assert_eq!(job["successCount"], 1);
    assert!(job["lastSuccess"].as_str().unwrap().ends_with('Z'));
    let (_, runs) = s.get("/v1/scheduler/job/child/runs").await;
    assert_eq!(runs[0]["kind"], "dependency");
    // Never-run stats are zeros.
    let (st, stat) = s.get("/v1/scheduler/job/stat/job1").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(stat["histogram"]["count"], 0);
    assert_eq!(stat["histogram"]["median"], 0.0);
    assert_eq!(stat["taskStatHistory"], json!([]));
    let (_, med) = s.get("/v1/scheduler/stats/median").await;
    assert_eq!(med[0]["time"], 0.0);
    assert!(med[0]["jobNameLabel"].is_string());
    let (st, _) = s.get("/v1/scheduler/stats/42ndPercentile").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // The next runs of a job.
    let (_, next) = s.get("/v1/scheduler/job/job1/next?count=3").await;
    assert_eq!(
        next["next"],
        json!([
            "2030-01-01T00:00:00.000Z",
            "2030-01-01T01:00:00.000Z",
            "2030-01-01T02:00:00.000Z"
        ])
    );
    assert_eq!(next["description"], "every hour UTC");
    // An Rn schedule shows no more runs than it has left.
    let mut two = scheduled("two");
    two["schedule"] = json!("R2/2030-01-01T00:00:00Z/P1D");
    s.post("/v1/scheduler/iso8601", two).await;
    let (_, next) = s.get("/v1/scheduler/job/two/next?count=5").await;
    assert_eq!(
        next["next"],
        json!(["2030-01-01T00:00:00.000Z", "2030-01-02T00:00:00.000Z"])
    );
    let (_, rows) = s.get("/v1/scheduler/jobs/overview").await;
    assert_eq!(rows[1]["name"], "job1");
    assert_eq!(rows[1]["nextRun"], "2030-01-01T00:00:00.000Z");
    // Kill: 204, and the waiting manual run is cancelled.
    let (st, _) = s
        .send(reqwest::Method::DELETE, "/v1/scheduler/task/kill/job1")
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, runs) = s.get("/v1/scheduler/job/job1/runs").await;
    assert_eq!(runs[0]["state"], "KILLED");
    s.stop().await;
}

#[tokio::test]
async fn legacy_prefix_put_leader_ping_metrics() {
    let s = start().await;
    let r = s
        .http
        .put(s.url("/scheduler/iso8601"))
        .json(&scheduled("legacy"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (_, jobs) = s.get("/scheduler/jobs").await;
    assert_eq!(jobs[0]["name"], "legacy");
    let (_, leader) = s.get("/v1/scheduler/leader").await;
    assert_eq!(leader["leader"], s.base.trim_start_matches("http://"));
    let (_, pong) = s.get("/ping").await;
    assert_eq!(pong, "pong");
    let (_, m) = s.get("/metrics").await;
    assert!(m.get("version").is_some() && m.get("gauges").is_some());
    s.stop().await;
}

#[tokio::test]
async fn jobs_and_counters_survive_a_restart() {
    let s = start().await;
    s.post("/v1/scheduler/iso8601", scheduled("durable")).await;
    s.post(
        "/v1/scheduler/dependency",
        json!({"name": "kid", "parents": ["durable"]}),
    )
    .await;
    s.send(reqwest::Method::PUT, "/v1/scheduler/job/success/durable")
        .await;
    let dir = s.stop().await;
    let s = start_in(dir).await;
    let (_, job) = s.get("/v1/scheduler/job/durable").await;
    assert_eq!(job["successCount"], 1);
    let (_, runs) = s.get("/v1/scheduler/job/kid/runs").await;
    assert_eq!(runs.as_array().unwrap().len(), 1);
    // Re-posting the job without counters keeps them (job-sync scripts).
    s.post("/v1/scheduler/iso8601", scheduled("durable")).await;
    let (_, job) = s.get("/v1/scheduler/job/durable").await;
    assert_eq!(job["successCount"], 1);
    s.stop().await;
}
