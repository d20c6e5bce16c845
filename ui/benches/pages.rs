//! `cargo bench -p paddock-ui --bench pages -- …`: serves the UI against a cluster, and measures page
//! loads against a big simulated one.
//!
//! - `pages serve PORT MASTER [MARATHON] [CHRONOS]` serves
//!   `paddock_ui::router` on 127.0.0.1:PORT (for trying the UI by hand).
//! - `pages load PORT MASTER MARATHON CHRONOS` serves the UI
//!   against a simulated master (100 agents, answered by this program) and a
//!   real Marathon and Chronos, fills them with 1,000 apps (0 instances) and
//!   1,000 jobs, then drives headless Chromium through chromedriver
//!   (`CHROMEDRIVER` env, default `chromedriver`) over each page and prints
//!   the time to a usable page and the requests in the first 10 s.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let arg = |i: usize| args.get(i).cloned().filter(|s| !s.is_empty());
    match arg(0).as_deref() {
        Some("serve") => {
            let port: u16 = arg(1).ok_or("PORT")?.parse()?;
            let config = paddock_ui::UiConfig {
                master: arg(2).ok_or("MASTER")?,
                marathon: arg(3),
                chronos: arg(4),
            };
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
            axum::serve(listener, paddock_ui::router(config)).await?;
            Ok(())
        }
        Some("load") => {
            let port: u16 = arg(1).ok_or("PORT")?.parse()?;
            load(port, arg(2).ok_or("MASTER")?, arg(3).ok_or("MARATHON")?, arg(4).ok_or("CHRONOS")?).await
        }
        _ => Err("usage: pages serve PORT MASTER [MARATHON] [CHRONOS] | load PORT MASTER MARATHON CHRONOS".into()),
    }
}

/// A master answering with 100 agents (for /master/state and /master/slaves)
/// and passing every other path to the real master.
fn fake_state(real: &Value) -> Value {
    let mut state = real.clone();
    let agents: Vec<Value> = (0..100)
        .map(|i| {
            json!({
                "id": format!("sim-agent-S{i}"), "hostname": format!("node-{i:03}.sim"), "port": 5051,
                "pid": format!("slave(1)@10.1.{}.{}:5051", i / 250, i % 250 + 1),
                "attributes": {"rack": format!("r{}", i % 8)}, "active": i % 17 != 0,
                "registered_time": 1.7e9, "resources": {"cpus": 32.0, "mem": 131072.0, "disk": 900000.0},
                "used_resources": {"cpus": (i % 32) as f64, "mem": (i * 1000 % 131072) as f64, "disk": 0.0},
                "offered_resources": {"cpus": 2.0, "mem": 4096.0, "disk": 0.0}
            })
        })
        .collect();
    state["slaves"] = Value::Array(agents);
    state
}

#[derive(Clone)]
struct Counter(Arc<AtomicU64>);

async fn count(State(c): State<Counter>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/ui/api/") {
        c.0.fetch_add(1, Ordering::Relaxed);
    }
    next.run(req).await
}

async fn load(
    port: u16,
    master: String,
    marathon: String,
    chronos: String,
) -> Result<(), BoxError> {
    let http = reqwest::Client::new();
    // Fill Marathon and Chronos (idempotent: existing ids are skipped).
    let have: Value = http
        .get(format!("{marathon}/v2/apps"))
        .send()
        .await?
        .json()
        .await?;
    let napps = have["apps"].as_array().map(Vec::len).unwrap_or(0);
    for i in napps..1000 {
        let app = json!({"id": format!("/bench/app-{i:04}"), "cmd": "sleep 1000", "cpus": 0.1, "mem": 32, "instances": 0});
        http.post(format!("{marathon}/v2/apps"))
            .json(&app)
            .send()
            .await?;
    }
    let jobs: Value = http
        .get(format!("{chronos}/v1/scheduler/jobs"))
        .send()
        .await?
        .json()
        .await?;
    let njobs = jobs.as_array().map(Vec::len).unwrap_or(0);
    for i in njobs..1000 {
        let (path, job) = if i % 10 == 9 {
            (
                "dependency",
                json!({"name": format!("bench-job-{i:04}"), "command": "true", "parents": [format!("bench-job-{:04}", i - 1)]}),
            )
        } else {
            (
                "iso8601",
                json!({"name": format!("bench-job-{i:04}"), "command": "true", "schedule": format!("R/2030-01-01T{:02}:00:00Z/PT{}H", i % 24, i % 12 + 1), "scheduleTimeZone": "Europe/Berlin"}),
            )
        };
        http.post(format!("{chronos}/v1/scheduler/{path}"))
            .json(&job)
            .send()
            .await?;
    }
    // The simulated master: our own listener serving a big /master/state.
    let real: Value = http
        .get(format!("{master}/master/state"))
        .send()
        .await?
        .json()
        .await?;
    let big = Arc::new(fake_state(&real));
    let slaves = Arc::new(json!({"slaves": big["slaves"].clone()}));
    let sim = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sim_url = format!("http://{}", sim.local_addr()?);
    let (b1, s1) = (big.clone(), slaves.clone());
    let sim_router = Router::new()
        .route(
            "/master/state",
            get(move || {
                let b = b1.clone();
                async move { Json((*b).clone()) }
            }),
        )
        .route(
            "/master/slaves",
            get(move || {
                let s = s1.clone();
                async move { Json((*s).clone()) }
            }),
        );
    tokio::spawn(async move { axum::serve(sim, sim_router).await });

    let counter = Counter(Arc::new(AtomicU64::new(0)));
    let config = paddock_ui::UiConfig {
        master: sim_url,
        marathon: Some(marathon),
        chronos: Some(chronos),
    };
    let app =
        paddock_ui::router(config).layer(middleware::from_fn_with_state(counter.clone(), count));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let driver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let dport = free_port()?;
    let mut child = tokio::process::Command::new(driver)
        .arg(format!("--port={dport}"))
        .kill_on_drop(true)
        .spawn()?;
    let url = format!("http://127.0.0.1:{dport}");
    let deadline = Instant::now() + Duration::from_secs(15);
    while http.get(format!("{url}/status")).send().await.is_err() {
        if Instant::now() > deadline {
            return Err("chromedriver did not start".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let caps: serde_json::Map<String, Value> = serde_json::from_value(
        json!({"goog:chromeOptions": {"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"]}}),
    )?;
    let client = fantoccini::ClientBuilder::rustls()?
        .capabilities(caps)
        .connect(&url)
        .await?;
    let pages = [
        ("cluster", "#/cluster", "table tbody tr"),
        ("tasks", "#/tasks", ".card-head select"),
        ("apps", "#/apps", "tr[data-app]"),
        ("jobs", "#/jobs", "tr[data-job]"),
        ("graph", "#/jobs/graph", ".graph svg"),
    ];
    println!("| page | time to usable page | UI API requests in the first 10 s |");
    println!("|---|---|---|");
    for (name, hash, selector) in pages {
        client.goto("about:blank").await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        counter.0.store(0, Ordering::Relaxed);
        let start = Instant::now();
        client
            .goto(&format!("http://127.0.0.1:{port}/{hash}"))
            .await?;
        client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(fantoccini::Locator::Css(selector))
            .await?;
        let usable = start.elapsed();
        let rest = Duration::from_secs(10).saturating_sub(start.elapsed());
        tokio::time::sleep(rest).await;
        println!(
            "| {name} | {} ms | {} |",
            usable.as_millis(),
            counter.0.load(Ordering::Relaxed)
        );
        let dir = std::path::PathBuf::from(
            std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()),
        )
        .join("ui-screenshots");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join(format!("bench-{name}.png")),
            client.screenshot().await?,
        )?;
    }
    client.close().await?;
    child.kill().await?;
    Ok(())
}

fn free_port() -> Result<u16, BoxError> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
