//! `runtime::run` end to end: a real `paddock master` and `paddock agent`
//! (processes), Marathon in this process, driven over its REST API. Apps
//! are launched, killed tasks replaced, failing health checks kill, an
//! unplaceable app explains itself in the queue, and a Marathon restart
//! keeps tasks and health without launching twice.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use paddock_marathon::runtime::{run, MarathonConfig};
use paddock_tests::{free_port, get_json, http, kill_cgroup_tree, spawn, wait_for, Cluster, Proc};
use serde_json::{json, Value};

const RESOURCES: &str = "cpus:2;mem:1024;disk:1000;ports:[31000-31009]";

/// An agent whose hostname resolves (health checks connect to it).
fn start_agent(cluster: &Cluster, cgroup_root: &str) -> Proc {
    let port = free_port();
    let work_dir = cluster.dir.path().join("agent");
    let args: Vec<String> = vec![
        "agent".into(),
        "--master".into(),
        format!("127.0.0.1:{}", cluster.master_port),
        "--bind".into(),
        "127.0.0.1".into(),
        "--port".into(),
        port.to_string(),
        "--work-dir".into(),
        work_dir.display().to_string(),
        "--resources".into(),
        RESOURCES.into(),
        "--cgroup-root".into(),
        cgroup_root.into(),
        "--hostname".into(),
        "localhost".into(),
    ];
    let agent = spawn("agent", &args, &cluster.dir.path().join("agent.log"));
    wait_for("the agent to register", Duration::from_secs(30), || {
        let slaves = get_json(&cluster.url("/master/slaves"))?;
        slaves["slaves"]
            .as_array()?
            .iter()
            .find(|s| s["hostname"] == "localhost" && s["active"] == true)
            .cloned()
    });
    agent
}

/// Marathon running on its own tokio runtime until `stop` is called.
struct Marathon {
    rt: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<Result<(), paddock_marathon::runtime::MarathonError>>>,
    url: String,
}

impl Marathon {
    fn start(master_port: u16, port: u16, data_dir: &Path) -> Marathon {
        let rt = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => panic!("tokio runtime: {e}"),
        };
        let mut config = MarathonConfig::new(
            format!("127.0.0.1:{master_port}"),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            port,
            data_dir,
        );
        config.hostname = Some("127.0.0.1".into());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let done = rt.spawn(run(config, async move {
            let _ = rx.await;
        }));
        let url = format!("http://127.0.0.1:{port}");
        wait_for("marathon /ping", Duration::from_secs(20), || {
            http()
                .get(format!("{url}/ping"))
                .send()
                .ok()
                .filter(|r| r.status().is_success())
        });
        Marathon {
            rt,
            stop: Some(tx),
            done: Some(done),
            url,
        }
    }

    /// Shuts down and returns how long `run` took to return.
    fn stop(&mut self) -> Duration {
        let started = Instant::now();
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(done) = self.done.take() {
            match self
                .rt
                .block_on(async { tokio::time::timeout(Duration::from_secs(10), done).await })
            {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => panic!("run failed: {e}"),
                Ok(Err(e)) => panic!("run panicked: {e}"),
                Err(_) => panic!("run did not return within 10 s of shutdown"),
            }
        }
        started.elapsed()
    }

    fn get(&self, path: &str) -> Value {
        get_json(&format!("{}{path}", self.url)).unwrap_or(Value::Null)
    }

    fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = http().request(method, format!("{}{path}", self.url));
        if let Some(b) = body {
            req = req.json(&b);
        }
        match req.send() {
            Ok(r) => {
                let status = r.status().as_u16();
                let text = r.text().unwrap_or_default();
                (status, serde_json::from_str(&text).unwrap_or(Value::Null))
            }
            Err(e) => panic!("{path}: {e}"),
        }
    }
}

impl Drop for Marathon {
    fn drop(&mut self) {
        if self.done.is_some() {
            self.stop();
        }
    }
}

fn running_master_tasks(cluster: &Cluster, prefix: &str) -> Vec<String> {
    let tasks = get_json(&cluster.url("/master/tasks?limit=1000")).unwrap_or(Value::Null);
    tasks["tasks"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .filter(|t| t["state"] == "TASK_RUNNING")
                .filter_map(|t| t["id"].as_str())
                .filter(|id| id.starts_with(prefix))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn app_state(m: &Marathon, id: &str) -> Value {
    m.get(&format!("/v2/apps{id}"))["app"].clone()
}

/// Waits until the app runs `n` tasks (healthy ones if `healthy`) and no deployment holds it.
fn wait_running(m: &Marathon, id: &str, n: u64, healthy: bool) -> Value {
    wait_for(
        &format!("{id} to run {n} tasks"),
        Duration::from_secs(60),
        || {
            let app = app_state(m, id);
            let counted = if healthy {
                &app["tasksHealthy"]
            } else {
                &app["tasksRunning"]
            };
            let settled = app["deployments"].as_array().is_some_and(|d| d.is_empty());
            (counted.as_u64() == Some(n) && settled).then_some(app)
        },
    )
}

fn task_ids(app: &Value) -> Vec<String> {
    let mut ids: Vec<String> = app["tasks"]
        .as_array()
        .map(|ts| {
            ts.iter()
                .filter_map(|t| t["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

#[test]
fn apps_run_heal_explain_and_survive_a_restart() {
    let cluster = Cluster::master(&[]);
    let cgroup_root = format!(
        "paddock-mtest-{}-{}",
        std::process::id(),
        cluster.master_port
    );
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            kill_cgroup_tree(&self.0);
        }
    }
    let _cleanup = Cleanup(cgroup_root.clone());
    let _agent = start_agent(&cluster, &cgroup_root);
    let data_dir = cluster.dir.path().join("marathon");
    let port = free_port();
    let mut m = Marathon::start(cluster.master_port, port, &data_dir);

    // 1. An app is launched with Marathon's task ids.
    let (status, _) = m.send(
        reqwest::Method::POST,
        "/v2/apps",
        Some(json!({"id": "/e2e/sleep", "cmd": "sleep 1000", "instances": 2, "cpus": 0.1, "mem": 16})),
    );
    assert_eq!(status, 201);
    let app = wait_running(&m, "/e2e/sleep", 2, false);
    let first = task_ids(&app);
    assert_eq!(first.len(), 2);
    assert!(
        first.iter().all(|t| t.starts_with("e2e_sleep.")),
        "{first:?}"
    );
    assert_eq!(running_master_tasks(&cluster, "e2e_sleep.").len(), 2);

    // 2. A killed task is replaced.
    let (status, _) = m.send(
        reqwest::Method::DELETE,
        &format!("/v2/apps/e2e/sleep/tasks/{}", first[0]),
        None,
    );
    assert_eq!(status, 200);
    let app = wait_for(
        "the killed task to be replaced",
        Duration::from_secs(60),
        || {
            let app = wait_running(&m, "/e2e/sleep", 2, false);
            (!task_ids(&app).contains(&first[0])).then_some(app)
        },
    );
    let sleepers = task_ids(&app);

    // 3. Health: a server that answers is healthy; one that never listens is killed and replaced.
    let (status, _) = m.send(
        reqwest::Method::POST,
        "/v2/apps",
        Some(json!({
            "id": "/e2e/web", "cmd": "exec python3 -m http.server $PORT0", "instances": 1,
            "cpus": 0.1, "mem": 64,
            "healthChecks": [{"protocol": "HTTP", "path": "/", "portIndex": 0,
                              "gracePeriodSeconds": 60, "intervalSeconds": 1, "timeoutSeconds": 1,
                              "maxConsecutiveFailures": 3}]
        })),
    );
    assert_eq!(status, 201);
    let web = wait_running(&m, "/e2e/web", 1, true);
    let web_task = task_ids(&web);
    let (status, _) = m.send(
        reqwest::Method::POST,
        "/v2/apps",
        Some(json!({
            "id": "/e2e/deaf", "cmd": "sleep 1000", "instances": 1, "cpus": 0.1, "mem": 16,
            "backoffSeconds": 1, "backoffFactor": 1.0,
            "healthChecks": [{"protocol": "TCP", "portIndex": 0, "gracePeriodSeconds": 0,
                              "intervalSeconds": 1, "timeoutSeconds": 1, "maxConsecutiveFailures": 2}]
        })),
    );
    assert_eq!(status, 201);
    let failure = wait_for(
        "the unhealthy task to be killed",
        Duration::from_secs(60),
        || {
            let app = app_state(&m, "/e2e/deaf");
            app["lastTaskFailure"]["taskId"]
                .as_str()
                .map(str::to_string)
        },
    );
    assert!(failure.starts_with("e2e_deaf."));

    // 4. An app that can never be placed says why in the queue.
    let (status, _) = m.send(
        reqwest::Method::POST,
        "/v2/apps",
        Some(json!({"id": "/e2e/huge", "cmd": "sleep 1000", "instances": 1, "cpus": 0.1, "mem": 100000})),
    );
    assert_eq!(status, 201);
    let reason = wait_for(
        "the queue to explain /e2e/huge",
        Duration::from_secs(60),
        || {
            let q = m.get("/v2/queue");
            let item = q["queue"]
                .as_array()?
                .iter()
                .find(|i| i["app"]["id"] == "/e2e/huge")?
                .clone();
            let rows = item["processedOffersSummary"]["rejectSummaryLastOffers"]
                .as_array()?
                .clone();
            rows.into_iter().find(|r| {
                r["reason"] == "InsufficientMemory" && r["declined"].as_u64().unwrap_or(0) > 0
            })
        },
    );
    assert!(reason["processed"].as_u64().unwrap_or(0) >= 1);
    let (status, _) = m.send(reqwest::Method::DELETE, "/v2/apps/e2e/huge", None);
    assert_eq!(status, 200);

    // 5. Restart Marathon with an event stream open: it stops promptly, comes back with the
    // same tasks, keeps health, and launches nothing twice.
    let (attached_tx, attached_rx) = std::sync::mpsc::channel::<()>();
    let events = std::thread::spawn({
        let url = format!("{}/v2/events", m.url);
        move || {
            use std::io::Read;
            let Ok(mut resp) = http().get(url).header("accept", "text/event-stream").send() else {
                return String::new();
            };
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            // Reads until the server closes the stream.
            while let Ok(n) = resp.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
                let _ = attached_tx.send(());
            }
            String::from_utf8_lossy(&seen).to_string()
        }
    });
    assert!(
        attached_rx.recv_timeout(Duration::from_secs(10)).is_ok(),
        "the event stream did not attach"
    );
    let took = m.stop();
    assert!(took < Duration::from_secs(5), "shutdown took {took:?}");
    let stream = events.join().unwrap_or_default();
    assert!(stream.contains("event_stream_attached"), "{stream}");
    drop(m);
    let m = Marathon::start(cluster.master_port, port, &data_dir);
    let web_now = app_state(&m, "/e2e/web");
    assert_eq!(
        web_now["tasksHealthy"], 1,
        "health survives the restart: {web_now}"
    );
    let app = wait_running(&m, "/e2e/sleep", 2, false);
    assert_eq!(task_ids(&app), sleepers, "the same tasks, not new ones");
    assert_eq!(task_ids(&wait_running(&m, "/e2e/web", 1, true)), web_task);
    // Once reconciled, nothing was launched twice.
    wait_for("the queue to settle", Duration::from_secs(30), || {
        let q = m.get("/v2/queue");
        q["queue"]
            .as_array()
            .is_some_and(|items| items.iter().all(|i| i["app"]["id"] == "/e2e/deaf"))
            .then_some(())
    });
    assert_eq!(running_master_tasks(&cluster, "e2e_sleep.").len(), 2);
    assert_eq!(running_master_tasks(&cluster, "e2e_web.").len(), 1);

    // 6. Destroying an app kills its tasks.
    let (status, _) = m.send(reqwest::Method::DELETE, "/v2/apps/e2e/sleep", None);
    assert_eq!(status, 200);
    wait_for("the app's tasks to end", Duration::from_secs(30), || {
        running_master_tasks(&cluster, "e2e_sleep.")
            .is_empty()
            .then_some(())
    });
}

#[test]
fn crashes_back_off_restarts_roll_and_deployments_roll_back() {
    let cluster = Cluster::master(&[]);
    let cgroup_root = format!(
        "paddock-mtest2-{}-{}",
        std::process::id(),
        cluster.master_port
    );
    struct Cleanup(String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            kill_cgroup_tree(&self.0);
        }
    }
    let _cleanup = Cleanup(cgroup_root.clone());
    let _agent = start_agent(&cluster, &cgroup_root);
    let m = Marathon::start(
        cluster.master_port,
        free_port(),
        &cluster.dir.path().join("marathon"),
    );

    // A crashing app: lastTaskFailure, a launch delay in the queue, and a reset.
    let (status, _) = m.send(
        reqwest::Method::POST,
        "/v2/apps",
        Some(
            json!({"id": "/crash", "cmd": "exit 1", "instances": 1, "cpus": 0.1, "mem": 16,
                    "backoffSeconds": 5, "backoffFactor": 2, "maxLaunchDelaySeconds": 60}),
        ),
    );
    assert_eq!(status, 201);
    let failure = wait_for("the crash to be recorded", Duration::from_secs(60), || {
        let f = app_state(&m, "/crash")["lastTaskFailure"].clone();
        (f["state"] == "TASK_FAILED").then_some(f)
    });
    assert!(failure["taskId"]
        .as_str()
        .is_some_and(|t| t.starts_with("crash.")));
    let delayed = wait_for(
        "the queue to show the delay",
        Duration::from_secs(30),
        || {
            let q = m.get("/v2/queue");
            q["queue"]
                .as_array()?
                .iter()
                .find(|i| i["app"]["id"] == "/crash")
                .cloned()
        },
    );
    assert_eq!(delayed["count"], 1);
    assert!(delayed["delay"]["timeLeftSeconds"].as_i64().is_some());
    let (status, _) = m.send(reqwest::Method::DELETE, "/v2/queue/crash/delay", None);
    assert_eq!(status, 204);
    let (status, _) = m.send(reqwest::Method::DELETE, "/v2/apps/crash", None);
    assert_eq!(status, 200);

    // A rolling restart keeps at least ceil(2 × 0.5) = 1 healthy task throughout.
    let (status, _) = m.send(
        reqwest::Method::POST,
        "/v2/apps",
        Some(json!({
            "id": "/web", "cmd": "exec python3 -m http.server $PORT0", "instances": 2,
            "cpus": 0.1, "mem": 64,
            "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0},
            "healthChecks": [{"protocol": "HTTP", "path": "/", "gracePeriodSeconds": 60,
                              "intervalSeconds": 1, "timeoutSeconds": 1, "maxConsecutiveFailures": 3}]
        })),
    );
    assert_eq!(status, 201);
    let before = task_ids(&wait_running(&m, "/web", 2, true));
    let (status, body) = m.send(reqwest::Method::POST, "/v2/apps/web/restart", None);
    assert_eq!(status, 200, "{body}");
    let after = wait_for("the restart to finish", Duration::from_secs(60), || {
        let app = app_state(&m, "/web");
        assert!(
            app["tasksHealthy"].as_u64().unwrap_or(0) >= 1,
            "healthy capacity dropped below the minimum: {app}"
        );
        let ids = task_ids(&app);
        let done = app["deployments"].as_array().is_some_and(|d| d.is_empty())
            && app["tasksHealthy"] == 2
            && ids.len() == 2
            && ids.iter().all(|t| !before.contains(t));
        done.then_some(ids)
    });
    assert_eq!(after.len(), 2);

    // A deployment that cannot finish is rolled back; a forced cancel just stops.
    let (status, body) = m.send(
        reqwest::Method::PUT,
        "/v2/apps/web",
        Some(json!({"instances": 50})),
    );
    assert_eq!(status, 200, "{body}");
    let id = wait_for("the scale deployment", Duration::from_secs(10), || {
        let d = m.get("/v2/deployments");
        d.as_array()?.first()?["id"].as_str().map(str::to_string)
    });
    let (status, body) = m.send(
        reqwest::Method::DELETE,
        &format!("/v2/deployments/{id}"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body["deploymentId"].as_str().is_some_and(|r| r != id));
    wait_for("the rollback to finish", Duration::from_secs(60), || {
        let app = app_state(&m, "/web");
        let settled = app["deployments"].as_array().is_some_and(|d| d.is_empty());
        (settled && app["instances"] == 2 && app["tasksRunning"] == 2).then_some(())
    });
    let (status, _) = m.send(
        reqwest::Method::PUT,
        "/v2/apps/web",
        Some(json!({"instances": 50})),
    );
    assert_eq!(status, 200);
    let id = wait_for(
        "the second scale deployment",
        Duration::from_secs(10),
        || {
            let d = m.get("/v2/deployments");
            d.as_array()?.first()?["id"].as_str().map(str::to_string)
        },
    );
    let (status, _) = m.send(
        reqwest::Method::DELETE,
        &format!("/v2/deployments/{id}?force=true"),
        None,
    );
    assert_eq!(status, 202);
    assert!(m
        .get("/v2/deployments")
        .as_array()
        .is_some_and(|d| d.is_empty()));
    assert_eq!(
        app_state(&m, "/web")["instances"],
        50,
        "force keeps the target"
    );
}
