//! `paddock app …` and `paddock deployments`: Marathon's `/v2/apps`,
//! `/v2/queue` and `/v2/deployments` as tables, and the changes (run,
//! scale, restart, destroy, rollback) that start deployments, optionally
//! followed with `--wait`.

use reqwest::Method;
use serde_json::{json, Value};

use super::app_def;
use super::deploy_wait::{self, WaitArgs};
use super::marathon::{absolute_id, app_path, deployment_of, expect_ok};
use super::service::Service;
use super::table::{age, emit, emit_json, now_secs, num, number, text, Table};

/// The status Marathon's UI shows for an app: Deploying while a
/// deployment runs, Suspended at 0 instances with none running, else
/// Running; a launch-queue delay then overrides it (Delayed while the
/// backoff runs, Waiting once it is overdue).
pub fn status(app: &Value, queue: &Value) -> &'static str {
    let mut s = if app["deployments"].as_array().is_some_and(|d| !d.is_empty()) {
        "Deploying"
    } else if num(&app["instances"]) == 0.0 && num(&app["tasksRunning"]) == 0.0 {
        "Suspended"
    } else {
        "Running"
    };
    let entry = queue["queue"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["app"]["id"] == app["id"] && e["delay"].is_object());
    if let Some(e) = entry {
        let delay = &e["delay"];
        if delay["overdue"] == false && num(&delay["timeLeftSeconds"]) > 0.0 {
            s = "Delayed";
        } else if delay["overdue"] == true {
            s = "Waiting";
        }
    }
    s
}

/// "2/3 healthy" for apps with health checks, else "-".
fn health(app: &Value) -> String {
    if app["healthChecks"]
        .as_array()
        .is_some_and(|h| !h.is_empty())
    {
        format!(
            "{}/{}",
            num(&app["tasksHealthy"]),
            num(&app["tasksRunning"])
        )
    } else {
        "-".into()
    }
}

/// The `paddock app list` table.
pub fn render_list(apps: &Value, queue: &Value) -> String {
    let mut t = Table::new(&["ID", "INSTANCES", "HEALTHY", "CPUS", "MEM (MB)", "STATUS"]);
    let mut list: Vec<&Value> = apps["apps"].as_array().into_iter().flatten().collect();
    list.sort_by_key(|a| text(&a["id"]));
    for a in list {
        t.row(vec![
            text(&a["id"]),
            format!("{}/{}", num(&a["tasksRunning"]), num(&a["instances"])),
            health(a),
            number(num(&a["cpus"])),
            number(num(&a["mem"])),
            status(a, queue).into(),
        ]);
    }
    t.render()
}

/// The `paddock app show` text: the app's main fields, then its tasks.
pub fn render_show(app: &Value, queue: &Value, now: f64) -> String {
    let mut out = String::new();
    let mut field = |k: &str, v: String| {
        if !v.is_empty() {
            out.push_str(&format!("{:<12} {v}\n", format!("{k}:")));
        }
    };
    field("id", text(&app["id"]));
    field("status", status(app, queue).into());
    match (&app["cmd"], &app["args"]) {
        (Value::String(c), _) => field("cmd", c.clone()),
        (_, Value::Array(a)) => field("args", a.iter().map(text).collect::<Vec<_>>().join(" ")),
        _ => {}
    }
    if let Some(img) = app["container"]["docker"]["image"].as_str() {
        field(
            "image",
            format!("{img} ({})", text(&app["container"]["type"])),
        );
    }
    field(
        "instances",
        format!(
            "{} running of {} ({} staged, {} healthy, {} unhealthy)",
            num(&app["tasksRunning"]),
            num(&app["instances"]),
            num(&app["tasksStaged"]),
            num(&app["tasksHealthy"]),
            num(&app["tasksUnhealthy"])
        ),
    );
    field(
        "resources",
        format!(
            "cpus {}, mem {} MB, disk {} MB",
            number(num(&app["cpus"])),
            number(num(&app["mem"])),
            number(num(&app["disk"]))
        ),
    );
    field("version", text(&app["version"]));
    let deployments: Vec<String> = app["deployments"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| text(&d["id"]))
        .collect();
    field("deployments", deployments.join(", "));
    if let Some(labels) = app["labels"].as_object() {
        field(
            "labels",
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", text(v)))
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    let f = &app["lastTaskFailure"];
    if f.is_object() {
        field(
            "last failure",
            format!(
                "{} {} on {} at {}: {}",
                text(&f["taskId"]),
                text(&f["state"]),
                text(&f["host"]),
                text(&f["timestamp"]),
                text(&f["message"])
            ),
        );
    }
    let tasks = &app["tasks"];
    if tasks.as_array().is_some_and(|t| !t.is_empty()) {
        out.push('\n');
        out.push_str(&render_tasks(tasks, now));
    }
    out
}

/// Seconds since the epoch of an ISO 8601 UTC timestamp
/// (`2026-01-01T10:00:00.123Z`), if it is one.
pub fn parse_utc(ts: &str) -> Option<f64> {
    let t: jiff::Timestamp = ts.parse().ok()?;
    Some(t.as_millisecond() as f64 / 1000.0)
}

/// "healthy", "unhealthy" or "-" (no checks) from `healthCheckResults`.
fn task_health(t: &Value) -> String {
    match t["healthCheckResults"].as_array() {
        Some(r) if !r.is_empty() => {
            let alive = r
                .iter()
                .all(|h| h["alive"] == true && !h["firstSuccess"].is_null());
            if alive { "healthy" } else { "unhealthy" }.into()
        }
        _ => "-".into(),
    }
}

/// The tasks of one app (a `{"tasks": […]}` list).
pub fn render_tasks(tasks: &Value, now: f64) -> String {
    let list = tasks.as_array().or_else(|| tasks["tasks"].as_array());
    let mut t = Table::new(&[
        "ID", "HOST", "PORTS", "STATE", "HEALTH", "STARTED", "VERSION",
    ]);
    for task in list.into_iter().flatten() {
        let started = task["startedAt"]
            .as_str()
            .or(task["stagedAt"].as_str())
            .and_then(parse_utc)
            .map(|s| age(now - s))
            .unwrap_or_else(|| "-".into());
        t.row(vec![
            text(&task["id"]),
            text(&task["host"]),
            task["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect::<Vec<_>>()
                .join(","),
            text(&task["state"]),
            task_health(task),
            started,
            text(&task["version"]),
        ]);
    }
    t.render()
}

/// The `paddock deployments` table.
pub fn render_deployments(ds: &Value, now: f64) -> String {
    let mut t = Table::new(&["ID", "APPS", "STEP", "ACTIONS", "AGE"]);
    for d in ds.as_array().into_iter().flatten() {
        t.row(vec![
            text(&d["id"]),
            deploy_wait::affected_apps(d).join(","),
            format!("{}/{}", num(&d["currentStep"]), num(&d["totalSteps"])),
            deploy_wait::actions(d),
            d["version"]
                .as_str()
                .and_then(parse_utc)
                .map(|s| age(now - s))
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    t.render()
}

/// The queue, or an empty one when Marathon cannot give it (the status
/// then lacks only Delayed/Waiting).
fn queue(m: &Service) -> Value {
    match m.get("/v2/queue") {
        Ok(r) if r.ok() => r.body,
        _ => json!({"queue": []}),
    }
}

pub fn list(m: &Service, json: bool) -> Result<(), String> {
    let apps = expect_ok(
        m.get("/v2/apps?embed=apps.counts&embed=apps.deployments")?,
        false,
    )?
    .body;
    if json {
        return emit_json(&apps["apps"]);
    }
    emit(&render_list(&apps, &queue(m)))
}

fn get_app(m: &Service, id: &str) -> Result<Value, String> {
    let r = expect_ok(m.get(&app_path(id))?, false)?;
    Ok(r.body["app"].clone())
}

pub fn show(m: &Service, id: &str, json: bool) -> Result<(), String> {
    let app = get_app(m, id)?;
    if json {
        return emit_json(&app);
    }
    emit(&render_show(&app, &queue(m), now_secs()))
}

pub fn tasks(m: &Service, id: &str, json: bool) -> Result<(), String> {
    let r = expect_ok(m.get(&format!("{}/tasks", app_path(id)))?, false)?;
    if json {
        return emit_json(&r.body["tasks"]);
    }
    emit(&render_tasks(&r.body["tasks"], now_secs()))
}

pub fn versions(m: &Service, id: &str, json: bool) -> Result<(), String> {
    let r = expect_ok(m.get(&format!("{}/versions", app_path(id)))?, false)?;
    if json {
        return emit_json(&r.body["versions"]);
    }
    // The current version, to mark it; a failure here only loses the mark.
    let current = get_app(m, id)
        .map(|a| text(&a["version"]))
        .unwrap_or_default();
    emit(&render_versions(&r.body, &current))
}

/// Versions, newest first, the current one marked.
pub fn render_versions(v: &Value, current: &str) -> String {
    let mut list: Vec<String> = v["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    // ISO 8601 UTC timestamps sort as text.
    list.sort_by(|a, b| b.cmp(a));
    let mut t = Table::new(&["VERSION", "CURRENT"]);
    for ver in list {
        let mark = if ver == current { "*" } else { "" };
        t.row(vec![ver, mark.into()]);
    }
    t.render()
}

pub fn deployments(m: &Service, json: bool) -> Result<(), String> {
    let r = expect_ok(m.get("/v2/deployments")?, false)?;
    if json {
        return emit_json(&r.body);
    }
    emit(&render_deployments(&r.body, now_secs()))
}

/// `?force=true` when asked.
fn force_query(force: bool) -> &'static str {
    if force {
        "force=true"
    } else {
        ""
    }
}

fn with_query(path: String, q: &[&str]) -> String {
    let q: Vec<&str> = q.iter().copied().filter(|s| !s.is_empty()).collect();
    if q.is_empty() {
        path
    } else {
        format!("{path}?{}", q.join("&"))
    }
}

/// With `--wait`, Marathon's deployment events, opened before the change.
fn open_watch(m: &Service, wait: &WaitArgs) -> Option<deploy_wait::Watch> {
    if wait.wait {
        deploy_wait::Watch::open(m)
    } else {
        None
    }
}

/// Reports a started deployment (and follows it with `--wait`).
fn deployed(
    m: &Service,
    message: &str,
    id: &str,
    r: &super::service::Reply,
    wait: &WaitArgs,
    watch: Option<deploy_wait::Watch>,
    json: bool,
) -> Result<(), String> {
    let app = absolute_id(id);
    let reply = &r.body;
    let deployment = deployment_of(r);
    if !json {
        let d = deployment
            .as_deref()
            .map(|d| format!(" (deployment {d})"))
            .unwrap_or_default();
        emit(&format!("{message}{d}\n"))?;
    }
    if wait.wait {
        if let Some(d) = &deployment {
            let apps = std::slice::from_ref(&app);
            deploy_wait::follow(m, d, apps, wait.timeout, json, watch.as_ref())?;
        }
    }
    if json {
        let mut out = json!({"app": app, "result": reply});
        if let Some(d) = deployment {
            out["deploymentId"] = json!(d);
        }
        if wait.wait {
            out["finished"] = json!(true);
        }
        return emit_json(&out);
    }
    Ok(())
}

/// `paddock app run`: POST when the app is new, PUT (replacing the
/// definition) when it exists.
pub fn run(
    m: &Service,
    file: Option<(String, String)>,
    flags: &app_def::AppFlags,
    force: bool,
    wait: &WaitArgs,
    json: bool,
) -> Result<(), String> {
    let parsed = match &file {
        Some((name, text)) => Some(app_def::parse_file(name, text)?),
        None => None,
    };
    let (app, id) = app_def::build(parsed, flags)?;
    let exists = match m.get(&app_path(&id))? {
        r if r.ok() => true,
        r if r.status == 404 => false,
        r => return Err(super::marathon::error_line(&r, false)),
    };
    let watch = open_watch(m, wait);
    let (r, verb) = if exists {
        let path = with_query(app_path(&id), &["partialUpdate=false", force_query(force)]);
        (m.call(Method::PUT, &path, Some(&app))?, "updated")
    } else {
        let path = with_query("/v2/apps".into(), &[force_query(force)]);
        (m.call(Method::POST, &path, Some(&app))?, "created")
    };
    let r = expect_ok(r, true)?;
    let message = format!("{verb} app '{}'", absolute_id(&id));
    deployed(m, &message, &id, &r, wait, watch, json)
}

pub fn scale(
    m: &Service,
    id: &str,
    instances: u64,
    force: bool,
    wait: &WaitArgs,
    json: bool,
) -> Result<(), String> {
    let path = with_query(app_path(id), &[force_query(force)]);
    let watch = open_watch(m, wait);
    let r = expect_ok(
        m.call(Method::PUT, &path, Some(&json!({"instances": instances})))?,
        true,
    )?;
    let message = format!("scaling app '{}' to {instances}", absolute_id(id));
    deployed(m, &message, id, &r, wait, watch, json)
}

pub fn restart(
    m: &Service,
    id: &str,
    force: bool,
    wait: &WaitArgs,
    json: bool,
) -> Result<(), String> {
    let path = with_query(format!("{}/restart", app_path(id)), &[force_query(force)]);
    let watch = open_watch(m, wait);
    let r = expect_ok(m.call(Method::POST, &path, None)?, true)?;
    let message = format!("restarting app '{}'", absolute_id(id));
    deployed(m, &message, id, &r, wait, watch, json)
}

pub fn destroy(
    m: &Service,
    id: &str,
    force: bool,
    wait: &WaitArgs,
    json: bool,
) -> Result<(), String> {
    // Marathon's DELETE defaults to force=true; pass it only when asked.
    let path = with_query(app_path(id), &[force_query(force)]);
    let watch = open_watch(m, wait);
    let r = expect_ok(m.call(Method::DELETE, &path, None)?, true)?;
    let message = format!("destroying app '{}'", absolute_id(id));
    deployed(m, &message, id, &r, wait, watch, json)
}

pub fn rollback(
    m: &Service,
    id: &str,
    version: &str,
    force: bool,
    wait: &WaitArgs,
    json: bool,
) -> Result<(), String> {
    let path = with_query(app_path(id), &[force_query(force)]);
    let watch = open_watch(m, wait);
    let r = expect_ok(
        m.call(Method::PUT, &path, Some(&json!({"version": version})))?,
        true,
    )?;
    let message = format!("rolling back app '{}' to {version}", absolute_id(id));
    deployed(m, &message, id, &r, wait, watch, json)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(id: &str, instances: u64, running: u64, deployments: usize) -> Value {
        json!({"id": id, "instances": instances, "tasksRunning": running, "tasksHealthy": 0,
               "cpus": 0.5, "mem": 64, "healthChecks": [],
               "deployments": (0..deployments).map(|i| json!({"id": format!("d{i}")})).collect::<Vec<_>>()})
    }

    #[test]
    fn statuses_follow_marathons_ui() {
        let none = json!({"queue": []});
        assert_eq!(status(&app("/a", 2, 2, 0), &none), "Running");
        assert_eq!(status(&app("/a", 2, 1, 1), &none), "Deploying");
        assert_eq!(status(&app("/a", 0, 0, 0), &none), "Suspended");
        // Scaling to 0 while a task still runs is not Suspended yet.
        assert_eq!(status(&app("/a", 0, 1, 0), &none), "Running");
        let delayed = json!({"queue": [{"app": {"id": "/a"}, "count": 1,
                                        "delay": {"timeLeftSeconds": 12, "overdue": false}}]});
        assert_eq!(status(&app("/a", 2, 1, 1), &delayed), "Delayed");
        assert_eq!(status(&app("/b", 2, 1, 1), &delayed), "Deploying");
        let waiting = json!({"queue": [{"app": {"id": "/a"}, "count": 1,
                                        "delay": {"timeLeftSeconds": 0, "overdue": true}}]});
        assert_eq!(status(&app("/a", 2, 1, 1), &waiting), "Waiting");
        // Overdue false with no time left is neither.
        let idle = json!({"queue": [{"app": {"id": "/a"}, "delay": {"timeLeftSeconds": 0, "overdue": false}}]});
        assert_eq!(status(&app("/a", 2, 2, 0), &idle), "Running");
    }

    #[test]
    fn renders_the_app_list_sorted_by_id() {
        let mut checked = app("/prod/web", 3, 2, 1);
        checked["healthChecks"] = json!([{"protocol": "HTTP"}]);
        checked["tasksHealthy"] = json!(1);
        let apps = json!({"apps": [checked, app("/batch", 0, 0, 0)]});
        assert_eq!(
            render_list(&apps, &json!({"queue": []})),
            "ID         INSTANCES  HEALTHY  CPUS  MEM (MB)  STATUS\n\
             /batch     0/0        -        0.5   64        Suspended\n\
             /prod/web  2/3        1/2      0.5   64        Deploying\n"
        );
    }

    #[test]
    fn renders_tasks_with_health_and_age() {
        let tasks = json!({"tasks": [
            {"id": "web.instance-1._app.1", "host": "node1", "ports": [31000, 31001],
             "state": "TASK_RUNNING", "startedAt": "2026-01-01T00:00:00.000Z",
             "version": "2026-01-01T00:00:00.000Z",
             "healthCheckResults": [{"alive": true, "firstSuccess": "2026-01-01T00:00:01.000Z"}]},
            {"id": "web.instance-2._app.1", "host": "node2", "ports": [], "state": "TASK_STAGING",
             "stagedAt": "2026-01-01T00:00:50Z", "version": "v"}
        ]});
        let now = parse_utc("2026-01-01T00:01:00Z").unwrap();
        assert_eq!(
            render_tasks(&tasks, now),
            "ID                     HOST   PORTS        STATE         HEALTH   STARTED  VERSION\n\
             web.instance-1._app.1  node1  31000,31001  TASK_RUNNING  healthy  60s      2026-01-01T00:00:00.000Z\n\
             web.instance-2._app.1  node2               TASK_STAGING  -        10s      v\n"
        );
    }

    #[test]
    fn renders_deployments_and_versions() {
        let ds = json!([{"id": "d1", "version": "2026-01-01T00:00:00.000Z",
                         "affectedApps": ["/a", "/b"],
                         "currentActions": [{"action": "ScaleApplication", "app": "/a"}],
                         "currentStep": 1, "totalSteps": 2}]);
        let now = parse_utc("2026-01-01T00:00:30Z").unwrap();
        assert_eq!(
            render_deployments(&ds, now),
            "ID  APPS   STEP  ACTIONS              AGE\n\
             d1  /a,/b  1/2   ScaleApplication /a  30s\n"
        );
        let v = json!({"versions": ["2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z"]});
        assert_eq!(
            render_versions(&v, "2026-01-01T00:00:00.000Z"),
            "VERSION                   CURRENT\n\
             2026-01-02T00:00:00.000Z\n\
             2026-01-01T00:00:00.000Z  *\n"
        );
    }

    #[test]
    fn show_lists_fields_and_tasks() {
        let mut a = app("/web", 1, 1, 0);
        a["cmd"] = json!("python -m http.server");
        a["version"] = json!("2026-01-01T00:00:00.000Z");
        a["lastTaskFailure"] = json!({"taskId": "t0", "state": "TASK_FAILED", "host": "n1",
                                      "timestamp": "2026-01-01T00:00:00.000Z", "message": "exit 1"});
        a["tasks"] = json!([{"id": "t1", "host": "n1", "state": "TASK_RUNNING"}]);
        let out = render_show(&a, &json!({}), 0.0);
        assert!(
            out.starts_with(
                "id:          /web\nstatus:      Running\ncmd:         python -m http.server\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("instances:   1 running of 1 (0 staged, 0 healthy, 0 unhealthy)\n"),
            "{out}"
        );
        assert!(
            out.contains(
                "last failure: t0 TASK_FAILED on n1 at 2026-01-01T00:00:00.000Z: exit 1\n"
            ),
            "{out}"
        );
        assert!(out.contains("\nID  HOST  PORTS  STATE         HEALTH  STARTED  VERSION\nt1  n1           TASK_RUNNING  -       -\n"), "{out}");
    }

    #[test]
    fn queries_join_only_what_is_set() {
        assert_eq!(with_query("/p".into(), &["", ""]), "/p");
        assert_eq!(
            with_query("/p".into(), &["a=1", "", "force=true"]),
            "/p?a=1&force=true"
        );
    }
}
