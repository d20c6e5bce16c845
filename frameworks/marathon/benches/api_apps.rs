//! API latency with 1,000 apps: `GET /v2/apps` (the target: p99 under 50 ms),
//! `GET /v2/apps?embed=apps.tasks`, and `POST /v2/apps` (validate, stamp, persist, deploy) on
//! top of 1,000 apps. The scheduler is a stub that answers instantly, so this measures the
//! API, the tree and the store. Prints p50/p99 of a plain timed loop besides criterion's figures.

use criterion::{criterion_group, criterion_main, Criterion};
use paddock_marathon::api::{
    router, ApiState, BackendError, DeployRequest, MarathonBackend, ServerInfo,
};
use paddock_marathon::events::EventBus;
use paddock_marathon::model::{
    AppDefinition, AppEmbed, AppStatus, DeploymentStep, DeploymentView, Group, PathId, QueueItem,
    TaskView, Timestamp,
};
use paddock_marathon::store::Store;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const APPS: usize = 1000;

#[derive(Default)]
struct Stub {
    seq: AtomicU64,
}

impl MarathonBackend for Stub {
    fn app_status(&self, _app: &PathId, _embed: AppEmbed) -> AppStatus {
        AppStatus {
            tasks_running: 1,
            ..Default::default()
        }
    }
    fn tasks(&self) -> Vec<TaskView> {
        Vec::new()
    }
    fn deployments(&self) -> Vec<DeploymentView> {
        Vec::new()
    }
    fn queue(&self, _now: Timestamp, _offers: bool) -> Vec<QueueItem> {
        Vec::new()
    }
    fn framework_id(&self) -> Option<String> {
        None
    }
    fn deploy(
        &self,
        _t: Arc<Group>,
        _r: DeployRequest,
        now: Timestamp,
    ) -> Result<DeploymentView, BackendError> {
        Ok(DeploymentView {
            id: format!("d{}", self.seq.fetch_add(1, Ordering::Relaxed)),
            version: now,
            affected_apps: Vec::new(),
            affected_pods: Vec::new(),
            steps: Vec::new(),
            current_actions: Vec::new(),
            current_step: 0,
            total_steps: 0,
        })
    }
    fn preview(&self, _t: &Group, _now: Timestamp) -> Vec<DeploymentStep> {
        Vec::new()
    }
    fn kill_tasks(
        &self,
        _ids: &[String],
        _wipe: bool,
        _now: Timestamp,
    ) -> Result<Vec<TaskView>, BackendError> {
        Ok(Vec::new())
    }
    fn cancel_deployment(
        &self,
        id: &str,
        _r: Option<Arc<Group>>,
        _now: Timestamp,
    ) -> Result<Option<DeploymentView>, BackendError> {
        Err(BackendError::UnknownDeployment(id.into()))
    }
    fn reset_delay(&self, app: &PathId, _now: Timestamp) -> Result<(), BackendError> {
        Err(BackendError::NotInQueue(app.clone()))
    }
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let mut root = Group::empty_root(Timestamp::from_millis(1));
    for i in 0..APPS {
        let mut app = AppDefinition::command(&format!("/bench/g{}/app-{i}", i % 20), "sleep 3600");
        app.labels.insert("team".into(), format!("t{}", i % 7));
        app.version = Timestamp::from_millis(1);
        root.put_app(app, Timestamp::from_millis(1));
    }
    root.assign_service_ports(&Group::empty_root(Timestamp::ZERO))
        .expect("ports");
    let _ = store.save_root(&root).expect("save");
    let state = ApiState::new(
        Arc::new(Stub::default()),
        store,
        EventBus::default(),
        ServerInfo::new("127.0.0.1", 0, "x"),
    )
    .expect("state");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    rt.spawn(async move {
        let _ = axum::serve(listener, router(state)).await;
    });
    let client = reqwest::Client::new();
    let get = |path: &str| {
        let client = client.clone();
        let u = format!("{url}{path}");
        async move {
            client
                .get(u)
                .send()
                .await
                .expect("get")
                .bytes()
                .await
                .expect("body")
                .len()
        }
    };

    let samples: Vec<Duration> = (0..300)
        .map(|_| {
            let t = Instant::now();
            rt.block_on(get("/v2/apps"));
            t.elapsed()
        })
        .collect();
    println!(
        "GET /v2/apps with {APPS} apps: p50 {:?}, p99 {:?} ({} bytes)",
        percentile(samples.clone(), 0.5),
        percentile(samples, 0.99),
        rt.block_on(get("/v2/apps"))
    );

    c.bench_function("GET /v2/apps (1000 apps)", |b| {
        b.iter(|| rt.block_on(get("/v2/apps")))
    });
    c.bench_function("GET /v2/apps?embed=apps.tasks (1000 apps)", |b| {
        b.iter(|| rt.block_on(get("/v2/apps?embed=apps.tasks&embed=apps.lastTaskFailure")))
    });
    c.bench_function("GET /v2/apps?label=team==t3 (1000 apps)", |b| {
        b.iter(|| rt.block_on(get("/v2/apps?label=team%3D%3Dt3")))
    });
    let n = AtomicU64::new(0);
    c.bench_function("POST /v2/apps on top of 1000 apps", |b| {
        b.iter(|| {
            let i = n.fetch_add(1, Ordering::Relaxed);
            let body = serde_json::json!({"id": format!("/new/app-{i}"), "cmd": "sleep 1"});
            let client = client.clone();
            let u = format!("{url}/v2/apps");
            rt.block_on(async move {
                client
                    .post(u)
                    .json(&body)
                    .send()
                    .await
                    .expect("post")
                    .status()
            })
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
