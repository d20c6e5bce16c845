//! End to end in headless Chromium: a real `paddock dev` cluster, the UI
//! (served by the master when it has been merged there, else by this test
//! from `paddock_ui::router`), Debian's chromium and chromium-driver driven
//! through WebDriver (fantoccini). Screenshots go to
//! `$CARGO_TARGET_DIR/ui-screenshots/`.
//!
//! Needs: apt packages `chromium` and `chromium-driver`; root (cgroups).
//! Skipped with a message when chromedriver is missing.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

type R<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

fn paddock_bin() -> PathBuf {
    std::env::var_os("PADDOCK_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("debug/paddock"))
}

fn chromedriver() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("CHROMEDRIVER").map(PathBuf::from),
        Some(PathBuf::from("/usr/bin/chromedriver")),
    ];
    candidates.into_iter().flatten().find(|p| p.exists())
}

/// Polls `f` until it gives `Some`, or fails naming `what` after `timeout`.
async fn until<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> R<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

struct Cluster {
    child: Child,
    master: u16,
    marathon: u16,
    chronos: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // SIGTERM so `paddock dev` stops its tasks and removes its cgroups.
            let _ = std::process::Command::new("kill")
                .arg(pid.to_string())
                .status();
        }
        remove_cgroup_root(&format!("ui-e2e-{}", std::process::id()));
    }
}

/// Removes the (by then empty) cgroup root dirs `paddock dev` made in every
/// hierarchy, polling while it finishes stopping; best effort.
fn remove_cgroup_root(root: &str) {
    let dirs: Vec<std::path::PathBuf> = std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|h| h.path().join(root))
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while dirs.iter().any(|d| d.exists()) && std::time::Instant::now() < deadline {
        for d in &dirs {
            let _ = std::fs::remove_dir(d);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn start_cluster() -> R<Cluster> {
    let dir = tempfile::tempdir()?;
    let (master, agent, marathon, chronos) = (free_port(), free_port(), free_port(), free_port());
    let lo = 31000 + (std::process::id() % 300) as u16 * 100;
    let log = std::fs::File::create(dir.path().join("dev.log"))?;
    let child = Command::new(paddock_bin())
        .args(["dev", "--data-dir"])
        .arg(dir.path().join("data"))
        .args([
            "--master-port",
            &master.to_string(),
            "--agent-port",
            &agent.to_string(),
        ])
        .args([
            "--marathon-port",
            &marathon.to_string(),
            "--chronos-port",
            &chronos.to_string(),
        ])
        .args(["--cgroup-root", &format!("ui-e2e-{}", std::process::id())])
        .args([
            "--resources",
            &format!("cpus:4;mem:4096;disk:4000;ports:[{lo}-{}]", lo + 99),
        ])
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()?;
    let cluster = Cluster {
        child,
        master,
        marathon,
        chronos,
        _dir: dir,
    };
    let http = reqwest::Client::new();
    until(
        "marathon and chronos to answer",
        Duration::from_secs(60),
        || {
            let http = http.clone();
            async move {
                let m = http
                    .get(format!("http://127.0.0.1:{marathon}/v2/info"))
                    .send()
                    .await
                    .ok()?;
                let c = http
                    .get(format!("http://127.0.0.1:{chronos}/v1/scheduler/jobs"))
                    .send()
                    .await
                    .ok()?;
                (m.status().is_success() && c.status().is_success()).then_some(())
            }
        },
    )
    .await?;
    Ok(cluster)
}

/// The UI's base URL: the master's own port once the lead merged the UI
/// there, else a router served by this test.
async fn serve_ui(c: &Cluster) -> R<String> {
    let on_master = format!("http://127.0.0.1:{}", c.master);
    if let Ok(r) = reqwest::get(format!("{on_master}/ui/config.json")).await {
        if r.status().is_success() {
            return Ok(on_master);
        }
    }
    let config = paddock_ui::UiConfig {
        master: on_master,
        marathon: Some(format!("http://127.0.0.1:{}", c.marathon)),
        chronos: Some(format!("http://127.0.0.1:{}", c.chronos)),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, paddock_ui::router(config)).await });
    Ok(url)
}

async fn browser(driver: &PathBuf) -> R<(Child, Client)> {
    let port = free_port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let url = format!("http://127.0.0.1:{port}");
    until("chromedriver", Duration::from_secs(20), || {
        let u = format!("{url}/status");
        async move {
            reqwest::get(u)
                .await
                .ok()
                .filter(|r| r.status().is_success())
        }
    })
    .await?;
    let caps = json!({"goog:chromeOptions": {"args": [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--window-size=1280,900", "--hide-scrollbars"
    ]}});
    let caps: serde_json::Map<String, Value> = serde_json::from_value(caps)?;
    let client = ClientBuilder::rustls()?
        .capabilities(caps)
        .connect(&url)
        .await?;
    Ok((child, client))
}

async fn shot(client: &Client, name: &str) -> R<()> {
    let dir = target_dir().join("ui-screenshots");
    std::fs::create_dir_all(&dir)?;
    // Let charts and fades settle a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(dir.join(format!("{name}.png")), client.screenshot().await?)?;
    Ok(())
}

async fn texts(client: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(els) = client.find_all(Locator::Css(css)).await {
        for e in els {
            if let Ok(t) = e.text().await {
                out.push(t);
            }
        }
    }
    out
}

async fn fill(client: &Client, id: &str, value: &str) -> R<()> {
    let el = client.find(Locator::Id(id)).await?;
    el.clear().await?;
    el.send_keys(value).await?;
    Ok(())
}

/// Ids of the app's running instances whose health cell says `health`.
async fn instance_rows(client: &Client, health: &str) -> Vec<String> {
    let mut ids = Vec::new();
    if let Ok(rows) = client.find_all(Locator::Css("tr[data-task]")).await {
        for r in rows {
            let cell = |n: usize| {
                let r = r.clone();
                async move {
                    match r.find(Locator::Css(&format!("td:nth-child({n})"))).await {
                        Ok(td) => td.text().await.unwrap_or_default(),
                        Err(_) => String::new(),
                    }
                }
            };
            if cell(2).await.trim() == "running" && cell(3).await.trim() == health {
                if let Ok(Some(id)) = r.attr("data-task").await {
                    ids.push(id);
                }
            }
        }
    }
    ids
}

/// Finds and clicks `loc`, finding it again when the page re-rendered it
/// in between (the UI redraws its lists on every refresh, which leaves a
/// found element stale) or has not drawn it yet, for up to 10 s.
async fn click(client: &Client, loc: Locator<'_>) -> R<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = match client.find(loc).await {
            Ok(el) => el.click().await,
            Err(e) => Err(e),
        };
        match res {
            Ok(()) => return Ok(()),
            Err(e)
                if Instant::now() < deadline
                    && (e.is_stale_element_reference() || e.is_no_such_element()) =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => return Err(format!("click {loc:?}: {e}").into()),
        }
    }
}

async fn confirm(client: &Client) -> R<()> {
    click(client, Locator::Css("dialog[open] #confirm-ok")).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_flows_in_headless_chromium() -> R<()> {
    let Some(driver) = chromedriver() else {
        eprintln!("skipped: chromedriver not installed (apt install chromium chromium-driver)");
        return Ok(());
    };
    let cluster = start_cluster().await?;
    let ui = serve_ui(&cluster).await?;
    let (_driver, client) = browser(&driver).await?;
    let result = flows(&client, &ui).await;
    // Tasks outlive `paddock dev` by design (executors survive agent
    // restarts), so remove the app and wait for its tasks to end.
    let http = reqwest::Client::new();
    let _ = http
        .delete(format!("{ui}/ui/api/marathon/v2/apps/e2e/web?force=true"))
        .send()
        .await;
    let master = format!("http://127.0.0.1:{}/master/tasks", cluster.master);
    let _ = until("the app's tasks to end", Duration::from_secs(60), || {
        let (http, master) = (http.clone(), master.clone());
        async move {
            let v: Value = http.get(&master).send().await.ok()?.json().await.ok()?;
            let live = v["tasks"]
                .as_array()?
                .iter()
                .filter(|t| {
                    matches!(
                        t["state"].as_str(),
                        Some("TASK_RUNNING" | "TASK_STAGING" | "TASK_STARTING" | "TASK_KILLING")
                    )
                })
                .count();
            (live == 0).then_some(())
        }
    })
    .await;
    if result.is_err() {
        let _ = shot(&client, "failure").await;
    }
    client.close().await?;
    result
}

async fn flows(client: &Client, ui: &str) -> R<()> {
    let long = Duration::from_secs(90);

    // 1. Create an app through the form and see its instances go healthy.
    client.goto(&format!("{ui}/#/apps/new")).await?;
    client.wait().for_element(Locator::Id("f-id")).await?;
    fill(client, "f-id", "/e2e/web").await?;
    fill(client, "f-instances", "2").await?;
    fill(client, "f-cpus", "0.1").await?;
    fill(client, "f-mem", "64").await?;
    fill(client, "f-ports", "0").await?;
    fill(
        client,
        "f-cmd",
        "echo booting; exec python3 -u -m http.server $PORT0",
    )
    .await?;
    fill(client, "f-env", "GREETING=hello").await?;
    fill(client, "f-labels", "team=e2e").await?;
    click(client, Locator::Css("#f-hcProtocol option[value=HTTP]")).await?;
    fill(client, "f-hcInterval", "2").await?;
    fill(client, "f-hcGrace", "30").await?;
    shot(client, "01-app-form").await?;
    click(client, Locator::Css("button[form=appform]")).await?;
    let healthy = until("2 healthy instances", long, || async {
        let r = instance_rows(client, "healthy").await;
        (r.len() == 2).then_some(r)
    })
    .await?;
    assert_eq!(healthy.len(), 2);
    shot(client, "02-app-healthy").await?;

    // A bad value comes back from Marathon as a 422 shown next to its field.
    client.goto(&format!("{ui}/#/apps/new")).await?;
    client.wait().for_element(Locator::Id("f-id")).await?;
    fill(client, "f-id", "/e2e/bad").await?;
    fill(client, "f-cpus", "-1").await?;
    fill(client, "f-cmd", "sleep 100").await?;
    click(client, Locator::Css("button[form=appform]")).await?;
    let err = until("the cpus error", Duration::from_secs(10), || async {
        texts(client, "#e-cpus")
            .await
            .into_iter()
            .find(|t| !t.is_empty())
    })
    .await?;
    assert!(err.contains("cpus"), "error next to cpus: {err}");
    shot(client, "03-app-form-error").await?;

    // 2. Scale with the button (from the app list).
    client.goto(&format!("{ui}/#/apps")).await?;
    let input = client
        .wait()
        .for_element(Locator::Css("tr[data-app='/e2e/web'] .scale input"))
        .await?;
    input.clear().await?;
    input.send_keys("3").await?;
    click(
        client,
        Locator::Css("tr[data-app='/e2e/web'] .scale button"),
    )
    .await?;
    until("3 of 3 running in the list", long, || async {
        texts(client, "tr[data-app='/e2e/web']")
            .await
            .into_iter()
            .find(|t| t.contains("3 / 3"))
    })
    .await?;
    shot(client, "04-apps-list").await?;
    client.goto(&format!("{ui}/#/app/e2e/web")).await?;
    let three = until("3 healthy instances", long, || async {
        let r = instance_rows(client, "healthy").await;
        (r.len() == 3).then_some(r)
    })
    .await?;

    // Versions: the scale made a second version; diff it with the first.
    click(client, Locator::XPath("//button[text()='Versions']")).await?;
    click(client, Locator::XPath("(//button[text()='Diff'])[last()]")).await?;
    until("a version diff", Duration::from_secs(10), || async {
        texts(client, ".diff .del, .diff .add")
            .await
            .into_iter()
            .find(|t| t.contains("instances"))
    })
    .await?;
    shot(client, "05a-app-versions").await?;
    click(
        client,
        Locator::XPath("//button[starts-with(text(),'Instances')]"),
    )
    .await?;

    // 3. Kill a task and see it replaced.
    let victim = three[0].clone();
    let kill = format!("tr[data-task='{victim}'] button");
    click(client, Locator::Css(&kill)).await?;
    shot(client, "05-kill-confirm").await?;
    confirm(client).await?;
    let replaced = until("a replacement instance", long, || {
        let victim = victim.clone();
        async move {
            let r = instance_rows(client, "healthy").await;
            (r.len() == 3 && !r.contains(&victim)).then_some(r)
        }
    })
    .await?;
    assert!(!replaced.contains(&victim));
    shot(client, "06-app-replaced").await?;

    // The edit form loads the app; JSON mode shows the same definition.
    client.goto(&format!("{ui}/#/app-edit/e2e/web")).await?;
    until("the edit form to load", Duration::from_secs(10), || async {
        let v = client
            .find(Locator::Id("f-id"))
            .await
            .ok()?
            .prop("value")
            .await
            .ok()??;
        (v == "/e2e/web").then_some(())
    })
    .await?;
    click(client, Locator::XPath("//button[text()='JSON mode']")).await?;
    let json_text = client
        .find(Locator::Id("f-json"))
        .await?
        .prop("value")
        .await?
        .unwrap_or_default();
    assert!(json_text.contains("\"GREETING\": \"hello\""), "{json_text}");
    assert!(json_text.contains("\"instances\": 3"), "{json_text}");
    shot(client, "06a-app-json-mode").await?;

    // 4. Watch a log follow: the server logs every health check to stderr.
    client.goto(&format!("{ui}/#/task/{}", replaced[0])).await?;
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("select[aria-label='Log file']"))
        .await?;
    click(
        client,
        Locator::Css("select[aria-label='Log file'] option[value=stderr]"),
    )
    .await?;
    let first = until("health-check lines in stderr", long, || async {
        texts(client, "pre.log")
            .await
            .into_iter()
            .find(|t| t.contains("GET /"))
    })
    .await?;
    let grown = until("the log to grow while following", long, || {
        let n = first.matches("GET /").count();
        async move {
            texts(client, "pre.log")
                .await
                .into_iter()
                .find(|t| t.matches("GET /").count() > n)
        }
    })
    .await?;
    assert!(grown.len() > first.len());
    shot(client, "07-task-log-follow").await?;
    click(client, Locator::Css(".tabs button:nth-child(3)")).await?;
    until("cpu and memory charts", Duration::from_secs(20), || async {
        let n = client
            .find_all(Locator::Css(".spark"))
            .await
            .map(|v| v.len())
            .unwrap_or(0);
        (n == 2).then_some(())
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(7)).await;
    shot(client, "08-task-stats").await?;

    // 5. Create a job (the preview shows its next 5 runs) and run it now.
    client.goto(&format!("{ui}/#/jobs/new")).await?;
    client.wait().for_element(Locator::Id("f-name")).await?;
    fill(client, "f-name", "e2e-hello").await?;
    fill(client, "f-schedule", "R/2030-01-01T02:00:00Z/P1D").await?;
    fill(client, "f-scheduleTimeZone", "Europe/Berlin").await?;
    fill(client, "f-command", "echo job-says-hello").await?;
    let runs = until("5 previewed runs", Duration::from_secs(10), || async {
        let n = client
            .find_all(Locator::Css(".preview li"))
            .await
            .map(|v| v.len())
            .unwrap_or(0);
        (n == 5).then_some(n)
    })
    .await?;
    assert_eq!(runs, 5);
    shot(client, "09-job-form").await?;
    click(client, Locator::Css("form.form button[type=submit]")).await?;
    click(client, Locator::XPath("//button[text()='Run now']")).await?;
    until("a finished run", long, || async {
        texts(client, ".card.flush table")
            .await
            .into_iter()
            .find(|t| t.to_lowercase().contains("finished") || t.contains("TASK_FINISHED"))
    })
    .await?;
    shot(client, "10-job-runs").await?;
    click(client, Locator::LinkText("stdout / stderr")).await?;
    until("the job's output", long, || async {
        texts(client, "pre.log")
            .await
            .into_iter()
            .find(|t| t.contains("job-says-hello"))
    })
    .await?;
    shot(client, "11-job-log").await?;

    // The other pages, for the record: cluster, tasks, jobs, graph, dark, phone.
    client.goto(&format!("{ui}/#/cluster")).await?;
    client
        .wait()
        .for_element(Locator::Css("table tbody tr"))
        .await?;
    shot(client, "12-cluster").await?;
    client.goto(&format!("{ui}/#/tasks")).await?;
    client
        .wait()
        .for_element(Locator::Css("table tbody tr"))
        .await?;
    shot(client, "13-tasks").await?;
    client.goto(&format!("{ui}/#/jobs")).await?;
    client
        .wait()
        .for_element(Locator::Css("tr[data-job]"))
        .await?;
    shot(client, "14-jobs").await?;
    // Two more jobs depending on the first one, for the graph.
    for (name, parent) in [("e2e-report", "e2e-hello"), ("e2e-mail", "e2e-report")] {
        let job =
            json!({"name": name, "command": "true", "parents": [parent], "cpus": 0.1, "mem": 32});
        reqwest::Client::new()
            .post(format!("{ui}/ui/api/chronos/v1/scheduler/dependency"))
            .json(&job)
            .send()
            .await?
            .error_for_status()?;
    }
    client.goto(&format!("{ui}/#/jobs/graph")).await?;
    until("3 nodes in the graph", Duration::from_secs(15), || async {
        let n = client
            .find_all(Locator::Css(".graph .node"))
            .await
            .map(|v| v.len())
            .unwrap_or(0);
        (n == 3).then_some(())
    })
    .await?;
    shot(client, "14a-job-graph").await?;
    click(client, Locator::Id("theme")).await?;
    client.goto(&format!("{ui}/#/app/e2e/web")).await?;
    client
        .wait()
        .for_element(Locator::Css("tr[data-task]"))
        .await?;
    shot(client, "15-app-dark").await?;
    client.set_window_size(390, 844).await?;
    client.goto(&format!("{ui}/#/apps")).await?;
    client
        .wait()
        .for_element(Locator::Css("tr[data-app]"))
        .await?;
    shot(client, "16-apps-phone").await?;
    Ok(())
}
